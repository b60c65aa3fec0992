//! Page health: each connected Page is checked once per `PAGEDESK_PAGE_CHECK_SECONDS`, at its
//! own time (its next check sits in the `due` index like a window mark, so checks are spread
//! over the day and never a scan). `GET /debug_token` with the app's token finds dead or
//! expired tokens and missing permissions (→ `reauth_required`, `page.disconnected`; inbound
//! keeps flowing); `GET /{page}/subscribed_apps` finds a lost or partial subscription
//! (→ subscribed again, `page.resubscribed`). Two Graph calls per check, three when it repairs.
//! Then the Page's Instagram account (`instagram`): one more call for every Page, two more
//! for a Page with an account (three when the app's Instagram webhook is repaired).

use std::sync::Arc;

use pagedesk_shared::adapters::graph::{AppCredentials, GraphClient, GraphError};
use pagedesk_shared::adapters::secrets::SecretCache;
use pagedesk_shared::connect::{self, token_problem};
use pagedesk_shared::domain::{EventType, PageStatus};
use pagedesk_shared::store::{EventItem, InstagramLink, PageCheck, PageItem, Store};
use serde_json::json;

/// What a check found: its outcome, the Page's subscription as found or set, the Instagram
/// account when it changed (`Some(None)`: none is linked any more), its events, and the delay
/// to the next check.
pub(crate) struct Verdict {
    outcome: String,
    subscribed: Option<Vec<String>>,
    pub(crate) instagram: Option<Option<InstagramLink>>,
    pub(crate) events: Vec<EventItem>,
    next: i64,
}

impl Verdict {
    fn new(outcome: impl Into<String>, next: i64) -> Self {
        Verdict {
            outcome: outcome.into(),
            subscribed: None,
            instagram: None,
            events: Vec::new(),
            next,
        }
    }
}

pub struct Health {
    pub graph: GraphClient,
    pub secrets: Arc<SecretCache>,
    pub app_id: Option<String>,
    pub app_secret_id: Option<String>,
    /// The webhook verify token's secret, to repair the app's Instagram webhook.
    pub verify_token_id: Option<String>,
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
            verify_token_id: cfg.verify_token_id.clone(),
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
        let v = self.judge(&page, now).await;
        if let Some(found) = &v.instagram
            && let Err(e) = self.relink_instagram(store, &page, found.as_ref()).await
        {
            tracing::warn!(page_id, error = %e, "instagram link not recorded");
            return;
        }
        let check = PageCheck {
            outcome: &v.outcome,
            subscribed: v.subscribed.as_deref(),
            instagram: v.instagram.as_ref().map(Option::as_ref),
            next_due: now + v.next,
            events: &v.events,
        };
        let outcome = v.outcome.as_str();
        match store.record_page_check(&page, &check, now).await {
            Ok(_) => tracing::info!(page_id, outcome, "page health checked"),
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

    /// What the Page's token, its subscription and its Instagram account are like now.
    async fn judge(&self, page: &PageItem, now: i64) -> Verdict {
        let retry = |what: String| Verdict::new(format!("error: {what}"), RETRY_MS);
        let reauth = |why: &str| Verdict::new(format!("reauth_required: {why}"), self.period_ms);
        let token = match page.token(&self.secrets).await {
            Ok(Some(t)) => t,
            Ok(None) => return reauth("token_missing"),
            Err(e) => return retry(e.to_string()),
        };
        let app = self.app().await;
        let mut scopes = None;
        if let Some(app) = &app {
            match self.graph.debug_token(&token, app).await {
                Ok(info) => {
                    if let Some(why) = token_problem(&info, &page.channels, now) {
                        return reauth(&why);
                    }
                    scopes = Some(info.scopes);
                }
                Err(e) if refused(&e) => return reauth("token_invalid"),
                Err(e) => return retry(e.to_string()),
            }
        }
        let found = match self
            .graph
            .subscription(&page.page_id, &token, self.app_id.as_deref())
            .await
        {
            Ok(f) => f.unwrap_or_default(),
            Err(e) if refused(&e) => return reauth("token_invalid"),
            Err(e) => return retry(e.to_string()),
        };
        let lacking = connect::missing_fields(&found);
        let mut v = if lacking.is_empty() {
            let mut v = Verdict::new("ok", self.period_ms);
            v.subscribed = Some(found);
            v
        } else {
            match self
                .graph
                .subscribe(&page.page_id, &token, &connect::WEBHOOK_FIELDS)
                .await
            {
                Ok(()) => {
                    let mut v = Verdict::new("resubscribed", self.period_ms);
                    v.events.push(EventItem::new(
                        &page.account,
                        EventType::PageResubscribed,
                        None,
                        json!({"page_id": page.page_id, "missing_fields": lacking}),
                        now,
                    ));
                    v.subscribed = Some(connect::WEBHOOK_FIELDS.map(str::to_owned).to_vec());
                    v
                }
                Err(e) if refused(&e) => return reauth("token_invalid"),
                Err(e) => return retry(e.to_string()),
            }
        };
        self.instagram(page, &token, app.as_ref(), scopes.as_deref(), now, &mut v)
            .await;
        v
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
