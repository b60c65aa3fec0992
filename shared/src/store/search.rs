//! Contact search rows: `ACC#<a>#SEARCH` / `<term>#<contact id>` for each term of
//! `domain::search::contact_terms`, so a search is one Query per prefix (`begins_with`) and a
//! BatchGetItem of the contacts it names, whatever the table's size. Rows are only added
//! while a contact lives (a renamed contact's old rows stay, and a hit is checked against the
//! contact as it is now); erasure deletes every row the contact was written under.

use aws_sdk_dynamodb::types::AttributeValue;
use futures::future::try_join_all;

use super::*;
use crate::Result;
use crate::domain::search::{self, Plan};

/// At most this many rows are read per prefix: a very common prefix answers from the first
/// ones (a longer query narrows it).
const ROWS_PER_PREFIX: i32 = 200;

impl ContactItem {
    /// The terms the contact is found by, as it is now.
    pub fn terms(&self) -> Vec<String> {
        search::contact_terms(
            &[
                self.name.as_deref(),
                self.first_name.as_deref(),
                self.last_name.as_deref(),
            ],
            self.email.as_deref(),
            self.phone.as_deref(),
            &self.facebook_id,
        )
    }
}

impl Store {
    /// Writes the contact's search rows it does not have yet. The record of them goes first,
    /// so erasure knows of every row that may exist.
    pub async fn index_contact(&self, c: &ContactItem) -> Result<usize> {
        if c.erased {
            return Ok(0);
        }
        let new: Vec<String> = c
            .terms()
            .into_iter()
            .filter(|t| !c.search_terms.contains(t))
            .collect();
        if new.is_empty() {
            return Ok(0);
        }
        self.update_row(&c.pk, &c.sk)
            .update_expression("ADD search_terms :t")
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(erased)")
            .expression_attribute_values(":t", AttributeValue::Ss(new.clone()))
            .send()
            .await
            .map_err(failed("UpdateItem"))?;
        try_join_all(new.iter().map(|t| {
            self.client
                .put_item()
                .table_name(&self.table)
                .item("pk", s(keys::contact_search(&c.account)))
                .item("sk", s(format!("{t}#{}", c.id)))
                .item("contact_id", s(&c.id))
                .send()
        }))
        .await
        .map_err(failed("PutItem"))?;
        Ok(new.len())
    }

    /// The account's contacts that answer `plan` as they are now, up to `limit`, not erased.
    pub async fn search_contacts(
        &self,
        account: &str,
        plan: &Plan,
        limit: usize,
    ) -> Result<Vec<ContactItem>> {
        let mut ids: Vec<String> = Vec::new();
        for prefix in &plan.prefixes {
            let res = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :p AND begins_with(sk, :t)")
                .expression_attribute_values(":p", s(keys::contact_search(account)))
                .expression_attribute_values(":t", s(prefix))
                .limit(ROWS_PER_PREFIX)
                .send()
                .await
                .map_err(failed("Query"))?;
            for item in res.items.unwrap_or_default() {
                if let Some(id) = item.get("contact_id").and_then(|v| v.as_s().ok())
                    && !ids.contains(id)
                {
                    ids.push(id.clone());
                }
            }
        }
        let keys = ids
            .iter()
            .map(|id| (keys::account(account), keys::contact_sk(id)))
            .collect();
        let mut found: Vec<ContactItem> = self.batch_get_rows(keys, false).await?;
        found.retain(|c| !c.erased && search::matches(plan, &c.terms()));
        found.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
        found.truncate(limit);
        Ok(found)
    }

    /// Deletes every search row the contact was written under (erasure).
    pub(crate) async fn unindex_contact(&self, c: &ContactItem) -> Result<()> {
        try_join_all(c.search_terms.iter().map(|t| {
            self.client
                .delete_item()
                .table_name(&self.table)
                .key("pk", s(keys::contact_search(&c.account)))
                .key("sk", s(format!("{t}#{}", c.id)))
                .send()
        }))
        .await
        .map_err(failed("DeleteItem"))?;
        self.update_row(&c.pk, &c.sk)
            .update_expression("REMOVE search_terms")
            .send()
            .await
            .map_err(failed("UpdateItem"))?;
        Ok(())
    }
}
