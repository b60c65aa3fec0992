//! CSAT: the survey's "asked" flag on the conversation and the answers, one item each under
//! the account's CSAT partition, read by time range for the report.

use aws_sdk_dynamodb::types::{TransactWriteItem, Update};
use serde::{Deserialize, Serialize};

use super::*;
use crate::domain::EventType;
use crate::{Error, Result};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CsatItem {
    pub(in crate::store) pk: String,
    pub(in crate::store) sk: String,
    pub conversation_id: String,
    pub page_id: String,
    pub agent_id: Option<String>,
    pub score: i64,
    pub answered_at: i64,
}

impl Store {
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
        msg: &super::Message,
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
            EventType::CsatReceived,
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
        // Nothing was answered before 1970, and keys are zero-padded positive numbers: a range
        // reaching before it would not sort (and one that ends there is empty).
        let (from, to) = (from.max(0), to.max(0));
        if to <= from {
            return Ok(Vec::new());
        }
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
