//! Connecting Pages through Facebook Login (`POST /pages/connect`: token exchange, the person's
//! Pages and permissions, each Page taken as `pages::take` does, sharing) and importing their
//! old conversations (`POST /pages/{page_id}/import`).

use std::sync::Arc;

use axum::extract::State;
use lambda_http::http::StatusCode;
use pagedesk_shared::adapters::graph::{AppCredentials, GrantedPage, GraphError};
use pagedesk_shared::connect::{self};
use pagedesk_shared::contracts::queue::{ImportJob, enqueue_import};
use pagedesk_shared::domain::{EventType, PageStatus};
use pagedesk_shared::services::instagram_webhook;
use pagedesk_shared::store::{EventItem, ImportKind, ImportProgress, InstagramLink, PageItem};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::App;
use crate::error::ApiFailure;
use crate::extract::{Caller, Id, RawBody, Reply, body, json, ok};

use crate::page_sharing::{Sharing, SharingMode, release_others, share_rules};
use crate::pages::{graph_down, next_check, numeric_id, own_page, take, token_secret};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Connect {
    user_access_token: Option<String>,
    code: Option<String>,
    redirect_uri: Option<String>,
    page_ids: Option<Vec<String>>,
    sharing: Option<Sharing>,
    import_history: Option<ImportRequest>,
}

/// `{"days": 1-90, "assign": "rules" | "unassigned"}` (`rules` when absent).
#[derive(Debug, Clone)]
pub struct ImportRequest {
    days: i64,
    assign: String,
}

impl<'de> Deserialize<'de> for ImportRequest {
    /// By hand, so that `48.0` is the integer 48 as JSON Schema (and the OpenAPI document)
    /// has it, and every problem is named.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        ImportRequest::from_value(&v).map_err(serde::de::Error::custom)
    }
}

impl ImportRequest {
    fn from_value(v: &Value) -> Result<Self, String> {
        let Some(obj) = v.as_object() else {
            return Err("import_history: an object".into());
        };
        let mut problems = Vec::new();
        if let Some(k) = obj.keys().find(|k| *k != "days" && *k != "assign") {
            problems.push(format!("import_history.{k}: unknown field"));
        }
        let days = obj.get("days").and_then(crate::extract::integer);
        if !days.is_some_and(|d| (1..=90).contains(&d)) {
            problems.push("import_history.days: a whole number from 1 to 90".to_owned());
        }
        let assign = match obj.get("assign") {
            None => "rules".to_owned(),
            Some(Value::String(a)) if a == "rules" || a == "unassigned" => a.clone(),
            Some(_) => {
                problems.push("import_history.assign: rules or unassigned".to_owned());
                String::new()
            }
        };
        if !problems.is_empty() {
            return Err(problems.join("; "));
        }
        Ok(ImportRequest {
            days: days.unwrap_or(1),
            assign,
        })
    }
}

