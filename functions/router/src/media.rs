//! Copies of inbound attachments (people's media, comment photos, media echoed from the Page
//! inbox) into the data bucket, in the background: the message is stored and shown at once
//! with `stored: false`; a job on the deferred queue fetches Meta's URL and marks the
//! attachment `stored` when the copy lands. One copy per URL (a guard item), at most
//! `media::MAX_BYTES`, a content type that fits the attachment, at most `MAX_REDIRECTS`
//! redirects, public http(s) addresses only (the AI agent's `UrlPolicy`). A copy that fails
//! for now is retried with backoff, then given up with `store_error`; nothing else waits for it.

use std::time::Duration;

use pagedesk_shared::adapters::safe_url::{GuardedResolver, UrlPolicy};
use pagedesk_shared::contracts::queue::{MediaJob, enqueue_media};
use pagedesk_shared::domain::EventType;
use pagedesk_shared::services::media;
use pagedesk_shared::store::{EventItem, MediaClaim, MediaItem, Message};
use serde_json::json;

use crate::{Router, RouterError};

/// Tries of a copy that fails for now: 2, 4, 8, 16, 32 s apart.
const MAX_ATTEMPTS: u32 = 6;
/// How long a copier holds a URL before another may take over.
const LEASE_MS: i64 = 120_000;

/// Why a copy did not land.
pub(crate) enum CopyError {
    /// Trying again may help (a timeout, a 5xx, a reset).
    Later(String),
    /// It will not (too large, wrong type, gone, not allowed).
    Never(String),
}

/// The HTTP client for fetching media: the policy's resolver, bounded redirects, each hop
/// checked.
pub fn client(policy: UrlPolicy) -> reqwest::Client {
    let redirects = reqwest::redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() >= media::MAX_REDIRECTS {
            attempt.error("too many redirects")
        } else if policy.check_url(attempt.url().as_str()).is_err() {
            attempt.error("a redirect to an address that may not be fetched")
        } else {
            attempt.follow()
        }
    });
    pagedesk_shared::adapters::tls::reqwest_builder()
        .dns_resolver(GuardedResolver::new(policy))
        .redirect(redirects)
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap_or_default()
}

impl Router {
    /// Queues a copy of each attachment of a just-stored message that has a URL.
    pub(crate) async fn copy_media(&self, msg: &Message) {
        if self.cfg.bucket.is_none() {
            return;
        }
        for (i, a) in msg.attachments.iter().enumerate() {
            // Pending is `stored: false` without a reason; one with a reason has its outcome
            // already (Instagram's media is never copied).
            let pending = a.stored == Some(false) && a.store_error.is_none();
            if a.url.is_none() || !pending || !media::is_media(&a.kind) {
                continue;
            }
            let job = MediaJob::new(&msg.account, &msg.conversation_id, msg.reference(), i);
            if let Err(e) = enqueue_media(&self.sqs, &self.cfg.deferred_queue_url, &job, 0).await {
                tracing::error!(error = %e, message_id = %msg.id, "media copy could not be queued; the attachment keeps Meta's URL");
            }
        }
    }

    pub(crate) async fn on_media(&self, job: MediaJob) -> Result<(), RouterError> {
        let Some(bucket) = self.cfg.bucket.clone() else {
            return Ok(());
        };
        let Some(msg) = self
            .store
            .get_message(&job.account, &job.conversation_id, &job.message_sk)
            .await?
        else {
            return Ok(());
        };
        let Some(att) = msg.attachments.get(job.index) else {
            return Ok(());
        };
        let (Some(url), false) = (att.url.clone(), att.stored == Some(true)) else {
            return Ok(());
        };
        let hash = media::url_hash(&url);
        let now = self.clock.now_ms();
        match self
            .store
            .claim_media(&job.account, &hash, now, LEASE_MS)
            .await?
        {
            MediaClaim::Done(done) => {
                // One more user of the stored copy (an erasure keeps it while anyone is).
                if let Some(author) = msg.author_id.as_deref()
                    && done.status == "stored"
                {
                    self.store
                        .media_used_by(&job.account, &hash, author)
                        .await?;
                }
                self.mark(&msg, job.index, &done).await?;
                return Ok(());
            }
            MediaClaim::Busy => {
                // Another router is copying this URL: look again a little later.
                enqueue_media(&self.sqs, &self.cfg.deferred_queue_url, &job, 5).await?;
                return Ok(());
            }
            MediaClaim::Mine => {}
        }
        let outcome = match self.fetch(&url, &att.kind).await {
            Ok((content_type, bytes)) => {
                let key = media::media_key(&job.account, &url);
                let size = bytes.len() as i64;
                if let Err(e) = media::put(&self.s3, &bucket, &key, &content_type, bytes).await {
                    self.store.release_media(&job.account, &hash).await?;
                    return Err(e.into());
                }
                MediaItem::stored(key, content_type, size)
            }
            Err(CopyError::Later(why)) if job.attempt + 1 < MAX_ATTEMPTS => {
                tracing::info!(error = %why, attempt = job.attempt, "media copy failed for now; retried");
                self.store.release_media(&job.account, &hash).await?;
                let next = MediaJob {
                    attempt: job.attempt + 1,
                    ..job.clone()
                };
                enqueue_media(
                    &self.sqs,
                    &self.cfg.deferred_queue_url,
                    &next,
                    2i32 << job.attempt.min(8),
                )
                .await?;
                return Ok(());
            }
            Err(CopyError::Later(why) | CopyError::Never(why)) => {
                tracing::warn!(error = %why, "media copy given up");
                MediaItem::failed(why)
            }
        };
        self.store
            .finish_media(
                &job.account,
                &hash,
                outcome.clone(),
                msg.author_id.as_deref(),
            )
            .await?;
        if !self.mark(&msg, job.index, &outcome).await? {
            self.abandon(&bucket, &job.account, &hash, &msg, &outcome)
                .await?;
        }
        Ok(())
    }

