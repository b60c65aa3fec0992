//! SQS sends. A webhook batch is acknowledged only when SQS accepted every event, so failures
//! of single entries are retried once and then reported.

use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use futures::future::try_join_all;

use crate::domain::EventType;
use crate::meta::webhook::QueuedEvent;
use crate::{Error, Result};

/// SQS's limits on one SendMessageBatch call.
const MAX_BATCH_ENTRIES: usize = 10;
const MAX_BATCH_BYTES: usize = 1_000_000;

/// Sends all events and returns how many, or an error unless SQS accepted every one.
///
/// Batches hold at most 10 entries and `MAX_BATCH_BYTES`. Batches run in parallel only when no
/// message group spans them: a group's events reach the queue in the body's order, which is
/// the order the router sees (events of one person in one body were sent in parallel batches
/// before, and arrived out of order).
pub async fn send_all(sqs: &Client, queue_url: &str, events: &[QueuedEvent]) -> Result<usize> {
    let mut sent = 0;
    for wave in plan(events) {
        let calls = wave
            .into_iter()
            .map(|chunk| send_chunk(sqs, queue_url, chunk));
        sent += try_join_all(calls).await?.into_iter().sum::<usize>();
    }
    Ok(sent)
}

/// Batches in body order, then grouped into waves: a batch goes in the wave after the last
/// one holding an earlier event of any of its message groups.
fn plan(events: &[QueuedEvent]) -> Vec<Vec<&[QueuedEvent]>> {
    let mut batches: Vec<&[QueuedEvent]> = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    for (i, e) in events.iter().enumerate() {
        let len = e.body.len();
        if i > start && (i - start == MAX_BATCH_ENTRIES || bytes + len > MAX_BATCH_BYTES) {
            batches.push(&events[start..i]);
            start = i;
            bytes = 0;
        }
        bytes += len;
    }
    if start < events.len() {
        batches.push(&events[start..]);
    }
    let mut last_wave: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    let mut waves: Vec<Vec<&[QueuedEvent]>> = Vec::new();
    for batch in batches {
        let wave = batch
            .iter()
            .filter_map(|e| last_wave.get(e.group_id.as_str()).map(|w| w + 1))
            .max()
            .unwrap_or(0);
        for e in batch {
            last_wave.insert(&e.group_id, wave);
        }
        if waves.len() <= wave {
            waves.resize_with(wave + 1, Vec::new);
        }
        waves[wave].push(batch);
    }
    waves
}

async fn send_chunk(sqs: &Client, queue_url: &str, chunk: &[QueuedEvent]) -> Result<usize> {
    let mut pending: Vec<(usize, &QueuedEvent)> = chunk.iter().enumerate().collect();
    for attempt in 0..2 {
        let entries = pending
            .iter()
            .map(|(i, e)| {
                SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(&e.body)
                    .message_group_id(&e.group_id)
                    .message_deduplication_id(&e.dedupe_id)
                    .build()
                    .map_err(|e| Error::sqs("SendMessageBatch", e))
            })
            .collect::<Result<Vec<_>>>()?;
        let out = sqs
            .send_message_batch()
            .queue_url(queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| Error::sqs("SendMessageBatch", e.into_service_error()))?;
        let failed: Vec<String> = out.failed.iter().map(|f| f.id.clone()).collect();
        if failed.is_empty() {
            return Ok(chunk.len());
        }
        // Sender faults (bad entry) will not heal on retry.
        if out.failed.iter().any(|f| f.sender_fault) || attempt == 1 {
            let first = &out.failed[0];
            return Err(Error::sqs(
                "SendMessageBatch",
                format!(
                    "{} of {} entries refused ({}: {})",
                    failed.len(),
                    pending.len(),
                    first.code,
                    first.message.as_deref().unwrap_or("")
                ),
            ));
        }
        pending.retain(|(i, _)| failed.contains(&i.to_string()));
    }
    Ok(chunk.len())
}

