//! Lambda's DynamoDB stream event source, played against DynamoDB Local's stream: every shard
//! read from its start (the table is as new as the stack), an iterator that is refused replaced
//! by one after the last record handed over, records shaped as Lambda hands them over, the template's `FilterCriteria` applied,
//! batches of at most `BatchSize`. A batch the function fails is handed over again (Lambda
//! retries a stream batch in order before it moves on).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodbstreams::types::ShardIteratorType;
use serde_json::{Value, json};

pub type StreamHandler =
    Arc<dyn Fn(Value) -> futures::future::BoxFuture<'static, Result<(), String>> + Send + Sync>;

/// Where the poller stands in one shard.
struct Shard {
    /// `None` once a closed shard is read to its end.
    iterator: Option<String>,
    /// The last record handed over.
    last_seq: Option<String>,
}

pub struct StreamSource {
    pub streams: aws_sdk_dynamodbstreams::Client,
    /// DynamoDB Local's URL and a client for GetRecords (see `read`).
    pub endpoint: String,
    pub http: reqwest::Client,
    pub stream_arn: String,
    pub batch_size: i32,
    pub filters: Vec<Value>,
    pub handler: StreamHandler,
}

impl StreamSource {
    /// Function `f`'s stream sources (the template's `DynamoDB` events: the table's stream,
    /// `stream_arn`), read from DynamoDB Local at `endpoint`, each handing its batches to
    /// `handler`. An error when `f` has one but the table has no stream.
    pub fn of(
        f: &crate::template::FunctionDef,
        stream_arn: Option<&String>,
        endpoint: &str,
        handler: StreamHandler,
    ) -> Result<Vec<StreamSource>, String> {
        if f.streams.is_empty() {
            return Ok(Vec::new());
        }
        let arn = stream_arn.ok_or("a stream source, but the table has no StreamSpecification")?;
        Ok(f.streams
            .iter()
            .map(|src| StreamSource {
                streams: aws_sdk_dynamodbstreams::Client::new(&crate::aws::local_config(endpoint)),
                endpoint: endpoint.to_owned(),
                http: pagedesk_shared::adapters::tls::reqwest_builder()
                    .build()
                    .unwrap_or_default(),
                stream_arn: arn.clone(),
                batch_size: src.batch_size,
                filters: src.filters.clone(),
                handler: handler.clone(),
            })
            .collect())
    }

