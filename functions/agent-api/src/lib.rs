//! The agent API: what a helpdesk front end calls through the function URL. JSON in snake_case,
//! `Authorization: Bearer <JWT>`, errors as `{"error": {"code", "message"}}`. Every read is
//! keyed by the token's account, so another account's objects are simply not found (404).

mod replies;
mod routing;
mod settings;

use std::sync::Arc;

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request};
use pagedesk_shared::api::{ApiError, HttpResponse, json, query_param, query_params};
use pagedesk_shared::auth::{AuthError, Claims, Role, Verifier};
use pagedesk_shared::automatic::{self, Automatic};
use pagedesk_shared::clock::Clock;
use pagedesk_shared::config::Config;
use pagedesk_shared::domain::window::{WindowState, window_at};
use pagedesk_shared::domain::{Channel, ConversationStatus, MessageKind, PageStatus};
use pagedesk_shared::secrets::SecretCache;
use pagedesk_shared::store::{ConversationItem, ConversationQuery, PageItem, ReopenRefused, Store};
use pagedesk_shared::views;
use serde::Deserialize;
use serde_json::json;

/// Every route this API serves, as (method, OpenAPI path). The OpenAPI test compares the
/// document against this list and the running API.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/conversations"),
    ("GET", "/conversations/{id}"),
    ("GET", "/conversations/{id}/messages"),
    ("POST", "/conversations/{id}/messages"),
    ("POST", "/conversations/{id}/claim"),
    ("POST", "/conversations/{id}/assign"),
    ("POST", "/conversations/{id}/handoff"),
    ("POST", "/conversations/{id}/resolve"),
    ("POST", "/conversations/{id}/reopen"),
    ("GET", "/contacts/{id}"),
    ("GET", "/events"),
    ("GET", "/settings"),
    ("PUT", "/settings"),
    ("GET", "/agents"),
    ("GET", "/agents/{id}"),
    ("PUT", "/agents/{id}"),
    ("GET", "/routing-rules"),
    ("PUT", "/routing-rules"),
    ("GET", "/reports/csat"),
    ("GET", "/pages"),
    ("PUT", "/pages/{page_id}"),
    ("DELETE", "/pages/{page_id}"),
];

pub struct AgentApi {
    pub cfg: Config,
    pub store: Store,
    pub secrets: Arc<SecretCache>,
    pub verifier: Verifier,
    pub clock: Arc<dyn Clock>,
    pub sqs: aws_sdk_sqs::Client,
}

pub(crate) type ApiResult = Result<HttpResponse, ApiError>;

impl AgentApi {
    pub async fn handle(&self, req: Request) -> HttpResponse {
        let res = self.route(&req).await;
        let resp = res.unwrap_or_else(ApiError::into_response);
        tracing::info!(method = %req.method(), status = resp.status().as_u16(), "agent api");
        resp
    }

