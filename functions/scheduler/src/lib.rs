//! The scheduler function (EventBridge, every minute): warns before a messaging window closes,
//! records the close and the end of the Human Agent period, fails outbound messages whose job
//! was lost, checks connected Pages' health (`health`), and ends auto-resolve and snooze
//! timers.
//!
//! It reads the `due` index minute by minute from where the last run stopped (so a late run
//! catches up), never scans, and writes every mark with a condition (so runs that repeat or
//! overlap emit each event once).

use std::collections::HashMap;
use std::sync::Arc;

use pagedesk_shared::clock::{Clock, MINUTE_MS, rfc3339};
use pagedesk_shared::domain::window::{Mark, due};
use pagedesk_shared::domain::{ConversationStatus, EventType, MessageStatus, UnsnoozedBy};
use pagedesk_shared::domain::{outbound, workday};
use pagedesk_shared::store::{Due, MessageRef, Timer};
use pagedesk_shared::store::{EventItem, Settings, Store};
use serde::Serialize;
use serde_json::json;

/// How far back a first run (no cursor) looks, and how many minutes one run catches up at most.
const FIRST_RUN_LOOKBACK_MIN: i64 = 60;
const MAX_MINUTES_PER_RUN: i64 = 12 * 60;

mod health;
mod health_instagram;

pub use health::Health;
pub mod reconcile;

pub struct Scheduler {
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    /// Page health checks; without it, due checks are left in the index for a scheduler
    /// that has it.
    pub health: Option<Health>,
}

#[derive(Debug, Default, Serialize, PartialEq)]
pub struct Report {
    /// False when the run stopped at its limit behind the clock; the next run goes on.
    pub caught_up: bool,
    pub minutes: i64,
    pub conversations: usize,
    pub events: usize,
    /// Outbound messages still `queued` at their deadline, failed as `not_sent`.
    pub unsent_failed: usize,
    /// Pages whose health was checked.
    pub pages_checked: usize,
    /// Conversations resolved for want of an answer (`auto_resolve_hours`).
    pub auto_resolved: usize,
    /// Snoozed conversations whose time came.
    pub unsnoozed: usize,
}

impl Scheduler {
    pub async fn run(&self) -> pagedesk_shared::Result<Report> {
        let now = self.clock.now_ms();
        let now_minute = now.div_euclid(MINUTE_MS);
        let from = match self.store.scheduler_cursor().await? {
            Some(m) => m + 1,
            None => now_minute - FIRST_RUN_LOOKBACK_MIN,
        };
        let from = from.min(now_minute);
        // Far behind (an outage): catch up a bounded stretch per run, never skip minutes.
        let to = now_minute.min(from + MAX_MINUTES_PER_RUN - 1);
        let mut report = Report {
            caught_up: to == now_minute,
            ..Report::default()
        };
        let mut settings: HashMap<(String, String), Settings> = HashMap::new();
        for minute in from..=to {
            let due = self.store.due_in_minute(minute, now).await?;
            let unsent: Vec<(&str, &str, &MessageRef)> = due
                .iter()
                .filter_map(|r| match &r.kind {
                    Due::Unsent(m) => Some((r.account.as_str(), r.conversation_id.as_str(), m)),
                    _ => None,
                })
                .collect();
            report.unsent_failed += self.sweep_messages(&unsent, now).await?;
            for r in &due {
                let (account, conv_id) = (r.account.as_str(), r.conversation_id.as_str());
                match &r.kind {
                    Due::Unsent(_) => {}
                    Due::Timer(Timer::AutoResolve) => {
                        if self
                            .auto_resolve(account, conv_id, r.at, now, &mut settings)
                            .await?
                        {
                            report.auto_resolved += 1;
                        }
                    }
                    Due::Timer(Timer::SnoozeEnds) => {
                        if self.snooze_ends(account, conv_id, r.at, now).await? {
                            report.unsnoozed += 1;
                        }
                    }
                    Due::PageHealth { page_id } => {
                        if let Some(h) = &self.health {
                            h.check(&self.store, account, page_id, now).await;
                            report.pages_checked += 1;
                        }
                    }
                    Due::Window => {
                        report.conversations += 1;
                        report.events += self.settle(account, conv_id, now, &mut settings).await?;
                    }
                }
            }
            report.minutes += 1;
            // The current minute is read again next run (marks later in it are not due yet).
            if minute < now_minute {
                self.store.advance_scheduler_cursor(minute).await?;
            }
        }
        tracing::info!(
            minutes = report.minutes,
            conversations = report.conversations,
            events = report.events,
            unsent_failed = report.unsent_failed,
            pages_checked = report.pages_checked,
            auto_resolved = report.auto_resolved,
            unsnoozed = report.unsnoozed,
            "scheduler run"
        );
        Ok(report)
    }

