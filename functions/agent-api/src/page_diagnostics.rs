//! `GET /pages/{page_id}/diagnostics` (admin): "why is nothing arriving?" answered for one
//! Page. What Graph says now (the app's subscription and its fields, the token's validity and
//! scopes: two calls; the app's Instagram webhook for a Page with an Instagram account: one
//! more), what pagedesk saw (the last webhook, the last health check, what
//! reconciliation found that no webhook brought), and findings in words an admin can act on.

use std::sync::Arc;

use axum::extract::State;
use pagedesk_shared::adapters::graph::ProofState;
use pagedesk_shared::clock::rfc3339;
use pagedesk_shared::connect::{self, token_problem};
use pagedesk_shared::domain::PageStatus;
use pagedesk_shared::store::PageItem;
use serde_json::{Value, json};

use crate::App;
use crate::extract::{Caller, Id, Reply, ok};
use crate::pages::own_page;
use crate::pages_connect::app_credentials;

fn time(ms: Option<i64>) -> Value {
    ms.map_or(Value::Null, |t| json!(rfc3339(t)))
}

fn finding(code: &str, message: String) -> Value {
    json!({"code": code, "message": message})
}

/// `GET /pages/{page_id}/diagnostics`
pub async fn get(State(app): State<Arc<App>>, c: Caller, Id(page_id): Id) -> Reply {
    c.require_admin()?;
    let page = own_page(&app, &c.account, &page_id).await?;
    let now = app.clock.now_ms();
    let mut findings = Vec::new();
    let (subscription, token) = graph_view(&app, &page, now, &mut findings).await;
    let instagram = instagram_view(&app, &page, &mut findings).await;
    if page.status != PageStatus::Connected {
        findings.push(finding(
            "page_not_connected",
            format!(
                "The Page is {} ({}): reconnect it from Admin → Pages.",
                page.status.as_str(),
                page.status_reason
                    .as_deref()
                    .unwrap_or("no reason recorded")
            ),
        ));
    }
    if page.reconciled_messages > 0 {
        findings.push(finding(
            "webhooks_missed",
            format!(
                "{} message(s) reached the Page without a webhook and were imported by \
                 reconciliation. Usual causes: the Meta app is in development mode (webhooks \
                 come only for people with a role on the app), another app owns the \
                 conversations (Conversation Routing in Meta Business Suite), or Meta dropped \
                 the subscription for a while.",
                page.reconciled_messages
            ),
        ));
    }
    if page.last_webhook_at.is_none() {
        findings.push(finding(
            "no_webhook_yet",
            "No webhook for this Page has reached pagedesk since it was connected.".into(),
        ));
    }
    let proof = app.graph.proof_state().await;
    if proof != ProofState::Sent {
        findings.push(finding(
            "appsecret_proof_off",
            format!(
                "Graph calls go without appsecret_proof ({}): store the Meta app's secret in \
                 the stack's app secret before switching on \"Require App Secret\" in the app, \
                 or every call will be refused.",
                proof.as_str()
            ),
        ));
    }
    let r = page.reconcile.as_ref();
    ok(&json!({
        "appsecret_proof": proof.as_str(),
        "page_id": page.page_id,
        "status": page.status,
        "status_reason": page.status_reason,
        "subscription": subscription,
        "token": token,
        "instagram": instagram,
        "last_webhook_at": time(page.last_webhook_at),
        "last_check_at": time(page.last_check_at),
        "last_check": page.last_check,
        "reconciliation": {
            "reconciled_messages": page.reconciled_messages,
            "last_run": r.map(|p| json!({
                "status": p.status,
                "since": rfc3339(p.since),
                "started_at": rfc3339(p.started_at),
                "finished_at": time(p.finished_at),
                "conversations": p.conversations,
                "messages": p.messages,
                "error": p.error,
            })),
        },
        "findings": findings,
    }))
}

