//! Agents: admins add and change them; an agent sees their own profile and sets their own
//! status. An agent known only from their token reads as offline with nothing open.

use std::sync::Arc;

use axum::extract::State;
use pagedesk_shared::access::agent_id_problem;
use pagedesk_shared::adapters::auth::{RESERVED_AGENT_ID, Role};
use pagedesk_shared::domain::AgentStatus;
use pagedesk_shared::domain::AssignedBy;
use pagedesk_shared::domain::rules::OnAgentRemoved;
use pagedesk_shared::http::views;
use pagedesk_shared::store::{AgentItem, AgentPatch, Fallback, Preferences};
use serde_json::{Map, Value, json};

use crate::App;
use crate::error::ApiFailure;
use crate::extract::{Caller, Id, RawBody, Reply, body, integer, ok};

/// `GET /agents` (admin)
pub async fn list(State(app): State<Arc<App>>, c: Caller) -> Reply {
    c.require_admin()?;
    let agents = app.store.list_agents(&c.account).await?;
    let items: Vec<_> = agents.iter().map(views::agent).collect();
    ok(&json!({"items": items}))
}

/// `GET /agents/{id}`
pub async fn get(State(app): State<Arc<App>>, c: Caller, Id(id): Id) -> Reply {
    agent_path(&id)?;
    if c.role != Role::Admin && c.sub != id {
        return Err(ApiFailure::forbidden(
            "agents can see their own profile only",
        ));
    }
    let agent = match app.store.get_agent(&c.account, &id).await? {
        Some(a) => a,
        // An agent known from their token needs no sign-up: they start offline.
        None if c.sub == id => AgentItem::unregistered(&c.account, &id),
        None => return Err(ApiFailure::NotFound("agent")),
    };
    ok(&views::agent(&agent))
}

/// `GET /agents/{id}/preferences` (the agent, or an admin) → what their inbox notifies them of.
pub async fn get_preferences(State(app): State<Arc<App>>, c: Caller, Id(id): Id) -> Reply {
    own_or_admin(&c, &id)?;
    let agent = app.store.get_agent(&c.account, &id).await?;
    // Someone else's preferences exist once they are an agent of the account; one's own
    // before that too (the defaults).
    if agent.is_none() && c.sub != id {
        return Err(ApiFailure::NotFound("agent"));
    }
    ok(&agent.and_then(|a| a.preferences).unwrap_or_default())
}

/// `PUT /agents/{id}/preferences` `{"assigned", "messages", "mentions", "sound"}` (the agent,
/// or an admin); a field left out keeps its default.
pub async fn put_preferences(
    State(app): State<Arc<App>>,
    c: Caller,
    Id(id): Id,
    RawBody(bytes): RawBody,
) -> Reply {
    own_or_admin(&c, &id)?;
    let prefs: Preferences = body(&bytes)?;
    // An admin does not make an agent by setting their preferences.
    if c.sub != id && app.store.get_agent(&c.account, &id).await?.is_none() {
        return Err(ApiFailure::NotFound("agent"));
    }
    app.store
        .set_preferences(&c.account, &id, &prefs, app.clock.now_ms())
        .await?;
    ok(&prefs)
}

/// A path's agent id as the document takes it, else 422.
fn agent_path(id: &str) -> Result<(), ApiFailure> {
    match agent_id_problem(id) {
        Some(why) => Err(ApiFailure::invalid(why)),
        None => Ok(()),
    }
}

fn own_or_admin(c: &Caller, id: &str) -> Result<(), ApiFailure> {
    agent_path(id)?;
    if c.role != Role::Admin && c.sub != id {
        return Err(ApiFailure::forbidden(
            "an agent sets their own preferences only",
        ));
    }
    if id == RESERVED_AGENT_ID {
        return Err(ApiFailure::NotFound("agent"));
    }
    Ok(())
}