    /// Outbound messages at their deadline (`UNSENT_DEADLINE_MS` after they were queued).
    /// Each queued one's job was lost (an enqueue that died, a job past the DLQ): it fails with
    /// a reason the agent sees, instead of showing "sending" for ever. The rest went out and
    /// left their entry behind (see `Store::record_part`); they cost this batched read and no
    /// write. Returns how many were failed.
    async fn sweep_messages(
        &self,
        due: &[(&str, &str, &MessageRef)],
        now: i64,
    ) -> pagedesk_shared::Result<usize> {
        let mut failed = 0;
        for msg in self.store.get_messages(due).await? {
            if msg.status != MessageStatus::Queued {
                continue;
            }
            let err = outbound::failure("not_sent", None);
            if self.store.outbound().fail_message(&msg, &err, now).await? {
                tracing::warn!(conversation_id = %msg.conversation_id, message_id = %msg.id, "queued message past its deadline; failed as not_sent");
                failed += 1;
            }
        }
        Ok(failed)
    }

    /// The Page's settings (its account's with its own over them), read once per run.
    async fn page_settings(
        &self,
        account: &str,
        page_id: &str,
        settings: &mut HashMap<(String, String), Settings>,
    ) -> pagedesk_shared::Result<Settings> {
        let key = (account.to_owned(), page_id.to_owned());
        if let Some(s) = settings.get(&key) {
            return Ok(s.clone());
        }
        let s = self.store.settings_for_page(account, page_id).await?;
        settings.insert(key, s.clone());
        Ok(s)
    }

    /// A conversation's auto-resolve moment: resolved (`resolved_by: auto`, no survey) if it
    /// still waits on the person and the Page's `auto_resolve_hours` have passed since the
    /// team's message; moved if the hours grew, or to just after a snooze it fell in; dropped if
    /// it no longer waits or the setting is off. `true` when it was resolved.
    async fn auto_resolve(
        &self,
        account: &str,
        conv_id: &str,
        due_at: i64,
        now: i64,
        settings: &mut HashMap<(String, String), Settings>,
    ) -> pagedesk_shared::Result<bool> {
        let timer = Timer::AutoResolve;
        let Some(conv) = self
            .store
            .get_conversation(account, conv_id)
            .await?
            .filter(|c| c.status.is_active())
        else {
            self.store
                .unschedule_timer(account, conv_id, timer, due_at)
                .await?;
            return Ok(false);
        };
        let hours = self
            .page_settings(account, &conv.page_id, settings)
            .await?
            .auto_resolve_hours;
        let last = conv
            .last_message
            .as_ref()
            .zip(conv.last_message_at)
            .map(|(m, at)| (m.direction, m.author_type, at));
        let at = workday::auto_resolve_at(last, conv.last_inbound_at, hours);
        let snoozed_until = conv
            .snoozed_until
            .filter(|_| conv.status == ConversationStatus::Snoozed);
        if let (Some(at), Some(until)) = (at, snoozed_until) {
            // Snoozed: the moment waits at least until a minute after the snooze ends (a minute
            // the scheduler has not read yet), when the conversation is open and still waits on
            // the person or not.
            self.store
                .schedule_timer(account, conv_id, timer, at.max(until + MINUTE_MS))
                .await?;
            return Ok(false);
        }
        match at {
            Some(at) if at > now => {
                self.store
                    .schedule_timer(account, conv_id, timer, at)
                    .await?;
                Ok(false)
            }
            Some(_) => {
                let resolved = self.store.resolve_automatically(&conv, now).await?;
                if resolved {
                    tracing::info!(conversation_id = conv_id, "auto-resolved");
                }
                self.store
                    .unschedule_timer(account, conv_id, timer, due_at)
                    .await?;
                Ok(resolved)
            }
            None => {
                self.store
                    .unschedule_timer(account, conv_id, timer, due_at)
                    .await?;
                Ok(false)
            }
        }
    }

