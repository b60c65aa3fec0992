//! Contacts: one per (Page, person), or per lead without a Messenger id. A contact points at
//! its open conversation, which makes "one open conversation per person" a conditional write.

use serde::{Deserialize, Serialize};

use super::*;
use crate::store::update::UpdateExpr;
use aws_sdk_dynamodb::types::Update;

use crate::domain::{Channel, ConversationStatus, EventType, MessageStatus, ProfileStatus};
use crate::{Error, Result};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct ContactItem {
    pub(in crate::store) pk: String,
    pub(in crate::store) sk: String,
    pub account: String,
    pub id: String,
    pub page_id: String,
    pub facebook_id: String,
    pub name: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub picture_url: Option<String>,
    /// Instagram: the person's @handle (from the Instagram user profile).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    pub profile_status: ProfileStatus,
    /// When to ask the User Profile API again after a refusal.
    pub profile_retry_at: Option<i64>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub active_conversation_id: Option<String>,
    pub last_conversation_id: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    /// Erased on request (`DELETE /contacts/{id}`): names, picture and profile are gone.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub erased: bool,
    /// Meta's receipt watermarks for the person's thread with the Page: every message sent
    /// at or before one was delivered (read). Kept on the contact, not the conversation,
    /// because they belong to the thread (they cover the messages of earlier conversations
    /// too) and because the contact is in no index: moving one writes one small item.
    pub delivered_watermark: Option<i64>,
    pub read_watermark: Option<i64>,
    /// Every search term the contact was ever written under (a string set only `ADD`ed to, by
    /// `index_contact`, and removed by erasure, which deletes those rows).
    #[serde(default, skip_serializing)]
    pub search_terms: std::collections::BTreeSet<String>,
}

/// A thread's receipt watermarks, which turn a sent message delivered or read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Watermarks {
    pub delivered: Option<i64>,
    pub read: Option<i64>,
}

/// Which of Meta's receipts: a delivery or a read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Receipt {
    Delivered,
    Read,
}

