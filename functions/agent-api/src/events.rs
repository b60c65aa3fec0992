//! `GET /events?after=&limit=`: what changed, oldest first, for front ends that poll.

use std::sync::Arc;

use axum::extract::State;
use pagedesk_shared::clock::rfc3339;
use pagedesk_shared::store::EventCursor;
use serde_json::json;

use crate::App;
use crate::error::ApiFailure;
use crate::extract::{Caller, Params, Reply, ok};

pub async fn list(State(app): State<Arc<App>>, c: Caller, p: Params) -> Reply {
    let after: Option<EventCursor> = p
        .get("after")
        .map(str::parse)
        .transpose()
        .map_err(|_| ApiFailure::bad_parameter("after", "a cursor from this feed"))?;
    let limit = p.limit(100, 500)?;
    let events = app
        .store
        .list_events(&c.account, after.as_ref(), limit, app.clock.now_ms())
        .await?;
    let next = events
        .last()
        .map(|e| e.public_id())
        .or_else(|| after.as_ref().map(EventCursor::public));
    let items: Vec<_> = events
        .iter()
        .map(|e| {
            json!({
                "id": e.public_id(),
                "type": e.kind,
                "conversation_id": e.conversation_id,
                "data": e.data,
                "created_at": rfc3339(e.created_at),
            })
        })
        .collect();
    ok(&json!({"items": items, "next_cursor": next}))
}
