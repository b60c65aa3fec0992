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
        // Their media goes too: the object and the guard that would reuse it.
        if let Some(bucket) = app.cfg.bucket.as_deref() {
            for key in &keys {
                pagedesk_shared::services::media::delete(&app.s3, bucket, key).await?;
                app.store.forget_media(&c.account, key).await?;
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
    ok(&views::contact(&contact))
}
