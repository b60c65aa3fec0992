//! The few S3 calls the functions make (put, get, head, delete, and URLs presigned for front
//! ends and Meta), as SigV4-presigned requests over the one reqwest client.
//!
//! Why not `aws-sdk-s3`: it links its flexible-checksum stack (`aws-smithy-checksums` with
//! `crc-fast`, about 0.7 MB of CRC tables) and its own endpoint rules into every function, for
//! five operations. Each call here is signed by `aws-sigv4`, the signer the SDK itself uses,
//! in the SDK's S3 presigning mode; a unit test holds the URLs to the SDK presigner's, byte for
//! byte.

use std::time::{Duration, SystemTime};

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SignatureLocation,
    SigningSettings, UriPathNormalizationMode, sign,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;

use crate::{Error, Result};

/// How long a URL this module signs for its own call stays valid.
const CALL_URL_TTL: Duration = Duration::from_secs(300);

#[derive(Clone, Debug)]
pub struct S3 {
    http: reqwest::Client,
    credentials: Option<SharedCredentialsProvider>,
    region: String,
    /// A custom endpoint (moto, MinIO), addressed by path: `<endpoint>/<bucket>/<key>`.
    /// Without one, AWS's virtual-hosted style: `https://<bucket>.s3.<region>.amazonaws.com/<key>`.
    endpoint: Option<String>,
}

/// The HTTP method of a call or URL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Put,
    Head,
    Delete,
}

impl Method {
    fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Put => "PUT",
            Method::Head => "HEAD",
            Method::Delete => "DELETE",
        }
    }

    /// The SDK names its operation in an `x-id` parameter; kept, so URLs match its presigner's.
    fn operation(self) -> &'static str {
        match self {
            Method::Get => "GetObject",
            Method::Put => "PutObject",
            Method::Head => "HeadObject",
            Method::Delete => "DeleteObject",
        }
    }
}

impl S3 {
    pub fn new(
        http: reqwest::Client,
        credentials: Option<SharedCredentialsProvider>,
        region: Option<String>,
        endpoint: Option<String>,
    ) -> Self {
        S3 {
            http,
            credentials,
            region: region.unwrap_or_else(|| "us-east-1".into()),
            endpoint: endpoint.map(|e| e.trim_end_matches('/').to_owned()),
        }
    }

    /// The custom endpoint, if any (the local host creates its buckets there).
    pub fn endpoint(&self) -> Option<&str> {
        self.endpoint.as_deref()
    }

    /// The object's address, unsigned.
    fn object_url(&self, bucket: &str, key: &str) -> String {
        let key = encode_key(key);
        match &self.endpoint {
            Some(e) => format!("{e}/{bucket}/{key}"),
            None => format!("https://{bucket}.s3.{}.amazonaws.com/{key}", self.region),
        }
    }

    /// A URL that allows `method` on the object until `ttl` from `start`, with `headers` (lower
    /// case names) signed: a request must send them with these values.
    pub async fn presign(
        &self,
        method: Method,
        bucket: &str,
        key: &str,
        headers: &[(&str, &str)],
        ttl: Duration,
        start: SystemTime,
    ) -> Result<String> {
        let provider = self
            .credentials
            .as_ref()
            .ok_or_else(|| Error::Config("no AWS credentials".into()))?;
        let creds = provider
            .provide_credentials()
            .await
            .map_err(|e| Error::s3("Credentials", e))?;
        let identity: Identity = creds.into();
        let mut settings = SigningSettings::default();
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(ttl);
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        settings.payload_checksum_kind = PayloadChecksumKind::NoHeader;
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("s3")
            .time(start)
            .settings(settings)
            .build()
            .map_err(|e| Error::s3("Presign", e))?
            .into();
        let unsigned = format!(
            "{}?x-id={}",
            self.object_url(bucket, key),
            method.operation()
        );
        let host = host_of(&unsigned)?;
        let mut signed_headers = vec![("host", host.as_str())];
        signed_headers.extend(headers.iter().copied());
        let request = SignableRequest::new(
            method.as_str(),
            unsigned.as_str(),
            signed_headers.into_iter(),
            SignableBody::UnsignedPayload,
        )
        .map_err(|e| Error::s3("Presign", e))?;
        let (instructions, _) = sign(request, &params)
            .map_err(|e| Error::s3("Presign", e))?
            .into_parts();
        let (_, query) = instructions.into_parts();
        let mut url = reqwest::Url::parse(&unsigned).map_err(|e| Error::s3("Presign", e))?;
        {
            let mut q = url.query_pairs_mut();
            for (name, value) in query {
                q.append_pair(name, &value);
            }
        }
        Ok(url.to_string())
    }

