//! Outgoing webhooks (admins): `POST|GET /webhooks`, `GET|PATCH|DELETE /webhooks/{id}`,
//! `POST /webhooks/{id}/rotate-secret`, `GET /webhooks/{id}/deliveries`,
//! `POST /webhooks/{id}/replay`. Deliveries themselves are the hooks function's
//! (`functions/hooks`); this is their registry and the replay's start.

use std::sync::Arc;

use axum::extract::State;
use lambda_http::http::StatusCode;
use pagedesk_shared::clock::rfc3339;
use pagedesk_shared::contracts::queue::{DispatchJob, ReplayJob};
use pagedesk_shared::domain::webhooks::{
    EventFilter, MAX_DESCRIPTION_LEN, MAX_PAGE_IDS, MAX_PER_ACCOUNT, MAX_URL_LEN,
};
use pagedesk_shared::services::webhooks::new_secret;
use pagedesk_shared::store::{
    EventCursor, ReplayStart, Rotation, SETTLE_MS, WebhookItem, WebhookPatch,
};
use serde_json::{Map, Value, json};

use crate::App;
use crate::error::ApiFailure;
use crate::extract::{Caller, Id, Params, RawBody, Reply, body, json, ok};

fn view(w: &WebhookItem, now: i64) -> Value {
    let rotated = w.previous_until.filter(|u| *u > now).map(rfc3339);
    json!({
        "id": w.id,
        "url": w.url,
        "events": w.events,
        "page_ids": w.page_ids,
        "description": w.description,
        "enabled": w.enabled,
        "disabled_reason": w.disabled_reason,
        "failing_since": w.failing_since.map(rfc3339),
        "previous_secret_expires_at": rotated,
        "created_at": rfc3339(w.created_at),
        "updated_at": rfc3339(w.updated_at),
    })
}

/// A view with the secret: only in the answers that make one.
fn with_secret(w: &WebhookItem, now: i64) -> Value {
    let mut v = view(w, now);
    v["secret"] = Value::from(w.secret.as_str());
    v
}

/// The fields of a create or `PATCH` body, each checked; every problem is listed. `null`
/// clears `page_ids` (every Page) and `description`.
async fn parse_patch(
    app: &App,
    account: &str,
    fields: &Map<String, Value>,
    creating: bool,
) -> Result<WebhookPatch, ApiFailure> {
    const KNOWN: [&str; 5] = ["url", "events", "page_ids", "description", "enabled"];
    let mut problems = Vec::new();
    for k in fields.keys().filter(|k| !KNOWN.contains(&k.as_str())) {
        problems.push(format!("{k}: not a webhook field"));
    }
    if creating && fields.contains_key("enabled") {
        problems.push("enabled: a new webhook is on; switch it off with PATCH".into());
    }
    let mut patch = WebhookPatch::default();
    match fields.get("url") {
        None if creating => problems.push("url: required".into()),
        None => {}
        Some(Value::String(u)) if u.len() > MAX_URL_LEN => {
            problems.push(format!("url: at most {MAX_URL_LEN} characters"))
        }
        Some(Value::String(u)) => match app.cfg.url_policy.check_url(u) {
            Ok(_) => patch.url = Some(u.clone()),
            Err(r) => problems.push(format!("url: {r}")),
        },
        Some(_) => problems.push("url: a string".into()),
    }
    match fields.get("events") {
        None if creating => {
            problems.push("events: required (a list of event types, or [\"*\"])".into())
        }
        None => {}
        Some(v) => match serde_json::from_value::<Vec<String>>(v.clone()) {
            Ok(words) => match EventFilter::parse(&words) {
                Ok(f) => patch.events = Some(f),
                Err(p) => problems.push(format!("events: {p}")),
            },
            Err(_) => problems.push("events: a list of strings".into()),
        },
    }
    match fields.get("page_ids") {
        None if creating => patch.page_ids = Some(None),
        None => {}
        Some(Value::Null) => patch.page_ids = Some(None),
        Some(v) => match serde_json::from_value::<Vec<String>>(v.clone()) {
            Ok(ids) if ids.is_empty() || ids.len() > MAX_PAGE_IDS => problems.push(format!(
                "page_ids: null (every Page) or 1 to {MAX_PAGE_IDS} Page ids"
            )),
            Ok(mut ids) => {
                ids.sort();
                ids.dedup();
                let pages = app.store.list_pages(account).await?;
                let unknown: Vec<&String> = ids
                    .iter()
                    .filter(|id| !pages.iter().any(|p| p.page_id == **id))
                    .collect();
                if unknown.is_empty() {
                    patch.page_ids = Some(Some(ids));
                } else {
                    problems.push(format!("page_ids: not Pages of this account: {unknown:?}"));
                }
            }
            Err(_) => problems.push("page_ids: null or a list of Page ids".into()),
        },
    }
    match fields.get("description") {
        None => {}
        Some(Value::Null) => patch.description = Some(None),
        Some(Value::String(d)) if d.chars().count() > MAX_DESCRIPTION_LEN => problems.push(
            format!("description: at most {MAX_DESCRIPTION_LEN} characters"),
        ),
        Some(Value::String(d)) => patch.description = Some(Some(d.clone())),
        Some(_) => problems.push("description: a string or null".into()),
    }
    match fields.get("enabled") {
        None => {}
        Some(Value::Bool(b)) => patch.enabled = Some(*b),
        Some(_) => problems.push("enabled: true or false".into()),
    }
    ApiFailure::unless(problems)?;
    Ok(patch)
}

