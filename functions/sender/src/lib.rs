//! The sender function: each outbound job becomes Send API calls in the Page's name.
//!
//! The window rules are applied again at send time (a reply can wait in the queue while the
//! window closes). Graph errors are classified by code and subcode: temporary ones are retried
//! with backoff through the record's visibility timeout, final ones fail the message with a
//! reason a person understands, 190 marks the Page `reauth_required`. A send that timed out is
//! ambiguous: our message id travels in `metadata`, and the echo settles it before anything is
//! sent again.

mod ai_agent;
mod send_api;

use send_api::sent_id;
pub use send_api::{FRESH_MS, Part, backoff, fresh_copy, metadata, parts, send_body};

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use pagedesk_shared::adapters::aws::Clients;
use pagedesk_shared::adapters::graph::{GraphClient, GraphError};
use pagedesk_shared::adapters::secrets::SecretCache;
use pagedesk_shared::adapters::sqs_batch::process_fifo;
use pagedesk_shared::clock::Clock;
use pagedesk_shared::contracts::queue::{OutboundJob, SendTarget};
use pagedesk_shared::domain::outbound::{self, ReplyAuthor, SendOutcome};
use pagedesk_shared::domain::window::{WindowState, window_at};
use pagedesk_shared::domain::{AuthorType, MessageStatus, PageStatus, ReplyRoute};
use pagedesk_shared::runtime::config::SenderConfig;
use pagedesk_shared::services::page_cache::PageCache;
use pagedesk_shared::store::{Lease, Message, PageItem, SentPart, Store, Timer};
use serde_json::json;
use tracing::Instrument;

/// How long a sender holds a message while calling Meta.
const LEASE_MS: i64 = 30_000;
/// How long to wait for the echo of a timed-out send before sending again.
const ECHO_GRACE_MS: i64 = 60_000;
/// Receives after which a message that keeps meeting temporary errors fails instead (below the
/// queue's maxReceiveCount, so nothing reaches the DLQ silently).
pub(crate) const MAX_ATTEMPTS: u32 = 8;

pub struct Sender {
    pub cfg: SenderConfig,
    pub store: Store,
    pub graph: GraphClient,
    pub secrets: Arc<SecretCache>,
    pub sqs: aws_sdk_sqs::Client,
    pub clock: Arc<dyn Clock>,
    pub bot: pagedesk_shared::services::ai_agent::AiAgentClient,
    /// Uploads go to Meta as presigned reads of the data bucket.
    pub s3: pagedesk_shared::adapters::s3::S3,
    /// Pages as last read (for `settings_cache_seconds`): a send reads none in steady state.
    pub pages: PageCache,
    /// Pages' settings as last read (for `settings_cache_seconds`), for auto-resolve.
    pub settings: pagedesk_shared::services::ttl_map::TtlMap<
        (String, String),
        pagedesk_shared::store::Settings,
    >,
}

