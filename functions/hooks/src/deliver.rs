//! One delivery: take a place among the webhook's attempts in flight, POST it signed, record
//! the attempt, and decide what comes next. A retry is the record coming back after its
//! backoff (its visibility is set to it), which also holds up the rest of its FIFO group: a
//! conversation's later events wait behind it, in order, and nothing else does. A delivery
//! that finds its webhook's places taken waits a little the same way, without an attempt: so
//! one slow endpoint holds a bounded share of the pool every account's deliveries run in.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use pagedesk_shared::adapters::sqs_batch::process_fifo;
use pagedesk_shared::contracts::queue::DeliveryJob;
use pagedesk_shared::domain::webhooks::{
    Verdict, backoff_seconds, in_flight_limit, retry_after_seconds, slot_wait_seconds, verdict,
};
use pagedesk_shared::domain::{DeliveryStatus, EventType};
use pagedesk_shared::services::webhooks::{Delivery, PostOutcome};
use pagedesk_shared::store::{Attempt, DeliveryRef, EventItem, WebhookItem};
use serde_json::json;
use tracing::Instrument;

use crate::{Hooks, HooksError};

/// How long past its timeout an attempt's place is held if its deliverer dies holding it.
const LEASE_MARGIN_MS: i64 = 5_000;

/// A delivery as the deliverer works on it: its job, its record's key and the attempt.
struct Attempting<'a> {
    job: &'a DeliveryJob,
    d: DeliveryRef<'a>,
    attempt: u32,
    now: i64,
}

impl Attempting<'_> {
    fn record(
        &self,
        status: DeliveryStatus,
        http_status: Option<u16>,
        error: Option<String>,
        next_try_at: Option<i64>,
    ) -> Attempt {
        Attempt {
            status,
            attempts: self.attempt,
            http_status,
            error,
            at: self.now,
            next_try_at,
        }
    }
}

/// A number from the delivery id and how often it came: which place to try first and how to
/// spread the wait, different for each delivery without a random source.
fn spread(delivery_id: &str, receives: u32) -> u32 {
    delivery_id
        .bytes()
        .fold(receives.wrapping_mul(2_654_435_761), |h, b| {
            h.rotate_left(5) ^ u32::from(b)
        })
}

impl Hooks {
    pub(crate) async fn handle_delivery_batch(&self, event: SqsEvent) -> SqsBatchResponse {
        process_fifo(event.records, |m| self.delivery_record(m)).await
    }

    async fn delivery_record(&self, m: SqsMessage) -> Result<(), HooksError> {
        let job: DeliveryJob = match serde_json::from_str(m.body.as_deref().unwrap_or("")) {
            Ok(j) => j,
            Err(e) => {
                tracing::error!(error = %e, "unreadable delivery job dropped");
                return Ok(());
            }
        };
        let receives: u32 = m
            .attributes
            .get("ApproximateReceiveCount")
            .and_then(|c| c.parse().ok())
            .unwrap_or(1);
        let span = tracing::info_span!("deliver", webhook_id = %job.webhook_id, delivery_id = %job.delivery_id, receives);
        let res = self.deliver(&job, receives).instrument(span).await;
        if let Err(HooksError::RetryAfter(secs) | HooksError::WaitForSlot(secs)) = &res
            && let Some(receipt) = &m.receipt_handle
        {
            let _ = self
                .sqs
                .change_message_visibility()
                .queue_url(&self.cfg.delivery_queue_url)
                .receipt_handle(receipt)
                .visibility_timeout(i32::try_from(*secs).unwrap_or(i32::MAX))
                .send()
                .await;
        }
        res
    }

