//! The local stack's view of the AWS calls the hosted functions make: their clients on the
//! emulators (dummy credentials), a request counter and DynamoDB's own capacity meter (the bench
//! and `/_local/aws-*` read them). The IAM check on a function's clients is in `iam.rs`. None
//! of it is linked into a function.

use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    AfterDeserializationInterceptorContextRef, BeforeSerializationInterceptorContextRef,
    BeforeTransmitInterceptorContextMut,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use aws_types::SdkConfig;
use pagedesk_shared::adapters::aws::Clients;

/// The configuration for an emulator at `endpoint`, with dummy credentials.
pub fn local_config(endpoint: &str) -> SdkConfig {
    let creds = aws_credential_types::Credentials::new("test", "test", None, None, "test");
    pagedesk_shared::adapters::aws::config(
        Some(crate::iam::REGION.into()),
        Some(creds),
        Some(endpoint.into()),
    )
}

/// Clients for emulators on explicit endpoints (S3 on the Secrets Manager one: moto serves
/// both), each AWS request counted, and DynamoDB's units metered with [`MEASURE_CAPACITY`].
pub fn clients_for(dynamo: &str, sqs: &str, secrets: &str) -> Clients {
    let mut d = Clients::new(&local_config(dynamo))
        .dynamo()
        .config()
        .to_builder()
        .interceptor(Count("dynamodb"));
    if std::env::var(MEASURE_CAPACITY).is_ok_and(|v| v == "1") {
        d = d.interceptor(MeasureCapacity);
    }
    let q = Clients::new(&local_config(sqs)).sqs();
    let q = q.config().to_builder().interceptor(Count("sqs"));
    let moto = local_config(secrets);
    let on_moto = Clients::new(&moto);
    let sm = on_moto.secrets().config().to_builder();
    let s3 = on_moto.s3().sdk().config().to_builder();
    Clients::prebuilt(
        &moto,
        aws_sdk_dynamodb::Client::from_conf(d.build()),
        aws_sdk_sqs::Client::from_conf(q.build()),
        aws_sdk_secretsmanager::Client::from_conf(sm.interceptor(Count("secretsmanager")).build()),
        pagedesk_shared::adapters::s3::S3::new(aws_sdk_s3::Client::from_conf(
            s3.interceptor(Count("s3")).build(),
        )),
    )
}

/// A `TransactItems` entry's kind (`Put`, `Update`, `Delete`, `ConditionCheck`, or `Get` in
/// a `TransactGetItems`) and body.
pub(crate) fn tx_item(item: &serde_json::Value) -> Option<(&'static str, &serde_json::Value)> {
    ["Put", "Update", "Delete", "ConditionCheck", "Get"]
        .into_iter()
        .find_map(|k| Some((k, item.get(k)?)))
}

/// What the local host watches on a client: each request counted by service and operation.
#[derive(Debug)]
struct Count(&'static str);

impl Intercept for Count {
    fn name(&self) -> &'static str {
        "LocalWatch"
    }

    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        count_extra(&format!("{}:{}", self.0, op_name(cfg)));
        Ok(())
    }
}

fn counts() -> &'static Mutex<BTreeMap<String, u64>> {
    static COUNTS: OnceLock<Mutex<BTreeMap<String, u64>>> = OnceLock::new();
    COUNTS.get_or_init(|| Mutex::new(BTreeMap::new()))
}

/// The counter of the local host's empty polls (see [`count_extra`]).
pub const EMPTY_POLL: &str = "poll:sqs:ReceiveMessage(empty)";

/// Counts one more under `key` beside the requests themselves: the local host marks its empty
/// polls (`poll:sqs:ReceiveMessage(empty)`), which Lambda's poller makes per queue whatever the
/// traffic, so the bench can leave them out of what a message costs.
pub fn count_extra(key: &str) {
    if let Ok(mut m) = counts().lock() {
        *m.entry(key.to_owned()).or_insert(0) += 1;
    }
}

/// AWS requests made by this process so far, by `service:Operation`.
pub fn request_counts() -> BTreeMap<String, u64> {
    counts().lock().map(|m| m.clone()).unwrap_or_default()
}

/// `1` makes the DynamoDB client ask for and add up `ConsumedCapacity` (the bench and the local
/// host set it; it costs a JSON parse per response, so functions in the cloud leave it off).
pub const MEASURE_CAPACITY: &str = "PAGEDESK_MEASURE_CAPACITY";

/// Asks every DynamoDB call for `ReturnConsumedCapacity: INDEXES` and adds up what comes back:
/// DynamoDB's own meter of read and write units, for the table and each index.
#[derive(Debug)]
struct MeasureCapacity;

const CAPACITY_OPS: [&str; 10] = [
    "GetItem",
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "Query",
    "Scan",
    "BatchGetItem",
    "BatchWriteItem",
    "TransactGetItems",
    "TransactWriteItems",
];

/// The items a `TransactWriteItems` request writes, by table: AWS bills each at least two units
/// (prepare and commit of up to 1 KB).
#[derive(Debug, Clone, Default)]
struct TxItems(BTreeMap<String, usize>);

impl aws_smithy_types::config_bag::Storable for TxItems {
    type Storer = aws_smithy_types::config_bag::StoreReplace<Self>;
}

