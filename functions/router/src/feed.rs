//! `changes[]`: Page feed comments and lead-ad forms.
//!
//! Comments: a contact for the commenter (found again by their Facebook id), one open
//! conversation per post whose subject and first entry are the post's text (fetched once),
//! each comment a message, replies kept in their thread, edits and removals reflected. The
//! Page's own comments are the Page's messages (and our own public replies coming back are
//! matched to what we sent), never a contact.
//!
//! Leads: the answers are fetched with the Page token, the contact is created or updated from
//! them, and each lead is a conversation. A lead Meta will not give us (the App Dashboard's
//! test leads) is recorded as such instead of being retried.

use pagedesk_shared::adapters::graph::GraphError;
use pagedesk_shared::domain::{
    AuthorType, Channel, Direction, MessageKind, MessageStatus, ProfileStatus,
};
use pagedesk_shared::meta::event::timestamp_ms;
use pagedesk_shared::meta::webhook::id_string;
use pagedesk_shared::store::{AppendOutcome, ContactItem, Message, PageItem, PostItem, SentPart};
use serde_json::{Value, json};

use crate::messaging::Anchor;
use crate::{Router, RouterError};

impl Router {
    /// Appends a comment to its post's conversation (`channel`: a Page post's comments or an
    /// Instagram media item's). Comments do not open a messaging window, so they are not
    /// "inbound" for the window.
    pub(crate) async fn append_comment(
        &self,
        page: &PageItem,
        contact: ContactItem,
        post: PostItem,
        msg: Message,
        comment_id: &str,
        channel: Channel,
    ) -> Result<AppendOutcome, RouterError> {
        self.append(
            page,
            contact,
            &Anchor::Post { post, channel },
            msg,
            comment_id,
            false,
        )
        .await
    }

    /// When a change happened: its `created_time`, else now (Meta leaves it out of some).
    fn change_time(&self, v: &Value) -> i64 {
        v.get("created_time")
            .and_then(timestamp_ms)
            .unwrap_or_else(|| self.clock.now_ms())
    }

    pub(crate) async fn on_change(
        &self,
        page: &PageItem,
        field: &str,
        value: &Value,
    ) -> Result<(), RouterError> {
        match field {
            "feed" => self.on_feed(page, value).await,
            "leadgen" => self.on_lead(page, value).await,
            other => {
                tracing::info!(field = other, "change kind not handled; skipped");
                Ok(())
            }
        }
    }

    async fn on_feed(&self, page: &PageItem, v: &Value) -> Result<(), RouterError> {
        let item = v.get("item").and_then(Value::as_str).unwrap_or("");
        let verb = v.get("verb").and_then(Value::as_str).unwrap_or("");
        match (item, verb) {
            ("comment", "add") => self.comment_added(page, v).await,
            ("comment", "edited" | "edit") => self.comment_edited(page, v).await,
            ("comment", "remove" | "hide") => self.comment_removed(page, v).await,
            ("status" | "post" | "photo" | "video", "edited") => self.post_edited(page, v).await,
            _ => {
                // Reactions, likes, shares and new posts add nothing to a conversation.
                tracing::info!(item, verb, "feed change recorded as seen; nothing to do");
                Ok(())
            }
        }
    }

    async fn comment_added(&self, page: &PageItem, v: &Value) -> Result<(), RouterError> {
        let (Some(comment_id), Some(post_id), Some(from)) = (
            v.get("comment_id").and_then(id_string),
            v.get("post_id").and_then(id_string),
            v.pointer("/from/id").and_then(id_string),
        ) else {
            tracing::warn!("comment without comment, post or author id; skipped");
            return Ok(());
        };
        let at = self.change_time(v);
        let text = v.get("message").and_then(Value::as_str).map(str::to_owned);
        let parent = v
            .get("parent_id")
            .and_then(id_string)
            .filter(|p| *p != post_id);
        if from == page.page_id {
            return self
                .page_comment(
                    page,
                    &post_id,
                    &comment_id,
                    parent.as_deref(),
                    text,
                    at,
                    Channel::Comment,
                )
                .await;
        }
        let name = v
            .pointer("/from/name")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let contact = self
            .commenter(page, &from, name, None, ProfileStatus::Fetched)
            .await?;
        let post = self.post(page, &post_id, Channel::Comment).await?;
        let msg = Message {
            direction: Direction::In,
            author_type: AuthorType::Contact,
            author_id: Some(contact.id.clone()),
            text,
            attachments: photo(v),
            status: MessageStatus::Received,
            external_id: Some(comment_id.clone()),
            kind: Some(MessageKind::Comment),
            comment_id: Some(comment_id.clone()),
            comment_created_at: Some(at),
            reply_to_mid: parent,
            created_at: at,
            ..Default::default()
        };
        let outcome = self
            .append_comment(page, contact, post, msg, &comment_id, Channel::Comment)
            .await?;
        tracing::info!(outcome = ?outcome, "comment");
        Ok(())
    }

