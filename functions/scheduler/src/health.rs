//! Page health: each connected Page is checked once per `PAGEDESK_PAGE_CHECK_SECONDS`, at its
//! own time (its next check sits in the `due` index like a window mark, so checks are spread
//! over the day and never a scan). `GET /debug_token` with the app's token finds dead or
//! expired tokens and missing permissions (→ `reauth_required`, `page.disconnected`; inbound
//! keeps flowing); `GET /{page}/subscribed_apps` finds a lost or partial subscription
//! (→ subscribed again, `page.resubscribed`). Two Graph calls per check, three when it repairs.

use std::sync::Arc;

use pagedesk_shared::adapters::graph::{AppCredentials, GraphClient, GraphError};
use pagedesk_shared::adapters::secrets::SecretCache;
use pagedesk_shared::connect::{self, token_problem};
use pagedesk_shared::domain::{EventType, PageStatus};
use pagedesk_shared::store::{EventItem, PageItem, Store};
use serde_json::json;

pub struct Health {
    pub graph: GraphClient,
    pub secrets: Arc<SecretCache>,
    pub app_id: Option<String>,
    pub app_secret_id: Option<String>,
    pub period_ms: i64,
    /// Reconciliation with the Conversations API, at the checks it is due.
    pub reconcile: Option<crate::reconcile::Reconcile>,
}

impl Health {
    pub fn new(
        cfg: &pagedesk_shared::runtime::config::SchedulerConfig,
        clients: &pagedesk_shared::adapters::aws::Clients,
    ) -> Self {
        let secrets = SecretCache::shared(&clients.secrets(), cfg.secret_cache_seconds);
        let reconcile =
            cfg.inbound_queue_url
                .clone()
                .map(|queue_url| crate::reconcile::Reconcile {
                    sqs: clients.sqs(),
                    queue_url,
                    period_ms: cfg.reconcile_seconds as i64 * 1000,
                });
        // A Page is visited at the shorter of the two periods: a reconciliation due sooner
        // than the next check brings the check forward (two Graph calls).
        let check_ms = cfg.page_check_seconds as i64 * 1000;
        Health {
            graph: GraphClient::new(&cfg.graph).proving_with(&secrets),
            secrets,
            app_id: cfg.app_id.clone(),
            app_secret_id: cfg.app_secret_id.clone(),
            period_ms: reconcile
                .as_ref()
                .map_or(check_ms, |r| check_ms.min(r.period_ms)),
            reconcile,
        }
    }
}

/// A check that could not reach Graph is tried again this much later, not a period later.
const RETRY_MS: i64 = 5 * 60_000;

impl Health {
    /// Checks one Page and records the outcome and its next check. Failures are logged: one
    /// Page's trouble never stops the scheduler's run.
    pub async fn check(&self, store: &Store, account: &str, page_id: &str, now: i64) {
        let page = match store.get_page(page_id).await {
            Ok(Some(p)) if p.account == account => p,
            Ok(_) => return,
            Err(e) => {
                tracing::warn!(page_id, error = %e, "page unreadable for its health check");
                return;
            }
        };
        if page.status != PageStatus::Connected {
            // Re-authorisation is the admin's move; nothing to check until then.
            return;
        }
        let (outcome, subscribed, event, next) = self.judge(&page, now).await;
        let next_due = now + next;
        match store
            .record_page_check(
                &page,
                &outcome,
                subscribed.as_deref(),
                next_due,
                event.as_ref(),
                now,
            )
            .await
        {
            Ok(_) => tracing::info!(page_id, outcome = %outcome, "page health checked"),
            Err(e) => tracing::warn!(page_id, error = %e, "page health check not recorded"),
        }
        if (outcome == "ok" || outcome == "resubscribed")
            && let Some(r) = &self.reconcile
        {
            r.maybe_start(store, &page, now).await;
        }
        if let Some(why) = outcome.strip_prefix("reauth_required: ") {
            match store.disconnect_page(account, page_id, why, now).await {
                Ok(_) => tracing::warn!(page_id, reason = why, "page needs re-authorisation"),
                Err(e) => tracing::warn!(page_id, error = %e, "page could not be marked"),
            }
        }
    }

    /// (outcome, subscription found or set, event, delay to the next check)
    async fn judge(
        &self,
        page: &PageItem,
        now: i64,
    ) -> (String, Option<Vec<String>>, Option<EventItem>, i64) {
        let retry = |what: String| (format!("error: {what}"), None, None, RETRY_MS);
        let reauth = |why: &str| {
            (
                format!("reauth_required: {why}"),
                None,
                None,
                self.period_ms,
            )
        };
        let token = match page.token(&self.secrets).await {
            Ok(Some(t)) => t,
            Ok(None) => {
                return reauth("token_missing");
            }
            Err(e) => return retry(e.to_string()),
        };
        if let Some(app) = self.app().await {
            match self.graph.debug_token(&token, &app).await {
                Ok(info) => {
                    if let Some(why) = token_problem(&info, &page.channels, now) {
                        return reauth(&why);
                    }
                }
                Err(e) if refused(&e) => {
                    return reauth("token_invalid");
                }
                Err(e) => return retry(e.to_string()),
            }
        }
        let found = match self
            .graph
            .subscription(&page.page_id, &token, self.app_id.as_deref())
            .await
        {
            Ok(f) => f.unwrap_or_default(),
            Err(e) if refused(&e) => {
                return reauth("token_invalid");
            }
            Err(e) => return retry(e.to_string()),
        };
        let lacking = connect::missing_fields(&found);
        if lacking.is_empty() {
            return ("ok".into(), Some(found), None, self.period_ms);
        }
        match self
            .graph
            .subscribe(&page.page_id, &token, &connect::WEBHOOK_FIELDS)
            .await
        {
            Ok(()) => {
                let ev = EventItem::new(
                    &page.account,
                    EventType::PageResubscribed,
                    None,
                    json!({"page_id": page.page_id, "missing_fields": lacking}),
                    now,
                );
                let all = connect::WEBHOOK_FIELDS.map(str::to_owned).to_vec();
                ("resubscribed".into(), Some(all), Some(ev), self.period_ms)
            }
            Err(e) if refused(&e) => reauth("token_invalid"),
            Err(e) => retry(e.to_string()),
        }
    }

    /// The app's id and secret, for `debug_token`; without them the token check is skipped
    /// (the subscription check still finds a dead token by its 190).
    async fn app(&self) -> Option<AppCredentials> {
        let (id, secret_id) = (self.app_id.as_ref()?, self.app_secret_id.as_ref()?);
        match self.secrets.get(secret_id).await {
            Ok(Some(secret)) => Some(AppCredentials {
                id: id.clone(),
                secret,
            }),
            _ => None,
        }
    }
}

/// Graph refused the Page's token itself (190, or a permission error on it).
fn refused(e: &GraphError) -> bool {
    matches!(
        e,
        GraphError::Api {
            code: 190 | 102 | 10 | 200,
            ..
        }
    )
}
