//! Deliveries to an account's AI agent: signed JSON POSTs. The signature is
//! `X-Pagedesk-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">` with the secret the
//! admin set, and `X-Pagedesk-Timestamp` (seconds) so the bot can refuse replays.

use crate::adapters::safe_url::{GuardedResolver, UrlPolicy, refusal_in};
use crate::domain::EventType;
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;

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

pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    // HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[derive(Clone)]
pub struct AiAgentClient {
    http: reqwest::Client,
    policy: UrlPolicy,
}

impl AiAgentClient {
    pub fn new(timeout: Duration, policy: UrlPolicy) -> Self {
        let http = crate::adapters::tls::reqwest_builder()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(3))
            // A redirect would lead past the address check.
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(GuardedResolver::new(policy))
            .build()
            .unwrap_or_default();
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

#[cfg(test)]
mod tests {
    #[test]
    fn signature_covers_timestamp_and_body() {
        let a = super::signature("k", 1, b"{}");
        assert!(a.starts_with("sha256=") && a.len() == 7 + 64);
        assert_ne!(a, super::signature("k", 2, b"{}"));
        assert_ne!(a, super::signature("k", 1, b"{ }"));
        assert_ne!(a, super::signature("j", 1, b"{}"));
    }
}
