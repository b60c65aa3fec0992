//! Routing rules: read them, or replace them all (admin). Agents taken out of a rule lose that
//! rule's open conversations: back to the pool or to the rule's other agents, as the rule says.

use std::sync::Arc;

use axum::extract::State;
use pagedesk_shared::domain::AssignedBy;
use pagedesk_shared::domain::rules::{self, OnAgentRemoved};
use pagedesk_shared::services::assignment::Assigner;
use pagedesk_shared::store::{Assignment, Capacity};
use serde_json::{Value, json};

use crate::App;
use crate::conversations::assigned_event;
use crate::error::ApiFailure;
use crate::extract::{Caller, RawBody, Reply, body, ok};

/// `GET /routing-rules`
pub async fn get(State(app): State<Arc<App>>, c: Caller) -> Reply {
    c.require_person()?;
    let r = app.store.get_rules(&c.account).await?;
    ok(&json!({"rules": r.rules, "version": r.version}))
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
            .open_conversations_of(&c.account, &removal.agent, &removal.rule)
            .await?;
        let rule = rules.iter().find(|r| r.name == removal.rule);
        for conv in convs {
            let routed = match (removal.policy, rule) {
                (OnAgentRemoved::Reassign, Some(rule)) => {
                    Assigner::new(&app.store)
                        .assign_by_rule(&conv, rule, AssignedBy::RuleChange, now)
                        .await?
                }
                _ => {
                    let a = Assignment {
                        to: None,
                        from: Some(&removal.agent),
                        capacity: Capacity::Any,
                        rule: Some(&removal.rule),
                        ai_agent_active: None,
                        event: assigned_event(&conv, None, AssignedBy::RuleChange, &c.sub, now),
                        now,
                    };
                    app.store.assign(&conv, &a).await?;
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
    ok(&json!({"rules": rules, "version": current.version + 1,
               "moved": {"reassigned": reassigned, "unassigned": unassigned}}))
}
