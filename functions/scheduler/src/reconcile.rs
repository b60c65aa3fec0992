//! Reconciliation: webhooks Meta never sent (a dropped subscription, an outage, a thread
//! another app held) are made harmless. Once per `PAGEDESK_RECONCILE_SECONDS` per Page, at its
//! health check, the scheduler starts a run of the history import's path over the
//! conversations updated since the last run began (less a margin for Meta's own delays): the
//! router stores what no webhook brought (a message is never stored twice: its mid is
//! guarded), routes only the conversations it opened, and counts the messages in the Page's
//! `reconciled_messages`. Its cost is the import's: 2 Graph calls a second at most, one
//! Conversations API call per ten threads and one per thread updated since the last run.

use pagedesk_shared::contracts::queue::{ImportJob, enqueue_import};
use pagedesk_shared::store::{ImportKind, ImportProgress, PageItem, Store};

/// Meta may list a conversation a little after its message arrived: each run starts this far
/// before the last one began.
const MARGIN_MS: i64 = 10 * 60_000;
/// A run still `running` after this long died with its chain; another may start.
const STALE_MS: i64 = 6 * 3_600_000;

pub struct Reconcile {
    pub sqs: aws_sdk_sqs::Client,
    pub queue_url: String,
    pub period_ms: i64,
}

/// Where the next run starts (`None`: not due yet). The first is due a period after the Page
/// was connected (what came before is the history import's) and reaches back a period at most.
pub fn due_since(
    last: Option<&ImportProgress>,
    connected_at: i64,
    period_ms: i64,
    now: i64,
) -> Option<i64> {
    match last {
        None if connected_at + period_ms > now => None,
        None => Some((connected_at - MARGIN_MS).max(now - period_ms - MARGIN_MS)),
        Some(p) if p.status == "running" && p.started_at > now - STALE_MS => None,
        Some(p) if p.started_at + period_ms > now => None,
        Some(p) => Some((p.started_at - MARGIN_MS).max(now - STALE_MS)),
    }
}

impl Reconcile {
    /// Starts a run for `page` if one is due; failures are logged (the next check tries again).
    pub async fn maybe_start(&self, store: &Store, page: &PageItem, now: i64) {
        let connected_at = page.connected_at.unwrap_or(page.created_at);
        let Some(since) = due_since(page.reconcile.as_ref(), connected_at, self.period_ms, now)
        else {
            return;
        };
        let run = pagedesk_shared::ids::new_id("rc", now);
        let progress = ImportProgress {
            run: run.clone(),
            status: "running".into(),
            assign: "rules".into(),
            since,
            started_at: now,
            ..Default::default()
        };
        let started = store
            .save_import(
                &page.account,
                &page.page_id,
                ImportKind::Reconcile,
                &progress,
                None,
                None,
                0,
            )
            .await;
        match started {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => {
                tracing::warn!(page_id = %page.page_id, error = %e, "reconciliation not started");
                return;
            }
        }
        let job =
            ImportJob::new(&page.account, &page.page_id, &run, 0).of_kind(ImportKind::Reconcile);
        match enqueue_import(&self.sqs, &self.queue_url, &job).await {
            Ok(()) => tracing::info!(page_id = %page.page_id, since, "reconciliation started"),
            // The run stays `running` without a step; it is taken as dead after STALE_MS.
            Err(e) => {
                tracing::warn!(page_id = %page.page_id, error = %e, "reconciliation step not queued")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_is_due_a_period_after_the_last_began_and_covers_from_there() {
        let hour = 3_600_000;
        let now = 100 * hour;
        assert_eq!(
            due_since(None, now - hour / 2, hour, now),
            None,
            "a period after connecting"
        );
        assert_eq!(
            due_since(None, now - hour, hour, now),
            Some(now - hour - MARGIN_MS),
            "the first reaches back to the connection"
        );
        assert_eq!(
            due_since(None, now - 50 * hour, hour, now),
            Some(now - hour - MARGIN_MS),
            "and a period at most"
        );
        let last = |status: &str, started_at| ImportProgress {
            status: status.into(),
            started_at,
            ..Default::default()
        };
        assert_eq!(
            due_since(Some(&last("done", now - hour / 2)), 0, hour, now),
            None
        );
        assert_eq!(
            due_since(Some(&last("done", now - hour)), 0, hour, now),
            Some(now - hour - MARGIN_MS),
            "from the last run's start, less the margin"
        );
        assert_eq!(
            due_since(Some(&last("running", now - 2 * hour)), 0, hour, now),
            None
        );
        assert_eq!(
            due_since(Some(&last("running", now - 7 * hour)), 0, hour, now),
            Some(now - STALE_MS),
            "a dead run is replaced, reaching back at most STALE_MS"
        );
    }
}
