//! A dispatch turn: the account's feed after its cursor, each entry handed to every webhook
//! that takes it (one delivery job each, in feed order), then the cursor moved. Or a replay:
//! a range of the feed handed to one webhook again.

use std::collections::{BTreeSet, HashMap};

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use pagedesk_shared::adapters::sqs_batch::process_fifo;
use pagedesk_shared::contracts::queue::{DeliveryJob, DispatchJob, ReplayJob};
use pagedesk_shared::domain::webhooks::delivery_id;
use pagedesk_shared::http::views;
use pagedesk_shared::store::{EventCursor, EventItem, Watermarks, WebhookItem};
use serde_json::Value;

use crate::{Hooks, HooksError};

/// Feed entries read at a time.
const PAGE: i32 = 200;
/// How long one turn keeps reading pages before it hands the rest to a turn of its own.
const TURN_MS: i64 = 10_000;

impl Hooks {
    pub(crate) async fn handle_dispatch_batch(&self, event: SqsEvent) -> SqsBatchResponse {
        process_fifo(event.records, |m| self.dispatch_record(m)).await
    }

    async fn dispatch_record(&self, m: SqsMessage) -> Result<(), HooksError> {
        let body = m.body.as_deref().unwrap_or("");
        let job: DispatchJob = match serde_json::from_str(body) {
            Ok(j) => j,
            Err(e) => {
                // A job nobody can read would come back forever; it is dropped and said.
                tracing::error!(error = %e, "unreadable dispatch job dropped");
                return Ok(());
            }
        };
        match &job.replay {
            None => self.dispatch(&job.account).await,
            Some(r) => self.replay(&job.account, r).await,
        }
    }

    /// Hands what the feed has after the account's cursor to its webhooks.
    pub async fn dispatch(&self, account: &str) -> Result<(), HooksError> {
        let hooks: Vec<WebhookItem> = self
            .store
            .list_webhooks(account)
            .await?
            .into_iter()
            .filter(|w| w.enabled)
            .collect();
        // The feed from where the oldest webhook starts, if the cursor is further back (or
        // was never set): nothing before a webhook was made is its.
        let Some(oldest) = hooks.iter().map(|w| w.since).min() else {
            return Ok(());
        };
        let started = self.clock.now_ms();
        let mut cursor = self.store.dispatch_cursor(account).await?;
        loop {
            let from = match &cursor {
                Some(c) if position_ms(c) >= oldest => c.clone(),
                _ => format!("{:013}", oldest - 1),
            };
            let after: EventCursor = from
                .parse()
                .map_err(|_| HooksError::Poison(format!("dispatch cursor {from:?}")))?;
            let events = self
                .store
                .list_events(account, Some(&after), PAGE, self.clock.now_ms())
                .await?;
            let Some(last) = events.last().map(EventItem::public_id) else {
                return Ok(());
            };
            let jobs = self.deliveries(account, &events, &hooks, None).await?;
            self.enqueue(&jobs).await?;
            if !self
                .store
                .advance_dispatch_cursor(account, cursor.as_deref(), &last)
                .await?
            {
                // Another turn moved it (one runs per account at a time, so only after a
                // redelivery): what this one queued was deduplicated or is a repeat with the
                // same delivery ids.
                tracing::warn!("dispatch cursor moved by another turn");
                return Ok(());
            }
            tracing::info!(events = events.len(), deliveries = jobs.len(), "dispatched");
            cursor = Some(last);
            if (events.len() as i32) < PAGE {
                return Ok(());
            }
            if self.clock.now_ms() - started > TURN_MS {
                // A long backlog: the rest in a turn of its own, after this one.
                return self.continue_later(account, None, cursor.as_deref()).await;
            }
        }
    }

    /// Hands the feed between `r.after` and `r.until` to one webhook again.
    async fn replay(&self, account: &str, r: &ReplayJob) -> Result<(), HooksError> {
        let Some(hook) = self.store.get_webhook(account, &r.webhook_id).await? else {
            // Deleted: its replay row goes with its TTL.
            return Ok(());
        };
        if !hook.enabled {
            tracing::info!("replay dropped: the webhook is switched off");
            return self.replay_counted(account, r, 0, true).await;
        }
        let (Ok(after), Ok(until)) = (
            r.after.parse::<EventCursor>(),
            r.until.parse::<EventCursor>(),
        ) else {
            tracing::error!("replay with unreadable positions dropped");
            return Ok(());
        };
        let until = until.public();
        let mut events = self
            .store
            .list_events(account, Some(&after), PAGE, self.clock.now_ms())
            .await?;
        let full = events.len() as i32 == PAGE;
        events.retain(|e| e.public_id() <= until);
        let Some(last) = events.last().map(EventItem::public_id) else {
            return self.replay_counted(account, r, 0, true).await;
        };
        // A replay re-sends what was before the webhook too: the admin asked for the range.
        let mut hook = hook;
        hook.since = 0;
        let jobs = self
            .deliveries(account, &events, std::slice::from_ref(&hook), Some(&r.id))
            .await?;
        self.enqueue(&jobs).await?;
        tracing::info!(deliveries = jobs.len(), "replayed");
        let more = full && last < until;
        self.replay_counted(account, r, jobs.len(), !more).await?;
        if more {
            let next = ReplayJob {
                after: last,
                ..r.clone()
            };
            return self.continue_later(account, Some(next), None).await;
        }
        Ok(())
    }

    /// The replay's count of deliveries to wait for grows by this turn's; after the `last`
    /// turn, the webhook may be replayed again once each of them ended.
    async fn replay_counted(
        &self,
        account: &str,
        r: &ReplayJob,
        queued: usize,
        last: bool,
    ) -> Result<(), HooksError> {
        self.store
            .replay_turn_queued(account, &r.webhook_id, &r.id, &r.after, queued, last)
            .await?;
        Ok(())
    }

