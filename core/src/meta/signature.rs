//! `X-Hub-Signature-256` verification over the exact raw body bytes, and the `appsecret_proof`
//! pagedesk sends with every Graph call made with a token.

use hmac::{Hmac, Mac};
use sha2::Sha256;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the X-Hub-Signature-256 header is missing")]
    Missing,
    #[error("the X-Hub-Signature-256 header is not `sha256=<hex>`")]
    Malformed,
    #[error("the signature does not match the body")]
    Mismatch,
}

/// Checks `header` (`sha256=<hex>`) against HMAC-SHA256(app_secret, raw_body) in constant time.
pub fn verify(
    app_secret: &[u8],
    raw_body: &[u8],
    header: Option<&str>,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?.trim();
    let hex_sig = header
        .strip_prefix("sha256=")
        .or_else(|| header.strip_prefix("SHA256="))
        .ok_or(SignatureError::Malformed)?;
    let sig = hex::decode(hex_sig).map_err(|_| SignatureError::Malformed)?;
    let mut mac = new_mac(app_secret);
    mac.update(raw_body);
    mac.verify_slice(&sig).map_err(|_| SignatureError::Mismatch)
}

/// The header value Meta would send for `raw_body`.
pub fn sign(app_secret: &[u8], raw_body: &[u8]) -> String {
    let mut mac = new_mac(app_secret);
    mac.update(raw_body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Graph's `appsecret_proof` for `token`: hex HMAC-SHA256 of the token keyed by the app secret.
/// With "Require App Secret" switched on in the app's settings, Meta refuses a call without it,
/// so a token that leaks is useless to anyone who does not also hold the app secret.
pub fn appsecret_proof(app_secret: &[u8], token: &str) -> String {
    let mut mac = new_mac(app_secret);
    mac.update(token.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

fn new_mac(key: &[u8]) -> Hmac<Sha256> {
    // HMAC accepts keys of any length, so this cannot fail.
    match Hmac::<Sha256>::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_proof_is_hmac_sha256_of_the_token_in_hex() {
        // Python: hmac.new(b"app-secret", b"EAAtoken", hashlib.sha256).hexdigest()
        assert_eq!(
            appsecret_proof(b"app-secret", "EAAtoken"),
            "9f9f0867bc3df2d00cecd6aa6fb78e65b64c050401bd6ec5b84d98503d443d34"
        );
        assert_ne!(
            appsecret_proof(b"app-secret", "EAAtoken2"),
            appsecret_proof(b"app-secret", "EAAtoken")
        );
    }

    const VECTOR: &str = include_str!("../../../fixtures/meta/signature_test_vector.json");
    const RAW: &[u8] = include_bytes!("../../../fixtures/meta/signature_vector_raw_body.json");

    #[test]
    fn meta_test_vector_verifies_and_pretty_printing_breaks_it() {
        let v: serde_json::Value = serde_json::from_str(VECTOR).unwrap();
        let secret = v["app_secret"].as_str().unwrap().as_bytes();
        let good = v["X-Hub-Signature-256"].as_str().unwrap();
        assert_eq!(verify(secret, RAW, Some(good)), Ok(()));
        assert_eq!(sign(secret, RAW), good);
        let pretty = v["pretty_printed_body_sha256_would_be"].as_str().unwrap();
        assert_eq!(
            verify(secret, RAW, Some(pretty)),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn missing_malformed_and_wrong_key_are_refused() {
        assert_eq!(verify(b"k", b"{}", None), Err(SignatureError::Missing));
        assert_eq!(
            verify(b"k", b"{}", Some("sha1=abcd")),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(b"k", b"{}", Some("sha256=zz")),
            Err(SignatureError::Malformed)
        );
        let sig = sign(b"other", b"{}");
        assert_eq!(
            verify(b"k", b"{}", Some(&sig)),
            Err(SignatureError::Mismatch)
        );
    }
}
