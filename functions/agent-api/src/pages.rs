//! Pages (admin): connect them through Facebook Login (`POST /pages/connect`), register one with
//! a token the team already holds (proved to be that Page's), read, switch channels, import old
//! conversations, forget.
//!
//! Taking a Page is ordered so that nothing of another account's attempt can interleave: the
//! token is proved first (Graph answers who it belongs to), then the Page item is written with a
//! condition (no one else holds it), and only then is the token stored and the app subscribed.

use std::sync::Arc;

use axum::extract::State;
use lambda_http::http::StatusCode;
use pagedesk_shared::connect::{self, Channels};
use pagedesk_shared::domain::rules::{RoutingRule, RuleMatch};
use pagedesk_shared::domain::{EventType, PageStatus, RoutingMethod};
use pagedesk_shared::graph::{AppCredentials, GrantedPage, GraphError};
use pagedesk_shared::queue::{ImportJob, enqueue_import};
use pagedesk_shared::store::{EventItem, ImportProgress, PageItem};
use pagedesk_shared::views;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::App;
use crate::error::ApiFailure;
use crate::extract::{Caller, Id, RawBody, Reply, body, json, ok};

/// Page tokens are a few hundred characters; the cap keeps a secret far below Secrets
/// Manager's 64 KiB.
const MAX_TOKEN: usize = 4096;
const MAX_NAME: usize = 200;

pub async fn list(State(app): State<Arc<App>>, c: Caller) -> Reply {
    c.require_admin()?;
    let pages = app.store.list_pages(&c.account).await?;
    let items: Vec<_> = pages.iter().map(views::page).collect();
    ok(&json!({"items": items}))
}

/// `GET /pages/{page_id}`: status, subscription, who connected it, health, channels, import.
pub async fn get(State(app): State<Arc<App>>, c: Caller, Id(page_id): Id) -> Reply {
    c.require_admin()?;
    let page = own_page(&app, &c.account, &page_id).await?;
    ok(&views::page(&page))
}

async fn own_page(app: &App, account: &str, page_id: &str) -> Result<PageItem, ApiFailure> {
    app.store
        .get_page(page_id)
        .await?
        .filter(|p| p.account == account)
        .ok_or(ApiFailure::NotFound("page"))
}

/// `{"name", "access_token", "channels"}`
#[derive(Debug, Deserialize)]
struct PutPage {
    name: Option<String>,
    access_token: Option<String>,
    channels: Option<Channels>,
}

impl PutPage {
    fn parse(bytes: &[u8]) -> Result<Self, ApiFailure> {
        let mut p: PutPage = body(bytes)?;
        p.access_token = p
            .access_token
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty());
        let mut problems = Vec::new();
        if p.name
            .as_ref()
            .is_some_and(|n| n.chars().count() > MAX_NAME)
        {
            problems.push(format!("name: at most {MAX_NAME} characters"));
        }
        if p.access_token
            .as_ref()
            .is_some_and(|t| t.chars().count() > MAX_TOKEN)
        {
            problems.push(format!("access_token: at most {MAX_TOKEN} characters"));
        }
        ApiFailure::unless(problems)?;
        Ok(p)
    }
}

fn numeric_id(page_id: &str) -> Result<(), ApiFailure> {
    if page_id.is_empty() || page_id.len() > 32 || !page_id.chars().all(|ch| ch.is_ascii_digit()) {
        return Err(ApiFailure::invalid("page_id must be the Page's numeric id"));
    }
    Ok(())
}

/// Graph could not be asked: nothing was decided, the same request can be sent again.
fn graph_down(e: &GraphError) -> Option<ApiFailure> {
    match e {
        GraphError::Api { .. } | GraphError::Decode(_) => None,
        GraphError::Http { status } if *status < 500 => None,
        _ => {
            tracing::warn!(error = %e, "graph unreachable");
            Some(ApiFailure::Unavailable(
                "Facebook could not be reached; retry",
            ))
        }
    }
}