    /// The message lost its attachment while the copy was made: its author was erased. The
    /// copy goes unless someone else's message uses it, so nothing of theirs outlives the
    /// erasure (which could not know of a copy still in flight).
    async fn abandon(
        &self,
        bucket: &str,
        account: &str,
        hash: &str,
        msg: &Message,
        outcome: &MediaItem,
    ) -> Result<(), RouterError> {
        let (Some(author), Some(key)) = (msg.author_id.as_deref(), outcome.key.as_deref()) else {
            return Ok(());
        };
        if self.store.abandon_media(account, hash, author).await? {
            media::delete(&self.s3, bucket, key).await?;
            tracing::info!("media copy of an erased message removed");
        }
        Ok(())
    }

    /// Records the outcome on the message; `Ok(false)` when the attachment is gone (erased).
    async fn mark(
        &self,
        msg: &Message,
        index: usize,
        outcome: &MediaItem,
    ) -> Result<bool, RouterError> {
        let ev = EventItem::new(
            &msg.account,
            EventType::MessageUpdated,
            Some(&msg.conversation_id),
            json!({"message_id": msg.id, "attachment": index, "stored": outcome.status == "stored"}),
            self.clock.now_ms(),
        );
        let marked = self
            .store
            .mark_attachment(msg, index, outcome, Some(&ev))
            .await?;
        tracing::info!(
            marked,
            stored = outcome.status == "stored",
            "attachment copy recorded"
        );
        Ok(marked)
    }

    /// Fetches a media URL: its content type and bytes, within the limits.
    async fn fetch(&self, url: &str, kind: &str) -> Result<(String, Vec<u8>), CopyError> {
        self.cfg
            .url_policy
            .check_url(url)
            .map_err(|e| CopyError::Never(format!("source not allowed: {e}")))?;
        let mut resp = self
            .media_http
            .get(url)
            .send()
            .await
            .map_err(fetch_failed)?;
        let status = resp.status().as_u16();
        if status >= 500 || status == 429 || status == 408 {
            return Err(CopyError::Later(format!("source answered {status}")));
        }
        if !(200..300).contains(&status) {
            return Err(CopyError::Never(format!(
                "source answered {status} (expired or gone)"
            )));
        }
        if resp.content_length().is_some_and(|n| n > media::MAX_BYTES) {
            return Err(CopyError::Never(format!(
                "too large: over {} MB",
                media::MAX_BYTES / (1024 * 1024)
            )));
        }
        let content_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/octet-stream")
            .to_owned();
        if !media::type_fits(kind, &content_type) {
            return Err(CopyError::Never(format!(
                "content type {content_type} is not a {kind}"
            )));
        }
        let mut body = Vec::new();
        loop {
            match resp.chunk().await {
                Ok(Some(c)) => {
                    body.extend_from_slice(&c);
                    if body.len() as u64 > media::MAX_BYTES {
                        return Err(CopyError::Never(format!(
                            "too large: over {} MB",
                            media::MAX_BYTES / (1024 * 1024)
                        )));
                    }
                }
                Ok(None) => break,
                Err(e) => return Err(fetch_failed(e)),
            }
        }
        Ok((content_type, body))
    }
}

/// Why fetching a media URL failed, without the URL: Meta's media URLs carry their signature
/// (`oh=`, `oe=`) in the query, and the reason is logged and stored with the attachment.
fn fetch_failed(e: reqwest::Error) -> CopyError {
    if pagedesk_shared::adapters::safe_url::refusal_in(&e).is_some() || e.is_redirect() {
        CopyError::Never(format!("source not allowed: {}", e.without_url()))
    } else {
        CopyError::Later(e.without_url().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A failed fetch of a signed media URL says why, never the URL or its signature.
    #[tokio::test]
    async fn a_failed_fetch_keeps_the_urls_signature_out_of_its_reason() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        drop(listener);
        let url = format!("http://{addr}/v/t1/photo.jpg?oh=00_SIGNATUREabcdef&oe=6756A1B2");
        let e = pagedesk_shared::adapters::tls::reqwest_builder()
            .build()
            .expect("a client")
            .get(&url)
            .send()
            .await
            .expect_err("nothing listens there");
        let reason = match fetch_failed(e) {
            CopyError::Later(r) | CopyError::Never(r) => r,
        };
        assert!(!reason.is_empty());
        for secret in ["SIGNATURE", "oh=", "oe=", "photo.jpg"] {
            assert!(!reason.contains(secret), "{secret} in {reason:?}");
        }
    }
}