    /// Delivers `job`, received `receives` times (1 the first time).
    pub async fn deliver(&self, job: &DeliveryJob, receives: u32) -> Result<(), HooksError> {
        let d = DeliveryRef {
            account: &job.account,
            webhook_id: &job.webhook_id,
            delivery_id: &job.delivery_id,
            event_id: &job.event_id,
            event_type: job.event_type,
            queued_at: job.queued_at,
            replay_id: job.replay_id.as_deref(),
        };
        let now = self.clock.now_ms();
        let Some(hook) = self
            .store
            .get_webhook(&job.account, &job.webhook_id)
            .await?
        else {
            // Deleted: nobody can list its deliveries any more.
            return self.ended(job).await;
        };
        if !hook.enabled {
            // Not attempted: the record keeps the attempts made before.
            let attempt = self.attempts_before(&d, receives).await?;
            let a = Attempting {
                job,
                d,
                attempt,
                now,
            };
            let why = "the webhook is switched off".to_owned();
            let r = a.record(DeliveryStatus::Dropped, None, Some(why), None);
            self.store.record_delivery(&a.d, &r).await?;
            return self.ended(job).await;
        }
        let spread = spread(&job.delivery_id, receives);
        let limit = in_flight_limit(hook.failing_since.is_some(), self.cfg.in_flight);
        let lease_ms = i64::try_from(self.cfg.timeout_ms).unwrap_or(i64::MAX / 2) + LEASE_MARGIN_MS;
        let Some(slot) = self
            .store
            .take_delivery_slot(&job.account, &hook.id, limit, spread % limit, now, lease_ms)
            .await?
        else {
            let wait = slot_wait_seconds(self.cfg.timeout_ms, f64::from(spread % 1000) / 1000.0);
            tracing::info!(
                limit,
                wait,
                "the webhook's attempts in flight are all taken; waiting"
            );
            return Err(HooksError::WaitForSlot(wait));
        };
        let attempt = self.attempts_before(&d, receives).await? + 1;
        let outcome = self.post(job, &hook, now).await;
        if let Err(e) = self.store.release_delivery_slot(&slot).await {
            // Its lease runs out by itself.
            tracing::warn!(error = %e, "the attempt's place was not given back");
        }
        let a = Attempting {
            job,
            d,
            attempt,
            now,
        };
        match outcome {
            Ok(o) => self.conclude(&a, &hook, o).await,
            Err(refusal) => {
                tracing::warn!(reason = %refusal, "webhook URL not allowed; delivery failed");
                let r = a.record(DeliveryStatus::Failed, None, Some(refusal), None);
                self.store.record_delivery(&a.d, &r).await?;
                self.ended(job).await
            }
        }
    }

    /// Attempts made before this one. Waiting for a place is no attempt, so after the first
    /// receive the count is the record's (one strongly consistent read), not the queue's.
    async fn attempts_before(&self, d: &DeliveryRef<'_>, receives: u32) -> Result<u32, HooksError> {
        if receives <= 1 {
            return Ok(0);
        }
        Ok(self.store.delivery_attempts(d).await?)
    }

    /// The signed POST; `Err` when the URL policy refuses the address.
    async fn post(
        &self,
        job: &DeliveryJob,
        hook: &WebhookItem,
        now: i64,
    ) -> Result<PostOutcome, String> {
        let body = serde_json::to_vec(&job.body).map_err(|e| e.to_string())?;
        let secrets = hook.signing_secrets(now);
        self.client
            .post(&Delivery {
                url: &hook.url,
                secrets: &secrets,
                webhook_id: &hook.id,
                delivery_id: &job.delivery_id,
                event: job.event_type,
                body: &body,
                now_ms: now,
            })
            .await
    }

    /// What the endpoint's answer means: delivered, refused, or tried again after a backoff
    /// (given up, or the webhook switched off, once the give-up period is over).
    async fn conclude(
        &self,
        a: &Attempting<'_>,
        hook: &WebhookItem,
        outcome: PostOutcome,
    ) -> Result<(), HooksError> {
        let job = a.job;
        match verdict(outcome.status) {
            Verdict::Delivered => {
                let r = a.record(DeliveryStatus::Delivered, outcome.status, None, None);
                self.store.record_delivery(&a.d, &r).await?;
                if hook.failing_since.is_some()
                    && self
                        .store
                        .webhook_answered(&job.account, &job.webhook_id)
                        .await?
                {
                    tracing::info!("the endpoint answers in time again");
                }
                tracing::info!(status = ?outcome.status, "delivered");
                self.ended(job).await
            }
            Verdict::Stop => {
                // The endpoint answered: it is up, and said no to this one.
                let r = a.record(DeliveryStatus::Failed, outcome.status, outcome.error, None);
                self.store.record_delivery(&a.d, &r).await?;
                tracing::info!(status = ?outcome.status, "delivery refused by the endpoint");
                self.ended(job).await
            }
            Verdict::Retry => self.failed_for_now(a, outcome).await,
        }
    }