/// The subscription and the token as Graph sees them now; what is wrong joins `findings`.
/// A Graph that cannot be reached leaves `error` in its part instead of failing the answer.
async fn graph_view(
    app: &App,
    page: &PageItem,
    now: i64,
    findings: &mut Vec<Value>,
) -> (Value, Value) {
    let token = match page.token(&app.secrets).await {
        Ok(Some(t)) => t,
        Ok(None) => {
            findings.push(finding(
                "token_missing",
                "pagedesk holds no token for this Page: reconnect it.".into(),
            ));
            return (Value::Null, Value::Null);
        }
        Err(e) => {
            let err = json!({"error": e.to_string()});
            return (err.clone(), err);
        }
    };
    let subscription = match app
        .graph
        .subscription(&page.page_id, &token, app.cfg.app_id.as_deref())
        .await
    {
        Ok(found) => {
            let fields = found.unwrap_or_default();
            let missing = connect::missing_fields(&fields);
            if !missing.is_empty() {
                findings.push(finding(
                    "subscription_incomplete",
                    format!(
                        "The app is not subscribed to {} for this Page: webhooks for them are not sent. The next health check subscribes again; reconnecting does it now.",
                        missing.join(", ")
                    ),
                ));
            }
            json!({"fields": fields, "missing": missing})
        }
        Err(e) => json!({"error": e.to_string()}),
    };
    let token_view = match app_credentials(app).await {
        Err(_) => json!({"error": "the Meta app id or secret is not configured"}),
        Ok(creds) => {
            match app.graph.debug_token(&token, &creds).await {
                Ok(info) => {
                    let problem = token_problem(&info, &page.channels, now);
                    if let Some(p) = &problem {
                        findings.push(finding(
                        "token_problem",
                        format!("The Page's token cannot serve every channel: {p}. Reconnect the Page."),
                    ));
                    }
                    json!({
                        "valid": info.is_valid,
                        "scopes": info.scopes,
                        "expires_at": (info.expires_at > 0).then(|| rfc3339(info.expires_at * 1000)),
                        "problem": problem,
                    })
                }
                Err(e) => json!({"error": e.to_string()}),
            }
        }
    };
    (subscription, token_view)
}

/// The Page's Instagram account as the last check found it, and the app's Instagram webhook
/// as Graph lists it now (one call; `null` for a Page without an account). Read only: the
/// health check and connecting are what complete the webhook.
async fn instagram_view(app: &App, page: &PageItem, findings: &mut Vec<Value>) -> Value {
    let Some(ig) = &page.instagram else {
        return Value::Null;
    };
    if !ig.missing_permissions.is_empty() {
        findings.push(finding(
            "instagram_missing_permissions",
            format!(
                "Instagram @{}: the login did not grant {}. Reconnect the Page and grant them.",
                ig.username.as_deref().unwrap_or(&ig.id),
                ig.missing_permissions.join(", ")
            ),
        ));
    }
    let webhook = match app_credentials(app).await {
        Err(_) => json!({"error": "the Meta app id or secret is not configured"}),
        Ok(creds) => match app.graph.app_subscriptions(&creds).await {
            Ok(subs) => {
                let ours = subs.iter().find(|s| s.object == "instagram" && s.active);
                let fields = ours.map(|s| s.fields.clone()).unwrap_or_default();
                let (missing, problem) = match connect::instagram_subscription(&subs) {
                    connect::InstagramSubscription::Complete => (vec![], None),
                    connect::InstagramSubscription::Subscribe { missing, .. } => (missing, None),
                    connect::InstagramSubscription::Blocked { reason, missing } => {
                        (missing, Some(reason))
                    }
                };
                if !missing.is_empty() {
                    let what = match problem {
                        Some("callback_elsewhere") => {
                            "the app's Instagram webhook goes to another endpoint, so pagedesk leaves it alone: point it at pagedesk's webhook URL in the App Dashboard"
                        }
                        Some(_) => {
                            "the app has no Page webhook to take the callback URL from: enter pagedesk's webhook URL for the Page object in the App Dashboard"
                        }
                        None => "the next health check (or connecting a Page) subscribes them",
                    };
                    findings.push(finding(
                        "instagram_webhook_incomplete",
                        format!(
                            "The app's Instagram webhook lacks {}: Instagram's webhooks for them are not sent. {what}.",
                            missing.join(", ")
                        ),
                    ));
                }
                json!({"fields": fields, "missing": missing, "problem": problem})
            }
            Err(e) => json!({"error": e.to_string()}),
        },
    };
    json!({"account": ig, "webhook": webhook})
}
