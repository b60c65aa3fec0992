//! Splitting one webhook POST body into single events for the inbound queue.
//!
//! The webhook does no domain work: it keeps each item of `messaging[]`, `standby[]` and
//! `changes[]` as Meta sent it and adds only what the queue needs (FIFO group and dedupe id).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Where in the entry an event came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    Messaging,
    Standby,
    Changes,
}

impl Field {
    const ALL: [Field; 3] = [Field::Messaging, Field::Standby, Field::Changes];

    fn key(self) -> &'static str {
        match self {
            Field::Messaging => "messaging",
            Field::Standby => "standby",
            Field::Changes => "changes",
        }
    }
}

/// The inbound queue's message body: the contract between `webhook` and `router`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct InboundEvent {
    /// Body format version, so a router can refuse what it does not know.
    pub v: u32,
    /// `page` or `instagram`.
    pub object: String,
    /// The entry's id: the Page (or IG account) the event belongs to.
    pub page_id: String,
    pub field: Field,
    /// `entry[].time` as sent (ms for messaging, s for feed/leadgen).
    #[serde(default)]
    pub entry_time: Option<i64>,
    /// When the webhook received the POST (ms), for end-to-end latency.
    pub received_at: i64,
    /// The item exactly as Meta sent it (null when `spilled`).
    pub event: Value,
    /// Set when the event was too large for the queue: the S3 key of this whole body
    /// (`spill`), which the router reads instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spilled: Option<String>,
    /// How many times the router already put this event off because what it refers to had
    /// not arrived (`0` from the webhook).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub deferrals: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// An event ready for SendMessageBatch.
#[derive(Debug, Clone)]
pub struct QueuedEvent {
    pub group_id: String,
    pub dedupe_id: String,
    pub body: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SplitError {
    #[error("body is not JSON: {0}")]
    NotJson(String),
    #[error("body is not a webhook envelope: {0}")]
    NotEnvelope(&'static str),
}

/// Splits a verified webhook body into queue messages. Entries or items that are not objects
/// are skipped (and counted) rather than failing the whole batch.
pub fn split(raw_body: &[u8], received_at: i64) -> Result<Split, SplitError> {
    let root: Value =
        serde_json::from_slice(raw_body).map_err(|e| SplitError::NotJson(e.to_string()))?;
    let obj = root
        .as_object()
        .ok_or(SplitError::NotEnvelope("top level is not an object"))?;
    let entries = obj
        .get("entry")
        .and_then(Value::as_array)
        .ok_or(SplitError::NotEnvelope("no entry array"))?;
    let object = obj
        .get("object")
        .and_then(Value::as_str)
        .unwrap_or("page")
        .to_owned();

    let mut out = Split::default();
    for entry in entries {
        let Some(page_id) = entry.get("id").and_then(id_string) else {
            out.skipped += 1;
            continue;
        };
        let entry_time = entry.get("time").and_then(Value::as_i64);
        for field in Field::ALL {
            let Some(items) = entry.get(field.key()).and_then(Value::as_array) else {
                continue;
            };
            for item in items {
                if !item.is_object() {
                    out.skipped += 1;
                    continue;
                }
                let ev = InboundEvent {
                    v: 1,
                    object: object.clone(),
                    page_id: page_id.clone(),
                    field,
                    entry_time,
                    received_at,
                    event: item.clone(),
                    spilled: None,
                    deferrals: 0,
                };
                out.events.push(queued(ev));
            }
        }
        // Instagram's documented comment shape puts field/value directly under the entry.
        if entry.get("field").is_some() && entry.get("value").is_some() {
            let item = serde_json::json!({"field": entry["field"], "value": entry["value"]});
            out.events.push(queued(InboundEvent {
                v: 1,
                object: object.clone(),
                page_id: page_id.clone(),
                field: Field::Changes,
                entry_time,
                received_at,
                event: item,
                spilled: None,
                deferrals: 0,
            }));
        }
    }
    Ok(out)
}

impl QueuedEvent {
    /// The queue body that points at this event's copy under `key` in place of the event.
    pub fn pointer(&self, key: &str) -> Result<String, serde_json::Error> {
        let mut ev: InboundEvent = serde_json::from_str(&self.body)?;
        ev.event = Value::Null;
        ev.spilled = Some(key.to_owned());
        serde_json::to_string(&ev)
    }
}

#[derive(Debug, Default)]
pub struct Split {
    pub events: Vec<QueuedEvent>,
    /// Entries or items that could not be queued because they are not objects or lack an id.
    pub skipped: usize,
}

fn queued(ev: InboundEvent) -> QueuedEvent {
    let group_id = group_id(&ev);
    // serde_json's Map is ordered by key, so this serialisation is canonical: the same event
    // redelivered by Meta gets the same id and SQS drops the copy within its 5-minute window.
    let canonical = serde_json::to_string(&ev.event).unwrap_or_default();
    let mut h = Sha256::new();
    h.update(ev.page_id.as_bytes());
    h.update(b"|");
    h.update(ev.field_key().as_bytes());
    h.update(b"|");
    h.update(canonical.as_bytes());
    let dedupe_id = hex::encode(h.finalize());
    let body = serde_json::to_string(&ev).unwrap_or_default();
    QueuedEvent {
        group_id,
        dedupe_id,
        body,
    }
}

impl InboundEvent {
    fn field_key(&self) -> &'static str {
        self.field.key()
    }

    /// The person's id in a messaging event: whichever of sender/recipient is not the Page.
    pub fn messaging_user(&self) -> Option<String> {
        let sender = self.event.pointer("/sender/id").and_then(id_string);
        let recipient = self.event.pointer("/recipient/id").and_then(id_string);
        match (sender, recipient) {
            (Some(s), Some(r)) if s == self.page_id => Some(r),
            (Some(s), _) => Some(s),
            (None, Some(r)) if r != self.page_id => Some(r),
            _ => self.event.pointer("/sender/user_ref").and_then(id_string),
        }
    }
}

/// FIFO group: one person's thread with a Page, or one post's comments, so that events of a
/// thread are handled in order while different threads run in parallel.
pub fn group_id(ev: &InboundEvent) -> String {
    let key = match ev.field {
        Field::Messaging | Field::Standby => match ev.messaging_user() {
            Some(u) => format!("{}:u:{}", ev.page_id, u),
            None => format!("{}:page", ev.page_id),
        },
        Field::Changes => {
            let value = ev.event.get("value");
            let field = ev.event.get("field").and_then(Value::as_str).unwrap_or("");
            // A Page post's comments, or an Instagram media item's (`media.id`), in order.
            let post = value
                .and_then(|v| v.get("post_id").or_else(|| v.pointer("/media/id")))
                .and_then(id_string);
            let lead = value.and_then(|v| v.get("leadgen_id")).and_then(id_string);
            match (field, post, lead) {
                ("leadgen", _, Some(l)) => format!("{}:lead:{}", ev.page_id, l),
                (_, Some(p), _) => format!("{}:post:{}", ev.page_id, p),
                _ => format!(
                    "{}:{}",
                    ev.page_id,
                    if field.is_empty() { "changes" } else { field }
                ),
            }
        }
    };
    sanitize_group(&key)
}

/// SQS allows 1–128 characters of alphanumerics and punctuation in a group id.
fn sanitize_group(s: &str) -> String {
    let cleaned: String = s
        .chars()
        .map(|c| if c.is_ascii_graphic() { c } else { '_' })
        .collect();
    if cleaned.len() <= 128 {
        cleaned
    } else {
        let mut h = Sha256::new();
        h.update(cleaned.as_bytes());
        format!("h:{}", hex::encode(h.finalize()))
    }
}

/// Meta sends ids as strings in live payloads and as numbers in some documented samples.
pub fn id_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RAW: &[u8] = include_bytes!("../../../fixtures/meta/signature_vector_raw_body.json");

