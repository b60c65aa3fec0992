//! Stored items as the API shows them (DESIGN.md "Agent API").

use crate::clock::rfc3339;
use crate::domain::window::{WindowState, window_at};
use crate::domain::{Direction, MessageStatus, ReplyRoute};
use crate::store::{AgentItem, ContactItem, ConversationItem, Message, PageItem, Watermarks};
use serde_json::{Value, json};

fn time(ms: Option<i64>) -> Value {
    ms.map_or(Value::Null, |m| Value::String(rfc3339(m)))
}

/// An events-feed entry as `GET /events` lists it (and an outgoing webhook delivers it).
pub fn feed_event(e: &crate::store::EventItem) -> Value {
    json!({
        "id": e.public_id(),
        "type": e.kind,
        "conversation_id": e.conversation_id,
        "data": e.data,
        "created_at": crate::clock::rfc3339(e.created_at),
    })
}

pub fn conversation(c: &ConversationItem, human_agent_enabled: bool, now: i64) -> Value {
    json!({
        "id": c.id,
        "page_id": c.page_id,
        "channel": c.channel,
        "status": c.status,
        "assignee": c.assignee,
        "labels": c.labels,
        "contact": {"id": c.contact_id, "name": c.contact_name, "picture_url": c.contact_picture_url, "erased": c.contact_erased},
        "post_id": c.post_id,
        "subject": c.subject,
        "last_message_at": time(c.last_message_at),
        "last_message": c.last_message,
        "last_inbound_at": time(c.last_inbound_at),
        "window": window_view(c, human_agent_enabled, now),
        "csat": c.csat,
        "routing_rule": c.routing_rule,
        "ai_agent_active": c.ai_agent_active,
        "previous_conversation_id": c.previous_conversation_id,
        "resolved_by": c.resolved_by,
        "snoozed_until": time(c.snoozed_until),
        "created_at": rfc3339(c.created_at),
        "updated_at": rfc3339(c.updated_at),
    })
}

/// Comments have no messaging window: public replies are always possible (private ones per
/// comment, within 7 days). Leads have no Messenger thread to reply in.
fn window_view(c: &ConversationItem, human_agent_enabled: bool, now: i64) -> Value {
    if c.channel.reply_route() == ReplyRoute::CommentReply {
        return json!({"state": WindowState::Open, "closes_at": null, "human_agent_until": null});
    }
    let w = window_at(c.last_inbound_at, human_agent_enabled, now);
    json!({
        "state": w.state,
        "closes_at": time(w.closes_at),
        "human_agent_until": time(w.human_agent_until),
    })
}

/// An outbound message Meta confirmed as sent moves to delivered/read when the person's
/// receipt watermark passes its send time.
fn status(m: &Message, w: Watermarks) -> MessageStatus {
    if m.direction == Direction::Out && m.status == MessageStatus::Sent {
        let at = m.sent_at.unwrap_or(m.created_at);
        if w.read.is_some_and(|w| w >= at) {
            return MessageStatus::Read;
        }
        if w.delivered.is_some_and(|w| w >= at) {
            return MessageStatus::Delivered;
        }
    }
    m.status
}

/// A message; `w` are the thread's watermarks (none for a message that cannot have been sent).
pub fn message(m: &Message, w: Watermarks) -> Value {
    message_with(m, w, &std::collections::HashMap::new())
}

/// An attachment as the API shows it: `url` is where to fetch it now (a presigned URL of our
/// copy from `links`, keyed by object key, when there is one; else Meta's URL), `source_url`
/// Meta's original.
pub fn attachment(
    a: &crate::domain::Attachment,
    links: &std::collections::HashMap<String, String>,
) -> Value {
    let ours = a
        .key
        .as_ref()
        .filter(|_| a.stored == Some(true))
        .and_then(|k| links.get(k));
    let mut v = json!({
        "type": a.kind,
        "url": ours.or(a.url.as_ref()),
        "source_url": a.url,
        "stored": a.stored.unwrap_or(false),
        "content_type": a.content_type,
        "size": a.size,
    });
    let extra = [
        ("title", a.title.clone().map(Value::String)),
        ("sticker_id", a.sticker_id.clone().map(Value::String)),
        ("coordinates", a.coordinates.clone()),
        ("payload", a.payload.clone()),
        ("store_error", a.store_error.clone().map(Value::String)),
        ("upload_id", a.upload_id.clone().map(Value::String)),
    ];
    for (k, val) in extra {
        if let Some(val) = val {
            v[k] = val;
        }
    }
    v
}

