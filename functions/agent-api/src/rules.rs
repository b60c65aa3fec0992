//! Routing rules: read them, or replace them all (admin). Agents taken out of a rule lose that
//! rule's open conversations: back to the pool or to the rule's other agents, as the rule says.

use std::sync::Arc;

use axum::extract::State;
use pagedesk_shared::domain::AssignedBy;
use pagedesk_shared::domain::rules::{self, OnAgentRemoved, RoutingRule};
use pagedesk_shared::services::assignment::Assigner;
use pagedesk_shared::store::{Assignment, Capacity, ConversationItem};
use serde_json::{Value, json};

use crate::App;
use crate::conversations::assigned_event;
use crate::error::ApiFailure;
use crate::extract::{Caller, RawBody, Reply, body, ok};

/// `GET /routing-rules`
pub async fn get(State(app): State<Arc<App>>, c: Caller) -> Reply {
    c.require_person()?;
    let (r, pages) = tokio::try_join!(
        async { Ok(app.store.get_rules(&c.account).await?) },
        app.pages_of(&c)
    )?;
    // An agent limited to some Pages sees the rules of those (and of every Page) only.
    let rules = match pages {
        Some(pages) => rules::visible_to(&r.rules, &pages),
        None => r.rules,
    };
    ok(&json!({"rules": rules, "version": r.version}))
}

/// `PUT /routing-rules` `{"rules": [...]}` in evaluation order → the rules, their new version
/// and `moved: {reassigned, unassigned}`.
pub async fn put(State(app): State<Arc<App>>, c: Caller, RawBody(bytes): RawBody) -> Reply {
    c.require_admin()?;
    let v: Value = body(&bytes)?;
    let rules = rules::parse_rules(&v).map_err(ApiFailure::Invalid)?;
    let current = app.store.get_rules(&c.account).await?;
    let now = app.clock.now_ms();
    if !app
        .store
        .put_rules(&c.account, &rules, current.version, now)
        .await?
    {
        return Err(ApiFailure::RulesChanged);
    }
    let (mut reassigned, mut unassigned) = (0, 0);
    for removal in rules::removed_agents(&current.rules, &rules) {
        let convs = app
            .store
            .active_conversations_of(&c.account, &removal.agent, &removal.rule)
            .await?;
        let rule = rules.iter().find(|r| r.name == removal.rule);
        for conv in convs {
            let moved = move_away(
                &app,
                &conv,
                &removal.agent,
                rule.filter(|_| removal.policy == OnAgentRemoved::Reassign),
                AssignedBy::RuleChange,
                &c.sub,
                now,
            )
            .await?;
            if moved {
                reassigned += 1;
            } else {
                unassigned += 1;
            }
        }
    }
    tracing::info!(admin = %c.sub, rules = rules.len(), reassigned, unassigned, "routing rules changed");
    ok(&json!({"rules": rules, "version": current.version + 1,
               "moved": {"reassigned": reassigned, "unassigned": unassigned}}))
}

/// Takes `conv` from `agent`: to `rule`'s other agents (by its method) when given, else back to
/// the pool. `true` when someone else has it now.
pub(crate) async fn move_away(
    app: &App,
    conv: &ConversationItem,
    agent: &str,
    rule: Option<&RoutingRule>,
    by: AssignedBy,
    caller: &str,
    now: i64,
) -> pagedesk_shared::Result<bool> {
    if let Some(rule) = rule {
        let routed = Assigner::new(&app.store)
            .assign_by_rule(conv, rule, by, now)
            .await?;
        return Ok(routed.assignee.is_some());
    }
    let a = Assignment {
        to: None,
        from: Some(agent),
        capacity: Capacity::Any,
        rule: conv.routing_rule.as_deref(),
        ai_agent_active: None,
        event: assigned_event(conv, None, by, caller, now),
        now,
    };
    app.store.assign(conv, &a).await?;
    Ok(false)
}