    #[test]
    fn two_pages_in_one_batch_become_two_events_with_their_own_groups() {
        let s = split(RAW, 1).unwrap();
        assert_eq!(s.events.len(), 2);
        assert_eq!(s.events[0].group_id, "1895382890692545:u:1412611362105802");
        assert_eq!(s.events[1].group_id, "189538289069256:u:1412611362105802");
        assert_ne!(s.events[0].dedupe_id, s.events[1].dedupe_id);
        let ev: InboundEvent = serde_json::from_str(&s.events[0].body).unwrap();
        assert_eq!(ev.page_id, "1895382890692545");
        assert_eq!(ev.event["message"]["text"], "test 1");
    }

    #[test]
    fn same_event_gets_same_dedupe_id_whatever_the_received_time() {
        let a = split(RAW, 1).unwrap();
        let b = split(RAW, 99).unwrap();
        assert_eq!(a.events[0].dedupe_id, b.events[0].dedupe_id);
    }

    #[test]
    fn numeric_ids_leadgen_and_feed_groups() {
        let body = br#"{"object":"page","entry":[{"id":153125381133,"time":1438292065,"changes":[
            {"field":"leadgen","value":{"leadgen_id":123123123123,"page_id":123123123}},
            {"field":"feed","value":{"item":"comment","post_id":"1_2","comment_id":"2_3"}},
            {"field":"feed","value":{"item":"like","verb":"add"}}]}]}"#;
        let s = split(body, 0).unwrap();
        let groups: Vec<_> = s.events.iter().map(|e| e.group_id.as_str()).collect();
        assert_eq!(
            groups,
            [
                "153125381133:lead:123123123123",
                "153125381133:post:1_2",
                "153125381133:feed"
            ]
        );
    }

    #[test]
    fn messaging_standby_and_changes_are_all_events_and_junk_is_skipped() {
        let body = br#"{"object":"page","entry":[
            {"id":"P","messaging":[{"sender":{"id":"U"},"recipient":{"id":"P"}}, 5],
             "standby":[{"sender":{"id":"P"},"recipient":{"id":"U2"}}]},
            {"time":1},
            "junk"]}"#;
        let s = split(body, 0).unwrap();
        assert_eq!(s.events.len(), 2);
        assert_eq!(
            s.events[1].group_id, "P:u:U2",
            "echo-like events group by the person"
        );
        assert_eq!(s.skipped, 3);
    }

    #[test]
    fn malformed_bodies_are_errors() {
        assert!(matches!(
            split(b"{not json", 0),
            Err(SplitError::NotJson(_))
        ));
        assert!(matches!(split(b"[1]", 0), Err(SplitError::NotEnvelope(_))));
        assert!(matches!(
            split(b"{\"object\":\"page\"}", 0),
            Err(SplitError::NotEnvelope(_))
        ));
    }
}