/// One step of a Page's history import, queued on the inbound queue in the Page's own message
/// group: FIFO runs a Page's steps one at a time, in order, beside its webhook events. The
/// body starts with `{"job":` so the router tells it from an event without parsing twice.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ImportJob {
    pub job: String,
    pub account: String,
    pub page_id: String,
    pub run: String,
    pub step: i64,
    /// A history import (absent in jobs of before) or a reconciliation.
    #[serde(default)]
    pub kind: crate::store::ImportKind,
}

pub const IMPORT_JOB_PREFIX: &str = "{\"job\":\"import\"";

impl ImportJob {
    pub fn new(account: &str, page_id: &str, run: &str, step: i64) -> Self {
        ImportJob {
            job: "import".into(),
            account: account.to_owned(),
            page_id: page_id.to_owned(),
            run: run.to_owned(),
            step,
            kind: crate::store::ImportKind::History,
        }
    }

    /// A step of `kind`'s run.
    pub fn of_kind(mut self, kind: crate::store::ImportKind) -> Self {
        self.kind = kind;
        self
    }
}

/// Queues an import step; the run and step dedupe a repeated enqueue (a step that crashed
/// after queuing its successor queues it again).
pub async fn enqueue_import(sqs: &Client, queue_url: &str, job: &ImportJob) -> Result<()> {
    let body = serde_json::to_string(job).map_err(|e| Error::Invalid(e.to_string()))?;
    sqs.send_message()
        .queue_url(queue_url)
        .message_body(body)
        .message_group_id(format!("import#{}", job.page_id))
        .message_deduplication_id(format!("{}-{}", job.run, job.step))
        .send()
        .await
        .map_err(|e| Error::sqs("SendMessage", e.into_service_error()))?;
    Ok(())
}

/// A copy of a message's attachment into the data bucket, on the deferred queue (a standard
/// queue: delays for retries, and no FIFO group held up by a slow download).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MediaJob {
    pub job: String,
    pub account: String,
    pub conversation_id: String,
    pub message_sk: crate::store::MessageRef,
    pub index: usize,
    #[serde(default)]
    pub attempt: u32,
}

pub const MEDIA_JOB_PREFIX: &str = "{\"job\":\"media\"";

impl MediaJob {
    pub fn new(
        account: &str,
        conversation_id: &str,
        message: crate::store::MessageRef,
        index: usize,
    ) -> Self {
        MediaJob {
            job: "media".into(),
            account: account.to_owned(),
            conversation_id: conversation_id.to_owned(),
            message_sk: message,
            index,
            attempt: 0,
        }
    }
}

pub async fn enqueue_media(
    sqs: &Client,
    queue_url: &str,
    job: &MediaJob,
    delay_seconds: i32,
) -> Result<()> {
    let body = serde_json::to_string(job).map_err(|e| Error::Invalid(e.to_string()))?;
    sqs.send_message()
        .queue_url(queue_url)
        .message_body(body)
        .delay_seconds(delay_seconds)
        .send()
        .await
        .map_err(|e| Error::sqs("SendMessage", e.into_service_error()))?;
    Ok(())
}

/// The outbound queue's message body: the contract between `agent-api` (and the router's
/// automatic messages) and `sender`. The message itself is in DynamoDB.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct OutboundJob {
    /// The format's version, written as `v`. It stays 1 while every change is a field that
    /// readers of before may ignore and readers of now may miss (each new one is optional);
    /// bump it, and refuse what is newer, the day a reader of before would misread a job.
    #[serde(rename = "v")]
    pub format_version: u32,
    pub account: String,
    pub conversation_id: String,
    pub message_id: String,
    pub message_sk: crate::store::MessageRef,
    /// Set for a delivery to the account's AI agent (`conversation.created` or
    /// `message.created` about this message) instead of a send to Meta.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ai_agent_event: Option<EventType>,
    /// What the sender would otherwise read about the conversation and the account, as the
    /// API saw it when it queued the reply (absent in jobs queued without it: the sender then
    /// reads them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<SendContext>,
    /// The message as the API stored it, so a fresh job's first receive needs no read of it
    /// (see the sender). It carries no keys, so it is written as `copy`: jobs queued before
    /// this carried the store's row as `message`, read here with its keys ignored, and a sender
    /// of before, which needs those keys, ignores `copy` and reads the message instead.
    #[serde(
        default,
        rename = "copy",
        alias = "message",
        skip_serializing_if = "Option::is_none"
    )]
    pub message: Option<Box<crate::store::Message>>,
}

