//! The Meta simulator: plays the Graph API over HTTP for local runs and tests, and sends signed
//! webhooks as a Facebook user would.
//!
//! Control routes (all under `/_sim`):
//! - `GET /_sim/requests`: every Graph call received, oldest first, as
//!   `{"method", "path", "query", "headers", "body", "effective", "at_ms"}` (`effective`: the
//!   call took effect, i.e. was not answered with a scripted failure; `at_ms`: when it arrived,
//!   Unix milliseconds); `DELETE` clears the log.
//! - `POST /_sim/failures` `{"path", "status", "body", "times", "delay_ms", "raw"?,
//!   "broken_body"?}`: the next `times` calls whose path ends with `path` answer `status` with
//!   `body` after `delay_ms`; a 2xx status without a body answers as usual, only late (to make
//!   a send time out). `raw` answers that text instead of JSON, `broken_body: true` a body that
//!   breaks off after the status line; with a 2xx status both happen after the call took
//!   effect (the send goes out and echoes), as when Meta's answer is lost on the way back.
//!   `"every": n` applies it to every n-th matching call only (2: half), `"for_ms"` for that
//!   long instead of `times` calls, `"replace": true` in place of those scripted for the same
//!   path; `"headers"` adds headers to the answer (`{"retry-after": "2"}`). `DELETE` clears them.
//! - `POST /_sim/faults` `{"dynamodb"?: ms, "moto"?: ms}`: pagedesk's functions cannot reach
//!   DynamoDB Local (or moto: SQS, Secrets Manager, S3) for that long; open connections are cut,
//!   as when the emulator stops and starts again. Its data stays.
//! - `POST /_sim/fb-users` `{"id", "name", "pages": [{"id", "name", "tasks"?}], "declined":
//!   [perm]}`: a Facebook user with a role on those Pages (`tasks`, as `/me/accounts` lists them:
//!   every task by default, e.g. `["ANALYZE"]` for an analyst); answers `{"user_access_token", "code"}` for the
//!   connect flow's Graph endpoints (see `facebook.rs`). `POST /_sim/pages/{id}/revoke` kills
//!   that Page's tokens (190 afterwards), `DELETE /_sim/pages/{id}/subscription` drops the app's
//!   subscription, `PUT /_sim/pages/{id}/instagram` `{"id", "username"} | null` links another
//!   Instagram account to the Page or none, `PUT /_sim/fb-users/{id}/declined` `[perm]` takes
//!   permissions back, `POST /_sim/pages/{id}/history` `{"psid", "messages": [{"from": "user" |
//!   "page", "text", "created_time"}]}` adds an old conversation for the Conversations API.
//! - `PUT /_sim/settings` `{"echoes": bool, "page_id"?}`: whether successful sends come back
//!   as echo webhooks (on by default, as for an app subscribed to `message_echoes`), for all
//!   Pages or one; `{"require_appsecret_proof": bool, "page_id"}`: as Meta's "Require App
//!   Secret" (an app setting; per Page here, as tests share the simulator), a call with that
//!   Page's token must carry its `appsecret_proof` (hex HMAC-SHA256 of the token keyed by the
//!   app secret), else 400 with Graph's code 100 (off by default).
//! - `PUT /_sim/users/{psid}` `{"first_name", "last_name", "name", "profile_pic"}`.
//! - `PUT /_sim/posts/{post_id}` `{"message", "permalink_url", "created_time"}` and
//!   `PUT /_sim/leads/{leadgen_id}` `{"field_data": [...]}`: what `GET /{id}` answers (made-up
//!   ones otherwise; the Dashboard's test lead id 444444444444 is refused, as by Meta).
//! - `POST /_sim/messages` `{"page_id", "psid", "text", "attachments"?, "mid"?}` (a `mid` of
//!   the history keeps that message's time, to the millisecond): a person
//!   writes to the Page; the simulator signs the webhook and posts it to pagedesk. With
//!   `"drop_webhook": true` the message only joins the Page's history (the Conversations API
//!   lists it) and no webhook is sent, as when Meta's delivery is lost.
//! - `POST /_sim/webhook` `{"payload": {...}}` or a raw JSON body: signs and delivers any payload.
//! - `POST /_sim/instagram/messages` `{"ig_id", "igsid", "text"?, "attachments"?,
//!   "story_reply"?: {"id", "url"}, "mid"?}`: a person writes to the Instagram account linked to
//!   a Page; the webhook is `object: instagram` with the account's id in `entry[].id`. Or, one
//!   per call: `story_mention`, `reaction`, `unsend`, `read`, `postback`, `referral`, `echo`
//!   (`sim/people.rs`).
//! - `POST /_sim/instagram/comments` `{"ig_id", "igsid", "username"?, "text", "media_id",
//!   "comment_id"?, "parent_id"?, "live"?}`: a person comments on the account's post or reel (a
//!   `comments` change; `live_comments` when `live`). Public replies (`POST /{comment_id}/replies`) answer a new id.
//! - `PUT /_sim/media/{name}` (bytes, with their content type), `GET` serves them, `DELETE`
//!   makes the URL expire (404): what attachment URLs point at in tests. `/_sim/failures`
//!   applies to `GET` (its status, and with a 2xx status its delay: the bytes come late);
//!   `GET /_sim/media-gets/{name}` lists the statuses its `GET`s are answered with, each
//!   logged as the `GET` arrives.
//!
//! - `/{app-id}/subscriptions` (GET, POST, DELETE with the app token; `sim/app.rs`): the app's
//!   webhook objects; `page` starts subscribed to pagedesk's webhook, `instagram` empty.
//!
//! A stand-in AI agent endpoint: `POST /_bot/<anything>` answers 200 and is logged with the
//! Graph calls (headers and body, so a test can check the signature); `/_sim/failures` applies
//! to it too (e.g. `{"path": "/_bot/hook", "status": 503, "times": 2}`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use serde::Deserialize;
use serde_json::{Value, json};

