//! The router function: inbound events become contacts, conversations and messages.
//!
//! Every write that must happen once is a conditional write or a transaction, so SQS
//! redeliveries and Meta's retries leave one message. A record whose body cannot be read at all
//! fails (and reaches the DLQ after the queue's maxReceiveCount); an event that is readable but
//! not understood is logged and skipped, so one bad event never fails its neighbours.

mod after_inbound;
mod contacts;
mod conversations;
mod feed;
mod import;
mod instagram;
mod media;
mod messaging;

use std::sync::Arc;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use pagedesk_shared::adapters::graph::GraphClient;
use pagedesk_shared::adapters::secrets::SecretCache;
use pagedesk_shared::adapters::sqs_batch::process_fifo;
use pagedesk_shared::clock::Clock;
use pagedesk_shared::domain::Channel;
use pagedesk_shared::meta::event::{self, WebhookEvent};
use pagedesk_shared::meta::webhook::{Field, InboundEvent};
use pagedesk_shared::runtime::config::RouterConfig;
use pagedesk_shared::store::{PageItem, Receipt, Store};
use tracing::Instrument;

pub use after_inbound::AccountCache;

/// How often an event whose target is missing is put off before it is given up (echoes of
/// our own sends are then stored as the Page's messages). With `deferral_delay` that is about
/// eight and a half minutes in all.
pub const MAX_DEFERRALS: u32 = 8;

/// Seconds before the `n`th retry (from 0) of a deferred event: 2, 4, 8, … 256, within SQS's
/// 15-minute limit on delays.
pub fn deferral_delay(n: u32) -> i32 {
    (2i32 << n.min(9)).min(900)
}

/// What handling an event came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Handled {
    Done,
    /// What the event refers to has not arrived yet (named for the log).
    Waiting(&'static str),
}
pub use pagedesk_shared::services::page_cache::PageCache;

pub struct Router {
    pub cfg: RouterConfig,
    pub store: Store,
    pub graph: GraphClient,
    pub secrets: Arc<SecretCache>,
    pub clock: Arc<dyn Clock>,
    pub pages: PageCache,
    pub accounts: AccountCache,
    /// Automatic messages and AI-agent deliveries go to the outbound queue.
    pub sqs: aws_sdk_sqs::Client,
    /// Events the webhook kept in S3 because they were too large for the queue; media copies.
    pub s3: pagedesk_shared::adapters::s3::S3,
    /// Fetches media URLs under the URL policy.
    pub media_http: reqwest::Client,
    /// The Pages this process recorded a webhook for (`last_webhook_at` is written at most
    /// once a minute per Page and process).
    pub webhook_marks: pagedesk_shared::services::ttl_map::TtlMap<String, ()>,
}

/// How stale a Page's `last_webhook_at` may be before the router writes it again.
const WEBHOOK_MARK_MS: i64 = 60_000;

