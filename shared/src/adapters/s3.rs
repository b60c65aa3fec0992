//! The few S3 operations the functions make (put, get, head, delete) and the URLs presigned
//! for front ends and Meta, on `aws-sdk-s3` and its presigner: the SDK's retry policy, its
//! error model, and its signer.
//!
//! Errors are reduced to the operation, the SDK's error kind and S3's error code: never the
//! request, whose URL or headers carry a signature, a credential or a security token.

use std::time::{Duration, SystemTime};

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;

use crate::{Error, Result};

#[derive(Clone, Debug)]
pub struct S3 {
    client: aws_sdk_s3::Client,
}

/// What a presigned URL allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Presigned<'a> {
    /// Reading the object.
    Get,
    /// Writing exactly `size` bytes of `content_type` (both are signed headers: a request must
    /// send them with these values).
    Put { content_type: &'a str, size: i64 },
}

impl S3 {
    pub fn new(client: aws_sdk_s3::Client) -> Self {
        S3 { client }
    }

    /// The SDK client (the local host creates its buckets with it, and adds its meters).
    pub fn sdk(&self) -> &aws_sdk_s3::Client {
        &self.client
    }

    /// A URL that allows `what` on the object until `ttl` from `start`.
    pub async fn presign(
        &self,
        what: Presigned<'_>,
        bucket: &str,
        key: &str,
        ttl: Duration,
        start: SystemTime,
    ) -> Result<String> {
        let config = PresigningConfig::builder()
            .start_time(start)
            .expires_in(ttl)
            .build()
            .map_err(|e| Error::s3("Presign", e))?;
        let request = match what {
            Presigned::Get => self
                .client
                .get_object()
                .bucket(bucket)
                .key(key)
                .presigned(config)
                .await
                .map_err(|e| Error::s3("Presign", describe(e)))?,
            Presigned::Put { content_type, size } => self
                .client
                .put_object()
                .bucket(bucket)
                .key(key)
                .content_type(content_type)
                .content_length(size)
                .presigned(config)
                .await
                .map_err(|e| Error::s3("Presign", describe(e)))?,
        };
        Ok(request.uri().to_owned())
    }

    pub async fn put(
        &self,
        bucket: &str,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
    ) -> Result<()> {
        self.client
            .put_object()
            .bucket(bucket)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| Error::s3("PutObject", describe(e)))?;
        Ok(())
    }

    pub async fn get(&self, bucket: &str, key: &str) -> Result<Vec<u8>> {
        let out = self
            .client
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| Error::s3("GetObject", describe(e)))?;
        let body = out
            .body
            .collect()
            .await
            .map_err(|e| Error::s3("GetObject", format!("reading the body: {e}")))?;
        Ok(body.into_bytes().to_vec())
    }

    /// The object's size, `None` when there is no such object.
    pub async fn size(&self, bucket: &str, key: &str) -> Result<Option<i64>> {
        match self
            .client
            .head_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => Ok(out.content_length),
            Err(SdkError::ServiceError(e)) if e.err().is_not_found() => Ok(None),
            Err(e) => Err(Error::s3("HeadObject", describe(e))),
        }
    }

    pub async fn delete(&self, bucket: &str, key: &str) -> Result<()> {
        self.client
            .delete_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| Error::s3("DeleteObject", describe(e)))?;
        Ok(())
    }
}

/// What went wrong, without the request: the SDK's kind of failure and S3's code if it
/// answered (`NoSuchBucket`, `AccessDenied`), or the kind of I/O failure if it did not.
fn describe<E: ProvideErrorMetadata + std::error::Error, R>(e: SdkError<E, R>) -> String {
    match &e {
        SdkError::ServiceError(s) => {
            let code = s.err().code().unwrap_or("no error code");
            format!("service error {code}")
        }
        SdkError::DispatchFailure(d) => {
            let kind = if d.is_timeout() {
                "timeout"
            } else if d.is_io() {
                "io"
            } else if d.is_user() {
                "user"
            } else {
                "other"
            };
            format!("dispatch failure ({kind})")
        }
        SdkError::TimeoutError(_) => "timeout".to_owned(),
        SdkError::ResponseError(_) => "unreadable response".to_owned(),
        SdkError::ConstructionFailure(_) => "request not constructed".to_owned(),
        _ => "unknown failure".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_credential_types::Credentials;
    use std::time::UNIX_EPOCH;

    fn s3(endpoint: Option<&str>) -> S3 {
        let creds = Credentials::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            Some("IQoJb3JpZ2luX2VjE/token+with=chars".into()),
            None,
            "test",
        );
        let mut conf = aws_sdk_s3::Config::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new("eu-west-1"))
            .credentials_provider(creds)
            .force_path_style(endpoint.is_some());
        if let Some(e) = endpoint {
            conf = conf.endpoint_url(e);
        }
        S3::new(aws_sdk_s3::Client::from_conf(conf.build()))
    }

    /// The URLs front ends and Meta are given: path style on a custom endpoint, virtual-hosted
    /// on AWS, the PUT bound to its size and type.
    #[tokio::test]
    async fn presigned_urls_name_the_object_and_sign_what_they_must() {
        let start = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let ttl = Duration::from_secs(3_600);
        let key = "uploads/acct_1/up_01J0 x+y=z.png";
        let local = s3(Some("http://127.0.0.1:5123"));
        let get = local
            .presign(Presigned::Get, "media-bucket", key, ttl, start)
            .await
            .expect("presign");
        assert!(
            get.starts_with(
                "http://127.0.0.1:5123/media-bucket/uploads/acct_1/up_01J0%20x%2By%3Dz.png?"
            ),
            "{get}"
        );
        assert!(get.contains("X-Amz-Expires=3600"), "{get}");
        assert!(get.contains("X-Amz-Date=20231114T221320Z"), "{get}");
        let put = s3(None)
            .presign(
                Presigned::Put {
                    content_type: "image/png",
                    size: 42,
                },
                "media-bucket",
                key,
                ttl,
                start,
            )
            .await
            .expect("presign");
        assert!(
            put.starts_with("https://media-bucket.s3.eu-west-1.amazonaws.com/uploads/"),
            "{put}"
        );
        assert!(
            put.contains("X-Amz-SignedHeaders=content-length%3Bcontent-type%3Bhost"),
            "{put}"
        );
        // No checksum of an empty body: the uploader sends bytes the URL cannot know.
        assert!(!put.to_lowercase().contains("checksum"), "{put}");
    }

    /// A failure names its kind, never the request (whose URL may carry credentials).
    #[tokio::test]
    async fn an_unreachable_endpoint_fails_without_the_request_in_the_error() {
        let err = s3(Some("http://127.0.0.1:9"))
            .get("media-bucket", "media/acct_1/x")
            .await
            .expect_err("nothing listens on port 9");
        let text = err.to_string();
        assert!(text.starts_with("s3 GetObject: dispatch failure"), "{text}");
        for secret in ["X-Amz-", "AKIDEXAMPLE", "IQoJb3JpZ2lu", "127.0.0.1"] {
            assert!(!text.contains(secret), "{text}");
        }
    }
}
