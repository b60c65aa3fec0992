//! The local IAM check: each hosted function's DynamoDB, SQS, S3 and Secrets Manager calls are
//! held to the statements of its policy in `template.yaml` — the action and the resource
//! (table and index, queue, bucket and key, secret), matched as IAM matches them — so a
//! missing or too-narrow grant fails the tests that make the call, not the first deploy.
//! Every call's (action, resource) is kept for `GET /_local/iam`, and every refusal too: a
//! refused call whose result the code ignores (a backoff) still fails `make test`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, OnceLock};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use pagedesk_shared::adapters::aws::Clients;
use serde_json::Value;

/// The region and account of every local ARN (the resolver's `AWS::Region`/`AWS::AccountId`).
pub const REGION: &str = "us-east-1";
pub const ACCOUNT: &str = "000000000000";

/// A statement with its resources resolved to local ARNs.
#[derive(Debug, Clone)]
pub struct Grant {
    pub actions: Vec<String>,
    pub resources: Vec<String>,
}

pub fn table_arn(name: &str) -> String {
    format!("arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}")
}

pub fn queue_arn(name: &str) -> String {
    format!("arn:aws:sqs:{REGION}:{ACCOUNT}:{name}")
}

pub fn bucket_arn(name: &str) -> String {
    format!("arn:aws:s3:::{name}")
}

/// A secret named in a request: an ARN as given, a name as the ARN it has. (IAM matches the
/// ARN with Secrets Manager's six-character suffix; the policies here end their names in `*`
/// or name the secret's ARN, so leaving the suffix off changes no decision.)
fn secret_arn(id: &str) -> String {
    if id.starts_with("arn:") {
        id.to_owned()
    } else {
        format!("arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{id}")
    }
}

/// A request's (action, resource) pairs as IAM evaluates them: for DynamoDB one per table (or
/// index) an operation or each transaction item touches; SQS's batch as its single action on
/// the queue its URL names; S3's object calls on `bucket/key` (path style, as the local
/// clients use), `HeadObject` as `GetObject`; Secrets Manager's on the secret.
pub fn request_grants(service: &str, op: &str, uri: &str, body: &[u8]) -> Vec<(String, String)> {
    let json: Value = serde_json::from_slice(body).unwrap_or_default();
    let field = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    match service {
        "dynamodb" => {
            let action = |a: &str| format!("dynamodb:{a}");
            match op {
                "TransactWriteItems" | "TransactGetItems" => json
                    .get("TransactItems")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(crate::aws::tx_item)
                    .map(|(k, b)| {
                        (
                            action(&format!("{k}Item")),
                            table_arn(&field(b, "TableName")),
                        )
                    })
                    .collect(),
                "BatchGetItem" | "BatchWriteItem" => json
                    .get("RequestItems")
                    .and_then(Value::as_object)
                    .into_iter()
                    .flat_map(|m| m.keys())
                    .map(|t| (action(op), table_arn(t)))
                    .collect(),
                _ => {
                    let mut arn = table_arn(&field(&json, "TableName"));
                    let index = field(&json, "IndexName");
                    if !index.is_empty() {
                        arn = format!("{arn}/index/{index}");
                    }
                    vec![(action(op), arn)]
                }
            }
        }
        "sqs" => {
            let url = field(&json, "QueueUrl");
            let name = url.rsplit('/').next().unwrap_or_default();
            let op = op.strip_suffix("Batch").unwrap_or(op);
            vec![(format!("sqs:{op}"), queue_arn(name))]
        }
        "s3" => {
            let path = url::Url::parse(uri)
                .map(|u| u.path().trim_start_matches('/').to_owned())
                .unwrap_or_default();
            let action = match op {
                "HeadObject" => "GetObject",
                "ListObjectsV2" => "ListBucket",
                other => other,
            };
            let resource = match action {
                "ListBucket" => bucket_arn(path.split('/').next().unwrap_or_default()),
                _ => bucket_arn(&path),
            };
            vec![(format!("s3:{action}"), resource)]
        }
        _ => {
            let id = match field(&json, "SecretId") {
                id if id.is_empty() => field(&json, "Name"),
                id => id,
            };
            vec![(format!("{service}:{op}"), secret_arn(&id))]
        }
    }
}

/// IAM's wildcard match: `*` any run, `?` one character.
fn glob(p: &[u8], s: &[u8]) -> bool {
    match (p.first(), s.first()) {
        (None, None) => true,
        (Some(b'*'), _) => glob(&p[1..], s) || (!s.is_empty() && glob(p, &s[1..])),
        (Some(b'?'), Some(_)) => glob(&p[1..], &s[1..]),
        (Some(a), Some(b)) if a == b => glob(&p[1..], &s[1..]),
        _ => false,
    }
}

