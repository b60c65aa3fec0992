//! Contacts: one per (Page, person), or per lead without a Messenger id. A contact points at
//! its open conversation, which makes "one open conversation per person" a conditional write.

use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use serde::{Deserialize, Serialize};

use super::*;
use crate::domain::ProfileStatus;
use crate::{Error, Result};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct ContactItem {
    pub pk: String,
    pub sk: String,
    pub account: String,
    pub id: String,
    pub page_id: String,
    pub facebook_id: String,
    pub name: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub picture_url: Option<String>,
    pub profile_status: ProfileStatus,
    /// When to ask the User Profile API again after a refusal.
    pub profile_retry_at: Option<i64>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub active_conversation_id: Option<String>,
    pub last_conversation_id: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl ContactItem {
    /// The name attributes, as stored, with their values.
    fn names(&self) -> [(&'static str, &Option<String>); 3] {
        [
            ("name", &self.name),
            ("first_name", &self.first_name),
            ("last_name", &self.last_name),
        ]
    }

    /// A new contact `id` of `account` on `page_id`; profile fields are filled in by the caller.
    pub fn new(account: &str, id: &str, page_id: &str, now: i64) -> Self {
        ContactItem {
            pk: keys::account(account),
            sk: keys::contact_sk(id),
            account: account.to_owned(),
            id: id.to_owned(),
            page_id: page_id.to_owned(),
            created_at: now,
            updated_at: now,
            ..Default::default()
        }
    }
}

impl Store {
    pub async fn get_contact(
        &self,
        account: &str,
        contact_id: &str,
    ) -> Result<Option<ContactItem>> {
        self.get(keys::account(account), keys::contact_sk(contact_id), true)
            .await
    }

    /// Creates the contact unless it exists; `Ok(false)` when it already did.
    pub async fn create_contact(&self, c: &ContactItem) -> Result<bool> {
        self.put_if_absent(c).await
    }

    /// Records the outcome of a User Profile API call on the contact.
    pub async fn update_contact_profile(&self, c: &ContactItem, now: i64) -> Result<()> {
        let mut set = vec![
            "profile_status = :ps".to_owned(),
            "updated_at = :u".to_owned(),
        ];
        let mut remove = vec![];
        let mut req = self
            .update_row(&c.pk, &c.sk)
            .expression_attribute_values(":ps", s(c.profile_status.as_str()))
            .expression_attribute_values(":u", n(now));
        req = set_present(
            req,
            &mut set,
            &[c.names().as_slice(), &[("picture_url", &c.picture_url)]].concat(),
        );
        match c.profile_retry_at {
            Some(t) => {
                set.push("profile_retry_at = :r".into());
                req = req.expression_attribute_values(":r", n(t));
            }
            None => remove.push("profile_retry_at"),
        }
        let expr = set_remove(&set, &remove);
        req.update_expression(expr)
            .send()
            .await
            .map_err(|e| Error::dynamo("UpdateItem", e.into_service_error()))?;
        Ok(())
    }

    /// Creates or updates a contact from what a lead form or a comment told us. Fields already
    /// known are kept unless the new value is present.
    pub async fn upsert_contact(&self, c: &ContactItem, now: i64) -> Result<ContactItem> {
        let set = vec![
            "account = :a",
            "id = :id",
            "page_id = :pg",
            "facebook_id = if_not_exists(facebook_id, :fb)",
            "profile_status = if_not_exists(profile_status, :ps)",
            "created_at = if_not_exists(created_at, :now)",
            "updated_at = :now",
        ];
        let mut req = self
            .update_row(&c.pk, &c.sk)
            .expression_attribute_values(":a", s(&c.account))
            .expression_attribute_values(":id", s(&c.id))
            .expression_attribute_values(":pg", s(&c.page_id))
            .expression_attribute_values(":fb", s(&c.facebook_id))
            .expression_attribute_values(":ps", s(c.profile_status.as_str()))
            .expression_attribute_values(":now", n(now));
        let mut set: Vec<String> = set.into_iter().map(str::to_owned).collect();
        req = set_present(
            req,
            &mut set,
            &[
                c.names().as_slice(),
                &[("email", &c.email), ("phone", &c.phone)],
            ]
            .concat(),
        );
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
}

/// Adds `#attr = :attr` to `set` for each field that has a value (absent fields keep theirs).
fn set_present(
    mut req: UpdateItemFluentBuilder,
    set: &mut Vec<String>,
    fields: &[(&str, &Option<String>)],
) -> UpdateItemFluentBuilder {
    for (attr, value) in fields {
        if let Some(v) = value {
            set.push(format!("#{attr} = :{attr}"));
            req = req
                .expression_attribute_names(format!("#{attr}"), *attr)
                .expression_attribute_values(format!(":{attr}"), s(v));
        }
    }
    req
}
