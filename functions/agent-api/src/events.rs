//! `GET /events?after=&limit=`: what changed, oldest first, for front ends that poll.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

use axum::extract::State;
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
    // An agent who works some Pages sees their events only: those of their Pages'
    // conversations, and Page events of their Pages. (The cursor still moves past the others.)
    let allowed: Option<HashSet<String>> = match app.pages_of(&c).await? {
        None => None,
        Some(pages) => {
            let ids: BTreeSet<&str> = events
                .iter()
                .filter_map(|e| e.conversation_id.as_deref())
                .collect();
            let ids: Vec<&str> = ids.into_iter().collect();
            let convs = app.store.get_conversations(&c.account, &ids).await?;
            let mut ok: HashSet<String> = convs
                .into_iter()
                .filter(|cv| pages.contains(&cv.page_id))
                .map(|cv| cv.id)
                .collect();
            ok.extend(pages.iter().map(|p| format!("page:{p}")));
            Some(ok)
        }
    };
    let visible = |e: &&pagedesk_shared::store::EventItem| {
        let Some(ok) = &allowed else { return true };
        match (
            &e.conversation_id,
            e.data.get("page_id").and_then(|p| p.as_str()),
        ) {
            (Some(id), _) => ok.contains(id),
            (None, Some(page)) => ok.contains(&format!("page:{page}")),
            (None, None) => false,
        }
    };
    let items: Vec<_> = events
        .iter()
        .filter(visible)
        .map(pagedesk_shared::http::views::feed_event)
        .collect();
    ok(&json!({"items": items, "next_cursor": next}))
}