/// `POST /webhooks` `{"url", "events", "page_ids"?, "description"?}` → 201 with the webhook
/// and its `secret`, shown this once.
pub async fn create(State(app): State<Arc<App>>, c: Caller, RawBody(bytes): RawBody) -> Reply {
    c.require_admin()?;
    let fields: Map<String, Value> = body(&bytes)?;
    let p = parse_patch(&app, &c.account, &fields, true).await?;
    let (Some(url), Some(events)) = (p.url, p.events) else {
        return Err(ApiFailure::invalid("url and events: required"));
    };
    let now = app.clock.now_ms();
    let secret = new_secret()?;
    let w = WebhookItem::new(
        &c.account,
        url,
        events,
        p.page_ids.flatten(),
        p.description.flatten(),
        secret,
        now,
    );
    if !app.store.create_webhook(&w).await? {
        return Err(ApiFailure::invalid(format!(
            "the account has {MAX_PER_ACCOUNT} webhooks already"
        )));
    }
    tracing::info!(by = %c.sub, webhook_id = %w.id, "webhook created");
    Ok(json(StatusCode::CREATED, &with_secret(&w, now)))
}

/// `GET /webhooks` → the account's webhooks (never their secrets).
pub async fn list(State(app): State<Arc<App>>, c: Caller) -> Reply {
    c.require_admin()?;
    let now = app.clock.now_ms();
    let hooks = app.store.list_webhooks(&c.account).await?;
    ok(&json!({"items": hooks.iter().map(|w| view(w, now)).collect::<Vec<_>>()}))
}

async fn existing(app: &App, account: &str, id: &str) -> Result<WebhookItem, ApiFailure> {
    app.store
        .get_webhook(account, id)
        .await?
        .ok_or(ApiFailure::NotFound("webhook"))
}

pub async fn get(State(app): State<Arc<App>>, c: Caller, Id(id): Id) -> Reply {
    c.require_admin()?;
    let w = existing(&app, &c.account, &id).await?;
    ok(&view(&w, app.clock.now_ms()))
}

/// `PATCH /webhooks/{id}`: any of the create fields, and `enabled` (`true` switches it on
/// again from now; what it missed comes by `replay`).
pub async fn patch(
    State(app): State<Arc<App>>,
    c: Caller,
    Id(id): Id,
    RawBody(bytes): RawBody,
) -> Reply {
    c.require_admin()?;
    let before = existing(&app, &c.account, &id).await?;
    let fields: Map<String, Value> = body(&bytes)?;
    let mut p = parse_patch(&app, &c.account, &fields, false).await?;
    if p.enabled == Some(before.enabled) {
        // Already so: `since` and the reason stay as they are.
        p.enabled = None;
    }
    let now = app.clock.now_ms();
    let w = app
        .store
        .update_webhook(&c.account, &id, &p, now)
        .await?
        .ok_or(ApiFailure::NotFound("webhook"))?;
    tracing::info!(by = %c.sub, webhook_id = %id, "webhook changed");
    ok(&view(&w, now))
}

pub async fn delete(State(app): State<Arc<App>>, c: Caller, Id(id): Id) -> Reply {
    c.require_admin()?;
    if !app.store.delete_webhook(&c.account, &id).await? {
        return Err(ApiFailure::NotFound("webhook"));
    }
    tracing::info!(by = %c.sub, webhook_id = %id, "webhook deleted");
    Ok(axum::response::IntoResponse::into_response(
        StatusCode::NO_CONTENT,
    ))
}

/// `POST /webhooks/{id}/rotate-secret` → the webhook with its new `secret`; the old one keeps
/// signing beside it for a day (`previous_secret_expires_at`).
pub async fn rotate_secret(State(app): State<Arc<App>>, c: Caller, Id(id): Id) -> Reply {
    c.require_admin()?;
    let now = app.clock.now_ms();
    let secret = new_secret()?;
    let w = match app
        .store
        .rotate_webhook_secret(&c.account, &id, &secret, now)
        .await?
    {
        Rotation::Rotated(w) => w,
        Rotation::NotFound => return Err(ApiFailure::NotFound("webhook")),
        Rotation::InProgress { previous_until } => {
            return Err(ApiFailure::RotationInProgress {
                until: rfc3339(previous_until),
            });
        }
    };
    tracing::info!(by = %c.sub, webhook_id = %id, "webhook secret rotated");
    ok(&with_secret(&w, now))
}

