//! Connecting Pages, without I/O: the webhook fields and permissions pagedesk needs, a Page's
//! channel switches, what a health check concludes, and Meta's `signed_request`.

use base64::Engine;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// Every Page webhook field pagedesk handles, subscribed on connect and checked by the health
/// check. Channel switches do not change the subscription: a switched-off channel's events
/// are acknowledged and skipped, so switching back on loses nothing that arrives later.
pub const WEBHOOK_FIELDS: [&str; 12] = [
    "messages",
    "messaging_postbacks",
    "message_echoes",
    "message_reads",
    "message_deliveries",
    "message_reactions",
    "message_edits",
    "messaging_referrals",
    "messaging_handovers",
    "standby",
    "feed",
    "leadgen",
];

/// Which kinds of events a Page brings in (Planfix lets admins leave comments out).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Channels {
    #[serde(default = "on")]
    pub messenger: bool,
    #[serde(default = "on")]
    pub comments: bool,
    #[serde(default = "on")]
    pub leads: bool,
}

fn on() -> bool {
    true
}

impl Default for Channels {
    fn default() -> Self {
        Channels {
            messenger: true,
            comments: true,
            leads: true,
        }
    }
}

impl Channels {
    /// The permissions the Page's switched-on channels need, besides listing Pages and
    /// managing their webhooks, which every Page needs.
    pub fn permissions(&self) -> Vec<&'static str> {
        let mut p = vec!["pages_show_list", "pages_manage_metadata"];
        if self.messenger {
            p.push("pages_messaging");
        }
        if self.comments {
            p.extend([
                "pages_read_engagement",
                "pages_read_user_engagement",
                "pages_manage_engagement",
            ]);
        }
        if self.leads {
            p.extend(["pages_read_engagement", "leads_retrieval"]);
        }
        p.sort_unstable();
        p.dedup();
        p
    }

    /// Whether events of a webhook field (`messaging` for Messenger, else the change's field)
    /// are wanted.
    pub fn admits(&self, field: &str) -> bool {
        match field {
            "feed" => self.comments,
            "leadgen" => self.leads,
            _ => self.messenger,
        }
    }
}

/// `needed` minus `granted`, in `needed`'s order.
pub fn missing<'a>(needed: &[&'a str], granted: &[String]) -> Vec<&'a str> {
    needed
        .iter()
        .copied()
        .filter(|p| !granted.iter().any(|g| g == p))
        .collect()
}

/// Fields of `WEBHOOK_FIELDS` that `subscribed` lacks.
pub fn missing_fields(subscribed: &[String]) -> Vec<&'static str> {
    missing(&WEBHOOK_FIELDS, subscribed)
}

/// What `GET /debug_token` says of a Page token.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct TokenInfo {
    #[serde(default)]
    pub is_valid: bool,
    /// Epoch seconds; 0 means never.
    #[serde(default)]
    pub expires_at: i64,
    #[serde(default)]
    pub scopes: Vec<String>,
    #[serde(default)]
    pub profile_id: Option<String>,
}

/// Why a Page needs re-authorisation, or `None` when its token is fine for `channels`.
pub fn token_problem(t: &TokenInfo, channels: &Channels, now_ms: i64) -> Option<String> {
    if !t.is_valid {
        return Some("token_invalid".into());
    }
    if t.expires_at > 0 && t.expires_at * 1000 <= now_ms {
        return Some("token_expired".into());
    }
    let lacking = missing(&channels.permissions(), &t.scopes);
    (!lacking.is_empty()).then(|| format!("missing_permissions: {}", lacking.join(",")))
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignedRequestError {
    #[error("signed_request is missing")]
    Missing,
    #[error("signed_request is not <signature>.<payload> in base64url")]
    Malformed,
    #[error("signed_request's signature does not match")]
    Mismatch,
    #[error("signed_request's payload is not what Meta sends: {0}")]
    Payload(String),
}

/// The part of a `signed_request` payload pagedesk uses.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct SignedRequest {
    pub user_id: String,
    #[serde(default)]
    pub issued_at: Option<i64>,
}

fn b64(s: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD
        .decode(s.trim_end_matches('='))
        .or_else(|_| URL_SAFE.decode(s))
        .ok()
}

