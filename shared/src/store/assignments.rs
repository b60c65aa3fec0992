//! Who has a conversation: one conditional write per change of assignee, moving both agents'
//! loads in the same transaction, so a maximum holds under concurrent routers, claims and
//! resolves. Also the AI agent's hold on a conversation and the away message's once-per-period
//! claim.

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};

use super::*;
use crate::domain::{AgentStatus, ConversationStatus};
use crate::store::update::UpdateExpr;
use crate::{Error, Result};

/// How much the target agent is checked when a conversation is given to them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capacity {
    /// A person's own decision (claim, assign): no check.
    Any,
    /// Owner rules: the agent must be online.
    Online,
    /// Round robin and load balancing: online and below their maximum.
    OnlineBelowMax,
}

/// One change of a conversation's assignee.
#[derive(Debug, Clone)]
pub struct Assignment<'a> {
    pub to: Option<&'a str>,
    /// The assignee the caller saw; the change happens only if it is still the same.
    pub from: Option<&'a str>,
    pub capacity: Capacity,
    /// The rule that decided (kept on the conversation for its removal policy).
    pub rule: Option<&'a str>,
    /// Set or clear "with the AI agent".
    pub ai_agent_active: Option<bool>,
    pub event: EventItem,
    pub now: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssignOutcome {
    Done,
    /// The conversation is no longer open, or its assignee changed meanwhile.
    ConversationChanged,
    /// The target agent is offline or at their maximum (by the time of the write).
    AgentUnavailable,
}

impl Store {
    /// Changes an active conversation's assignee, both agents' loads and writes the event, in
    /// one transaction conditioned on the assignee the caller saw.
    pub async fn assign(
        &self,
        conv: &ConversationItem,
        a: &Assignment<'_>,
    ) -> Result<AssignOutcome> {
        let mut u = UpdateExpr::new();
        u.set("updated_at = :u").value(":u", n(a.now));
        u.set_or_remove("assignee", ":to", a.to.map(s));
        if let Some(rule) = a.rule {
            u.set("routing_rule = :rule").value(":rule", s(rule));
        }
        ai_agent_flag(&mut u, a.ai_agent_active);
        // A snoozed conversation changes hands too (it comes back to its new assignee).
        u.status_in(ConversationStatus::ACTIVE);
        match a.from {
            Some(from) => u.condition("assignee = :from").value(":from", s(from)),
            None => u.condition("attribute_not_exists(assignee)"),
        };
        let mut items = vec![
            TransactWriteItem::builder()
                .update(u.build(&self.table, &conv.pk, keys::META)?)
                .build(),
        ];
        let mut agent_index = None;
        if a.to != a.from {
            if let Some(to) = a.to {
                agent_index = Some(items.len());
                items.push(self.load_increase(conv, to, a.now, a.capacity)?);
            }
            if let Some(from) = a.from {
                items.push(self.load_item(&conv.account, from, -1)?);
            }
        }
        items.push(a.event.put(&self.table)?);
        Ok(match self.transact(items).await? {
            None => AssignOutcome::Done,
            Some(c) if c.first() == Some(&true) => AssignOutcome::ConversationChanged,
            Some(c) if agent_index.is_some_and(|i| c.get(i) == Some(&true)) => {
                AssignOutcome::AgentUnavailable
            }
            Some(_) => AssignOutcome::ConversationChanged,
        })
    }

    /// Records the rule (or the AI agent) a conversation was routed to without giving it to
    /// anyone, with its event; only while it is open and unassigned.
    pub async fn mark_routed(
        &self,
        conv: &ConversationItem,
        rule: Option<&str>,
        ai_agent_active: Option<bool>,
        event: &EventItem,
        now: i64,
    ) -> Result<bool> {
        let mut u = UpdateExpr::new();
        u.set("updated_at = :u")
            .value(":u", n(now))
            .condition("#st = :open AND attribute_not_exists(assignee)")
            .name("#st", "status")
            .value(":open", s(ConversationStatus::Open.as_str()));
        if let Some(r) = rule {
            u.set("routing_rule = :r").value(":r", s(r));
        }
        ai_agent_flag(&mut u, ai_agent_active);
        let u = u.build(&self.table, &conv.pk, keys::META)?;
        self.update_with_event(u, Some(event)).await
    }

