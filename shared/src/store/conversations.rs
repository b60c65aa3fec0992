//! Conversations: created with their first message in one transaction (resolving and reopening
//! are in `lifecycle.rs`, snoozing in `snooze.rs`, listing in `conversation_list.rs`).
//! A conversation hangs from its owner while open: the contact (Messenger), the post (comments)
//! or the lead marker (leads), see `posts.rs`.

use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::update::UpdateExpr;
use super::*;
use crate::domain::{Channel, ConversationStatus, EventType};
use crate::{Error, Result};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct ConversationItem {
    pub(in crate::store) pk: String,
    pub(in crate::store) sk: String,
    /// The list index: partition by status, sorted by last activity.
    pub(in crate::store) gsi2pk: String,
    pub(in crate::store) gsi2sk: String,
    pub account: String,
    pub id: String,
    pub page_id: String,
    pub channel: Channel,
    pub status: ConversationStatus,
    pub assignee: Option<String>,
    /// The team's labels (a string set written only by `set_labels` and `add_labels`, never
    /// from here, so no other write of the conversation can lose them).
    #[serde(default, skip_serializing)]
    pub labels: std::collections::BTreeSet<String>,
    pub contact_id: String,
    /// The person's Page-scoped id, the Send API recipient.
    pub facebook_id: String,
    pub contact_name: Option<String>,
    pub contact_picture_url: Option<String>,
    pub post_id: Option<String>,
    pub subject: Option<String>,
    pub last_message_at: Option<i64>,
    /// Meta's time of the message that opened the conversation. A Messenger message older
    /// than this may be a redelivery of one stored in the previous conversation.
    pub first_message_at: Option<i64>,
    /// The latest Meta time of a message read from the Page's history. Graph gives those to
    /// the second, webhooks to the millisecond, so a webhook message up to a second later may
    /// be one of them under another key: only then is the mid searched for.
    pub imported_until: Option<i64>,
    pub last_inbound_at: Option<i64>,
    pub last_activity_at: i64,
    pub previous_conversation_id: Option<String>,
    pub csat: Option<Value>,
    pub created_at: i64,
    pub updated_at: i64,
    pub resolved_at: Option<i64>,
    /// Who resolved it: `agent` (a person), `ai_agent`, or `auto` (the scheduler, after
    /// `auto_resolve_hours` without an answer).
    #[serde(default)]
    pub resolved_by: Option<String>,
    /// While `snoozed`: when it opens again (its `SNOOZE` timer row holds the same moment).
    #[serde(default)]
    pub snoozed_until: Option<i64>,
    // ---- window schedule (sparse GSI `due`) ----
    pub(in crate::store) duepk: Option<String>,
    pub(in crate::store) duesk: Option<String>,
    /// The last inbound time the handled marks refer to.
    pub window_epoch: Option<i64>,
    /// Window marks already handled for `window_epoch` (a string set).
    #[serde(default)]
    pub window_marks: Vec<String>,
    /// The item under `ACC#<a>` that points at this conversation while it is open: the
    /// contact for Messenger and leads, the post for comments. Absent means the contact.
    pub(in crate::store) owner_sk: Option<String>,
    // ---- routing and automation ----
    /// The routing rule that placed the conversation (its removal policy applies to it).
    pub routing_rule: Option<String>,
    /// With the AI agent: it receives the person's messages until it hands off.
    #[serde(default)]
    /// Stored as `bot_active` (its name before "AI agent" was the product's word).
    #[serde(rename = "bot_active")]
    pub ai_agent_active: bool,
    /// The closed period (its end) the away message was sent for.
    pub away_period: Option<i64>,
    pub last_agent_reply_at: Option<i64>,
    pub csat_requested_at: Option<i64>,
    /// Who the survey rates: the assignee when it was resolved.
    pub csat_agent: Option<String>,
    /// The contact was erased: name and picture are gone.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub contact_erased: bool,
    /// What the inbox shows under the contact's name, kept with the conversation so that a
    /// list needs no read per row.
    pub last_message: Option<LastMessage>,
}

/// A conversation's latest message, shortened for lists.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct LastMessage {
    pub direction: crate::domain::Direction,
    pub author_type: crate::domain::AuthorType,
    /// The first `LastMessage::TEXT_CHARS` characters.
    pub text: Option<String>,
    /// The first attachment's type, for a message without text ("image", "file", …).
    pub attachment: Option<String>,
}

impl LastMessage {
    pub const TEXT_CHARS: usize = 100;

    pub fn of(m: &Message) -> Self {
        LastMessage {
            direction: m.direction,
            author_type: m.author_type,
            text: m
                .text
                .as_deref()
                .map(|t| t.chars().take(Self::TEXT_CHARS).collect()),
            attachment: m.attachments.first().map(|a| a.kind.clone()),
        }
    }

    /// The value `SET last_message = :lm` writes.
    pub(super) fn attribute(m: &Message) -> Result<AttributeValue> {
        serde_dynamo::to_attribute_value(Self::of(m)).map_err(|e| Error::Corrupt(e.to_string()))
    }
}