impl Sender {
    /// The sender of `cfg` over `clients` (the same in Lambda and on the local host).
    pub fn new(cfg: SenderConfig, clients: &Clients, clock: Arc<dyn Clock>) -> Self {
        let secrets = SecretCache::shared(&clients.secrets(), cfg.secret_cache_seconds);
        Sender {
            store: Store::new(clients.dynamo(), cfg.table.clone()),
            graph: GraphClient::new(&cfg.graph).proving_with(&secrets),
            secrets,
            sqs: clients.sqs(),
            s3: clients.s3(),
            pages: PageCache::default(),
            settings: Default::default(),
            clock,
            bot: pagedesk_shared::services::ai_agent::AiAgentClient::new(
                Duration::from_millis(cfg.ai_agent_timeout_ms),
                cfg.url_policy,
            ),
            cfg,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("unreadable job: {0}")]
    Poison(String),
    #[error(transparent)]
    Store(#[from] pagedesk_shared::Error),
    /// Try again after this many seconds (set as the record's visibility timeout).
    #[error("retry in {0} s")]
    RetryAfter(i32),
}

impl Sender {
    pub async fn handle_batch(&self, event: SqsEvent) -> SqsBatchResponse {
        process_fifo(event.records, |m| self.handle_record(m)).await
    }

    async fn handle_record(&self, m: SqsMessage) -> Result<(), SendError> {
        let receives: u32 = m
            .attributes
            .get("ApproximateReceiveCount")
            .and_then(|c| c.parse().ok())
            .unwrap_or(1);
        let body = m
            .body
            .as_deref()
            .ok_or_else(|| SendError::Poison("empty body".into()))?;
        let job: OutboundJob =
            serde_json::from_str(body).map_err(|e| SendError::Poison(e.to_string()))?;
        let span = tracing::info_span!("send", conversation_id = %job.conversation_id, message_id = %job.message_id, receives);
        let res = async {
            match self.send(&job, receives).await {
                // Every wait ends: the last attempt settles the message instead of the DLQ
                // taking its job while the message still says `queued`.
                Err(SendError::RetryAfter(_))
                    if receives >= MAX_ATTEMPTS && job.ai_agent_event.is_none() =>
                {
                    self.give_up(&job).await
                }
                other => other,
            }
        }
        .instrument(span)
        .await;
        if let Err(SendError::RetryAfter(secs)) = &res
            && let Some(receipt) = &m.receipt_handle
        {
            // Backoff: the record comes back after `secs` instead of the queue's timeout.
            let _ = self
                .sqs
                .change_message_visibility()
                .queue_url(&self.cfg.outbound_queue_url)
                .receipt_handle(receipt)
                .visibility_timeout(*secs)
                .send()
                .await;
        }
        res
    }

    pub async fn send(&self, job: &OutboundJob, receives: u32) -> Result<(), SendError> {
        if let Some(event) = job.ai_agent_event {
            return self.deliver_to_ai_agent(job, event, receives).await;
        }
        let now = self.clock.now_ms();
        let mut msg = match fresh_copy(job, receives, now) {
            Some(m) => m,
            None => match self.lease(job, now).await? {
                Some(m) => m,
                None => return Ok(()),
            },
        };
        if let Some(since) = msg.ambiguous_since {
            if now - since < ECHO_GRACE_MS {
                tracing::info!("an earlier send timed out; waiting for its echo");
                self.store
                    .outbound()
                    .release_message(&msg, Some(since))
                    .await?;
                return Err(SendError::RetryAfter(
                    ((ECHO_GRACE_MS - (now - since)) / 1000).clamp(1, 60) as i32,
                ));
            }
            tracing::warn!("no echo for a timed-out send; sending again");
            self.store.outbound().clear_ambiguous(&msg).await?;
        }
        if let Err(e) = self.upload_urls(&mut msg).await {
            self.store.outbound().release_message(&msg, None).await?;
            return Err(e);
        }
        let Some(conv) = self.conversation(job).await? else {
            return self.fail(&msg, None, "conversation_missing").await;
        };
        // The AI agent's message goes out only while the conversation is still its own: a
        // person who claimed it while the message waited has it now (one read, for these only).
        if msg.author_type == AuthorType::Bot && !self.still_with_ai_agent(job).await? {
            tracing::info!(
                "a person took the conversation over; the AI agent's message is not sent"
            );
            return self.fail(&msg, None, "not_with_ai_agent").await;
        }
        let ttl = Duration::from_secs(self.cfg.settings_cache_seconds);
        let page = match self.pages.get(&self.store, &conv.page_id, ttl).await? {
            Some(p) if p.account == job.account => p,
            _ => return self.fail(&msg, None, "page_disconnected").await,
        };
        if page.status == PageStatus::ReauthRequired {
            return self.fail(&msg, None, "page_disconnected").await;
        }
        if conv.channel.reply_route() == ReplyRoute::CommentReply {
            return self
                .send_comment_reply(&msg, &conv, &page, now, receives)
                .await;
        }
        // Inside the standard window the setting changes nothing, so a job that does not carry
        // it (the API stored the reply without reading it) reads it only once that has closed.
        let carried = job.context.as_ref().and_then(|c| c.human_agent());
        let mut window = window_at(conv.last_inbound_at, carried.unwrap_or(false), now);
        if window.state != WindowState::Open && carried.is_none() {
            let settings = self
                .store
                .settings_for_page(&job.account, &conv.page_id)
                .await?;
            window = window_at(conv.last_inbound_at, settings.human_agent_enabled, now);
        }
        let author = if msg.author_type == AuthorType::Agent {
            ReplyAuthor::HumanAgent
        } else {
            ReplyAuthor::Automatic
        };
        let kind = match outbound::messaging_type(&window, author) {
            Ok(k) => k,
            Err(refusal) => {
                tracing::info!(reason = ?refusal, "window closed while the reply waited");
                return self.fail(&msg, None, "window_closed").await;
            }
        };
        let Some(token) = page.token(&self.secrets).await? else {
            return self.fail(&msg, None, "page_disconnected").await;
        };
        let parts = parts(&msg);
        for (i, part) in parts.iter().enumerate().skip(msg.sent_mids.len()) {
            let body = send_body(&conv, &msg, i, part, kind);
            // The send time receipts compare with: taken before the call, so never after the
            // time Meta gives the message (a watermark at that time covers it).
            let started = self.clock.now_ms();
            match self
                .graph
                .post_json(&format!("{}/messages", page.page_id), &body, &token)
                .await
            {
                Ok(resp) => {
                    let Some(mid) = sent_id(&resp, "message_id") else {
                        let e = GraphError::Unconfirmed("a 2xx answer without message_id".into());
                        return self.on_graph_error(&msg, &page, e, receives).await;
                    };
                    let recorded = self
                        .store
                        .outbound()
                        .record_part(
                            &msg,
                            SentPart::new(i, &mid, started).sent_as(kind),
                            self.clock.now_ms(),
                        )
                        .await?;
                    tracing::info!(part = i, recorded, "part sent");
                }
                Err(e) => return self.on_graph_error(&msg, &page, e, receives).await,
            }
        }
        self.after_team_message(&job.account, &conv, &msg).await;
        Ok(())
    }

    /// A message of the team (a person's or the AI agent's, not an automatic one) went out: the
    /// conversation now waits on the person, and where the Page resolves such conversations
    /// (`auto_resolve_hours`) its moment is put in the scheduler's index. A failure is logged:
    /// the message is sent, and the next one schedules again.
    async fn after_team_message(&self, account: &str, conv: &SendTarget, msg: &Message) {
        if !matches!(msg.author_type, AuthorType::Agent | AuthorType::Bot) {
            return;
        }
        let result = async {
            let key = (account.to_owned(), conv.page_id.clone());
            let ttl = Duration::from_secs(self.cfg.settings_cache_seconds);
            let hours = match self.settings.fresh(&key, |_| ttl) {
                Some(s) => s.auto_resolve_hours,
                None => {
                    let s = self.store.settings_for_page(account, &conv.page_id).await?;
                    let h = s.auto_resolve_hours;
                    self.settings.put(key, s);
                    h
                }
            };
            if let Some(h) = hours {
                let at = msg.created_at + h * 3_600_000;
                self.store
                    .schedule_timer(account, &conv.conversation_id, Timer::AutoResolve, at)
                    .await?;
            }
            Ok::<_, pagedesk_shared::Error>(())
        }
        .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, "auto-resolve not scheduled");
        }
    }

