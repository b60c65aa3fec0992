//! Outgoing webhooks' I/O: the signed POST of one delivery under the URL policy, and new
//! signing secrets. What an answer means is core's `domain::webhooks`.

use std::time::Duration;

use crate::adapters::safe_url::{UrlPolicy, guarded_client, refusal_in};
use crate::domain::EventType;
use crate::domain::webhooks::signature_header;

/// A new signing secret: `whsec_` and 32 bytes from the operating system's CSPRNG (through
/// aws-lc, the one cryptography library here), hex.
pub fn new_secret() -> crate::Result<String> {
    let mut bytes = [0u8; 32];
    rustls::crypto::aws_lc_rs::default_provider()
        .secure_random
        .fill(&mut bytes)
        .map_err(|_| crate::Error::Invalid("no randomness for a webhook secret".into()))?;
    Ok(format!("whsec_{}", hex::encode(bytes)))
}

/// What one attempt got back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostOutcome {
    /// The HTTP status; `None` when no answer came (timeout, connection refused or cut).
    pub status: Option<u16>,
    pub retry_after: Option<String>,
    /// Why it failed, for the delivery record (never the body or the URL).
    pub error: Option<String>,
}

/// One delivery, as the deliverer hands it over.
pub struct Delivery<'a> {
    pub url: &'a str,
    pub secrets: &'a [&'a str],
    pub webhook_id: &'a str,
    pub delivery_id: &'a str,
    pub event: EventType,
    pub body: &'a [u8],
    pub now_ms: i64,
}

#[derive(Clone)]
pub struct WebhookClient {
    http: reqwest::Client,
    policy: UrlPolicy,
}

impl WebhookClient {
    pub fn new(timeout: Duration, policy: UrlPolicy) -> Self {
        WebhookClient {
            http: guarded_client(timeout, policy),
            policy,
        }
    }

    /// POSTs a delivery. `Err` only when the URL or the address it resolves to is not one
    /// pagedesk calls (retrying will not change that).
    pub async fn post(&self, d: &Delivery<'_>) -> Result<PostOutcome, String> {
        self.policy.check_url(d.url).map_err(|r| r.to_string())?;
        let ts = d.now_ms / 1000;
        let res = self
            .http
            .post(d.url)
            .header("content-type", "application/json")
            .header("user-agent", "pagedesk-webhooks/1")
            .header("x-pagedesk-event", d.event.as_str())
            .header("x-pagedesk-webhook", d.webhook_id)
            .header("x-pagedesk-delivery", d.delivery_id)
            .header("x-pagedesk-timestamp", ts.to_string())
            .header(
                "x-pagedesk-signature",
                signature_header(d.secrets, ts, d.body),
            )
            .body(d.body.to_vec())
            .send()
            .await;
        match res {
            Ok(r) => {
                let status = r.status().as_u16();
                let retry_after = r
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                let ok = r.status().is_success();
                Ok(PostOutcome {
                    status: Some(status),
                    retry_after,
                    error: (!ok).then(|| format!("HTTP {status}")),
                })
            }
            Err(e) => {
                if let Some(r) = refusal_in(&e) {
                    return Err(r.to_string());
                }
                let why = if e.is_timeout() {
                    "timed out".to_owned()
                } else if e.is_connect() {
                    "could not connect".to_owned()
                } else {
                    format!("request failed: {}", e.without_url())
                };
                Ok(PostOutcome {
                    status: None,
                    retry_after: None,
                    error: Some(why),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn secrets_are_new_each_time_and_shaped_alike() {
        let a = super::new_secret().expect("randomness");
        let b = super::new_secret().expect("randomness");
        assert_ne!(a, b);
        assert!(a.starts_with("whsec_") && a.len() == 6 + 64, "{a}");
    }
}
