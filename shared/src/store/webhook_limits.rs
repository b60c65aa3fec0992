//! What keeps one webhook from taking the delivery pool every account shares: its attempts in
//! flight (a few slots, leased), one replay at a time (a replay row counting its deliveries
//! until each was delivered or given up), and its endpoint's failing run (ended only by
//! `RECOVERY_STREAK` in-time answers in a row).
//!
//! Rows (all on the account's partition, each with a TTL, so a deleted webhook's go by
//! themselves): `HOOKSLOTS#<webhook>` holds `s0`…`s<n-1>`, each the lease end (ms) of an
//! attempt in flight; `HOOKREPLAY#<webhook>` the running replay (`replay_id`, `queued`,
//! `done`, `dispatched`, `counted_after`, `held_until`).

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};

use super::*;
use crate::Result;
use crate::domain::webhooks::{recovered, run_is_over};

/// An attempt's place among its webhook's attempts in flight, held until `until`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliverySlot {
    account: String,
    webhook_id: String,
    index: u32,
    until: i64,
}

/// What asking to replay found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplayStart {
    Started,
    /// The webhook's replay `replay_id` is still being delivered.
    Running {
        replay_id: String,
    },
}

/// A row's TTL (seconds) a day after `ms`.
fn ttl_after(ms: i64) -> AttributeValue {
    n((ms + 24 * 3_600_000) / 1000)
}

impl Store {
    /// Takes one of the webhook's first `limit` slots for an attempt that ends by `now +
    /// lease_ms` (a dead holder's lease runs out). Tries each from `start` on, so concurrent
    /// deliverers spread; `None` when every one is held. Costs one write a slot tried.
    pub async fn take_delivery_slot(
        &self,
        account: &str,
        webhook_id: &str,
        limit: u32,
        start: u32,
        now: i64,
        lease_ms: i64,
    ) -> Result<Option<DeliverySlot>> {
        let until = now + lease_ms;
        for i in 0..limit {
            let index = (start + i) % limit;
            let res = self
                .update_row(&keys::account(account), &keys::webhook_slots_sk(webhook_id))
                .update_expression("SET #s = :until, expires_at = :ttl")
                .condition_expression("attribute_not_exists(#s) OR #s < :now")
                .expression_attribute_names("#s", format!("s{index}"))
                .expression_attribute_values(":until", n(until))
                .expression_attribute_values(":now", n(now))
                .expression_attribute_values(":ttl", ttl_after(until))
                .send()
                .await;
            if written(res, "UpdateItem")? {
                return Ok(Some(DeliverySlot {
                    account: account.to_owned(),
                    webhook_id: webhook_id.to_owned(),
                    index,
                    until,
                }));
            }
        }
        Ok(None)
    }

    /// Gives the slot back (unless its lease ran out and another holds it now).
    pub async fn release_delivery_slot(&self, slot: &DeliverySlot) -> Result<()> {
        let res = self
            .update_row(
                &keys::account(&slot.account),
                &keys::webhook_slots_sk(&slot.webhook_id),
            )
            .update_expression("REMOVE #s")
            .condition_expression("#s = :until")
            .expression_attribute_names("#s", format!("s{}", slot.index))
            .expression_attribute_values(":until", n(slot.until))
            .send()
            .await;
        written(res, "UpdateItem").map(|_| ())
    }

    /// Attempts recorded so far for the delivery (0 when none was): a delivery's record
    /// comes back more often than it is attempted (it waits for a slot), so the attempt count
    /// is the record's, not the queue's receive count.
    pub async fn delivery_attempts(&self, d: &DeliveryRef<'_>) -> Result<u32> {
        let found: Option<DeliveryItem> = self
            .get(
                keys::webhook_deliveries(d.account, d.webhook_id),
                keys::delivery_sk(d.queued_at, d.event_id, d.delivery_id),
                true,
            )
            .await?;
        Ok(found.map_or(0, |r| r.attempts))
    }