/// The object keys of a message's stored attachments, for presigning.
pub fn stored_keys(m: &Message) -> impl Iterator<Item = &str> {
    m.attachments
        .iter()
        .filter(|a| a.stored == Some(true))
        .filter_map(|a| a.key.as_deref())
}

pub fn message_with(
    m: &Message,
    w: Watermarks,
    links: &std::collections::HashMap<String, String>,
) -> Value {
    let attachments: Vec<Value> = m.attachments.iter().map(|a| attachment(a, links)).collect();
    json!({
        "id": m.id,
        "conversation_id": m.conversation_id,
        "direction": m.direction,
        "author": {"type": m.author_type, "id": m.author_id},
        "text": m.text,
        "attachments": attachments,
        "status": status(m, w),
        "error": m.error,
        "external_id": m.external_id,
        "private": m.private,
        "quick_reply_payload": m.quick_reply_payload,
        "reply_to": m.reply_to_mid,
        "story": m.story,
        "postback": m.postback,
        "referral": m.referral,
        "reaction": m.reaction,
        "page_reaction": m.page_reaction,
        "edited_at": time(m.edited_at),
        "standby": m.standby,
        "context": m.history_copy,
        "kind": m.kind,
        "comment_id": m.comment_id,
        "removed_at": time(m.removed_at),
        "lead": m.lead,
        "erased": m.erased,
        "imported": m.imported,
        "created_at": rfc3339(m.created_at),
    })
}

pub fn contact(c: &ContactItem) -> Value {
    json!({
        "id": c.id,
        "page_id": c.page_id,
        "facebook_id": c.facebook_id,
        "name": c.name,
        "first_name": c.first_name,
        "last_name": c.last_name,
        "picture_url": c.picture_url,
        "username": c.username,
        "profile_status": c.profile_status,
        "email": c.email,
        "phone": c.phone,
        "active_conversation_id": c.active_conversation_id,
        "erased": c.erased,
        "created_at": rfc3339(c.created_at),
        "updated_at": rfc3339(c.updated_at),
    })
}

pub fn page(p: &PageItem) -> Value {
    json!({
        "page_id": p.page_id,
        "name": p.name,
        "status": p.status,
        "status_reason": p.status_reason,
        "channels": p.channels,
        "instagram": p.instagram,
        "subscribed_fields": p.subscribed_fields,
        "connected_by": p.connected_by,
        "connected_at": time(p.connected_at),
        "sharing": match &p.private_to {
            Some(admin) => json!({"mode": "only_me", "admin": admin}),
            None => json!({"mode": "shared"}),
        },
        "last_check_at": time(p.last_check_at),
        "last_check": p.last_check,
        "import": p.import.as_ref().map(|i| json!({
            "status": i.status,
            "days": i.days,
            "assign": i.assign,
            "conversations": i.conversations,
            "messages": i.messages,
            "started_at": rfc3339(i.started_at),
            "finished_at": time(i.finished_at),
            "error": i.error,
        })),
        "created_at": rfc3339(p.created_at),
        "updated_at": rfc3339(p.updated_at),
    })
}

pub fn agent(a: &AgentItem) -> Value {
    json!({
        "id": a.id,
        "name": a.name,
        "status": a.status.unwrap_or_default(),
        "max_concurrent": a.max_concurrent,
        "open_conversations": a.load.max(0),
        "last_assigned_at": time(a.last_assigned_at),
        "pages": a.pages,
    })
}