    async fn route(&self, req: &Request) -> ApiResult {
        let path = req.uri().path().trim_end_matches('/').to_owned();
        let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let method = req.method().clone();
        let known = matches!(
            (segs.as_slice(), &method),
            (["conversations"], &Method::GET)
                | (["conversations", _], &Method::GET)
                | (
                    ["conversations", _, "messages"],
                    &Method::GET | &Method::POST
                )
                | (["events"], &Method::GET)
                | (
                    [
                        "conversations",
                        _,
                        "resolve" | "reopen" | "claim" | "assign" | "handoff"
                    ],
                    &Method::POST
                )
                | (["agents"], &Method::GET)
                | (["agents", _], &Method::GET | &Method::PUT)
                | (["routing-rules"], &Method::GET | &Method::PUT)
                | (["reports", "csat"], &Method::GET)
                | (["contacts", _], &Method::GET)
                | (["pages"], &Method::GET)
                | (["settings"], &Method::GET | &Method::PUT)
                | (["pages", _], &Method::PUT | &Method::DELETE)
        );
        if !known {
            return Err(ApiError::not_found("route"));
        }
        let claims = self.authenticate(req).await?;
        let params = query_params(req.uri());
        match (segs.as_slice(), method) {
            (["conversations"], Method::GET) => self.list_conversations(&claims, &params).await,
            (["conversations", id], Method::GET) => self.get_conversation(&claims, id).await,
            (["conversations", id, "messages"], Method::GET) => {
                self.list_messages(&claims, id, &params).await
            }
            (["conversations", id, "messages"], Method::POST) => {
                self.post_message(&claims, id, req.body()).await
            }
            (["events"], Method::GET) => self.list_events(&claims, &params).await,
            (["conversations", id, "resolve"], Method::POST) => self.resolve(&claims, id).await,
            (["conversations", id, "reopen"], Method::POST) => self.reopen(&claims, id).await,
            (["conversations", id, "claim"], Method::POST) => self.claim(&claims, id).await,
            (["conversations", id, "assign"], Method::POST) => {
                self.assign(&claims, id, req.body()).await
            }
            (["conversations", id, "handoff"], Method::POST) => {
                self.handoff(&claims, id, req.body()).await
            }
            (["agents"], Method::GET) => self.list_agents(&claims).await,
            (["agents", id], Method::GET) => self.get_agent(&claims, id).await,
            (["agents", id], Method::PUT) => self.put_agent(&claims, id, req.body()).await,
            (["routing-rules"], Method::GET) => self.get_rules(&claims).await,
            (["routing-rules"], Method::PUT) => self.put_rules(&claims, req.body()).await,
            (["reports", "csat"], Method::GET) => self.csat_report(&claims, &params).await,
            (["contacts", id], Method::GET) => self.get_contact(&claims, id).await,
            (["settings"], Method::GET) => self.get_settings(&claims).await,
            (["settings"], Method::PUT) => self.put_settings(&claims, req.body()).await,
            (["pages"], Method::GET) => self.list_pages(&claims).await,
            (["pages", id], Method::PUT) => self.put_page(&claims, id, req.body()).await,
            (["pages", id], Method::DELETE) => self.delete_page(&claims, id).await,
            _ => Err(ApiError::not_found("route")),
        }
    }

    /// The caller's account's conversation `id`, or 404.
    pub(crate) async fn conversation(
        &self,
        c: &Claims,
        id: &str,
    ) -> Result<ConversationItem, ApiError> {
        self.store
            .get_conversation(&c.account, id)
            .await?
            .ok_or_else(|| ApiError::not_found("conversation"))
    }