    /// Starts replay `replay_id` of the webhook unless another is still being delivered. A
    /// replay whose count went astray holds the webhook at most until `held_until`.
    pub async fn start_replay(
        &self,
        account: &str,
        webhook_id: &str,
        replay_id: &str,
        now: i64,
        held_until: i64,
    ) -> Result<ReplayStart> {
        let pk = keys::account(account);
        let sk = keys::webhook_replay_sk(webhook_id);
        let res = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(&pk))
            .item("sk", s(&sk))
            .item("replay_id", s(replay_id))
            .item("queued", n(0))
            .item("done", n(0))
            .item("dispatched", AttributeValue::Bool(false))
            .item("held_until", n(held_until))
            .item("expires_at", ttl_after(held_until))
            .condition_expression(
                "attribute_not_exists(pk) OR held_until < :now OR (dispatched = :t AND done >= queued)",
            )
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":t", AttributeValue::Bool(true))
            .send()
            .await;
        if written(res, "PutItem")? {
            return Ok(ReplayStart::Started);
        }
        #[derive(serde::Deserialize)]
        struct Running {
            replay_id: String,
        }
        let running: Option<Running> = self.get(pk, sk, true).await?;
        Ok(ReplayStart::Running {
            replay_id: running.map(|r| r.replay_id).unwrap_or_default(),
        })
    }

    /// The replay could not be queued after all: the webhook may be replayed again at once.
    pub async fn abandon_replay(
        &self,
        account: &str,
        webhook_id: &str,
        replay_id: &str,
    ) -> Result<()> {
        let res = self
            .update_row(
                &keys::account(account),
                &keys::webhook_replay_sk(webhook_id),
            )
            .update_expression("SET held_until = :zero, dispatched = :t")
            .condition_expression("replay_id = :r")
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":t", AttributeValue::Bool(true))
            .expression_attribute_values(":r", s(replay_id))
            .send()
            .await;
        written(res, "UpdateItem").map(|_| ())
    }

    /// A replay turn queued `queued` deliveries for the range after `after`; `last`: no turn
    /// follows. Counted once per turn, however often the turn runs (turns move forward, so a
    /// turn at or before the last one counted was counted).
    pub async fn replay_turn_queued(
        &self,
        account: &str,
        webhook_id: &str,
        replay_id: &str,
        after: &str,
        queued: usize,
        last: bool,
    ) -> Result<()> {
        let res = self
            .update_row(&keys::account(account), &keys::webhook_replay_sk(webhook_id))
            .update_expression("ADD queued :q SET counted_after = :after, dispatched = :last")
            .condition_expression(
                "replay_id = :r AND (attribute_not_exists(counted_after) OR counted_after < :after)",
            )
            .expression_attribute_values(":q", n(queued as i64))
            .expression_attribute_values(":after", s(after))
            .expression_attribute_values(":last", AttributeValue::Bool(last))
            .expression_attribute_values(":r", s(replay_id))
            .send()
            .await;
        written(res, "UpdateItem").map(|_| ())
    }

    /// One delivery of the replay reached its end (delivered, refused, given up, dropped).
    pub async fn replay_delivery_done(
        &self,
        account: &str,
        webhook_id: &str,
        replay_id: &str,
    ) -> Result<()> {
        let res = self
            .update_row(
                &keys::account(account),
                &keys::webhook_replay_sk(webhook_id),
            )
            .update_expression("ADD done :one")
            .condition_expression("replay_id = :r")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":r", s(replay_id))
            .send()
            .await;
        written(res, "UpdateItem").map(|_| ())
    }

    /// The endpoint failed at `now`: its answers in time in a row start again from none, and
    /// its failing run starts now unless one is under way (a run whose last failure is long
    /// past was over: `run_is_over`). When the run began.
    pub async fn webhook_failing(&self, account: &str, id: &str, now: i64) -> Result<i64> {
        let res = self
            .update_row(&keys::account(account), &keys::webhook_sk(id))
            .update_expression(
                "SET failing_since = if_not_exists(failing_since, :now), last_failure_at = :now, ok_streak = :zero",
            )
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":zero", n(0))
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        let old = match res {
            Ok(out) => out.attributes.unwrap_or_default(),
            Err(e) if is_conditional(&e) => return Ok(now),
            Err(e) => return Err(failed("UpdateItem")(e)),
        };
        let num = |k: &str| {
            old.get(k)
                .and_then(|v| v.as_n().ok())
                .and_then(|v| v.parse::<i64>().ok())
        };
        let (Some(since), last) = (num("failing_since"), num("last_failure_at")) else {
            return Ok(now);
        };
        if last.is_some_and(|l| !run_is_over(l, now)) {
            return Ok(since);
        }
        let res = self
            .update_row(&keys::account(account), &keys::webhook_sk(id))
            .update_expression("SET failing_since = :now")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":now", n(now))
            .send()
            .await;
        written(res, "UpdateItem")?;
        Ok(now)
    }

    /// The failing endpoint answered in time: one more in a row, and the run is over at
    /// `RECOVERY_STREAK` (`Ok(true)`).
    pub async fn webhook_answered(&self, account: &str, id: &str) -> Result<bool> {
        let res = self
            .update_row(&keys::account(account), &keys::webhook_sk(id))
            .update_expression("ADD ok_streak :one")
            .condition_expression("attribute_exists(failing_since)")
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await;
        let streak = match res {
            Ok(out) => out
                .attributes
                .and_then(|a| a.get("ok_streak").cloned())
                .and_then(|v| v.as_n().ok().and_then(|n| n.parse::<u32>().ok()))
                .unwrap_or(0),
            Err(e) if is_conditional(&e) => return Ok(false),
            Err(e) => return Err(failed("UpdateItem")(e)),
        };
        if !recovered(streak) {
            return Ok(false);
        }
        let res = self
            .update_row(&keys::account(account), &keys::webhook_sk(id))
            .update_expression("REMOVE failing_since, last_failure_at, ok_streak")
            .condition_expression("ok_streak >= :streak")
            .expression_attribute_values(":streak", n(i64::from(streak)))
            .send()
            .await;
        written(res, "UpdateItem")
    }
}
