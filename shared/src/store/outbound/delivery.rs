//! What the sender records: its lease on a queued message, each Send API part with its mid
//! (folded into the message's feed entry when it can be), and a release for another try.

use crate::store::MessageRef;
use crate::store::failed;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, Put, ReturnValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
    Update,
};
use serde_json::json;

use super::super::{EventItem, Message, MidItem, keys, n, s, to_item, written};
use crate::domain::{EventType, MessageStatus};
use crate::{Error, Result};

use super::*;
use crate::store::update::UpdateExpr;

impl Outbound<'_> {
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
            .0
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
            Ok(out) => Ok(Lease::Taken(Box::new(crate::store::from_item(
                out.attributes.unwrap_or_default(),
            )?))),
            Err(e) => {
                let old = match e.as_service_error() {
                    Some(UpdateItemError::ConditionalCheckFailedException(c)) => c.item.clone(),
                    _ => {
                        return Err(failed("UpdateItem")(e));
                    }
                };
                Ok(match old {
                    None => Lease::Missing,
                    Some(item) => {
                        let m: Message = crate::store::from_item(item)?;
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
    pub async fn release_message(&self, m: &Message, ambiguous_since: Option<i64>) -> Result<()> {
        let mut req = self.0.update_message(m);
        req = match ambiguous_since {
            Some(t) => req
                .update_expression("SET ambiguous_since = :t REMOVE lease_until")
                .expression_attribute_values(":t", n(t)),
            None => req.update_expression("REMOVE lease_until"),
        };
        req.send().await.map_err(failed("UpdateItem"))?;
        Ok(())
    }

    pub async fn clear_ambiguous(&self, m: &Message) -> Result<()> {
        self.0
            .update_message(m)
            .update_expression("REMOVE ambiguous_since")
            .send()
            .await
            .map_err(failed("UpdateItem"))?;
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
    pub async fn record_part(&self, m: &Message, part: SentPart<'_>, now: i64) -> Result<bool> {
        let index = part.index;
        let mid = part.mid;
        let total = m.parts_total.unwrap_or(1).max(1) as usize;
        let last = index + 1 >= total;
        if m.comment_id.is_some() || !last {
            let guard = m.comment_id.is_some().then(|| MidItem::for_message(m, mid));
            let upd = self.record_update(m, &part, now, last, false)?;
            return self
                .record_in_transaction(m, upd, guard.as_ref(), last, now)
                .await;
        }
        let mut attempt = 0u32;
        loop {
            let stamp = crate::store::events::feed_now();
            let fold = folds_into_feed(m.feed_place.as_ref(), stamp);
            let upd = self.record_update(m, &part, now, last, fold)?;
            if !fold {
                return self.record_in_transaction(m, upd, None, last, now).await;
            }
            // One short attempt at a time: what a reader of the feed entry may see is decided
            // by when this commits (`FOLD_MS` plus this attempt stay inside the feed's hold-back).
            let res = self
                .0
                .update_item(upd)
                .customize()
                .config_override(crate::store::events::bounded_attempt(FOLD_ATTEMPT_TIMEOUT))
                .send()
                .await;
            match res {
                Ok(_) => return Ok(true),
                Err(e) if crate::store::is_conditional(&e) => return Ok(false),
                Err(e) if crate::store::is_transient(&e) && attempt < 8 => attempt += 1,
                Err(e) => {
                    return Err(failed("UpdateItem")(e));
                }
            }
        }
    }

    /// The update that records part `index`; `fold` marks the feed entry as the sent event.
    fn record_update(
        &self,
        m: &Message,
        part: &SentPart<'_>,
        now: i64,
        last: bool,
        fold: bool,
    ) -> Result<Update> {
        let SentPart {
            index,
            mid,
            sent_at,
            messaging_type,
        } = *part;
        let mut u = UpdateExpr::new();
        u.set("sent_mids = list_append(if_not_exists(sent_mids, :empty), :mid)")
            .set("updated_at = :u")
            .value(":empty", AttributeValue::L(vec![]))
            .value(":mid", AttributeValue::L(vec![s(mid)]))
            .value(":u", n(now))
            // A send given up as `unconfirmed` did go out when its echo says so.
            .condition("attribute_exists(pk)")
            .condition("(attribute_not_exists(sent_mids) OR size(sent_mids) = :i)")
            .condition("(#st = :q OR (#st = :f AND #err.reason = :unc))")
            .name("#st", "status")
            .name("#err", "error")
            .value(":i", n(index as i64))
            .value(":q", s(MessageStatus::Queued.as_str()))
            .value(":f", s(MessageStatus::Failed.as_str()))
            .value(":unc", s("unconfirmed"));
        if last {
            u.set("#st = :sent")
                .set("sent_at = :at")
                .set("external_id = :m")
                .value(":sent", s(MessageStatus::Sent.as_str()))
                .value(":at", n(sent_at))
                .value(":m", s(mid));
            // The sweeper's entry (`duepk`/`duesk`) stays: taking it out would cost a write in
            // the `due` index on every send, while the sweeper passes a minute's entries once
            // (its cursor) and reads them in batches, skipping what is settled.
            u.remove("lease_until")
                .remove("ambiguous_since")
                .remove("#err");
        }
        if fold {
            u.set("feed_sent = :one").value(":one", n(1));
        }
        if let Some(t) = messaging_type {
            u.set("messaging_type = :mt").value(":mt", s(t.as_str()));
        }
        u.build(&self.0.table, &m.pk(), &m.sk())
    }

    async fn record_in_transaction(
        &self,
        m: &Message,
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
                            .table_name(&self.0.table)
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
            items.push(ev.put(&self.0.table)?);
        }
        // A lone update (a middle part of a Messenger send) needs no transaction.
        if items.len() == 1
            && let Some(TransactWriteItem {
                update: Some(u), ..
            }) = items.pop()
        {
            let res = self.0.update_item(u).send().await;
            return written(res, "UpdateItem");
        }
        self.0.transact_guarded(items).await
    }
}
