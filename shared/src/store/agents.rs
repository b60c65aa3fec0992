//! Agents, routing rules, assignment and CSAT answers. Agent load (their open conversations)
//! moves only inside the transaction that changes a conversation's assignee or status, so it
//! stays true under concurrent routers, claims and resolves; round robin draws its turns from
//! an atomic counter.

use std::time::Duration;

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, TransactWriteItem, Update};
use serde::{Deserialize, Serialize};

use super::{
    ConversationItem, EventItem, Store, cancelled_conditions, from_item, keys, n, s, set_remove,
    to_item,
};
use crate::domain::routing::RoutingRule;
use crate::{Error, Result};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct AgentItem {
    pub pk: String,
    pub sk: String,
    pub id: String,
    pub name: Option<String>,
    /// `online` | `offline` (absent: offline).
    pub status: Option<String>,
    pub max_concurrent: Option<i64>,
    /// Open conversations assigned to the agent.
    #[serde(default)]
    pub load: i64,
    pub last_assigned_at: Option<i64>,
    pub created_at: Option<i64>,
    pub updated_at: Option<i64>,
}

impl AgentItem {
    pub fn online(&self) -> bool {
        self.status.as_deref() == Some("online")
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct RulesItem {
    #[serde(default)]
    pub rules: Vec<RoutingRule>,
    /// Bumped by every change; a change names the version it replaces.
    #[serde(default)]
    pub version: i64,
    pub updated_at: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CsatItem {
    pub pk: String,
    pub sk: String,
    pub conversation_id: String,
    pub page_id: String,
    pub agent_id: Option<String>,
    pub score: i64,
    pub answered_at: i64,
}

/// A profile change; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct AgentPatch {
    pub name: Option<Option<String>>,
    pub status: Option<String>,
    pub max_concurrent: Option<Option<i64>>,
}

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
    pub bot_active: Option<bool>,
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
    /// Runs a transaction, retrying DynamoDB's transaction conflicts (two writers on one item
    /// at the same moment: concurrent assignments to one agent). `Ok(None)` when it committed,
    /// `Ok(Some(failed))` with which items' conditions failed.
    pub(crate) async fn transact(
        &self,
        items: Vec<TransactWriteItem>,
    ) -> Result<Option<Vec<bool>>> {
        let mut attempt = 0u64;
        loop {
            let res = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .send()
                .await;
            let e = match res {
                Ok(_) => return Ok(None),
                Err(e) => e,
            };
            match cancelled_conditions(&e) {
                Some(c) if c.iter().any(|x| *x) => return Ok(Some(c)),
                Some(_) if attempt < 8 => {
                    attempt += 1;
                    // Jittered, growing pause so the contenders spread out.
                    let jitter = u64::from(ulid::Ulid::new().random() as u8 % 20);
                    tokio::time::sleep(Duration::from_millis(attempt * 10 + jitter)).await;
                }
                _ => return Err(Error::dynamo("TransactWriteItems", e.into_service_error())),
            }
        }
    }

    // ---- agents ---------------------------------------------------------------------------

    pub async fn get_agent(&self, account: &str, id: &str) -> Result<Option<AgentItem>> {
        self.get(keys::account(account), keys::agent_sk(id), true)
            .await
    }

    pub async fn list_agents(&self, account: &str) -> Result<Vec<AgentItem>> {
        self.query_all(
            self.client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :p AND begins_with(sk, :a)")
                .expression_attribute_values(":p", s(keys::account(account)))
                .expression_attribute_values(":a", s("AGENT#"))
                .consistent_read(true),
        )
        .await
    }

    /// Creates or changes an agent's profile, never touching their load.
    pub async fn update_agent(
        &self,
        account: &str,
        id: &str,
        patch: &AgentPatch,
        now: i64,
    ) -> Result<AgentItem> {
        let mut set = vec![
            "id = :id".to_owned(),
            "updated_at = :u".to_owned(),
            "created_at = if_not_exists(created_at, :u)".to_owned(),
        ];
        let mut remove = Vec::new();
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(keys::account(account)))
            .key("sk", s(keys::agent_sk(id)))
            .expression_attribute_values(":id", s(id))
            .expression_attribute_values(":u", n(now))
            .return_values(ReturnValue::AllNew);
        match &patch.name {
            Some(Some(v)) => {
                set.push("#name = :name".into());
                req = req
                    .expression_attribute_names("#name", "name")
                    .expression_attribute_values(":name", s(v));
            }
            Some(None) => {
                remove.push("#name");
                req = req.expression_attribute_names("#name", "name");
            }
            None => {}
        }
        if let Some(st) = &patch.status {
            set.push("#st = :st".into());
            req = req
                .expression_attribute_names("#st", "status")
                .expression_attribute_values(":st", s(st));
        }
        match patch.max_concurrent {
            Some(Some(m)) => {
                set.push("max_concurrent = :m".into());
                req = req.expression_attribute_values(":m", n(m));
            }
            Some(None) => remove.push("max_concurrent"),
            None => {}
        }
        let expr = set_remove(&set, &remove);
        let out = req
            .update_expression(expr)
            .send()
            .await
            .map_err(|e| Error::dynamo("UpdateItem", e.into_service_error()))?;
        from_item(out.attributes.unwrap_or_default())
    }

