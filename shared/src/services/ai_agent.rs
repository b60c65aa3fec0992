//! Deliveries to an account's AI agent: signed JSON POSTs. The signature is
//! `X-Pagedesk-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">` with the secret the
//! admin set, and `X-Pagedesk-Timestamp` (seconds) so the bot can refuse replays.

use crate::adapters::safe_url::{UrlPolicy, guarded_client, refusal_in};
use crate::domain::EventType;
use std::time::Duration;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AiAgentError {
    /// Timeouts, connection errors, 5xx, 408 and 429: worth trying again.
    #[error("AI agent unavailable: {0}")]
    Temporary(String),
    /// Any other answer: it will not change by retrying.
    #[error("AI agent refused the delivery with HTTP {0}")]
    Refused(u16),
    /// The URL or the address it resolves to is one pagedesk does not call.
    #[error("the AI agent's URL is not allowed: {0}")]
    NotAllowed(String),
}

/// The AI agent's deliveries are signed like outgoing webhooks.
pub use crate::domain::webhooks::signature;

#[derive(Clone)]
pub struct AiAgentClient {
    http: reqwest::Client,
    policy: UrlPolicy,
}

impl AiAgentClient {
    pub fn new(timeout: Duration, policy: UrlPolicy) -> Self {
        let http = guarded_client(timeout, policy);
        AiAgentClient { http, policy }
    }

    /// POSTs one delivery. `delivery` is stable across retries, so the bot can drop repeats.
    pub async fn deliver(
        &self,
        url: &str,
        secret: &str,
        event: EventType,
        delivery: &str,
        body: &serde_json::Value,
        now_ms: i64,
    ) -> Result<(), AiAgentError> {
        self.policy
            .check_url(url)
            .map_err(|r| AiAgentError::NotAllowed(r.to_string()))?;
        let bytes = serde_json::to_vec(body).map_err(|e| AiAgentError::Temporary(e.to_string()))?;
        let ts = now_ms / 1000;
        let res = self
            .http
            .post(url)
            .header("content-type", "application/json")
            .header("x-pagedesk-event", event.as_str())
            .header("x-pagedesk-delivery", delivery)
            .header("x-pagedesk-timestamp", ts.to_string())
            .header("x-pagedesk-signature", signature(secret, ts, &bytes))
            .body(bytes)
            .send()
            .await;
        match res {
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(r) => {
                let code = r.status().as_u16();
                if code >= 500 || code == 408 || code == 429 {
                    Err(AiAgentError::Temporary(format!("HTTP {code}")))
                } else {
                    Err(AiAgentError::Refused(code))
                }
            }
            Err(e) if e.is_timeout() => Err(AiAgentError::Temporary("timeout".into())),
            Err(e) if refusal_in(&e).is_some() => Err(AiAgentError::NotAllowed(
                refusal_in(&e).map(|r| r.to_string()).unwrap_or_default(),
            )),
            Err(e) => Err(AiAgentError::Temporary(format!(
                "request failed: {}",
                e.without_url()
            ))),
        }
    }
}