    /// The delivery jobs of `events` for `hooks`, in feed order.
    async fn deliveries(
        &self,
        account: &str,
        events: &[EventItem],
        hooks: &[WebhookItem],
        replay: Option<&str>,
    ) -> Result<Vec<(DeliveryJob, String)>, HooksError> {
        // The Page of each conversation, when a webhook asks for some Pages only.
        let pages: HashMap<String, String> = if hooks.iter().any(|w| w.page_ids.is_some()) {
            let ids: BTreeSet<&str> = events
                .iter()
                .filter_map(|e| e.conversation_id.as_deref())
                .collect();
            let ids: Vec<&str> = ids.into_iter().collect();
            self.store
                .get_conversations(account, &ids)
                .await?
                .into_iter()
                .map(|c| (c.id, c.page_id))
                .collect()
        } else {
            HashMap::new()
        };
        // Message events carry the message as the API shows it.
        let wanted: BTreeSet<(&str, &str)> = events
            .iter()
            .filter(|e| hooks.iter().any(|w| w.events.matches(e.kind)))
            .filter_map(|e| {
                Some((
                    e.conversation_id.as_deref()?,
                    e.data["message_id"].as_str()?,
                ))
            })
            .collect();
        let wanted: Vec<(&str, &str)> = wanted.into_iter().collect();
        let messages: HashMap<String, Value> = self
            .store
            .messages_by_id(account, &wanted)
            .await?
            .into_iter()
            .map(|m| (m.id.clone(), views::message(&m, Watermarks::default())))
            .collect();
        let now = self.clock.now_ms();
        let mut jobs = Vec::new();
        for e in events {
            let page = match &e.conversation_id {
                Some(c) => pages.get(c).map(String::as_str),
                None => e.data["page_id"].as_str(),
            };
            let id = e.public_id();
            for w in hooks.iter().filter(|w| w.takes(e.kind, page, e.created_at)) {
                let delivery = delivery_id(&w.id, &id, replay);
                let mut body = views::feed_event(e);
                body["webhook_id"] = Value::from(w.id.as_str());
                body["delivery_id"] = Value::from(delivery.as_str());
                if let Some(m) = e.data["message_id"].as_str().and_then(|m| messages.get(m)) {
                    body["message"] = m.clone();
                }
                let job = DeliveryJob {
                    v: 1,
                    account: account.to_owned(),
                    webhook_id: w.id.clone(),
                    delivery_id: delivery,
                    event_id: id.clone(),
                    event_type: e.kind,
                    queued_at: now,
                    replay_id: replay.map(str::to_owned),
                    body,
                };
                let group = job.group(e.conversation_id.as_deref());
                jobs.push((job, group));
            }
        }
        Ok(jobs)
    }

    /// Queues delivery jobs in order (a FIFO batch keeps its entries' order); the delivery id
    /// is the deduplication id, so a turn that runs again queues nothing twice.
    async fn enqueue(&self, jobs: &[(DeliveryJob, String)]) -> Result<(), HooksError> {
        for chunk in jobs.chunks(10) {
            let mut entries = Vec::with_capacity(chunk.len());
            for (i, (job, group)) in chunk.iter().enumerate() {
                let body =
                    serde_json::to_string(job).map_err(|e| HooksError::Poison(e.to_string()))?;
                entries.push(
                    SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(body)
                        .message_group_id(group)
                        .message_deduplication_id(&job.delivery_id)
                        .build()
                        .map_err(|e| HooksError::Sqs(e.to_string()))?,
                );
            }
            self.send_batch(&self.cfg.delivery_queue_url, entries)
                .await?;
        }
        Ok(())
    }

    /// Queues the next turn of a dispatch (`after` the position reached) or of a replay.
    async fn continue_later(
        &self,
        account: &str,
        replay: Option<ReplayJob>,
        after: Option<&str>,
    ) -> Result<(), HooksError> {
        let dedupe = match (&replay, after) {
            (Some(r), _) => format!("{}#{}", r.id, r.after),
            (None, a) => format!("{account}#after#{}", a.unwrap_or("")),
        };
        let job = DispatchJob {
            v: 1,
            account: account.to_owned(),
            replay,
        };
        let entry = SendMessageBatchRequestEntry::builder()
            .id("0")
            .message_body(
                serde_json::to_string(&job).map_err(|e| HooksError::Poison(e.to_string()))?,
            )
            .message_group_id(account)
            .message_deduplication_id(dedupe_id(&dedupe))
            .build()
            .map_err(|e| HooksError::Sqs(e.to_string()))?;
        self.send_batch(&self.cfg.dispatch_queue_url, vec![entry])
            .await
    }
}

/// The time a cursor (`<ms>-<id>` or `<ms>`) stands at.
fn position_ms(cursor: &str) -> i64 {
    cursor.get(..13).and_then(|t| t.parse().ok()).unwrap_or(0)
}

/// SQS takes up to 128 characters of `[A-Za-z0-9!"#$%&'()*+,-./:;<=>?@[\]^_`{|}~]`.
fn dedupe_id(s: &str) -> String {
    let clean: String = s.chars().filter(|c| c.is_ascii_graphic()).collect();
    clean
        .chars()
        .rev()
        .take(128)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn positions_and_dedupe_ids() {
        assert_eq!(super::position_ms("1700000000000-ev_1"), 1_700_000_000_000);
        assert_eq!(super::position_ms("1700000000000"), 1_700_000_000_000);
        assert_eq!(super::position_ms("x"), 0);
        let long = "a".repeat(200) + "#tail";
        let id = super::dedupe_id(&long);
        assert_eq!(id.len(), 128);
        assert!(id.ends_with("#tail"));
    }
}
