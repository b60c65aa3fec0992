//! What one Send API call carries, without I/O: the parts of a reply, each part's body (with
//! the echo metadata that finds the message again), the job's own copy of a fresh message, and
//! the retry backoff.

use pagedesk_shared::contracts::queue::{OutboundJob, SendTarget};
use pagedesk_shared::domain::{MessageStatus, SendType};
use pagedesk_shared::store::Message;
use pagedesk_shared::store::{EchoMetadata, MessageRef};
use serde_json::{Value, json};

/// How long a sender holds a message while calling Meta.
/// How young a job's first receive must be to send from the job's copy of its message.
pub const FRESH_MS: i64 = 60_000;

/// The job's own copy of its message when nothing can have happened to the message since it
/// was queued: the first receive of a job the API made a moment ago. Then no other job can be
/// sending it (one job per message: the FIFO queue dedupes by message id, a retried call finds
/// its message instead of queueing again), no earlier attempt can have left it ambiguous, and
/// the sweeper's deadline is far off; the lease (a write, and the read of the message) is
/// skipped. Any later receive, an old job or a comment reply takes the lease.
pub fn fresh_copy(job: &OutboundJob, receives: u32, now: i64) -> Option<Message> {
    let m = job.message.as_deref()?;
    let fresh = receives <= 1
        && job.context.is_some()
        && m.comment_id.is_none()
        && m.status == MessageStatus::Queued
        && now.saturating_sub(m.created_at) < FRESH_MS;
    fresh.then(|| {
        let mut m = m.clone();
        m.place_in_feed_at_creation();
        m
    })
}

/// Exponential backoff in seconds from the receive count: 1, 2, 4, … capped at 5 minutes.
pub fn backoff(receives: u32) -> i32 {
    1i32.checked_shl(receives.saturating_sub(1))
        .unwrap_or(300)
        .clamp(1, 300)
}

/// What one Send API call carries.
#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    Attachment { kind: String, url: String },
    Text(String),
}

/// Attachments first, then the text (Messenger takes one of them per call); quick replies ride
/// on the last part.
pub fn parts(m: &Message) -> Vec<Part> {
    let mut out: Vec<Part> = m
        .attachments
        .iter()
        .filter_map(|a| {
            Some(Part::Attachment {
                kind: a.kind.clone(),
                url: a.url.clone()?,
            })
        })
        .collect();
    if let Some(t) = m.text.as_ref().filter(|t| !t.trim().is_empty()) {
        out.push(Part::Text(t.clone()));
    }
    out
}

/// The id Graph gives what it sent; without one we cannot tell what happened.
pub(crate) fn sent_id(resp: &Value, field: &str) -> Option<String> {
    resp.get(field)
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty())
        .map(str::to_owned)
}

/// Our ids in `metadata`, so the echo of a send finds its message.
pub fn metadata(conv_id: &str, message: MessageRef, part: usize) -> String {
    EchoMetadata {
        conversation_id: conv_id.to_owned(),
        message,
        part,
    }
    .to_string()
}

