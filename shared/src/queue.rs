//! SQS sends. A webhook batch is acknowledged only when SQS accepted every event, so failures
//! of single entries are retried once and then reported.

use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use futures::future::try_join_all;

use crate::domain::EventType;
use crate::meta::webhook::QueuedEvent;
use crate::{Error, Result};

/// Sends all events (10 per SendMessageBatch call, calls in parallel). Returns an error unless
/// SQS accepted every one.
pub async fn send_all(sqs: &Client, queue_url: &str, events: &[QueuedEvent]) -> Result<usize> {
    let calls = events
        .chunks(10)
        .map(|chunk| send_chunk(sqs, queue_url, chunk));
    let counts = try_join_all(calls).await?;
    Ok(counts.into_iter().sum())
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

/// The outbound queue's message body: the contract between `agent-api` (and the router's
/// automatic messages) and `sender`. The message itself is in DynamoDB.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct OutboundJob {
    pub v: u32,
    pub account: String,
    pub conversation_id: String,
    pub message_id: String,
    pub message_sk: String,
    /// Set for a delivery to the account's AI agent (`conversation.created` or
    /// `message.created` about this message) instead of a send to Meta.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ai_agent_event: Option<EventType>,
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
    pub fn send(m: &crate::store::MessageItem) -> Self {
        OutboundJob {
            v: 1,
            account: m.account.clone(),
            conversation_id: m.conversation_id.clone(),
            message_id: m.id.clone(),
            message_sk: m.sk.clone(),
            ai_agent_event: None,
        }
    }

    /// The job that tells the AI agent about message `m` (`conversation.created` for the first).
    pub fn ai_agent(m: &crate::store::MessageItem, event: EventType) -> Self {
        OutboundJob {
            ai_agent_event: Some(event),
            ..Self::send(m)
        }
    }
}
