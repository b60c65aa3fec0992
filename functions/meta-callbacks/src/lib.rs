//! Meta's callbacks for the people who log in to the app (the admins who connect Pages), on the
//! webhook's API: `POST /meta/deauthorize` (they removed the app: their Pages need
//! re-authorisation) and `POST /meta/data-deletion` (they asked for their data to be deleted:
//! the Pages they connected forget them and give up the token they granted; the answer is the
//! status page's URL and a confirmation code), and `GET /meta/data-deletion/{code}`, the status
//! page for people. Both POSTs carry a `signed_request` checked against the app secret; a bad or
//! missing one is 400 and changes nothing.
//!
//! A separate function from the webhook, so the hot path keeps no DynamoDB client and this one
//! holds no queue: the callbacks are rare and the deletion is done before the answer.

use std::sync::Arc;

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request};
use pagedesk_shared::adapters::aws::Clients;
use pagedesk_shared::adapters::secrets::SecretCache;
use pagedesk_shared::clock::{Clock, rfc3339};
use pagedesk_shared::http::api::{ApiError, HttpResponse, json, text};
use pagedesk_shared::meta::signed_request::{SignedRequest, verify_signed_request};
use pagedesk_shared::runtime::config::MetaCallbacksConfig;
use pagedesk_shared::store::{DeletionItem, Store};
use sha2::{Digest, Sha256};

pub struct MetaCallbacks {
    pub cfg: MetaCallbacksConfig,
    pub store: Store,
    pub secrets: Arc<SecretCache>,
    pub clock: Arc<dyn Clock>,
}

impl MetaCallbacks {
    pub fn new(cfg: MetaCallbacksConfig, clients: &Clients, clock: Arc<dyn Clock>) -> Self {
        MetaCallbacks {
            store: Store::new(clients.dynamo(), cfg.table.clone()),
            secrets: SecretCache::shared(&clients.secrets(), cfg.secret_cache_seconds),
            cfg,
            clock,
        }
    }

    pub async fn handle(&self, req: Request) -> HttpResponse {
        let path = req.uri().path().trim_end_matches('/').to_owned();
        let res = match (req.method(), path.as_str()) {
            (&Method::POST, "/meta/deauthorize") => self.deauthorize(&req).await,
            (&Method::POST, "/meta/data-deletion") => self.data_deletion(&req).await,
            (&Method::GET, p) if p.starts_with("/meta/data-deletion/") => {
                self.status_page(&p["/meta/data-deletion/".len()..]).await
            }
            _ => Err(ApiError::not_found("route")),
        };
        res.unwrap_or_else(ApiError::into_response)
    }

    /// The form's `signed_request`, verified.
    async fn signed(&self, req: &Request) -> Result<SignedRequest, ApiError> {
        let raw: &[u8] = match req.body() {
            Body::Empty => &[],
            b => b.as_ref(),
        };
        let field = url::form_urlencoded::parse(raw)
            .find(|(k, _)| k == "signed_request")
            .map(|(_, v)| v.into_owned());
        let secret = self.secrets.require(&self.cfg.app_secret_id).await?;
        verify_signed_request(secret.as_bytes(), field.as_deref())
            .and_then(|sr| {
                sr.check_fresh(self.clock.now_ms() / 1000)?;
                Ok(sr)
            })
            .map_err(|e| {
                tracing::warn!(reason = %e, "meta callback refused");
                ApiError::bad_request("invalid_signed_request", e.to_string())
            })
    }

    async fn deauthorize(&self, req: &Request) -> Result<HttpResponse, ApiError> {
        let sr = self.signed(req).await?;
        let now = self.clock.now_ms();
        let links = self.store.fb_user_links(&sr.user_id).await?;
        let mut marked = 0;
        for l in &links {
            // Only Pages this person's login still holds; someone may have reconnected since.
            let Some(page) = self.store.get_page(&l.page_id).await? else {
                continue;
            };
            if page.account != l.account || page.connected_by.as_deref() != Some(&sr.user_id) {
                continue;
            }
            if self
                .store
                .disconnect_page(&l.account, &l.page_id, "deauthorized", now)
                .await?
            {
                marked += 1;
            }
        }
        tracing::info!(pages = links.len(), marked, "deauthorize callback");
        Ok(json(StatusCode::OK, &serde_json::json!({"success": true})))
    }

    async fn data_deletion(&self, req: &Request) -> Result<HttpResponse, ApiError> {
        let sr = self.signed(req).await?;
        let now = self.clock.now_ms();
        let links = self.store.fb_user_links(&sr.user_id).await?;
        let mut pages = 0;
        for l in &links {
            let page = self.store.get_page(&l.page_id).await?;
            if let Some(page) = page
                && self.store.forget_connector(l, &sr.user_id, now).await?
            {
                // The token this person granted goes with them.
                self.secrets.delete(&page.token_secret).await?;
                pages += 1;
            }
            self.store.unlink_fb_user(l).await?;
        }
        // The same request again gets the same code: derived from the user and the request's
        // time, never showing the user's id.
        let code = confirmation_code(&sr);
        self.store
            .put_deletion(&DeletionItem::new(&code, pages, now))
            .await?;
        tracing::info!(pages, "data deletion callback");
        let url = format!("{}/meta/data-deletion/{code}", base_url(req));
        Ok(json(
            StatusCode::OK,
            &serde_json::json!({"url": url, "confirmation_code": code}),
        ))
    }

    async fn status_page(&self, code: &str) -> Result<HttpResponse, ApiError> {
        let valid =
            !code.is_empty() && code.len() <= 64 && code.chars().all(|c| c.is_ascii_alphanumeric());
        let found = if valid {
            self.store.get_deletion(code).await?
        } else {
            None
        };
        let (status, body) = match found {
            Some(d) => (
                StatusCode::OK,
                format!(
                    "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Data deletion {code}</title></head>\
                     <body><h1>Data deletion request {code}</h1><p>Status: <strong>{}</strong>.</p>\
                     <p>Requested {}; completed {}.</p><p>pagedesk no longer records who connected {} Page(s) \
                     and has deleted the access tokens that person granted.</p></body></html>",
                    d.status,
                    rfc3339(d.requested_at),
                    d.completed_at.map(rfc3339).unwrap_or_else(|| "not yet".into()),
                    d.pages
                ),
            ),
            None => (
                StatusCode::NOT_FOUND,
                "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Not found</title></head>\
                 <body><h1>No such data deletion request</h1></body></html>"
                    .to_owned(),
            ),
        };
        let mut resp = text(status, body);
        if let Ok(v) = "text/html; charset=utf-8".parse() {
            resp.headers_mut().insert("content-type", v);
        }
        Ok(resp)
    }
}

fn confirmation_code(sr: &SignedRequest) -> String {
    let digest = Sha256::digest(format!("{}:{}", sr.user_id, sr.issued_at.unwrap_or(0)));
    hex::encode(&digest[..10])
}

/// The public base URL the request came in on (API Gateway sets `Host` and
/// `X-Forwarded-Proto`).
fn base_url(req: &Request) -> String {
    let h = |k: &str| req.headers().get(k).and_then(|v| v.to_str().ok());
    let host = h("host").unwrap_or("localhost");
    let loopback = host.starts_with("127.0.0.1") || host.starts_with("localhost");
    let proto = h("x-forwarded-proto").unwrap_or(if loopback { "http" } else { "https" });
    format!("{proto}://{host}")
}