impl Receipt {
    const fn attribute(self) -> &'static str {
        match self {
            Receipt::Delivered => "delivered_watermark",
            Receipt::Read => "read_watermark",
        }
    }

    const fn status(self) -> MessageStatus {
        match self {
            Receipt::Delivered => MessageStatus::Delivered,
            Receipt::Read => MessageStatus::Read,
        }
    }
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

    pub fn watermarks(&self) -> Watermarks {
        Watermarks {
            delivered: self.delivered_watermark,
            read: self.read_watermark,
        }
    }

    fn watermark(&self, r: Receipt) -> Option<i64> {
        match r {
            Receipt::Delivered => self.delivered_watermark,
            Receipt::Read => self.read_watermark,
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

    /// Moves one of the person's watermarks forward to `watermark` (never back) and announces
    /// it as `message.status` in conversation `conv`. Nothing is written when `contact`, as
    /// read, is already there: repeats and late receipts cost the read only. The event goes
    /// first, then the watermark, both plain writes (a transaction would bill each twice): a
    /// receipt redelivered after a crash between the two finds the watermark unmoved and
    /// announces it again, so the event is never lost and at worst said twice. `Ok(false)`:
    /// nothing moved.
    pub async fn advance_watermark(
        &self,
        contact: &ContactItem,
        conv: &str,
        receipt: Receipt,
        watermark: i64,
        now: i64,
    ) -> Result<bool> {
        if contact.watermark(receipt).is_some_and(|w| w >= watermark) {
            return Ok(false);
        }
        let event = EventItem::new(
            &contact.account,
            EventType::MessageStatus,
            Some(conv),
            serde_json::json!({"status": receipt.status(), "up_to": crate::clock::rfc3339(watermark)}),
            now,
        );
        self.put_event(&event).await?;
        let res = self
            .update_row(&contact.pk, &contact.sk)
            .update_expression("SET #w = :w")
            .condition_expression("attribute_exists(pk) AND (attribute_not_exists(#w) OR #w < :w)")
            .expression_attribute_names("#w", receipt.attribute())
            .expression_attribute_values(":w", n(watermark))
            .send()
            .await;
        written(res, "UpdateItem")
    }

    /// Creates the contact unless it exists (with its search rows); `Ok(false)` when it
    /// already did.
    pub async fn create_contact(&self, c: &ContactItem) -> Result<bool> {
        let created = self.put_if_absent(c).await?;
        if created {
            self.index_contact(c).await?;
        }
        Ok(created)
    }

    /// Records the outcome of a User Profile API call on the contact.
    pub async fn update_contact_profile(&self, c: &ContactItem, now: i64) -> Result<()> {
        let mut u = UpdateExpr::new();
        u.set("profile_status = :ps")
            .value(":ps", s(c.profile_status.as_str()))
            .set("updated_at = :u")
            .value(":u", n(now))
            .set_present(
                &[
                    c.names().as_slice(),
                    &[("picture_url", &c.picture_url), ("username", &c.username)],
                ]
                .concat(),
            )
            .set_or_remove("profile_retry_at", ":r", c.profile_retry_at.map(n));
        self.update_item(u.build(&self.table, &c.pk, &c.sk)?)
            .send()
            .await
            .map_err(failed("UpdateItem"))?;
        // `c` is the contact as read, with the rows it has: only a new name is written.
        self.index_contact(c).await?;
        Ok(())
    }

    /// Creates or updates a contact from what a lead form or a comment told us. Fields already
    /// known are kept unless the new value is present.
    pub async fn upsert_contact(&self, c: &ContactItem, now: i64) -> Result<ContactItem> {
        let mut u = UpdateExpr::new();
        u.set("account = :a")
            .value(":a", s(&c.account))
            .set("id = :id")
            .value(":id", s(&c.id))
            .set("page_id = :pg")
            .value(":pg", s(&c.page_id))
            .set("facebook_id = if_not_exists(facebook_id, :fb)")
            .value(":fb", s(&c.facebook_id))
            .set("profile_status = if_not_exists(profile_status, :ps)")
            .value(":ps", s(c.profile_status.as_str()))
            .set("created_at = if_not_exists(created_at, :now)")
            .set("updated_at = :now")
            .value(":now", n(now))
            .set_present(
                &[
                    c.names().as_slice(),
                    &[
                        ("email", &c.email),
                        ("phone", &c.phone),
                        ("username", &c.username),
                    ],
                ]
                .concat(),
            );
        let out = self
            .update_item(u.build(&self.table, &c.pk, &c.sk)?)
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .await
            .map_err(failed("UpdateItem"))?;
        let contact: ContactItem = out
            .attributes
            .map(from_item)
            .transpose()?
            .ok_or_else(|| Error::Corrupt("upsert returned nothing".into()))?;
        self.index_contact(&contact).await?;
        Ok(contact)
    }

    /// Forgets what a person told us: the contact's names, picture, profile, email and
    /// phone, and the text and attachments of every message they wrote (in their own
    /// conversations and under posts). The conversations keep their shape. Returns
    /// (conversations, messages, object keys of their stored media) touched, or `None` when
    /// there is no such contact. Run again,
    /// it finds nothing left to erase and writes the same marks.
    pub async fn erase_contact(
        &self,
        account: &str,
        contact_id: &str,
        now: i64,
    ) -> Result<Option<(usize, usize, Vec<String>)>> {
        let Some(c) = self.get_contact(account, contact_id).await? else {
            return Ok(None);
        };
        // An account's conversation list, filtered: erasure is rare and must be complete,
        // which a pointer chain (previous conversation) would not be for comment threads.
        // Every channel whose threads many people write in (Facebook's and Instagram's
        // comments), asked of the channel itself so a new one cannot be left out.
        let shared: Vec<(String, AttributeValue)> = Channel::ALL
            .iter()
            .filter(|ch| ch.shared_by_many())
            .enumerate()
            .map(|(i, ch)| (format!(":ch{i}"), s(ch.as_str())))
            .collect();
        let filter = format!(
            "contact_id = :c OR #ch IN ({})",
            shared
                .iter()
                .map(|(k, _)| k.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
        let mut values: Vec<(&str, AttributeValue)> = vec![(":c", s(contact_id))];
        values.extend(shared.iter().map(|(k, v)| (k.as_str(), v.clone())));
        let convs: Vec<ConversationItem> = self
            .conversations_where(
                account,
                ConversationStatus::ALL,
                &filter,
                &[("#ch", "channel")],
                &values,
            )
            .await?;
        let (mut touched, mut messages) = (0, 0);
        let mut media_keys = Vec::new();
        for conv in &convs {
            let msgs: Vec<Message> = self
                .query_all(
                    self.client
                        .query()
                        .table_name(&self.table)
                        .key_condition_expression("pk = :p AND begins_with(sk, :m)")
                        .filter_expression("author_id = :c")
                        .expression_attribute_values(":p", s(&conv.pk))
                        .expression_attribute_values(":m", s("MSG#"))
                        .expression_attribute_values(":c", s(contact_id)),
                )
                .await?;
            for m in &msgs {
                // The media keys come from the message as the erasing write found it (its old
                // image), not as the query read it: a copy that landed in between is named
                // there, and one that lands after finds its attachment gone and removes its
                // object itself (the router's `on_media`).
                let old = self
                    .update_row(&m.pk(), &m.sk())
                    .update_expression("SET erased = :t REMOVE #a0, #a1, #a2, #a3, #a4, #a5, #a6")
                    .condition_expression("attribute_exists(pk)")
                    .set_expression_attribute_names(Some(
                        [
                            "text",
                            "attachments",
                            "quick_reply_payload",
                            "postback",
                            "referral",
                            "lead",
                            "reply_to_mid",
                        ]
                        .iter()
                        .enumerate()
                        .map(|(i, a)| (format!("#a{i}"), (*a).to_owned()))
                        .collect(),
                    ))
                    .expression_attribute_values(":t", AttributeValue::Bool(true))
                    .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
                    .send()
                    .await
                    .map_err(failed("UpdateItem"))?;
                let was: Option<Message> = old.attributes.map(from_item).transpose()?;
                media_keys.extend(
                    was.iter()
                        .flat_map(|m| &m.attachments)
                        .filter_map(|a| a.key.clone())
                        .filter(|k| k.starts_with("media/")),
                );
            }
            messages += msgs.len();
            if conv.contact_id == contact_id {
                // The list's preview may quote the person: it goes too (the next message sets
                // a new one).
                self.update_row(&conv.pk, &conv.sk)
                    .update_expression(
                        "SET contact_erased = :t, updated_at = :u REMOVE #cn, #cp, last_message",
                    )
                    .expression_attribute_names("#cn", "contact_name")
                    .expression_attribute_names("#cp", "contact_picture_url")
                    .condition_expression("attribute_exists(pk)")
                    .expression_attribute_values(":t", AttributeValue::Bool(true))
                    .expression_attribute_values(":u", n(now))
                    .send()
                    .await
                    .map_err(failed("UpdateItem"))?;
            } else if !msgs.is_empty() {
                // Someone else's comment thread the person wrote in.
                self.update_row(&conv.pk, &conv.sk)
                    .update_expression("REMOVE last_message")
                    .condition_expression("attribute_exists(pk)")
                    .send()
                    .await
                    .map_err(failed("UpdateItem"))?;
            }
            if conv.contact_id == contact_id || !msgs.is_empty() {
                touched += 1;
            }
        }
        let upd = Update::builder()
            .table_name(&self.table)
            .key("pk", s(&c.pk))
            .key("sk", s(&c.sk))
            // No new profile lookup either: the person asked to be forgotten.
            .update_expression("SET erased = :t, profile_status = :ps, profile_retry_at = :never, updated_at = :u REMOVE #name, first_name, last_name, picture_url, username, email, phone")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#name", "name")
            .expression_attribute_values(":t", AttributeValue::Bool(true))
            .expression_attribute_values(":ps", s(ProfileStatus::Unavailable.as_str()))
            .expression_attribute_values(":never", n(i64::MAX / 2))
            .expression_attribute_values(":u", n(now))
            .build()
            .map_err(|e| Error::dynamo("UpdateItem", e))?;
        let ev = EventItem::new(
            account,
            EventType::ContactErased,
            None,
            // The Page, so a Page-scoped webhook takes the erasure of its own contacts only.
            serde_json::json!({"contact_id": contact_id, "page_id": c.page_id, "conversations": touched, "messages": messages}),
            now,
        );
        self.update_with_event(upd, Some(&ev)).await?;
        // Its search rows hold its name, email and phone. Read again after the mark: a row
        // recorded meanwhile is in the set now, and none can be added after it.
        if let Some(marked) = self.get_contact(account, contact_id).await? {
            self.unindex_contact(&marked).await?;
        }
        Ok(Some((touched, messages, media_keys)))
    }
}
