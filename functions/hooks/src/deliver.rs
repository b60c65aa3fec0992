//! One delivery: POST it signed, record the attempt, and decide what comes next. A retry is
//! the record coming back after its backoff (its visibility is set to it), which also holds up
//! the rest of its FIFO group: a conversation's later events wait behind it, in order, and
//! nothing else does.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use pagedesk_shared::adapters::sqs_batch::process_fifo;
use pagedesk_shared::contracts::queue::DeliveryJob;
use pagedesk_shared::domain::webhooks::{Verdict, backoff_seconds, retry_after_seconds, verdict};
use pagedesk_shared::domain::{DeliveryStatus, EventType};
use pagedesk_shared::services::webhooks::Delivery;
use pagedesk_shared::store::{Attempt, DeliveryRef, EventItem};
use serde_json::json;
use tracing::Instrument;

use crate::{Hooks, HooksError};

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
        if let Err(HooksError::RetryAfter(secs)) = &res
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

    /// Delivers `job` (attempt `attempt`, 1-based).
    pub async fn deliver(&self, job: &DeliveryJob, attempt: u32) -> Result<(), HooksError> {
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
        let record = |status, http_status, error: Option<String>, next_try_at| Attempt {
            status,
            attempts: attempt,
            http_status,
            error,
            at: now,
            next_try_at,
        };
        let Some(hook) = self
            .store
            .get_webhook(&job.account, &job.webhook_id)
            .await?
        else {
            // Deleted: nobody can list its deliveries any more.
            return Ok(());
        };
        if !hook.enabled {
            let why = "the webhook is switched off".to_owned();
            self.store
                .record_delivery(&d, &record(DeliveryStatus::Dropped, None, Some(why), None))
                .await?;
            return Ok(());
        }
        let give_up_ms = i64::try_from(self.cfg.give_up_seconds)
            .unwrap_or(i64::MAX / 1000)
            .saturating_mul(1000);
        let body = serde_json::to_vec(&job.body).map_err(|e| HooksError::Poison(e.to_string()))?;
        let secrets = hook.signing_secrets(now);
        let outcome = self
            .client
            .post(&Delivery {
                url: &hook.url,
                secrets: &secrets,
                webhook_id: &hook.id,
                delivery_id: &job.delivery_id,
                event: job.event_type,
                body: &body,
                now_ms: now,
            })
            .await;
        let outcome = match outcome {
            Ok(o) => o,
            Err(refusal) => {
                tracing::warn!(reason = %refusal, "webhook URL not allowed; delivery failed");
                let a = record(DeliveryStatus::Failed, None, Some(refusal), None);
                self.store.record_delivery(&d, &a).await?;
                return Ok(());
            }
        };
        match verdict(outcome.status) {
            Verdict::Delivered => {
                let a = record(DeliveryStatus::Delivered, outcome.status, None, None);
                self.store.record_delivery(&d, &a).await?;
                if hook.failing_since.is_some() {
                    self.store
                        .webhook_recovered(&job.account, &job.webhook_id)
                        .await?;
                }
                tracing::info!(status = ?outcome.status, "delivered");
                Ok(())
            }
            Verdict::Stop => {
                // The endpoint answered: it is up, and said no to this one.
                let a = record(DeliveryStatus::Failed, outcome.status, outcome.error, None);
                self.store.record_delivery(&d, &a).await?;
                tracing::info!(status = ?outcome.status, "delivery refused by the endpoint");
                Ok(())
            }
            Verdict::Retry => {
                let since = self
                    .store
                    .webhook_failing(&job.account, &job.webhook_id, now)
                    .await?;
                if now - since >= give_up_ms {
                    let why = format!(
                        "the endpoint has been failing for {} s (last: {})",
                        (now - since) / 1000,
                        outcome.error.as_deref().unwrap_or("no answer")
                    );
                    self.disable(&job.account, &job.webhook_id, &why, since, now)
                        .await?;
                    let a = record(DeliveryStatus::Failed, outcome.status, Some(why), None);
                    self.store.record_delivery(&d, &a).await?;
                    return Ok(());
                }
                if now - job.queued_at >= give_up_ms {
                    let why = format!(
                        "gave up after {attempt} attempts (last: {})",
                        outcome.error.as_deref().unwrap_or("no answer")
                    );
                    let a = record(DeliveryStatus::Failed, outcome.status, Some(why), None);
                    self.store.record_delivery(&d, &a).await?;
                    return Ok(());
                }
                // Honour `Retry-After`, but never sooner than the backoff: an endpoint that
                // keeps asking for a second is not called every second for a day.
                let wait = retry_after_seconds(outcome.retry_after.as_deref(), now)
                    .unwrap_or(0)
                    .max(backoff_seconds(attempt));
                let a = record(
                    DeliveryStatus::Retrying,
                    outcome.status,
                    outcome.error,
                    Some(now + wait * 1000),
                );
                self.store.record_delivery(&d, &a).await?;
                tracing::info!(status = ?outcome.status, wait, "delivery failed; will retry");
                Err(HooksError::RetryAfter(wait))
            }
        }
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
