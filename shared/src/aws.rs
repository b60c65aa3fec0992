//! AWS SDK set-up shared by every function, and a request counter that makes the running cost
//! of each flow measurable (the local host and the benchmarks read it).

use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

/// Loads the SDK configuration from the environment. Endpoints of the local emulators come in
/// through `AWS_ENDPOINT_URL_<SERVICE>`; the code has no local branch.
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}

#[derive(Clone)]
pub struct Clients {
    pub dynamo: aws_sdk_dynamodb::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    pub s3: aws_sdk_s3::Client,
}

impl Clients {
    pub fn new(cfg: &aws_config::SdkConfig) -> Self {
        let dynamo = aws_sdk_dynamodb::config::Builder::from(cfg)
            .interceptor(CountRequests("dynamodb"))
            .build();
        let sqs = aws_sdk_sqs::config::Builder::from(cfg)
            .interceptor(CountRequests("sqs"))
            .build();
        let secrets = aws_sdk_secretsmanager::config::Builder::from(cfg)
            .interceptor(CountRequests("secretsmanager"))
            .build();
        // A custom S3 endpoint (moto, MinIO) is addressed by path: bucket host names of the
        // virtual-hosted style do not resolve there.
        let s3 = aws_sdk_s3::config::Builder::from(cfg)
            .force_path_style(cfg.endpoint_url().is_some())
            .interceptor(CountRequests("s3"))
            .build();
        Clients {
            dynamo: aws_sdk_dynamodb::Client::from_conf(dynamo),
            sqs: aws_sdk_sqs::Client::from_conf(sqs),
            secrets: aws_sdk_secretsmanager::Client::from_conf(secrets),
            s3: aws_sdk_s3::Client::from_conf(s3),
        }
    }

    pub async fn from_env() -> Self {
        Self::new(&sdk_config().await)
    }

    /// Clients for emulators on explicit endpoints with dummy credentials (local host, tests).
    pub async fn for_endpoints(dynamo: &str, sqs: &str, secrets: &str) -> Self {
        let base = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .test_credentials()
            .load()
            .await;
        let with = |url: &str| base.to_builder().endpoint_url(url).build();
        let d = with(dynamo);
        let q = with(sqs);
        let s = with(secrets);
        Clients {
            dynamo: Self::new(&d).dynamo,
            sqs: Self::new(&q).sqs,
            secrets: Self::new(&s).secrets,
            s3: Self::new(&s).s3,
        }
    }
}

#[derive(Debug)]
struct CountRequests(&'static str);

impl Intercept for CountRequests {
    fn name(&self) -> &'static str {
        "CountRequests"
    }

    fn read_before_serialization(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let _ = context;
        let op = cfg
            .load::<aws_smithy_runtime_api::client::orchestrator::Metadata>()
            .map(|m| m.name().to_owned())
            .unwrap_or_else(|| "unknown".to_owned());
        if let Ok(mut m) = counts().lock() {
            *m.entry(format!("{}:{}", self.0, op)).or_insert(0) += 1;
        }
        Ok(())
    }
}

fn counts() -> &'static Mutex<BTreeMap<String, u64>> {
    static COUNTS: OnceLock<Mutex<BTreeMap<String, u64>>> = OnceLock::new();
    COUNTS.get_or_init(|| Mutex::new(BTreeMap::new()))
}

/// AWS requests made by this process so far, by `service:Operation`.
pub fn request_counts() -> BTreeMap<String, u64> {
    counts().lock().map(|m| m.clone()).unwrap_or_default()
}
