//! Media kept in the data bucket: copies of the attachments people send (Meta's CDN URLs
//! expire), and files agents upload for replies. Keys are scoped by account:
//! `media/<account>/<sha256 of the source URL>` (one copy per URL) and
//! `uploads/<account>/<upload id>`. Short-lived presigned URLs are how anyone reads or writes
//! them; the bucket itself is never public.

use std::time::{Duration, SystemTime};

use crate::adapters::s3::{Presigned, S3};

use crate::Result;

/// Meta's largest attachment.
pub const MAX_BYTES: u64 = 25 * 1024 * 1024;
/// How long a presigned GET shown to a front end (or given to Meta) stays valid.
pub const READ_URL_TTL: Duration = Duration::from_secs(3600);
/// How long an upload's presigned PUT stays valid.
pub const UPLOAD_URL_TTL: Duration = Duration::from_secs(900);
/// Redirects followed when copying an attachment.
pub const MAX_REDIRECTS: usize = 3;

/// Attachment types whose URL is a file worth keeping (a `fallback` is a shared link, a
/// `template` a card: their URLs are web pages, not media).
/// Why an Instagram attachment has no copy (`store_error`): the inbox shows Meta's URL while it
/// lasts, then a placeholder.
pub const NOT_STORED_INSTAGRAM: &str = "not stored: Meta's Instagram rules forbid keeping copies of Instagram media; Meta's URL expires";

pub fn is_media(kind: &str) -> bool {
    matches!(kind, "image" | "video" | "audio" | "file" | "sticker")
}

pub use crate::adapters::bucket::{media_key, upload_key, url_hash};

/// Whether a response's content type fits the attachment's type (`file` and Meta's
/// `fallback` take anything; stickers are images).
pub fn type_fits(kind: &str, content_type: &str) -> bool {
    let major = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .split('/')
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    match kind {
        "image" | "sticker" => major == "image",
        "video" => major == "video",
        "audio" => major == "audio",
        _ => !major.is_empty() || content_type.is_empty(),
    }
}

/// A content type as a client declares it: `type/subtype`, printable, short.
pub fn valid_content_type(ct: &str) -> bool {
    let mut parts = ct.splitn(2, '/');
    let ok = |s: Option<&str>| {
        s.is_some_and(|s| {
            !s.is_empty()
                && s.len() <= 100
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "!#$&^_.+-".contains(c))
        })
    };
    ok(parts.next()) && ok(parts.next())
}

pub async fn put(
    s3: &S3,
    bucket: &str,
    key: &str,
    content_type: &str,
    body: Vec<u8>,
) -> Result<()> {
    s3.put(bucket, key, body, content_type).await
}

/// The object's size, or `None` when it is not there (an upload not finished).
pub async fn size(s3: &S3, bucket: &str, key: &str) -> Result<Option<i64>> {
    s3.size(bucket, key).await
}

pub async fn delete(s3: &S3, bucket: &str, key: &str) -> Result<()> {
    s3.delete(bucket, key).await
}

/// A GET URL for the object, valid `READ_URL_TTL`.
pub async fn read_url(s3: &S3, bucket: &str, key: &str) -> Result<String> {
    s3.presign(Presigned::Get, bucket, key, READ_URL_TTL, SystemTime::now())
        .await
}

/// A PUT URL that accepts exactly `size` bytes of `content_type` (both are signed headers).
pub async fn upload_url(
    s3: &S3,
    bucket: &str,
    key: &str,
    content_type: &str,
    size: i64,
) -> Result<String> {
    s3.presign(
        Presigned::Put { content_type, size },
        bucket,
        key,
        UPLOAD_URL_TTL,
        SystemTime::now(),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_fit_their_attachment_types() {
        assert!(type_fits("image", "image/jpeg"));
        assert!(type_fits("image", "IMAGE/PNG; charset=x"));
        assert!(!type_fits("image", "text/html"));
        assert!(type_fits("video", "video/mp4") && !type_fits("video", "image/gif"));
        assert!(type_fits("file", "application/pdf"));
        assert!(type_fits("sticker", "image/png"));
        assert!(is_media("file") && !is_media("fallback") && !is_media("template"));
        assert!(valid_content_type("application/pdf"));
        assert!(valid_content_type("image/svg+xml"));
        assert!(
            !valid_content_type("pdf") && !valid_content_type("a/b c") && !valid_content_type("/x")
        );
    }

    #[test]
    fn keys_are_scoped_and_one_per_url() {
        assert_eq!(media_key("a", "https://x/1"), media_key("a", "https://x/1"));
        assert_ne!(media_key("a", "https://x/1"), media_key("b", "https://x/1"));
        assert!(media_key("a", "u").starts_with("media/a/"));
        assert_eq!(upload_key("a", "up_1"), "uploads/a/up_1");
    }
}