mod app;
mod graph;
mod media;
mod people;
use graph::{chrono_now_ms, graph, graph_error};
use media::{delete_media, get_media, put_media};
use people::{deliver_raw, instagram_comment, instagram_message, user_message};

#[derive(Clone)]
pub struct Sim {
    inner: Arc<Mutex<SimState>>,
    pub webhook_url: String,
    pub app_secret: String,
    /// Echoes of our sends carry this app id, as Meta's do.
    pub app_id: String,
    echoes: Arc<std::sync::atomic::AtomicBool>,
    http: reqwest::Client,
    faults: crate::fault::Faults,
}

#[derive(Default)]
struct SimState {
    requests: Vec<Value>,
    failures: Vec<Failure>,
    users: HashMap<String, Value>,
    counter: u64,
    /// Pages whose sends get no echo.
    no_echo_pages: std::collections::HashSet<String>,
    /// Pages whose Page tokens must come with their `appsecret_proof` (Meta's setting is the
    /// app's; per Page here, so one test's switch does not reach another's calls).
    proof_pages: std::collections::HashSet<String>,
    posts: HashMap<String, Value>,
    leads: HashMap<String, Value>,
    /// Facebook accounts, tokens, subscriptions and old conversations (connect flow).
    fb: crate::facebook::Accounts,
    /// What media URLs serve (`/_sim/media/{name}`): content type and bytes.
    media: HashMap<String, (String, Bytes)>,
    /// The status each `GET /_sim/media/{name}` was answered with, in order.
    media_gets: HashMap<String, Vec<u16>>,
    /// When each Instagram Direct message was first sent: a redelivery keeps it, as Meta's do.
    instagram_times: HashMap<String, i64>,
    /// The app's webhook subscriptions, by object (`/{app-id}/subscriptions`).
    app_subscriptions: std::collections::BTreeMap<String, app::AppSubscription>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Failure {
    pub path: String,
    #[serde(default = "default_status")]
    pub status: u16,
    #[serde(default)]
    pub body: Value,
    #[serde(default = "one")]
    pub times: u32,
    #[serde(default)]
    pub delay_ms: u64,
    /// Answer this text instead of a JSON body.
    #[serde(default)]
    pub raw: Option<String>,
    /// Headers of the answer (`{"retry-after": "2"}`).
    #[serde(default)]
    pub headers: std::collections::BTreeMap<String, String>,
    /// Answer a body that breaks off after the status line.
    #[serde(default)]
    pub broken_body: bool,
    /// Apply to every `every`-th matching call only (2: half of them); the others are answered
    /// as usual and do not use the failure up.
    #[serde(default)]
    pub every: u32,
    /// Apply for this long from now instead of `times` calls.
    #[serde(default)]
    pub for_ms: u64,
    /// Take the place of the failures scripted for the same `path`, in one step (no call
    /// between a clear and the new script gets a normal answer).
    #[serde(default)]
    pub replace: bool,
    /// Apply to sender actions (typing_on, mark_seen, react) on `…/messages` too; by default a
    /// script for the Send API fails message sends only, so the "seen" an agent's reading
    /// sends does not use up a failure a test scripted for a reply.
    #[serde(default)]
    pub sender_actions: bool,
    #[serde(skip)]
    until: Option<std::time::Instant>,
    #[serde(skip)]
    seen: u32,
}

impl SimState {
    /// The scripted failure this call to `path` gets, if any (it is used up).
    fn scripted(&mut self, path: &str, sender_action: bool) -> Option<Failure> {
        let now = std::time::Instant::now();
        let out = self
            .failures
            .iter_mut()
            .filter(|f| f.times > 0 && path.ends_with(&f.path))
            .filter(|f| f.sender_actions || !sender_action)
            .find_map(|f| f.hits(now).then(|| f.clone()));
        self.failures.retain(|f| f.times > 0);
        out
    }
}

impl Failure {
    /// Whether this call gets the failure (and counts it).
    fn hits(&mut self, now: std::time::Instant) -> bool {
        if self.until.is_some_and(|u| now >= u) {
            self.times = 0;
            return false;
        }
        self.seen += 1;
        if self.every > 1 && !self.seen.is_multiple_of(self.every) {
            return false;
        }
        if self.until.is_none() {
            self.times -= 1;
        }
        true
    }
}

fn default_status() -> u16 {
    400
}
fn one() -> u32 {
    1
}

impl Sim {
    pub fn new(webhook_url: String, app_secret: String, app_id: String) -> Self {
        Sim {
            inner: Arc::new(Mutex::new(SimState {
                app_subscriptions: app::initial(&webhook_url),
                ..Default::default()
            })),
            webhook_url,
            app_secret,
            app_id,
            echoes: Arc::new(std::sync::atomic::AtomicBool::new(true)),
            http: pagedesk_shared::adapters::tls::reqwest_builder()
                .build()
                .unwrap_or_default(),
            faults: Default::default(),
        }
    }

