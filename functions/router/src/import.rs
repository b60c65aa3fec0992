//! History import: a Page's recent Messenger conversations read through the Conversations API
//! and stored as if they had arrived, quietly (no greeting, away message or AI agent).
//! Reconciliation is the same run started by the scheduler for what webhooks missed: its own
//! progress on the Page (`reconcile`), no `page.import` events, only the conversations it
//! creates are routed, and the messages it stores are counted in `reconciled_messages`.
//!
//! An import runs as a chain of steps on the inbound queue, in the Page's own FIFO group, so
//! one step runs at a time. A step reads one page of conversations and each one's messages,
//! paced to Meta's 2 calls per second per Page, then queues the next step and saves its
//! progress on the Page. A step that fails or dies is delivered again and redoes its work:
//! messages are stored once (their mid is guarded, as for webhook deliveries), and a step
//! whose number the Page has already passed is dropped.

use std::time::Duration;

use pagedesk_shared::adapters::graph::{GraphError, OldMessage};
use pagedesk_shared::clock::DAY_MS;
use pagedesk_shared::contracts::queue::{ImportJob, enqueue_import};
use pagedesk_shared::domain::{
    AuthorType, Channel, ConversationStatus, Direction, EventType, MessageStatus,
};
use pagedesk_shared::store::{EventItem, ImportKind, ImportProgress, Message, PageItem};
use serde_json::json;

use crate::messaging::Anchor;
use crate::{Router, RouterError};

/// Conversations per step: with two calls each, a step stays near ten seconds.
const THREADS_PER_STEP: u32 = 10;
/// Meta allows the Conversations API 2 calls per second per Page.
const CALL_GAP: Duration = Duration::from_millis(500);
/// A step that still cannot reach Graph on this receive fails the import (visibly) instead of
/// going to the dead-letter queue and leaving it `running`: the inbound queue's
/// maxReceiveCount is 5.
const LAST_RECEIVE: u32 = 4;

/// Spaces calls at least `CALL_GAP` apart.
struct Pace(Option<tokio::time::Instant>);

impl Pace {
    async fn wait(&mut self) {
        if let Some(last) = self.0 {
            tokio::time::sleep_until(last + CALL_GAP).await;
        }
        self.0 = Some(tokio::time::Instant::now());
    }
}

/// Timeouts, transport errors and Meta's 5xx: the step is retried.
fn transient(e: &GraphError) -> bool {
    match e {
        GraphError::Http { status } => *status >= 500,
        GraphError::Api { code, .. } => matches!(code, 1 | 2 | 4 | 17 | 32 | 613),
        GraphError::Timeout | GraphError::Transport(_) | GraphError::Unconfirmed(_) => true,
        GraphError::Decode(_) => false,
    }
}

use pagedesk_shared::clock::parse_graph_time as parse_time;

