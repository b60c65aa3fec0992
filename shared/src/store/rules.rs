//! Routing rules (one versioned item per account) and each rule's round-robin counter.

use aws_sdk_dynamodb::types::ReturnValue;
use serde::{Deserialize, Serialize};

use super::*;
use crate::domain::rules::RoutingRule;
use crate::{Error, Result};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct RulesItem {
    #[serde(default)]
    pub rules: Vec<RoutingRule>,
    /// Bumped by every change; a change names the version it replaces.
    #[serde(default)]
    pub version: i64,
    pub updated_at: Option<i64>,
}

impl Store {
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
            .map_err(failed("UpdateItem"))?;
        out.attributes
            .and_then(|a| a.get("turns").cloned())
            .and_then(|v| v.as_n().ok().and_then(|n| n.parse().ok()))
            .ok_or_else(|| Error::Corrupt("round-robin counter".into()))
    }
}
