//! `GET /contacts/{id}`, and `DELETE /contacts/{id}`: the person's right to erasure.

use std::sync::Arc;

use axum::extract::State;
use pagedesk_shared::http::views;

use crate::App;
use crate::error::ApiFailure;
use crate::extract::{Caller, Id, Reply, ok};

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
