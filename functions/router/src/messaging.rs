//! Messenger events: conversation reuse, messages, echoes, receipts, reactions, edits (the
//! contacts they come from: `contacts.rs`).

use pagedesk_shared::domain::{
    AuthorType, Channel, Direction, EventType, MessageStatus, UnsnoozedBy,
};
use pagedesk_shared::ids;
use pagedesk_shared::meta::event::{Echo, Inbound, Reaction};
use pagedesk_shared::services::automatic;
use pagedesk_shared::store::EchoMetadata;
use pagedesk_shared::store::{
    AnchorRef, AppendOutcome, ContactItem, CreateOutcome, EventItem, Message, PageItem, PostItem,
    Receipt, SentPart, Touch,
};

use crate::{Handled, Router, RouterError};

/// A conversation that is resolved between our read and our write is replaced; a few rounds
/// are enough unless something is badly wrong.
const SETTLE_ATTEMPTS: usize = 4;

impl Router {
    /// A person's message in `thread` (Messenger or Instagram Direct).
    pub(crate) async fn on_inbound(
        &self,
        page: &PageItem,
        m: Inbound,
        thread: Channel,
    ) -> Result<(), RouterError> {
        let contact = self.ensure_contact(page, &m.user, thread).await?;
        let msg = Message {
            direction: Direction::In,
            author_type: AuthorType::Contact,
            author_id: Some(contact.id.clone()),
            text: m.text,
            attachments: m.attachments,
            status: MessageStatus::Received,
            external_id: Some(m.mid.clone()),
            quick_reply_payload: m.quick_reply_payload,
            reply_to_mid: m.reply_to_mid,
            story: m.story,
            postback: m.postback.and_then(|p| serde_json::to_value(p).ok()),
            referral: m.referral,
            standby: m.standby,
            created_at: m.timestamp,
            ..Default::default()
        };
        if let Some((conv_id, score)) = msg
            .quick_reply_payload
            .as_deref()
            .and_then(automatic::parse_csat)
            && self
                .on_csat_answer(page, &contact, &msg, &m.mid, conv_id, score)
                .await?
        {
            return Ok(());
        }
        let outcome = self
            .append(page, contact, &Anchor::Contact(thread), msg, &m.mid, true)
            .await?;
        tracing::info!(outcome = ?outcome, "inbound message");
        Ok(())
    }

    /// `last_try`: the event was put off as often as it may be; what is still missing will not
    /// come.
    pub(crate) async fn on_echo(
        &self,
        page: &PageItem,
        e: Echo,
        thread: Channel,
        last_try: bool,
    ) -> Result<Handled, RouterError> {
        let ours = self
            .cfg
            .app_id
            .as_deref()
            .is_some_and(|id| e.app_id.as_deref() == Some(id))
            || e.metadata.as_deref().is_some_and(EchoMetadata::is_ours);
        if ours {
            let metadata = e.metadata.as_deref().and_then(EchoMetadata::parse);
            if let Some(m) = &metadata
                && let Some(msg) = self
                    .store
                    .get_message(&page.account, &m.conversation_id, &m.message)
                    .await?
            {
                self.confirm_own(&msg, m.part, &e).await?;
                return Ok(Handled::Done);
            }
            // Our own send without metadata: the sender records its mid when Meta answers,
            // which can be after Meta sent the echo.
            if self.store.get_mid(&page.account, &e.mid).await?.is_some() {
                tracing::info!("echo of our own message confirmed");
                return Ok(Handled::Done);
            }
            if metadata.is_none() && !last_try {
                return Ok(Handled::Waiting("the record of our own send"));
            }
            tracing::info!(
                "echo of our own send that we have no record of; stored as the Page's message"
            );
        }
        let contact = self.ensure_contact(page, &e.user, thread).await?;
        let msg = Message {
            direction: Direction::Out,
            author_type: AuthorType::Page,
            author_id: Some(page.page_id.clone()),
            text: e.text,
            attachments: e.attachments,
            status: MessageStatus::Sent,
            external_id: Some(e.mid.clone()),
            standby: e.standby,
            sent_at: Some(e.timestamp),
            created_at: e.timestamp,
            ..Default::default()
        };
        let outcome = self
            .append(page, contact, &Anchor::Contact(thread), msg, &e.mid, false)
            .await?;
        tracing::info!(outcome = ?outcome, "echo from another tool stored as the Page's message");
        Ok(Handled::Done)
    }