/// `{"name", "status", "max_concurrent"}`, every field optional; `null` clears name and maximum.
/// Every problem is listed; an agent who is not an admin may only send `status`.
fn parse_patch(bytes: &[u8], admin: bool) -> Result<AgentPatch, ApiFailure> {
    let raw: Map<String, Value> = body(bytes)?;
    let mut p = AgentPatch::default();
    let mut problems = Vec::new();
    for (k, v) in &raw {
        if !admin && k != "status" {
            return Err(ApiFailure::forbidden(format!(
                "{k}: only an admin changes it; agents set their own status"
            )));
        }
        match k.as_str() {
            "name" => match v {
                Value::Null => p.name = Some(None),
                Value::String(n) if !n.trim().is_empty() && n.chars().count() <= 200 => {
                    p.name = Some(Some(n.trim().to_owned()))
                }
                _ => problems.push("name: 1 to 200 characters, or null".to_owned()),
            },
            "status" => match v.as_str().and_then(AgentStatus::parse) {
                Some(st) => p.status = Some(st),
                None => problems.push(format!("status: {}", AgentStatus::expected())),
            },
            "max_concurrent" => match v {
                Value::Null => p.max_concurrent = Some(None),
                _ => match integer(v).filter(|m| (1..=10_000).contains(m)) {
                    Some(m) => p.max_concurrent = Some(Some(m)),
                    None => problems
                        .push("max_concurrent: a number from 1 to 10000, or null".to_owned()),
                },
            },
            "pages" => match v {
                Value::Null => p.pages = Some(None),
                _ => match serde_json::from_value::<Vec<String>>(v.clone()) {
                    Ok(list) if list.len() <= 100 => {
                        let mut list = list;
                        list.sort_unstable();
                        list.dedup();
                        p.pages = Some(Some(list));
                    }
                    _ => {
                        problems.push("pages: up to 100 Page ids, or null (every Page)".to_owned())
                    }
                },
            },
            other => problems.push(format!("{other}: not an agent field")),
        }
    }
    ApiFailure::unless(problems)?;
    Ok(p)
}

/// `PUT /agents/{id}`
pub async fn put(
    State(app): State<Arc<App>>,
    c: Caller,
    Id(id): Id,
    RawBody(bytes): RawBody,
) -> Reply {
    let admin = c.role == Role::Admin;
    if !admin && c.sub != id {
        return Err(ApiFailure::forbidden(
            "agents can change their own status only",
        ));
    }
    c.require_person()?;
    agent_path(&id)?;
    let patch = parse_patch(&bytes, admin)?;
    if let Some(Some(pages)) = &patch.pages {
        let own = app.store.list_pages(&c.account).await?;
        let unknown: Vec<String> = pages
            .iter()
            .filter(|p| !own.iter().any(|o| &o.page_id == *p))
            .map(|p| format!("pages: {p} is not a Page of this account"))
            .collect();
        ApiFailure::unless(unknown)?;
    }
    let now = app.clock.now_ms();
    let agent = app.store.update_agent(&c.account, &id, &patch, now).await?;
    let moved = match &agent.pages {
        Some(_) if patch.pages.is_some() => release_lost_pages(&app, &c, &agent, now).await?,
        _ => 0,
    };
    tracing::info!(agent = %id, by = %c.sub, moved, "agent changed");
    // The answer shows the agent after their conversations moved.
    let agent = match moved {
        0 => agent,
        _ => app.store.get_agent(&c.account, &id).await?.unwrap_or(agent),
    };
    ok(&views::agent(&agent))
}

/// An agent who no longer works a Page loses its open conversations, as when taken out of a
/// rule: to the rule's other agents where the rule reassigns (the Page's fallback counts as
/// a rule), else back to the pool. Returns how many moved.
async fn release_lost_pages(
    app: &App,
    c: &Caller,
    agent: &AgentItem,
    now: i64,
) -> Result<usize, ApiFailure> {
    let lost: Vec<_> = app
        .store
        .active_conversations_assigned(&c.account, &agent.id)
        .await?
        .into_iter()
        .filter(|cv| !agent.works(&cv.page_id))
        .collect();
    if lost.is_empty() {
        return Ok(0);
    }
    let rules = app.store.get_rules(&c.account).await?.rules;
    for conv in &lost {
        let fallback = match conv.routing_rule.as_deref() {
            Some(Fallback::RULE_NAME) => app
                .store
                .settings_for_page(&c.account, &conv.page_id)
                .await?
                .fallback
                .map(|f| f.as_rule()),
            _ => None,
        };
        let rule = rules
            .iter()
            .find(|r| conv.routing_rule.as_deref() == Some(r.name.as_str()))
            .filter(|r| r.on_agent_removed == OnAgentRemoved::Reassign)
            .or(fallback.as_ref());
        crate::rules::move_away(
            app,
            conv,
            &agent.id,
            rule,
            AssignedBy::PageAccess,
            &c.sub,
            now,
        )
        .await?;
    }
    Ok(lost.len())
}
