//! Conversations: list, read, their messages, and who holds them (claim, assign, hand-off
//! from the AI agent). Resolving, reopening and snoozing are in `lifecycle`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::State;
use pagedesk_shared::domain::{AssignedBy, Channel, ConversationStatus, Direction, EventType};
use pagedesk_shared::http::views;
use pagedesk_shared::services::assignment::Assigner;
use pagedesk_shared::store::{
    AssignOutcome, Assignment, Capacity, ConversationItem, ConversationQuery, EventItem,
};
use serde::Deserialize;
use serde_json::json;

use crate::App;
use crate::error::ApiFailure;
use crate::extract::{Caller, Id, Params, RawBody, Reply, body, ok, optional_body};

/// `GET /conversations?status=&assignee=&page_id=&channel=&limit=&cursor=`
pub async fn list(State(app): State<Arc<App>>, c: Caller, p: Params) -> Reply {
    let status = match p.get("status") {
        None | Some("all") => None,
        Some(s) => Some(ConversationStatus::parse(s).ok_or_else(|| {
            ApiFailure::bad_parameter(
                "status",
                format!("{} or all", words(ConversationStatus::ALL)),
            )
        })?),
    };
    let assignee = match p.get("assignee") {
        None => None,
        Some("me") => Some(Some(c.sub.clone())),
        Some("unassigned") => Some(None),
        Some(a) => Some(Some(a.to_owned())),
    };
    let channel = match p.get("channel") {
        None => None,
        Some(s) => Some(
            Channel::parse(s)
                .ok_or_else(|| ApiFailure::bad_parameter("channel", Channel::expected()))?,
        ),
    };
    let q = ConversationQuery {
        status,
        assignee,
        page_id: p.get("page_id").map(str::to_owned),
        pages: app.pages_of(&c).await?,
        label: match p.get("label") {
            Some(l) if !pagedesk_shared::domain::workday::is_name(l) => {
                return Err(ApiFailure::bad_parameter("label", "1 to 50 of a-z 0-9 _ -"));
            }
            l => l.map(str::to_owned),
        },
        contact_id: p.get("contact_id").map(str::to_owned),
        channel,
        limit: p.limit(25, 100)?,
        cursor: p.get("cursor").map(str::to_owned),
    };
    let page = app
        .store
        .list_conversations(&c.account, &q)
        .await?
        .map_err(|_| ApiFailure::bad_parameter("cursor", "a cursor from this list"))?;
    let settings = app.store.get_settings(&c.account).await?;
    // The Human Agent period is per Page: read the own settings of the listed Pages that have them.
    let mut by_page: HashMap<&str, pagedesk_shared::store::Settings> = HashMap::new();
    for i in &page.items {
        if settings.page_overrides.contains(&i.page_id) && !by_page.contains_key(i.page_id.as_str())
        {
            let s = app
                .store
                .for_page(&c.account, &i.page_id, settings.clone())
                .await?;
            by_page.insert(&i.page_id, s);
        }
    }
    let now = app.clock.now_ms();
    let names = app.page_names(&c.account).await?;
    let items: Vec<_> = page
        .items
        .iter()
        .map(|i| {
            let s = by_page.get(i.page_id.as_str()).unwrap_or(&settings);
            with_page_name(views::conversation(i, s.human_agent_enabled, now), &names)
        })
        .collect();
    ok(&json!({"items": items, "next_cursor": page.next_cursor}))
}

