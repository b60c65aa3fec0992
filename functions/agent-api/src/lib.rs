//! The agent API: what a helpdesk front end calls through the function URL. JSON in snake_case,
//! `Authorization: Bearer <JWT>`, errors as `{"error": {"code", "message"}}` (see `error`).
//! Every read is keyed by the token's account, so another account's objects are simply not
//! found (404).
//!
//! One route table (`routes!` below) makes both the axum router and `ROUTES`, the list the
//! OpenAPI test compares with the document. Handlers live by resource in the modules below;
//! each takes the state (`App`), the verified caller and what else its route needs.

mod agents;
mod contacts;
mod conversations;
mod error;
mod events;
mod extract;
mod lifecycle;
mod notes;
mod page_diagnostics;
mod page_settings;
mod page_sharing;
mod pages;
mod pages_connect;
mod replies;
mod reply_comments;
mod reports;
mod rules;
mod saved_replies;
mod sender_actions;
mod settings;
mod uploads;
mod webhooks;

use std::sync::Arc;

use axum::routing::{MethodFilter, MethodRouter};
use lambda_http::http::{Method, Response, Uri};
use lambda_http::{Body, Request};
use pagedesk_shared::adapters::auth::{Claims, Role, Verifier};
use pagedesk_shared::adapters::secrets::SecretCache;
use pagedesk_shared::clock::Clock;
use pagedesk_shared::domain::{MessageStatus, ReplyRoute};
use pagedesk_shared::http::api::HttpResponse;
use pagedesk_shared::runtime::config::AgentApiConfig;
use pagedesk_shared::services::ttl_map::TtlMap;
use pagedesk_shared::store::{ConversationItem, Message, Store, Watermarks};
use tower_service::Service;

pub use error::ApiFailure;

/// `conv` if it is there and of one of `pages` (`None`: every Page), else 404.
fn within(
    conv: Option<ConversationItem>,
    pages: Option<&[String]>,
) -> Result<ConversationItem, ApiFailure> {
    conv.filter(|cv| pages.is_none_or(|p| p.contains(&cv.page_id)))
        .ok_or(ApiFailure::NotFound("conversation"))
}

/// The Pages `agent` works: those their profile names (`None`: every Page), less the Pages
/// shared `only_me` with someone else.
fn scope(
    named: Option<Vec<String>>,
    account_pages: &[pagedesk_shared::store::PageItem],
    agent: &str,
) -> Option<Vec<String>> {
    let closed = |id: &str| {
        account_pages
            .iter()
            .any(|p| p.page_id == id && !p.open_to(agent))
    };
    if !account_pages.iter().any(|p| !p.open_to(agent)) {
        return named;
    }
    let all = || account_pages.iter().map(|p| p.page_id.clone()).collect();
    Some(
        named
            .unwrap_or_else(all)
            .into_iter()
            .filter(|id| !closed(id))
            .collect(),
    )
}

/// What the handlers work with.
pub struct App {
    pub cfg: AgentApiConfig,
    pub store: Store,
    pub secrets: Arc<SecretCache>,
    pub verifier: Verifier,
    pub clock: Arc<dyn Clock>,
    pub sqs: aws_sdk_sqs::Client,
    pub graph: pagedesk_shared::adapters::graph::GraphClient,
    /// Presigned reads of media copies, presigned writes of uploads, erasure of media.
    pub s3: pagedesk_shared::adapters::s3::S3,
    /// Agents' Pages as last read, for `settings_cache_seconds`.
    pub agent_pages: AgentPages,
    /// The account's Page names as last read, for `settings_cache_seconds`.
    pub page_names: PageNames,
}

/// account → its Pages' names (`page_name` on conversations).
pub type PageNames = TtlMap<String, Arc<std::collections::HashMap<String, String>>>;

/// (account, agent) → their Pages (`None`: every Page): an agent's requests read their
/// profile once per `settings_cache_seconds`, not once each.
pub type AgentPages = TtlMap<(String, String), Option<Vec<String>>>;

impl App {
    /// The caller's account's conversation `id`, or 404 (also for a conversation of a Page
    /// the caller does not work, as for another account's).
    pub(crate) async fn conversation(
        &self,
        c: &Claims,
        id: &str,
    ) -> Result<ConversationItem, ApiFailure> {
        let (conv, pages) = tokio::try_join!(
            async { Ok(self.store.get_conversation(&c.account, id).await?) },
            self.pages_of(c)
        )?;
        within(conv, pages.as_deref())
    }

