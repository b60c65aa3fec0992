//! Messages of a conversation, oldest first by key. A message with a Meta id (mid) has a guard
//! item that makes the mid unique in the account: the dedupe of redelivered webhooks.

use crate::store::MessageRef;
use aws_sdk_dynamodb::types::TransactWriteItem;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::*;
use crate::domain::{
    Attachment, AuthorType, Direction, MessageError, MessageKind, MessageStatus, SendType,
};
use crate::{Error, Result};

/// A message as pagedesk handles it. It carries no keys: the store derives them from its
/// conversation, time and id when it writes it (see [`Message::reference`]), so a message can
/// travel in a queue job or be built anywhere without knowing the table's layout.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct Message {
    pub account: String,
    pub id: String,
    pub conversation_id: String,
    pub direction: Direction,
    pub author_type: AuthorType,
    pub author_id: Option<String>,
    pub text: Option<String>,
    #[serde(default)]
    pub attachments: Vec<Attachment>,
    pub status: MessageStatus,
    pub error: Option<MessageError>,
    /// Meta's message id (mid).
    pub external_id: Option<String>,
    #[serde(default)]
    pub private: bool,
    pub quick_reply_payload: Option<String>,
    pub reply_to_mid: Option<String>,
    /// Instagram: the story the person answered (`id`, `url`: Meta's, never copied).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub story: Option<Value>,
    pub postback: Option<Value>,
    pub referral: Option<Value>,
    pub reaction: Option<Value>,
    /// The Page's own reaction to this message of the person (an agent's, sent as `react`).
    #[serde(default)]
    pub page_reaction: Option<String>,
    pub edited_at: Option<i64>,
    pub edit_count: Option<i64>,
    #[serde(default)]
    pub standby: bool,
    /// A copy carried over from the contact's earlier conversation as history (stored and
    /// shown as `context`).
    #[serde(default, rename = "context")]
    pub history_copy: bool,
    pub sent_at: Option<i64>,
    pub created_at: i64,
    // ---- outbound ----
    pub quick_replies: Option<Value>,
    pub client_id: Option<String>,
    /// How many Send API calls the message takes (attachments, then text).
    pub parts_total: Option<i64>,
    /// Meta's message ids of the parts sent so far, in order.
    #[serde(default)]
    pub sent_mids: Vec<String>,
    /// A sender holds the message until then; nobody else sends it meanwhile.
    pub lease_until: Option<i64>,
    /// A send timed out at this time: the echo decides whether it went out.
    pub ambiguous_since: Option<i64>,
    /// As actually used by the send.
    pub messaging_type: Option<SendType>,
    // ---- comments and leads ----
    pub kind: Option<MessageKind>,
    /// The comment this message is (inbound) or answers (outbound).
    pub comment_id: Option<String>,
    /// When Meta's comment was created (epoch ms), for the 7-day private-reply rule.
    pub comment_created_at: Option<i64>,
    pub removed_at: Option<i64>,
    pub lead: Option<Value>,
    /// Read from the Page's history (Conversations API), not delivered by a webhook: no
    /// automatic message or AI-agent delivery follows it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub imported: bool,
    /// The person asked to be forgotten: text and attachments are gone.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub erased: bool,
    /// The message's place in the `feed` index when it is its own `message.created` event.
    /// Read only: the writes that place a message there stamp it themselves.
    #[serde(default, rename = "feedsk", skip_serializing)]
    pub feed_place: Option<FeedPlace>,
}

/// Where a message's own `message.created` entry sits in the events feed: opaque outside the
/// store, which reads it to decide whether a send is announced by that entry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct FeedPlace(String);

impl FeedPlace {
    pub(super) fn key(&self) -> &str {
        &self.0
    }

    #[cfg(test)]
    pub(super) fn at(key: String) -> Self {
        FeedPlace(key)
    }
}

impl Message {
    /// Places the message in conversation `conversation_id` of `account`: its keys follow from
    /// the conversation, its time and its id (a new id if it has none yet).
    pub fn place(&mut self, account: &str, conversation_id: &str) {
        if self.id.is_empty() {
            self.id = crate::ids::new_id(crate::ids::message_prefix(), self.created_at);
        }
        self.account = account.to_owned();
        self.conversation_id = conversation_id.to_owned();
    }

