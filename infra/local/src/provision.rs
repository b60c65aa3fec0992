//! Creates the template's table, queues and secrets in the emulators.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_sqs::types::QueueAttributeName;
use pagedesk_shared::adapters::aws::Clients;
use serde_yaml_ng::Value;

use crate::template::{QueueDef, Template};

#[derive(Debug, thiserror::Error)]
#[error("provisioning {what}: {message}")]
pub struct ProvisionError {
    what: String,
    message: String,
}

fn err(what: impl Into<String>, e: impl std::fmt::Display) -> ProvisionError {
    ProvisionError {
        what: what.into(),
        message: e.to_string(),
    }
}

pub struct Provisioned {
    /// Logical id → what `!Ref` gives locally (table name, queue URL, secret ARN, bucket name).
    pub refs: BTreeMap<String, String>,
    /// `Resource.Attribute` → what `!GetAtt` gives locally (ARNs, queue names).
    pub attrs: BTreeMap<String, String>,
    pub queue_defs: BTreeMap<String, QueueDef>,
}

fn s(v: Option<&Value>) -> String {
    v.and_then(Value::as_str).unwrap_or_default().to_owned()
}

fn keys(v: Option<&Value>) -> Result<Vec<KeySchemaElement>, ProvisionError> {
    v.and_then(Value::as_sequence)
        .into_iter()
        .flatten()
        .map(|k| {
            let kt = if s(k.get("KeyType")) == "RANGE" {
                KeyType::Range
            } else {
                KeyType::Hash
            };
            KeySchemaElement::builder()
                .attribute_name(s(k.get("AttributeName")))
                .key_type(kt)
                .build()
                .map_err(|e| err("key schema", e))
        })
        .collect()
}