    /// The conversation `id` for a caller who works only `pages` (their Pages already read).
    pub(crate) async fn conversation_on(
        &self,
        c: &Claims,
        id: &str,
        pages: &[String],
    ) -> Result<ConversationItem, ApiFailure> {
        within(
            self.store.get_conversation(&c.account, id).await?,
            Some(pages),
        )
    }

    /// The Pages the caller works: `None` for every Page (admins, the AI agent, and agents
    /// whose profile names none). For agents, read once per `settings_cache_seconds` (one
    /// GetItem), so a Page taken away is out of their reach within that time (at once where
    /// it is 0, as in `make dev` and `make test`).
    pub(crate) async fn pages_of(&self, c: &Claims) -> Result<Option<Vec<String>>, ApiFailure> {
        if c.role != Role::Agent {
            return Ok(None);
        }
        let key = (c.account.clone(), c.sub.clone());
        let ttl = std::time::Duration::from_secs(self.cfg.settings_cache_seconds);
        if let Some(pages) = self.agent_pages.fresh(&key, |_| ttl) {
            return Ok(pages);
        }
        let (agent, account_pages) = tokio::try_join!(
            self.store.get_agent(&c.account, &c.sub),
            self.store.list_pages(&c.account)
        )?;
        self.remember_names(&c.account, &account_pages);
        let pages = scope(agent.and_then(|a| a.pages), &account_pages, &c.sub);
        self.agent_pages.put(key, pages.clone());
        Ok(pages)
    }

    /// The names of the account's Pages, read at most once per `settings_cache_seconds` (an
    /// agent's `pages_of` read refreshes them too).
    pub(crate) async fn page_names(
        &self,
        account: &str,
    ) -> Result<Arc<std::collections::HashMap<String, String>>, ApiFailure> {
        let ttl = std::time::Duration::from_secs(self.cfg.settings_cache_seconds);
        if let Some(names) = self.page_names.fresh(account, |_| ttl) {
            return Ok(names);
        }
        let pages = self.store.list_pages(account).await?;
        Ok(self.remember_names(account, &pages))
    }

    fn remember_names(
        &self,
        account: &str,
        pages: &[pagedesk_shared::store::PageItem],
    ) -> Arc<std::collections::HashMap<String, String>> {
        let names: Arc<std::collections::HashMap<String, String>> = Arc::new(
            pages
                .iter()
                .filter_map(|p| Some((p.page_id.clone(), p.name.clone()?)))
                .collect(),
        );
        self.page_names.put(account.to_owned(), names.clone());
        names
    }

    /// The receipt watermarks of the conversation's Messenger thread (kept on its contact),
    /// which its sent messages are shown against; none where replies go under a comment.
    pub(crate) async fn thread_watermarks(
        &self,
        conv: &ConversationItem,
    ) -> Result<Watermarks, ApiFailure> {
        if conv.channel.reply_route() != ReplyRoute::SendApi {
            return Ok(Watermarks::default());
        }
        Ok(self
            .store
            .get_contact(&conv.account, &conv.contact_id)
            .await?
            .map(|c| c.watermarks())
            .unwrap_or_default())
    }

    /// `thread_watermarks` for showing `m`: read only when it has been sent.
    pub(crate) async fn watermarks(
        &self,
        conv: &ConversationItem,
        m: &Message,
    ) -> Result<Watermarks, ApiFailure> {
        if m.status != MessageStatus::Sent {
            return Ok(Watermarks::default());
        }
        self.thread_watermarks(conv).await
    }
}

/// Declares the routes once: `ROUTES` for the OpenAPI test and the axum router that serves them.
macro_rules! routes {
    ($($path:literal => [$($method:ident $handler:path),+ $(,)?]),+ $(,)?) => {
        /// Every route this API serves, as (method, OpenAPI path).
        pub const ROUTES: &[(&str, &str)] = &[$($((stringify!($method), $path)),+),+];

        fn router() -> axum::Router<Arc<App>> {
            axum::Router::new()
                $(.route($path, MethodRouter::new()$(.on(MethodFilter::$method, $handler))+))+
        }
    };
}

