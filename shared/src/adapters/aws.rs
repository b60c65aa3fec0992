//! AWS SDK set-up shared by every function. What only the local stack needs (its emulators'
//! dummy credentials, the request and capacity meters, the IAM check) is in `pagedesk-local`:
//! nothing here counts or inspects a request in production.

use std::sync::OnceLock;
use std::time::Duration;

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_smithy_async::rt::sleep::{SharedAsyncSleep, TokioSleep};
use aws_smithy_async::time::{SharedTimeSource, SystemTimeSource};
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;
use aws_types::SdkConfig;
use aws_types::region::Region;

/// The SDK configuration from the environment a Lambda function is given: `AWS_REGION`
/// (or `AWS_DEFAULT_REGION`), the role's credentials in `AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`, and `AWS_ENDPOINT_URL` (the per-service
/// `AWS_ENDPOINT_URL_<SERVICE>` are applied in [`Clients::new`]). Endpoints of the local
/// emulators come in through those variables; the code has no local branch.
///
/// Why not `aws-config`: in Lambda its default chain ends at these same variables, and it
/// links the profile-file parser, the IMDS, ECS, SSO and web-identity providers and the STS
/// client with them: about 0.7 MB of every binary that no function here can use.
pub fn sdk_config() -> SdkConfig {
    let region = env("AWS_REGION").or_else(|| env("AWS_DEFAULT_REGION"));
    let credentials = match (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
        (Some(key), Some(secret)) => Some(Credentials::new(
            key,
            secret,
            env("AWS_SESSION_TOKEN"),
            None,
            "Environment",
        )),
        _ => None,
    };
    config(region, credentials, env("AWS_ENDPOINT_URL"))
}

/// An SDK configuration from explicit parts (the local host's emulators use it too).
pub fn config(
    region: Option<String>,
    credentials: Option<Credentials>,
    endpoint: Option<String>,
) -> SdkConfig {
    let mut b = SdkConfig::builder()
        .behavior_version(
            aws_smithy_runtime_api::client::behavior_version::BehaviorVersion::latest(),
        )
        .http_client(crate::adapters::tls::sdk_http_client())
        .sleep_impl(SharedAsyncSleep::new(TokioSleep::new()))
        .time_source(SharedTimeSource::new(SystemTimeSource::new()))
        .retry_config(RetryConfig::standard())
        // The SDK's default connect timeout (what `aws-config` sets).
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_millis(3100))
                .build(),
        )
        .region(region.map(Region::new));
    if let Some(c) = credentials {
        b = b.credentials_provider(SharedCredentialsProvider::new(c));
    }
    if let Some(e) = endpoint {
        b = b.endpoint_url(e);
    }
    b.build()
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// A service's own endpoint variable (`AWS_ENDPOINT_URL_DYNAMODB`, …) overrides the shared one.
fn service_endpoint(service: &str) -> Option<String> {
    env(&format!("AWS_ENDPOINT_URL_{service}"))
}

/// The AWS clients a function may use, each built on its first use: a function configures only
/// the services it calls (the webhook never builds a DynamoDB client). Building one makes no
/// request; the HTTP client under them all is shared and itself built on the first request.
#[derive(Clone)]
pub struct Clients {
    cfg: SdkConfig,
    dynamo: OnceLock<aws_sdk_dynamodb::Client>,
    sqs: OnceLock<aws_sdk_sqs::Client>,
    secrets: OnceLock<aws_sdk_secretsmanager::Client>,
    s3: OnceLock<crate::adapters::s3::S3>,
}

impl Clients {
    pub fn new(cfg: &SdkConfig) -> Self {
        Clients {
            cfg: cfg.clone(),
            dynamo: OnceLock::new(),
            sqs: OnceLock::new(),
            secrets: OnceLock::new(),
            s3: OnceLock::new(),
        }
    }

    pub fn from_env() -> Self {
        Self::new(&sdk_config())
    }

    /// Clients built elsewhere (the local stack's, with its meters), used as they are.
    pub fn prebuilt(
        cfg: &SdkConfig,
        dynamo: aws_sdk_dynamodb::Client,
        sqs: aws_sdk_sqs::Client,
        secrets: aws_sdk_secretsmanager::Client,
        s3: crate::adapters::s3::S3,
    ) -> Self {
        Clients {
            cfg: cfg.clone(),
            dynamo: OnceLock::from(dynamo),
            sqs: OnceLock::from(sqs),
            secrets: OnceLock::from(secrets),
            s3: OnceLock::from(s3),
        }
    }

    /// The same clients with DynamoDB's replaced.
    pub fn with_dynamo(&self, dynamo: aws_sdk_dynamodb::Client) -> Self {
        Clients {
            dynamo: OnceLock::from(dynamo),
            ..self.clone()
        }
    }

    pub fn dynamo(&self) -> aws_sdk_dynamodb::Client {
        self.dynamo
            .get_or_init(|| {
                let mut b = aws_sdk_dynamodb::config::Builder::from(&self.cfg);
                if let Some(e) = service_endpoint("DYNAMODB") {
                    b = b.endpoint_url(e);
                }
                aws_sdk_dynamodb::Client::from_conf(b.build())
            })
            .clone()
    }

    pub fn sqs(&self) -> aws_sdk_sqs::Client {
        self.sqs
            .get_or_init(|| {
                let mut b = aws_sdk_sqs::config::Builder::from(&self.cfg);
                if let Some(e) = service_endpoint("SQS") {
                    b = b.endpoint_url(e);
                }
                aws_sdk_sqs::Client::from_conf(b.build())
            })
            .clone()
    }

    pub fn secrets(&self) -> aws_sdk_secretsmanager::Client {
        self.secrets
            .get_or_init(|| {
                let mut b = aws_sdk_secretsmanager::config::Builder::from(&self.cfg);
                if let Some(e) = service_endpoint("SECRETS_MANAGER") {
                    b = b.endpoint_url(e);
                }
                aws_sdk_secretsmanager::Client::from_conf(b.build())
            })
            .clone()
    }

    pub fn s3(&self) -> crate::adapters::s3::S3 {
        self.s3
            .get_or_init(|| {
                let endpoint = service_endpoint("S3");
                // A custom endpoint (moto, MinIO) is addressed by path: `<endpoint>/<bucket>/<key>`.
                let mut b = aws_sdk_s3::config::Builder::from(&self.cfg)
                    .force_path_style(endpoint.is_some() || self.cfg.endpoint_url().is_some());
                if let Some(e) = endpoint {
                    b = b.endpoint_url(e);
                }
                crate::adapters::s3::S3::new(aws_sdk_s3::Client::from_conf(b.build()))
            })
            .clone()
    }
}