    /// A reply in a comment conversation: in public under the comment (`POST /{comment}/comments`,
    /// Instagram's `/{comment}/replies`)
    /// or Meta's one private reply to the commenter (`recipient.comment_id`, within 7 days).
    async fn send_comment_reply(
        &self,
        msg: &Message,
        conv: &SendTarget,
        page: &PageItem,
        now: i64,
        receives: u32,
    ) -> Result<(), SendError> {
        let Some(comment) = msg.comment_id.clone() else {
            return self.fail(msg, None, "comment_unavailable").await;
        };
        if msg.private
            && !outbound::private_reply_allowed(
                msg.comment_created_at.unwrap_or(msg.created_at),
                now,
            )
        {
            return self.fail(msg, None, "private_reply_window_closed").await;
        }
        let Some(token) = page.token(&self.secrets).await? else {
            return self.fail(msg, None, "page_disconnected").await;
        };
        let text = msg.text.clone().unwrap_or_default();
        let (path, body, id_field) = if msg.private {
            let body = json!({"recipient": {"comment_id": comment}, "messaging_type": "RESPONSE",
                              "message": {"text": text, "metadata": metadata(&conv.conversation_id, msg.reference(), 0)}});
            (format!("{}/messages", page.page_id), body, "message_id")
        } else {
            let mut body = json!({"message": text});
            if let Some(url) = msg.attachments.first().and_then(|a| a.url.clone()) {
                body["attachment_url"] = json!(url);
            }
            // Facebook answers a comment on `/comments`, Instagram on `/replies`.
            (
                format!("{comment}/{}", conv.channel.public_reply_edge()),
                body,
                "id",
            )
        };
        let started = self.clock.now_ms();
        match self.graph.post_json(&path, &body, &token).await {
            Ok(resp) => {
                let Some(id) = sent_id(&resp, id_field) else {
                    let e = GraphError::Unconfirmed(format!("a 2xx answer without {id_field}"));
                    return self.on_graph_error(msg, page, e, receives).await;
                };
                let recorded = self
                    .store
                    .outbound()
                    .record_part(msg, SentPart::new(0, &id, started), self.clock.now_ms())
                    .await?;
                tracing::info!(private = msg.private, recorded, "comment reply sent");
                self.after_team_message(&msg.account, conv, msg).await;
                Ok(())
            }
            Err(e) => self.on_graph_error(msg, page, e, receives).await,
        }
    }

