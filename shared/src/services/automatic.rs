//! Automatic messages (greeting, away message, CSAT survey): stored like a reply with author
//! `system` and sent by the sender, which applies the window rules to them as to any message
//! that is not a human agent's: only inside the 24 h window, never tagged.

use serde_json::Value;

use crate::contracts::queue::{OutboundJob, enqueue_outbound};
use crate::domain::{
    AuthorType, Direction, EventType, MessageError, MessageKind, MessageStatus, SendType,
};
use crate::ids;
use crate::store::{ConversationItem, EventItem, Message, QueueOutcome, Store};
use crate::{Error, Result};

pub struct Automatic<'a> {
    /// Greeting, away or CSAT; also the author id, so the helpdesk can tell them apart.
    pub kind: MessageKind,
    pub text: &'a str,
    pub quick_replies: Option<Value>,
    /// The survey goes to a conversation that was just resolved.
    pub require_active: bool,
}

/// Stores and queues one automatic message. `Ok(None)` when the conversation is not open (and
/// the message needs it). A queue failure marks the message failed (`queue_unavailable`).
pub async fn send(
    store: &Store,
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    conv: &ConversationItem,
    a: Automatic<'_>,
    now: i64,
) -> Result<Option<Message>> {
    let id = ids::new_id(ids::message_prefix(), now);
    let msg = Message {
        id: id.clone(),
        direction: Direction::Out,
        author_type: AuthorType::System,
        author_id: Some(a.kind.as_str().to_owned()),
        text: Some(a.text.to_owned()),
        status: MessageStatus::Queued,
        quick_replies: a.quick_replies,
        parts_total: Some(1),
        messaging_type: Some(SendType::Response),
        kind: Some(a.kind),
        created_at: now,
        ..Default::default()
    }
    .placed(&conv.account, &conv.id);
    let event = EventItem::new(
        &conv.account,
        EventType::MessageCreated,
        Some(&conv.id),
        serde_json::json!({"message_id": id, "direction": Direction::Out, "automatic": a.kind}),
        now,
    );
    match store
        .outbound()
        .queue_message(&msg, now, Some(&event), a.require_active)
        .await?
    {
        QueueOutcome::Stored => {}
        QueueOutcome::ConversationNotOpen => return Ok(None),
        other => return Err(Error::Corrupt(format!("automatic message: {other:?}"))),
    }
    if let Err(e) = enqueue_outbound(sqs, queue_url, &OutboundJob::send(&msg)).await {
        tracing::error!(error = %e, kind = %a.kind, "automatic message could not be queued");
        let err = MessageError {
            code: None,
            subcode: None,
            reason: "queue_unavailable".into(),
            message: Some("The automatic message could not be queued.".into()),
        };
        store.outbound().fail_message(&msg, &err, now).await?;
        return Err(e);
    }
    tracing::info!(conversation_id = %conv.id, message_id = %id, kind = %a.kind, "automatic message queued");
    Ok(Some(msg))
}

/// The survey's quick replies: 1 to 5, each payload naming the conversation it rates.
pub fn csat_quick_replies(conversation_id: &str) -> Value {
    Value::Array(
        (1..=5)
            .map(|n| serde_json::json!({"title": n.to_string(), "payload": format!("{CSAT_PREFIX}{conversation_id}:{n}")}))
            .collect(),
    )
}

pub const CSAT_PREFIX: &str = "PD_CSAT:";
pub const CSAT_QUESTION: &str =
    "How would you rate the help you got? Tap 1 (poor) to 5 (excellent).";

/// Reads a survey answer's payload: (conversation id, score 1–5).
pub fn parse_csat(payload: &str) -> Option<(&str, i64)> {
    let rest = payload.strip_prefix(CSAT_PREFIX)?;
    let (conv, score) = rest.rsplit_once(':')?;
    let score: i64 = score.parse().ok()?;
    ((1..=5).contains(&score) && !conv.is_empty()).then_some((conv, score))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn survey_payloads_round_trip_and_nothing_else_parses() {
        let qr = csat_quick_replies("cv_1");
        let payloads: Vec<&str> = qr
            .as_array()
            .unwrap()
            .iter()
            .map(|q| q["payload"].as_str().unwrap())
            .collect();
        assert_eq!(payloads.len(), 5);
        assert_eq!(parse_csat(payloads[4]), Some(("cv_1", 5)));
        assert_eq!(parse_csat("PD_CSAT:cv_1:6"), None);
        assert_eq!(parse_csat("PD_CSAT::3"), None);
        assert_eq!(parse_csat("GET_STARTED"), None);
    }
}
