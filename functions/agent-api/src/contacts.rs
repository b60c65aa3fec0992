//! `GET /contacts?q=` (search), `GET /contacts/{id}`, and `DELETE /contacts/{id}`: the
//! person's right to erasure.

use std::sync::Arc;

use axum::extract::State;
use pagedesk_shared::http::views;

use crate::App;
use crate::error::ApiFailure;
use crate::extract::{Caller, Id, Params, Reply, ok};

/// `GET /contacts?q=&limit=` → the contacts found by a word of their name (its start, case and
/// accents ignored), their email, phone or Facebook id; each with the path of its
/// conversations. An agent who works some Pages finds their Pages' contacts only.
pub async fn search(State(app): State<Arc<App>>, c: Caller, p: Params) -> Reply {
    c.require_person()?;
    let plan = pagedesk_shared::domain::search::plan(p.get("q").unwrap_or_default())
        .map_err(|why| ApiFailure::bad_parameter("q", why.trim_start_matches("q: ").to_owned()))?;
    let limit = p.limit(20, 50)? as usize;
    let pages = app.pages_of(&c).await?;
    let mut found = app.store.search_contacts(&c.account, &plan, 200).await?;
    found.retain(|ct| pages.as_ref().is_none_or(|p| p.contains(&ct.page_id)));
    found.truncate(limit);
    let items: Vec<_> = found
        .iter()
        .map(|ct| {
            let mut v = views::contact(ct);
            v["conversations"] =
                serde_json::json!(format!("/conversations?contact_id={}&status=all", ct.id));
            v
        })
        .collect();
    tracing::info!(hits = items.len(), "contact search");
    ok(&serde_json::json!({"items": items}))
}

/// Erases what the person told us (see `Store::erase_contact`). 204, also when there is
/// nothing (left) to erase, so a retried request answers the same.
pub async fn erase(State(app): State<Arc<App>>, c: Caller, Id(id): Id) -> Reply {
    c.require_admin()?;
    let erased = app
        .store
        .erase_contact(&c.account, &id, app.clock.now_ms())
        .await?;
    if let Some((conversations, messages, keys)) = erased {
        // Their media goes too where it was theirs alone: a copy is shared by every message
        // of the account with the same URL (a sticker's is everyone's), and stays while
        // someone else's message points at it. The guard goes before the object, so nothing
        // reuses an object that is about to be deleted.
        if let Some(bucket) = app.cfg.bucket.as_deref() {
            for key in &keys {
                if app.store.drop_media_user(&c.account, key, &id).await? {
                    pagedesk_shared::services::media::delete(&app.s3, bucket, key).await?;
                }
            }
        }
        tracing::info!(
            conversations,
            messages,
            media = keys.len(),
            "contact erased"
        );
    }
    Ok(axum::response::IntoResponse::into_response(
        lambda_http::http::StatusCode::NO_CONTENT,
    ))
}

pub async fn get(State(app): State<Arc<App>>, c: Caller, Id(id): Id) -> Reply {
    let contact = app
        .store
        .get_contact(&c.account, &id)
        .await?
        .ok_or(ApiFailure::NotFound("contact"))?;
    if let Some(pages) = app.pages_of(&c).await?
        && !pages.contains(&contact.page_id)
    {
        return Err(ApiFailure::NotFound("contact"));
    }
    ok(&views::contact(&contact))
}