    /// The echo of one of our sends settles it if the sender could not: a Send API call that
    /// timed out, or an echo that overtook the sender's record. A send the sender recorded
    /// costs the echo this one read and no write: the sender's send time (taken before the call,
    /// so never after Meta's) is what receipts compare with.
    async fn confirm_own(&self, msg: &Message, part: usize, e: &Echo) -> Result<(), RouterError> {
        let unconfirmed = msg.status == MessageStatus::Failed
            && msg
                .error
                .as_ref()
                .is_some_and(|e| e.reason == "unconfirmed");
        if !msg.sent_mids.contains(&e.mid) && (msg.status == MessageStatus::Queued || unconfirmed) {
            let recorded = self
                .store
                .outbound()
                .record_part(
                    msg,
                    SentPart::new(part, &e.mid, e.timestamp),
                    self.clock.now_ms(),
                )
                .await?;
            tracing::info!(message_id = %msg.id, part, recorded, "own send confirmed by its echo");
        } else {
            tracing::info!("echo of our own message: already recorded");
        }
        Ok(())
    }

    pub(crate) async fn on_receipt(
        &self,
        page: &PageItem,
        user: &str,
        receipt: Receipt,
        watermark: i64,
    ) -> Result<Handled, RouterError> {
        let cid = ids::contact_id(&page.page_id, user);
        let Some(contact) = self.store.get_contact(&page.account, &cid).await? else {
            return Ok(Handled::Waiting("the person of a receipt"));
        };
        let Some(conv) = contact
            .active_conversation_id
            .as_deref()
            .or(contact.last_conversation_id.as_deref())
        else {
            return Ok(Handled::Waiting("the conversation of a receipt"));
        };
        let moved = self
            .store
            .advance_watermark(&contact, conv, receipt, watermark, self.clock.now_ms())
            .await?;
        tracing::info!(kind = ?receipt, conversation_id = %conv, moved, "receipt watermark");
        Ok(Handled::Done)
    }

    pub(crate) async fn on_reaction(
        &self,
        page: &PageItem,
        r: Reaction,
    ) -> Result<Handled, RouterError> {
        let Some(guard) = self.find_message(page, &r.user, &r.mid).await? else {
            return Ok(Handled::Waiting("the message of a reaction"));
        };
        let value = r.react.then(|| {
            serde_json::json!({"emoji": r.emoji, "reaction": r.reaction, "by": ids::contact_id(&page.page_id, &r.user), "at": r.timestamp})
        });
        self.store
            .set_reaction(&page.account, &guard, value, r.timestamp)
            .await?;
        tracing::info!(conversation_id = %guard.conversation_id, react = r.react, "reaction");
        Ok(Handled::Done)
    }

    pub(crate) async fn on_edit(
        &self,
        page: &PageItem,
        user: &str,
        mid: &str,
        text: &str,
        num_edit: i64,
        at: i64,
    ) -> Result<Handled, RouterError> {
        let Some(guard) = self.find_message(page, user, mid).await? else {
            return Ok(Handled::Waiting("the message of an edit"));
        };
        self.store
            .edit_message(&page.account, &guard, text, num_edit, at)
            .await?;
        tracing::info!(conversation_id = %guard.conversation_id, num_edit, "message edited");
        Ok(Handled::Done)
    }

    /// The person took a message back: it stays in the timeline marked removed (as a removed
    /// comment does), so agents see that something was said and withdrawn.
    pub(crate) async fn on_unsent(
        &self,
        page: &PageItem,
        user: &str,
        mid: &str,
        at: i64,
    ) -> Result<Handled, RouterError> {
        let Some(guard) = self.find_message(page, user, mid).await? else {
            return Ok(Handled::Waiting("the message of an unsend"));
        };
        if let Some(m) = self
            .store
            .get_message(&page.account, &guard.conversation_id, &guard.message_sk)
            .await?
        {
            self.store.mark_removed(&m, at).await?;
            tracing::info!(conversation_id = %guard.conversation_id, "message unsent");
        }
        Ok(Handled::Done)
    }

    /// Where the message with Meta id `mid` is: a guard item (our sends, survey answers), else
    /// the person's latest conversation, then the one before it.
    async fn find_message(
        &self,
        page: &PageItem,
        user: &str,
        mid: &str,
    ) -> Result<Option<pagedesk_shared::store::MidItem>, RouterError> {
        if let Some(g) = self.store.get_mid(&page.account, mid).await? {
            return Ok(Some(g));
        }
        let cid = ids::contact_id(&page.page_id, user);
        let Some(latest) = self
            .store
            .get_contact(&page.account, &cid)
            .await?
            .and_then(|c| c.active_conversation_id.or(c.last_conversation_id))
        else {
            return Ok(None);
        };
        if let Some(found) = self.store.find_by_mid(&page.account, &latest, mid).await? {
            return Ok(Some(found));
        }
        let previous = self
            .store
            .get_conversation(&page.account, &latest)
            .await?
            .and_then(|c| c.previous_conversation_id);
        Ok(match previous {
            Some(p) => self.store.find_by_mid(&page.account, &p, mid).await?,
            None => None,
        })
    }