impl Router {
    pub(crate) async fn on_import(&self, job: ImportJob, receives: u32) -> Result<(), RouterError> {
        let Some(page) = self
            .store
            .get_page(&job.page_id)
            .await?
            .filter(|p| p.account == job.account)
        else {
            tracing::info!("import step for a Page no longer here; dropped");
            return Ok(());
        };
        let slot = match job.kind {
            ImportKind::History => &page.import,
            ImportKind::Reconcile => &page.reconcile,
        };
        let Some(mut p) = slot
            .clone()
            .filter(|p| p.run == job.run && p.status == "running" && p.step == job.step)
        else {
            tracing::info!("import step already done or replaced; dropped");
            return Ok(());
        };
        let token = match page.token(&self.secrets).await? {
            Some(t) => t,
            None => {
                return self
                    .fail_import(&page, job.kind, p, "the Page's token is missing")
                    .await;
            }
        };
        let mut pace = Pace(None);
        pace.wait().await;
        let (threads, next) = match self
            .graph
            .conversations(&page.page_id, &token, p.after.as_deref(), THREADS_PER_STEP)
            .await
        {
            Ok(x) => x,
            Err(e) if transient(&e) && receives < LAST_RECEIVE => return Err(e.into()),
            Err(e) => return self.fail_import(&page, job.kind, p, &e.to_string()).await,
        };
        let mut done = next.is_none();
        let mut found = 0;
        for t in threads {
            // Listed most recently active first: the first older one ends the import.
            if parse_time(t.updated_time.as_deref()).is_some_and(|at| at < p.since) {
                done = true;
                break;
            }
            pace.wait().await;
            let msgs = match self.graph.thread_messages(&t.id, &token).await {
                Ok(m) => m,
                Err(e) if transient(&e) && receives < LAST_RECEIVE => return Err(e.into()),
                Err(e) if transient(&e) => {
                    return self.fail_import(&page, job.kind, p, &e.to_string()).await;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "a conversation's messages could not be read; skipped");
                    continue;
                }
            };
            // The profile lookup of a new contact is a Graph call too.
            pace.wait().await;
            // Counted whether stored now or by an earlier try of this step, so a redone step
            // reports the same figures.
            let (seen, stored) = self.import_thread(&page, &p, job.kind, msgs).await?;
            if seen > 0 {
                p.conversations += 1;
                p.messages += seen as i64;
            }
            found += stored as i64;
            tracing::debug!(seen, stored, "conversation imported");
        }
        let now = self.clock.now_ms();
        p.after = next;
        p.step = job.step + 1;
        if done {
            p.status = "done".into();
            p.finished_at = Some(now);
        } else {
            // Queued before the progress is saved: a crash between the two redoes this step
            // (its successor's enqueue is deduplicated), never loses the chain.
            let next_job =
                ImportJob::new(&page.account, &page.page_id, &p.run, p.step).of_kind(job.kind);
            enqueue_import(&self.sqs, &self.cfg.inbound_queue_url, &next_job).await?;
        }
        // Reconciliation counts what it found (a step redone after a crash finds only what the
        // crashed try had not stored, so nothing is counted twice).
        let found = if job.kind == ImportKind::Reconcile {
            found
        } else {
            0
        };
        self.save_progress(&page, job.kind, &p, job.step, found)
            .await
    }

    async fn save_progress(
        &self,
        page: &PageItem,
        kind: ImportKind,
        p: &ImportProgress,
        step: i64,
        found: i64,
    ) -> Result<(), RouterError> {
        // Reconciliation runs quietly: its figures are on the Page, not in the feed.
        let ev = (kind == ImportKind::History).then(|| {
            EventItem::new(
                &page.account,
                EventType::PageImport,
                None,
                json!({"page_id": page.page_id, "status": p.status, "conversations": p.conversations,
                       "messages": p.messages, "error": p.error}),
                self.clock.now_ms(),
            )
        });
        let saved = self
            .store
            .save_import(
                &page.account,
                &page.page_id,
                kind,
                p,
                Some(step),
                ev.as_ref(),
                found,
            )
            .await?;
        tracing::info!(saved, ?kind, status = %p.status, conversations = p.conversations, messages = p.messages, found, "import step");
        Ok(())
    }

    async fn fail_import(
        &self,
        page: &PageItem,
        kind: ImportKind,
        mut p: ImportProgress,
        why: &str,
    ) -> Result<(), RouterError> {
        tracing::warn!(error = why, ?kind, "history import failed");
        let step = p.step;
        p.status = "failed".into();
        p.error = Some(why.chars().take(300).collect());
        p.finished_at = Some(self.clock.now_ms());
        self.save_progress(page, kind, &p, step, 0).await
    }

    /// Stores one conversation's messages (those since the import's start), oldest first, then
    /// resolves it if the person last wrote outside the 24-hour window, or routes it as the
    /// import says. Returns how many messages were in range, and how many of them were new.
    async fn import_thread(
        &self,
        page: &PageItem,
        p: &ImportProgress,
        kind: ImportKind,
        mut msgs: Vec<OldMessage>,
    ) -> Result<(usize, usize), RouterError> {
        let from_of = |m: &OldMessage| m.from.as_ref().map(|f| f.id.clone());
        let psid = msgs.iter().find_map(|m| {
            let from = from_of(m)?;
            if from != page.page_id {
                return Some(from);
            }
            m.to.as_ref()?
                .data
                .iter()
                .map(|n| n.id.clone())
                .find(|id| *id != page.page_id)
        });
        let Some(psid) = psid else {
            return Ok((0, 0));
        };
        msgs.retain(|m| parse_time(m.created_time.as_deref()).is_some_and(|t| t >= p.since));
        msgs.sort_by_key(|m| parse_time(m.created_time.as_deref()));
        let seen = msgs.len();
        if seen == 0 {
            return Ok((0, 0));
        }
        let mut contact = self.ensure_contact(page, &psid, Channel::Messenger).await?;
        // Messages that webhooks delivered meanwhile: Meta's history gives their time in seconds,
        // the webhook in milliseconds, so their Meta-made keys differ and only the mid tells.
        let mut known = std::collections::HashSet::new();
        if let Some(active) = &contact.active_conversation_id {
            for m in self
                .store
                .latest_messages(&page.account, active, 200)
                .await?
            {
                known.extend(m.external_id);
                known.extend(m.sent_mids);
            }
        }
        msgs.retain(|m| !known.contains(&m.id));
        let mut stored = 0;
        let mut first_text: Option<String> = None;
        for m in msgs {
            let at = parse_time(m.created_time.as_deref()).unwrap_or_default();
            let inbound = from_of(&m).as_deref() != Some(page.page_id.as_str());
            if inbound && first_text.is_none() {
                first_text = m.message.clone();
            }
            let msg = Message {
                direction: if inbound {
                    Direction::In
                } else {
                    Direction::Out
                },
                author_type: if inbound {
                    AuthorType::Contact
                } else {
                    AuthorType::Page
                },
                author_id: Some(if inbound {
                    contact.id.clone()
                } else {
                    page.page_id.clone()
                }),
                text: m.message.clone().filter(|t| !t.is_empty()),
                status: if inbound {
                    MessageStatus::Received
                } else {
                    MessageStatus::Sent
                },
                external_id: Some(m.id.clone()),
                sent_at: (!inbound).then_some(at),
                created_at: at,
                imported: true,
                ..Default::default()
            };
            let outcome = self
                .append(
                    page,
                    contact.clone(),
                    &Anchor::Contact(Channel::Messenger),
                    msg,
                    &m.id,
                    inbound,
                )
                .await?;
            if outcome == pagedesk_shared::store::AppendOutcome::Stored {
                stored += 1;
            }
            // Only the first message opens a conversation; later ones need its pointer, which
            // our own appends do not move again (a concurrent resolve is handled by `append`).
            if contact.active_conversation_id.is_none() {
                contact = self.reload_contact(page, &contact).await?;
            }
        }
        let contact = self.reload_contact(page, &contact).await?;
        let Some(conv_id) = contact.active_conversation_id.clone() else {
            return Ok((seen, stored));
        };
        let Some(conv) = self.store.get_conversation(&page.account, &conv_id).await? else {
            return Ok((seen, stored));
        };
        if conv.status != ConversationStatus::Open {
            return Ok((seen, stored));
        }
        let now = self.clock.now_ms();
        let inside_window = conv.last_inbound_at.is_some_and(|t| t > now - DAY_MS);
        if !inside_window {
            self.store.resolve_conversation(&conv, now).await?;
        } else if p.assign == "rules"
            && conv.assignee.is_none()
            // Reconciliation routes only what it opened; a conversation that was already there
            // (with the AI agent, or left in the pool) stays as it is.
            && (kind == ImportKind::History || conv.created_at >= p.started_at)
        {
            let at = conv.last_inbound_at.unwrap_or(now);
            self.route_quietly(&conv, first_text.as_deref().unwrap_or(""), at)
                .await?;
        }
        Ok((seen, stored))
    }
}