    /// The stack's outage switches, for `POST /_sim/faults`.
    pub fn with_faults(mut self, faults: crate::fault::Faults) -> Self {
        self.faults = faults;
        self
    }

    /// A Facebook user who manages Pages (`POST /_sim/fb-users`): `{user_access_token, code}`.
    pub fn add_fb_user(&self, u: crate::facebook::NewUser) -> Value {
        self.state().fb.add_user(u)
    }

    /// The simulator's state; a panicked holder cannot leave it unusable.
    fn state(&self) -> std::sync::MutexGuard<'_, SimState> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether calls with `token` must carry its `appsecret_proof`.
    fn proof_required(&self, token: &str) -> bool {
        let st = self.state();
        st.fb
            .page_of(token)
            .is_some_and(|page| st.proof_pages.contains(page))
    }

    pub fn router(self) -> Router {
        Router::new()
            .route("/_sim/requests", get(list_requests).delete(clear_requests))
            .route("/_sim/failures", post(add_failure).delete(clear_failures))
            .route("/_sim/faults", post(add_fault))
            .route("/_sim/fb-users", post(add_fb_user))
            .route("/_sim/pages/{page_id}/revoke", post(revoke_page))
            .route(
                "/_sim/pages/{page_id}/subscription",
                delete(drop_subscription),
            )
            .route("/_sim/pages/{page_id}/history", post(add_history))
            .route("/_sim/pages/{page_id}/instagram", put(put_instagram))
            .route("/_sim/fb-users/{user_id}/declined", put(put_declined))
            .route("/_sim/deauthorize", post(send_deauthorize))
            .route("/_sim/data-deletion", post(send_data_deletion))
            .route("/_sim/users/{psid}", put(put_user))
            .route("/_sim/messages", post(user_message))
            .route("/_sim/instagram/messages", post(instagram_message))
            .route("/_sim/instagram/comments", post(instagram_comment))
            .route("/_sim/webhook", post(deliver_raw))
            .route("/_sim/settings", put(put_settings))
            .route("/_sim/posts/{id}", put(put_post))
            .route("/_sim/leads/{id}", put(put_lead))
            .route(
                "/_sim/media-gets/{name}",
                get(
                    |State(sim): State<Sim>, Path(name): Path<String>| async move {
                        let gets = sim
                            .state()
                            .media_gets
                            .get(&name)
                            .cloned()
                            .unwrap_or_default();
                        axum::Json(gets)
                    },
                ),
            )
            .route(
                "/_sim/media/{name}",
                put(put_media)
                    .get(get_media)
                    .delete(delete_media)
                    .layer(axum::extract::DefaultBodyLimit::max(64 * 1024 * 1024)),
            )
            .fallback(graph)
            .with_state(self)
            .layer(axum::middleware::from_fn(browser_cors))
    }

    fn next_id(&self, prefix: &str) -> String {
        let mut s = self.state();
        s.counter += 1;
        format!("{prefix}{:016}", s.counter)
    }

