//! Snooze: a conversation set aside until a time. Its status, list partition and `SNOOZE`
//! timer change with their event in one transaction, so a snoozed conversation always has its
//! moment in the `due` index and every wake is announced exactly once (the wake is conditioned
//! on the status it ends).

use super::update::UpdateExpr;
use super::*;
use crate::Result;
use crate::clock::rfc3339;
use crate::domain::{ConversationStatus, EventType, UnsnoozedBy};

impl Store {
    /// Snoozes an active conversation until `until` (epoch ms), or moves the moment of one
    /// already snoozed. `Ok(false)` when it is not active (resolved meanwhile).
    pub async fn snooze(
        &self,
        conv: &ConversationItem,
        until: i64,
        agent: &str,
        now: i64,
    ) -> Result<bool> {
        let mut u = UpdateExpr::new();
        u.status_in(ConversationStatus::ACTIVE)
            .set("#st = :snoozed, gsi2pk = :g, snoozed_until = :until, updated_at = :u")
            .value(":snoozed", s(ConversationStatus::Snoozed.as_str()))
            .value(
                ":g",
                s(keys::conversations_by_status(
                    &conv.account,
                    ConversationStatus::Snoozed,
                )),
            )
            .value(":until", n(until))
            .value(":u", n(now));
        let event = EventItem::new(
            &conv.account,
            EventType::ConversationSnoozed,
            Some(&conv.id),
            serde_json::json!({"status": "snoozed", "until": rfc3339(until), "by": agent}),
            now,
        );
        let items = vec![
            TransactWriteItem::builder()
                .update(u.build(&self.table, &conv.pk, keys::META)?)
                .build(),
            self.timer_put(&conv.account, &conv.id, Timer::SnoozeEnds, until)?,
            event.put(&self.table)?,
        ];
        self.transact_guarded(items).await
    }

    /// Opens a snoozed conversation again, with its `conversation.unsnoozed` event. `until`
    /// (the scheduler's) wakes it only if that is still its moment (an agent may have moved
    /// it). `Ok(false)` when it was not snoozed (woken already, resolved): nothing written.
    /// The `SNOOZE` row is left for the scheduler, which finds the conversation awake and
    /// takes the row out of the index.
    pub async fn unsnooze(
        &self,
        account: &str,
        conv_id: &str,
        by: UnsnoozedBy,
        until: Option<i64>,
        now: i64,
    ) -> Result<bool> {
        let mut u = UpdateExpr::new();
        u.status_in(&[ConversationStatus::Snoozed])
            .set("#st = :open, gsi2pk = :g, updated_at = :u")
            .remove("snoozed_until")
            .value(":open", s(ConversationStatus::Open.as_str()))
            .value(
                ":g",
                s(keys::conversations_by_status(
                    account,
                    ConversationStatus::Open,
                )),
            )
            .value(":u", n(now));
        if let Some(at) = until {
            u.condition("snoozed_until = :until").value(":until", n(at));
        }
        let event = EventItem::new(
            account,
            EventType::ConversationUnsnoozed,
            Some(conv_id),
            serde_json::json!({"status": "open", "by": by.as_str()}),
            now,
        );
        let upd = u.build(
            &self.table,
            &keys::conversation(account, conv_id),
            keys::META,
        )?;
        self.update_with_event(upd, Some(&event)).await
    }
}