    /// The Page commented: our own public reply coming back, or a moderator answering on
    /// Facebook. Either way the Page's message, never a contact.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn page_comment(
        &self,
        page: &PageItem,
        post_id: &str,
        comment_id: &str,
        parent: Option<&str>,
        text: Option<String>,
        at: i64,
        channel: Channel,
    ) -> Result<(), RouterError> {
        if self
            .store
            .get_mid(&page.account, comment_id)
            .await?
            .is_some()
        {
            tracing::info!("our public reply came back; already recorded");
            return Ok(());
        }
        let Some(post) = self
            .store
            .get_post(&page.account, &page.page_id, post_id)
            .await?
        else {
            tracing::info!("the Page commented on a post without a conversation; skipped");
            return Ok(());
        };
        if let Some(conv) = post.active_conversation_id.clone() {
            // The webhook can beat the sender's own record of the reply: match it by target
            // and text, and record the comment id on it.
            let recent = self.store.latest_messages(&page.account, &conv, 50).await?;
            if let Some(m) = recent.iter().rev().find(|m| {
                m.direction == Direction::Out
                    && m.status == MessageStatus::Queued
                    && !m.private
                    && m.comment_id.as_deref() == parent
                    && m.text == text
            }) {
                let recorded = self
                    .store
                    .outbound()
                    .record_part(m, SentPart::new(0, comment_id, at), self.clock.now_ms())
                    .await?;
                tracing::info!(recorded, "our public reply confirmed by its feed webhook");
                return Ok(());
            }
        }
        // The Page as the comment's author; never stored (its post's conversation is open).
        let contact = ContactItem::new(
            &page.account,
            &format!("ct_{}_page", page.page_id),
            &page.page_id,
            at,
        );
        let msg = Message {
            direction: Direction::Out,
            author_type: AuthorType::Page,
            author_id: Some(page.page_id.clone()),
            text,
            status: MessageStatus::Sent,
            external_id: Some(comment_id.to_owned()),
            kind: Some(MessageKind::Comment),
            comment_id: Some(comment_id.to_owned()),
            reply_to_mid: parent.map(str::to_owned),
            sent_at: Some(at),
            created_at: at,
            ..Default::default()
        };
        if post.active_conversation_id.is_none() {
            tracing::info!("the Page commented on a post whose conversation is closed; skipped");
            return Ok(());
        }
        let outcome = self
            .append_comment(page, contact, post, msg, comment_id, channel)
            .await?;
        tracing::info!(outcome = ?outcome, "the Page's own comment stored");
        Ok(())
    }

    async fn comment_edited(&self, page: &PageItem, v: &Value) -> Result<(), RouterError> {
        let (Some(comment_id), Some(text)) = (
            v.get("comment_id").and_then(id_string),
            v.get("message").and_then(Value::as_str),
        ) else {
            return Ok(());
        };
        let Some(guard) = self.store.get_mid(&page.account, &comment_id).await? else {
            tracing::info!("edit of a comment we do not have; skipped");
            return Ok(());
        };
        // Feed edits carry no edit counter; the edit's time orders them.
        let at = self.change_time(v);
        self.store
            .edit_message(&page.account, &guard, text, at, at)
            .await?;
        tracing::info!(conversation_id = %guard.conversation_id, "comment edited");
        Ok(())
    }

    async fn comment_removed(&self, page: &PageItem, v: &Value) -> Result<(), RouterError> {
        let Some(comment_id) = v.get("comment_id").and_then(id_string) else {
            return Ok(());
        };
        let Some(guard) = self.store.get_mid(&page.account, &comment_id).await? else {
            tracing::info!("removal of a comment we do not have; skipped");
            return Ok(());
        };
        if let Some(m) = self
            .store
            .get_message(&page.account, &guard.conversation_id, &guard.message_sk)
            .await?
        {
            let at = self.change_time(v);
            self.store.mark_removed(&m, at).await?;
            tracing::info!(conversation_id = %guard.conversation_id, "comment removed");
        }
        Ok(())
    }

    async fn post_edited(&self, page: &PageItem, v: &Value) -> Result<(), RouterError> {
        tracing::info!(
            has_post = v.get("post_id").is_some(),
            "post edited; the conversation keeps the text it opened with"
        );
        let _ = page;
        Ok(())
    }

    /// A commenter's contact, keyed by (Page, the id the comment names): Facebook's comment
    /// names the person (`name`, nothing left to ask: `Fetched`), Instagram's only the handle
    /// (`username`; the name comes from Direct's profile lookup: `Pending`). A contact that
    /// already has what the comment brings is taken as it is.
    pub(crate) async fn commenter(
        &self,
        page: &PageItem,
        user: &str,
        name: Option<String>,
        username: Option<String>,
        status: ProfileStatus,
    ) -> Result<ContactItem, RouterError> {
        let id = pagedesk_shared::ids::contact_id(&page.page_id, user);
        if let Some(c) = self.store.get_contact(&page.account, &id).await?
            && (name.is_none() || c.name.is_some())
            && (username.is_none() || c.username.is_some())
        {
            return Ok(c);
        }
        let now = self.clock.now_ms();
        let mut c = ContactItem::new(&page.account, &id, &page.page_id, now);
        c.facebook_id = user.to_owned();
        c.name = name;
        c.username = username;
        c.profile_status = status;
        Ok(self.store.upsert_contact(&c, now).await?)
    }

    /// The post (a Page's, or an Instagram media item: `channel`), with its text fetched from
    /// Graph the first time it is seen.
    pub(crate) async fn post(
        &self,
        page: &PageItem,
        post_id: &str,
        channel: Channel,
    ) -> Result<PostItem, RouterError> {
        if let Some(p) = self
            .store
            .get_post(&page.account, &page.page_id, post_id)
            .await?
        {
            return Ok(p);
        }
        let mut p = PostItem::new(&page.account, &page.page_id, post_id);
        match self.page_token(page).await {
            Some(token) => match match channel {
                Channel::InstagramComment => self.graph.instagram_media(post_id, &token).await,
                _ => self.graph.post(post_id, &token).await,
            } {
                Ok(v) => {
                    p.text = v
                        .get("message")
                        .or_else(|| v.get("story"))
                        .and_then(Value::as_str)
                        .map(str::to_owned);
                    p.permalink_url = v
                        .get("permalink_url")
                        .and_then(Value::as_str)
                        .map(str::to_owned);
                    p.created_at = v.get("created_time").and_then(graph_time).unwrap_or(0);
                }
                // The conversation still opens; its subject is the post id then.
                Err(e) => tracing::warn!(error = %e, "post text unavailable"),
            },
            None => tracing::warn!("no Page token to fetch the post"),
        }
        if !self.store.create_post(&p).await? {
            return Ok(self
                .store
                .get_post(&page.account, &page.page_id, post_id)
                .await?
                .unwrap_or(p));
        }
        Ok(p)
    }

    async fn page_token(&self, page: &PageItem) -> Option<String> {
        page.token(&self.secrets).await.ok().flatten()
    }

    async fn on_lead(&self, page: &PageItem, v: &Value) -> Result<(), RouterError> {
        let Some(leadgen_id) = v.get("leadgen_id").and_then(id_string) else {
            tracing::warn!("leadgen change without leadgen_id; skipped");
            return Ok(());
        };
        let mid = format!("lead:{leadgen_id}");
        if self.store.get_mid(&page.account, &mid).await?.is_some() {
            tracing::info!("lead already recorded");
            return Ok(());
        }
        let created = self.change_time(v);
        let form_id = v.get("form_id").and_then(id_string);
        let ad_id = v.get("ad_id").and_then(id_string);
        let fetched = match self.page_token(page).await {
            Some(token) => self.graph.lead(&leadgen_id, &token).await,
            None => Err(GraphError::Http { status: 401 }),
        };
        let (fields, status, reason) = match fetched {
            Ok(lead) => (answers(&lead), "fetched", None),
            // Temporary: let SQS bring the event back.
            Err(
                e @ (GraphError::Timeout | GraphError::Transport(_) | GraphError::Unconfirmed(_)),
            ) => {
                return Err(RouterError::Store(pagedesk_shared::Error::Graph(e)));
            }
            Err(GraphError::Http { status }) if status >= 500 => {
                return Err(RouterError::Store(pagedesk_shared::Error::Graph(
                    GraphError::Http { status },
                )));
            }
            // Final: e.g. the App Dashboard's test leads, which cannot be fetched.
            Err(e) => {
                tracing::info!(error = %e, "lead cannot be retrieved; recorded as unavailable");
                (Vec::new(), "unavailable", Some(e.to_string()))
            }
        };
        let get = |names: &[&str]| {
            fields
                .iter()
                .find(|(k, _)| names.contains(&k.as_str()))
                .map(|(_, v)| v.clone())
                .filter(|v| !v.is_empty())
        };
        let email = get(&["email", "work_email"]).map(|e| e.to_lowercase());
        let phone = get(&["phone_number", "phone"]);
        let first = get(&["first_name"]);
        let last = get(&["last_name"]);
        let name = get(&["full_name", "name"]).or_else(|| match (&first, &last) {
            (Some(f), Some(l)) => Some(format!("{f} {l}")),
            (Some(f), None) => Some(f.clone()),
            (None, Some(l)) => Some(l.clone()),
            _ => None,
        });
        // The same person's next lead finds the same contact: by email, else phone, else the lead.
        let key = email
            .clone()
            .or_else(|| {
                phone
                    .as_ref()
                    .map(|p| p.chars().filter(char::is_ascii_digit).collect())
            })
            .unwrap_or_else(|| format!("lead-{leadgen_id}"));
        let key: String = key
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "@.-_+".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let now = self.clock.now_ms();
        let id = format!("ct_{}_lead_{key}", page.page_id);
        let mut contact = ContactItem::new(&page.account, &id, &page.page_id, now);
        contact.name = name;
        contact.first_name = first;
        contact.last_name = last;
        contact.email = email;
        contact.phone = phone;
        contact.profile_status = ProfileStatus::Fetched;
        let contact = self.store.upsert_contact(&contact, now).await?;
        let marker = self
            .store
            .create_lead_marker(&page.account, &page.page_id, &leadgen_id, now)
            .await?;
        let text = if fields.is_empty() {
            "Lead received, but Meta did not return its answers (a test lead, or the lead was deleted).".to_owned()
        } else {
            fields
                .iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect::<Vec<_>>()
                .join("\n")
        };
        let msg = Message {
            direction: Direction::In,
            author_type: AuthorType::Contact,
            author_id: Some(contact.id.clone()),
            text: Some(text),
            status: MessageStatus::Received,
            external_id: Some(leadgen_id.clone()),
            kind: Some(MessageKind::Lead),
            lead: Some(json!({
                "leadgen_id": leadgen_id, "form_id": form_id, "ad_id": ad_id, "status": status, "reason": reason,
                "fields": fields.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect::<serde_json::Map<_, _>>(),
            })),
            created_at: created,
            ..Default::default()
        };
        let subject = format!("Lead form {}", form_id.as_deref().unwrap_or("?"));
        let outcome = self
            .append(
                page,
                contact,
                &Anchor::Lead { marker, subject },
                msg,
                &mid,
                false,
            )
            .await?;
        tracing::info!(outcome = ?outcome, status, "lead");
        Ok(())
    }
}

