//! `GET|PUT /settings`: the account's settings. `PUT` changes the fields it names and keeps
//! the others; every problem is listed in one 422.

use std::sync::Arc;

use axum::extract::State;
use pagedesk_shared::adapters::safe_url::UrlPolicy;
use pagedesk_shared::domain::RoutingMethod;
use pagedesk_shared::domain::hours::{self, WeeklyHours};
use pagedesk_shared::store::{Fallback, Settings};
use serde_json::{Map, Value, json};

use crate::App;
use crate::error::ApiFailure;
use crate::extract::{Caller, RawBody, Reply, body, integer, ok};

pub fn view(s: &Settings) -> Value {
    json!({
        "time_zone": s.time_zone.clone().unwrap_or_else(|| "UTC".into()),
        "business_hours": s.business_hours,
        "away_message": s.away_message,
        "greeting": s.greeting,
        "csat_enabled": s.csat_enabled,
        "human_agent_enabled": s.human_agent_enabled,
        "history_depth": s.history_depth(),
        // The signing key is never shown back.
        "ai_agent": s.ai_agent_url.as_ref().map(|u| json!({"url": u, "secret_set": s.ai_agent_secret.is_some()})),
        "window_warnings_minutes": s.window_warnings(),
        "fallback": s.fallback,
        "send_read_receipts": s.read_receipts(),
        "auto_resolve_hours": s.auto_resolve_hours,
    })
}

/// `GET /settings`
pub async fn get(State(app): State<Arc<App>>, c: Caller) -> Reply {
    let s = app.store.get_settings(&c.account).await?;
    ok(&view(&s))
}

/// `PUT /settings` (admin): the fields named change, the others stay.
pub async fn put(State(app): State<Arc<App>>, c: Caller, RawBody(bytes): RawBody) -> Reply {
    c.require_admin()?;
    let patch: Map<String, Value> = body(&bytes)?;
    let mut s = app.store.get_settings(&c.account).await?;
    let before = s.ai_agent_secret.clone();
    ApiFailure::unless(apply(&mut s, &patch, app.cfg.url_policy))?;
    app.store.put_settings(&c.account, &s).await?;
    tracing::info!(admin = %c.sub, fields = patch.len(), "settings changed");
    let mut out = view(&s);
    if key_made(&patch, &before, &s.ai_agent_secret)
        && let Some(a) = out.get_mut("ai_agent").and_then(Value::as_object_mut)
    {
        a.insert("secret".into(), json!(s.ai_agent_secret));
    }
    ok(&out)
}

/// Whether this change made the AI agent a signing key (none was given, and the key is not
/// the one before): such a key is shown in this answer only.
pub(crate) fn key_made(
    patch: &Map<String, Value>,
    before: &Option<String>,
    after: &Option<String>,
) -> bool {
    patch
        .get("ai_agent")
        .is_some_and(|a| a.is_object() && a.get("secret").is_none())
        && after != before
}

fn text(v: &Value, name: &str, problems: &mut Vec<String>) -> Option<Option<String>> {
    match v {
        Value::Null => Some(None),
        Value::String(t) if t.trim().is_empty() => Some(None),
        Value::String(t) if t.chars().count() <= 2000 => Some(Some(t.clone())),
        _ => {
            problems.push(format!(
                "{name}: a text of at most 2000 characters, or null"
            ));
            None
        }
    }
}

/// `null`, or `{"agents": [id, …], "method": "round_robin" | "load_balanced"}`.
fn fallback(v: &Value) -> Result<Option<Fallback>, String> {
    const WANT: &str = "fallback: null, or {\"agents\": 1 to 50 agent ids, \"method\": \"round_robin\" or \"load_balanced\"}";
    if v.is_null() {
        return Ok(None);
    }
    let f: Fallback = serde_json::from_value(v.clone()).map_err(|_| WANT.to_owned())?;
    let ids_ok = (1..=50).contains(&f.agents.len())
        && f.agents
            .iter()
            .all(|a| !a.trim().is_empty() && a.chars().count() <= 128 && a != "-");
    let method_ok = matches!(
        f.method,
        RoutingMethod::RoundRobin | RoutingMethod::LoadBalanced
    );
    if !(ids_ok && method_ok) {
        return Err(WANT.to_owned());
    }
    Ok(Some(f))
}

/// A signing key for AI-agent deliveries: 160 random bits, hex.
fn new_secret() -> String {
    let (a, b) = (ulid::Ulid::new().random(), ulid::Ulid::new().random());
    format!("{a:020x}{b:020x}")
}