/// Actions match case-insensitively, resources (ARNs) case-sensitively.
pub fn action_matches(pattern: &str, action: &str) -> bool {
    glob(
        pattern.to_ascii_lowercase().as_bytes(),
        action.to_ascii_lowercase().as_bytes(),
    )
}

pub fn allows(grants: &[Grant], action: &str, resource: &str) -> bool {
    grants.iter().any(|g| {
        g.actions.iter().any(|a| action_matches(a, action))
            && g.resources
                .iter()
                .any(|r| glob(r.as_bytes(), resource.as_bytes()))
    })
}

#[derive(Default)]
struct Record {
    granted: BTreeMap<String, BTreeSet<String>>,
    used: BTreeMap<String, BTreeSet<String>>,
    denied: BTreeMap<String, BTreeSet<String>>,
}

fn record() -> &'static Mutex<Record> {
    static RECORD: OnceLock<Mutex<Record>> = OnceLock::new();
    RECORD.get_or_init(|| Mutex::new(Record::default()))
}

/// Per function: the actions its policy grants, the actions its calls used, and every call
/// refused (`action on resource`).
pub fn report() -> Value {
    let r = record().lock().map(|r| {
        let mut out = serde_json::Map::new();
        for (f, granted) in &r.granted {
            out.insert(
                f.clone(),
                serde_json::json!({
                    "granted": granted,
                    "used": r.used.get(f).cloned().unwrap_or_default(),
                    "denied": r.denied.get(f).cloned().unwrap_or_default(),
                }),
            );
        }
        out
    });
    Value::Object(r.unwrap_or_default())
}

/// A function's policy statements with their resources resolved to local ARNs.
pub fn grants(
    policy: &[crate::template::policy::Statement],
    resolver: &crate::template::Resolver<'_>,
) -> Result<Vec<Grant>, crate::template::TemplateError> {
    policy
        .iter()
        .map(|st| {
            Ok(Grant {
                actions: st.actions.clone(),
                resources: st
                    .resources
                    .iter()
                    .map(|r| resolver.resolve(r))
                    .collect::<Result<_, _>>()?,
            })
        })
        .collect()
}

/// The same clients, each refusing what `grants` does not allow, as IAM does in AWS.
pub fn with_policy(clients: &Clients, function: &str, grants: Vec<Grant>) -> Clients {
    if let Ok(mut r) = record().lock() {
        let actions = grants.iter().flat_map(|g| g.actions.iter().cloned());
        r.granted.insert(function.to_owned(), actions.collect());
    }
    let check = |service: &'static str| PolicyCheck {
        function: function.to_owned(),
        service,
        grants: grants.clone(),
    };
    let dynamo = clients
        .dynamo()
        .config()
        .to_builder()
        .interceptor(check("dynamodb"));
    let sqs = clients
        .sqs()
        .config()
        .to_builder()
        .interceptor(check("sqs"));
    let secrets = clients
        .secrets()
        .config()
        .to_builder()
        .interceptor(check("secretsmanager"));
    let s3 = clients
        .s3()
        .sdk()
        .config()
        .to_builder()
        .interceptor(check("s3"));
    // Every client is given, so the configuration for building one is never read.
    Clients::prebuilt(
        &crate::aws::local_config("http://127.0.0.1:1"),
        aws_sdk_dynamodb::Client::from_conf(dynamo.build()),
        aws_sdk_sqs::Client::from_conf(sqs.build()),
        aws_sdk_secretsmanager::Client::from_conf(secrets.build()),
        pagedesk_shared::adapters::s3::S3::new(aws_sdk_s3::Client::from_conf(s3.build())),
    )
}

#[derive(Debug)]
struct PolicyCheck {
    function: String,
    service: &'static str,
    grants: Vec<Grant>,
}

impl Intercept for PolicyCheck {
    fn name(&self) -> &'static str {
        "LocalIamCheck"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let req = context.request();
        let body = req.body().bytes().unwrap_or_default();
        let op = crate::aws::op_name(cfg);
        let mut missing = Vec::new();
        let Ok(mut r) = record().lock() else {
            return Err("the local IAM record is poisoned".into());
        };
        for (action, resource) in request_grants(self.service, &op, req.uri(), body) {
            if allows(&self.grants, &action, &resource) {
                r.used
                    .entry(self.function.clone())
                    .or_default()
                    .insert(action);
            } else {
                let call = format!("{action} on {resource}");
                r.denied
                    .entry(self.function.clone())
                    .or_default()
                    .insert(call.clone());
                missing.push(call);
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        let msg = format!(
            "AccessDenied (local IAM check): template.yaml gives {} no {}",
            self.function,
            missing.join(", ")
        );
        tracing::error!("{msg}");
        Err(msg.into())
    }
}

#[cfg(test)]
mod tests;