    async fn on_graph_error(
        &self,
        msg: &Message,
        page: &PageItem,
        e: GraphError,
        receives: u32,
    ) -> Result<(), SendError> {
        let outcome = outbound::classify(&e);
        tracing::warn!(error = %e, outcome = ?outcome, "send failed");
        match outcome {
            SendOutcome::Retry if receives >= MAX_ATTEMPTS => {
                let reason = if matches!(e.code(), Some(4 | 17 | 32 | 341 | 613)) {
                    "rate_limited"
                } else {
                    "send_failed"
                };
                self.store.outbound().release_message(msg, None).await?;
                self.fail(msg, Some(&e), reason).await
            }
            SendOutcome::Retry => {
                self.store.outbound().release_message(msg, None).await?;
                Err(SendError::RetryAfter(backoff(receives)))
            }
            SendOutcome::Ambiguous => {
                self.store
                    .outbound()
                    .release_message(msg, Some(self.clock.now_ms()))
                    .await?;
                Err(SendError::RetryAfter((ECHO_GRACE_MS / 2000) as i32))
            }
            SendOutcome::Fail(reason) => {
                if reason == "eu_privacy_restriction"
                    && let Err(err) = self
                        .store
                        .flag_privacy_restricted(&page.page_id, self.clock.now_ms())
                        .await
                {
                    tracing::warn!(error = %err, "privacy restriction not recorded on the page");
                }
                self.fail(msg, Some(&e), reason).await
            }
            SendOutcome::Disconnected => {
                // The Page may have been connected again since this sender cached it: then the
                // refused token is the old one, and the send is tried again with the new one.
                self.pages.invalidate(&page.page_id);
                let fresh = self.store.get_page(&page.page_id).await?;
                if fresh.is_some_and(|p| {
                    p.updated_at > page.updated_at && p.status != PageStatus::ReauthRequired
                }) {
                    tracing::info!("the Page was connected again since it was cached; retrying");
                    self.store.outbound().release_message(msg, None).await?;
                    return Err(SendError::RetryAfter(1));
                }
                let changed = self
                    .store
                    .disconnect_page(
                        &page.account,
                        &page.page_id,
                        "token_invalid",
                        self.clock.now_ms(),
                    )
                    .await?;
                if changed {
                    tracing::warn!(page_id = %page.page_id, "page token refused; page marked reauth_required");
                }
                self.fail(msg, Some(&e), "page_disconnected").await
            }
        }
    }