/// `GET /webhooks/{id}/deliveries?limit=&cursor=` → the latest attempt of each recent
/// delivery (14 days), newest first.
pub async fn deliveries(State(app): State<Arc<App>>, c: Caller, Id(id): Id, p: Params) -> Reply {
    c.require_admin()?;
    existing(&app, &c.account, &id).await?;
    let limit = p.limit(50, 200)?;
    let page = app
        .store
        .list_deliveries(&c.account, &id, limit, p.get("cursor"))
        .await?
        .map_err(|_| ApiFailure::bad_parameter("cursor", "a cursor from this list"))?;
    let t = |ms: Option<i64>| ms.map(rfc3339);
    let items: Vec<Value> = page
        .items
        .iter()
        .map(|d| {
            json!({
                "id": d.id,
                "event_id": d.event_id,
                "event_type": d.event_type,
                "status": d.status,
                "attempts": d.attempts,
                "http_status": d.http_status,
                "error": d.error,
                "queued_at": rfc3339(d.queued_at),
                "attempted_at": t(d.attempted_at),
                "next_try_at": t(d.next_try_at),
                "replay_id": d.replay_id,
            })
        })
        .collect();
    ok(&json!({"items": items, "next_cursor": page.next_cursor}))
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Replay {
    after: String,
}

/// `POST /webhooks/{id}/replay` `{"after": <feed position>}` → 202: every event after it, up
/// to where deliveries have reached (`until`), is delivered to this webhook again, as new
/// deliveries (`replay_id` on each).
pub async fn replay(
    State(app): State<Arc<App>>,
    c: Caller,
    Id(id): Id,
    RawBody(bytes): RawBody,
) -> Reply {
    c.require_admin()?;
    let w = existing(&app, &c.account, &id).await?;
    let req: Replay = body(&bytes)?;
    let after: EventCursor = req
        .after
        .parse()
        .map_err(|_| ApiFailure::invalid("after: a position of the events feed (an event id)"))?;
    if !w.enabled {
        return Err(ApiFailure::invalid(
            "the webhook is switched off; switch it on (PATCH enabled) first",
        ));
    }
    let Some(queue) = &app.cfg.dispatch_queue_url else {
        return Err(ApiFailure::Unavailable(
            "webhook replays are not configured",
        ));
    };
    let now = app.clock.now_ms();
    // Up to the dispatch cursor: what comes after it reaches the webhook anyway.
    let until = match app.store.dispatch_cursor(&c.account).await? {
        Some(c) => c,
        None => format!("{:013}", now - SETTLE_MS),
    };
    let replay_id = pagedesk_shared::ids::new_id("rp", now);
    // One replay of a webhook at a time: each is the whole range again, and the delivery pool
    // is every account's. The slot is held until each of its deliveries ended, at most twice
    // the give-up period (a day each) whatever happens to its count.
    let give_up_ms = i64::try_from(app.cfg.webhook_give_up_seconds)
        .unwrap_or(i64::MAX / 4000)
        .saturating_mul(1000);
    if let ReplayStart::Running { replay_id } = app
        .store
        .start_replay(&c.account, &id, &replay_id, now, now + 2 * give_up_ms)
        .await?
    {
        return Err(ApiFailure::ReplayInProgress { replay_id });
    }
    let job = DispatchJob {
        v: 1,
        account: c.account.clone(),
        replay: Some(ReplayJob {
            id: replay_id.clone(),
            webhook_id: id.clone(),
            after: after.public(),
            until: until.clone(),
        }),
    };
    let body = serde_json::to_string(&job).map_err(|_| ApiFailure::Internal)?;
    let sent = app
        .sqs
        .send_message()
        .queue_url(queue)
        .message_body(body)
        .message_group_id(&c.account)
        .message_deduplication_id(&replay_id)
        .send()
        .await;
    if let Err(e) = sent {
        tracing::error!(error = %e.into_service_error(), "replay not queued");
        app.store
            .abandon_replay(&c.account, &id, &replay_id)
            .await?;
        return Err(ApiFailure::Unavailable(
            "the replay could not be queued; try again",
        ));
    }
    tracing::info!(by = %c.sub, webhook_id = %id, %replay_id, "webhook replay queued");
    Ok(json(
        StatusCode::ACCEPTED,
        &json!({"replay_id": replay_id, "webhook_id": id, "after": after.public(), "until": until}),
    ))
}