/// Checks `<sig>.<payload>` (base64url, padding optional): the signature must be
/// HMAC-SHA256 over the payload part as received, keyed with the app secret, and the payload
/// must say `HMAC-SHA256` and name a user.
pub fn verify_signed_request(
    app_secret: &[u8],
    signed: Option<&str>,
) -> Result<SignedRequest, SignedRequestError> {
    let signed = signed
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or(SignedRequestError::Missing)?;
    let (sig, payload) = signed
        .split_once('.')
        .ok_or(SignedRequestError::Malformed)?;
    let sig = b64(sig).ok_or(SignedRequestError::Malformed)?;
    let body = b64(payload).ok_or(SignedRequestError::Malformed)?;
    // Over the payload as received; a padded payload signed without its padding is the same
    // request.
    let signed_over = |p: &str| {
        Hmac::<Sha256>::new_from_slice(app_secret).is_ok_and(|mut mac| {
            mac.update(p.as_bytes());
            mac.verify_slice(&sig).is_ok()
        })
    };
    if !signed_over(payload) && !signed_over(payload.trim_end_matches('=')) {
        return Err(SignedRequestError::Mismatch);
    }
    let v: serde_json::Value =
        serde_json::from_slice(&body).map_err(|e| SignedRequestError::Payload(e.to_string()))?;
    if !v
        .get("algorithm")
        .and_then(|a| a.as_str())
        .is_some_and(|a| a.eq_ignore_ascii_case("HMAC-SHA256"))
    {
        return Err(SignedRequestError::Payload(
            "algorithm is not HMAC-SHA256".into(),
        ));
    }
    // Meta sends the id as a string; accept a number too.
    let user_id = match v.get("user_id") {
        Some(serde_json::Value::String(s)) if !s.is_empty() => s.clone(),
        Some(serde_json::Value::Number(n)) => n.to_string(),
        _ => return Err(SignedRequestError::Payload("user_id is missing".into())),
    };
    Ok(SignedRequest {
        user_id,
        issued_at: v.get("issued_at").and_then(|i| i.as_i64()),
    })
}

/// A `signed_request` as Meta would send it (the simulator and tests).
pub fn sign_request(app_secret: &[u8], payload: &serde_json::Value) -> String {
    let payload = URL_SAFE_NO_PAD.encode(payload.to_string());
    let mut mac = Hmac::<Sha256>::new_from_slice(app_secret).expect("HMAC takes any key length");
    mac.update(payload.as_bytes());
    format!(
        "{}.{payload}",
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metas_test_vector_verifies_with_and_without_padding() {
        let v = "Mf_s6nTb38UYqioBmPqu0Ewm9souPZB9I2fIGwV729U.eyJ1c2VyX2lkIjoiMCIsImFsZ29yaXRobSI6IkhNQUMtU0hBMjU2IiwiaXNzdWVkX2F0IjoxNjI0MjQ0MTU2fQ";
        let r = verify_signed_request(b"key", Some(v)).unwrap();
        assert_eq!(r.user_id, "0");
        assert_eq!(r.issued_at, Some(1_624_244_156));
        let padded = v.replacen(".", "=.", 1) + "=";
        assert_eq!(verify_signed_request(b"key", Some(&padded)), Ok(r.clone()));
        let sig_padded = v.replacen(".", "=.", 1);
        assert_eq!(verify_signed_request(b"key", Some(&sig_padded)), Ok(r));
        assert_eq!(
            verify_signed_request(b"other", Some(v)),
            Err(SignedRequestError::Mismatch)
        );
        assert_eq!(
            verify_signed_request(b"key", None),
            Err(SignedRequestError::Missing)
        );
        assert_eq!(
            verify_signed_request(b"key", Some("no-dot")),
            Err(SignedRequestError::Malformed)
        );
        assert_eq!(
            verify_signed_request(b"key", Some("%%%.eyJ9")),
            Err(SignedRequestError::Malformed)
        );
    }

    #[test]
    fn signed_requests_round_trip_and_payloads_are_checked() {
        let s = sign_request(
            b"k",
            &serde_json::json!({"algorithm": "HMAC-SHA256", "user_id": "42"}),
        );
        assert_eq!(verify_signed_request(b"k", Some(&s)).unwrap().user_id, "42");
        let s = sign_request(
            b"k",
            &serde_json::json!({"algorithm": "MD5", "user_id": "4"}),
        );
        assert!(matches!(
            verify_signed_request(b"k", Some(&s)),
            Err(SignedRequestError::Payload(_))
        ));
        let s = sign_request(b"k", &serde_json::json!({"algorithm": "HMAC-SHA256"}));
        assert!(matches!(
            verify_signed_request(b"k", Some(&s)),
            Err(SignedRequestError::Payload(_))
        ));
    }

    #[test]
    fn permissions_follow_channels_and_tokens_are_judged() {
        let all = Channels::default();
        assert_eq!(all.permissions().len(), 7);
        let only_messenger = Channels {
            messenger: true,
            comments: false,
            leads: false,
        };
        assert_eq!(
            only_messenger.permissions(),
            [
                "pages_manage_metadata",
                "pages_messaging",
                "pages_show_list"
            ]
        );
        assert!(!only_messenger.admits("feed") && only_messenger.admits("messaging"));
        let granted: Vec<String> = all.permissions().iter().map(|s| s.to_string()).collect();
        let mut t = TokenInfo {
            is_valid: true,
            scopes: granted.clone(),
            ..Default::default()
        };
        assert_eq!(token_problem(&t, &all, 1_000), None);
        t.scopes.retain(|s| s != "leads_retrieval");
        assert_eq!(
            token_problem(&t, &all, 1_000).as_deref(),
            Some("missing_permissions: leads_retrieval")
        );
        assert_eq!(
            token_problem(
                &t,
                &Channels {
                    leads: false,
                    ..all
                },
                1_000
            ),
            None
        );
        t.expires_at = 1;
        assert_eq!(
            token_problem(&t, &only_messenger, 5_000).as_deref(),
            Some("token_expired")
        );
        t.is_valid = false;
        assert_eq!(token_problem(&t, &all, 0).as_deref(), Some("token_invalid"));
        assert_eq!(missing_fields(&["feed".into()]).len(), 11);
    }
}