    /// Delivers `payload` a moment later, as Meta's echoes come after the call that caused them.
    fn deliver_later(&self, payload: Value, failed: &'static str) {
        let sim = self.clone();
        // Busy from now: the stack is not idle while Meta still owes a webhook.
        let busy = crate::idle::Busy::start();
        tokio::spawn(async move {
            let _busy = busy;
            tokio::time::sleep(std::time::Duration::from_millis(30)).await;
            if let Err(e) = sim
                .deliver(serde_json::to_vec(&payload).unwrap_or_default())
                .await
            {
                tracing::warn!(error = %e, "{failed}");
            }
        });
    }

    /// Signs `body` with the app secret and posts it to pagedesk's webhook.
    pub async fn deliver(&self, body: Vec<u8>) -> Result<(u16, String), String> {
        let sig = pagedesk_shared::meta::signature::sign(self.app_secret.as_bytes(), &body);
        let res = self
            .http
            .post(&self.webhook_url)
            .header("content-type", "application/json")
            .header("x-hub-signature-256", sig)
            .body(body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = res.status().as_u16();
        Ok((status, res.text().await.unwrap_or_default()))
    }
}

async fn list_requests(State(sim): State<Sim>) -> Response {
    let s = sim.state();
    axum::Json(Value::Array(s.requests.clone())).into_response()
}

async fn clear_requests(State(sim): State<Sim>) -> StatusCode {
    sim.state().requests.clear();
    StatusCode::NO_CONTENT
}

async fn add_failure(State(sim): State<Sim>, body: Bytes) -> Response {
    accept(&body, StatusCode::CREATED, |mut f: Failure| {
        if f.for_ms > 0 {
            f.until = Some(std::time::Instant::now() + std::time::Duration::from_millis(f.for_ms));
            f.times = u32::MAX;
        }
        let mut state = sim.state();
        if f.replace {
            state.failures.retain(|old| old.path != f.path);
        }
        state.failures.push(f)
    })
}

async fn add_fb_user(State(sim): State<Sim>, body: Bytes) -> Response {
    match serde_json::from_slice::<crate::facebook::NewUser>(&body) {
        Ok(u) => (StatusCode::CREATED, axum::Json(sim.state().fb.add_user(u))).into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    }
}

/// `{"user_id"}`: Meta's deauthorize callback for that person, signed, sent to pagedesk;
/// answers what pagedesk answered.
async fn send_deauthorize(State(sim): State<Sim>, body: Bytes) -> Response {
    callback(&sim, "deauthorize", &body).await
}

/// `{"user_id"}`: Meta's data-deletion callback, as `send_deauthorize`.
async fn send_data_deletion(State(sim): State<Sim>, body: Bytes) -> Response {
    callback(&sim, "data-deletion", &body).await
}

async fn callback(sim: &Sim, which: &str, body: &[u8]) -> Response {
    let user = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| match v.get("user_id") {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        });
    let Some(user) = user else {
        return (StatusCode::BAD_REQUEST, "expected {\"user_id\": \"…\"}").into_response();
    };
    let payload =
        json!({"algorithm": "HMAC-SHA256", "issued_at": chrono_now_ms() / 1000, "user_id": user});
    let signed =
        pagedesk_shared::meta::signed_request::sign_request(sim.app_secret.as_bytes(), &payload);
    let form: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("signed_request", &signed)
        .finish();
    let base = sim.webhook_url.trim_end_matches("/webhook");
    let res = sim
        .http
        .post(format!("{base}/meta/{which}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await;
    match res {
        Ok(r) => {
            let status =
                StatusCode::from_u16(r.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
            let text = r.text().await.unwrap_or_default();
            match serde_json::from_str::<Value>(&text) {
                Ok(v) => (status, axum::Json(v)).into_response(),
                Err(_) => (status, text).into_response(),
            }
        }
        Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    }
}

async fn revoke_page(State(sim): State<Sim>, Path(page): Path<String>) -> StatusCode {
    sim.state().fb.revoke_page(&page);
    StatusCode::NO_CONTENT
}

/// `{"id", "username"}` or `null`: the Instagram account linked to the Page from now on.
async fn put_instagram(State(sim): State<Sim>, Path(page): Path<String>, body: Bytes) -> Response {
    let found = serde_json::from_slice::<Option<Value>>(&body)
        .map(|account| sim.state().fb.set_instagram(&page, account));
    changed(found, "no one manages that Page")
}

/// `["permission", …]`: what the person declined, or took back in their settings, from now on.
async fn put_declined(State(sim): State<Sim>, Path(user): Path<String>, body: Bytes) -> Response {
    let found = serde_json::from_slice::<Vec<String>>(&body)
        .map(|declined| sim.state().fb.set_declined(&user, declined));
    changed(found, "no such person")
}

/// 204 when a change found what it changes, 404 when not, 400 for a body that did not parse.
fn changed(found: serde_json::Result<bool>, unknown: &'static str) -> Response {
    match found {
        Ok(true) => StatusCode::NO_CONTENT.into_response(),
        Ok(false) => (StatusCode::NOT_FOUND, unknown).into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    }
}

async fn drop_subscription(State(sim): State<Sim>, Path(page): Path<String>) -> StatusCode {
    sim.state().fb.drop_subscription(&page);
    StatusCode::NO_CONTENT
}

async fn add_history(State(sim): State<Sim>, Path(page): Path<String>, body: Bytes) -> Response {
    match serde_json::from_slice::<crate::facebook::OldConversation>(&body) {
        Ok(c) => (
            StatusCode::CREATED,
            axum::Json(sim.state().fb.add_history(&page, c)),
        )
            .into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    }
}

#[derive(Deserialize)]
struct FaultRequest {
    /// Milliseconds DynamoDB is unreachable for pagedesk's functions.
    dynamodb: Option<u64>,
    /// Milliseconds SQS, Secrets Manager and S3 (moto) are unreachable.
    moto: Option<u64>,
}

async fn add_fault(State(sim): State<Sim>, body: Bytes) -> Response {
    accept(&body, StatusCode::NO_CONTENT, |f: FaultRequest| {
        if let Some(ms) = f.dynamodb {
            sim.faults.dynamodb.outage(ms);
        }
        if let Some(ms) = f.moto {
            sim.faults.moto.outage(ms);
        }
    })
}

async fn clear_failures(State(sim): State<Sim>) -> StatusCode {
    sim.state().failures.clear();
    StatusCode::NO_CONTENT
}

async fn put_settings(State(sim): State<Sim>, body: Bytes) -> Response {
    accept(&body, StatusCode::NO_CONTENT, |v: Value| {
        if let (Some(r), Some(page)) = (
            v.get("require_appsecret_proof").and_then(Value::as_bool),
            v.get("page_id").and_then(Value::as_str),
        ) {
            let mut st = sim.state();
            if r {
                st.proof_pages.insert(page.to_owned());
            } else {
                st.proof_pages.remove(page);
            }
        }
        let Some(e) = v.get("echoes").and_then(Value::as_bool) else {
            return;
        };
        match v.get("page_id").and_then(Value::as_str) {
            Some(page) => {
                let mut st = sim.state();
                if e {
                    st.no_echo_pages.remove(page);
                } else {
                    st.no_echo_pages.insert(page.to_owned());
                }
            }
            None => sim.echoes.store(e, std::sync::atomic::Ordering::SeqCst),
        }
    })
}

/// Reads a JSON body as `T` and applies it, answering `done`; anything else is 400.
fn accept<T: serde::de::DeserializeOwned>(
    body: &[u8],
    done: StatusCode,
    apply: impl FnOnce(T),
) -> Response {
    match serde_json::from_slice::<T>(body) {
        Ok(v) => {
            apply(v);
            done.into_response()
        }
        Err(e) => (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    }
}

/// Stores a JSON object sent to a `PUT /_sim/...` route.
fn store_object(body: Bytes, put: impl FnOnce(Value)) -> Response {
    accept(
        &body,
        StatusCode::NO_CONTENT,
        |m: serde_json::Map<String, Value>| put(Value::Object(m)),
    )
}

async fn put_post(State(sim): State<Sim>, Path(id): Path<String>, body: Bytes) -> Response {
    store_object(body, |v| {
        sim.state().posts.insert(id, v);
    })
}

async fn put_lead(State(sim): State<Sim>, Path(id): Path<String>, body: Bytes) -> Response {
    store_object(body, |v| {
        sim.state().leads.insert(id, v);
    })
}

async fn put_user(State(sim): State<Sim>, Path(id): Path<String>, body: Bytes) -> Response {
    store_object(body, |v| {
        sim.state().users.insert(id, v);
    })
}

/// The reference inbox calls the simulator from the browser (its simulated Facebook Login),
/// from another origin: the simulator allows any, as it only ever listens on loopback.
async fn browser_cors(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::http::{HeaderValue, Method, header};
    use axum::response::IntoResponse;
    let mut resp = if req.method() == Method::OPTIONS {
        axum::http::StatusCode::NO_CONTENT.into_response()
    } else {
        next.run(req).await
    };
    let h = resp.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, PUT, DELETE"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("content-type"),
    );
    resp
}
