//! Contact search rows: `ACC#<a>#SEARCH` / `<term>#<contact id>` for each term of
//! `domain::search::contact_terms`, so a search is one Query per prefix (`begins_with`) and a
//! BatchGetItem of the contacts it names, whatever the table's size. Rows are only added
//! while a contact lives (a renamed contact's old rows stay, and a hit is checked against the
//! contact as it is now); erasure deletes every row the contact was written under.

use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, Put, TransactWriteItem};
use futures::future::try_join_all;

use super::*;
use crate::domain::search::{self, Plan};
use crate::{Error, Result};

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
    /// Writes the contact's search rows it does not have yet: first the record of their
    /// terms, so erasure knows of every row that may exist, then the rows, each written only
    /// while the contact is not erased (see [`Store::write_search_rows`]).
    pub async fn index_contact(&self, c: &ContactItem) -> Result<usize> {
        let terms = self.record_search_terms(c).await?;
        self.write_search_rows(c, &terms).await
    }

    /// The contact's terms it has no rows for yet, recorded on the contact (none if it is
    /// erased).
    pub async fn record_search_terms(&self, c: &ContactItem) -> Result<Vec<String>> {
        if c.erased {
            return Ok(Vec::new());
        }
        let new: Vec<String> = c
            .terms()
            .into_iter()
            .filter(|t| !c.search_terms.contains(t))
            .collect();
        if new.is_empty() {
            return Ok(new);
        }
        self.update_row(&c.pk, &c.sk)
            .update_expression("ADD search_terms :t")
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(erased)")
            .expression_attribute_values(":t", AttributeValue::Ss(new.clone()))
            .send()
            .await
            .map_err(failed("UpdateItem"))?;
        Ok(new)
    }

    /// The search rows of recorded `terms`, in transactions that also check the contact is
    /// not erased: an erasure that ran since the terms were recorded may have read them
    /// before these rows existed, and would then leave them behind. After the erasure's mark
    /// no row can be written; before it, the erasure deletes every recorded one. A transaction
    /// bills twice (2 write units a row and 2 for the check); indexing runs when a contact is
    /// made or its profile changes, not per message. `Ok(0)` when the contact was erased.
    pub async fn write_search_rows(&self, c: &ContactItem, terms: &[String]) -> Result<usize> {
        // A transaction takes 100 items: the check and 99 rows.
        for chunk in terms.chunks(99) {
            let check = ConditionCheck::builder()
                .table_name(&self.table)
                .key("pk", s(&c.pk))
                .key("sk", s(&c.sk))
                .condition_expression("attribute_exists(pk) AND attribute_not_exists(erased)")
                .build()
                .map_err(|e| Error::dynamo("TransactWriteItems", e))?;
            let mut items = vec![TransactWriteItem::builder().condition_check(check).build()];
            for t in chunk {
                let put = Put::builder()
                    .table_name(&self.table)
                    .item("pk", s(keys::contact_search(&c.account)))
                    .item("sk", s(format!("{t}#{}", c.id)))
                    .item("contact_id", s(&c.id))
                    .build()
                    .map_err(|e| Error::dynamo("TransactWriteItems", e))?;
                items.push(TransactWriteItem::builder().put(put).build());
            }
            if !self.transact_guarded(items).await? {
                return Ok(0);
            }
        }
        Ok(terms.len())
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