/// Applies the fields present in `patch`; returns what is wrong (and changes nothing then).
pub fn apply(s: &mut Settings, patch: &Map<String, Value>, urls: UrlPolicy) -> Vec<String> {
    let mut problems = Vec::new();
    let mut next = s.clone();
    for (k, v) in patch {
        match k.as_str() {
            "time_zone" => match v.as_str().and_then(hours::canonical_zone) {
                Some(name) => next.time_zone = Some(name),
                None => problems.push("time_zone: an IANA time zone such as Europe/Berlin".into()),
            },
            "business_hours" => {
                if v.is_null() {
                    next.business_hours = None;
                } else {
                    match WeeklyHours::parse(v) {
                        Ok(_) => next.business_hours = Some(v.clone()),
                        Err(p) => problems.extend(p),
                    }
                }
            }
            "away_message" => {
                if let Some(t) = text(v, k, &mut problems) {
                    next.away_message = t;
                }
            }
            "greeting" => {
                if let Some(t) = text(v, k, &mut problems) {
                    next.greeting = t;
                }
            }
            "send_read_receipts" => match v.as_bool() {
                Some(b) => next.send_read_receipts = Some(b),
                None => problems.push(format!("{k}: true or false")),
            },
            "auto_resolve_hours" => match v {
                Value::Null => next.auto_resolve_hours = None,
                _ => match integer(v).filter(|h| Settings::AUTO_RESOLVE_HOURS.contains(h)) {
                    Some(h) => next.auto_resolve_hours = Some(h),
                    None => problems.push(
                        "auto_resolve_hours: a whole number of hours from 1 to 720, or null (never)"
                            .into(),
                    ),
                },
            },
            "csat_enabled" | "human_agent_enabled" => match v.as_bool() {
                Some(b) if k == "csat_enabled" => next.csat_enabled = b,
                Some(b) => next.human_agent_enabled = b,
                None => problems.push(format!("{k}: true or false")),
            },
            "history_depth" => match integer(v)
                .and_then(|d| u32::try_from(d).ok())
                .filter(|d| Settings::HISTORY_DEPTHS.contains(d))
            {
                Some(d) => next.history_depth = Some(d),
                None => problems.push("history_depth: 1, 5, 10, 20 or 50".into()),
            },
            "ai_agent" => match v {
                Value::Null => {
                    next.ai_agent_url = None;
                    next.ai_agent_secret = None;
                }
                _ => {
                    match v
                        .get("url")
                        .and_then(Value::as_str)
                        .map(|u| urls.check_url(u))
                    {
                        Some(Ok(u)) => next.ai_agent_url = Some(u.to_string()),
                        Some(Err(why)) => problems.push(format!("ai_agent.url: {why}")),
                        None => problems.push("ai_agent.url: an https URL".into()),
                    }
                    // The signing key: required the first time, kept when left out later.
                    match v.get("secret") {
                        Some(Value::String(k)) if (16..=256).contains(&k.chars().count()) => {
                            next.ai_agent_secret = Some(k.clone())
                        }
                        None if next.ai_agent_secret.is_some() => {}
                        // None given: one is made and shown once, in this answer.
                        None => next.ai_agent_secret = Some(new_secret()),
                        _ => problems.push(
                            "ai_agent.secret: the key deliveries are signed with, 16 to 256 characters"
                                .into(),
                        ),
                    }
                    if let Some(o) = v.as_object()
                        && let Some(k) = o.keys().find(|k| !matches!(k.as_str(), "url" | "secret"))
                    {
                        problems.push(format!("ai_agent.{k}: not a field (url, secret)"));
                    }
                }
            },
            "window_warnings_minutes" => {
                let list: Option<Vec<i64>> =
                    v.as_array().and_then(|a| a.iter().map(integer).collect());
                match list.filter(|l| l.len() <= 5 && l.iter().all(|m| (1..=60).contains(m))) {
                    Some(l) => next.window_warnings_minutes = Some(l),
                    None => problems.push(
                        "window_warnings_minutes: up to 5 numbers of minutes from 1 to 60".into(),
                    ),
                }
            }
            "fallback" => match fallback(v) {
                Ok(f) => next.fallback = f,
                Err(p) => problems.push(p),
            },
            other => problems.push(format!("{other}: not a setting")),
        }
    }
    if problems.is_empty() {
        *s = next;
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply_local(s: &mut Settings, p: &Map<String, Value>) -> Vec<String> {
        apply(
            s,
            p,
            UrlPolicy {
                allow_private: true,
                ports: pagedesk_shared::url_policy::Ports::STANDARD,
            },
        )
    }

    fn patch(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn valid_settings_apply_and_invalid_ones_are_all_listed() {
        let mut s = Settings::default();
        let p = apply_local(
            &mut s,
            &patch(
                json!({"time_zone": "America/New_York", "business_hours": {"mon": [["09:00", "12:30"], ["13:30", "17:00"]]},
            "human_agent_enabled": true, "history_depth": 20, "greeting": "Hi!", "window_warnings_minutes": [30, 5]}),
            ),
        );
        assert!(p.is_empty(), "{p:?}");
        assert_eq!(
            (
                s.time_zone.as_deref(),
                s.human_agent_enabled,
                s.history_depth()
            ),
            (Some("America/New_York"), true, 20)
        );
        let before = s.clone();
        let p = apply_local(
            &mut s,
            &patch(
                json!({"time_zone": "Mars/Olympus", "history_depth": 7, "business_hours": {"mon": [["17:00", "09:00"]], "xyz": []},
            "window_warnings_minutes": [90], "colour": 1, "greeting": 5}),
            ),
        );
        assert_eq!(p.len(), 7, "{p:?}");
        assert_eq!(s, before, "nothing changes when anything is wrong");
        assert!(
            apply_local(
                &mut s,
                &patch(json!({"greeting": null, "business_hours": null}))
            )
            .is_empty()
        );
        assert_eq!((s.greeting.clone(), s.business_hours.clone()), (None, None));
    }
}
