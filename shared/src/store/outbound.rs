//! Outbound messages: queueing a reply (idempotent by `client_id`), the sender's lease, each
//! Send API part recorded with its mid, and final failures.

use crate::message_ref::MessageRef;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Put, ReturnValue, ReturnValuesOnConditionCheckFailure,
    TransactWriteItem, Update,
};
use serde_json::json;

use super::{ClientItem, EventItem, MessageItem, MidItem, Store, keys, n, s, to_item, written};
use crate::domain::{
    AuthorType, ConversationStatus, EventType, MessageError, MessageStatus, SendType,
};
use crate::{Error, Result};

/// How long a message may stay `queued` before the sweeper fails it (`not_sent`). Well past
/// the sender's own limits (eight attempts with backoff, a minute's wait for an echo), so it
/// only finds messages whose job was lost.
pub const UNSENT_DEADLINE_MS: i64 = 15 * 60_000;

/// A send recorded this soon after its message's place in the feed is announced by that
/// entry (`feed_sent`) instead of an event item of its own: a reader cannot see the entry
/// before `SETTLE_MS` has passed, and by then the record (made within this time, committed
/// within `FOLD_ATTEMPT_TIMEOUT` of it) is there too, with room left for the index's lag.
pub const FOLD_MS: i64 = 2_000;
const FOLD_ATTEMPT_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(1_000);
/// The feed index's lag this leaves room for, as the feed's entries themselves do.
const FEED_INDEX_LAG_MS: i64 = 2_000;
const _: () = assert!(
    FOLD_MS + FOLD_ATTEMPT_TIMEOUT.as_millis() as i64 + FEED_INDEX_LAG_MS
        <= super::events::SETTLE_MS
);

/// Whether a send recorded at `stamp` is announced by the message's own feed entry at
/// `feedsk` (see [`FOLD_MS`]).
pub fn folds_into_feed(feedsk: Option<&str>, stamp: i64) -> bool {
    feedsk
        .and_then(|p| p.get(..13))
        .and_then(|t| t.parse::<i64>().ok())
        .is_some_and(|at| stamp >= at && stamp <= at + FOLD_MS)
}