    /// An attempt that may work later: the failing run goes on; past the give-up period the
    /// webhook is switched off, a delivery that old is given up, else it comes back after its
    /// backoff.
    async fn failed_for_now(
        &self,
        a: &Attempting<'_>,
        outcome: PostOutcome,
    ) -> Result<(), HooksError> {
        let (job, now, attempt) = (a.job, a.now, a.attempt);
        let give_up_ms = i64::try_from(self.cfg.give_up_seconds)
            .unwrap_or(i64::MAX / 1000)
            .saturating_mul(1000);
        let last = outcome.error.as_deref().unwrap_or("no answer").to_owned();
        let since = self
            .store
            .webhook_failing(&job.account, &job.webhook_id, now)
            .await?;
        let final_reason = if now - since >= give_up_ms {
            let why = format!(
                "the endpoint has been failing for {} s (last: {last})",
                (now - since) / 1000
            );
            self.disable(&job.account, &job.webhook_id, &why, since, now)
                .await?;
            Some(why)
        } else if now - job.queued_at >= give_up_ms {
            Some(format!("gave up after {attempt} attempts (last: {last})"))
        } else {
            None
        };
        if let Some(why) = final_reason {
            let r = a.record(DeliveryStatus::Failed, outcome.status, Some(why), None);
            self.store.record_delivery(&a.d, &r).await?;
            return self.ended(job).await;
        }
        // Honour `Retry-After`, but never sooner than the backoff: an endpoint that keeps
        // asking for a second is not called every second for a day.
        let wait = retry_after_seconds(outcome.retry_after.as_deref(), now)
            .unwrap_or(0)
            .max(backoff_seconds(attempt));
        let r = a.record(
            DeliveryStatus::Retrying,
            outcome.status,
            outcome.error,
            Some(now + wait * 1000),
        );
        self.store.record_delivery(&a.d, &r).await?;
        tracing::info!(status = ?outcome.status, wait, "delivery failed; will retry");
        Err(HooksError::RetryAfter(wait))
    }

    /// The delivery is over (delivered, refused, given up or dropped): one less of its
    /// replay's to wait for.
    async fn ended(&self, job: &DeliveryJob) -> Result<(), HooksError> {
        if let Some(replay) = &job.replay_id {
            self.store
                .replay_delivery_done(&job.account, &job.webhook_id, replay)
                .await?;
        }
        Ok(())
    }

    /// Switches the webhook off with its `webhook.disabled` event (once, whichever delivery
    /// gets there first).
    async fn disable(
        &self,
        account: &str,
        webhook_id: &str,
        why: &str,
        since: i64,
        now: i64,
    ) -> Result<(), HooksError> {
        let ev = EventItem::new(
            account,
            EventType::WebhookDisabled,
            None,
            json!({
                "webhook_id": webhook_id,
                "reason": why,
                "failing_since": pagedesk_shared::clock::rfc3339(since),
            }),
            now,
        );
        if self
            .store
            .disable_webhook(account, webhook_id, why, &ev, now)
            .await?
        {
            tracing::warn!("webhook switched off: its endpoint kept failing");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn deliveries_spread_over_places_and_waits() {
        let firsts: std::collections::BTreeSet<u32> = (0..20)
            .map(|i| super::spread(&format!("dl_{i}"), 1) % 2)
            .collect();
        assert_eq!(firsts.len(), 2, "both places are tried first by some");
        assert_ne!(super::spread("dl_1", 1), super::spread("dl_1", 2));
    }
}