/// `POST /pages/connect`: what Facebook Login gave the admin's browser becomes connected Pages.
pub async fn connect(State(app): State<Arc<App>>, c: Caller, RawBody(bytes): RawBody) -> Reply {
    c.require_admin()?;
    let req: Connect = body(&bytes)?;
    let mut problems = Vec::new();
    if req.user_access_token.is_none() && (req.code.is_none() || req.redirect_uri.is_none()) {
        problems.push("user_access_token, or code and redirect_uri, are required".to_owned());
    }
    if let Some(ids) = &req.page_ids {
        if ids.is_empty() || ids.len() > 100 {
            problems.push("page_ids: 1 to 100 Page ids".to_owned());
        }
        if ids.iter().any(|p| numeric_id(p).is_err()) {
            problems.push("page_ids: numeric Page ids".to_owned());
        }
    }
    match &req.sharing {
        Some(Sharing {
            mode: SharingMode::Shared,
            rule: None,
        }) => problems.push("sharing.rule: required when mode is shared".to_owned()),
        Some(Sharing {
            mode: SharingMode::OnlyMe,
            ..
        }) if c.sub.is_empty() => {
            problems.push("sharing: only_me needs a person's token".to_owned())
        }
        _ => {}
    }
    ApiFailure::unless(problems)?;
    if let Some(Sharing {
        mode: SharingMode::Shared,
        rule: Some(name),
    }) = &req.sharing
        && !app
            .store
            .get_rules(&c.account)
            .await?
            .rules
            .iter()
            .any(|r| &r.name == name)
    {
        return Err(ApiFailure::invalid(format!(
            "sharing.rule: there is no routing rule named {name:?}"
        )));
    }
    let creds = app_credentials(&app).await?;
    let short = match (&req.user_access_token, &req.code, &req.redirect_uri) {
        (Some(t), _, _) => t.trim().to_owned(),
        (None, Some(code), Some(uri)) => {
            app.graph
                .exchange_code(&creds, code, uri)
                .await
                .map_err(|e| {
                    graph_down(&e).unwrap_or_else(|| {
                        ApiFailure::invalid(
                            "code: Facebook refused it (used, expired, or another redirect_uri)",
                        )
                    })
                })?
        }
        _ => return Err(ApiFailure::invalid("user_access_token or code is required")),
    };
    let refused = |what: &'static str| {
        move |e: GraphError| {
            graph_down(&e).unwrap_or_else(|| {
                ApiFailure::invalid(format!("{what}: Facebook refused it ({e})"))
            })
        }
    };
    let long = app
        .graph
        .long_lived(&creds, &short)
        .await
        .map_err(refused("user_access_token"))?;
    let person = app
        .graph
        .me(&long)
        .await
        .map_err(refused("user_access_token"))?;
    let granted = app
        .graph
        .granted_permissions(&long)
        .await
        .map_err(refused("user_access_token"))?;
    let listed = app
        .graph
        .managed_pages(&long)
        .await
        .map_err(refused("user_access_token"))?;
    let wanted: Vec<GrantedPage> = match &req.page_ids {
        Some(ids) => ids
            .iter()
            .enumerate()
            .filter(|(i, id)| !ids[..*i].contains(id))
            .map(|(_, id)| id)
            .map(|id| {
                listed
                    .iter()
                    .find(|p| &p.id == id)
                    .cloned()
                    .unwrap_or(GrantedPage {
                        id: id.clone(),
                        name: None,
                        access_token: None,
                        tasks: vec![],
                        instagram_business_account: None,
                    })
            })
            .collect(),
        None => listed,
    };
    let now = app.clock.now_ms();
    let mut results = Vec::new();
    let mut connected: Vec<String> = Vec::new();
    // The app's Instagram webhook, checked once for all the Pages with an Instagram account.
    let mut ig_webhook: Option<bool> = None;
    for p in wanted {
        let existing = app.store.get_page(&p.id).await?;
        let channels = existing.as_ref().map(|e| e.channels).unwrap_or_default();
        let mut missing: Vec<&str> = connect::missing(&channels.permissions(), &granted);
        let Some(token) = p.access_token.clone() else {
            // Not among the Pages the person granted.
            if !missing.contains(&"pages_show_list") {
                missing.insert(0, "pages_show_list");
            }
            results.push(page_result(&p, "missing_permissions", &missing));
            continue;
        };
        if !missing.is_empty() {
            results.push(page_result(&p, "missing_permissions", &missing));
            continue;
        }
        // Before anything about who holds the Page: a person without full control learns
        // nothing from connecting, and changes nothing.
        if !connect::may_connect(&p.tasks) {
            results.push(page_result(&p, "missing_role", &[]));
            continue;
        }
        if existing.as_ref().is_some_and(|e| e.account != c.account) {
            results.push(page_result(&p, "registered_elsewhere", &[]));
            continue;
        }
        let mut item = existing
            .clone()
            .unwrap_or_else(|| PageItem::new(&c.account, &p.id, token_secret(&app, &p.id), now));
        item.name = p.name.clone().or(item.name);
        item.status = PageStatus::Connected;
        item.status_reason = None;
        item.connected_by = Some(person.id.clone());
        item.connected_at = Some(now);
        item.updated_at = now;
        // Private from its first write, so no agent ever sees an `only_me` Page.
        match req.sharing.as_ref().map(|s| &s.mode) {
            Some(SharingMode::OnlyMe) => item.private_to = Some(c.sub.clone()),
            Some(SharingMode::Shared) => item.private_to = None,
            None => {}
        }
        item.check_at(next_check(&app, &p.id, now));
        let unlinked = item.instagram.take();
        item.instagram = instagram_link(&p, &granted);
        if let Some(ig) = item.instagram.as_mut() {
            let works = match ig_webhook {
                Some(w) => w,
                None => *ig_webhook.insert(instagram_webhook(&app, &creds).await),
            };
            ig.mark_unsubscribed(!works);
        }
        match take(&app, &mut item, &token, now).await {
            Ok(()) => {}
            Err(ApiFailure::PageRegisteredElsewhere) => {
                results.push(page_result(&p, "registered_elsewhere", &[]));
                continue;
            }
            Err(e) => return Err(e),
        }
        app.store
            .link_fb_user(&person.id, &c.account, &p.id, now)
            .await?;
        // The Instagram account's webhooks name it, not the Page: they find the Page by it.
        if let Some(ig) = &item.instagram {
            app.store.link_instagram(&item, &ig.id).await?;
        }
        if let Some(old) = unlinked.filter(|o| item.instagram.as_ref().is_none_or(|n| n.id != o.id))
        {
            app.store.unlink_instagram(&old.id, &item.page_id).await?;
        }
        let result = if existing.is_some() {
            "reconnected"
        } else {
            "connected"
        };
        let ev = EventItem::new(
            &c.account,
            EventType::PageConnected,
            None,
            json!({"page_id": p.id, "result": result, "by": c.sub}),
            now,
        );
        app.store.put_event(&ev).await?;
        let mut out = json!({"page_id": p.id, "name": item.name, "result": result, "missing_permissions": [], "instagram": item.instagram});
        if let Some(i) = &req.import_history {
            // Connecting again while an import runs keeps that import; the Page still connects.
            out["import"] = match start_import(&app, &item, i, now).await {
                Ok(v) => v,
                Err(ApiFailure::ImportRunning) => json!({"status": "running", "started": false}),
                Err(e) => return Err(e),
            };
        }
        results.push(out);
        connected.push(p.id);
    }
    if let Some(sharing) = &req.sharing
        && !connected.is_empty()
    {
        share_rules(&app, &c, sharing, &connected, "sharing.rule", now).await?;
        if sharing.mode == SharingMode::OnlyMe {
            for page_id in &connected {
                release_others(&app, &c, page_id, now).await?;
            }
        }
    }
    tracing::info!(
        pages = results.len(),
        connected = connected.len(),
        "pages connect"
    );
    ok(&json!({"pages": results}))
}

