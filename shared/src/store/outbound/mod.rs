//! Outbound messages: queueing a reply (idempotent by `client_id`), the sender's lease, each
//! Send API part recorded with its mid, and final failures. Reached as `store.outbound()`.

use super::{ClientItem, Message, Store, keys};
use crate::domain::MessageStatus;

/// How long a message may stay `queued` before the sweeper fails it (`not_sent`). Well past
/// the sender's own limits (eight attempts with backoff, a minute's wait for an echo), so it
/// only finds messages whose job was lost.
pub const UNSENT_DEADLINE_MS: i64 = 15 * 60_000;

/// A send recorded this soon after its message's place in the feed is announced by that
/// entry (`feed_sent`) instead of an event item of its own: a reader cannot see the entry
/// before `SETTLE_MS` has passed, and by then the record (made within this time, committed
/// within `FOLD_ATTEMPT_TIMEOUT` of it) is there too, with room left for the index's lag.
pub const FOLD_MS: i64 = 2_000;
const FOLD_ATTEMPT_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(1_000);
/// The feed index's lag this leaves room for, as the feed's entries themselves do.
const FEED_INDEX_LAG_MS: i64 = 2_000;
const _: () = assert!(
    FOLD_MS + FOLD_ATTEMPT_TIMEOUT.as_millis() as i64 + FEED_INDEX_LAG_MS
        <= super::events::SETTLE_MS
);

/// Whether a send recorded at `stamp` is announced by the message's own feed entry at
/// `place` (see [`FOLD_MS`]).
pub fn folds_into_feed(place: Option<&super::FeedPlace>, stamp: i64) -> bool {
    place
        .and_then(|p| p.key().get(..13))
        .and_then(|t| t.parse::<i64>().ok())
        .is_some_and(|at| stamp >= at && stamp <= at + FOLD_MS)
}

/// A message as stored while it is queued: with the scheduler sweeper's entry at its
/// deadline, so that whatever becomes of its job, a message still queued then is failed with a
/// reason.
#[derive(serde::Serialize)]
pub(super) struct Queued<'a> {
    #[serde(flatten)]
    message: &'a Message,
    duepk: String,
    duesk: String,
}

impl<'a> Queued<'a> {
    pub(super) fn new(msg: &'a Message, now: i64) -> Self {
        let deadline = msg.created_at.max(now) + UNSENT_DEADLINE_MS;
        Queued {
            message: msg,
            duepk: keys::due_pk(deadline),
            duesk: keys::due_message_sk(deadline, &msg.account, &msg.conversation_id, &msg.sk()),
        }
    }
}

impl super::Row for Queued<'_> {
    fn keys(&self) -> Option<(String, String)> {
        self.message.keys()
    }
}

/// The condition under which the AI agent may write to a conversation: it holds it and no person
/// does (`:bot` is `true`). Stored as `bot_active`, the AI agent's name before it was the
/// product's word.
pub(super) const WITH_AI_AGENT: &str = "bot_active = :bot AND attribute_not_exists(assignee)";

/// Why a conversation's update for an outbound message was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refused {
    /// Only its newer last message: the message goes in behind it.
    Behind,
    NotOpen,
    NotWithAiAgent,
}

#[derive(Debug, Clone, PartialEq)]
pub enum QueueOutcome {
    Stored,
    /// The same `client_id` was used before: this is the message it made.
    Existing(Box<Message>),
    ConversationNotOpen,
    /// The AI agent's message, and the conversation is no longer with it (a person claimed it
    /// or it was handed off after the API read it): nothing was stored.
    NotWithAiAgent,
    /// Meta allows one private reply per comment, and this comment has had it.
    PrivateReplyExists,
    /// Another call with the same `client_id` is storing its message right now.
    InProgress,
}

/// What [`Store::queue_reply_in_window`] did.
#[derive(Debug)]
pub enum InWindow {
    /// Stored; the conversation as the reply left it.
    Stored(Box<super::ConversationItem>),
    /// A call with the same `client_id` came first: [`Store::reply_context`] reads what it left.
    ClientSeen,
    /// The conversation is not an open Send API conversation inside its standard window, or
    /// has a newer last message: as it was (`None`: there is none), and the `client_id` guard
    /// this call put, which is still there (see [`Store::forget_client_guard`]).
    Refused {
        conversation: Option<Box<super::ConversationItem>>,
        guard: Option<ClientItem>,
    },
}

/// What taking the sender's lease found.
#[derive(Debug)]
pub enum Lease {
    /// The message, now held by this sender.
    Taken(Box<Message>),
    /// Another sender holds it.
    Held,
    /// Sent or failed already.
    Settled(MessageStatus),
    /// There is no such message (its conversation was erased).
    Missing,
}

/// One part of a send as Meta took it: which part, the mid Meta gave it, when it went out, and
/// how (the `messaging_type`, for Send API parts).
#[derive(Debug, Clone, Copy)]
pub struct SentPart<'a> {
    pub index: usize,
    pub mid: &'a str,
    pub sent_at: i64,
    pub messaging_type: Option<crate::domain::SendType>,
}

impl<'a> SentPart<'a> {
    /// Part `index`, given `mid` by Meta at `sent_at`; a Send API part adds its type.
    pub fn new(index: usize, mid: &'a str, sent_at: i64) -> Self {
        SentPart {
            index,
            mid,
            sent_at,
            messaging_type: None,
        }
    }

    pub fn sent_as(self, messaging_type: crate::domain::SendType) -> Self {
        SentPart {
            messaging_type: Some(messaging_type),
            ..self
        }
    }
}

/// What [`Store::reply_context`] read.
#[derive(Debug, Default)]
pub struct ReplyState {
    pub conversation: Option<super::ConversationItem>,
    pub settings: super::Settings,
    pub client: Option<ClientItem>,
}

mod delivery;
mod intake;
mod sweep;

/// The outbound aggregate's operations, named at the call site for what they touch:
/// `store.outbound().take_lease(…)`. Each file holds what one function uses: `intake` (the
/// agent API and automatic messages), `delivery` (the sender), `sweep` (the scheduler).
pub struct Outbound<'a>(&'a Store);

impl Store {
    pub fn outbound(&self) -> Outbound<'_> {
        Outbound(self)
    }
}
