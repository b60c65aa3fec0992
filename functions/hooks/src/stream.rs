//! The table's stream: every new feed entry (an event item, or a message that is its own
//! event) pokes its account's dispatch. Pokes go to the dispatch queue (FIFO, group = account)
//! whose delay is longer than the feed's hold-back (`SETTLE_MS`), so the dispatch they start
//! sees the entry. Their deduplication id is the account and the second: a burst of events
//! makes one poke a second, and a poke covers every entry whose record arrived in its second
//! (the delay exceeds the hold-back by more than that second). Accounts without a webhook are
//! not poked (one consistent read of their webhook count per batch).

use std::collections::BTreeSet;

use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use pagedesk_shared::contracts::queue::DispatchJob;
use pagedesk_shared::store::account_of_feed_key;
use serde::Deserialize;
use serde_json::Value;

use crate::{Hooks, HooksError};

/// What pagedesk reads of Lambda's DynamoDB stream event.
#[derive(Debug, Deserialize)]
pub struct StreamEvent {
    #[serde(rename = "Records", default)]
    pub records: Vec<StreamRecord>,
}

#[derive(Debug, Deserialize)]
pub struct StreamRecord {
    #[serde(rename = "eventName", default)]
    pub event_name: Option<String>,
    #[serde(default)]
    pub dynamodb: StreamData,
}

#[derive(Debug, Deserialize, Default)]
pub struct StreamData {
    #[serde(rename = "Keys", default)]
    pub keys: serde_json::Map<String, Value>,
    #[serde(rename = "NewImage", default)]
    pub new_image: serde_json::Map<String, Value>,
}

impl StreamRecord {
    /// The account of a new feed entry; `None` for any other change.
    pub fn feed_account(&self) -> Option<String> {
        if self.event_name.as_deref() != Some("INSERT") {
            return None;
        }
        let s = |m: &serde_json::Map<String, Value>, k: &str| {
            m.get(k).and_then(|v| v["S"].as_str()).map(str::to_owned)
        };
        [
            s(&self.dynamodb.new_image, "feedpk"),
            s(&self.dynamodb.keys, "pk"),
        ]
        .into_iter()
        .flatten()
        .find_map(|k| account_of_feed_key(&k).map(str::to_owned))
    }
}

impl Hooks {
    /// Pokes the dispatch of each account with a new feed entry in `batch`. An error fails the
    /// batch, and Lambda hands it over again (pokes are idempotent).
    pub async fn handle_stream(&self, batch: StreamEvent) -> Result<(), HooksError> {
        let accounts: BTreeSet<String> = batch
            .records
            .iter()
            .filter_map(StreamRecord::feed_account)
            .collect();
        if accounts.is_empty() {
            return Ok(());
        }
        // Only accounts with a webhook are dispatched (most have none: no queue traffic).
        let names: Vec<&str> = accounts.iter().map(String::as_str).collect();
        let accounts = self.store.accounts_with_webhooks(&names).await?;
        let second = self.clock.now_ms() / 1000;
        let entries: Vec<SendMessageBatchRequestEntry> = accounts
            .iter()
            .enumerate()
            .filter_map(|(i, a)| {
                let job = DispatchJob {
                    v: 1,
                    account: a.clone(),
                    replay: None,
                };
                SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(serde_json::to_string(&job).ok()?)
                    .message_group_id(a)
                    .message_deduplication_id(format!("{a}#{second}"))
                    .build()
                    .ok()
            })
            .collect();
        for chunk in entries.chunks(10) {
            self.send_batch(&self.cfg.dispatch_queue_url, chunk.to_vec())
                .await?;
        }
        Ok(())
    }

    /// One SendMessageBatch; any entry refused fails the whole call (the caller's retry sends
    /// them again, and FIFO deduplication drops what got through).
    pub(crate) async fn send_batch(
        &self,
        queue: &str,
        entries: Vec<SendMessageBatchRequestEntry>,
    ) -> Result<(), HooksError> {
        if entries.is_empty() {
            return Ok(());
        }
        let out = self
            .sqs
            .send_message_batch()
            .queue_url(queue)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| {
                HooksError::Sqs(format!("SendMessageBatch: {}", e.into_service_error()))
            })?;
        if !out.failed.is_empty() {
            return Err(HooksError::Sqs(format!(
                "SendMessageBatch refused {} entries",
                out.failed.len()
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(name: &str, keys: Value, image: Value) -> StreamRecord {
        serde_json::from_value(serde_json::json!({
            "eventName": name,
            "dynamodb": {"Keys": keys, "NewImage": image}
        }))
        .expect("a stream record")
    }

    #[test]
    fn only_new_feed_entries_name_an_account() {
        let event = record(
            "INSERT",
            serde_json::json!({"pk": {"S": "ACC#a1#EV"}, "sk": {"S": "1#ev"}}),
            serde_json::json!({}),
        );
        assert_eq!(event.feed_account().as_deref(), Some("a1"));
        let message = record(
            "INSERT",
            serde_json::json!({"pk": {"S": "ACC#a2#CONV#c"}, "sk": {"S": "MSG#1#ms"}}),
            serde_json::json!({"feedpk": {"S": "ACC#a2#EV"}}),
        );
        assert_eq!(message.feed_account().as_deref(), Some("a2"));
        let other = record(
            "INSERT",
            serde_json::json!({"pk": {"S": "ACC#a2#CONV#c"}, "sk": {"S": "META"}}),
            serde_json::json!({}),
        );
        assert_eq!(other.feed_account(), None);
        let update = record(
            "MODIFY",
            serde_json::json!({"pk": {"S": "ACC#a1#EV"}, "sk": {"S": "1#ev"}}),
            serde_json::json!({}),
        );
        assert_eq!(update.feed_account(), None);
    }
}