/// `field_data` as (name, values joined) pairs, in the form's order.
fn answers(lead: &Value) -> Vec<(String, String)> {
    lead.get("field_data")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|f| {
                    let name = f.get("name")?.as_str()?.to_owned();
                    let values: Vec<String> = f
                        .get("values")?
                        .as_array()?
                        .iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect();
                    Some((name, values.join(", ")))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Graph's `created_time` (`2026-11-21T06:00:00+0000`) in ms.
fn graph_time(v: &Value) -> Option<i64> {
    timestamp_ms(v)
}

/// A photo comment's image as an attachment.
fn photo(v: &Value) -> Vec<pagedesk_shared::domain::Attachment> {
    v.get("photo")
        .and_then(Value::as_str)
        .map(|url| pagedesk_shared::domain::Attachment {
            kind: "image".into(),
            url: Some(url.to_owned()),
            title: None,
            sticker_id: None,
            coordinates: None,
            payload: None,
            ..Default::default()
        })
        .into_iter()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lead_answers_in_form_order() {
        let lead = json!({"field_data": [{"name": "full_name", "values": ["Ada Lovelace"]}, {"name": "email", "values": ["ADA@x.io"]}, {"name": "colours", "values": ["red", "blue"]}]});
        assert_eq!(
            answers(&lead),
            [
                ("full_name".into(), "Ada Lovelace".into()),
                ("email".into(), "ADA@x.io".into()),
                ("colours".into(), "red, blue".into())
            ]
        );
        assert!(answers(&json!({})).is_empty());
    }
}
