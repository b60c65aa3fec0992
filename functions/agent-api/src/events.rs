//! `GET /events?after=&limit=`: what changed, oldest first, for front ends that poll.

use std::sync::Arc;

use axum::extract::State;
use pagedesk_shared::clock::rfc3339;
use serde_json::json;

use crate::App;
use crate::error::ApiFailure;
use crate::extract::{Caller, Params, Reply, ok};

/// A cursor as clients see it: `<ms>-<ulid>`, URL-safe, so it works even when a client forgets
/// to encode it. Stored keys use `#`.
fn public(sk: &str) -> String {
    sk.replacen('#', "-", 1)
}

/// The stored key a client's cursor stands for (`-` or `#` accepted).
fn stored(cursor: &str) -> Result<String, ApiFailure> {
    let (ts, rest) = cursor.split_once(['-', '#']).unwrap_or((cursor, ""));
    if ts.len() != 13
        || !ts.chars().all(|ch| ch.is_ascii_digit())
        || !rest
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
    {
        return Err(ApiFailure::bad_parameter(
            "after",
            "a cursor from this feed",
        ));
    }
    Ok(if rest.is_empty() {
        ts.to_owned()
    } else {
        format!("{ts}#{rest}")
    })
}

pub async fn list(State(app): State<Arc<App>>, c: Caller, p: Params) -> Reply {
    let after = p.get("after").map(stored).transpose()?;
    let limit = p.limit(100, 500)?;
    let events = app
        .store
        .list_events(&c.account, after.as_deref(), limit, app.clock.now_ms())
        .await?;
    let next = events
        .last()
        .map(|e| public(&e.sk))
        .or_else(|| after.as_deref().map(public));
    let items: Vec<_> = events
        .iter()
        .map(|e| {
            json!({
                "id": public(&e.sk),
                "type": e.kind,
                "conversation_id": e.conversation_id,
                "data": e.data,
                "created_at": rfc3339(e.created_at),
            })
        })
        .collect();
    ok(&json!({"items": items, "next_cursor": next}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_what_the_feed_never_made() {
        let sk = "1700000000000#ev_01ARZ3NDEKTSV4RRFFQ69G5FAV";
        assert_eq!(stored(&public(sk)).unwrap(), sk);
        assert_eq!(stored("1700000000000").unwrap(), "1700000000000");
        for bad in [
            "",
            "abc",
            "17000000000-x",
            "1700000000000-a/b",
            "1700000000000-%20",
        ] {
            assert!(stored(bad).is_err(), "{bad}");
        }
    }
}