    /// Gives the message an id made from Meta's time and message id: wherever and however often
    /// Meta delivers it, it gets the same key in its conversation, and putting it a second time
    /// fails its condition (the dedupe of `Store::append_keyed_by_meta`).
    pub fn key_by_meta(&mut self, mid: &str) {
        self.id = crate::ids::keyed_id(crate::ids::message_prefix(), self.created_at, mid);
    }

    /// The message placed in a conversation (see `place`).
    pub fn placed(mut self, account: &str, conversation_id: &str) -> Self {
        self.place(account, conversation_id);
        self
    }

    /// A copy carried in a queue job lacks its feed entry's place, stamped after the copy was
    /// made: the place is at or after the message's creation, so that time decides a fold only
    /// where the entry's own place would.
    pub fn place_in_feed_at_creation(&mut self) {
        self.feed_place = Some(FeedPlace(keys::feed_sk(self.created_at, &self.id)));
    }

    /// An opaque reference to the message within its conversation, for `get_message` (the
    /// sender carries it in a send's metadata so the echo finds the message).
    pub fn reference(&self) -> MessageRef {
        MessageRef::from_key(self.sk())
    }

    /// The partition the message is stored in: its conversation's.
    pub(super) fn pk(&self) -> String {
        keys::conversation(&self.account, &self.conversation_id)
    }

    /// Its sort key: conversation order is time, then id.
    pub(super) fn sk(&self) -> String {
        keys::message_sk(self.created_at, &self.id)
    }
}

impl Row for Message {
    fn keys(&self) -> Option<(String, String)> {
        Some((self.pk(), self.sk()))
    }
}

/// What the Conversations API drops of a message's time (it gives seconds).
pub(super) const IMPORT_PRECISION_MS: i64 = 1_000;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ClientItem {
    pub(in crate::store) pk: String,
    pub(in crate::store) sk: String,
    pub message_id: String,
    pub message_sk: MessageRef,
}

impl ClientItem {
    /// When the message this guard holds was created: a retry of the same reply reuses its
    /// id and time.
    pub fn message_created_at(&self) -> Option<i64> {
        keys::message_created_ms(self.message_sk.key())
    }