/// The conversation as far as a send needs it. Its window can only have closed since it was
/// read (a newer message would reopen it, which the send does not need to know), so checking
/// the window again from it at send time refuses nothing the conversation would allow.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SendContext {
    pub page_id: String,
    /// The person's page-scoped id (Messenger) or the commenter's.
    pub recipient: String,
    pub channel: crate::domain::Channel,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_inbound_at: Option<i64>,
    /// The account's Human Agent setting as the API read it.
    pub human_agent_enabled: bool,
    /// The API stored the reply inside the standard window without reading the settings:
    /// `human_agent_enabled` is false for want of reading, and the sender reads the setting if
    /// that window has closed by the time it sends. A flag beside the setting rather than an
    /// optional setting, so that a sender of before (during a deploy) still reads the job.
    #[serde(
        default,
        rename = "human_agent_unread",
        skip_serializing_if = "std::ops::Not::not"
    )]
    pub human_agent_not_read: bool,
}

/// The conversation as a send needs it: where the reply goes and the window it goes in. Made
/// from the job's context, or from the stored conversation for jobs queued without one.
#[derive(Debug, Clone, PartialEq)]
pub struct SendTarget {
    pub conversation_id: String,
    pub page_id: String,
    /// The person's page-scoped id (Messenger) or the commenter's.
    pub recipient: String,
    pub channel: crate::domain::Channel,
    pub last_inbound_at: Option<i64>,
}

impl SendTarget {
    pub fn of(conv: &crate::store::ConversationItem) -> Self {
        SendTarget {
            conversation_id: conv.id.clone(),
            page_id: conv.page_id.clone(),
            recipient: conv.facebook_id.clone(),
            channel: conv.channel,
            last_inbound_at: conv.last_inbound_at,
        }
    }

    pub fn from_context(conversation_id: &str, c: &SendContext) -> Self {
        SendTarget {
            conversation_id: conversation_id.to_owned(),
            page_id: c.page_id.clone(),
            recipient: c.recipient.clone(),
            channel: c.channel,
            last_inbound_at: c.last_inbound_at,
        }
    }
}

impl SendContext {
    /// The Human Agent setting, if the API read it.
    pub fn human_agent(&self) -> Option<bool> {
        (!self.human_agent_not_read).then_some(self.human_agent_enabled)
    }
}

/// Queues a send. The FIFO group is the conversation, so its messages go out in order; the
/// message id dedupes a repeated enqueue within SQS's 5-minute window.
pub async fn enqueue_outbound(sqs: &Client, queue_url: &str, job: &OutboundJob) -> Result<()> {
    let body = serde_json::to_string(job).map_err(|e| Error::Invalid(e.to_string()))?;
    sqs.send_message()
        .queue_url(queue_url)
        .message_body(body)
        .message_group_id(&job.conversation_id)
        .message_deduplication_id(match &job.ai_agent_event {
            Some(_) => format!("ai-{}", job.message_id),
            None => job.message_id.clone(),
        })
        .send()
        .await
        .map_err(|e| Error::sqs("SendMessage", e.into_service_error()))?;
    Ok(())
}

impl OutboundJob {
    /// The job that sends a stored outbound message.
    pub fn send(m: &crate::store::Message) -> Self {
        OutboundJob {
            format_version: 1,
            account: m.account.clone(),
            conversation_id: m.conversation_id.clone(),
            message_id: m.id.clone(),
            message_sk: m.reference(),
            ai_agent_event: None,
            context: None,
            message: None,
        }
    }