pub async fn provision(
    t: &Template,
    clients: &Clients,
    stack: &str,
    secret_values: &BTreeMap<String, String>,
) -> Result<Provisioned, ProvisionError> {
    let mut refs = BTreeMap::new();
    // `!GetAtt` values, the ARNs in the local IAM check's terms.
    let mut attrs = BTreeMap::new();

    // Table: attribute definitions, keys and GSIs exactly as declared.
    let table_name = format!("{stack}-{}", t.table.logical_id);
    let p = &t.table.properties;
    let mut req = clients
        .dynamo()
        .create_table()
        .table_name(&table_name)
        .billing_mode(BillingMode::PayPerRequest)
        .set_key_schema(Some(keys(p.get("KeySchema"))?));
    for a in p
        .get("AttributeDefinitions")
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
    {
        let ty = match s(a.get("AttributeType")).as_str() {
            "N" => ScalarAttributeType::N,
            "B" => ScalarAttributeType::B,
            _ => ScalarAttributeType::S,
        };
        req = req.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(s(a.get("AttributeName")))
                .attribute_type(ty)
                .build()
                .map_err(|e| err("attribute", e))?,
        );
    }
    for g in p
        .get("GlobalSecondaryIndexes")
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
    {
        req = req.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(s(g.get("IndexName")))
                .set_key_schema(Some(keys(g.get("KeySchema"))?))
                .projection(projection(g.get("Projection")))
                .build()
                .map_err(|e| err("index", e))?,
        );
    }
    if let Some(view) = p
        .get("StreamSpecification")
        .and_then(|v| v.get("StreamViewType"))
    {
        req = req.stream_specification(
            aws_sdk_dynamodb::types::StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(s(Some(view)).as_str().into())
                .build()
                .map_err(|e| err("stream", e))?,
        );
    }
    let created = req
        .send()
        .await
        .map_err(|e| err("table", e.into_service_error()))?;
    if let Some(arn) = created.table_description.and_then(|d| d.latest_stream_arn) {
        attrs.insert(format!("{}.StreamArn", t.table.logical_id), arn);
    }
    if let Some(ttl) = p.get("TimeToLiveSpecification") {
        let _ = clients
            .dynamo()
            .update_time_to_live()
            .table_name(&table_name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(s(ttl.get("AttributeName")))
                    .enabled(true)
                    .build()
                    .map_err(|e| err("ttl", e))?,
            )
            .send()
            .await;
    }
    attrs.insert(
        format!("{}.Arn", t.table.logical_id),
        crate::iam::table_arn(&table_name),
    );
    refs.insert(t.table.logical_id.clone(), table_name);

    // Queues: FIFO and dedupe flags and visibility timeout as declared. Redrive is done by
    // the host's event-source loop (as Lambda's does), so it is not configured in moto.
    let mut queue_defs = BTreeMap::new();
    for q in &t.queues {
        let name = format!(
            "{stack}-{}{}",
            q.logical_id,
            if q.fifo { ".fifo" } else { "" }
        );
        let mut req = clients.sqs().create_queue().queue_name(&name).attributes(
            QueueAttributeName::VisibilityTimeout,
            q.visibility_timeout.to_string(),
        );
        if q.delay_seconds > 0 {
            req = req.attributes(
                QueueAttributeName::DelaySeconds,
                q.delay_seconds.to_string(),
            );
        }
        if q.fifo {
            req = req
                .attributes(QueueAttributeName::FifoQueue, "true")
                .attributes(
                    QueueAttributeName::ContentBasedDeduplication,
                    q.content_dedupe.to_string(),
                );
        }
        let out = req
            .send()
            .await
            .map_err(|e| err(format!("queue {name}"), e.into_service_error()))?;
        attrs.insert(
            format!("{}.Arn", q.logical_id),
            crate::iam::queue_arn(&name),
        );
        attrs.insert(format!("{}.QueueName", q.logical_id), name.clone());
        refs.insert(q.logical_id.clone(), out.queue_url.unwrap_or_default());
        queue_defs.insert(q.logical_id.clone(), q.clone());
    }

    for id in &t.secrets {
        let name = format!("{stack}/{id}");
        let value = secret_values
            .get(id)
            .cloned()
            .unwrap_or_else(|| format!("local-{id}"));
        let out = clients
            .secrets()
            .create_secret()
            .name(&name)
            .secret_string(value)
            .send()
            .await
            .map_err(|e| err(format!("secret {name}"), e.into_service_error()))?;
        // `!Ref` of a secret is its ARN, in the cloud as here, so functions name it by ARN.
        let arn = out
            .arn
            .ok_or_else(|| err(format!("secret {name}"), "no ARN in CreateSecret's answer"))?;
        refs.insert(id.clone(), arn);
    }
    // The functions' S3 calls cannot create buckets; the SDK's client here can.
    let s3 = clients.s3();
    let s3 = s3.sdk();
    for id in &t.buckets {
        // Bucket names are lower case and global in S3; the stack name keeps runs apart.
        let name = format!("{stack}-{id}").to_lowercase();
        s3.create_bucket()
            .bucket(&name)
            .send()
            .await
            .map_err(|e| err(format!("bucket {name}"), e.into_service_error()))?;
        attrs.insert(format!("{id}.Arn"), crate::iam::bucket_arn(&name));
        refs.insert(id.clone(), name);
    }
    Ok(Provisioned {
        refs,
        attrs,
        queue_defs,
    })
}

/// The index's projection as declared: what it projects decides what a write costs in it, so
/// the local meter must see the same.
fn projection(p: Option<&Value>) -> Projection {
    let ty = match p.map(|p| s(p.get("ProjectionType"))).as_deref() {
        Some("KEYS_ONLY") => ProjectionType::KeysOnly,
        Some("INCLUDE") => ProjectionType::Include,
        _ => ProjectionType::All,
    };
    let attrs: Vec<String> = p
        .and_then(|p| p.get("NonKeyAttributes"))
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
        .filter_map(|a| a.as_str().map(str::to_owned))
        .collect();
    Projection::builder()
        .projection_type(ty)
        .set_non_key_attributes((!attrs.is_empty()).then_some(attrs))
        .build()
}