    pub async fn run(self) {
        let mut shards: BTreeMap<String, Shard> = BTreeMap::new();
        let mut listed: Option<std::time::Instant> = None;
        loop {
            let cycle = crate::idle::stream_cycle_start();
            // Shards are listed every few seconds, not every poll: DynamoDB Local's
            // DescribeStream grows with the stream, and new shards are rare.
            if listed.is_none_or(|t| t.elapsed() > Duration::from_secs(5)) {
                match self.discover(&mut shards).await {
                    Ok(()) => listed = Some(std::time::Instant::now()),
                    Err(e) => tracing::warn!(error = %e, "stream: could not list shards"),
                }
            }
            let mut got = false;
            for (id, shard) in shards.iter_mut() {
                let Some(it) = shard.iterator.clone() else {
                    continue;
                };
                match self.read(&it).await {
                    Ok((records, next)) => {
                        got |= !records.is_empty();
                        let last = records
                            .last()
                            .and_then(|r| r["dynamodb"]["SequenceNumber"].as_str())
                            .map(str::to_owned);
                        if !records.is_empty() && !self.hand_over(records).await {
                            // Failed: the same records again next cycle, from the same place.
                            continue;
                        }
                        shard.iterator = next;
                        if last.is_some() {
                            shard.last_seq = last;
                        }
                    }
                    Err(e) => {
                        // An iterator DynamoDB no longer takes (they expire): a new one
                        // after the last record handed over, so nothing is read twice or
                        // skipped.
                        tracing::warn!(shard = %id, error = %e, "stream: GetRecords failed; a new iterator");
                        shard.iterator = self.iterator(id, shard.last_seq.as_deref()).await.ok();
                    }
                }
            }
            crate::idle::stream_cycle_end(cycle);
            if !got {
                // Lambda polls a stream's shards four times a second.
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    }

    /// An iterator of `shard`: after `after` (a sequence number), else from the shard's start.
    async fn iterator(&self, shard: &str, after: Option<&str>) -> Result<String, String> {
        let ty = match after {
            Some(_) => ShardIteratorType::AfterSequenceNumber,
            None => ShardIteratorType::TrimHorizon,
        };
        let it = self
            .streams
            .get_shard_iterator()
            .stream_arn(&self.stream_arn)
            .shard_id(shard)
            .shard_iterator_type(ty)
            .set_sequence_number(after.map(str::to_owned))
            .send()
            .await
            .map_err(|e| aws_smithy_types::error::display::DisplayErrorContext(e).to_string())?;
        it.shard_iterator
            .ok_or_else(|| "GetShardIterator gave no iterator".to_owned())
    }

    /// Adds shards not seen before, read from their start: the table is as new as the stack,
    /// so that is everything written since (Lambda's `LATEST` at the mapping's creation). A
    /// `LATEST` iterator on DynamoDB Local's new, empty stream was refused at its first read
    /// (`TrimmedDataAccessException`).
    async fn discover(&self, shards: &mut BTreeMap<String, Shard>) -> Result<(), String> {
        let desc = self
            .streams
            .describe_stream()
            .stream_arn(&self.stream_arn)
            .send()
            .await
            .map_err(|e| e.into_service_error().to_string())?;
        let found = desc
            .stream_description
            .map(|d| d.shards.unwrap_or_default())
            .unwrap_or_default();
        for s in found {
            let Some(id) = s.shard_id else { continue };
            if shards.contains_key(&id) {
                continue;
            }
            let it = self.iterator(&id, None).await?;
            shards.insert(
                id,
                Shard {
                    iterator: Some(it),
                    last_seq: None,
                },
            );
        }
        Ok(())
    }

    /// One GetRecords, its records as DynamoDB Streams' JSON: Lambda hands the function that
    /// JSON as it is (adding the source ARN), so it is passed through unparsed. (The SDK's
    /// typed records refused some of DynamoDB Local's, "Union did not contain a valid
    /// variant", and a shard stuck at such a record stopped every later one.) DynamoDB Local
    /// checks no signature, only the key id and region it keeps databases apart by.
    async fn read(&self, iterator: &str) -> Result<(Vec<Value>, Option<String>), String> {
        let res = self
            .http
            .post(&self.endpoint)
            .header("content-type", "application/x-amz-json-1.0")
            .header("x-amz-target", "DynamoDBStreams_20120810.GetRecords")
            .header(
                "authorization",
                format!(
                    "AWS4-HMAC-SHA256 Credential=test/20260101/{}/dynamodb/aws4_request, SignedHeaders=host, Signature=0",
                    crate::iam::REGION
                ),
            )
            .body(json!({"ShardIterator": iterator, "Limit": 1000}).to_string())
            .send()
            .await
            .map_err(|e| e.without_url().to_string())?;
        let ok = res.status().is_success();
        let body: Value = res.json().await.map_err(|e| e.without_url().to_string())?;
        if !ok {
            return Err(format!(
                "GetRecords: {}",
                body["__type"].as_str().unwrap_or("error")
            ));
        }
        let records = body["Records"].as_array().cloned().unwrap_or_default();
        let next = body["NextShardIterator"].as_str().map(str::to_owned);
        Ok((records, next))
    }

    /// Hands the records that pass the filters to the function in batches; `false` if it
    /// failed one (then all are handed over again: Lambda's retry of a stream batch).
    async fn hand_over(&self, records: Vec<Value>) -> bool {
        let passing: Vec<Value> = records
            .into_iter()
            .map(|mut r| {
                r["eventSourceARN"] = json!(self.stream_arn);
                r
            })
            .filter(|r| self.filters.is_empty() || self.filters.iter().any(|f| matches(f, r)))
            .collect();
        for chunk in passing.chunks(self.batch_size.max(1) as usize) {
            let _busy = crate::idle::Busy::start();
            let started = std::time::Instant::now();
            let res = (self.handler)(json!({"Records": chunk})).await;
            crate::host::record_invocation("HooksFunction", started);
            if let Err(e) = res {
                tracing::warn!(error = %e, "stream batch failed; it will be handed over again");
                return false;
            }
        }
        true
    }
}

/// Whether `event` matches a Lambda filter `pattern`: every key of the pattern present with a
/// matching value; a leaf is a list of allowed values, each a literal, `{"prefix": s}` or
/// `{"exists": bool}` (the rules the template uses; anything else does not match).
pub fn matches(pattern: &Value, event: &Value) -> bool {
    let Some(p) = pattern.as_object() else {
        return false;
    };
    p.iter().all(|(k, rule)| {
        let v = event.get(k);
        match rule {
            Value::Object(_) => v.is_some_and(|v| matches(rule, v)),
            Value::Array(allowed) => allowed.iter().any(|a| match a {
                Value::Object(op) => match (op.get("prefix"), op.get("exists")) {
                    (Some(Value::String(pre)), _) => v
                        .and_then(Value::as_str)
                        .is_some_and(|s| s.starts_with(pre)),
                    (_, Some(Value::Bool(e))) => v.is_some() == *e,
                    _ => false,
                },
                literal => v == Some(literal),
            }),
            _ => false,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_match_literals_prefixes_and_presence() {
        let p: Value = serde_json::from_str(
            r#"{"eventName": ["INSERT"], "dynamodb": {"Keys": {"pk": {"S": [{"prefix": "ACC#"}]}}, "NewImage": {"type": {"S": [{"exists": true}]}}}}"#,
        )
        .expect("pattern");
        let rec = |name: &str, pk: &str, with_type: bool| {
            let mut image = json!({});
            if with_type {
                image["type"] = json!({"S": "note.created"});
            }
            json!({"eventName": name, "dynamodb": {"Keys": {"pk": {"S": pk}}, "NewImage": image}})
        };
        assert!(matches(&p, &rec("INSERT", "ACC#a#EV", true)));
        assert!(!matches(&p, &rec("MODIFY", "ACC#a#EV", true)));
        assert!(!matches(&p, &rec("INSERT", "PAGE#1", true)));
        assert!(!matches(&p, &rec("INSERT", "ACC#a#EV", false)));
    }
}
