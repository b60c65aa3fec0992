//! Opening a conversation: created with its first message in one transaction, then the last
//! messages of the contact's previous conversation carried into it as context.

use pagedesk_shared::domain::{AuthorType, Channel, Direction, MessageKind, MessageStatus};
use pagedesk_shared::ids;
use pagedesk_shared::store::{
    ContactItem, ConversationItem, CreateOutcome, FirstMessage, Message, PageItem, PostItem, Touch,
};

use crate::messaging::{Anchor, message_created};
use crate::{Router, RouterError};

impl Router {
    /// Creates a conversation with its first message, in one transaction (a conversation is
    /// never seen without the message that opened it), then carries the last N messages of the
    /// contact's previous Messenger conversation into it as context.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn open_conversation(
        &self,
        page: &PageItem,
        contact: &ContactItem,
        anchor: &Anchor,
        last: Option<String>,
        replaces: Option<&str>,
        msg: &mut Message,
        mid: &str,
        touch: Touch,
    ) -> Result<(CreateOutcome, Option<ConversationItem>), RouterError> {
        let now = touch.now;
        let id = ids::new_id(ids::conversation_prefix(), now);
        msg.place(&page.account, &id);
        let (channel, hangs_from, post_id, subject) = match anchor {
            Anchor::Contact(thread) => (*thread, None, None, None),
            Anchor::Post { post, channel } => (
                *channel,
                Some(post.anchor_ref()),
                Some(post.post_id.clone()),
                post.text.clone().map(|t| subject_of(&t)),
            ),
            Anchor::Lead { marker, subject } => (
                Channel::Lead,
                Some(marker.clone()),
                None,
                Some(subject.clone()),
            ),
        };
        let mut conv = ConversationItem::new_open(&page.account, &id, &page.page_id, channel, now);
        conv.contact_id = contact.id.clone();
        conv.facebook_id = contact.facebook_id.clone();
        conv.contact_name = contact.name.clone();
        conv.contact_picture_url = contact.picture_url.clone();
        conv.post_id = post_id;
        conv.subject = subject;
        conv.previous_conversation_id = last.clone();
        if let Some(anchor) = hangs_from {
            conv.hang_from(anchor);
        }
        let preface: Vec<Message> = match anchor {
            Anchor::Post { post, .. } => post_entry(page, post, &id, msg.created_at)
                .into_iter()
                .collect(),
            _ => vec![],
        };
        let event = message_created(msg, now);
        let first = FirstMessage {
            msg,
            // Keyed by Meta (see `append`): its key is its dedupe.
            mid: (!matches!(anchor, Anchor::Contact(_))).then_some(mid),
            touch,
            events: std::slice::from_ref(&event),
            preface: &preface,
        };
        let outcome = self
            .store
            .create_conversation(&conv, replaces, now, Some(first))
            .await?;
        if outcome == CreateOutcome::Created {
            tracing::info!(conversation_id = %id, %channel, message_id = %msg.id, "conversation opened");
            if let (Anchor::Contact(_), Some(prev)) = (anchor, &last) {
                self.carry_history(page, prev, &id).await;
            }
            return Ok((outcome, Some(conv)));
        }
        Ok((outcome, None))
    }

    async fn carry_history(&self, page: &PageItem, prev: &str, new_id: &str) {
        let depth = match self.account(&page.account, &page.page_id).await {
            Ok(a) => a.settings.history_depth(),
            Err(e) => {
                tracing::warn!(error = %e, "settings unavailable; default history depth");
                10
            }
        };
        let result = async {
            let earlier = self
                .store
                .latest_messages(&page.account, prev, depth as i32)
                .await?;
            let copies: Vec<Message> = earlier
                .into_iter()
                .filter(|m| !m.history_copy)
                .map(|mut m| {
                    m.place(&page.account, new_id);
                    m.history_copy = true;
                    m
                })
                .collect();
            self.store
                .put_context_messages(&copies)
                .await
                .map(|_| copies.len())
        }
        .await;
        // Context is a convenience: failing to copy it must not fail the new message.
        match result {
            Ok(n) => tracing::info!(conversation_id = %new_id, carried = n, "history carried over"),
            Err(e) => tracing::warn!(error = %e, "history could not be carried over"),
        }
    }
}

/// A subject line from a post's text: its first line, at most 120 characters.
fn subject_of(text: &str) -> String {
    let line = text.lines().next().unwrap_or("").trim();
    let mut out: String = line.chars().take(120).collect();
    if line.chars().count() > 120 {
        out.push('…');
    }
    out
}

/// The post as the first entry of its comment conversation, written by the Page.
fn post_entry(
    page: &PageItem,
    post: &PostItem,
    conv: &str,
    first_comment_at: i64,
) -> Option<Message> {
    let text = post.text.clone()?;
    // Before the first comment, so it reads first even if the post's own time is unknown.
    let at = if post.created_at > 0 && post.created_at < first_comment_at {
        post.created_at
    } else {
        first_comment_at - 1
    };
    let id = format!("ms_post_{}", conv.trim_start_matches("cv_"));
    let entry = Message {
        id,
        direction: Direction::Out,
        author_type: AuthorType::Page,
        author_id: Some(page.page_id.clone()),
        text: Some(text),
        status: MessageStatus::Sent,
        external_id: Some(post.post_id.clone()),
        kind: Some(MessageKind::Post),
        created_at: at,
        ..Default::default()
    };
    Some(entry.placed(&page.account, conv))
}
