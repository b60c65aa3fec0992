//! Appending a message to its conversation: the message, its mid guard and the conversation's
//! move in one write or transaction (a redelivery stores nothing twice, a crash loses nothing),
//! messages keyed by Meta's time and id, imported history, and the messaging window's advance.

use aws_sdk_dynamodb::types::TransactWriteItem;

use super::conversations::{open_window, touch as touch_conversation};
use super::messages::IMPORT_PRECISION_MS;
use super::update::UpdateExpr;
use super::*;
use crate::Result;
use crate::domain::ConversationStatus;

impl Store {
    /// Stores a message, its mid guard (when it has a Meta id) and moves the conversation, in one
    /// transaction: either all happen or none, so a redelivery after a crash cannot lose it and
    /// a second delivery cannot store it twice.
    pub async fn append_message(
        &self,
        msg: &Message,
        mid: Option<&str>,
        touch: Touch,
        events: &[EventItem],
    ) -> Result<AppendOutcome> {
        let mut items = Vec::with_capacity(3 + events.len());
        let mut guard_index = None;
        if let Some(mid) = mid {
            items.push(self.mid_guard_put(msg, mid)?);
            guard_index = Some(0);
        }
        items.push(self.put_new(msg)?);
        let mut u = UpdateExpr::new();
        touch_conversation(&mut u, msg, touch.at, touch.now)?;
        if touch.inbound {
            // A new message from the person opens a new window.
            open_window(&mut u, &touch, &msg.account, &msg.conversation_id);
        }
        u.condition("attribute_exists(pk)");
        if touch.require_active {
            u.status_in(touch.statuses(msg));
        }
        let upd = u.build(&self.table, &msg.pk(), keys::META)?;
        let conv_index = guard_index.map_or(1, |_| 2);
        items.push(TransactWriteItem::builder().update(upd).build());
        for e in events {
            items.push(e.put(&self.table)?);
        }
        Ok(match self.transact(items).await? {
            None => AppendOutcome::Stored,
            Some(c) if guard_index.is_some_and(|i| c.get(i) == Some(&true)) => {
                AppendOutcome::Duplicate
            }
            Some(c) if c.get(conv_index) == Some(&true) => {
                self.why_not_appended(msg, &touch).await?
            }
            // The message key itself exists: same id and time, i.e. a duplicate.
            Some(_) => AppendOutcome::Duplicate,
        })
    }

    /// Appends a Messenger message whose key comes from Meta (`Message::key_by_meta`), with
    /// plain conditional writes instead of a transaction: the conversation moves first, then
    /// the message is put unless its key is taken. A redelivery finds its key taken
    /// (`Duplicate`); one after a crash between the two writes moves the conversation again
    /// (the same values) and stores the message. The message is its own `message.created` event
    /// through the `feed` index, so the event exists exactly when the message does.
    ///
    /// `allow_older`: the caller checked that a message older than the conversation's first is
    /// not in the previous conversation.
    pub async fn append_keyed_by_meta(
        &self,
        msg: &Message,
        touch: Touch,
        allow_older: bool,
    ) -> Result<AppendOutcome> {
        if !self.touch_keyed(msg, &touch, allow_older).await? {
            let Some(conv) = self
                .get_conversation(&msg.account, &msg.conversation_id)
                .await?
            else {
                return Ok(AppendOutcome::ConversationNotOpen);
            };
            if touch.require_active && !touch.statuses(msg).contains(&conv.status) {
                return Ok(not_appended(&conv, msg, &touch));
            }
            if !allow_older && conv.first_message_at.is_some_and(|f| msg.created_at < f) {
                return Ok(AppendOutcome::OlderThanConversation {
                    previous: conv.previous_conversation_id,
                });
            }
            if let Some(mid) = &msg.external_id {
                if msg.imported {
                    self.mark_imported(msg).await?;
                } else if conv
                    .imported_until
                    .is_some_and(|u| msg.created_at - IMPORT_PRECISION_MS < u)
                    && self
                        .find_by_mid(&msg.account, &msg.conversation_id, mid)
                        .await?
                        .is_some()
                {
                    return Ok(AppendOutcome::Duplicate);
                }
            }
            // A later message moved the conversation already: this one goes in behind it
            // without moving it back, but a newer inbound time still opens its window.
            if touch.inbound && conv.last_inbound_at.is_none_or(|l| l < msg.created_at) {
                self.advance_window(msg, &touch).await?;
            }
        }
        self.put_in_feed(msg, msg).await
    }

    /// Why a conversation refused a message `require_active` would have taken: snoozed (the
    /// person wrote: wake it, then append again) or not active.
    async fn why_not_appended(&self, msg: &Message, touch: &Touch) -> Result<AppendOutcome> {
        if !touch.wakes(msg) {
            return Ok(AppendOutcome::ConversationNotOpen);
        }
        Ok(
            match self
                .get_conversation(&msg.account, &msg.conversation_id)
                .await?
            {
                Some(conv) => not_appended(&conv, msg, touch),
                None => AppendOutcome::ConversationNotOpen,
            },
        )
    }

