//! Instagram changes: comments on the linked account's posts and reels (`comments`,
//! `live_comments`) become `instagram_comment` conversations, one per media item, like a Page
//! post's comments. The account's own comments (our public replies coming back, or a reply
//! made in the Instagram app) are the Page's messages, never a contact.

use pagedesk_shared::domain::{
    AuthorType, Channel, Direction, MessageKind, MessageStatus, ProfileStatus,
};
use pagedesk_shared::meta::webhook::id_string;
use pagedesk_shared::store::{Message, PageItem};
use serde_json::Value;

use crate::{Router, RouterError};

impl Router {
    pub(crate) async fn on_instagram_change(
        &self,
        page: &PageItem,
        field: &str,
        value: &Value,
    ) -> Result<(), RouterError> {
        match field {
            "comments" | "live_comments" => self.instagram_comment(page, value).await,
            other => {
                tracing::info!(field = other, "Instagram change kind not handled; skipped");
                Ok(())
            }
        }
    }

    async fn instagram_comment(&self, page: &PageItem, v: &Value) -> Result<(), RouterError> {
        let (Some(comment_id), Some(media_id), Some(from)) = (
            v.get("id").and_then(id_string),
            v.pointer("/media/id").and_then(id_string),
            v.pointer("/from/id").and_then(id_string),
        ) else {
            tracing::warn!("Instagram comment without comment, media or author id; skipped");
            return Ok(());
        };
        // Instagram's comment webhook carries no time of its own.
        let at = self.clock.now_ms();
        let text = v.get("text").and_then(Value::as_str).map(str::to_owned);
        let parent = v.get("parent_id").and_then(id_string);
        let own = page.instagram.as_ref().is_some_and(|ig| ig.id == from);
        if own {
            return self
                .page_comment(
                    page,
                    &media_id,
                    &comment_id,
                    parent.as_deref(),
                    text,
                    at,
                    Channel::InstagramComment,
                )
                .await;
        }
        let username = v
            .pointer("/from/username")
            .and_then(Value::as_str)
            .map(str::to_owned);
        // The same person as in Direct (keyed by the Instagram-scoped id).
        let contact = self
            .commenter(page, &from, None, username, ProfileStatus::Pending)
            .await?;
        let post = self
            .post(page, &media_id, Channel::InstagramComment)
            .await?;
        let msg = Message {
            direction: Direction::In,
            author_type: AuthorType::Contact,
            author_id: Some(contact.id.clone()),
            text,
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
            .append_comment(
                page,
                contact,
                post,
                msg,
                &comment_id,
                Channel::InstagramComment,
            )
            .await?;
        tracing::info!(outcome = ?outcome, "Instagram comment");
        Ok(())
    }
}
