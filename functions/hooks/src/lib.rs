//! The outgoing-webhook function. Three triggers, one binary:
//!
//! - the table's stream (`stream.rs`): a new feed entry pokes its account's dispatch;
//! - the dispatch queue (`dispatch.rs`): after the queue's delay (longer than the feed's
//!   hold-back), hand every new feed entry to each webhook that takes it, in feed order, as
//!   one delivery job each, then move the account's cursor; or replay a range to one webhook;
//! - the delivery queue (`deliver.rs`): POST one delivery, signed; record the attempt; retry
//!   with backoff through the record's visibility; switch the webhook off when its endpoint
//!   has been failing for the give-up period.
//!
//! The events feed is the source: deliveries carry what `GET /events` shows, in its order, and
//! a replay is a second read of it.

mod deliver;
mod dispatch;
mod stream;

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use pagedesk_shared::adapters::aws::Clients;
use pagedesk_shared::clock::Clock;
use pagedesk_shared::runtime::config::HooksConfig;
use pagedesk_shared::services::webhooks::WebhookClient;
use pagedesk_shared::store::Store;

pub use stream::StreamEvent;

pub struct Hooks {
    pub cfg: HooksConfig,
    pub store: Store,
    pub sqs: aws_sdk_sqs::Client,
    pub clock: Arc<dyn Clock>,
    pub client: WebhookClient,
}

#[derive(Debug, thiserror::Error)]
pub enum HooksError {
    #[error("unreadable job: {0}")]
    Poison(String),
    #[error(transparent)]
    Shared(#[from] pagedesk_shared::Error),
    #[error("SQS {0}")]
    Sqs(String),
    /// The delivery failed in a way worth trying again; its record comes back later.
    #[error("delivery will be tried again in {0} s")]
    RetryAfter(i64),
    /// The webhook's attempts in flight are all taken; its record comes back in that long,
    /// without an attempt.
    #[error("the webhook's attempts in flight are taken; back in {0} s")]
    WaitForSlot(i64),
}

impl Hooks {
    pub fn new(cfg: HooksConfig, clients: &Clients, clock: Arc<dyn Clock>) -> Self {
        Hooks {
            store: Store::new(clients.dynamo(), cfg.table.clone()),
            sqs: clients.sqs(),
            clock,
            client: WebhookClient::new(Duration::from_millis(cfg.timeout_ms), cfg.url_policy),
            cfg,
        }
    }

    /// A batch from either queue: which one is named by the records' source ARN, whose last
    /// part is the queue's name, as is the URL's.
    pub async fn handle_sqs(&self, event: SqsEvent) -> SqsBatchResponse {
        let name_of = |s: &str| s.rsplit([':', '/']).next().unwrap_or("").to_owned();
        let dispatch = name_of(&self.cfg.dispatch_queue_url);
        let from_dispatch = event
            .records
            .first()
            .and_then(|r| r.event_source_arn.as_deref())
            .is_some_and(|arn| name_of(arn) == dispatch);
        if from_dispatch {
            self.handle_dispatch_batch(event).await
        } else {
            self.handle_delivery_batch(event).await
        }
    }
}