    /// Appends to the owner's open conversation (the contact's for Messenger, the post's for
    /// comments), opening a new one when there is none or the active one was resolved (a
    /// resolved conversation is never reopened by a new message).
    pub(crate) async fn append(
        &self,
        page: &PageItem,
        contact: ContactItem,
        anchor: &Anchor,
        mut msg: Message,
        mid: &str,
        inbound: bool,
    ) -> Result<AppendOutcome, RouterError> {
        let mut contact = contact;
        // A person's Messenger messages are keyed by Meta (no guard item): see
        // `Store::append_keyed_by_meta`. Comments keep their guard: edits and removals find them by it.
        let keyed = matches!(anchor, Anchor::Contact(_));
        if keyed {
            msg.key_by_meta(mid);
        }
        let mut allow_older = false;
        let thread = match anchor {
            Anchor::Contact(ch) => *ch,
            Anchor::Post { channel, .. } => *channel,
            Anchor::Lead { .. } => Channel::Lead,
        };
        if !thread.media_may_be_stored() {
            // Meta's rules forbid keeping Instagram media: Meta's URL only, and why.
            for a in msg
                .attachments
                .iter_mut()
                .filter(|a| a.url.is_some() && pagedesk_shared::services::media::is_media(&a.kind))
            {
                a.stored = Some(false);
                a.store_error = Some(pagedesk_shared::services::media::NOT_STORED_INSTAGRAM.into());
            }
        } else if self.cfg.bucket.is_some() {
            // Shown at once with Meta's URL; the copy follows (`media`).
            for a in msg
                .attachments
                .iter_mut()
                .filter(|a| a.url.is_some() && pagedesk_shared::services::media::is_media(&a.kind))
            {
                a.stored.get_or_insert(false);
            }
        }
        // The stale active conversation to replace, when the owner points at one that is no
        // longer open.
        let mut replaces: Option<String> = None;
        for _ in 0..SETTLE_ATTEMPTS {
            let now = self.clock.now_ms();
            let touch = Touch {
                at: msg.created_at,
                inbound,
                require_active: true,
                now,
            };
            let (active, last) = self.pointers(page, &contact, anchor).await?;
            let active = active.filter(|a| replaces.as_deref() != Some(a));
            let Some(conv_id) = active else {
                if keyed
                    && let Some(prev) = &last
                    && self.redelivered_into(page, &mut msg, prev).await?
                {
                    return Ok(AppendOutcome::Duplicate);
                }
                // No open conversation: it is created together with this message.
                match self
                    .open_conversation(
                        page,
                        &contact,
                        anchor,
                        last,
                        replaces.as_deref(),
                        &mut msg,
                        mid,
                        touch,
                    )
                    .await?
                {
                    (CreateOutcome::Created, Some(conv)) => {
                        self.copy_media(&msg).await;
                        if !msg.imported {
                            self.after_open(page, &conv, &msg).await;
                        }
                        return Ok(AppendOutcome::Stored);
                    }
                    (CreateOutcome::Created, None) => {
                        self.copy_media(&msg).await;
                        return Ok(AppendOutcome::Stored);
                    }
                    (CreateOutcome::Duplicate, _) => {
                        self.recopy_media(page, &msg, Some(mid)).await?;
                        return Ok(AppendOutcome::Duplicate);
                    }
                    (CreateOutcome::ContactChanged, _) => {
                        contact = self.reload_contact(page, &contact).await?;
                        replaces = None;
                        continue;
                    }
                }
            };
            msg.place(&page.account, &conv_id);
            let outcome = if keyed {
                self.store
                    .append_keyed_by_meta(&msg, touch, allow_older)
                    .await?
            } else {
                let event = message_created(&msg, now);
                self.store
                    .append_message(&msg, Some(mid), touch, std::slice::from_ref(&event))
                    .await?
            };
            match outcome {
                AppendOutcome::OlderThanConversation { previous } => {
                    if let Some(prev) = previous
                        && self.redelivered_into(page, &mut msg, &prev).await?
                    {
                        return Ok(AppendOutcome::Duplicate);
                    }
                    // Late, not a redelivery: it goes in behind the conversation's first.
                    allow_older = true;
                }
                AppendOutcome::Snoozed => {
                    // The person wrote: the conversation opens again (announced once, by
                    // whichever delivery wins the wake), then the message goes in.
                    if self
                        .store
                        .unsnooze(&page.account, &conv_id, UnsnoozedBy::Message, None, now)
                        .await?
                    {
                        tracing::info!(conversation_id = %conv_id, "snoozed conversation woken by the person");
                    }
                }
                AppendOutcome::ConversationNotOpen => {
                    tracing::info!(conversation_id = %conv_id, "active conversation is no longer open; starting a new one");
                    contact = self.reload_contact(page, &contact).await?;
                    let (active, _) = self.pointers(page, &contact, anchor).await?;
                    if active.as_deref() == Some(conv_id.as_str()) {
                        // Resolved without freeing its owner: replace the stale pointer.
                        replaces = Some(conv_id);
                    }
                }
                other => {
                    tracing::info!(conversation_id = %conv_id, message_id = %msg.id, "message appended");
                    match &other {
                        AppendOutcome::Stored => self.copy_media(&msg).await,
                        AppendOutcome::Duplicate => {
                            self.recopy_media(page, &msg, (!keyed).then_some(mid))
                                .await?
                        }
                        _ => {}
                    }
                    if other == AppendOutcome::Stored
                        && !msg.imported
                        && msg.direction == Direction::In
                        && matches!(anchor, Anchor::Contact(_))
                    {
                        self.after_message(page, &conv_id, &msg).await;
                    }
                    return Ok(other);
                }
            }
        }
        Err(RouterError::Contention)
    }