/// `PUT /pages/{page_id}`: 201 when registered, 200 when updated, 409 if another account holds
/// the Page, 422 `token_not_for_page` when Graph does not confirm the token is this Page's. A
/// new token reconnects a Page that needed re-authorisation and subscribes the app again.
pub async fn put(
    State(app): State<Arc<App>>,
    c: Caller,
    Id(page_id): Id,
    RawBody(bytes): RawBody,
) -> Reply {
    c.require_admin()?;
    numeric_id(&page_id)?;
    let req = PutPage::parse(&bytes)?;
    let existing = app.store.get_page(&page_id).await?;
    if let Some(p) = &existing
        && p.account != c.account
    {
        return Err(ApiFailure::PageRegisteredElsewhere);
    }
    if existing.is_none() && req.access_token.is_none() {
        return Err(ApiFailure::invalid(
            "access_token is required to register a Page",
        ));
    }
    // Proof first: a Page token's `/me` is the Page itself.
    let mut graph_name = None;
    if let Some(t) = &req.access_token {
        match app.graph.me(t).await {
            Ok(node) if node.id == page_id => graph_name = node.name,
            Ok(_) => return Err(ApiFailure::TokenNotForPage),
            Err(e) => return Err(graph_down(&e).unwrap_or(ApiFailure::TokenNotForPage)),
        }
    }
    let now = app.clock.now_ms();
    let mut item = existing
        .clone()
        .unwrap_or_else(|| PageItem::new(&c.account, &page_id, token_secret(&app, &page_id), now));
    item.updated_at = now;
    if let Some(n) = req.name.or(graph_name.filter(|_| item.name.is_none())) {
        item.name = Some(n);
    }
    if let Some(ch) = req.channels {
        item.channels = ch;
    }
    let Some(token) = req.access_token else {
        // Name or channels only.
        if !app.store.put_page(&item).await? {
            return Err(ApiFailure::PageRegisteredElsewhere);
        }
        return Ok(json(StatusCode::OK, &views::page(&item)));
    };
    item.status = PageStatus::Connected;
    item.status_reason = None;
    item.connected_at = Some(now);
    // A pasted token is nobody's login: Meta's callbacks about an earlier connector no
    // longer concern this Page.
    item.connected_by = None;
    item.check_at(next_check(&app, &page_id, now));
    let created = existing.is_none();
    take(&app, &mut item, &token, now).await?;
    tracing::info!(page_id, created, "page registered with a token");
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(json(status, &views::page(&item)))
}

fn token_secret(app: &App, page_id: &str) -> String {
    format!("{}{}", app.cfg.page_token_prefix, page_id)
}

/// The first health check: a period after connecting, less up to a tenth chosen by the Page
/// id, so that Pages connected together are not all checked in the same minute.
fn next_check(app: &App, page_id: &str, now: i64) -> i64 {
    let period = app.cfg.page_check_seconds as i64 * 1000;
    let spread = (period / 10).max(1);
    let h = page_id
        .bytes()
        .fold(0i64, |h, b| (h.wrapping_mul(31) + b as i64) & 0x7fff_ffff);
    now + period - h % spread
}

/// Claims the Page for the caller's account (a conditional write), then stores its token and
/// subscribes the app. A failed subscription is left for the health check to repair.
async fn take(app: &App, item: &mut PageItem, token: &str, now: i64) -> Result<(), ApiFailure> {
    if !app.store.put_page(item).await? {
        return Err(ApiFailure::PageRegisteredElsewhere);
    }
    app.secrets.put(&item.token_secret, token).await?;
    match app
        .graph
        .subscribe(&item.page_id, token, &connect::WEBHOOK_FIELDS)
        .await
    {
        Ok(()) => {
            item.subscribed_fields = connect::WEBHOOK_FIELDS.map(str::to_owned).to_vec();
        }
        Err(e) => {
            tracing::warn!(page_id = %item.page_id, error = %e, "subscribing the app failed; the health check tries again");
            item.subscribed_fields.clear();
            // Soon, not in a day.
            item.check_at(now + 60_000);
        }
    }
    item.updated_at = now;
    if !app.store.put_page(item).await? {
        return Err(ApiFailure::PageRegisteredElsewhere);
    }
    Ok(())
}

