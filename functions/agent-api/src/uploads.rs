//! `POST /uploads`: a file an agent wants to send. The API answers with a presigned PUT that
//! accepts exactly the declared size and content type; the browser sends the bytes straight to
//! the data bucket, and a reply names the upload by id.

use std::sync::Arc;

use axum::extract::State;
use lambda_http::http::StatusCode;
use pagedesk_shared::clock::rfc3339;
use pagedesk_shared::services::media;
use pagedesk_shared::store::UploadItem;
use serde::Deserialize;
use serde_json::json;

use crate::App;
use crate::error::ApiFailure;
use crate::extract::{Caller, RawBody, Reply, body, integer, json};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewUpload {
    filename: String,
    content_type: String,
    size: serde_json::Value,
}

pub async fn post(State(app): State<Arc<App>>, c: Caller, RawBody(bytes): RawBody) -> Reply {
    c.require_person()?;
    let req: NewUpload = body(&bytes)?;
    let mut problems = Vec::new();
    let name = req.filename.trim();
    if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
        problems.push("filename: 1 to 200 printable characters".to_owned());
    }
    if !media::valid_content_type(&req.content_type) {
        problems.push("content_type: a media type such as image/png".to_owned());
    }
    let size = integer(&req.size).filter(|s| (1..=media::MAX_BYTES as i64).contains(s));
    if size.is_none() {
        problems.push(format!(
            "size: 1 to {} bytes (Meta's largest attachment)",
            media::MAX_BYTES
        ));
    }
    ApiFailure::unless(problems)?;
    let size = size.unwrap_or(1);
    let bucket = bucket(&app)?;
    let now = app.clock.now_ms();
    let id = pagedesk_shared::ids::new_id("up", now);
    let upload = UploadItem::new(&c.account, &id, name, &req.content_type, size, now);
    app.store.put_upload(&upload).await?;
    let put_url =
        media::upload_url(&app.s3, bucket, &upload.key, &upload.content_type, size).await?;
    let expires = now + media::UPLOAD_URL_TTL.as_millis() as i64;
    Ok(json(
        StatusCode::CREATED,
        &json!({"upload_id": id, "put_url": put_url, "expires_at": rfc3339(expires),
                "content_type": upload.content_type, "size": size}),
    ))
}

pub(crate) fn bucket(app: &App) -> Result<&str, ApiFailure> {
    app.cfg.bucket.as_deref().ok_or_else(|| {
        tracing::error!("PAGEDESK_BUCKET is not set; media cannot be stored");
        ApiFailure::Unavailable("media storage is not configured")
    })
}

/// Presigned reads for the stored attachments of `msgs`, by object key.
pub(crate) async fn links<'a>(
    app: &App,
    msgs: impl IntoIterator<Item = &'a pagedesk_shared::store::Message>,
) -> Result<std::collections::HashMap<String, String>, ApiFailure> {
    let mut out = std::collections::HashMap::new();
    let Some(bucket) = app.cfg.bucket.as_deref() else {
        return Ok(out);
    };
    for m in msgs {
        for key in pagedesk_shared::http::views::stored_keys(m) {
            if !out.contains_key(key) {
                let url = media::read_url(&app.s3, bucket, key).await?;
                out.insert(key.to_owned(), url);
            }
        }
    }
    Ok(out)
}