    async fn authenticate(&self, req: &Request) -> Result<Claims, ApiError> {
        let header = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok());
        self.verifier
            .verify_header(header)
            .await
            .map_err(|e| match e {
                AuthError::Missing => ApiError::unauthorized("a bearer token is required"),
                AuthError::Invalid(_) => ApiError::unauthorized("the token is not valid"),
                AuthError::NotConfigured => {
                    tracing::error!("no token verification is configured; refusing every request");
                    ApiError::unauthorized("authentication is not configured")
                }
                AuthError::KeysUnavailable(m) => {
                    tracing::error!(error = %m, "JWKS unavailable");
                    ApiError::unavailable("token keys unavailable; retry")
                }
            })
    }

    async fn list_conversations(&self, c: &Claims, params: &[(String, String)]) -> ApiResult {
        let status = match query_param(params, "status") {
            None | Some("") | Some("all") => None,
            Some(s) => Some(
                ConversationStatus::parse(s)
                    .ok_or_else(|| bad_param("status", "open, resolved or all"))?,
            ),
        };
        let assignee = match query_param(params, "assignee") {
            None | Some("") => None,
            Some("me") => Some(Some(c.sub.clone())),
            Some("unassigned") => Some(None),
            Some(a) => Some(Some(a.to_owned())),
        };
        let channel = match query_param(params, "channel") {
            None | Some("") => None,
            Some(s) => Some(
                Channel::parse(s)
                    .ok_or_else(|| bad_param("channel", "messenger, comment or lead"))?,
            ),
        };
        let q = ConversationQuery {
            status,
            assignee,
            page_id: query_param(params, "page_id")
                .filter(|p| !p.is_empty())
                .map(str::to_owned),
            channel,
            limit: limit(params, 25, 100)?,
            cursor: query_param(params, "cursor")
                .filter(|p| !p.is_empty())
                .map(str::to_owned),
        };
        let page = self
            .store
            .list_conversations(&c.account, &q)
            .await?
            .map_err(|_| bad_param("cursor", "a cursor from this list"))?;
        let settings = self.store.get_settings(&c.account).await?;
        let now = self.clock.now_ms();
        let items: Vec<_> = page
            .items
            .iter()
            .map(|i| views::conversation(i, settings.human_agent_enabled, now))
            .collect();
        Ok(json(
            StatusCode::OK,
            &json!({"items": items, "next_cursor": page.next_cursor}),
        ))
    }

    async fn get_conversation(&self, c: &Claims, id: &str) -> ApiResult {
        let conv = self.conversation(c, id).await?;
        let settings = self.store.get_settings(&c.account).await?;
        Ok(json(
            StatusCode::OK,
            &views::conversation(&conv, settings.human_agent_enabled, self.clock.now_ms()),
        ))
    }

    async fn list_messages(&self, c: &Claims, id: &str, params: &[(String, String)]) -> ApiResult {
        let conv = self.conversation(c, id).await?;
        let limit = limit(params, 50, 200)?;
        let cursor = query_param(params, "cursor").filter(|p| !p.is_empty());
        let page = self
            .store
            .list_messages(&c.account, id, limit, cursor)
            .await?
            .map_err(|_| bad_param("cursor", "a cursor from this list"))?;
        let items: Vec<_> = page
            .items
            .iter()
            .map(|m| views::message(m, &conv))
            .collect();
        Ok(json(
            StatusCode::OK,
            &json!({"items": items, "next_cursor": page.next_cursor}),
        ))
    }

    async fn resolve(&self, c: &Claims, id: &str) -> ApiResult {
        let conv = self.conversation(c, id).await?;
        if !self
            .store
            .resolve_conversation(&conv, self.clock.now_ms())
            .await?
        {
            return Err(ApiError::conflict(
                "not_open",
                "the conversation is not open",
            ));
        }
        tracing::info!(conversation_id = id, agent = %c.sub, "conversation resolved");
        // The survey must not fail a resolve that happened.
        if let Err(e) = self.ask_csat(&conv).await {
            tracing::error!(conversation_id = id, error = %e, "survey could not be sent");
        }
        self.get_conversation(c, id).await
    }

    /// On resolve, if the account wants it and the window is open (the survey is an automatic
    /// message: never tagged, never outside 24 h): quick replies 1–5.
    async fn ask_csat(&self, conv: &ConversationItem) -> pagedesk_shared::Result<()> {
        if conv.channel != Channel::Messenger || conv.csat.is_some() {
            return Ok(());
        }
        let settings = self.store.get_settings(&conv.account).await?;
        let now = self.clock.now_ms();
        let window = window_at(conv.last_inbound_at, false, now);
        if !settings.csat_enabled || window.state != WindowState::Open {
            return Ok(());
        }
        if !self.store.mark_csat_requested(conv, now).await? {
            return Ok(());
        }
        automatic::send(
            &self.store,
            &self.sqs,
            self.cfg.outbound_queue_url.as_deref(),
            conv,
            Automatic {
                kind: MessageKind::Csat,
                text: automatic::CSAT_QUESTION,
                quick_replies: Some(automatic::csat_quick_replies(&conv.id)),
                require_open: false,
            },
            now,
        )
        .await?;
        Ok(())
    }

    async fn reopen(&self, c: &Claims, id: &str) -> ApiResult {
        let conv = self.conversation(c, id).await?;
        match self
            .store
            .reopen_conversation(&conv, self.clock.now_ms())
            .await?
        {
            Ok(()) => {}
            Err(ReopenRefused::NotResolved) => {
                return Err(ApiError::conflict(
                    "not_resolved",
                    "the conversation is not resolved",
                ));
            }
            Err(ReopenRefused::ContactHasOpenConversation) => {
                return Err(ApiError::conflict(
                    "contact_has_open_conversation",
                    "the contact already has another open conversation",
                ));
            }
        }
        tracing::info!(conversation_id = id, agent = %c.sub, "conversation reopened");
        self.get_conversation(c, id).await
    }

    async fn get_contact(&self, c: &Claims, id: &str) -> ApiResult {
        let contact = self
            .store
            .get_contact(&c.account, id)
            .await?
            .ok_or_else(|| ApiError::not_found("contact"))?;
        Ok(json(StatusCode::OK, &views::contact(&contact)))
    }

    async fn list_pages(&self, c: &Claims) -> ApiResult {
        require_admin(c)?;
        let pages = self.store.list_pages(&c.account).await?;
        let items: Vec<_> = pages.iter().map(views::page).collect();
        Ok(json(StatusCode::OK, &json!({"items": items})))
    }

    async fn put_page(&self, c: &Claims, page_id: &str, body: &Body) -> ApiResult {
        require_admin(c)?;
        #[derive(Deserialize)]
        struct PutPage {
            name: Option<String>,
            access_token: Option<String>,
        }
        if page_id.is_empty() || !page_id.chars().all(|ch| ch.is_ascii_digit()) {
            return Err(ApiError::unprocessable(
                "page_id must be the Page's numeric id",
            ));
        }
        let body: PutPage = parse_body(body)?;
        let token = body.access_token.filter(|t| !t.trim().is_empty());
        let existing = self.store.get_page(page_id).await?;
        if let Some(p) = &existing
            && p.account != c.account
        {
            return Err(ApiError::conflict(
                "page_registered_elsewhere",
                "this Page is registered by another account",
            ));
        }
        if existing.is_none() && token.is_none() {
            return Err(ApiError::unprocessable(
                "access_token is required to register a Page",
            ));
        }
        let now = self.clock.now_ms();
        let secret_id = format!("{}{}", self.cfg.page_token_prefix, page_id);
        if let Some(t) = &token {
            self.secrets.put(&secret_id, t.trim()).await?;
        }
        let item = PageItem {
            name: body
                .name
                .or_else(|| existing.as_ref().and_then(|p| p.name.clone())),
            // A new token is a reconnection: clear a reauth flag. Without one, keep the state.
            status: match (&token, &existing) {
                (None, Some(p)) => p.status,
                _ => PageStatus::Connected,
            },
            status_reason: match (&token, &existing) {
                (None, Some(p)) => p.status_reason.clone(),
                _ => None,
            },
            created_at: existing.as_ref().map_or(now, |p| p.created_at),
            ..PageItem::new(&c.account, page_id, secret_id, now)
        };
        if !self.store.put_page(&item).await? {
            return Err(ApiError::conflict(
                "page_registered_elsewhere",
                "this Page is registered by another account",
            ));
        }
        tracing::info!(page_id, created = existing.is_none(), "page registered");
        let status = if existing.is_none() {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        };
        Ok(json(status, &views::page(&item)))
    }

    async fn delete_page(&self, c: &Claims, page_id: &str) -> ApiResult {
        require_admin(c)?;
        let Some(page) = self
            .store
            .get_page(page_id)
            .await?
            .filter(|p| p.account == c.account)
        else {
            return Err(ApiError::not_found("page"));
        };
        if !self.store.delete_page(&c.account, page_id).await? {
            return Err(ApiError::not_found("page"));
        }
        self.secrets.delete(&page.token_secret).await?;
        Ok(json(StatusCode::OK, &json!({"deleted": page_id})))
    }
}

pub(crate) fn require_admin(c: &Claims) -> Result<(), ApiError> {
    if c.role == Role::Admin {
        Ok(())
    } else {
        Err(ApiError::forbidden("this needs the admin role"))
    }
}

fn bad_param(name: &str, expected: &str) -> ApiError {
    ApiError::bad_request("invalid_parameter", format!("{name}: expected {expected}"))
}

pub(crate) fn limit(params: &[(String, String)], default: i32, max: i32) -> Result<i32, ApiError> {
    match query_param(params, "limit") {
        None | Some("") => Ok(default),
        Some(v) => v
            .parse::<i32>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| bad_param("limit", &format!("a number from 1 to {max}"))),
    }
}

pub(crate) fn parse_body<T: serde::de::DeserializeOwned>(body: &Body) -> Result<T, ApiError> {
    let bytes: &[u8] = match body {
        Body::Empty => b"",
        b => b.as_ref(),
    };
    serde_json::from_slice(bytes).map_err(|e| ApiError::unprocessable(format!("body: {e}")))
}