    /// The job that sends `m`, carrying what the sender would read of `conv` and `settings`.
    pub fn send_in(
        m: &crate::store::Message,
        conv: &crate::store::ConversationItem,
        human_agent_enabled: Option<bool>,
    ) -> Self {
        OutboundJob {
            context: Some(SendContext {
                page_id: conv.page_id.clone(),
                recipient: conv.facebook_id.clone(),
                channel: conv.channel,
                last_inbound_at: conv.last_inbound_at,
                human_agent_enabled: human_agent_enabled.unwrap_or(false),
                human_agent_not_read: human_agent_enabled.is_none(),
            }),
            message: Some(Box::new(m.clone())),
            ..Self::send(m)
        }
    }

    /// The job that tells the AI agent about message `m` (`conversation.created` for the first).
    pub fn ai_agent(m: &crate::store::Message, event: EventType) -> Self {
        OutboundJob {
            ai_agent_event: Some(event),
            ..Self::send(m)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_job_carries_the_conversation_and_older_jobs_still_read() {
        let mut conv = crate::store::ConversationItem::new_open(
            "acct",
            "cv_1",
            "P1",
            crate::domain::Channel::Messenger,
            1,
        );
        conv.facebook_id = "PSID".into();
        conv.last_inbound_at = Some(42);
        let m = crate::store::Message {
            id: "ms_1".into(),
            created_at: 7,
            ..Default::default()
        }
        .placed("acct", "cv_1");
        let job = OutboundJob::send_in(&m, &conv, Some(true));
        let back: OutboundJob =
            serde_json::from_str(&serde_json::to_string(&job).unwrap()).unwrap();
        assert_eq!(back, job);
        assert_eq!(back.message.as_deref(), Some(&m));
        let c = back.context.expect("context");
        assert_eq!(
            (
                c.page_id.as_str(),
                c.recipient.as_str(),
                c.last_inbound_at,
                c.human_agent()
            ),
            ("P1", "PSID", Some(42), Some(true))
        );
        // A reply stored without reading the settings says so; a sender of before, which
        // needs the setting as a boolean, still reads the job (and sees it off, which inside
        // the standard window changes nothing).
        let lean = OutboundJob::send_in(&m, &conv, None);
        let text = serde_json::to_string(&lean).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            (
                &v["context"]["human_agent_enabled"],
                &v["context"]["human_agent_unread"]
            ),
            (&serde_json::json!(false), &serde_json::json!(true)),
            "{text}"
        );
        let back: OutboundJob = serde_json::from_str(&text).unwrap();
        assert_eq!(back.context.and_then(|c| c.human_agent()), None);
        // A job of before (no flag) carries the setting as read.
        let before: OutboundJob =
            serde_json::from_str(&text.replace(r#","human_agent_unread":true"#, "")).unwrap();
        assert_eq!(before.context.and_then(|c| c.human_agent()), Some(false));
        // A job queued before jobs carried their context: the sender reads instead.
        let old: OutboundJob = serde_json::from_str(
            r#"{"v":1,"account":"acct","conversation_id":"cv_1","message_id":"ms_1","message_sk":"MSG#0000000000007#ms_1"}"#,
        )
        .unwrap();
        assert_eq!(old.context, None);
        assert_eq!(old.message_sk, m.reference());
        // The copy carries no keys, under a name a sender of before ignores.
        let written: serde_json::Value = serde_json::to_value(&job).unwrap();
        assert!(written.get("message").is_none(), "{written}");
        let copy = written["copy"].as_object().expect("the copy");
        for key in ["pk", "sk", "duepk", "duesk", "feedsk"] {
            assert!(!copy.contains_key(key), "{key} in {written}");
        }
        // A job of before carried the store's row as `message`, keys and all: it still reads.
        let row_era = serde_json::json!({
            "v": 1, "account": "acct", "conversation_id": "cv_1", "message_id": "ms_1",
            "message_sk": "MSG#0000000000007#ms_1",
            "message": {
                "pk": "ACC#acct#CONV#cv_1", "sk": "MSG#0000000000007#ms_1",
                "duepk": "DUE#x", "duesk": "y", "account": "acct", "id": "ms_1",
                "conversation_id": "cv_1", "direction": "out", "author_type": "agent",
                "author_id": "ag_1", "text": "hi", "status": "queued", "error": null,
                "external_id": null, "created_at": 7, "sent_at": null
            }
        });
        let old: OutboundJob = serde_json::from_value(row_era).expect("a job of before");
        let copy = old.message.expect("its copy");
        assert_eq!(
            (copy.text.as_deref(), copy.reference()),
            (Some("hi"), m.reference())
        );
    }

    fn ev(group: &str, bytes: usize) -> QueuedEvent {
        QueuedEvent {
            group_id: group.into(),
            dedupe_id: String::new(),
            body: "x".repeat(bytes),
        }
    }

    fn shape(events: &[QueuedEvent]) -> Vec<Vec<usize>> {
        plan(events)
            .iter()
            .map(|w| w.iter().map(|b| b.len()).collect())
            .collect()
    }

    #[test]
    fn batches_are_cut_by_count_and_bytes_and_keep_each_group_in_order() {
        // 25 events of one person: three batches, one after another.
        let one: Vec<_> = (0..25).map(|_| ev("a", 10)).collect();
        assert_eq!(shape(&one), vec![vec![10], vec![10], vec![5]]);
        // Different people: batches at once.
        let many: Vec<_> = (0..25).map(|i| ev(&format!("g{i}"), 10)).collect();
        assert_eq!(shape(&many), vec![vec![10, 10, 5]]);
        // Four events of 300 kB: three fit in a batch's megabyte; the fourth waits only if it
        // shares a group with the first three.
        let big = vec![
            ev("a", 300_000),
            ev("b", 300_000),
            ev("c", 300_000),
            ev("a", 300_000),
        ];
        assert_eq!(shape(&big), vec![vec![3], vec![1]]);
        let big = vec![
            ev("a", 300_000),
            ev("b", 300_000),
            ev("c", 300_000),
            ev("d", 300_000),
        ];
        assert_eq!(shape(&big), vec![vec![3, 1]]);
        // Every event sent once, in order within its wave.
        let mixed: Vec<_> = (0..1000).map(|i| ev(&format!("g{}", i % 7), 900)).collect();
        let waves = plan(&mixed);
        let total: usize = waves.iter().flatten().map(|b| b.len()).sum();
        assert_eq!(total, 1000);
        assert!(plan(&[]).is_empty());
    }
}

/// A turn of an account's webhook dispatch, on the dispatch queue (FIFO, group = account, so
/// one dispatch of an account runs at a time; the queue's delay lets the feed settle first).
/// Without `replay`: hand every webhook what the feed has after the account's cursor. With it:
/// hand one webhook the events between two positions again.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DispatchJob {
    pub v: u32,
    pub account: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay: Option<ReplayJob>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ReplayJob {
    pub id: String,
    pub webhook_id: String,
    /// Feed position (public cursor form) the replay continues after.
    pub after: String,
    /// The dispatch cursor when the replay was asked for: later events reach the webhook anyway.
    pub until: String,
}

/// One event for one webhook, on the delivery queue (FIFO, group = webhook and conversation:
/// a conversation's events reach a webhook in order, and one slow endpoint holds up only its
/// own groups). `body` is exactly what is POSTed and signed.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DeliveryJob {
    pub v: u32,
    pub account: String,
    pub webhook_id: String,
    pub delivery_id: String,
    pub event_id: String,
    pub event_type: crate::domain::EventType,
    pub queued_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay_id: Option<String>,
    pub body: serde_json::Value,
}

impl DeliveryJob {
    /// The FIFO group: the webhook and the event's conversation (account events share one).
    pub fn group(&self, conversation_id: Option<&str>) -> String {
        format!(
            "{}#{}",
            self.webhook_id,
            conversation_id.unwrap_or("account")
        )
    }
}