    /// The guard at `sk` in `msg`'s conversation that holds `msg`'s key.
    pub fn for_message(msg: &Message, sk: String) -> Self {
        ClientItem {
            pk: msg.pk(),
            sk,
            message_id: msg.id.clone(),
            message_sk: msg.reference(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MidItem {
    pub(in crate::store) pk: String,
    pub(in crate::store) sk: String,
    pub account: String,
    pub conversation_id: String,
    pub message_sk: MessageRef,
    pub message_id: String,
}

impl MidItem {
    /// The guard that makes `mid` unique in the account and points at its message.
    pub fn for_message(m: &Message, mid: &str) -> Self {
        MidItem {
            pk: super::keys::mid(&m.account, mid),
            sk: super::keys::MID_SK.into(),
            account: m.account.clone(),
            conversation_id: m.conversation_id.clone(),
            message_sk: m.reference(),
            message_id: m.id.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppendOutcome {
    Stored,
    /// The mid guard already exists: this event was handled before.
    Duplicate,
    /// The conversation was resolved (or vanished) meanwhile.
    ConversationNotOpen,
    /// The person wrote into a snoozed conversation: nothing was written; wake it
    /// (`Store::unsnooze`) and append again.
    Snoozed,
    /// (`append_keyed_by_meta`) The message is older than the one that opened the conversation: it may
    /// be a redelivery of one stored in the previous conversation. Nothing was written.
    OlderThanConversation {
        previous: Option<String>,
    },
}

impl Store {
    /// Where the Messenger message with Meta id `mid` is in conversation `conv`, searched newest
    /// first (a reaction or an edit names only the mid, and messages keyed by Meta and our own
    /// Messenger sends have no guard item; comments and survey answers have one: `get_mid`).
    /// A send in several parts is found by any part's mid. Context copies are passed over: the
    /// original is the message.
    pub async fn find_by_mid(
        &self,
        account: &str,
        conv: &str,
        mid: &str,
    ) -> Result<Option<MidItem>> {
        let mut start = None;
        // Reactions and edits are to recent messages; a bounded search keeps a reaction to
        // a message far back in a long conversation from reading all of it.
        for _ in 0..5 {
            let res = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :p AND begins_with(sk, :m)")
                // Not a copy carried into a later conversation as context: the reaction
                // or edit belongs to the original, as a guard item would point to it.
                .filter_expression(
                    "(external_id = :mid OR contains(sent_mids, :mid)) AND (attribute_not_exists(#cx) OR #cx = :no)",
                )
                .expression_attribute_names("#cx", "context")
                .expression_attribute_values(
                    ":no",
                    aws_sdk_dynamodb::types::AttributeValue::Bool(false),
                )
                .projection_expression("sk, id")
                .expression_attribute_values(":p", s(keys::conversation(account, conv)))
                .expression_attribute_values(":m", s("MSG#"))
                .expression_attribute_values(":mid", s(mid))
                .scan_index_forward(false)
                .limit(200)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(failed("Query"))?;
            if let Some(found) = res.items.unwrap_or_default().into_iter().next() {
                let text = |k: &str| {
                    found
                        .get(k)
                        .and_then(|v| v.as_s().ok())
                        .cloned()
                        .unwrap_or_default()
                };
                return Ok(Some(MidItem {
                    pk: keys::mid(account, mid),
                    sk: keys::MID_SK.into(),
                    account: account.to_owned(),
                    conversation_id: conv.to_owned(),
                    message_sk: MessageRef::from_key(text("sk")),
                    message_id: text("id"),
                }));
            }
            start = res.last_evaluated_key.filter(|k| !k.is_empty());
            if start.is_none() {
                break;
            }
        }
        Ok(None)
    }

    pub(super) fn mid_guard_put(&self, msg: &Message, mid: &str) -> Result<TransactWriteItem> {
        self.put_new(&MidItem::for_message(msg, mid))
    }

    /// Copies earlier messages into a new conversation as context (idempotent puts), a few at
    /// a time. Plain puts rather than `BatchWriteItem`: the same write units and requests the
    /// router already may make, where `BatchWriteItem` would also grant it `DeleteRequest` on
    /// any item of the table (IAM cannot allow its puts alone).
    pub async fn put_context_messages(&self, msgs: &[Message]) -> Result<()> {
        use futures::StreamExt;
        let items = msgs.iter().map(to_item).collect::<Result<Vec<_>>>()?;
        let results: Vec<Result<()>> = futures::stream::iter(items)
            .map(|item| self.put_map(item))
            .buffer_unordered(8)
            .collect()
            .await;
        results.into_iter().collect()
    }

    /// The latest `limit` messages of a conversation, oldest first.
    pub async fn latest_messages(
        &self,
        account: &str,
        conv: &str,
        limit: i32,
    ) -> Result<Vec<Message>> {
        let res = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :p AND begins_with(sk, :m)")
            .expression_attribute_values(":p", s(keys::conversation(account, conv)))
            .expression_attribute_values(":m", s("MSG#"))
            .scan_index_forward(false)
            .limit(limit)
            .send()
            .await
            .map_err(failed("Query"))?;
        let mut items: Vec<Message> = res
            .items
            .unwrap_or_default()
            .into_iter()
            .map(from_item)
            .collect::<Result<_>>()?;
        items.reverse();
        Ok(items)
    }

    pub async fn get_mid(&self, account: &str, mid: &str) -> Result<Option<MidItem>> {
        self.get(keys::mid(account, mid), keys::MID_SK.into(), true)
            .await
    }

    /// Sets or clears the person's reaction on a message; older events cannot override newer.
    pub async fn set_reaction(
        &self,
        account: &str,
        guard: &MidItem,
        reaction: Option<serde_json::Value>,
        at: i64,
    ) -> Result<()> {
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(keys::conversation(account, &guard.conversation_id)))
            .key("sk", s(guard.message_sk.key()))
            .condition_expression(
                "attribute_exists(pk) AND (attribute_not_exists(reaction_at) OR reaction_at <= :t)",
            )
            .expression_attribute_values(":t", n(at));
        req = match reaction {
            Some(r) => req
                .update_expression("SET reaction = :r, reaction_at = :t")
                .expression_attribute_values(
                    ":r",
                    serde_dynamo::to_attribute_value(r)
                        .map_err(|e| Error::Corrupt(e.to_string()))?,
                ),
            None => req.update_expression("SET reaction_at = :t REMOVE reaction"),
        };
        match req.send().await {
            Ok(_) => Ok(()),
            Err(e) if is_conditional(&e) => Ok(()),
            Err(e) => Err(failed("UpdateItem")(e)),
        }
    }

    /// Applies an edit unless a later edit was already applied.
    pub async fn edit_message(
        &self,
        account: &str,
        guard: &MidItem,
        text: &str,
        num_edit: i64,
        at: i64,
    ) -> Result<()> {
        let res = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(keys::conversation(account, &guard.conversation_id)))
            .key("sk", s(guard.message_sk.key()))
            .update_expression("SET #t = :t, edit_count = :n, edited_at = :at")
            .condition_expression(
                "attribute_exists(pk) AND attribute_not_exists(erased) AND (attribute_not_exists(edit_count) OR edit_count < :n)",
            )
            .expression_attribute_names("#t", "text")
            .expression_attribute_values(":t", s(text))
            .expression_attribute_values(":n", n(num_edit))
            .expression_attribute_values(":at", n(at))
            .send()
            .await;
        written(res, "UpdateItem").map(|_| ())
    }

    pub async fn list_messages(
        &self,
        account: &str,
        conv: &str,
        limit: i32,
        cursor: Option<&str>,
    ) -> Result<Result<ResultPage<Message>, BadCursor>> {
        let pk = keys::conversation(account, conv);
        let start = match cursor.map(|c| decode_cursor(c, "pk", &pk)) {
            Some(Ok(k)) => Some(k),
            Some(Err(e)) => return Ok(Err(e)),
            None => None,
        };
        let res = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :p AND begins_with(sk, :m)")
            .expression_attribute_values(":p", s(pk))
            .expression_attribute_values(":m", s("MSG#"))
            .limit(limit.clamp(1, 200))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(failed("Query"))?;
        let items = res
            .items
            .unwrap_or_default()
            .into_iter()
            .map(from_item)
            .collect::<Result<_>>()?;
        let next = res.last_evaluated_key.filter(|k| !k.is_empty());
        Ok(Ok(ResultPage {
            items,
            next_cursor: next.as_ref().map(encode_cursor),
        }))
    }

    /// A comment removed on Facebook stays in the conversation, marked removed.
    pub async fn mark_removed(&self, m: &Message, at: i64) -> Result<()> {
        let res = self
            .update_message(m)
            .update_expression("SET removed_at = :t")
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(removed_at)")
            .expression_attribute_values(":t", n(at))
            .send()
            .await;
        written(res, "UpdateItem").map(|_| ())
    }

    pub async fn get_message(
        &self,
        account: &str,
        conv: &str,
        message: &MessageRef,
    ) -> Result<Option<Message>> {
        self.get(
            keys::conversation(account, conv),
            message.key().to_owned(),
            true,
        )
        .await
    }

    /// The messages at `refs` (account, conversation, sk) that exist, eventually consistent,
    /// in no particular order: one BatchGetItem per 100.
    pub async fn get_messages(&self, refs: &[(&str, &str, &MessageRef)]) -> Result<Vec<Message>> {
        let keys = refs
            .iter()
            .map(|(a, c, m)| (keys::conversation(a, c), m.key().to_owned()))
            .collect();
        self.batch_get_rows(keys, false).await
    }

    /// Messages by (conversation, id), eventually consistent, in no particular order: an id
    /// carries its creation time, which is its sort key's (ids of another shape are skipped).
    pub async fn messages_by_id(
        &self,
        account: &str,
        ids: &[(&str, &str)],
    ) -> Result<Vec<Message>> {
        let keys = ids
            .iter()
            .filter_map(|(c, id)| {
                let at = crate::ids::time_of(id)?;
                Some((keys::conversation(account, c), keys::message_sk(at, id)))
            })
            .collect();
        self.batch_get_rows(keys, false).await
    }

    /// The latest inbound comments of a conversation, newest first (the default target of a
    /// reply in a comment conversation).
    pub async fn latest_comment(&self, account: &str, conv: &str) -> Result<Option<Message>> {
        let msgs = self.latest_messages(account, conv, 50).await?;
        Ok(msgs.into_iter().rev().find(|m| {
            m.direction == Direction::In && m.comment_id.is_some() && m.removed_at.is_none()
        }))
    }

    /// An UpdateItem on message `m` (table and key filled in).
    pub(crate) fn update_message(
        &self,
        m: &Message,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        self.update_row(&m.pk(), &m.sk())
    }
}
