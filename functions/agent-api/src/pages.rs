//! Pages (admin): list, register or update one with a token the team already holds, forget one.

use std::sync::Arc;

use axum::extract::State;
use lambda_http::http::StatusCode;
use pagedesk_shared::domain::PageStatus;
use pagedesk_shared::store::PageItem;
use pagedesk_shared::views;
use serde::Deserialize;
use serde_json::json;

use crate::App;
use crate::error::ApiFailure;
use crate::extract::{Caller, Id, RawBody, Reply, body, json, ok};

pub async fn list(State(app): State<Arc<App>>, c: Caller) -> Reply {
    c.require_admin()?;
    let pages = app.store.list_pages(&c.account).await?;
    let items: Vec<_> = pages.iter().map(views::page).collect();
    ok(&json!({"items": items}))
}

/// `{"name", "access_token"}`
#[derive(Debug, Deserialize)]
struct PutPage {
    name: Option<String>,
    access_token: Option<String>,
}

impl PutPage {
    /// Page tokens are a few hundred characters; the cap keeps a secret far below Secrets
    /// Manager's 64 KiB.
    const MAX_TOKEN: usize = 4096;
    const MAX_NAME: usize = 200;

    fn parse(bytes: &[u8]) -> Result<Self, ApiFailure> {
        let mut p: PutPage = body(bytes)?;
        p.access_token = p
            .access_token
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty());
        let mut problems = Vec::new();
        if p.name
            .as_ref()
            .is_some_and(|n| n.chars().count() > Self::MAX_NAME)
        {
            problems.push(format!("name: at most {} characters", Self::MAX_NAME));
        }
        if p.access_token
            .as_ref()
            .is_some_and(|t| t.chars().count() > Self::MAX_TOKEN)
        {
            problems.push(format!(
                "access_token: at most {} characters",
                Self::MAX_TOKEN
            ));
        }
        ApiFailure::unless(problems)?;
        Ok(p)
    }
}

/// `PUT /pages/{page_id}`: 201 when registered, 200 when updated, 409 if another account holds
/// the Page. A new token reconnects a Page that needed re-authorisation.
pub async fn put(
    State(app): State<Arc<App>>,
    c: Caller,
    Id(page_id): Id,
    RawBody(bytes): RawBody,
) -> Reply {
    c.require_admin()?;
    if page_id.is_empty() || !page_id.chars().all(|ch| ch.is_ascii_digit()) {
        return Err(ApiFailure::invalid("page_id must be the Page's numeric id"));
    }
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
    let now = app.clock.now_ms();
    let secret_id = format!("{}{}", app.cfg.page_token_prefix, page_id);
    if let Some(t) = &req.access_token {
        app.secrets.put(&secret_id, t).await?;
    }
    let item = PageItem {
        name: req
            .name
            .or_else(|| existing.as_ref().and_then(|p| p.name.clone())),
        // A new token is a reconnection: clear a reauth flag. Without one, keep the state.
        status: match (&req.access_token, &existing) {
            (None, Some(p)) => p.status,
            _ => PageStatus::Connected,
        },
        status_reason: match (&req.access_token, &existing) {
            (None, Some(p)) => p.status_reason.clone(),
            _ => None,
        },
        created_at: existing.as_ref().map_or(now, |p| p.created_at),
        ..PageItem::new(&c.account, &page_id, secret_id, now)
    };
    if !app.store.put_page(&item).await? {
        return Err(ApiFailure::PageRegisteredElsewhere);
    }
    tracing::info!(page_id, created = existing.is_none(), "page registered");
    let status = if existing.is_none() {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(json(status, &views::page(&item)))
}

/// `DELETE /pages/{page_id}`: forgets the Page and deletes its token secret.
pub async fn delete(State(app): State<Arc<App>>, c: Caller, Id(page_id): Id) -> Reply {
    c.require_admin()?;
    let Some(page) = app
        .store
        .get_page(&page_id)
        .await?
        .filter(|p| p.account == c.account)
    else {
        return Err(ApiFailure::NotFound("page"));
    };
    if !app.store.delete_page(&c.account, &page_id).await? {
        return Err(ApiFailure::NotFound("page"));
    }
    app.secrets.delete(&page.token_secret).await?;
    ok(&json!({"deleted": page_id}))
}