#[derive(Debug, thiserror::Error)]
pub enum RouterError {
    /// The record body is not an inbound event: retrying cannot help, the DLQ keeps it.
    #[error("unreadable record: {0}")]
    Poison(String),
    #[error(transparent)]
    Store(#[from] pagedesk_shared::Error),
    #[error("conversation could not be settled after retries")]
    Contention,
    /// Graph could not be asked (an import step): the record is retried.
    #[error("graph unavailable: {0}")]
    Graph(#[from] pagedesk_shared::adapters::graph::GraphError),
}

impl Router {
    pub fn new(
        cfg: RouterConfig,
        clients: &pagedesk_shared::adapters::aws::Clients,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let secrets = pagedesk_shared::adapters::secrets::SecretCache::shared(
            &clients.secrets(),
            cfg.secret_cache_seconds,
        );
        Router {
            store: Store::new(clients.dynamo(), cfg.table.clone()),
            graph: pagedesk_shared::adapters::graph::GraphClient::new(&cfg.graph)
                .proving_with(&secrets),
            secrets,
            clock,
            pages: Default::default(),
            accounts: Default::default(),
            sqs: clients.sqs(),
            s3: clients.s3(),
            media_http: media::client(cfg.url_policy),
            webhook_marks: Default::default(),
            cfg,
        }
    }

    /// Records that a webhook for `page` arrived (for `GET /pages/{id}/diagnostics`): one
    /// UpdateItem a minute per Page at most; a failure is logged, never the event's.
    async fn mark_webhook(&self, page: &PageItem) {
        let now = self.clock.now_ms();
        let period = std::time::Duration::from_millis(WEBHOOK_MARK_MS as u64);
        if page
            .last_webhook_at
            .is_some_and(|t| now - t < WEBHOOK_MARK_MS)
            || self
                .webhook_marks
                .fresh(&page.page_id, |_| period)
                .is_some()
        {
            return;
        }
        self.webhook_marks.put(page.page_id.clone(), ());
        if let Err(e) = self.store.mark_webhook_seen(&page.page_id, now).await {
            tracing::warn!(error = %e, "the Page's last webhook time was not recorded");
        }
    }

    pub async fn handle_batch(&self, event: SqsEvent) -> SqsBatchResponse {
        process_fifo(event.records, |m| self.handle_record(m)).await
    }

    pub async fn handle_record(&self, m: SqsMessage) -> Result<(), RouterError> {
        let body = m
            .body
            .as_deref()
            .ok_or_else(|| RouterError::Poison("empty body".into()))?;
        if body.starts_with(pagedesk_shared::contracts::queue::MEDIA_JOB_PREFIX) {
            let job: pagedesk_shared::contracts::queue::MediaJob =
                serde_json::from_str(body).map_err(|e| RouterError::Poison(e.to_string()))?;
            return self.on_media(job).await;
        }
        if body.starts_with(pagedesk_shared::contracts::queue::IMPORT_JOB_PREFIX) {
            let job: pagedesk_shared::contracts::queue::ImportJob =
                serde_json::from_str(body).map_err(|e| RouterError::Poison(e.to_string()))?;
            let receives: u32 = m
                .attributes
                .get("ApproximateReceiveCount")
                .and_then(|c| c.parse().ok())
                .unwrap_or(1);
            let span = tracing::info_span!("import", page_id = %job.page_id, step = job.step);
            return self.on_import(job, receives).instrument(span).await;
        }
        let mut ev: InboundEvent =
            serde_json::from_str(body).map_err(|e| RouterError::Poison(e.to_string()))?;
        if let Some(key) = ev.spilled.take() {
            ev = self.unspill(&key).await?;
        }
        if ev.v != 1 {
            return Err(RouterError::Poison(format!(
                "unknown body version {}",
                ev.v
            )));
        }
        let span = tracing::info_span!("event", page_id = %ev.page_id, field = ?ev.field, sqs_message_id = m.message_id.as_deref().unwrap_or(""));
        self.handle_event(ev).instrument(span).await
    }

    /// The whole event the webhook kept in S3. A missing object is retried (and lands in the
    /// DLQ if it never shows); an unreadable one cannot heal.
    async fn unspill(&self, key: &str) -> Result<InboundEvent, RouterError> {
        let bucket = self.cfg.bucket.as_deref().ok_or_else(|| {
            RouterError::Poison("a spilled event, but no bucket is configured".into())
        })?;
        let bytes = pagedesk_shared::services::spill::get(&self.s3, bucket, key).await?;
        let ev: InboundEvent =
            serde_json::from_slice(&bytes).map_err(|e| RouterError::Poison(e.to_string()))?;
        if ev.spilled.is_some() {
            return Err(RouterError::Poison("a spilled event points further".into()));
        }
        Ok(ev)
    }

    pub async fn handle_event(&self, ev: InboundEvent) -> Result<(), RouterError> {
        let ttl = std::time::Duration::from_secs(self.cfg.settings_cache_seconds);
        // Instagram's webhooks name the Instagram account; its Page was linked on connect.
        let instagram = ev.object == "instagram";
        let thread = if instagram {
            Channel::Instagram
        } else {
            Channel::Messenger
        };
        let page = if instagram {
            self.pages
                .get_instagram(&self.store, &ev.page_id, ttl)
                .await?
        } else {
            self.pages.get(&self.store, &ev.page_id, ttl).await?
        };
        let Some(page) = page else {
            tracing::warn!(page_id = %ev.page_id, object = %ev.object, "event for a Page no account registered; skipped");
            return Ok(());
        };
        let parsed = match event::parse(&ev) {
            // The App Dashboard's test button sends messaging fields as `{field, value}`
            // changes; the value is an ordinary messaging event.
            WebhookEvent::Change { field, value }
                if field.starts_with("messag") && value.get("recipient").is_some() =>
            {
                event::parse(&InboundEvent {
                    field: Field::Messaging,
                    event: value,
                    ..ev.clone()
                })
            }
            other => other,
        };
        let field = match &parsed {
            WebhookEvent::Change { field, .. } if instagram && field.ends_with("comments") => {
                "instagram_comment"
            }
            _ if instagram => "instagram",
            WebhookEvent::Change { field, .. } => field.as_str(),
            _ => "messaging",
        };
        self.mark_webhook(&page).await;
        if !page.channels.admits(field) {
            tracing::info!(
                field,
                "the Page's channel for this event is switched off; skipped"
            );
            return Ok(());
        }
        let last_try = ev.deferrals >= MAX_DEFERRALS;
        let handled = match parsed {
            WebhookEvent::Inbound(m) => self
                .on_inbound(&page, m, thread)
                .await
                .map(|_| Handled::Done),
            WebhookEvent::Echo(e) => self.on_echo(&page, e, thread, last_try).await,
            WebhookEvent::Delivery {
                user, watermark, ..
            } => {
                self.on_receipt(&page, &user, Receipt::Delivered, watermark)
                    .await
            }
            WebhookEvent::Read { user, watermark } => {
                self.on_receipt(&page, &user, Receipt::Read, watermark)
                    .await
            }
            WebhookEvent::Reaction(r) => self.on_reaction(&page, r).await,
            WebhookEvent::Edit {
                user,
                mid,
                text,
                num_edit,
                timestamp,
            } => {
                self.on_edit(&page, &user, &mid, &text, num_edit, timestamp)
                    .await
            }
            WebhookEvent::Unsent {
                user,
                mid,
                timestamp,
            } => self.on_unsent(&page, &user, &mid, timestamp).await,
            WebhookEvent::Ignored { kind } => {
                tracing::info!(kind, "event kind has no effect on conversations; skipped");
                Ok(Handled::Done)
            }
            WebhookEvent::Change { field, value } if instagram => self
                .on_instagram_change(&page, &field, &value)
                .await
                .map(|_| Handled::Done),
            WebhookEvent::Change { field, value } => self
                .on_change(&page, &field, &value)
                .await
                .map(|_| Handled::Done),
            WebhookEvent::Unknown { reason } => {
                tracing::warn!(reason = %reason, "event not understood; skipped");
                Ok(Handled::Done)
            }
        }?;
        match handled {
            Handled::Done => Ok(()),
            Handled::Waiting(what) if !last_try => self.defer(ev, what).await,
            Handled::Waiting(what) => {
                tracing::warn!(
                    what,
                    deferrals = ev.deferrals,
                    "what the event refers to never arrived; dropped"
                );
                Ok(())
            }
        }
    }

    /// Puts an event off on the deferred queue, to be handled again after a growing delay,
    /// instead of failing its record: a failed record would hold back its person's FIFO
    /// group, where the message it waits for may be queued behind it.
    async fn defer(&self, mut ev: InboundEvent, what: &'static str) -> Result<(), RouterError> {
        let delay = deferral_delay(ev.deferrals);
        ev.deferrals += 1;
        let body = serde_json::to_string(&ev).map_err(|e| RouterError::Poison(e.to_string()))?;
        self.sqs
            .send_message()
            .queue_url(&self.cfg.deferred_queue_url)
            .message_body(body)
            .delay_seconds(delay)
            .send()
            .await
            .map_err(|e| pagedesk_shared::Error::sqs("SendMessage", e.into_service_error()))?;
        tracing::info!(
            what,
            deferrals = ev.deferrals,
            delay,
            "not here yet; event deferred"
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deferrals_back_off_and_end_within_minutes() {
        let delays: Vec<i32> = (0..MAX_DEFERRALS).map(deferral_delay).collect();
        assert_eq!(delays, [2, 4, 8, 16, 32, 64, 128, 256]);
        assert_eq!(delays.iter().sum::<i32>(), 510);
        assert_eq!(deferral_delay(40), 900, "never past SQS's limit");
    }
}