pub fn send_body(conv: &SendTarget, m: &Message, i: usize, part: &Part, kind: SendType) -> Value {
    let mut message = match part {
        Part::Text(t) => json!({"text": t}),
        Part::Attachment { kind, url } => {
            json!({"attachment": {"type": kind, "payload": {"url": url, "is_reusable": true}}})
        }
    };
    message["metadata"] = json!(metadata(&conv.conversation_id, m.reference(), i));
    let last = i + 1 == parts(m).len();
    if last && let Some(Value::Array(q)) = &m.quick_replies {
        let qr: Vec<Value> = q
            .iter()
            .map(|r| json!({"content_type": "text", "title": r["title"], "payload": r["payload"]}))
            .collect();
        message["quick_replies"] = Value::Array(qr);
    }
    let mut body = json!({"recipient": {"id": conv.recipient}, "message": message});
    match kind {
        SendType::Response => body["messaging_type"] = json!("RESPONSE"),
        SendType::HumanAgent => {
            body["messaging_type"] = json!("MESSAGE_TAG");
            body["tag"] = json!("HUMAN_AGENT");
        }
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use pagedesk_shared::domain::Attachment;

    #[test]
    fn only_a_fresh_jobs_first_receive_sends_from_its_copy() {
        let mut conv = pagedesk_shared::store::ConversationItem::new_open(
            "acct",
            "cv_1",
            "P",
            pagedesk_shared::domain::Channel::Messenger,
            1,
        );
        conv.facebook_id = "PSID".into();
        let m = Message {
            id: "ms_1".into(),
            created_at: 1_000_000,
            text: Some("hi".into()),
            status: MessageStatus::Queued,
            ..Default::default()
        }
        .placed("acct", "cv_1");
        let job = OutboundJob::send_in(&m, &conv, Some(false));
        let at = m.created_at + 500;
        let copy = fresh_copy(&job, 1, at).expect("fresh");
        assert_eq!(copy.text.as_deref(), Some("hi"));
        // The fold is decided from the time the API took.
        use pagedesk_shared::store::{FOLD_MS, folds_into_feed};
        let place = copy.feed_place.as_ref();
        assert!(folds_into_feed(place, m.created_at + FOLD_MS));
        assert!(!folds_into_feed(place, m.created_at + FOLD_MS + 1));
        assert!(!folds_into_feed(place, m.created_at - 1));
        assert!(fresh_copy(&job, 2, at).is_none(), "a later receive");
        assert!(
            fresh_copy(&job, 1, m.created_at + FRESH_MS).is_none(),
            "an old job"
        );
        assert!(
            fresh_copy(&OutboundJob::send(&m), 1, at).is_none(),
            "no copy"
        );
        let comment = Message {
            comment_id: Some("c1".into()),
            ..m.clone()
        };
        let job = OutboundJob::send_in(&comment, &conv, Some(false));
        assert!(fresh_copy(&job, 1, at).is_none(), "a comment reply");
    }

    #[test]
    fn backoff_grows_and_caps() {
        assert_eq!(
            (backoff(1), backoff(2), backoff(3), backoff(9), backoff(40)),
            (1, 2, 4, 256, 300)
        );
    }

    #[test]
    fn bodies_for_text_attachments_quick_replies_and_tags() {
        let conv = SendTarget {
            conversation_id: "cv_1".into(),
            page_id: "P".into(),
            recipient: "PSID".into(),
            channel: pagedesk_shared::domain::Channel::Messenger,
            last_inbound_at: None,
        };
        let m = Message {
            id: "ms_1".into(),
            created_at: 1,
            text: Some("hello".into()),
            attachments: vec![Attachment {
                kind: "image".into(),
                url: Some("https://x/a.png".into()),
                title: None,
                sticker_id: None,
                coordinates: None,
                payload: None,
                ..Default::default()
            }],
            quick_replies: Some(json!([{"title": "Yes", "payload": "Y"}])),
            ..Default::default()
        }
        .placed("acct", "cv_1");
        let p = parts(&m);
        assert_eq!(p.len(), 2);
        let first = send_body(&conv, &m, 0, &p[0], SendType::Response);
        assert_eq!(
            first["message"]["attachment"]["payload"]["url"],
            "https://x/a.png"
        );
        assert!(first["message"].get("quick_replies").is_none());
        assert_eq!(first["messaging_type"], "RESPONSE");
        assert!(first.get("tag").is_none());
        let second = send_body(&conv, &m, 1, &p[1], SendType::HumanAgent);
        assert_eq!(second["message"]["text"], "hello");
        assert_eq!(
            second["message"]["quick_replies"][0]["content_type"],
            "text"
        );
        assert_eq!(
            second["message"]["metadata"],
            "pd1:cv_1:MSG#0000000000001#ms_1:1"
        );
        assert_eq!(
            (second["messaging_type"].as_str(), second["tag"].as_str()),
            (Some("MESSAGE_TAG"), Some("HUMAN_AGENT"))
        );
        assert_eq!(second["recipient"]["id"], "PSID");
    }
}