    // ---- routing rules --------------------------------------------------------------------

    pub async fn get_rules(&self, account: &str) -> Result<RulesItem> {
        Ok(self
            .get::<RulesItem>(keys::account(account), keys::ROUTING_SK.into(), true)
            .await?
            .unwrap_or_default())
    }

    /// Replaces the rules if they are still at `version`; `Ok(false)` when someone else changed
    /// them first.
    pub async fn put_rules(
        &self,
        account: &str,
        rules: &[RoutingRule],
        version: i64,
        now: i64,
    ) -> Result<bool> {
        let mut item = to_item(&RulesItem {
            rules: rules.to_vec(),
            version: version + 1,
            updated_at: Some(now),
        })?;
        item.insert("pk".into(), s(keys::account(account)));
        item.insert("sk".into(), s(keys::ROUTING_SK));
        let mut req = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item));
        req = if version == 0 {
            req.condition_expression("attribute_not_exists(pk) OR version = :v")
        } else {
            req.condition_expression("version = :v")
        }
        .expression_attribute_values(":v", n(version));
        super::written(req.send().await, "PutItem")
    }

    /// The next turn of a round-robin rule: an atomic counter, so concurrent routers never draw
    /// the same one.
    pub async fn next_turn(&self, account: &str, rule: &str) -> Result<u64> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(keys::account(account)))
            .key("sk", s(keys::round_robin_sk(rule)))
            .update_expression("ADD turns :one")
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(|e| Error::dynamo("UpdateItem", e.into_service_error()))?;
        out.attributes
            .and_then(|a| a.get("turns").cloned())
            .and_then(|v| v.as_n().ok().and_then(|n| n.parse().ok()))
            .ok_or_else(|| Error::Corrupt("round-robin counter".into()))
    }

    // ---- assignment -----------------------------------------------------------------------

    /// A load increase for the agent a conversation is given to, checked as `capacity` says.
    fn load_increase(
        &self,
        account: &str,
        agent: &str,
        now: i64,
        capacity: Capacity,
    ) -> Result<TransactWriteItem> {
        let mut u = self
            .load_update(account, agent, 1)
            .update_expression("ADD #load :d SET last_assigned_at = :now, id = :id")
            .expression_attribute_values(":now", n(now));
        let condition = match capacity {
            Capacity::Any => None,
            Capacity::Online => Some("#st = :online"),
            Capacity::OnlineBelowMax => Some(
                "#st = :online AND (attribute_not_exists(max_concurrent) OR attribute_not_exists(#load) OR #load < max_concurrent)",
            ),
        };
        if let Some(c) = condition {
            u = u
                .condition_expression(c)
                .expression_attribute_names("#st", "status")
                .expression_attribute_values(":online", s("online"));
        }
        Ok(TransactWriteItem::builder()
            .update(
                u.build()
                    .map_err(|e| Error::dynamo("TransactWriteItems", e))?,
            )
            .build())
    }

    /// Changes an open conversation's assignee, both agents' loads and writes the event, in
    /// one transaction conditioned on the assignee the caller saw.
    pub async fn assign(
        &self,
        conv: &ConversationItem,
        a: &Assignment<'_>,
    ) -> Result<AssignOutcome> {
        let mut set = vec!["gsi3pk = :g", "updated_at = :u"];
        let mut remove = Vec::new();
        let mut u = Update::builder()
            .table_name(&self.table)
            .key("pk", s(&conv.pk))
            .key("sk", s(keys::META))
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":open", s("open"))
            .expression_attribute_values(":u", n(a.now))
            .expression_attribute_values(
                ":g",
                s(keys::conversations_by_assignee(&conv.account, a.to)),
            );
        match a.to {
            Some(to) => {
                set.push("assignee = :to");
                u = u.expression_attribute_values(":to", s(to));
            }
            None => remove.push("assignee"),
        }
        if let Some(rule) = a.rule {
            set.push("routing_rule = :rule");
            u = u.expression_attribute_values(":rule", s(rule));
        }
        match a.bot_active {
            Some(true) => {
                set.push("bot_active = :t");
                u = u.expression_attribute_values(":t", AttributeValue::Bool(true));
            }
            Some(false) => remove.push("bot_active"),
            None => {}
        }
        u = match a.from {
            Some(from) => u
                .condition_expression("#st = :open AND assignee = :from")
                .expression_attribute_values(":from", s(from)),
            None => u.condition_expression("#st = :open AND attribute_not_exists(assignee)"),
        };
        let expr = set_remove(&set, &remove);
        let mut items = vec![
            TransactWriteItem::builder()
                .update(
                    u.update_expression(expr)
                        .build()
                        .map_err(|e| Error::dynamo("TransactWriteItems", e))?,
                )
                .build(),
        ];
        let mut agent_index = None;
        if a.to != a.from {
            if let Some(to) = a.to {
                agent_index = Some(items.len());
                items.push(self.load_increase(&conv.account, to, a.now, a.capacity)?);
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

    /// Open conversations of `agent` that `rule` placed (the ones its removal policy covers).
    pub async fn open_conversations_of(
        &self,
        account: &str,
        agent: &str,
        rule: &str,
    ) -> Result<Vec<ConversationItem>> {
        self.query_all(
            self.client
                .query()
                .table_name(&self.table)
                .index_name("gsi3")
                .key_condition_expression("gsi3pk = :p")
                .filter_expression("#st = :open AND routing_rule = :r")
                .expression_attribute_names("#st", "status")
                .expression_attribute_values(
                    ":p",
                    s(keys::conversations_by_assignee(account, Some(agent))),
                )
                .expression_attribute_values(":open", s("open"))
                .expression_attribute_values(":r", s(rule)),
        )
        .await
    }

    /// Records the rule (or the AI agent) a conversation was routed to without giving it to
    /// anyone, with its event; only while it is open and unassigned.
    pub async fn mark_routed(
        &self,
        conv: &ConversationItem,
        rule: Option<&str>,
        bot_active: Option<bool>,
        event: &EventItem,
        now: i64,
    ) -> Result<bool> {
        let mut set = vec!["updated_at = :u"];
        let mut remove = vec![];
        let mut u = Update::builder()
            .table_name(&self.table)
            .key("pk", s(&conv.pk))
            .key("sk", s(keys::META))
            .condition_expression("#st = :open AND attribute_not_exists(assignee)")
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":open", s("open"))
            .expression_attribute_values(":u", n(now));
        if let Some(r) = rule {
            set.push("routing_rule = :r");
            u = u.expression_attribute_values(":r", s(r));
        }
        match bot_active {
            Some(true) => {
                set.push("bot_active = :t");
                u = u.expression_attribute_values(":t", AttributeValue::Bool(true));
            }
            Some(false) => remove.push("bot_active"),
            None => {}
        }
        let expr = set_remove(&set, &remove);
        let u = u
            .update_expression(expr)
            .build()
            .map_err(|e| Error::dynamo("TransactWriteItems", e))?;
        self.update_with_event(u, Some(event)).await
    }

    /// Takes a conversation from the AI agent (hand-off): `Ok(false)` when it was not with it.
    pub async fn end_bot(
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
            .expression_attribute_values(":open", s("open"))
            .expression_attribute_values(":t", AttributeValue::Bool(true))
            .expression_attribute_values(":u", n(now))
            .build()
            .map_err(|e| Error::dynamo("TransactWriteItems", e))?;
        self.update_with_event(u, Some(event)).await
    }

    // ---- automatic messages ---------------------------------------------------------------

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
            .expression_attribute_values(":open", s("open"))
            .expression_attribute_values(":p", n(period))
            .expression_attribute_values(":q", n(agent_quiet_since))
            .expression_attribute_values(":u", n(now))
            .send()
            .await;
        super::written(res, "UpdateItem")
    }

    /// Marks the survey as asked (who it rates: the assignee at resolve time).
    pub async fn mark_csat_requested(&self, conv: &ConversationItem, now: i64) -> Result<bool> {
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(&conv.pk))
            .key("sk", s(keys::META))
            .condition_expression(
                "attribute_not_exists(csat) AND attribute_not_exists(csat_requested_at)",
            )
            .expression_attribute_values(":u", n(now));
        req = match &conv.assignee {
            Some(a) => req
                .update_expression("SET csat_requested_at = :u, csat_agent = :a")
                .expression_attribute_values(":a", s(a)),
            None => req.update_expression("SET csat_requested_at = :u"),
        };
        super::written(req.send().await, "UpdateItem")
    }

    /// Stores a survey answer with the message that carried it: conversation, answer item for
    /// the report, the message, its mid guard and the event, in one transaction. `Ok(false)`
    /// when the conversation was not asked or already answered.
    pub async fn record_csat(
        &self,
        conv: &ConversationItem,
        msg: &super::MessageItem,
        mid: &str,
        score: i64,
        now: i64,
    ) -> Result<bool> {
        let answer = serde_json::json!({"score": score, "answered_at": crate::clock::rfc3339(msg.created_at), "agent_id": conv.csat_agent});
        let u = Update::builder()
            .table_name(&self.table)
            .key("pk", s(&conv.pk))
            .key("sk", s(keys::META))
            .update_expression("SET csat = :c, last_inbound_at = :t, updated_at = :u")
            .condition_expression(
                "attribute_exists(csat_requested_at) AND attribute_not_exists(csat)",
            )
            .expression_attribute_values(
                ":c",
                serde_dynamo::to_attribute_value(&answer)
                    .map_err(|e| Error::Corrupt(e.to_string()))?,
            )
            .expression_attribute_values(":t", n(msg.created_at))
            .expression_attribute_values(":u", n(now))
            .build()
            .map_err(|e| Error::dynamo("TransactWriteItems", e))?;
        let item = CsatItem {
            pk: keys::csat(&conv.account),
            sk: keys::activity_sk(msg.created_at, &conv.id),
            conversation_id: conv.id.clone(),
            page_id: conv.page_id.clone(),
            agent_id: conv.csat_agent.clone(),
            score,
            answered_at: msg.created_at,
        };
        let event = EventItem::new(
            &conv.account,
            "csat.received",
            Some(&conv.id),
            serde_json::json!({"score": score, "agent_id": conv.csat_agent, "message_id": msg.id}),
            now,
        );
        let items = vec![
            TransactWriteItem::builder().update(u).build(),
            self.put_new(&super::MidItem::for_message(msg, mid))?,
            self.put_new(msg)?,
            self.put_new(&item)?,
            event.put(&self.table)?,
        ];
        Ok(self.transact(items).await?.is_none())
    }

    /// Survey answers given in `[from, to)` (epoch ms).
    pub async fn csat_answers(&self, account: &str, from: i64, to: i64) -> Result<Vec<CsatItem>> {
        self.query_all(
            self.client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :p AND sk BETWEEN :a AND :b")
                .expression_attribute_values(":p", s(keys::csat(account)))
                .expression_attribute_values(":a", s(format!("{from:013}")))
                // Keys are `<ms>#<conversation>`: `~` sorts after every `#…` of the last ms.
                .expression_attribute_values(":b", s(format!("{:013}~", to.saturating_sub(1)))),
        )
        .await
    }
}
