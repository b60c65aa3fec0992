//! The media bucket's layout: where copies of Meta's media and agents' uploads live. One
//! account's objects share a prefix, so erasing or exporting an account is a prefix.

use sha2::{Digest, Sha256};

/// Copies are kept one per source URL in an account.
pub fn url_hash(url: &str) -> String {
    hex::encode(Sha256::digest(url.as_bytes()))
}

pub fn media_key(account: &str, url: &str) -> String {
    format!("media/{account}/{}", url_hash(url))
}

pub fn upload_key(account: &str, upload_id: &str) -> String {
    format!("uploads/{account}/{upload_id}")
}
