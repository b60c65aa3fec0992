//! Posts (the owners of comment conversations), lead markers, removed comments.

use super::{ContactItem, MessageItem, PostItem, Store, from_item, keys, n, s, written};
use crate::{Error, Result};

impl Store {
    pub async fn get_post(
        &self,
        account: &str,
        page_id: &str,
        post_id: &str,
    ) -> Result<Option<PostItem>> {
        self.get(
            keys::account(account),
            keys::post_sk(page_id, post_id),
            true,
        )
        .await
    }

    /// Stores the post unless it exists; `Ok(false)` when it did.
    pub async fn create_post(&self, p: &PostItem) -> Result<bool> {
        self.put_if_absent(p).await
    }

    /// Creates or updates a contact from what a lead form or a comment told us. Fields already
    /// known are kept unless the new value is present.
    pub async fn upsert_contact(&self, c: &ContactItem, now: i64) -> Result<ContactItem> {
        let mut set = vec![
            "account = :a",
            "id = :id",
            "page_id = :pg",
            "facebook_id = if_not_exists(facebook_id, :fb)",
            "profile_status = if_not_exists(profile_status, :ps)",
            "created_at = if_not_exists(created_at, :now)",
            "updated_at = :now",
        ];
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(&c.pk))
            .key("sk", s(&c.sk))
            .expression_attribute_values(":a", s(&c.account))
            .expression_attribute_values(":id", s(&c.id))
            .expression_attribute_values(":pg", s(&c.page_id))
            .expression_attribute_values(":fb", s(&c.facebook_id))
            .expression_attribute_values(":ps", s(&c.profile_status))
            .expression_attribute_values(":now", n(now));
        for (attr, v) in [
            ("name", &c.name),
            ("email", &c.email),
            ("phone", &c.phone),
            ("first_name", &c.first_name),
            ("last_name", &c.last_name),
        ] {
            if let Some(v) = v {
                set.push(match attr {
                    "name" => "#name = :name",
                    "email" => "email = :email",
                    "phone" => "phone = :phone",
                    "first_name" => "first_name = :first_name",
                    _ => "last_name = :last_name",
                });
                req = req.expression_attribute_values(format!(":{attr}"), s(v));
                if attr == "name" {
                    req = req.expression_attribute_names("#name", "name");
                }
            }
        }
        let out = req
            .update_expression(format!("SET {}", set.join(", ")))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .await
            .map_err(|e| Error::dynamo("UpdateItem", e.into_service_error()))?;
        out.attributes
            .map(from_item)
            .transpose()?
            .ok_or_else(|| Error::Corrupt("upsert returned nothing".into()))
    }

    /// A marker under the account that a lead conversation hangs from (its owner pointer).
    pub async fn create_marker(&self, account: &str, sk: &str, now: i64) -> Result<bool> {
        let res = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(keys::account(account)))
            .item("sk", s(sk))
            .item("created_at", n(now))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        written(res, "PutItem")
    }

    /// A comment removed on Facebook stays in the conversation, marked removed.
    pub async fn mark_removed(&self, m: &MessageItem, at: i64) -> Result<()> {
        let res = self
            .update_message(m)
            .update_expression("SET removed_at = :t")
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(removed_at)")
            .expression_attribute_values(":t", n(at))
            .send()
            .await;
        written(res, "UpdateItem").map(|_| ())
    }
}