/// `DELETE /pages/{page_id}`: unsubscribes the app, then forgets the Page and its token.
pub async fn delete(State(app): State<Arc<App>>, c: Caller, Id(page_id): Id) -> Reply {
    c.require_admin()?;
    let page = own_page(&app, &c.account, &page_id).await?;
    if let Some(token) = app.secrets.get(&page.token_secret).await? {
        match app.graph.unsubscribe(&page_id, &token).await {
            Ok(()) => {}
            // A dead token cannot unsubscribe, and Meta stops delivering for it anyway.
            Err(e) => {
                if let Some(down) = graph_down(&e) {
                    return Err(down);
                }
                tracing::warn!(page_id, error = %e, "unsubscribing refused; forgetting the Page anyway");
            }
        }
    }
    if !app.store.delete_page(&c.account, &page_id).await? {
        return Err(ApiFailure::NotFound("page"));
    }
    app.secrets.delete(&page.token_secret).await?;
    ok(&json!({"deleted": page_id}))
}

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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Sharing {
    mode: SharingMode,
    rule: Option<String>,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
enum SharingMode {
    OnlyMe,
    Shared,
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
                    })
            })
            .collect(),
        None => listed,
    };
    let now = app.clock.now_ms();
    let mut results = Vec::new();
    let mut connected: Vec<String> = Vec::new();
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
        item.check_at(next_check(&app, &p.id, now));
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
        let mut out = json!({"page_id": p.id, "name": item.name, "result": result, "missing_permissions": []});
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
        share(&app, &c, sharing, &connected, now).await?;
    }
    tracing::info!(
        pages = results.len(),
        connected = connected.len(),
        "pages connect"
    );
    ok(&json!({"pages": results}))
}

/// One Page's line in the connect answer.
fn page_result(p: &GrantedPage, result: &str, missing: &[&str]) -> Value {
    json!({"page_id": p.id, "name": p.name, "result": result, "missing_permissions": missing})
}

async fn app_credentials(app: &App) -> Result<AppCredentials, ApiFailure> {
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

/// `only_me`: an `owner` rule for the connecting admin, first in order, scoped to the Pages.
/// `shared`: the Pages join the named rule's `match.pages`.
async fn share(
    app: &App,
    c: &Caller,
    sharing: &Sharing,
    pages: &[String],
    now: i64,
) -> Result<(), ApiFailure> {
    for _ in 0..4 {
        let current = app.store.get_rules(&c.account).await?;
        let mut rules = current.rules.clone();
        match sharing.mode {
            SharingMode::OnlyMe => {
                let name: String = format!("only me: {}", c.sub).chars().take(100).collect();
                match rules.iter_mut().find(|r| r.name == name) {
                    Some(r) => add_pages(&mut r.matches, pages),
                    None => rules.insert(
                        0,
                        RoutingRule {
                            name,
                            matches: RuleMatch {
                                pages: pages.to_vec(),
                                ..Default::default()
                            },
                            agents: vec![c.sub.clone()],
                            method: RoutingMethod::Owner,
                            on_agent_removed: Default::default(),
                        },
                    ),
                }
            }
            SharingMode::Shared => {
                let name = sharing.rule.as_deref().unwrap_or_default();
                let Some(r) = rules.iter_mut().find(|r| r.name == name) else {
                    return Err(ApiFailure::invalid(format!(
                        "sharing.rule: there is no routing rule named {name:?}"
                    )));
                };
                add_pages(&mut r.matches, pages);
            }
        }
        let as_json = json!({"rules": rules});
        pagedesk_shared::domain::rules::parse_rules(&as_json).map_err(ApiFailure::Invalid)?;
        if app
            .store
            .put_rules(&c.account, &rules, current.version, now)
            .await?
        {
            return Ok(());
        }
    }
    Err(ApiFailure::RulesChanged)
}

fn add_pages(m: &mut RuleMatch, pages: &[String]) {
    for p in pages {
        if !m.pages.contains(p) {
            m.pages.push(p.clone());
        }
    }
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
        .save_import(&page.account, &page.page_id, &progress, None, Some(&ev))
        .await?
    {
        return Err(ApiFailure::ImportRunning);
    }
    let job = ImportJob::new(&page.account, &page.page_id, &run, 0);
    enqueue_import(&app.sqs, &app.cfg.inbound_queue_url, &job).await?;
    tracing::info!(page_id = %page.page_id, days = req.days, "history import started");
    Ok(json!({"status": "running", "days": req.days, "assign": req.assign}))
}