    /// A snooze's moment: the conversation opens again (`conversation.unsnoozed`, `by: time`)
    /// if it is still snoozed until then; either way the moment leaves the index (a snooze
    /// moved since keeps its new one). `true` when it was woken.
    async fn snooze_ends(
        &self,
        account: &str,
        conv_id: &str,
        due_at: i64,
        now: i64,
    ) -> pagedesk_shared::Result<bool> {
        let woken = self
            .store
            .unsnooze(account, conv_id, UnsnoozedBy::Time, Some(due_at), now)
            .await?;
        if woken {
            tracing::info!(conversation_id = conv_id, "snooze ended");
        }
        self.store
            .unschedule_timer(account, conv_id, Timer::SnoozeEnds, due_at)
            .await?;
        Ok(woken)
    }

    async fn settle(
        &self,
        account: &str,
        conv_id: &str,
        now: i64,
        settings: &mut HashMap<(String, String), Settings>,
    ) -> pagedesk_shared::Result<usize> {
        let Some(conv) = self.store.get_conversation(account, conv_id).await? else {
            return Ok(0);
        };
        let (Some(epoch), Some(last)) = (conv.window_epoch, conv.last_inbound_at) else {
            self.store.unschedule(account, conv_id).await?;
            return Ok(0);
        };
        // A snoozed conversation's window still closes: its marks are announced as if open.
        if !conv.status.is_active() {
            self.store.unschedule(account, conv_id).await?;
            return Ok(0);
        }
        let account_settings = self.page_settings(account, &conv.page_id, settings).await?;
        let human_agent = account_settings.human_agent_enabled;
        let plan = due(
            last,
            &account_settings.window_warnings(),
            human_agent,
            &conv.window_marks,
            now,
        );
        let mut marks = Vec::new();
        let mut events = Vec::new();
        for (mark, emit) in plan.now {
            marks.push(mark.key());
            if !emit {
                continue;
            }
            let (kind, data) = match mark {
                Mark::Warn(minutes) => (
                    EventType::WindowExpiring,
                    json!({"minutes_left": minutes, "closes_at": rfc3339(Mark::Closed.at(last)), "assignee": conv.assignee,
                           "human_agent_until": human_agent.then(|| rfc3339(Mark::HumanAgentEnded.at(last)))}),
                ),
                Mark::Closed => (
                    EventType::WindowClosed,
                    json!({"closed_at": rfc3339(Mark::Closed.at(last)), "assignee": conv.assignee,
                           "human_agent_until": human_agent.then(|| rfc3339(Mark::HumanAgentEnded.at(last)))}),
                ),
                Mark::HumanAgentEnded => (
                    EventType::WindowHumanAgentEnded,
                    json!({"ended_at": rfc3339(Mark::HumanAgentEnded.at(last)), "assignee": conv.assignee}),
                ),
            };
            events.push(EventItem::new(account, kind, Some(conv_id), data, now));
        }
        let settled = self
            .store
            .settle_marks(account, conv_id, epoch, &marks, &events, plan.next_at)
            .await?;
        let emitted = if settled { events.len() } else { 0 };
        for m in marks.iter().filter(|_| settled) {
            tracing::info!(conversation_id = conv_id, mark = %m, "window mark");
        }
        Ok(emitted)
    }
}
