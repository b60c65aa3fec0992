//! Agents, routing rules, claim / assign / hand-off, and the CSAT report.

use std::collections::BTreeMap;

use chrono::{NaiveDate, TimeZone};
use lambda_http::Body;
use lambda_http::http::StatusCode;
use pagedesk_shared::api::{ApiError, json, query_param};
use pagedesk_shared::assignment::Assigner;
use pagedesk_shared::auth::{Claims, Role};
use pagedesk_shared::clock::{DAY_MS, rfc3339};
use pagedesk_shared::domain::hours;
use pagedesk_shared::domain::rules::{self, OnAgentRemoved};
use pagedesk_shared::domain::{AgentStatus, ConversationStatus, Direction, EventType};
use pagedesk_shared::store::{
    AgentItem, AgentPatch, AssignOutcome, Assignment, Capacity, ConversationItem, CsatItem,
    EventItem,
};
use pagedesk_shared::views;
use serde_json::{Map, Value, json};

use crate::{AgentApi, ApiResult, parse_body, require_admin};

fn require_person(c: &Claims) -> Result<(), ApiError> {
    if c.role == Role::Bot {
        Err(ApiError::forbidden("this is for people, not the AI agent"))
    } else {
        Ok(())
    }
}

fn not_open() -> ApiError {
    ApiError::conflict("not_open", "the conversation is not open")
}

impl AgentApi {
    // ---- agents ---------------------------------------------------------------------------

    pub(crate) async fn list_agents(&self, c: &Claims) -> ApiResult {
        require_admin(c)?;
        let agents = self.store.list_agents(&c.account).await?;
        let items: Vec<_> = agents.iter().map(views::agent).collect();
        Ok(json(StatusCode::OK, &json!({"items": items})))
    }

    pub(crate) async fn get_agent(&self, c: &Claims, id: &str) -> ApiResult {
        if c.role != Role::Admin && c.sub != id {
            return Err(ApiError::forbidden("agents can see their own profile only"));
        }
        let agent = match self.store.get_agent(&c.account, id).await? {
            Some(a) => a,
            // An agent known from their token needs no sign-up: they start offline.
            None if c.sub == id => AgentItem {
                id: id.to_owned(),
                ..Default::default()
            },
            None => return Err(ApiError::not_found("agent")),
        };
        Ok(json(StatusCode::OK, &views::agent(&agent)))
    }

