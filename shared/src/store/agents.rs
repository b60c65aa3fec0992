//! Agents: profile, online status and the open-conversation count (`load`), which moves only
//! inside the transaction that changes a conversation's assignee or status.

use aws_sdk_dynamodb::types::{ReturnValue, TransactWriteItem, Update};
use serde::{Deserialize, Serialize};

use super::*;
use crate::domain::{AgentStatus, ConversationStatus};
use crate::store::update::UpdateExpr;
use crate::{Error, Result};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct AgentItem {
    pub(in crate::store) pk: String,
    pub(in crate::store) sk: String,
    pub id: String,
    pub name: Option<String>,
    /// Absent: offline.
    pub status: Option<AgentStatus>,
    pub max_concurrent: Option<i64>,
    /// Open conversations assigned to the agent.
    #[serde(default)]
    pub load: i64,
    pub last_assigned_at: Option<i64>,
    /// The Pages whose conversations the agent sees and works; absent: every Page.
    #[serde(default)]
    pub pages: Option<Vec<String>>,
    pub created_at: Option<i64>,
    pub updated_at: Option<i64>,
    /// What the agent's inbox notifies them of (`None`: the defaults).
    #[serde(default)]
    pub preferences: Option<Preferences>,
}

/// What an agent is notified of in their inbox, and whether with a sound.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct Preferences {
    /// A conversation given to them (by routing, an admin or a hand-off).
    pub assigned: bool,
    /// A new message from the person in an open conversation of theirs.
    pub messages: bool,
    /// A note naming them (`@id`).
    pub mentions: bool,
    pub sound: bool,
}

impl Default for Preferences {
    fn default() -> Self {
        Preferences {
            assigned: true,
            messages: true,
            mentions: true,
            sound: false,
        }
    }
}

impl AgentItem {
    /// An agent known from their token who has no profile yet: offline, nothing assigned.
    pub fn unregistered(account: &str, id: &str) -> Self {
        AgentItem {
            pk: keys::account(account),
            sk: keys::agent_sk(id),
            id: id.to_owned(),
            ..Default::default()
        }
    }

    pub fn online(&self) -> bool {
        self.status == Some(AgentStatus::Online)
    }

    /// Whether the agent works `page_id`'s conversations.
    pub fn works(&self, page_id: &str) -> bool {
        self.pages
            .as_ref()
            .is_none_or(|p| p.iter().any(|x| x == page_id))
    }

    /// Whether the agent may be given `page_id`'s conversations: it is one of their Pages, and
    /// the Page (`page`, as read; `None`: not found) is not `only_me` for someone else.
    pub fn may_work(&self, page_id: &str, page: Option<&super::PageItem>) -> bool {
        self.works(page_id) && page.is_none_or(|p| p.open_to(&self.id))
    }
}

/// A profile change; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct AgentPatch {
    pub name: Option<Option<String>>,
    pub status: Option<AgentStatus>,
    pub max_concurrent: Option<Option<i64>>,
    /// `Some(None)`: every Page again.
    pub pages: Option<Option<Vec<String>>>,
}

impl Store {
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

    /// Sets what an agent is notified of (creating their profile, offline, if they had none).
    pub async fn set_preferences(
        &self,
        account: &str,
        id: &str,
        prefs: &Preferences,
        now: i64,
    ) -> Result<()> {
        let mut u = UpdateExpr::new();
        u.set("id = :id")
            .value(":id", s(id))
            .set("preferences = :p")
            .value(
                ":p",
                serde_dynamo::to_attribute_value(prefs)
                    .map_err(|e| Error::Corrupt(e.to_string()))?,
            )
            .set("updated_at = :u")
            .set("created_at = if_not_exists(created_at, :u)")
            .value(":u", n(now));
        self.update_item(u.build(&self.table, &keys::account(account), &keys::agent_sk(id))?)
            .send()
            .await
            .map_err(failed("UpdateItem"))?;
        Ok(())
    }

    /// Creates or changes an agent's profile, never touching their load.
    pub async fn update_agent(
        &self,
        account: &str,
        id: &str,
        patch: &AgentPatch,
        now: i64,
    ) -> Result<AgentItem> {
        let mut u = UpdateExpr::new();
        u.set("id = :id")
            .value(":id", s(id))
            .set("updated_at = :u")
            .set("created_at = if_not_exists(created_at, :u)")
            .value(":u", n(now));
        if let Some(name) = &patch.name {
            u.name("#name", "name")
                .set_or_remove("#name", ":name", name.as_deref().map(s));
        }
        if let Some(st) = &patch.status {
            u.set("#st = :st")
                .name("#st", "status")
                .value(":st", s(st.as_str()));
        }
        if let Some(m) = patch.max_concurrent {
            u.set_or_remove("max_concurrent", ":m", m.map(n));
        }
        if let Some(pages) = &patch.pages {
            let list = |p: &Vec<String>| AttributeValue::L(p.iter().map(s).collect());
            u.set_or_remove("pages", ":pages", pages.as_ref().map(list));
        }
        let out = self
            .update_item(u.build(&self.table, &keys::account(account), &keys::agent_sk(id))?)
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(failed("UpdateItem"))?;
        from_item(out.attributes.unwrap_or_default())
    }

    /// The agent's item and `:d`, `:id`, `#load` for an update of their open-conversation count.
    pub(crate) fn load_update(
        &self,
        account: &str,
        agent: &str,
        delta: i64,
    ) -> aws_sdk_dynamodb::types::builders::UpdateBuilder {
        Update::builder()
            .table_name(&self.table)
            .key("pk", s(keys::account(account)))
            .key("sk", s(keys::agent_sk(agent)))
            .expression_attribute_names("#load", "load")
            .expression_attribute_values(":d", n(delta))
            .expression_attribute_values(":id", s(agent))
    }

    /// An unconditional change of an agent's open-conversation count.
    pub(crate) fn load_item(
        &self,
        account: &str,
        agent: &str,
        delta: i64,
    ) -> Result<TransactWriteItem> {
        let u = self
            .load_update(account, agent, delta)
            .update_expression("ADD #load :d SET id = :id")
            .build()
            .map_err(|e| Error::dynamo("TransactWriteItems", e))?;
        Ok(TransactWriteItem::builder().update(u).build())
    }

    /// Every active (open or snoozed) conversation assigned to `agent`.
    pub async fn active_conversations_assigned(
        &self,
        account: &str,
        agent: &str,
    ) -> Result<Vec<ConversationItem>> {
        self.conversations_where(
            account,
            ConversationStatus::ACTIVE,
            "assignee = :a",
            &[],
            &[(":a", s(agent))],
        )
        .await
    }

    /// Every active conversation of `page_id` assigned to someone other than `keep`.
    pub async fn active_conversations_on_page_not_of(
        &self,
        account: &str,
        page_id: &str,
        keep: &str,
    ) -> Result<Vec<ConversationItem>> {
        self.conversations_where(
            account,
            ConversationStatus::ACTIVE,
            "page_id = :pg AND attribute_exists(assignee) AND assignee <> :k",
            &[],
            &[(":pg", s(page_id)), (":k", s(keep))],
        )
        .await
    }

    /// Active conversations of `agent` that `rule` placed (the ones its removal policy covers).
    pub async fn active_conversations_of(
        &self,
        account: &str,
        agent: &str,
        rule: &str,
    ) -> Result<Vec<ConversationItem>> {
        self.conversations_where(
            account,
            ConversationStatus::ACTIVE,
            "assignee = :a AND routing_rule = :r",
            &[],
            &[(":a", s(agent)), (":r", s(rule))],
        )
        .await
    }
}