    /// The message under this sender's lease, read in the same request; `None` when there
    /// is nothing to send (the reason is logged).
    async fn lease(&self, job: &OutboundJob, now: i64) -> Result<Option<Message>, SendError> {
        let lease = self
            .store
            .outbound()
            .take_lease(
                &job.account,
                &job.conversation_id,
                &job.message_sk,
                now,
                now + LEASE_MS,
            )
            .await?;
        Ok(match lease {
            Lease::Taken(m) => Some(*m),
            Lease::Missing => {
                tracing::warn!("job for a message that does not exist; dropped");
                None
            }
            Lease::Settled(status) => {
                tracing::info!(%status, "message already settled");
                None
            }
            // A second job for the same message (a re-enqueue): the holder settles it, and if
            // the holder dies its own job comes back. Retrying here had no end.
            Lease::Held => {
                tracing::info!("another sender holds this message; this job is dropped");
                None
            }
        })
    }

    /// The conversation as the job carries it, else as stored (jobs queued without it).
    async fn conversation(&self, job: &OutboundJob) -> pagedesk_shared::Result<Option<SendTarget>> {
        if let Some(c) = &job.context {
            return Ok(Some(SendTarget::from_context(&job.conversation_id, c)));
        }
        let stored = self
            .store
            .get_conversation(&job.account, &job.conversation_id)
            .await?;
        Ok(stored.as_ref().map(SendTarget::of))
    }

    /// The message a job is about (gone if its conversation was erased).
    async fn job_message(&self, job: &OutboundJob) -> pagedesk_shared::Result<Option<Message>> {
        self.store
            .get_message(&job.account, &job.conversation_id, &job.message_sk)
            .await
    }

    /// Fails a message whose sends kept waiting: `unconfirmed` when a send may have gone out
    /// (its echo can still turn it `sent`), else `send_failed`.
    async fn give_up(&self, job: &OutboundJob) -> Result<(), SendError> {
        let Some(msg) = self.job_message(job).await? else {
            return Ok(());
        };
        if msg.status != MessageStatus::Queued {
            return Ok(());
        }
        let reason = if msg.ambiguous_since.is_some() {
            "unconfirmed"
        } else {
            "send_failed"
        };
        tracing::warn!(reason, "attempts used up; the message fails visibly");
        self.fail(&msg, None, reason).await
    }

    /// Whether the conversation is with the AI agent now (a consistent read).
    async fn still_with_ai_agent(&self, job: &OutboundJob) -> Result<bool, SendError> {
        Ok(self
            .store
            .get_conversation(&job.account, &job.conversation_id)
            .await?
            .is_some_and(|c| c.with_ai_agent()))
    }

    async fn fail(
        &self,
        msg: &Message,
        e: Option<&GraphError>,
        reason: &str,
    ) -> Result<(), SendError> {
        let err = outbound::failure(reason, e);
        self.store
            .outbound()
            .fail_message(msg, &err, self.clock.now_ms())
            .await?;
        tracing::info!(reason, "message failed");
        Ok(())
    }
}

impl Sender {
    /// An agent's upload is sent as a presigned read of its object (valid an hour, long
    /// enough for Meta to fetch it and for our retries). Only in memory: the stored message
    /// keeps the key, never a URL that expires.
    async fn upload_urls(&self, msg: &mut Message) -> Result<(), SendError> {
        let Some(bucket) = self.cfg.bucket.as_deref() else {
            return Ok(());
        };
        for a in msg.attachments.iter_mut() {
            if a.url.is_none()
                && let Some(key) = &a.key
            {
                a.url =
                    Some(pagedesk_shared::services::media::read_url(&self.s3, bucket, key).await?);
            }
        }
        Ok(())
    }
}
