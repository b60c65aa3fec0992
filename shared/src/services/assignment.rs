//! Assignment: the service that turns a routing decision into an owner for a conversation. The
//! pure choice (which rule, which agent) is `domain::rules`; the rule's method becomes one
//! conditional write through the store (`store::assignments`), re-read and retried when agents
//! change underneath. Used by the router (new conversations), the agent API (hand-off, agents
//! removed from rules) and the sender (an AI agent that cannot be reached hands off).

use serde_json::json;

use crate::Result;
use crate::domain::rules::{self, Candidate, Facts, RoutingRule};
use crate::domain::{AssignedBy, EventType, RoutingMethod as Method};
use crate::store::{
    AgentItem, AssignOutcome, Assignment, Capacity, ConversationItem, EventItem, Store,
};

/// Where a conversation goes.
#[derive(Debug, Clone, Copy)]
pub enum Target<'r> {
    Rule(&'r RoutingRule),
    /// The account's AI agent (no rule matched and one is configured).
    Bot,
    /// The default: unassigned, for anyone to claim.
    Pool,
}

/// Rules first (the first that matches), then the AI agent, then the Page's fallback
/// assignees (`fallback`, as the rule it acts as), then the default pool.
pub fn decide<'r>(
    rules: &'r [RoutingRule],
    facts: &Facts<'_>,
    bot: bool,
    fallback: Option<&'r RoutingRule>,
) -> Target<'r> {
    match rules::first_match(rules, facts) {
        Some(r) => Target::Rule(r),
        None if bot => Target::Bot,
        None => fallback.map_or(Target::Pool, Target::Rule),
    }
}

/// How routing left the conversation.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Routed {
    pub assignee: Option<String>,
    pub rule: Option<String>,
    pub bot: bool,
}

/// Rounds before giving up on agents changing under us (each round reads them again).
const ROUNDS: usize = 8;

/// Routes conversations to people or the AI agent over a store.
#[derive(Clone, Copy)]
pub struct Assigner<'s> {
    store: &'s Store,
}

impl<'s> Assigner<'s> {
    pub fn new(store: &'s Store) -> Self {
        Assigner { store }
    }

    /// Routes an open conversation. `by` says who caused it (for the event).
    pub async fn route(
        &self,
        conv: &ConversationItem,
        target: Target<'_>,
        by: AssignedBy,
        now: i64,
    ) -> Result<Routed> {
        match target {
            Target::Rule(rule) => {
                let routed = self.assign_by_rule(conv, rule, by, now).await?;
                self.store
                    .add_labels(conv, &rule.labels, &rule.name, now)
                    .await?;
                Ok(routed)
            }
            Target::Bot => {
                let ev = event(conv, None, None, by, now, json!({"ai_agent": true}));
                self.store
                    .mark_routed(conv, None, Some(true), &ev, now)
                    .await?;
                Ok(Routed {
                    bot: true,
                    ..Default::default()
                })
            }
            Target::Pool => {
                self.leave_in_pool(conv, None, by, "no_rule_matched", now)
                    .await
            }
        }
    }

    /// Takes a conversation from the AI agent (`event` says who and why) and routes it to
    /// people: the `named` rule, else the rules matched on `text` (what the person wrote), else
    /// the pool. `Ok(None)` when the conversation was not with the AI agent.
    #[allow(clippy::too_many_arguments)]
    pub async fn hand_off(
        &self,
        conv: &ConversationItem,
        rules: &[RoutingRule],
        named: Option<&RoutingRule>,
        text: &str,
        event: &EventItem,
        by: AssignedBy,
        now: i64,
    ) -> Result<Option<Routed>> {
        if !conv.ai_agent_active || !self.store.end_ai_agent(conv, event, now).await? {
            return Ok(None);
        }
        let mut conv = conv.clone();
        conv.ai_agent_active = false;
        let target = match named {
            Some(r) => Target::Rule(r),
            None => {
                let settings = self
                    .store
                    .settings_for_page(&conv.account, &conv.page_id)
                    .await?;
                let facts = Facts {
                    page_id: &conv.page_id,
                    channel: conv.channel,
                    text,
                    inside_hours: settings.closed_period(now).is_none(),
                };
                let fallback = settings.fallback.as_ref().map(|f| f.as_rule());
                let target = decide(rules, &facts, false, fallback.as_ref());
                return self.route(&conv, target, by, now).await.map(Some);
            }
        };
        self.route(&conv, target, by, now).await.map(Some)
    }