routes! {
    "/conversations" => [GET conversations::list],
    "/conversations/{id}" => [GET conversations::get],
    "/conversations/{id}/messages" => [GET conversations::messages, POST replies::post],
    "/conversations/{id}/claim" => [POST conversations::claim],
    "/conversations/{id}/assign" => [POST conversations::assign],
    "/conversations/{id}/handoff" => [POST conversations::handoff],
    "/conversations/{id}/resolve" => [POST lifecycle::resolve],
    "/conversations/{id}/reopen" => [POST lifecycle::reopen],
    "/conversations/{id}/snooze" => [POST lifecycle::snooze, DELETE lifecycle::unsnooze],
    "/conversations/{id}/notes" => [POST notes::post],
    "/conversations/{id}/typing" => [POST sender_actions::typing],
    "/conversations/{id}/messages/{message_id}/reaction" => [PUT sender_actions::put_reaction, DELETE sender_actions::delete_reaction],
    "/conversations/{id}/labels" => [PUT notes::put_labels],
    "/labels" => [GET notes::list],
    "/saved-replies" => [GET saved_replies::list],
    "/saved-replies/{shortcut}" => [PUT saved_replies::put, DELETE saved_replies::delete],
    "/contacts" => [GET contacts::search],
    "/contacts/{id}" => [GET contacts::get, DELETE contacts::erase],
    "/events" => [GET events::list],
    "/webhooks" => [GET webhooks::list, POST webhooks::create],
    "/webhooks/{id}" => [GET webhooks::get, PATCH webhooks::patch, DELETE webhooks::delete],
    "/webhooks/{id}/rotate-secret" => [POST webhooks::rotate_secret],
    "/webhooks/{id}/deliveries" => [GET webhooks::deliveries],
    "/webhooks/{id}/replay" => [POST webhooks::replay],
    "/uploads" => [POST uploads::post],
    "/settings" => [GET settings::get, PUT settings::put],
    "/agents" => [GET agents::list],
    "/agents/{id}" => [GET agents::get, PUT agents::put],
    "/agents/{id}/preferences" => [GET agents::get_preferences, PUT agents::put_preferences],
    "/routing-rules" => [GET rules::get, PUT rules::put],
    "/reports/csat" => [GET reports::csat],
    "/pages" => [GET pages::list],
    "/pages/connect" => [POST pages_connect::connect],
    "/pages/{page_id}" => [GET pages::get, PUT pages::put, DELETE pages::delete],
    "/pages/{page_id}/import" => [POST pages_connect::import],
    "/pages/{page_id}/settings" => [GET page_settings::get, PUT page_settings::put],
    "/pages/{page_id}/sharing" => [PUT page_sharing::put],
    "/pages/{page_id}/diagnostics" => [GET page_diagnostics::get],
}

async fn no_route() -> ApiFailure {
    ApiFailure::NotFound("route")
}

/// axum adds the `Allow` header listing the path's methods.
async fn wrong_method(method: Method) -> ApiFailure {
    ApiFailure::MethodNotAllowed {
        method: method.to_string(),
    }
}

/// The API as one request handler, the same in Lambda, on the local host and in tests.
pub struct AgentApi {
    router: axum::Router,
}

impl AgentApi {
    pub fn new(app: App) -> Self {
        let router = router()
            .fallback(no_route)
            .method_not_allowed_fallback(wrong_method)
            .with_state(Arc::new(app));
        AgentApi { router }
    }

    pub async fn handle(&self, req: Request) -> HttpResponse {
        let method = req.method().clone();
        let req = without_trailing_slash(req);
        let mut router = self.router.clone();
        let resp = match router.call(req).await {
            Ok(r) => r,
            Err(never) => match never {},
        };
        let (parts, body) = resp.into_parts();
        let body = match axum::body::to_bytes(body, usize::MAX).await {
            Ok(b) if b.is_empty() => Body::Empty,
            Ok(b) => match String::from_utf8(b.to_vec()) {
                Ok(t) => Body::Text(t),
                Err(e) => Body::Binary(e.into_bytes()),
            },
            Err(e) => {
                tracing::error!(error = %e, "response body unreadable");
                Body::Empty
            }
        };
        tracing::info!(method = %method, status = parts.status.as_u16(), "agent api");
        Response::from_parts(parts, body)
    }
}

/// `/conversations/` is `/conversations`, as API Gateway-style clients expect.
fn without_trailing_slash(mut req: Request) -> Request {
    let path = req.uri().path();
    if path.len() > 1 && path.ends_with('/') {
        let trimmed = path.trim_end_matches('/');
        let rebuilt = match req.uri().query() {
            Some(q) => format!("{trimmed}?{q}"),
            None => trimmed.to_owned(),
        };
        if let Ok(uri) = rebuilt.parse::<Uri>() {
            *req.uri_mut() = uri;
        }
    }
    req
}