impl ConversationItem {
    /// With the AI agent: it answers here until it hands off or a person takes over.
    pub fn with_ai_agent(&self) -> bool {
        self.ai_agent_active && self.assignee.is_none()
    }

    /// A new open, unassigned conversation of `account` on `page_id`; the caller fills in who
    /// and what it is about.
    pub fn new_open(account: &str, id: &str, page_id: &str, channel: Channel, now: i64) -> Self {
        ConversationItem {
            pk: keys::conversation(account, id),
            sk: keys::META.into(),
            gsi2pk: keys::conversations_by_status(account, ConversationStatus::Open),
            account: account.to_owned(),
            id: id.to_owned(),
            page_id: page_id.to_owned(),
            channel,
            status: ConversationStatus::Open,
            created_at: now,
            updated_at: now,
            last_activity_at: now,
            ..Default::default()
        }
    }
}

/// The item a conversation hangs from while it is open, other than its contact: the post of a
/// comment conversation, the marker of a lead. Opaque: only the store makes and reads one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnchorRef(pub(super) String);

impl ConversationItem {
    /// The item under `ACC#<a>` that points at this conversation while it is open.
    pub(super) fn owner_sk(&self) -> String {
        self.owner_sk
            .clone()
            .unwrap_or_else(|| super::keys::contact_sk(&self.contact_id))
    }

    /// Where the conversation sits in the lists: its last activity, as the list index holds
    /// it (the time the newest message's write gave it).
    pub fn listed_at(&self) -> Option<i64> {
        keys::time_prefix(&self.gsi2sk)
    }

    /// When the scheduler next looks at the conversation's window (its entry in the `due`
    /// index), if it is scheduled.
    pub fn window_check_at(&self) -> Option<i64> {
        self.duesk.as_deref().and_then(keys::time_prefix)
    }

    /// Makes the conversation hang from `anchor` instead of its contact.
    pub fn hang_from(&mut self, anchor: AnchorRef) {
        self.owner_sk = Some(anchor.0);
    }
}

/// How a new message moves its conversation.
#[derive(Debug, Clone, Copy)]
pub struct Touch {
    pub at: i64,
    /// The person wrote: the messaging window restarts.
    pub inbound: bool,
    /// Only into an active conversation (open, or snoozed). A new message of the person needs
    /// it open: a snoozed one is refused with `AppendOutcome::Snoozed`, for the caller to wake
    /// it (with its `conversation.unsnoozed` event, once) and append again, so the steady path
    /// stays one conditional write.
    pub require_active: bool,
    pub now: i64,
}

impl Touch {
    /// The person's own new message (not history read from Meta) wakes a snoozed conversation.
    pub fn wakes(&self, msg: &Message) -> bool {
        self.inbound && !msg.imported
    }

    /// The statuses the conversation may have for `msg` to go in.
    pub(in crate::store) fn statuses(&self, msg: &Message) -> &'static [ConversationStatus] {
        if self.wakes(msg) {
            &[ConversationStatus::Open]
        } else {
            ConversationStatus::ACTIVE
        }
    }
}

/// The message a new conversation is created with.
pub struct FirstMessage<'a> {
    pub msg: &'a Message,
    pub mid: Option<&'a str>,
    pub touch: Touch,
    pub events: &'a [EventItem],
    /// Entries stored before it in the same transaction (the post a comment conversation is
    /// about).
    pub preface: &'a [Message],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateOutcome {
    Created,
    /// The first message's mid was stored before: nothing was created.
    Duplicate,
    /// The contact's active conversation changed meanwhile: read it again.
    ContactChanged,
}

/// What every new message sets on its conversation: it moves in the list index (`gsi2sk`) and
/// shows as the row's preview. `at` is the message's time.
pub(super) fn touch(u: &mut UpdateExpr, msg: &Message, at: i64, now: i64) -> Result<()> {
    u.set("last_message_at = :t")
        .set("last_activity_at = :t")
        .set("gsi2sk = :a")
        .set("updated_at = :u")
        .set("last_message = :lm")
        .value(":t", n(at))
        .value(":a", s(keys::activity_sk(at, &msg.conversation_id)))
        .value(":u", n(now))
        .value(":lm", LastMessage::attribute(msg)?);
    Ok(())
}

/// What an inbound message adds: a new window. The scheduler's entry is moved lazily: one that
/// is already there stays (it fires early, and the scheduler moves it to the new window's first
/// mark), so a chat does not rewrite the `due` index on every message.
pub(super) fn open_window(u: &mut UpdateExpr, touch: &Touch, account: &str, conv: &str) {
    let (dp, ds) = first_due_keys(touch, account, conv);
    u.set("last_inbound_at = :t")
        .set("window_epoch = :t")
        .set("duepk = if_not_exists(duepk, :dp)")
        .set("duesk = if_not_exists(duesk, :ds)")
        .remove("window_marks")
        .value(":t", n(touch.at))
        .value(":dp", s(dp))
        .value(":ds", s(ds));
}

