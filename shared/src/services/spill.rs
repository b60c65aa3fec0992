//! Events too large for the inbound queue are kept whole in S3 and queued as a pointer to
//! their object (the SQS extended-client pattern), so a big webhook body is accepted instead
//! of being answered 503 and retried by Meta until it unsubscribes the app.

use crate::Result;
use crate::adapters::s3::S3;

/// The largest queue body sent as is. Below SQS's 256 KiB so it fits any queue's setting,
/// with room for SQS's own accounting.
pub const MAX_QUEUED_BYTES: usize = 250_000;

/// The object key of a spilled event: its dedupe id, so Meta's redelivery of the same event
/// writes the same object.
pub fn key(dedupe_id: &str) -> String {
    format!("spill/{dedupe_id}.json")
}

pub async fn put(s3: &S3, bucket: &str, key: &str, body: &str) -> Result<()> {
    s3.put(bucket, key, body.as_bytes().to_vec(), "application/json")
        .await
}

pub async fn get(s3: &S3, bucket: &str, key: &str) -> Result<Vec<u8>> {
    s3.get(bucket, key).await
}
