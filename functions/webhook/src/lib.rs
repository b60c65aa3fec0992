//! The webhook function: Meta's verification handshake and event delivery. It checks the
//! signature on the raw bytes, splits the batch into single events and answers 200 only after
//! SQS accepted every one of them; anything else is a 5xx so that Meta retries. No DynamoDB
//! work happens here.

use std::sync::Arc;

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request};
use pagedesk_shared::adapters::aws::Clients;
use pagedesk_shared::adapters::secrets::SecretCache;
use pagedesk_shared::clock::Clock;
use pagedesk_shared::contracts::queue;
use pagedesk_shared::http::api::{ApiError, HttpResponse, query_param, query_params, text};
use pagedesk_shared::meta::signature::{self, SignatureError};
use pagedesk_shared::meta::webhook::{self, SplitError};
use pagedesk_shared::runtime::config::WebhookConfig;
use pagedesk_shared::services::spill;
use sha2::{Digest, Sha256};

pub struct Webhook {
    pub cfg: WebhookConfig,
    pub sqs: aws_sdk_sqs::Client,
    pub s3: pagedesk_shared::adapters::s3::S3,
    pub secrets: Arc<SecretCache>,
    pub clock: Arc<dyn Clock>,
}

impl Webhook {
    pub fn new(cfg: WebhookConfig, clients: &Clients, clock: Arc<dyn Clock>) -> Self {
        Webhook {
            sqs: clients.sqs(),
            s3: clients.s3(),
            secrets: SecretCache::shared(&clients.secrets(), cfg.secret_cache_seconds),
            cfg,
            clock,
        }
    }

    pub async fn handle(&self, req: Request) -> HttpResponse {
        let path = req.uri().path().trim_end_matches('/');
        let res = match (req.method(), path) {
            (&Method::GET, "/webhook") => self.handshake(&req).await,
            (&Method::POST, "/webhook") => self.receive(&req).await,
            (_, "/webhook") => Err(ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "use GET or POST",
            )),
            _ => Err(ApiError::not_found("route")),
        };
        res.unwrap_or_else(ApiError::into_response)
    }

    async fn handshake(&self, req: &Request) -> Result<HttpResponse, ApiError> {
        let params = query_params(req.uri());
        let mode = query_param(&params, "hub.mode");
        let token = query_param(&params, "hub.verify_token");
        let challenge = query_param(&params, "hub.challenge");
        let expected = self.secrets.require(&self.cfg.verify_token_id).await?;
        if mode != Some("subscribe") || !token.is_some_and(|t| same(t, &expected)) {
            tracing::warn!("webhook handshake refused");
            return Err(ApiError::forbidden("verify token does not match"));
        }
        let Some(challenge) = challenge else {
            return Err(ApiError::bad_request(
                "missing_challenge",
                "hub.challenge is required",
            ));
        };
        Ok(text(StatusCode::OK, challenge))
    }

    async fn receive(&self, req: &Request) -> Result<HttpResponse, ApiError> {
        let raw: &[u8] = match req.body() {
            Body::Empty => &[],
            b => b.as_ref(),
        };
        let header = req
            .headers()
            .get("x-hub-signature-256")
            .and_then(|v| v.to_str().ok());
        let secret = self.secrets.require(&self.cfg.app_secret_id).await?;
        match signature::verify(secret.as_bytes(), raw, header) {
            Ok(()) => {}
            Err(SignatureError::Missing) => {
                tracing::warn!(bytes = raw.len(), "webhook without signature refused");
                return Err(ApiError::unauthorized("X-Hub-Signature-256 is required"));
            }
            Err(e) => {
                tracing::warn!(bytes = raw.len(), reason = %e, "webhook signature refused");
                return Err(ApiError::forbidden("signature does not match"));
            }
        }
        let split = webhook::split(raw, self.clock.now_ms()).map_err(|e| {
            tracing::warn!(bytes = raw.len(), reason = %e, "signed webhook body refused");
            match e {
                SplitError::NotJson(_) => {
                    ApiError::bad_request("malformed_json", "body is not JSON")
                }
                SplitError::NotEnvelope(w) => ApiError::bad_request("malformed_payload", w),
            }
        })?;
        if split.skipped > 0 {
            tracing::warn!(
                skipped = split.skipped,
                "webhook items without an id or not objects were skipped"
            );
        }
        let mut events = split.events;
        self.spill_large(&mut events).await?;
        if !events.is_empty()
            && let Err(e) = queue::send_all(&self.sqs, &self.cfg.inbound_queue_url, &events).await
        {
            tracing::error!(error = %e, events = events.len(), "enqueue failed; Meta will retry");
            return Err(ApiError::unavailable("events could not be queued; retry"));
        }
        tracing::info!(events = events.len(), "webhook accepted");
        Ok(text(StatusCode::OK, "EVENT_RECEIVED"))
    }

    /// Keeps each event too large for the queue in S3 and queues a pointer to it instead.
    async fn spill_large(&self, events: &mut [webhook::QueuedEvent]) -> Result<(), ApiError> {
        for e in events
            .iter_mut()
            .filter(|e| e.body.len() > spill::MAX_QUEUED_BYTES)
        {
            let Some(bucket) = self.cfg.bucket.as_deref() else {
                tracing::error!(
                    bytes = e.body.len(),
                    "event too large for the queue and no bucket configured; Meta will retry"
                );
                return Err(ApiError::unavailable("event too large to queue; retry"));
            };
            let key = spill::key(&e.dedupe_id);
            let pointer = e.pointer(&key).map_err(|err| {
                tracing::error!(error = %err, "queued event is not an inbound event");
                ApiError::unavailable("event could not be queued; retry")
            })?;
            if let Err(err) = spill::put(&self.s3, bucket, &key, &e.body).await {
                tracing::error!(error = %err, bytes = e.body.len(), "spilling a large event failed; Meta will retry");
                return Err(ApiError::unavailable("events could not be queued; retry"));
            }
            tracing::info!(bytes = e.body.len(), key = %key, "large event kept in S3; its pointer is queued");
            e.body = pointer;
        }
        Ok(())
    }
}

/// Compares digests so that the time taken does not depend on where the strings differ.
fn same(a: &str, b: &str) -> bool {
    Sha256::digest(a.as_bytes()) == Sha256::digest(b.as_bytes())
}
