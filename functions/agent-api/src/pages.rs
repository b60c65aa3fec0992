//! Pages (admin): register one with a token the team already holds (proved to be that Page's),
//! read, switch channels, forget. Connecting through Facebook Login and importing old
//! conversations: `pages_connect.rs`.
//!
//! Taking a Page is ordered so that nothing of another account's attempt can interleave: the
//! token is proved first (Graph answers who it belongs to), then the Page item is written with a
//! condition (no one else holds it), and only then is the token stored and the app subscribed.

use std::sync::Arc;

use axum::extract::State;
use lambda_http::http::StatusCode;
use pagedesk_shared::adapters::graph::GraphError;
use pagedesk_shared::connect::{self, Channels};
use pagedesk_shared::domain::PageStatus;
use pagedesk_shared::http::views;
use pagedesk_shared::store::PageItem;
use serde::Deserialize;
use serde_json::json;

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
    ok(&answer(&app, &page).await?)
}

/// The Page as `GET /pages/{page_id}` shows it, with `agents`: who may work it (those with
/// every Page and those given this one, or only its admin while it is `only_me`; admins see
/// every Page).
pub(crate) async fn answer(app: &App, page: &PageItem) -> Result<serde_json::Value, ApiFailure> {
    let mut v = views::page(page);
    let agents = app.store.list_agents(&page.account).await?;
    v["agents"] = agents
        .iter()
        .filter(|a| a.may_work(&page.page_id, Some(page)))
        .map(|a| a.id.clone())
        .collect();
    Ok(v)
}

pub(crate) async fn own_page(
    app: &App,
    account: &str,
    page_id: &str,
) -> Result<PageItem, ApiFailure> {
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
        // `null` is not "leave it as it is" (that is leaving the field out): refused, as the
        // document's types say.
        let raw: serde_json::Map<String, serde_json::Value> = body(bytes)?;
        ApiFailure::unless(
            ["name", "access_token", "channels"]
                .into_iter()
                .filter(|k| raw.get(*k).is_some_and(serde_json::Value::is_null))
                .map(|k| format!("{k}: null is not allowed; leave the field out to keep it"))
                .collect(),
        )?;
        let mut p: PutPage = body(bytes)?;
        let mut problems = Vec::new();
        p.access_token = p
            .access_token
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty());
        if p.name.as_ref().is_some_and(|n| n.trim().is_empty()) {
            problems.push("name: not blank".to_owned());
        }
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

pub(crate) fn numeric_id(page_id: &str) -> Result<(), ApiFailure> {
    if page_id.is_empty() || page_id.len() > 32 || !page_id.chars().all(|ch| ch.is_ascii_digit()) {
        return Err(ApiFailure::invalid("page_id must be the Page's numeric id"));
    }
    Ok(())
}

/// Graph could not be asked: nothing was decided, the same request can be sent again.
pub(crate) fn graph_down(e: &GraphError) -> Option<ApiFailure> {
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

/// `PUT /pages/{page_id}`: 201 when registered, 200 when updated, 404 without a token for a
/// Page that is not registered, 409 if another account holds the Page, 422 `token_not_for_page`
/// when Graph does not list the Page for the token's person, 422 `missing_role` when that person
/// lacks full control (or the token is a Page token, which cannot show it). A new token
/// reconnects a Page that needed re-authorisation and subscribes the app again.
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
    // Only a token registers a Page: without one there is nothing to update.
    if existing.is_none() && req.access_token.is_none() {
        return Err(ApiFailure::NotFound("page"));
    }
    // Proof first, of the Page and of the role: the token is a person's (or a system user's),
    // the Page is among theirs with full control, and its own token is read from that list.
    let mut graph_name = None;
    let mut page_token = None;
    if let Some(t) = &req.access_token {
        let (name, token) = page_from_person(&app, t, &page_id).await?;
        graph_name = name;
        page_token = Some(token);
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
    let Some(token) = page_token else {
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

/// The Page's name and own token, read with `token` from the Pages its person may work on,
/// after checking that the person has full control of it. A Page token's `/me` is the Page: it
/// does not say whose role it carries (Graph lists tasks only for a person), so it cannot show
/// full control and is refused as such.
async fn page_from_person(
    app: &App,
    token: &str,
    page_id: &str,
) -> Result<(Option<String>, String), ApiFailure> {
    let not_shown = |e: GraphError| graph_down(&e).unwrap_or(ApiFailure::TokenNotForPage);
    let me = app.graph.me(token).await.map_err(not_shown)?;
    // A person's short-lived token lists Page tokens that die within the hour; the long-lived
    // one, as the connect flow gets, lists Page tokens that do not expire. A token Graph will
    // not exchange (a system user's, which does not expire) is used as it is.
    let long = match crate::pages_connect::app_credentials(app).await {
        Ok(creds) if me.id != page_id => match app.graph.long_lived(&creds, token).await {
            Ok(long) => Some(long),
            Err(e) => match graph_down(&e) {
                Some(down) => return Err(down),
                None => None,
            },
        },
        _ => None,
    };
    let token = long.as_deref().unwrap_or(token);
    if me.id == page_id {
        return Err(ApiFailure::MissingRole(
            "a Page token does not show who holds full control of the Page: send the token of a person (or system user) with full control (Meta's MANAGE task)",
        ));
    }
    let listed = app.graph.managed_pages(token).await.map_err(not_shown)?;
    let page = listed
        .into_iter()
        .find(|p| p.id == page_id)
        .ok_or(ApiFailure::TokenNotForPage)?;
    if !connect::may_connect(&page.tasks) {
        return Err(ApiFailure::MissingRole(
            "the token's person does not have full control of this Page (Meta's MANAGE task)",
        ));
    }
    let own = page.access_token.ok_or(ApiFailure::TokenNotForPage)?;
    Ok((page.name, own))
}

pub(crate) fn token_secret(app: &App, page_id: &str) -> String {
    format!("{}{}", app.cfg.page_token_prefix, page_id)
}

/// The first health check: a period after connecting, less up to a tenth chosen by the Page
/// id, so that Pages connected together are not all checked in the same minute.
pub(crate) fn next_check(app: &App, page_id: &str, now: i64) -> i64 {
    let period = app.cfg.page_check_seconds as i64 * 1000;
    let spread = (period / 10).max(1);
    let h = page_id
        .bytes()
        .fold(0i64, |h, b| (h.wrapping_mul(31) + b as i64) & 0x7fff_ffff);
    now + period - h % spread
}

/// Claims the Page for the caller's account (a conditional write), then stores its token and
/// subscribes the app. A failed subscription is left for the health check to repair.
pub(crate) async fn take(
    app: &App,
    item: &mut PageItem,
    token: &str,
    now: i64,
) -> Result<(), ApiFailure> {
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
    if let Some(ig) = &page.instagram {
        app.store.unlink_instagram(&ig.id, &page_id).await?;
    }
    app.secrets.delete(&page.token_secret).await?;
    ok(&json!({"deleted": page_id}))
}
