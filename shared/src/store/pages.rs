//! Pages: the global index from a Page id to the account that connected it (a webhook names a
//! Page, not an account), and the account's list of Pages.

use aws_sdk_dynamodb::types::Update;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::*;
use crate::domain::{EventType, PageStatus};
use crate::{Error, Result};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PageItem {
    pub pk: String,
    pub sk: String,
    pub gsi1pk: String,
    pub gsi1sk: String,
    pub account: String,
    pub page_id: String,
    pub name: Option<String>,
    pub status: PageStatus,
    pub status_reason: Option<String>,
    /// Secrets Manager id of this Page's token secret.
    pub token_secret: String,
    pub created_at: i64,
    pub updated_at: i64,
}

impl PageItem {
    /// A Page of `account` whose token is kept in the secret `token_secret`.
    pub fn new(account: &str, page_id: &str, token_secret: String, now: i64) -> Self {
        PageItem {
            pk: keys::page(page_id),
            sk: keys::PAGE_SK.into(),
            gsi1pk: keys::account_pages(account),
            gsi1sk: page_id.to_owned(),
            account: account.to_owned(),
            page_id: page_id.to_owned(),
            name: None,
            status: PageStatus::Connected,
            status_reason: None,
            token_secret,
            created_at: now,
            updated_at: now,
        }
    }
}

impl Store {
    pub async fn get_page(&self, page_id: &str) -> Result<Option<PageItem>> {
        self.get(keys::page(page_id), keys::PAGE_SK.into(), false)
            .await
    }

    /// Registers or updates a Page for `account`. A Page belongs to one account at a time:
    /// returns `Ok(false)` when another account holds it.
    pub async fn put_page(&self, page: &PageItem) -> Result<bool> {
        let res = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(page)?))
            .condition_expression("attribute_not_exists(pk) OR account = :a")
            .expression_attribute_values(":a", s(&page.account))
            .send()
            .await;
        written(res, "PutItem")
    }

    pub async fn delete_page(&self, account: &str, page_id: &str) -> Result<bool> {
        let res = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(keys::page(page_id)))
            .key("sk", s(keys::PAGE_SK))
            .condition_expression("account = :a")
            .expression_attribute_values(":a", s(account))
            .send()
            .await;
        written(res, "DeleteItem")
    }

    pub async fn list_pages(&self, account: &str) -> Result<Vec<PageItem>> {
        self.query_all(
            self.client
                .query()
                .table_name(&self.table)
                .index_name("gsi1")
                .key_condition_expression("gsi1pk = :p")
                .expression_attribute_values(":p", s(keys::account_pages(account))),
        )
        .await
    }

    /// Marks the Page `reauth_required` (once) and says so in the events feed.
    pub async fn disconnect_page(
        &self,
        account: &str,
        page_id: &str,
        reason: &str,
        now: i64,
    ) -> Result<bool> {
        let upd = Update::builder()
            .table_name(&self.table)
            .key("pk", s(keys::page(page_id)))
            .key("sk", s(keys::PAGE_SK))
            .update_expression("SET #st = :r, status_reason = :why, updated_at = :u")
            .condition_expression("account = :a AND #st <> :r")
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":r", s(PageStatus::ReauthRequired.as_str()))
            .expression_attribute_values(":why", s(reason))
            .expression_attribute_values(":a", s(account))
            .expression_attribute_values(":u", n(now))
            .build()
            .map_err(|e| Error::dynamo("TransactWriteItems", e))?;
        let ev = EventItem::new(
            account,
            EventType::PageDisconnected,
            None,
            json!({"page_id": page_id, "reason": reason}),
            now,
        );
        self.update_with_event(upd, Some(&ev)).await
    }
}