/// `msg` with the scheduler sweeper's entry at its deadline: whatever becomes of its job, a
/// message still queued then is failed with a reason.
fn with_deadline(msg: &MessageItem, now: i64) -> MessageItem {
    let deadline = msg.created_at.max(now) + UNSENT_DEADLINE_MS;
    MessageItem {
        duepk: Some(keys::due_pk(deadline)),
        duesk: Some(keys::due_message_sk(
            deadline,
            &msg.account,
            &msg.conversation_id,
            &msg.sk,
        )),
        ..msg.clone()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum QueueOutcome {
    Stored,
    /// The same `client_id` was used before: this is the message it made.
    Existing(Box<MessageItem>),
    ConversationNotOpen,
    /// Meta allows one private reply per comment, and this comment has had it.
    PrivateReplyExists,
    /// Another call with the same `client_id` is storing its message right now.
    InProgress,
}

/// What [`Store::queue_reply_in_window`] did.
#[derive(Debug)]
pub enum InWindow {
    /// Stored; the conversation as the reply left it.
    Stored(Box<super::ConversationItem>),
    /// A call with the same `client_id` came first: [`Store::reply_context`] reads what it left.
    ClientSeen,
    /// The conversation is not an open Send API conversation inside its standard window, or
    /// has a newer last message: as it was (`None`: there is none), and the `client_id` guard
    /// this call put, which is still there (see [`Store::forget_client_guard`]).
    Refused {
        conversation: Option<Box<super::ConversationItem>>,
        guard: Option<ClientItem>,
    },
}

/// What taking the sender's lease found.
#[derive(Debug)]
pub enum Lease {
    /// The message, now held by this sender.
    Taken(Box<MessageItem>),
    /// Another sender holds it.
    Held,
    /// Sent or failed already.
    Settled(MessageStatus),
    /// There is no such message (its conversation was erased).
    Missing,
}

/// What [`Store::reply_context`] read.
#[derive(Debug, Default)]
pub struct ReplyContext {
    pub conversation: Option<super::ConversationItem>,
    pub settings: super::Settings,
    pub client: Option<ClientItem>,
}

impl Store {
    async fn client_item(
        &self,
        account: &str,
        conv: &str,
        client_id: &str,
    ) -> Result<Option<ClientItem>> {
        self.get(
            keys::conversation(account, conv),
            keys::client_sk(client_id),
            true,
        )
        .await
    }

    /// The message an earlier call with this `client_id` made, if any.
    pub async fn message_for_client(
        &self,
        account: &str,
        conv: &str,
        client_id: &str,
    ) -> Result<Option<MessageItem>> {
        match self.client_item(account, conv, client_id).await? {
            Some(c) => self.get_message(account, conv, &c.message_sk).await,
            None => Ok(None),
        }
    }

    /// What a reply is checked against, in one request: the conversation, the account's
    /// settings and, for a `client_id`, the guard an earlier call with it left.
    pub async fn reply_context(
        &self,
        account: &str,
        conv: &str,
        client_id: Option<&str>,
    ) -> Result<ReplyContext> {
        let mut wanted = vec![
            (keys::conversation(account, conv), keys::META.to_owned()),
            (keys::account(account), keys::SETTINGS_SK.to_owned()),
        ];
        if let Some(cid) = client_id {
            wanted.push((keys::conversation(account, conv), keys::client_sk(cid)));
        }
        let found = self.batch_get(wanted, true).await?;
        let mut ctx = ReplyContext::default();
        for item in found {
            match item
                .get("sk")
                .and_then(|v| v.as_s().ok())
                .map(String::as_str)
            {
                Some(keys::META) => ctx.conversation = Some(super::from_item(item)?),
                Some(keys::SETTINGS_SK) => ctx.settings = super::from_item(item)?,
                Some(_) => ctx.client = Some(super::from_item(item)?),
                None => {}
            }
        }
        Ok(ctx)
    }

    /// Stores a queued outbound message and the conversation's new activity. Without `event`
    /// and for anything but a private comment reply, with plain conditional writes in an
    /// order whose every crash the caller's retry repairs: the `client_id` guard (which holds
    /// the message's key, so a retry makes the same message), the conversation (open), then
    /// the message, its own `message.created` event through the `feed` index. With `event`
    /// (an automatic message and its event) or a private reply (whose guard must not outlive a
    /// message that never was), one transaction.
    /// `require_open: false` is for the survey sent as a conversation is resolved.
    pub async fn queue_message(
        &self,
        msg: &MessageItem,
        now: i64,
        event: Option<&EventItem>,
        require_open: bool,
    ) -> Result<QueueOutcome> {
        let swept = with_deadline(msg, now);
        if event.is_none() && !msg.private {
            return self.queue_plain(&swept, now, require_open).await;
        }
        let mut put = self.put_new(&swept)?;
        if event.is_none()
            && let Some(p) = put.put.as_mut()
        {
            // `transact` stamps its place (`feedsk`) before each attempt.
            p.item
                .insert("feedpk".into(), s(keys::events(&msg.account)));
        }
        let touch = self
            .touch_for_reply(msg, now, require_open, None)?
            .build()
            .map_err(|e| Error::dynamo("TransactWriteItems", e))?;
        let mut items = vec![put, TransactWriteItem::builder().update(touch).build()];
        if let Some(e) = event {
            items.push(e.put(&self.table)?);
        }
        let client_index = items.len();
        if let Some(cid) = &msg.client_id {
            items.push(self.put_new(&ClientItem::for_message(msg, keys::client_sk(cid)))?);
        }
        let mut private_index = None;
        if msg.private
            && let Some(comment) = &msg.comment_id
        {
            private_index = Some(items.len());
            items.push(self.put_new(&ClientItem::for_message(
                msg,
                keys::private_reply_sk(comment),
            ))?);
        }
        let mut behind = false;
        loop {
            return match self.transact(items.clone()).await? {
                None => Ok(QueueOutcome::Stored),
                Some(c) if private_index.is_some_and(|i| c.get(i) == Some(&true)) => {
                    Ok(QueueOutcome::PrivateReplyExists)
                }
                Some(c) if msg.client_id.is_some() && c.get(client_index) == Some(&true) => {
                    let cid = msg.client_id.as_deref().unwrap_or_default();
                    match self
                        .message_for_client(&msg.account, &msg.conversation_id, cid)
                        .await?
                    {
                        Some(m) => Ok(QueueOutcome::Existing(Box::new(m))),
                        None => Err(Error::Corrupt("client id guard without its message".into())),
                    }
                }
                Some(c) if c.get(1) == Some(&true) => {
                    // A conversation whose last message is newer than this one is not moved:
                    // the message goes in behind it, and the transaction only checks that the
                    // conversation is there (and open).
                    if !behind && self.goes_in_behind(msg, require_open).await? {
                        behind = true;
                        items[1] = self.conversation_check(msg, require_open)?;
                        continue;
                    }
                    Ok(QueueOutcome::ConversationNotOpen)
                }
                // The message's own key taken: an id clash, which a retry with a new id settles.
                Some(_) => Err(Error::Corrupt("queued message key already taken".into())),
            };
        }
    }

    /// The transaction item that only checks that `msg`'s conversation is there (and open).
    fn conversation_check(
        &self,
        msg: &MessageItem,
        require_open: bool,
    ) -> Result<TransactWriteItem> {
        let check = ConditionCheck::builder()
            .table_name(&self.table)
            .key("pk", s(&msg.pk))
            .key("sk", s(keys::META));
        let check = if require_open {
            check
                .condition_expression("attribute_exists(pk) AND #st = :open")
                .expression_attribute_names("#st", "status")
                .expression_attribute_values(":open", s(ConversationStatus::Open.as_str()))
        } else {
            check.condition_expression("attribute_exists(pk)")
        };
        Ok(TransactWriteItem::builder()
            .condition_check(
                check
                    .build()
                    .map_err(|e| Error::dynamo("TransactWriteItems", e))?,
            )
            .build())
    }

    /// After the conversation's update failed: whether the conversation is still there (and
    /// open when that is required), so that only its newer last message stopped the update.
    /// The message then goes in behind that one without moving the conversation.
    async fn goes_in_behind(&self, msg: &MessageItem, require_open: bool) -> Result<bool> {
        Ok(self
            .get_conversation(&msg.account, &msg.conversation_id)
            .await?
            .is_some_and(|c| {
                (!require_open || c.status == ConversationStatus::Open)
                    && c.last_message_at.is_some_and(|t| t > msg.created_at)
            }))
    }

    /// An update built for a transaction, sent on its own.
    fn plain_update(
        &self,
        u: Update,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(u.table_name)
            .set_key(Some(u.key))
            .update_expression(u.update_expression)
            .set_condition_expression(u.condition_expression)
            .set_expression_attribute_names(u.expression_attribute_names)
            .set_expression_attribute_values(u.expression_attribute_values)
    }

    /// The conversation's new activity for an outbound message (the transaction's and the
    /// plain path's one update). `in_window` also requires what a reply stored without a read
    /// needs: a Send API conversation whose standard window is open at that time.
    fn touch_for_reply(
        &self,
        msg: &MessageItem,
        now: i64,
        require_open: bool,
        in_window: Option<i64>,
    ) -> Result<aws_sdk_dynamodb::types::builders::UpdateBuilder> {
        let activity = keys::activity_sk(msg.created_at, &msg.conversation_id);
        let mut expr = super::conversations::TOUCH_SET.to_owned();
        // The away message stays quiet for a while after a person answered.
        if msg.author_type == AuthorType::Agent {
            expr.push_str(", last_agent_reply_at = :t");
        }
        let upd = Update::builder()
            .table_name(&self.table)
            .key("pk", s(&msg.pk))
            .key("sk", s(keys::META))
            .update_expression(expr);
        // Never back: a message newer than this one (a person's, stamped by Meta's clock, or
        // a later reply when this is a retry finishing an earlier call) keeps its place.
        let newest = "(attribute_not_exists(last_message_at) OR last_message_at <= :t)";
        let mut checks = vec!["attribute_exists(pk)".to_owned()];
        let mut upd = upd;
        if require_open {
            checks.push("#st = :open".into());
            upd = upd
                .expression_attribute_names("#st", "status")
                .expression_attribute_values(":open", s(ConversationStatus::Open.as_str()));
        }
        checks.push(newest.to_owned());
        if let Some(at) = in_window {
            let mut channels = Vec::new();
            for (i, ch) in crate::domain::Channel::ALL
                .iter()
                .filter(|c| c.reply_route() == crate::domain::ReplyRoute::SendApi)
                .enumerate()
            {
                channels.push(format!(":ch{i}"));
                upd = upd.expression_attribute_values(format!(":ch{i}"), s(ch.as_str()));
            }
            checks.push(format!("#chan IN ({})", channels.join(", ")));
            checks.push("last_inbound_at > :since".into());
            upd = upd
                .expression_attribute_names("#chan", "channel")
                .expression_attribute_values(
                    ":since",
                    n(crate::domain::window::standard_open_after(at)),
                );
        }
        let upd = upd.condition_expression(checks.join(" AND "));
        Ok(upd
            .expression_attribute_values(":t", n(msg.created_at))
            .expression_attribute_values(":a", s(activity))
            .expression_attribute_values(":u", n(now))
            .expression_attribute_values(":lm", super::conversations::LastMessage::attribute(msg)?))
    }

    async fn queue_plain(
        &self,
        msg: &MessageItem,
        now: i64,
        require_open: bool,
    ) -> Result<QueueOutcome> {
        if let Some(cid) = &msg.client_id {
            let guard = ClientItem::for_message(msg, keys::client_sk(cid));
            if !self.put_if_absent(&guard).await? {
                // Taken: by this message (a retry finishing what a failed call began), or
                // by another one.
                match self
                    .client_item(&msg.account, &msg.conversation_id, cid)
                    .await?
                {
                    Some(g) if g.message_sk == msg.reference() => {}
                    Some(g) => {
                        return Ok(
                            match self
                                .get_message(&msg.account, &msg.conversation_id, &g.message_sk)
                                .await?
                            {
                                Some(m) => QueueOutcome::Existing(Box::new(m)),
                                None => QueueOutcome::InProgress,
                            },
                        );
                    }
                    None => return Err(Error::Corrupt("client id guard vanished".into())),
                }
            }
        }
        let touch = self
            .touch_for_reply(msg, now, require_open, None)?
            .build()
            .map_err(|e| Error::dynamo("UpdateItem", e))?;
        let res = self.plain_update(touch).send().await;
        if !written(res, "UpdateItem")? && !self.goes_in_behind(msg, require_open).await? {
            if let Some(cid) = &msg.client_id {
                self.forget_client_guard(&ClientItem::for_message(msg, keys::client_sk(cid)))
                    .await?;
            }
            return Ok(QueueOutcome::ConversationNotOpen);
        }
        match self.put_in_feed(msg).await? {
            super::messages::AppendOutcome::Stored => Ok(QueueOutcome::Stored),
            // The message's own key taken: a retry of a call that got this far, or an id
            // clash (which a retry with a new id settles).
            _ => match self
                .get_message(&msg.account, &msg.conversation_id, &msg.reference())
                .await?
            {
                Some(m) if m.client_id.is_some() && m.client_id == msg.client_id => {
                    Ok(QueueOutcome::Existing(Box::new(m)))
                }
                _ => Err(Error::Corrupt("queued message key already taken".into())),
            },
        }
    }

    /// A person's reply to a Send API conversation whose standard window is open, stored
    /// without reading anything first: the checks the API would make on a read are the
    /// conversation update's condition (there, open, answered through the Send API, its last
    /// inbound message less than 24 hours old, no newer last message), and the update returns
    /// the conversation the job and the answer need. Everything else (a comment conversation,
    /// the human-agent window, a reply that goes in behind, a repeated `client_id`) comes back
    /// as [`InWindow::Refused`] or [`InWindow::ClientSeen`] for the path that reads first.
    /// The order of the writes is `queue_message`'s, so the same retry repairs a crash.
    pub async fn queue_reply_in_window(&self, msg: &MessageItem, now: i64) -> Result<InWindow> {
        let guard = msg
            .client_id
            .as_ref()
            .map(|cid| ClientItem::for_message(msg, keys::client_sk(cid)));
        if let Some(g) = &guard
            && !self.put_if_absent(g).await?
        {
            return Ok(InWindow::ClientSeen);
        }
        let touch = self
            .touch_for_reply(msg, now, true, Some(now))?
            .build()
            .map_err(|e| Error::dynamo("UpdateItem", e))?;
        let res = self
            .plain_update(touch)
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let conv: super::ConversationItem = match res {
            Ok(out) => super::from_item(out.attributes.unwrap_or_default())?,
            Err(e) => {
                return match e.as_service_error() {
                    Some(UpdateItemError::ConditionalCheckFailedException(c)) => {
                        Ok(InWindow::Refused {
                            conversation: match c.item.clone() {
                                Some(item) => Some(Box::new(super::from_item(item)?)),
                                None => None,
                            },
                            guard,
                        })
                    }
                    _ => Err(Error::dynamo("UpdateItem", e.into_service_error())),
                };
            }
        };
        match self.put_in_feed(&with_deadline(msg, now)).await? {
            super::messages::AppendOutcome::Stored => Ok(InWindow::Stored(Box::new(conv))),
            // A fresh id taken: a clash, which a retry with a new id settles.
            _ => Err(Error::Corrupt("queued message key already taken".into())),
        }
    }

    /// Takes back the `client_id` guard a refused call put, so that a later call with the
    /// same id is checked afresh instead of finishing a message that was never allowed.
    pub async fn forget_client_guard(&self, guard: &ClientItem) -> Result<()> {
        let res = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(&guard.pk))
            .key("sk", s(&guard.sk))
            .condition_expression("message_sk = :m")
            .expression_attribute_values(":m", s(guard.message_sk.key()))
            .send()
            .await;
        written(res, "DeleteItem").map(|_| ())
    }

    /// Takes the sender's lease on a queued message and reads it in the same request.
    pub async fn take_lease(
        &self,
        account: &str,
        conv: &str,
        message: &MessageRef,
        now: i64,
        until: i64,
    ) -> Result<Lease> {
        let res = self
            .update_row(&keys::conversation(account, conv), message.key())
            .update_expression("SET lease_until = :l")
            .condition_expression(
                "#st = :q AND (attribute_not_exists(lease_until) OR lease_until < :now)",
            )
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":q", s(MessageStatus::Queued.as_str()))
            .expression_attribute_values(":l", n(until))
            .expression_attribute_values(":now", n(now))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match res {
            Ok(out) => Ok(Lease::Taken(Box::new(super::from_item(
                out.attributes.unwrap_or_default(),
            )?))),
            Err(e) => {
                let old = match e.as_service_error() {
                    Some(UpdateItemError::ConditionalCheckFailedException(c)) => c.item.clone(),
                    _ => return Err(Error::dynamo("UpdateItem", e.into_service_error())),
                };
                Ok(match old {
                    None => Lease::Missing,
                    Some(item) => {
                        let m: MessageItem = super::from_item(item)?;
                        if m.status == MessageStatus::Queued {
                            Lease::Held
                        } else {
                            Lease::Settled(m.status)
                        }
                    }
                })
            }
        }
    }

    /// Gives the lease back, optionally noting a timed-out (ambiguous) send.
    pub async fn release_message(
        &self,
        m: &MessageItem,
        ambiguous_since: Option<i64>,
    ) -> Result<()> {
        let mut req = self.update_message(m);
        req = match ambiguous_since {
            Some(t) => req
                .update_expression("SET ambiguous_since = :t REMOVE lease_until")
                .expression_attribute_values(":t", n(t)),
            None => req.update_expression("REMOVE lease_until"),
        };
        req.send()
            .await
            .map_err(|e| Error::dynamo("UpdateItem", e.into_service_error()))?;
        Ok(())
    }

    pub async fn clear_ambiguous(&self, m: &MessageItem) -> Result<()> {
        self.update_message(m)
            .update_expression("REMOVE ambiguous_since")
            .send()
            .await
            .map_err(|e| Error::dynamo("UpdateItem", e.into_service_error()))?;
        Ok(())
    }

    /// Records that part `index` went out as `mid`. Idempotent: the sender and the echo may
    /// both record the same part; `Ok(false)` when it was already recorded.
    ///
    /// A Messenger send is one conditional update of the message: receipts, reactions and
    /// the echo find it by its key (the echo's metadata) or in its conversation, so it needs no
    /// mid guard. Its `message.status` (sent) event is the message's own `feed` entry when the
    /// send is recorded within [`FOLD_MS`] of that entry's place (`feed_sent`, see
    /// `events::message_events`), else an event item written with it in a transaction.
    /// A comment reply also writes its mid guard: the page's own comment coming back through
    /// the `feed` webhook is recognised by it.
    pub async fn record_part(
        &self,
        m: &MessageItem,
        index: usize,
        mid: &str,
        sent_at: i64,
        now: i64,
        messaging_type: Option<SendType>,
    ) -> Result<bool> {
        let total = m.parts_total.unwrap_or(1).max(1) as usize;
        let last = index + 1 >= total;
        if m.comment_id.is_some() || !last {
            let guard = m.comment_id.is_some().then(|| MidItem::for_message(m, mid));
            let upd =
                self.record_update(m, index, mid, sent_at, now, messaging_type, last, false)?;
            return self
                .record_in_transaction(m, upd, guard.as_ref(), last, now)
                .await;
        }
        let mut attempt = 0u32;
        loop {
            let stamp = super::events::feed_now();
            let fold = folds_into_feed(m.feedsk.as_deref(), stamp);
            let upd =
                self.record_update(m, index, mid, sent_at, now, messaging_type, last, fold)?;
            if !fold {
                return self.record_in_transaction(m, upd, None, last, now).await;
            }
            // One short attempt at a time: what a reader of the feed entry may see is decided
            // by when this commits (`FOLD_MS` plus this attempt stay inside the feed's hold-back).
            let res = self
                .plain_update(upd)
                .customize()
                .config_override(super::events::bounded_attempt(FOLD_ATTEMPT_TIMEOUT))
                .send()
                .await;
            match res {
                Ok(_) => return Ok(true),
                Err(e) if super::is_conditional(&e) => return Ok(false),
                Err(e) if super::is_transient(&e) && attempt < 8 => attempt += 1,
                Err(e) => return Err(Error::dynamo("UpdateItem", e.into_service_error())),
            }
        }
    }

    /// The update that records part `index`; `fold` marks the feed entry as the sent event.
    #[allow(clippy::too_many_arguments)]
    fn record_update(
        &self,
        m: &MessageItem,
        index: usize,
        mid: &str,
        sent_at: i64,
        now: i64,
        messaging_type: Option<SendType>,
        last: bool,
        fold: bool,
    ) -> Result<Update> {
        let mut set = vec![
            "sent_mids = list_append(if_not_exists(sent_mids, :empty), :mid)",
            "updated_at = :u",
        ];
        if last {
            set.extend(["#st = :sent", "sent_at = :at", "external_id = :m"]);
        }
        if fold {
            set.push("feed_sent = :one");
        }
        if messaging_type.is_some() {
            set.push("messaging_type = :mt");
        }
        let mut expr = format!("SET {}", set.join(", "));
        if last {
            // The sweeper's entry (`duepk`/`duesk`) stays: taking it out would cost a write in
            // the `due` index on every send, while the sweeper passes a minute's entries once
            // (its cursor) and reads them in batches, skipping what is settled.
            expr.push_str(" REMOVE lease_until, ambiguous_since, #err");
        }
        let mut upd = Update::builder()
            .table_name(&self.table)
            .key("pk", s(&m.pk))
            .key("sk", s(&m.sk))
            // A send given up as `unconfirmed` did go out when its echo says so.
            .condition_expression("attribute_exists(pk) AND (attribute_not_exists(sent_mids) OR size(sent_mids) = :i) AND (#st = :q OR (#st = :f AND #err.reason = :unc))")
            .expression_attribute_names("#st", "status")
            .expression_attribute_names("#err", "error")
            .expression_attribute_values(":f", s(MessageStatus::Failed.as_str()))
            .expression_attribute_values(":unc", s("unconfirmed"))
            .expression_attribute_values(":empty", AttributeValue::L(vec![]))
            .expression_attribute_values(":mid", AttributeValue::L(vec![s(mid)]))
            .expression_attribute_values(":i", n(index as i64))
            .expression_attribute_values(":q", s(MessageStatus::Queued.as_str()))
            .expression_attribute_values(":u", n(now));
        if last {
            upd = upd
                .expression_attribute_values(":sent", s(MessageStatus::Sent.as_str()))
                .expression_attribute_values(":at", n(sent_at))
                .expression_attribute_values(":m", s(mid));
        }
        if fold {
            upd = upd.expression_attribute_values(":one", n(1));
        }
        if let Some(t) = messaging_type {
            upd = upd.expression_attribute_values(":mt", s(t.as_str()));
        }
        upd.update_expression(expr)
            .build()
            .map_err(|e| Error::dynamo("TransactWriteItems", e))
    }

    async fn record_in_transaction(
        &self,
        m: &MessageItem,
        upd: Update,
        guard: Option<&MidItem>,
        last: bool,
        now: i64,
    ) -> Result<bool> {
        let mut items = vec![TransactWriteItem::builder().update(upd).build()];
        if let Some(g) = guard {
            items.push(
                TransactWriteItem::builder()
                    .put(
                        Put::builder()
                            .table_name(&self.table)
                            .set_item(Some(to_item(g)?))
                            .build()
                            .map_err(|e| Error::dynamo("TransactWriteItems", e))?,
                    )
                    .build(),
            );
        }
        if last {
            let ev = EventItem::new(
                &m.account,
                EventType::MessageStatus,
                Some(&m.conversation_id),
                json!({"message_id": m.id, "status": "sent"}),
                now,
            );
            items.push(ev.put(&self.table)?);
        }
        // A lone update (a middle part of a Messenger send) needs no transaction.
        if items.len() == 1
            && let Some(TransactWriteItem {
                update: Some(u), ..
            }) = items.pop()
        {
            let res = self.plain_update(u).send().await;
            return written(res, "UpdateItem");
        }
        Ok(match self.transact(items).await? {
            None => true,
            Some(c) if c.first() == Some(&true) => false,
            Some(_) => return Err(Error::dynamo("TransactWriteItems", "cancelled")),
        })
    }

    /// Fails a message that has not gone out, with a machine-readable reason.
    pub async fn fail_message(
        &self,
        m: &MessageItem,
        err: &MessageError,
        now: i64,
    ) -> Result<bool> {
        let upd = Update::builder()
            .table_name(&self.table)
            .key("pk", s(&m.pk))
            .key("sk", s(&m.sk))
            .update_expression(
                "SET #st = :f, #err = :e, updated_at = :u REMOVE lease_until, ambiguous_since, duepk, duesk",
            )
            .condition_expression("#st = :q")
            .expression_attribute_names("#st", "status")
            .expression_attribute_names("#err", "error")
            .expression_attribute_values(":f", s(MessageStatus::Failed.as_str()))
            .expression_attribute_values(":q", s(MessageStatus::Queued.as_str()))
            .expression_attribute_values(
                ":e",
                serde_dynamo::to_attribute_value(err).map_err(|e| Error::Corrupt(e.to_string()))?,
            )
            .expression_attribute_values(":u", n(now))
            .build()
            .map_err(|e| Error::dynamo("TransactWriteItems", e))?;
        let ev = EventItem::new(
            &m.account,
            EventType::MessageStatus,
            Some(&m.conversation_id),
            json!({"message_id": m.id, "status": "failed", "reason": err.reason}),
            now,
        );
        self.update_with_event(upd, Some(&ev)).await
    }

    /// Puts a message that failed only because it could not be queued back to `queued`.
    pub async fn requeue_message(&self, m: &MessageItem, now: i64) -> Result<bool> {
        let deadline = now + UNSENT_DEADLINE_MS;
        let res = self
            .update_message(m)
            .update_expression(
                "SET #st = :q, updated_at = :u, duepk = :dp, duesk = :ds REMOVE #err",
            )
            .expression_attribute_values(":dp", s(keys::due_pk(deadline)))
            .expression_attribute_values(
                ":ds",
                s(keys::due_message_sk(
                    deadline,
                    &m.account,
                    &m.conversation_id,
                    &m.sk,
                )),
            )
            .condition_expression("#st = :f AND #err.reason = :r")
            .expression_attribute_names("#st", "status")
            .expression_attribute_names("#err", "error")
            .expression_attribute_values(":q", s(MessageStatus::Queued.as_str()))
            .expression_attribute_values(":f", s(MessageStatus::Failed.as_str()))
            .expression_attribute_values(":r", s("queue_unavailable"))
            .expression_attribute_values(":u", n(now))
            .send()
            .await;
        written(res, "UpdateItem")
    }
}

impl Store {}