/// "open, resolved": a vocabulary's words for a message.
fn words<T: std::fmt::Display>(all: &[T]) -> String {
    all.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// `GET /conversations/{id}`
pub async fn get(State(app): State<Arc<App>>, c: Caller, Id(id): Id) -> Reply {
    show(&app, &c, &id).await
}

/// The conversation as the API shows it (what every action on it answers with).
pub(crate) async fn show(app: &App, c: &Caller, id: &str) -> Reply {
    let conv = app.conversation(c, id).await?;
    let (settings, names) = tokio::try_join!(
        async {
            Ok::<_, ApiFailure>(
                app.store
                    .settings_for_page(&c.account, &conv.page_id)
                    .await?,
            )
        },
        app.page_names(&c.account),
    )?;
    ok(&with_page_name(
        views::conversation(&conv, settings.human_agent_enabled, app.clock.now_ms()),
        &names,
    ))
}

/// The conversation's view with `page_name`, the Page's name as pagedesk last read it (null
/// when it has none): agents, who cannot list the Pages, see it too.
fn with_page_name(
    mut view: serde_json::Value,
    names: &HashMap<String, String>,
) -> serde_json::Value {
    let name = view["page_id"].as_str().and_then(|p| names.get(p)).cloned();
    view["page_name"] = json!(name);
    view
}

/// `GET /conversations/{id}/messages?limit=&cursor=`, oldest first.
pub async fn messages(State(app): State<Arc<App>>, c: Caller, Id(id): Id, p: Params) -> Reply {
    let conv = app.conversation(&c, &id).await?;
    let limit = p.limit(50, 200)?;
    let page = app
        .store
        .list_messages(&c.account, &id, limit, p.get("cursor"))
        .await?
        .map_err(|_| ApiFailure::bad_parameter("cursor", "a cursor from this list"))?;
    // A person opening the conversation has seen what the person wrote, up to the newest
    // message of theirs this read shows (the conversation row, read before, may not have moved
    // yet for one that just arrived). Sent beside the remaining reads.
    let newest_inbound = page
        .items
        .iter()
        .filter(|m| m.direction == Direction::In)
        .map(|m| m.created_at)
        .max();
    let inbound_at = conv.last_inbound_at.max(newest_inbound);
    let ((), w, links) = tokio::join!(
        crate::sender_actions::seen(&app, &c, &conv, inbound_at),
        app.thread_watermarks(&conv),
        crate::uploads::links(&app, &page.items),
    );
    let (w, links) = (w?, links?);
    let items: Vec<_> = page
        .items
        .iter()
        .map(|m| views::message_with(m, w, &links))
        .collect();
    ok(&json!({"items": items, "next_cursor": page.next_cursor}))
}

/// `POST /conversations/{id}/claim`: first claim wins (the write is conditioned on the
/// conversation being unassigned); the winner claiming again gets 200.
pub async fn claim(State(app): State<Arc<App>>, c: Caller, Id(id): Id) -> Reply {
    c.require_person()?;
    let conv = app.conversation(&c, &id).await?;
    if !conv.status.is_active() {
        return Err(ApiFailure::ConversationNotOpen);
    }
    let now = app.clock.now_ms();
    let a = Assignment {
        to: Some(&c.sub),
        from: None,
        capacity: Capacity::Any,
        rule: None,
        ai_agent_active: conv.ai_agent_active.then_some(false),
        event: EventItem::new(
            &c.account,
            EventType::ConversationClaimed,
            Some(&id),
            json!({"assignee": c.sub, "rule": conv.routing_rule, "from_ai_agent": conv.ai_agent_active}),
            now,
        ),
        now,
    };
    match app.store.assign(&conv, &a).await? {
        AssignOutcome::Done => {
            tracing::info!(conversation_id = %id, agent = %c.sub, "conversation claimed");
        }
        _ => {
            let now_conv = app.conversation(&c, &id).await?;
            if !now_conv.status.is_active() {
                return Err(ApiFailure::ConversationNotOpen);
            }
            if now_conv.assignee.as_deref() != Some(c.sub.as_str()) {
                return Err(ApiFailure::AlreadyAssigned {
                    assignee: now_conv.assignee,
                });
            }
        }
    }
    show(&app, &c, &id).await
}

/// `{"agent_id": "…" | null}`
#[derive(Debug, Deserialize)]
struct AssignRequest {
    agent_id: Option<String>,
}

impl AssignRequest {
    /// The agent to give the conversation to, or `None` to unassign.
    fn parse(bytes: &[u8]) -> Result<Option<String>, ApiFailure> {
        let wrong = || ApiFailure::invalid("agent_id: the agent's id, or null to unassign");
        let raw: serde_json::Map<String, serde_json::Value> = body(bytes)?;
        if !raw.contains_key("agent_id") {
            return Err(wrong());
        }
        let req: AssignRequest =
            serde_json::from_value(serde_json::Value::Object(raw)).map_err(|_| wrong())?;
        match req.agent_id {
            Some(a) if a.trim().is_empty() => Err(wrong()),
            other => Ok(other.map(|a| a.trim().to_owned())),
        }
    }
}

/// `POST /conversations/{id}/assign`: to an added agent or the caller; both agents' loads move.
pub async fn assign(
    State(app): State<Arc<App>>,
    c: Caller,
    Id(id): Id,
    RawBody(bytes): RawBody,
) -> Reply {
    c.require_person()?;
    let to = AssignRequest::parse(&bytes)?;
    let target = match &to {
        Some(to) => app.store.get_agent(&c.account, to).await?,
        None => None,
    };
    if let Some(to) = &to
        && to != &c.sub
        && target.is_none()
    {
        return Err(ApiFailure::invalid(format!(
            "agent_id: {to} is not an agent of this account (add them with PUT /agents/{{id}})"
        )));
    }
    for _ in 0..5 {
        let conv = app.conversation(&c, &id).await?;
        if !conv.status.is_active() {
            return Err(ApiFailure::ConversationNotOpen);
        }
        if let Some(t) = &target
            && !t.may_work(
                &conv.page_id,
                app.store.get_page(&conv.page_id).await?.as_ref(),
            )
        {
            return Err(ApiFailure::invalid(format!(
                "agent_id: {} does not work this conversation's Page",
                t.id
            )));
        }
        if conv.assignee == to {
            return show(&app, &c, &id).await;
        }
        let now = app.clock.now_ms();
        let a = Assignment {
            to: to.as_deref(),
            from: conv.assignee.as_deref(),
            capacity: Capacity::Any,
            rule: None,
            ai_agent_active: conv.ai_agent_active.then_some(false),
            event: assigned_event(&conv, to.as_deref(), AssignedBy::Assign, &c.sub, now),
            now,
        };
        if app.store.assign(&conv, &a).await? == AssignOutcome::Done {
            tracing::info!(conversation_id = %id, by = %c.sub, "conversation assigned");
            return show(&app, &c, &id).await;
        }
    }
    Err(ApiFailure::ConversationChanging)
}

/// The `conversation.assigned` event of a person's or a rule change's decision.
pub(crate) fn assigned_event(
    conv: &ConversationItem,
    to: Option<&str>,
    by: AssignedBy,
    actor: &str,
    now: i64,
) -> EventItem {
    EventItem::new(
        &conv.account,
        EventType::ConversationAssigned,
        Some(&conv.id),
        json!({"assignee": to, "previous": conv.assignee, "rule": conv.routing_rule, "by": by, "actor": actor}),
        now,
    )
}

/// `{"rule"?, "note"?}`, read field by field so a wrong one is named in the answer.
#[derive(Debug, Default)]
struct HandoffRequest {
    rule: Option<String>,
    note: Option<String>,
}

impl HandoffRequest {
    fn parse(bytes: &[u8]) -> Result<Self, ApiFailure> {
        let raw: serde_json::Map<String, serde_json::Value> = optional_body(bytes)?;
        let mut req = HandoffRequest::default();
        match raw.get("rule") {
            None | Some(serde_json::Value::Null) => {}
            Some(serde_json::Value::String(n)) => req.rule = Some(n.clone()),
            Some(_) => return Err(ApiFailure::invalid("rule: a rule's name")),
        }
        match raw.get("note") {
            None | Some(serde_json::Value::Null) => {}
            Some(serde_json::Value::String(n)) if n.chars().count() <= 1000 => {
                req.note = Some(n.clone())
            }
            Some(_) => return Err(ApiFailure::invalid("note: at most 1000 characters")),
        }
        Ok(req)
    }
}

/// `POST /conversations/{id}/handoff`: the AI agent (or a person for it) gives the conversation
/// to people: the named rule, or the rules evaluated again on what the person wrote so far, or
/// the pool.
pub async fn handoff(
    State(app): State<Arc<App>>,
    c: Caller,
    Id(id): Id,
    RawBody(bytes): RawBody,
) -> Reply {
    let req = HandoffRequest::parse(&bytes)?;
    let conv = app.conversation(&c, &id).await?;
    let rules = app.store.get_rules(&c.account).await?.rules;
    let named = match &req.rule {
        None => None,
        Some(n) => Some(
            rules
                .iter()
                .find(|r| &r.name == n)
                .ok_or_else(|| ApiFailure::invalid(format!("rule: no rule named {n:?}")))?,
        ),
    };
    if conv.status != ConversationStatus::Open {
        return Err(ApiFailure::ConversationNotOpen);
    }
    let now = app.clock.now_ms();
    let ev = EventItem::new(
        &c.account,
        EventType::ConversationHandedOff,
        Some(&id),
        json!({"by": c.sub, "rule": named.map(|r| &r.name), "note": req.note}),
        now,
    );
    // Keyword rules match what the person wrote so far; a named rule needs no reading.
    let text = match named {
        Some(_) => String::new(),
        None => person_text(&app, &c, &id).await?,
    };
    let Some(routed) = Assigner::new(&app.store)
        .hand_off(&conv, &rules, named, &text, &ev, AssignedBy::Handoff, now)
        .await?
    else {
        return Err(ApiFailure::NotWithAiAgent);
    };
    tracing::info!(conversation_id = %id, by = %c.sub, assignee = ?routed.assignee, "handed off to people");
    show(&app, &c, &id).await
}

/// What the person wrote in the conversation so far (its latest 50 messages), for keyword
/// rules at hand-off.
async fn person_text(app: &App, c: &Caller, id: &str) -> Result<String, ApiFailure> {
    let msgs = app.store.latest_messages(&c.account, id, 50).await?;
    Ok(msgs
        .iter()
        .filter(|m| m.direction == Direction::In)
        .filter_map(|m| m.text.as_deref())
        .collect::<Vec<_>>()
        .join("\n"))
}