    /// Gives the conversation to the rule's people by the rule's method. Nobody available
    /// leaves it unassigned (in the pool), which the event says.
    pub async fn assign_by_rule(
        &self,
        conv: &ConversationItem,
        rule: &RoutingRule,
        by: AssignedBy,
        now: i64,
    ) -> Result<Routed> {
        let name = Some(rule.name.as_str());
        if rule.method == Method::Claim {
            return self.leave_in_pool(conv, name, by, "claim", now).await;
        }
        // A Page shared `only_me` is worked by its admin alone, whatever a rule names.
        let page = self.store.get_page(&conv.page_id).await?;
        for _ in 0..ROUNDS {
            let agents = self.store.list_agents(&conv.account).await?;
            let candidates: Vec<Candidate<'_>> = rule
                .agents
                .iter()
                // The agent losing the conversation is not a candidate for it.
                .filter(|id| conv.assignee.as_deref() != Some(id.as_str()))
                .filter_map(|id| agents.iter().find(|a| &a.id == id))
                // Nobody is given a conversation of a Page they do not work.
                .filter(|a| a.may_work(&conv.page_id, page.as_ref()))
                .map(candidate)
                .collect();
            let (pick, capacity) = match rule.method {
                Method::Owner => (
                    candidates.iter().find(|c| c.online).map(|c| c.id),
                    Capacity::Online,
                ),
                Method::RoundRobin => {
                    let available: Vec<&str> = candidates
                        .iter()
                        .filter(|c| c.available())
                        .map(|c| c.id)
                        .collect();
                    let pick = if available.is_empty() {
                        None
                    } else {
                        let turn = self.store.next_turn(&conv.account, &rule.name).await?;
                        rules::round_robin(&available, turn)
                    };
                    (pick, Capacity::OnlineBelowMax)
                }
                Method::LoadBalanced => {
                    (rules::least_loaded(&candidates), Capacity::OnlineBelowMax)
                }
                Method::Claim => (None, Capacity::Any),
            };
            let Some(agent) = pick else {
                return self
                    .leave_in_pool(conv, name, by, "no_agent_available", now)
                    .await;
            };
            let a = Assignment {
                to: Some(agent),
                from: conv.assignee.as_deref(),
                capacity,
                rule: name,
                ai_agent_active: conv.ai_agent_active.then_some(false),
                event: event(conv, Some(agent), name, by, now, json!({})),
                now,
            };
            match self.store.assign(conv, &a).await? {
                AssignOutcome::Done => {
                    tracing::info!(conversation_id = %conv.id, agent, rule = %rule.name, "conversation assigned");
                    return Ok(Routed {
                        assignee: Some(agent.to_owned()),
                        rule: Some(rule.name.clone()),
                        bot: false,
                    });
                }
                // Went offline or reached their maximum since we read them: choose again.
                AssignOutcome::AgentUnavailable => continue,
                // Someone claimed, assigned or resolved it meanwhile: theirs wins.
                AssignOutcome::ConversationChanged => {
                    tracing::info!(conversation_id = %conv.id, "conversation changed while routing; left as it is");
                    return Ok(Routed::default());
                }
            }
        }
        self.leave_in_pool(conv, name, by, "no_agent_available", now)
            .await
    }

    /// Leaves (or puts) the conversation unassigned. A conversation that had an assignee loses
    /// them (and they lose its load).
    async fn leave_in_pool(
        &self,
        conv: &ConversationItem,
        rule: Option<&str>,
        by: AssignedBy,
        reason: &str,
        now: i64,
    ) -> Result<Routed> {
        let ev = event(conv, None, rule, by, now, json!({"reason": reason}));
        if conv.assignee.is_some() {
            let a = Assignment {
                to: None,
                from: conv.assignee.as_deref(),
                capacity: Capacity::Any,
                rule,
                ai_agent_active: conv.ai_agent_active.then_some(false),
                event: ev,
                now,
            };
            self.store.assign(conv, &a).await?;
        } else if rule.is_some() || conv.ai_agent_active {
            self.store
                .mark_routed(conv, rule, conv.ai_agent_active.then_some(false), &ev, now)
                .await?;
        }
        // No rule, nobody had it: it simply stays unassigned, nothing to write.
        Ok(Routed {
            rule: rule.map(str::to_owned),
            ..Default::default()
        })
    }
}

fn candidate(a: &AgentItem) -> Candidate<'_> {
    Candidate {
        id: &a.id,
        online: a.online(),
        load: a.load,
        max_concurrent: a.max_concurrent,
        last_assigned_at: a.last_assigned_at.unwrap_or(0),
    }
}

fn event(
    conv: &ConversationItem,
    to: Option<&str>,
    rule: Option<&str>,
    by: AssignedBy,
    now: i64,
    extra: serde_json::Value,
) -> EventItem {
    let mut data = json!({"assignee": to, "previous": conv.assignee, "rule": rule, "by": by});
    if let (Some(d), Some(e)) = (data.as_object_mut(), extra.as_object()) {
        d.extend(e.clone());
    }
    EventItem::new(
        &conv.account,
        EventType::ConversationAssigned,
        Some(&conv.id),
        data,
        now,
    )
}