    async fn call(
        &self,
        method: Method,
        bucket: &str,
        key: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Result<reqwest::Response> {
        let url = self
            .presign(
                method,
                bucket,
                key,
                headers,
                CALL_URL_TTL,
                SystemTime::now(),
            )
            .await?;
        let m = match method {
            Method::Get => reqwest::Method::GET,
            Method::Put => reqwest::Method::PUT,
            Method::Head => reqwest::Method::HEAD,
            Method::Delete => reqwest::Method::DELETE,
        };
        let mut req = self.http.request(m, url);
        // The body sets its own length; the signed value is the same.
        for (name, value) in headers.iter().filter(|(n, _)| *n != "content-length") {
            req = req.header(*name, *value);
        }
        if let Some(b) = body {
            req = req.body(b);
        }
        req.send()
            .await
            .map_err(|e| Error::s3(method.operation(), e))
    }

    pub async fn put(
        &self,
        bucket: &str,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
    ) -> Result<()> {
        let len = body.len().to_string();
        let res = self
            .call(
                Method::Put,
                bucket,
                key,
                &[("content-length", &len), ("content-type", content_type)],
                Some(body),
            )
            .await?;
        ok(res, "PutObject").await.map(|_| ())
    }

    pub async fn get(&self, bucket: &str, key: &str) -> Result<Vec<u8>> {
        let res = self.call(Method::Get, bucket, key, &[], None).await?;
        let res = ok(res, "GetObject").await?;
        Ok(res
            .bytes()
            .await
            .map_err(|e| Error::s3("GetObject", e))?
            .to_vec())
    }

    /// The object's size, `None` when there is no such object.
    pub async fn size(&self, bucket: &str, key: &str) -> Result<Option<i64>> {
        let res = self.call(Method::Head, bucket, key, &[], None).await?;
        if res.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let res = ok(res, "HeadObject").await?;
        Ok(res
            .headers()
            .get(reqwest::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok()))
    }

    pub async fn delete(&self, bucket: &str, key: &str) -> Result<()> {
        let res = self.call(Method::Delete, bucket, key, &[], None).await?;
        ok(res, "DeleteObject").await.map(|_| ())
    }
}

async fn ok(res: reqwest::Response, op: &'static str) -> Result<reqwest::Response> {
    if res.status().is_success() {
        return Ok(res);
    }
    let status = res.status();
    // S3's XML error names what went wrong (`<Code>NoSuchBucket</Code>`); no object data.
    let body = res.text().await.unwrap_or_default();
    let code = body
        .split_once("<Code>")
        .and_then(|(_, rest)| rest.split_once("</Code>"))
        .map(|(c, _)| c.to_owned())
        .unwrap_or_default();
    Err(Error::s3(op, format!("HTTP {status} {code}")))
}

fn host_of(url: &str) -> Result<String> {
    let u = reqwest::Url::parse(url).map_err(|e| Error::s3("Presign", e))?;
    let host = u
        .host_str()
        .ok_or_else(|| Error::s3("Presign", "a URL without a host"))?;
    Ok(match u.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_owned(),
    })
}

/// An object key in a URL path: each segment percent-encoded, `/` kept.
fn encode_key(key: &str) -> String {
    key.split('/')
        .map(|seg| {
            seg.bytes()
                .map(|b| match b {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                        (b as char).to_string()
                    }
                    _ => format!("%{b:02X}"),
                })
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_credential_types::Credentials;
    use std::time::UNIX_EPOCH;

    /// The SDK's presigner is the reference: same inputs, same time, the same URL.
    #[tokio::test]
    async fn urls_are_the_sdk_presigners_byte_for_byte() {
        use aws_sdk_s3::presigning::PresigningConfig;
        let creds = Credentials::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            Some("IQoJb3JpZ2luX2VjE/token+with=chars".into()),
            None,
            "test",
        );
        let start = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let ttl = Duration::from_secs(3_600);
        let key = "uploads/acct_1/up_01J0 x+y=z.png";
        crate::tls::install_default_provider();
        for endpoint in [None, Some("http://127.0.0.1:5123")] {
            let ours = S3::new(
                reqwest::Client::new(),
                Some(SharedCredentialsProvider::new(creds.clone())),
                Some("eu-west-1".into()),
                endpoint.map(str::to_owned),
            );
            let mut conf = aws_sdk_s3::Config::builder()
                .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
                .region(aws_sdk_s3::config::Region::new("eu-west-1"))
                .credentials_provider(creds.clone())
                .force_path_style(endpoint.is_some());
            if let Some(e) = endpoint {
                conf = conf.endpoint_url(e);
            }
            let sdk = aws_sdk_s3::Client::from_conf(conf.build());
            let pc = || {
                PresigningConfig::builder()
                    .start_time(start)
                    .expires_in(ttl)
                    .build()
                    .expect("config")
            };
            let want = sdk
                .get_object()
                .bucket("media-bucket")
                .key(key)
                .presigned(pc())
                .await
                .expect("sdk")
                .uri()
                .to_owned();
            let got = ours
                .presign(Method::Get, "media-bucket", key, &[], ttl, start)
                .await
                .expect("ours");
            assert_eq!(got, want, "GET at {endpoint:?}");
            let want = sdk
                .put_object()
                .bucket("media-bucket")
                .key(key)
                .content_type("image/png")
                .content_length(42)
                .presigned(pc())
                .await
                .expect("sdk")
                .uri()
                .to_owned();
            let got = ours
                .presign(
                    Method::Put,
                    "media-bucket",
                    key,
                    &[("content-length", "42"), ("content-type", "image/png")],
                    ttl,
                    start,
                )
                .await
                .expect("ours");
            assert_eq!(got, want, "PUT at {endpoint:?}");
        }
    }
}
