//! Saved replies: `GET /saved-replies` (everyone), `PUT|DELETE /saved-replies/{shortcut}`
//! (admins). Their `{{placeholders}}` are filled in by the front end, which knows the contact,
//! the agent and the Page at hand (`web/src/logic.js` `fillSavedReply`).

use std::sync::Arc;

use axum::extract::State;
use lambda_http::http::StatusCode;
use pagedesk_shared::clock::rfc3339;
use pagedesk_shared::domain::workday;
use pagedesk_shared::store::SavedReply;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::App;
use crate::error::ApiFailure;
use crate::extract::{Caller, Id, RawBody, Reply, body, ok};

fn view(r: &SavedReply) -> Value {
    json!({
        "shortcut": r.shortcut,
        "text": r.text,
        "updated_by": r.updated_by,
        "created_at": rfc3339(r.created_at),
        "updated_at": rfc3339(r.updated_at),
    })
}

/// `GET /saved-replies` → every saved reply of the account, by shortcut.
pub async fn list(State(app): State<Arc<App>>, c: Caller) -> Reply {
    let replies = app.store.list_saved_replies(&c.account).await?;
    ok(&json!({"items": replies.iter().map(view).collect::<Vec<_>>()}))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PutReply {
    text: String,
}

/// `PUT /saved-replies/{shortcut}` `{"text"}` (admin) → the saved reply.
pub async fn put(
    State(app): State<Arc<App>>,
    c: Caller,
    Id(shortcut): Id,
    RawBody(bytes): RawBody,
) -> Reply {
    c.require_admin()?;
    let req: PutReply = body(&bytes)?;
    let mut problems = Vec::new();
    if !workday::is_name(&shortcut) {
        problems.push(format!(
            "shortcut: 1 to {} of a-z 0-9 _ -",
            workday::NAME_MAX
        ));
    }
    if let Err(p) = workday::saved_reply_text(&req.text) {
        problems.extend(p);
    }
    ApiFailure::unless(problems)?;
    let now = app.clock.now_ms();
    let reply = SavedReply::new(&c.account, &shortcut, &req.text, &c.sub, now);
    let Some(stored) = app
        .store
        .put_saved_reply(&c.account, &reply, workday::SAVED_REPLIES_MAX)
        .await?
    else {
        return Err(ApiFailure::invalid(format!(
            "shortcut: the account has {} saved replies already",
            workday::SAVED_REPLIES_MAX
        )));
    };
    tracing::info!(by = %c.sub, "saved reply put");
    ok(&view(&stored))
}

/// `DELETE /saved-replies/{shortcut}` (admin) → 204; 404 when there is none.
pub async fn delete(State(app): State<Arc<App>>, c: Caller, Id(shortcut): Id) -> Reply {
    c.require_admin()?;
    if !app.store.delete_saved_reply(&c.account, &shortcut).await? {
        return Err(ApiFailure::NotFound("saved reply"));
    }
    Ok(axum::response::IntoResponse::into_response(
        StatusCode::NO_CONTENT,
    ))
}