    pub(crate) async fn put_agent(&self, c: &Claims, id: &str, body: &Body) -> ApiResult {
        let admin = c.role == Role::Admin;
        if !admin && c.sub != id {
            return Err(ApiError::forbidden(
                "agents can change their own status only",
            ));
        }
        require_person(c)?;
        if id.is_empty() || id.len() > 128 {
            return Err(ApiError::unprocessable("id: 1 to 128 characters"));
        }
        let patch: Map<String, Value> = parse_body(body)?;
        let mut p = AgentPatch::default();
        let mut problems = Vec::new();
        for (k, v) in &patch {
            if !admin && k != "status" {
                return Err(ApiError::forbidden(format!(
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
                    _ => match v.as_i64().filter(|m| (1..=10_000).contains(m)) {
                        Some(m) => p.max_concurrent = Some(Some(m)),
                        None => problems
                            .push("max_concurrent: a number from 1 to 10000, or null".to_owned()),
                    },
                },
                other => problems.push(format!("{other}: not an agent field")),
            }
        }
        if !problems.is_empty() {
            return Err(ApiError::unprocessable(problems.join("; "))
                .with_details(json!({"problems": problems})));
        }
        let agent = self
            .store
            .update_agent(&c.account, id, &p, self.clock.now_ms())
            .await?;
        tracing::info!(agent = id, by = %c.sub, "agent changed");
        Ok(json(StatusCode::OK, &views::agent(&agent)))
    }

    // ---- routing rules --------------------------------------------------------------------

    pub(crate) async fn get_rules(&self, c: &Claims) -> ApiResult {
        require_person(c)?;
        let r = self.store.get_rules(&c.account).await?;
        Ok(json(
            StatusCode::OK,
            &json!({"rules": r.rules, "version": r.version}),
        ))
    }

    /// Replaces the rules. Agents taken out of a rule lose that rule's open conversations:
    /// back to the pool or to the rule's other agents, as the rule says.
    pub(crate) async fn put_rules(&self, c: &Claims, body: &Body) -> ApiResult {
        require_admin(c)?;
        let v: Value = parse_body(body)?;
        let rules = rules::parse_rules(&v).map_err(|problems| {
            ApiError::unprocessable(problems.join("; ")).with_details(json!({"problems": problems}))
        })?;
        let current = self.store.get_rules(&c.account).await?;
        let now = self.clock.now_ms();
        if !self
            .store
            .put_rules(&c.account, &rules, current.version, now)
            .await?
        {
            return Err(ApiError::conflict(
                "rules_changed",
                "the rules were changed by someone else meanwhile; read them and try again",
            ));
        }
        let (mut reassigned, mut unassigned) = (0, 0);
        for removal in rules::removed_agents(&current.rules, &rules) {
            let convs = self
                .store
                .open_conversations_of(&c.account, &removal.agent, &removal.rule)
                .await?;
            let rule = rules.iter().find(|r| r.name == removal.rule);
            for conv in convs {
                let routed = match (removal.policy, rule) {
                    (OnAgentRemoved::Reassign, Some(rule)) => {
                        Assigner::new(&self.store)
                            .assign_by_rule(&conv, rule, "rule_change", now)
                            .await?
                    }
                    _ => {
                        let a = Assignment {
                            to: None,
                            from: Some(&removal.agent),
                            capacity: Capacity::Any,
                            rule: Some(&removal.rule),
                            bot_active: None,
                            event: assigned_event(&conv, None, "rule_change", &c.sub, now),
                            now,
                        };
                        self.store.assign(&conv, &a).await?;
                        Default::default()
                    }
                };
                if routed.assignee.is_some() {
                    reassigned += 1;
                } else {
                    unassigned += 1;
                }
            }
        }
        tracing::info!(admin = %c.sub, rules = rules.len(), reassigned, unassigned, "routing rules changed");
        Ok(json(
            StatusCode::OK,
            &json!({"rules": rules, "version": current.version + 1,
                    "moved": {"reassigned": reassigned, "unassigned": unassigned}}),
        ))
    }

    // ---- claim, assign, hand-off ----------------------------------------------------------

    /// First claim wins: the write is conditioned on the conversation being unassigned.
    pub(crate) async fn claim(&self, c: &Claims, id: &str) -> ApiResult {
        require_person(c)?;
        let conv = self.conversation(c, id).await?;
        if conv.status != ConversationStatus::Open {
            return Err(not_open());
        }
        let now = self.clock.now_ms();
        let a = Assignment {
            to: Some(&c.sub),
            from: None,
            capacity: Capacity::Any,
            rule: None,
            bot_active: conv.bot_active.then_some(false),
            event: EventItem::new(
                &c.account,
                EventType::ConversationClaimed,
                Some(id),
                json!({"assignee": c.sub, "rule": conv.routing_rule, "from_ai_agent": conv.bot_active}),
                now,
            ),
            now,
        };
        match self.store.assign(&conv, &a).await? {
            AssignOutcome::Done => {
                tracing::info!(conversation_id = id, agent = %c.sub, "conversation claimed");
            }
            _ => {
                let now_conv = self.conversation(c, id).await?;
                if now_conv.status != ConversationStatus::Open {
                    return Err(not_open());
                }
                if now_conv.assignee.as_deref() != Some(c.sub.as_str()) {
                    return Err(ApiError::conflict(
                        "already_assigned",
                        "someone else has this conversation",
                    )
                    .with_details(json!({"assignee": now_conv.assignee})));
                }
            }
        }
        self.get_conversation(c, id).await
    }

    pub(crate) async fn assign(&self, c: &Claims, id: &str, body: &Body) -> ApiResult {
        require_person(c)?;
        let b: Map<String, Value> = parse_body(body)?;
        let to = match b.get("agent_id") {
            Some(Value::String(a)) if !a.trim().is_empty() => Some(a.trim().to_owned()),
            Some(Value::Null) => None,
            _ => {
                return Err(ApiError::unprocessable(
                    "agent_id: the agent's id, or null to unassign",
                ));
            }
        };
        if let Some(to) = &to
            && to != &c.sub
            && self.store.get_agent(&c.account, to).await?.is_none()
        {
            return Err(ApiError::unprocessable(format!(
                "agent_id: {to} is not an agent of this account (add them with PUT /agents/{{id}})"
            )));
        }
        for _ in 0..5 {
            let conv = self.conversation(c, id).await?;
            if conv.status != ConversationStatus::Open {
                return Err(not_open());
            }
            if conv.assignee == to {
                return self.get_conversation(c, id).await;
            }
            let now = self.clock.now_ms();
            let a = Assignment {
                to: to.as_deref(),
                from: conv.assignee.as_deref(),
                capacity: Capacity::Any,
                rule: None,
                bot_active: conv.bot_active.then_some(false),
                event: assigned_event(&conv, to.as_deref(), "assign", &c.sub, now),
                now,
            };
            if self.store.assign(&conv, &a).await? == AssignOutcome::Done {
                tracing::info!(conversation_id = id, by = %c.sub, "conversation assigned");
                return self.get_conversation(c, id).await;
            }
        }
        Err(ApiError::conflict(
            "conversation_changing",
            "the conversation kept changing; try again",
        ))
    }

    /// The AI agent (or a person for it) gives the conversation to people: the named rule, or
    /// the rules evaluated again on what the person wrote so far, or the pool.
    pub(crate) async fn handoff(&self, c: &Claims, id: &str, body: &Body) -> ApiResult {
        let b: Map<String, Value> = match body {
            Body::Empty => Map::new(),
            b if b.is_empty() => Map::new(),
            _ => parse_body(body)?,
        };
        let conv = self.conversation(c, id).await?;
        let rules = self.store.get_rules(&c.account).await?.rules;
        let named = match b.get("rule") {
            None | Some(Value::Null) => None,
            Some(Value::String(n)) => Some(
                rules
                    .iter()
                    .find(|r| &r.name == n)
                    .ok_or_else(|| ApiError::unprocessable(format!("rule: no rule named {n:?}")))?,
            ),
            Some(_) => return Err(ApiError::unprocessable("rule: a rule's name")),
        };
        let note = match b.get("note") {
            None | Some(Value::Null) => None,
            Some(Value::String(n)) if n.chars().count() <= 1000 => Some(n.clone()),
            Some(_) => return Err(ApiError::unprocessable("note: at most 1000 characters")),
        };
        if conv.status != ConversationStatus::Open {
            return Err(not_open());
        }
        let now = self.clock.now_ms();
        let ev = EventItem::new(
            &c.account,
            EventType::ConversationHandedOff,
            Some(id),
            json!({"by": c.sub, "rule": named.map(|r| &r.name), "note": note}),
            now,
        );
        // Keyword rules match what the person wrote so far; a named rule needs no reading.
        let text = match named {
            Some(_) => String::new(),
            None => self.person_text(c, id).await?,
        };
        let Some(routed) = Assigner::new(&self.store)
            .hand_off(&conv, &rules, named, &text, &ev, "handoff", now)
            .await?
        else {
            return Err(ApiError::conflict(
                "not_with_ai_agent",
                "the conversation is not with the AI agent",
            ));
        };
        tracing::info!(conversation_id = id, by = %c.sub, assignee = ?routed.assignee, "handed off to people");
        self.get_conversation(c, id).await
    }

    /// What the person wrote in the conversation so far (its latest 50 messages), for keyword
    /// rules at hand-off.
    async fn person_text(&self, c: &Claims, id: &str) -> Result<String, ApiError> {
        let msgs = self.store.latest_messages(&c.account, id, 50).await?;
        Ok(msgs
            .iter()
            .filter(|m| m.direction == Direction::In)
            .filter_map(|m| m.text.as_deref())
            .collect::<Vec<_>>()
            .join("\n"))
    }

    // ---- CSAT -----------------------------------------------------------------------------

    pub(crate) async fn csat_report(&self, c: &Claims, params: &[(String, String)]) -> ApiResult {
        require_admin(c)?;
        let settings = self.store.get_settings(&c.account).await?;
        let tz = hours::zone(settings.time_zone.as_deref());
        let now = self.clock.now_ms();
        let to = match query_param(params, "to").filter(|v| !v.is_empty()) {
            Some(v) => instant(v, tz, true).ok_or_else(|| bad_time("to"))?,
            None => now,
        };
        let from = match query_param(params, "from").filter(|v| !v.is_empty()) {
            Some(v) => instant(v, tz, false).ok_or_else(|| bad_time("from"))?,
            None => to - 30 * DAY_MS,
        };
        if from >= to || to - from > 366 * DAY_MS {
            return Err(ApiError::bad_request(
                "invalid_parameter",
                "from must be before to, at most 366 days apart",
            ));
        }
        let page = query_param(params, "page_id").filter(|v| !v.is_empty());
        let agent = query_param(params, "agent_id").filter(|v| !v.is_empty());
        let answers: Vec<CsatItem> = self
            .store
            .csat_answers(&c.account, from, to)
            .await?
            .into_iter()
            .filter(|a| page.is_none_or(|p| a.page_id == p))
            .filter(|a| agent.is_none_or(|g| a.agent_id.as_deref() == Some(g)))
            .collect();
        let group = |key: &dyn Fn(&CsatItem) -> String, name: &str| -> Vec<Value> {
            let mut m: BTreeMap<String, Vec<i64>> = BTreeMap::new();
            for a in &answers {
                m.entry(key(a)).or_default().push(a.score);
            }
            m.into_iter()
                .map(|(k, scores)| {
                    let mut v = summary(&scores);
                    if let Some(o) = v.as_object_mut() {
                        o.insert(
                            name.to_owned(),
                            if k.is_empty() {
                                Value::Null
                            } else {
                                Value::String(k)
                            },
                        );
                    }
                    v
                })
                .collect()
        };
        let all: Vec<i64> = answers.iter().map(|a| a.score).collect();
        let mut body = summary(&all);
        if let Some(o) = body.as_object_mut() {
            o.insert("from".into(), json!(rfc3339(from)));
            o.insert("to".into(), json!(rfc3339(to)));
            o.insert("time_zone".into(), json!(tz.name()));
            o.insert(
                "by_agent".into(),
                json!(group(
                    &|a| a.agent_id.clone().unwrap_or_default(),
                    "agent_id"
                )),
            );
            o.insert(
                "by_page".into(),
                json!(group(&|a| a.page_id.clone(), "page_id")),
            );
            o.insert(
                "by_day".into(),
                json!(group(
                    &|a| chrono::Utc
                        .timestamp_millis_opt(a.answered_at)
                        .single()
                        .map(|t| t.with_timezone(&tz).date_naive().to_string())
                        .unwrap_or_default(),
                    "date"
                )),
            );
        }
        Ok(json(StatusCode::OK, &body))
    }
}

fn assigned_event(
    conv: &ConversationItem,
    to: Option<&str>,
    by: &str,
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

/// Count, average and distribution of scores 1–5.
fn summary(scores: &[i64]) -> Value {
    let mut dist = [0u64; 5];
    for s in scores {
        if let Some(slot) = usize::try_from(*s - 1).ok().and_then(|i| dist.get_mut(i)) {
            *slot += 1;
        }
    }
    let avg = if scores.is_empty() {
        Value::Null
    } else {
        let mean = scores.iter().sum::<i64>() as f64 / scores.len() as f64;
        json!((mean * 100.0).round() / 100.0)
    };
    json!({
        "responses": scores.len(),
        "average": avg,
        "distribution": {"1": dist[0], "2": dist[1], "3": dist[2], "4": dist[3], "5": dist[4]},
    })
}

fn bad_time(name: &str) -> ApiError {
    ApiError::bad_request(
        "invalid_parameter",
        format!("{name}: an RFC 3339 time or a date (YYYY-MM-DD, in the account's time zone)"),
    )
}

/// An RFC 3339 instant, or a date in the account's zone (`to` dates include the whole day).
fn instant(v: &str, tz: hours::Tz, end_of_day: bool) -> Option<i64> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(v) {
        return Some(t.timestamp_millis());
    }
    let d = NaiveDate::parse_from_str(v, "%Y-%m-%d").ok()?;
    let d = if end_of_day { d.succ_opt()? } else { d };
    tz.from_local_datetime(&d.and_hms_opt(0, 0, 0)?)
        .earliest()
        .map(|t| t.timestamp_millis())
}
