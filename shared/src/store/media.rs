//! Media bookkeeping: one guard per copied source URL (so a URL is copied once, and two
//! routers never copy it at the same time), the attachment marks on messages, and agents'
//! uploads.

use aws_sdk_dynamodb::types::{AttributeValue, Update};
use serde::{Deserialize, Serialize};

use super::*;
use crate::{Error, Result};

/// The copy of one source URL: `ACC#<a>#MEDIA#<url hash>` / `MEDIA`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct MediaItem {
    pub(in crate::store) pk: String,
    pub(in crate::store) sk: String,
    /// `copying`, `stored` or `failed`.
    pub status: String,
    pub key: Option<String>,
    pub content_type: Option<String>,
    pub size: Option<i64>,
    pub error: Option<String>,
    /// A copying router holds the guard until then; after it, another may take over.
    pub lease_until: Option<i64>,
}

impl MediaItem {
    /// The outcome of a copy that worked: our object at `key` (see [`Store::finish_media`]).
    pub fn stored(key: String, content_type: String, size: i64) -> Self {
        MediaItem {
            status: "stored".into(),
            key: Some(key),
            content_type: Some(content_type),
            size: Some(size),
            ..Default::default()
        }
    }

    /// The outcome of a copy given up, with why.
    pub fn failed(why: String) -> Self {
        MediaItem {
            status: "failed".into(),
            error: Some(why),
            ..Default::default()
        }
    }
}

pub enum MediaClaim {
    /// Ours to copy.
    Mine,
    /// Copied (or given up) before: reuse the outcome.
    Done(MediaItem),
    /// Someone is copying it now.
    Busy,
}

/// An agent's file for a reply (`POST /uploads`): `ACC#<a>` / `UPLOAD#<id>`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct UploadItem {
    pub(in crate::store) pk: String,
    pub(in crate::store) sk: String,
    pub id: String,
    pub filename: String,
    pub content_type: String,
    pub size: i64,
    pub key: String,
    pub created_at: i64,
}

impl UploadItem {
    pub fn new(
        account: &str,
        id: &str,
        filename: &str,
        content_type: &str,
        size: i64,
        now: i64,
    ) -> Self {
        UploadItem {
            pk: keys::account(account),
            sk: format!("UPLOAD#{id}"),
            id: id.to_owned(),
            filename: filename.to_owned(),
            content_type: content_type.to_owned(),
            size,
            key: crate::adapters::bucket::upload_key(account, id),
            created_at: now,
        }
    }
}

fn media_pk(account: &str, hash: &str) -> String {
    format!("ACC#{account}#MEDIA#{hash}")
}

