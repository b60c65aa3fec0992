//! Events too large for the inbound queue are kept whole in S3 and queued as a pointer to
//! their object (the SQS extended-client pattern), so a big webhook body is accepted instead
//! of being answered 503 and retried by Meta until it unsubscribes the app.

use aws_sdk_s3::primitives::ByteStream;

use crate::{Error, Result};

/// The largest queue body sent as is. Below SQS's 256 KiB so it fits any queue's setting,
/// with room for SQS's own accounting.
pub const MAX_QUEUED_BYTES: usize = 250_000;

/// The object key of a spilled event: its dedupe id, so Meta's redelivery of the same event
/// writes the same object.
pub fn key(dedupe_id: &str) -> String {
    format!("spill/{dedupe_id}.json")
}

pub async fn put(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, body: &str) -> Result<()> {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .content_type("application/json")
        .body(ByteStream::from(body.as_bytes().to_vec()))
        .send()
        .await
        .map_err(|e| Error::s3("PutObject", e.into_service_error()))?;
    Ok(())
}

pub async fn get(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Result<Vec<u8>> {
    let out = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| Error::s3("GetObject", e.into_service_error()))?;
    let bytes = out
        .body
        .collect()
        .await
        .map_err(|e| Error::s3("GetObject", e))?;
    Ok(bytes.into_bytes().to_vec())
}