    /// The conversation update of `append_keyed_by_meta`; `Ok(false)` when a condition failed (not
    /// open, the message is older than the conversation's first or than its last).
    async fn touch_keyed(&self, msg: &Message, touch: &Touch, allow_older: bool) -> Result<bool> {
        let mut u = UpdateExpr::new();
        touch_conversation(&mut u, msg, touch.at, touch.now)?;
        u.condition("attribute_exists(pk)")
            .condition("(attribute_not_exists(last_message_at) OR last_message_at <= :t)");
        if msg.imported {
            u.set("imported_until = :t");
        } else {
            u.condition("(attribute_not_exists(imported_until) OR imported_until <= :ti)")
                .value(":ti", n(touch.at - IMPORT_PRECISION_MS));
        }
        if touch.inbound {
            open_window(&mut u, touch, &msg.account, &msg.conversation_id);
        }
        if touch.require_active {
            u.status_in(touch.statuses(msg));
        }
        if !allow_older {
            u.condition("(attribute_not_exists(first_message_at) OR first_message_at <= :t)");
        }
        let upd = u.build(&self.table, &msg.pk(), keys::META)?;
        written(self.update_item(upd).send().await, "UpdateItem")
    }

    /// Moves `imported_until` forward to a history message appended behind later ones.
    async fn mark_imported(&self, msg: &Message) -> Result<()> {
        let res = self
            .update_row(&msg.pk(), keys::META)
            .update_expression("SET imported_until = :t")
            .condition_expression("attribute_exists(pk) AND (attribute_not_exists(imported_until) OR imported_until < :t)")
            .expression_attribute_values(":t", n(msg.created_at))
            .send()
            .await;
        written(res, "UpdateItem").map(|_| ())
    }

    /// A new inbound time on a conversation that a later message already moved.
    async fn advance_window(&self, msg: &Message, touch: &Touch) -> Result<()> {
        let mut u = UpdateExpr::new();
        u.set("updated_at = :u")
            .value(":u", n(touch.now))
            .condition("attribute_exists(pk)")
            .condition("(attribute_not_exists(last_inbound_at) OR last_inbound_at < :t)");
        open_window(&mut u, touch, &msg.account, &msg.conversation_id);
        let upd = u.build(&self.table, &msg.pk(), keys::META)?;
        let res = self.update_item(upd).send().await;
        written(res, "UpdateItem").map(|_| ())
    }

    /// Puts a new message with its place in the `feed` index, stamped from the wall clock just
    /// before each attempt (one bounded attempt at a time, as `transact` does for event items):
    /// the feed's hold-back covers the time to commit. A retry that finds the key taken by one
    /// of its own earlier attempts (timed out, yet committed) is still `Stored`.
    pub(super) async fn put_in_feed(&self, row: &impl Row, msg: &Message) -> Result<AppendOutcome> {
        let mut item = to_item(row)?;
        item.insert("feedpk".into(), s(keys::events(&msg.account)));
        let mut stamps = Vec::new();
        let mut attempt = 0u64;
        loop {
            let stamp = keys::feed_sk(super::events::feed_now(), &msg.id);
            item.insert("feedsk".into(), s(&stamp));
            stamps.push(stamp);
            let res = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item.clone()))
                .condition_expression("attribute_not_exists(pk)")
                .customize()
                .config_override(super::events::one_bounded_attempt())
                .send()
                .await;
            let e = match res {
                Ok(_) => return Ok(AppendOutcome::Stored),
                Err(e) => e,
            };
            if is_conditional(&e) {
                if attempt > 0 {
                    let theirs: Option<Item> = self
                        .client
                        .get_item()
                        .table_name(&self.table)
                        .key("pk", s(msg.pk()))
                        .key("sk", s(msg.sk()))
                        .consistent_read(true)
                        .projection_expression("feedsk")
                        .send()
                        .await
                        .map_err(failed("GetItem"))?
                        .item;
                    let stamp = theirs
                        .as_ref()
                        .and_then(|i| i.get("feedsk"))
                        .and_then(|v| v.as_s().ok());
                    if stamp.is_some_and(|st| stamps.contains(st)) {
                        return Ok(AppendOutcome::Stored);
                    }
                }
                return Ok(AppendOutcome::Duplicate);
            }
            if !super::is_transient(&e) || attempt >= 8 {
                return Err(failed("PutItem")(e));
            }
            attempt += 1;
            tokio::time::sleep(std::time::Duration::from_millis(attempt * attempt * 10)).await;
        }
    }
}

/// The outcome for a message refused by `conv`'s status.
fn not_appended(conv: &ConversationItem, msg: &Message, touch: &Touch) -> AppendOutcome {
    if conv.status == ConversationStatus::Snoozed && touch.wakes(msg) {
        AppendOutcome::Snoozed
    } else {
        AppendOutcome::ConversationNotOpen
    }
}