impl Store {
    /// Takes the copy of a URL, unless it was made (or given up) or is being made.
    pub async fn claim_media(
        &self,
        account: &str,
        hash: &str,
        now: i64,
        lease_ms: i64,
    ) -> Result<MediaClaim> {
        let item = MediaItem {
            pk: media_pk(account, hash),
            sk: "MEDIA".into(),
            status: "copying".into(),
            lease_until: Some(now + lease_ms),
            ..Default::default()
        };
        if self.put_if_absent(&item).await? {
            return Ok(MediaClaim::Mine);
        }
        let Some(found) = self
            .get::<MediaItem>(item.pk.clone(), item.sk.clone(), true)
            .await?
        else {
            return Ok(MediaClaim::Busy);
        };
        if found.status != "copying" {
            return Ok(MediaClaim::Done(found));
        }
        // A copier that died: take its lease over.
        let res = self
            .update_row(&item.pk, &item.sk)
            .update_expression("SET lease_until = :l")
            .condition_expression("#st = :copying AND lease_until < :now")
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":copying", s("copying"))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":l", n(now + lease_ms))
            .send()
            .await;
        Ok(if written(res, "UpdateItem")? {
            MediaClaim::Mine
        } else {
            MediaClaim::Busy
        })
    }

    /// Records the copy's outcome for every later message with the same URL; a stored copy's
    /// first user is `user`, the author of the message it was made for (see
    /// [`Store::drop_media_user`]).
    pub async fn finish_media(
        &self,
        account: &str,
        hash: &str,
        mut item: MediaItem,
        user: Option<&str>,
    ) -> Result<()> {
        item.pk = media_pk(account, hash);
        item.sk = "MEDIA".into();
        item.lease_until = None;
        let mut row = to_item(&item)?;
        if let (Some(u), "stored") = (user, item.status.as_str()) {
            row.insert("users".into(), AttributeValue::Ss(vec![u.to_owned()]));
        }
        self.put_map(row).await
    }

    /// A message of `user` uses the stored copy of a URL too. Copies are shared per URL within
    /// an account (a sticker has the same URL for everyone), so each keeps the set of the
    /// authors whose messages point at it.
    pub async fn media_used_by(&self, account: &str, hash: &str, user: &str) -> Result<()> {
        let res = self
            .update_row(&media_pk(account, hash), "MEDIA")
            .update_expression("ADD #users :u")
            .condition_expression("#st = :stored")
            .expression_attribute_names("#users", "users")
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":u", AttributeValue::Ss(vec![user.to_owned()]))
            .expression_attribute_values(":stored", s("stored"))
            .send()
            .await;
        written(res, "UpdateItem").map(|_| ())
    }

    /// Erasure: `user` no longer uses the copy at object `key`. `Ok(true)` when nobody else is
    /// known to, and the copy's guard is then gone, so no later message reuses the object the
    /// caller deletes next. A copy whose users were never recorded (made before they were) is
    /// kept: it may be someone else's too, and the bucket's lifecycle removes it in time.
    pub async fn drop_media_user(&self, account: &str, key: &str, user: &str) -> Result<bool> {
        let hash = key.rsplit('/').next().unwrap_or_default();
        let pk = media_pk(account, hash);
        if !self.was_last_media_user(&pk, user, false).await? {
            return Ok(false);
        }
        // The last user: the guard goes (unless someone started using it meanwhile).
        let res = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(&pk))
            .key("sk", s("MEDIA"))
            .condition_expression("attribute_not_exists(#users)")
            .expression_attribute_names("#users", "users")
            .send()
            .await;
        match res {
            Ok(_) => Ok(true),
            Err(e) if is_conditional(&e) => Ok(false),
            Err(e) => Err(failed("DeleteItem")(e)),
        }
    }

    /// A copy made for `user`'s message that was erased while it was being made: `user` no
    /// longer uses it, and when nobody else does the guard says so (`failed`, an update: the
    /// router has no DeleteItem right), so no later message points at the object the caller
    /// deletes next. `Ok(true)` when the object is to be deleted.
    pub async fn abandon_media(&self, account: &str, hash: &str, user: &str) -> Result<bool> {
        let pk = media_pk(account, hash);
        if !self.was_last_media_user(&pk, user, true).await? {
            return Ok(false);
        }
        let res = self
            .update_row(&pk, "MEDIA")
            .update_expression("SET #st = :failed, #err = :why REMOVE #key")
            .condition_expression("#st = :stored AND attribute_not_exists(#users)")
            .expression_attribute_names("#users", "users")
            .expression_attribute_names("#st", "status")
            .expression_attribute_names("#err", "error")
            .expression_attribute_names("#key", "key")
            .expression_attribute_values(":stored", s("stored"))
            .expression_attribute_values(":failed", s("failed"))
            .expression_attribute_values(":why", s("the person who sent it was erased"))
            .send()
            .await;
        written(res, "UpdateItem")
    }

    /// Takes `user` out of the guard's users; `Ok(true)` when nobody is left. Erasure
    /// (`drop_media_user`) asks of a guard that records users, the copier (`abandon_media`) of
    /// one whose copy is `stored` (`stored_only`).
    async fn was_last_media_user(&self, pk: &str, user: &str, stored_only: bool) -> Result<bool> {
        let mut u = self
            .update_row(pk, "MEDIA")
            .update_expression("DELETE #users :u")
            .expression_attribute_names("#users", "users")
            .expression_attribute_values(":u", AttributeValue::Ss(vec![user.to_owned()]))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew);
        u = if stored_only {
            u.condition_expression("#st = :stored")
                .expression_attribute_names("#st", "status")
                .expression_attribute_values(":stored", s("stored"))
        } else {
            u.condition_expression("attribute_exists(#users)")
        };
        match u.send().await {
            Ok(out) => Ok(!out.attributes.is_some_and(|a| a.contains_key("users"))),
            Err(e) if is_conditional(&e) => Ok(false),
            Err(e) => Err(failed("UpdateItem")(e)),
        }
    }

    /// Lets go of a copy that failed for now, so a later try may take it: its lease ends now
    /// (an update, not a delete, so the router needs no DeleteItem right).
    pub async fn release_media(&self, account: &str, hash: &str) -> Result<()> {
        let res = self
            .update_row(&media_pk(account, hash), "MEDIA")
            .update_expression("SET lease_until = :ended")
            .condition_expression("#st = :copying")
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":copying", s("copying"))
            .expression_attribute_values(":ended", n(0))
            .send()
            .await;
        written(res, "UpdateItem").map(|_| ())
    }

    /// Marks attachment `index` of a message stored (our copy at `key`) or failed, with the
    /// event that tells front ends. `Ok(false)` when the message or the attachment is gone
    /// (erased meanwhile).
    pub async fn mark_attachment(
        &self,
        msg: &Message,
        index: usize,
        outcome: &MediaItem,
        event: Option<&EventItem>,
    ) -> Result<bool> {
        let at = format!("attachments[{index}]");
        let mut b = Update::builder()
            .table_name(&self.table)
            .key("pk", s(msg.pk()))
            .key("sk", s(msg.sk()))
            .condition_expression(format!("attribute_exists({at})"))
            .expression_attribute_names("#stored", "stored");
        let expr = if outcome.status == "stored" {
            b = b
                .expression_attribute_names("#key", "key")
                .expression_attribute_names("#size", "size")
                .expression_attribute_values(":t", AttributeValue::Bool(true))
                .expression_attribute_values(":k", s(outcome.key.clone().unwrap_or_default()))
                .expression_attribute_values(
                    ":ct",
                    s(outcome.content_type.clone().unwrap_or_default()),
                )
                .expression_attribute_values(":sz", n(outcome.size.unwrap_or(0)));
            format!(
                "SET {at}.#stored = :t, {at}.#key = :k, {at}.content_type = :ct, {at}.#size = :sz REMOVE {at}.store_error"
            )
        } else {
            b = b
                .expression_attribute_values(":f", AttributeValue::Bool(false))
                .expression_attribute_values(
                    ":e",
                    s(outcome
                        .error
                        .clone()
                        .unwrap_or_else(|| "copy failed".into())),
                );
            format!("SET {at}.#stored = :f, {at}.store_error = :e")
        };
        let upd = b
            .update_expression(expr)
            .build()
            .map_err(|e| Error::dynamo("UpdateItem", e))?;
        self.update_with_event(upd, event).await
    }

    pub async fn put_upload(&self, u: &UploadItem) -> Result<()> {
        self.put(u).await
    }

    pub async fn get_upload(&self, account: &str, id: &str) -> Result<Option<UploadItem>> {
        self.get(keys::account(account), format!("UPLOAD#{id}"), false)
            .await
    }

    /// The Page's sends met Meta's EU/Japan privacy restriction (10/2018336): replies with
    /// anything but images are flagged from then on.
    pub async fn flag_privacy_restricted(&self, page_id: &str, now: i64) -> Result<()> {
        let res = self
            .update_row(&keys::page(page_id), keys::PAGE_SK)
            .update_expression("SET privacy_restricted_at = :t")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":t", n(now))
            .send()
            .await;
        written(res, "UpdateItem").map(|_| ())
    }
}