    /// Takes a conversation from the AI agent (hand-off): `Ok(false)` when it was not with it.
    pub async fn end_ai_agent(
        &self,
        conv: &ConversationItem,
        event: &EventItem,
        now: i64,
    ) -> Result<bool> {
        let u = Update::builder()
            .table_name(&self.table)
            .key("pk", s(&conv.pk))
            .key("sk", s(keys::META))
            .update_expression("REMOVE bot_active SET updated_at = :u")
            .condition_expression("#st = :open AND bot_active = :t")
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":open", s(ConversationStatus::Open.as_str()))
            .expression_attribute_values(":t", AttributeValue::Bool(true))
            .expression_attribute_values(":u", n(now))
            .build()
            .map_err(|e| Error::dynamo("TransactWriteItems", e))?;
        self.update_with_event(u, Some(event)).await
    }

    /// Claims the away message of closed period `period` for this conversation: `Ok(true)` for
    /// the one caller that may send it. Refused while an agent answered after `agent_quiet_since`.
    pub async fn claim_away(
        &self,
        conv: &ConversationItem,
        period: i64,
        agent_quiet_since: i64,
        now: i64,
    ) -> Result<bool> {
        let res = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(&conv.pk))
            .key("sk", s(keys::META))
            .update_expression("SET away_period = :p, updated_at = :u")
            .condition_expression(
                "#st = :open AND (attribute_not_exists(away_period) OR away_period <> :p) AND (attribute_not_exists(last_agent_reply_at) OR last_agent_reply_at < :q)",
            )
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":open", s(ConversationStatus::Open.as_str()))
            .expression_attribute_values(":p", n(period))
            .expression_attribute_values(":q", n(agent_quiet_since))
            .expression_attribute_values(":u", n(now))
            .send()
            .await;
        super::written(res, "UpdateItem")
    }

    /// A load increase for the agent a conversation is given to, checked as `capacity` says,
    /// and always that the agent works the conversation's Page (their Pages may have changed
    /// since they were picked).
    fn load_increase(
        &self,
        conv: &ConversationItem,
        agent: &str,
        now: i64,
        capacity: Capacity,
    ) -> Result<TransactWriteItem> {
        let mut u = self
            .load_update(&conv.account, agent, 1)
            .update_expression("ADD #load :d SET last_assigned_at = :now, id = :id")
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":page", s(&conv.page_id));
        let works = "(attribute_not_exists(pages) OR contains(pages, :page))";
        let condition = match capacity {
            Capacity::Any => works.to_owned(),
            Capacity::Online => format!("#st = :online AND {works}"),
            Capacity::OnlineBelowMax => format!(
                "#st = :online AND (attribute_not_exists(max_concurrent) OR attribute_not_exists(#load) OR #load < max_concurrent) AND {works}"
            ),
        };
        u = u.condition_expression(condition);
        if capacity != Capacity::Any {
            u = u
                .expression_attribute_names("#st", "status")
                .expression_attribute_values(":online", s(AgentStatus::Online.as_str()));
        }
        Ok(TransactWriteItem::builder()
            .update(
                u.build()
                    .map_err(|e| Error::dynamo("TransactWriteItems", e))?,
            )
            .build())
    }
}

/// The AI agent's hold on a conversation (stored as `bot_active`): taken, dropped, or left.
fn ai_agent_flag(u: &mut UpdateExpr, active: Option<bool>) {
    match active {
        Some(true) => {
            u.set("bot_active = :t")
                .value(":t", AttributeValue::Bool(true));
        }
        Some(false) => {
            u.remove("bot_active");
        }
        None => {}
    }
}
