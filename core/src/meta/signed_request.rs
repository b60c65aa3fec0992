//! Meta's `signed_request` (the deauthorize and data-deletion callbacks, Facebook Login):
//! `<base64url HMAC-SHA256 signature>.<base64url JSON payload>` signed with the app secret.

use base64::Engine;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

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
    #[error("signed_request was issued more than an hour ago (or in the future); send a new one")]
    Stale,
}

/// How old a `signed_request` may be. Meta calls the callbacks as the person acts, so a
/// request an hour old is a captured one being replayed (it would disconnect a person's
/// Pages again at will).
pub const MAX_AGE_SECONDS: i64 = 3600;
/// How far ahead of our clock `issued_at` may be (clocks differ).
pub const MAX_SKEW_SECONDS: i64 = 300;

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

impl SignedRequest {
    /// Refuses a request without `issued_at` (Meta always sends it), issued more than
    /// `MAX_AGE_SECONDS` before `now_s` or more than `MAX_SKEW_SECONDS` after it.
    pub fn check_fresh(&self, now_s: i64) -> Result<(), SignedRequestError> {
        let at = self.issued_at.ok_or(SignedRequestError::Stale)?;
        if at < now_s - MAX_AGE_SECONDS || at > now_s + MAX_SKEW_SECONDS {
            return Err(SignedRequestError::Stale);
        }
        Ok(())
    }
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
    fn an_old_or_undated_request_is_stale() {
        let at = |issued_at| SignedRequest {
            user_id: "1".into(),
            issued_at,
        };
        let now = 1_800_000_000;
        assert_eq!(at(Some(now - 60)).check_fresh(now), Ok(()));
        assert_eq!(at(Some(now - MAX_AGE_SECONDS)).check_fresh(now), Ok(()));
        assert_eq!(
            at(Some(now - MAX_AGE_SECONDS - 1)).check_fresh(now),
            Err(SignedRequestError::Stale)
        );
        assert_eq!(
            at(Some(now + MAX_SKEW_SECONDS + 1)).check_fresh(now),
            Err(SignedRequestError::Stale)
        );
        assert_eq!(at(None).check_fresh(now), Err(SignedRequestError::Stale));
    }

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
}
