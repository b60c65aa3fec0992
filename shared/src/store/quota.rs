//! Meta's hourly quotas that pagedesk counts before it asks, so a reply over the quota is
//! refused to the agent at once (429) instead of failing at Meta later: private replies to an
//! Instagram account's comments (750 an hour per account; one account per Page, so counted
//! per Page). One counter row per Page and clock hour (`ACC#a#QUOTA#<page>` /
//! `PRIVREPLY#<hour>`), gone by TTL a day after its hour.

use super::*;

impl Store {
    /// Counts one private reply of the Page in `hour` unless `limit` are already counted;
    /// `Ok(false)` when the hour is full.
    pub async fn take_private_reply(
        &self,
        account: &str,
        page_id: &str,
        hour: i64,
        limit: u32,
    ) -> Result<bool> {
        let res = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(keys::quota(account, page_id)))
            .key("sk", s(keys::private_reply_quota_sk(hour)))
            .update_expression("ADD replies :one SET expires_at = :exp")
            .condition_expression("attribute_not_exists(replies) OR replies < :limit")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":limit", n(i64::from(limit)))
            .expression_attribute_values(":exp", n((hour + 25) * 3_600))
            .send()
            .await;
        match res {
            Ok(_) => Ok(true),
            Err(e) if is_conditional(&e) => Ok(false),
            Err(e) => Err(failed("UpdateItem")(e)),
        }
    }

    /// Gives back a counted private reply that was not queued after all (the comment had its
    /// reply, the conversation closed meanwhile).
    pub async fn give_back_private_reply(
        &self,
        account: &str,
        page_id: &str,
        hour: i64,
    ) -> Result<()> {
        let res = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(keys::quota(account, page_id)))
            .key("sk", s(keys::private_reply_quota_sk(hour)))
            .update_expression("ADD replies :minus")
            .condition_expression("replies > :zero")
            .expression_attribute_values(":minus", n(-1))
            .expression_attribute_values(":zero", n(0))
            .send()
            .await;
        match res {
            Ok(_) => Ok(()),
            Err(e) if is_conditional(&e) => Ok(()),
            Err(e) => Err(failed("UpdateItem")(e)),
        }
    }
}