/// When the first window mark of a window opened at `at` falls due (never in the past).
fn first_due(touch: &Touch) -> i64 {
    crate::domain::window::marks(&crate::domain::window::DEFAULT_WARNINGS_MIN, false)
        .first()
        .map_or(touch.at + crate::domain::window::STANDARD_MS, |m| {
            m.at(touch.at)
        })
        // A message that arrives late (or an old one replayed) is due now, not in a minute the
        // scheduler has already passed.
        .max(touch.now)
}

/// The scheduler's entry (`duepk`, `duesk`) a window opened by `touch` starts with, for
/// conversation `c` of account `a` (what `open_window` sets when none is there).
pub(super) fn first_due_keys(touch: &Touch, a: &str, c: &str) -> (String, String) {
    let due = first_due(touch);
    (keys::due_pk(due), keys::due_sk(due, a, c))
}

/// A new conversation item as `append_message`'s update would leave it.
fn apply_touch(c: &mut ConversationItem, t: &Touch, msg: &Message) {
    c.last_message = Some(LastMessage::of(msg));
    c.gsi2sk = keys::activity_sk(t.at, &c.id);
    c.first_message_at.get_or_insert(t.at);
    if msg.imported {
        c.imported_until = Some(t.at);
    }
    c.last_message_at = Some(t.at);
    c.last_activity_at = t.at;
    c.updated_at = t.now;
    if t.inbound {
        let (dp, ds) = first_due_keys(t, &c.account, &c.id);
        c.last_inbound_at = Some(t.at);
        c.window_epoch = Some(t.at);
        c.duepk = Some(dp);
        c.duesk = Some(ds);
        c.window_marks.clear();
    }
}

impl Store {
    pub async fn get_conversation(
        &self,
        account: &str,
        id: &str,
    ) -> Result<Option<ConversationItem>> {
        self.get(keys::conversation(account, id), keys::META.into(), true)
            .await
    }

    /// Creates a conversation, makes it the contact's active one and (usually) stores its
    /// first message, all in one transaction: nobody sees a conversation without the message
    /// that opened it, and a redelivered event cannot open a second one. `replaces` is the stale
    /// active id the caller saw (a conversation that is no longer open).
    pub async fn create_conversation(
        &self,
        conv: &ConversationItem,
        replaces: Option<&str>,
        now: i64,
        first: Option<FirstMessage<'_>>,
    ) -> Result<CreateOutcome> {
        let mut conv = conv.clone();
        if let Some(f) = &first {
            apply_touch(&mut conv, &f.touch, f.msg);
        } else {
            conv.gsi2sk = keys::activity_sk(conv.last_activity_at.max(now), &conv.id);
            conv.last_activity_at = conv.last_activity_at.max(now);
        }
        let created = EventItem::new(
            &conv.account,
            EventType::ConversationCreated,
            Some(&conv.id),
            serde_json::json!({"page_id": conv.page_id, "channel": conv.channel}),
            now,
        );
        let put = self.put_new(&conv)?;
        let mut upd = Update::builder()
            .table_name(&self.table)
            .key("pk", s(keys::account(&conv.account)))
            .key("sk", s(conv.owner_sk()))
            .update_expression(
                "SET active_conversation_id = :c, last_conversation_id = :c, updated_at = :u",
            )
            .expression_attribute_values(":c", s(&conv.id))
            .expression_attribute_values(":u", n(now));
        upd = match replaces {
            Some(old) => upd
                .condition_expression("active_conversation_id = :old")
                .expression_attribute_values(":old", s(old)),
            None => upd.condition_expression(
                "attribute_exists(pk) AND attribute_not_exists(active_conversation_id)",
            ),
        };
        let upd = upd
            .build()
            .map_err(|e| Error::dynamo("TransactWriteItems", e))?;
        let mut items = vec![
            put,
            TransactWriteItem::builder().update(upd).build(),
            created.put(&self.table)?,
        ];
        let mut guard_index = None;
        if let Some(f) = &first {
            if let Some(mid) = f.mid {
                guard_index = Some(items.len());
                items.push(self.mid_guard_put(f.msg, mid)?);
            }
            items.push(self.put_new(f.msg)?);
            for e in f.events {
                items.push(e.put(&self.table)?);
            }
            for m in f.preface {
                items.push(
                    TransactWriteItem::builder()
                        .put(
                            Put::builder()
                                .table_name(&self.table)
                                .set_item(Some(to_item(m)?))
                                .build()
                                .map_err(|e| Error::dynamo("TransactWriteItems", e))?,
                        )
                        .build(),
                );
            }
        }
        Ok(match self.transact(items).await? {
            None => CreateOutcome::Created,
            Some(c) if guard_index.is_some_and(|i| c.get(i) == Some(&true)) => {
                CreateOutcome::Duplicate
            }
            Some(_) => CreateOutcome::ContactChanged,
        })
    }
}