impl TxItems {
    fn of(body: &serde_json::Map<String, serde_json::Value>) -> Self {
        let mut by_table = BTreeMap::new();
        let items = body
            .get("TransactItems")
            .and_then(serde_json::Value::as_array);
        for item in items.into_iter().flatten() {
            let table = tx_item(item).and_then(|(_, body)| body.get("TableName")?.as_str());
            if let Some(table) = table {
                *by_table.entry(table.to_owned()).or_insert(0) += 1;
            }
        }
        TxItems(by_table)
    }
}

pub(crate) fn op_name(cfg: &ConfigBag) -> String {
    cfg.load::<aws_smithy_runtime_api::client::orchestrator::Metadata>()
        .map(|m| m.name().to_owned())
        .unwrap_or_default()
}

impl Intercept for MeasureCapacity {
    fn name(&self) -> &'static str {
        "MeasureCapacity"
    }

    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let op = op_name(cfg);
        if !CAPACITY_OPS.contains(&op.as_str()) {
            return Ok(());
        }
        let req = context.request_mut();
        let Some(bytes) = req.body().bytes() else {
            return Ok(());
        };
        let Ok(serde_json::Value::Object(mut body)) = serde_json::from_slice(bytes) else {
            return Ok(());
        };
        if op == "TransactWriteItems" {
            cfg.interceptor_state().store_put(TxItems::of(&body));
        }
        body.insert("ReturnConsumedCapacity".into(), "INDEXES".into());
        let new = serde_json::to_vec(&body)?;
        req.headers_mut()
            .insert("content-length", new.len().to_string());
        *req.body_mut() = aws_smithy_types::body::SdkBody::from(new);
        Ok(())
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let op = op_name(cfg);
        if !CAPACITY_OPS.contains(&op.as_str()) {
            return Ok(());
        }
        let Some(bytes) = context.response().body().bytes() else {
            return Ok(());
        };
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(bytes) else {
            return Ok(());
        };
        // Refused conditional writes (errors) carry no ConsumedCapacity: they are not metered
        // here, though DynamoDB bills them.
        let consumed = v
            .get("ConsumedCapacity")
            .cloned()
            .unwrap_or(serde_json::Value::Null);
        let kind = if matches!(
            op.as_str(),
            "GetItem" | "Query" | "Scan" | "BatchGetItem" | "TransactGetItems"
        ) {
            "read"
        } else {
            "write"
        };
        let list = match consumed {
            serde_json::Value::Array(a) => a,
            serde_json::Value::Null => vec![],
            one => vec![one],
        };
        // AWS bills a transactional write twice a standard one (prepare and commit). DynamoDB
        // Local reports it doubled but adds up only the distinct per-item figures (three small
        // puts: 2 units, not 6; measured), so a transaction's table units are at least two per
        // item. That undercounts only items over 1 KB beside others of their size. The index
        // updates that follow a commit are standard writes, as reported.
        let tx = (op == "TransactWriteItems")
            .then(|| cfg.load::<TxItems>().cloned().unwrap_or_default());
        if let Ok(mut m) = capacity().lock() {
            for c in &list {
                let units = |v: Option<&serde_json::Value>| {
                    v.and_then(|v| v.get("CapacityUnits"))
                        .and_then(serde_json::Value::as_f64)
                        .unwrap_or(0.0)
                };
                let reported = units(c.get("Table"));
                let floor = tx.as_ref().map_or(0.0, |tx| {
                    let table = c.get("TableName").and_then(serde_json::Value::as_str);
                    let n = table.and_then(|t| tx.0.get(t)).copied().unwrap_or(0);
                    2.0 * n as f64
                });
                let table = reported.max(floor);
                *m.entry(format!("{kind}:table")).or_insert(0.0) += table;
                *m.entry(format!("{kind}:total")).or_insert(0.0) += table - reported;
                for group in ["GlobalSecondaryIndexes", "LocalSecondaryIndexes"] {
                    if let Some(ix) = c.get(group).and_then(serde_json::Value::as_object) {
                        for (name, u) in ix {
                            *m.entry(format!("{kind}:{name}")).or_insert(0.0) += units(Some(u));
                        }
                    }
                }
                *m.entry(format!("{kind}:total")).or_insert(0.0) += c
                    .get("CapacityUnits")
                    .and_then(serde_json::Value::as_f64)
                    .unwrap_or(0.0);
            }
        }
        Ok(())
    }
}

fn capacity() -> &'static Mutex<BTreeMap<String, f64>> {
    static CAPACITY: OnceLock<Mutex<BTreeMap<String, f64>>> = OnceLock::new();
    CAPACITY.get_or_init(|| Mutex::new(BTreeMap::new()))
}

/// DynamoDB units consumed by this process's clients so far (with `MEASURE_CAPACITY`), by
/// `read|write:table|<index>|total`.
pub fn consumed_capacity() -> BTreeMap<String, f64> {
    capacity().lock().map(|m| m.clone()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::TxItems;

    #[test]
    fn a_transactions_items_are_counted_by_table() {
        let body = serde_json::json!({"TransactItems": [
            {"Put": {"TableName": "a", "Item": {}}},
            {"Update": {"TableName": "a", "Key": {}}},
            {"ConditionCheck": {"TableName": "b", "Key": {}}},
            {"Delete": {"TableName": "a", "Key": {}}},
            {"Unknown": {"TableName": "c"}},
        ]});
        let serde_json::Value::Object(body) = body else {
            unreachable!()
        };
        let got: Vec<(String, usize)> = TxItems::of(&body).0.into_iter().collect();
        assert_eq!(got, [("a".to_owned(), 3), ("b".to_owned(), 1)]);
    }
}