    /// Whether the (Meta-keyed) message is a redelivery of one stored in conversation `conv`.
    /// `msg` is left placed there (a caller that goes on places it again); a redelivery gets
    /// its media copies queued again (`recopy_media`).
    async fn redelivered_into(
        &self,
        page: &PageItem,
        msg: &mut Message,
        conv: &str,
    ) -> Result<bool, RouterError> {
        msg.place(&page.account, conv);
        if self
            .store
            .get_message(&page.account, conv, &msg.reference())
            .await?
            .is_none()
        {
            return Ok(false);
        }
        self.recopy_media(page, msg, None).await?;
        Ok(true)
    }

    /// A redelivered message with attachments: the first delivery may have died before it
    /// queued their copies, so they are queued again (a copy already made is only marked).
    /// A message with a mid `guard` is found by it; one keyed by Meta is where `msg` is placed.
    async fn recopy_media(
        &self,
        page: &PageItem,
        msg: &Message,
        guard: Option<&str>,
    ) -> Result<(), RouterError> {
        if self.cfg.bucket.is_none() || msg.attachments.iter().all(|a| a.url.is_none()) {
            return Ok(());
        }
        let guard = match guard {
            Some(mid) => self.store.get_mid(&page.account, mid).await?,
            None => None,
        };
        let at = match guard {
            Some(g) => (g.conversation_id, g.message_sk),
            None => (msg.conversation_id.clone(), msg.reference()),
        };
        if let Some(stored) = self.store.get_message(&page.account, &at.0, &at.1).await?
            && stored
                .attachments
                .iter()
                .any(|a| a.stored == Some(false) && a.store_error.is_none())
        {
            self.copy_media(&stored).await;
        }
        Ok(())
    }

    /// The owner's (active, last) conversation ids, read fresh.
    async fn pointers(
        &self,
        page: &PageItem,
        contact: &ContactItem,
        anchor: &Anchor,
    ) -> Result<(Option<String>, Option<String>), RouterError> {
        Ok(match anchor {
            Anchor::Contact(_) => (
                contact.active_conversation_id.clone(),
                contact.last_conversation_id.clone(),
            ),
            Anchor::Post { post, .. } => match self
                .store
                .get_post(&page.account, &page.page_id, &post.post_id)
                .await?
            {
                Some(p) => (p.active_conversation_id, p.last_conversation_id),
                None => (None, None),
            },
            // Every lead is a conversation of its own.
            Anchor::Lead { .. } => (None, None),
        })
    }
}

/// What a conversation hangs from while it is open (the store's "owner" pointer; not the
/// routing method `owner`, nor an assignee).
pub(crate) enum Anchor {
    /// A person's thread (Messenger or Instagram Direct, the conversation's channel): one
    /// open conversation per contact.
    Contact(Channel),
    /// Comments: one open conversation per post (a Page's, or an Instagram media item's:
    /// `channel`).
    Post { post: PostItem, channel: Channel },
    /// Leads: one conversation per lead, hanging from a marker item (its owner reference).
    Lead { marker: AnchorRef, subject: String },
}

/// The `message.created` event of `msg`, placed in its conversation.
pub(crate) fn message_created(msg: &Message, now: i64) -> EventItem {
    EventItem::new(
        &msg.account,
        EventType::MessageCreated,
        Some(&msg.conversation_id),
        serde_json::json!({"message_id": msg.id, "direction": msg.direction}),
        now,
    )
}