/// The Page's linked Instagram account, and whether the login granted what working it needs.
fn instagram_link(p: &GrantedPage, granted: &[String]) -> Option<InstagramLink> {
    let ig = p.instagram_business_account.as_ref()?;
    Some(InstagramLink::judged(&ig.id, ig.username.clone(), granted))
}

/// Completes the app's Instagram webhook subscription if it may; whether Instagram's webhooks
/// reach pagedesk. Graph's trouble here does not stop a connect: the health check tries again.
async fn instagram_webhook(app: &App, creds: &AppCredentials) -> bool {
    let verify = app.cfg.verify_token_id.as_deref();
    match instagram_webhook::ensure(&app.graph, creds, &app.secrets, verify).await {
        Ok(outcome) => outcome.works(),
        Err(e) => {
            tracing::warn!(error = %e, "the app's Instagram webhook could not be checked");
            true
        }
    }
}

/// One Page's line in the connect answer.
fn page_result(p: &GrantedPage, result: &str, missing: &[&str]) -> Value {
    json!({"page_id": p.id, "name": p.name, "result": result, "missing_permissions": missing})
}

pub(crate) async fn app_credentials(app: &App) -> Result<AppCredentials, ApiFailure> {
    let (Some(id), Some(secret_id)) = (&app.cfg.app_id, &app.cfg.app_secret_id) else {
        tracing::error!(
            "PAGEDESK_APP_ID or PAGEDESK_APP_SECRET_ID is not set; cannot connect Pages"
        );
        return Err(ApiFailure::Unavailable(
            "connecting Pages needs the Meta app id and secret configured",
        ));
    };
    let secret = app
        .secrets
        .get(secret_id)
        .await?
        .ok_or(ApiFailure::Unavailable(
            "the Meta app secret is not stored yet",
        ))?;
    Ok(AppCredentials {
        id: id.clone(),
        secret,
    })
}

/// `POST /pages/{page_id}/import` `{"import_history": {"days", "assign"}}` → 202.
pub async fn import(
    State(app): State<Arc<App>>,
    c: Caller,
    Id(page_id): Id,
    RawBody(bytes): RawBody,
) -> Reply {
    c.require_admin()?;
    let v: Value = body(&bytes)?;
    let inner = v.get("import_history").cloned().unwrap_or(v);
    let req = ImportRequest::from_value(&inner).map_err(ApiFailure::invalid)?;
    let page = own_page(&app, &c.account, &page_id).await?;
    if page.status != PageStatus::Connected {
        return Err(ApiFailure::PageNotConnected);
    }
    let progress = start_import(&app, &page, &req, app.clock.now_ms()).await?;
    Ok(json(
        StatusCode::ACCEPTED,
        &json!({"page_id": page_id, "import": progress}),
    ))
}

/// Records a new import run on the Page (unless one is running) and queues its first step.
async fn start_import(
    app: &App,
    page: &PageItem,
    req: &ImportRequest,
    now: i64,
) -> Result<Value, ApiFailure> {
    let run = pagedesk_shared::ids::new_id("im", now);
    let progress = ImportProgress {
        run: run.clone(),
        status: "running".into(),
        days: req.days,
        assign: req.assign.clone(),
        since: now - req.days * 86_400_000,
        started_at: now,
        ..Default::default()
    };
    let ev = EventItem::new(
        &page.account,
        EventType::PageImport,
        None,
        json!({"page_id": page.page_id, "status": "running", "conversations": 0, "messages": 0}),
        now,
    );
    if !app
        .store
        .save_import(
            &page.account,
            &page.page_id,
            ImportKind::History,
            &progress,
            None,
            Some(&ev),
            0,
        )
        .await?
    {
        return Err(ApiFailure::ImportRunning);
    }
    let job = ImportJob::new(&page.account, &page.page_id, &run, 0);
    enqueue_import(&app.sqs, &app.cfg.inbound_queue_url, &job).await?;
    tracing::info!(page_id = %page.page_id, days = req.days, "history import started");
    Ok(json!({"status": "running", "days": req.days, "assign": req.assign}))
}
