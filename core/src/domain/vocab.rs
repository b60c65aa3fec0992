//! The domain's vocabulary: every closed set of words pagedesk stores, shows or matches on.
//!
//! Each is an enum whose serde form is the exact string stored in DynamoDB and shown by the
//! API, so rows written before these types existed read back unchanged. Adding a word (a
//! channel, say) starts here; the compiler then lists every `match` that has to decide what the
//! new word means. Rows derive `Default` to be built field by field; `#[default]` marks the
//! word a new row starts from.

use std::fmt;

/// Declares a vocabulary enum: serde as the given strings, `as_str`, `parse`, `ALL`, `Display`.
macro_rules! vocabulary {
    ($(#[$meta:meta])* pub enum $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            /// Every word, in declaration order (for validation messages and OpenAPI enums).
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stored and shown form.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            pub fn parse(s: &str) -> Option<Self> {
                match s {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }

            /// The words as a human-readable list: "a, b or c".
            pub fn expected() -> String {
                let words: Vec<&str> = Self::ALL.iter().map(|w| w.as_str()).collect();
                match words.split_last() {
                    Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
                    _ => words.join(""),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

vocabulary! {
    /// Where a conversation happens on Facebook.
    #[derive(Default)]
    pub enum Channel {
        /// A Messenger thread with one person (24 h window, Human Agent tag).
        #[default]
        Messenger = "messenger",
        /// Comments under one of the Page's posts (public replies, one private reply each).
        Comment = "comment",
        /// A lead-ad form submission (no thread to reply in).
        Lead = "lead",
        /// Instagram Direct with the Instagram professional account linked to the Page,
        /// reached with the Page's token (24 h window, Human Agent tag, no media kept).
        Instagram = "instagram",
        /// Comments under one of the linked Instagram account's posts or reels (public replies,
        /// one private reply in Direct each).
        InstagramComment = "instagram_comment",
    }
}

/// How an agent's reply reaches the person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyRoute {
    /// The Send API to the person's thread, under Meta's messaging window.
    SendApi,
    /// Under the comment in public, or once in private (`recipient.comment_id`), no window.
    CommentReply,
}

// What each channel can do. Every decision that depends on the channel is one of these
// exhaustive matches, so a new channel fails to compile here until each one is made.
impl Channel {
    pub const fn reply_route(self) -> ReplyRoute {
        match self {
            Channel::Messenger => ReplyRoute::SendApi,
            Channel::Comment => ReplyRoute::CommentReply,
            // A lead has no thread of its own: a reply goes to the person's Messenger thread,
            // which only a message of theirs opens (until then the window refuses it).
            Channel::Lead => ReplyRoute::SendApi,
            // The same Send API with the Page's token, the Instagram-scoped id as recipient.
            Channel::Instagram => ReplyRoute::SendApi,
            Channel::InstagramComment => ReplyRoute::CommentReply,
        }
    }

    /// Greeting, away message, CSAT survey and the AI agent run in this channel.
    pub const fn has_automation(self) -> bool {
        match self {
            Channel::Messenger | Channel::Instagram => true,
            Channel::Comment | Channel::Lead | Channel::InstagramComment => false,
        }
    }

    /// Whether one conversation of this channel holds the messages of many people (a post's
    /// comments), so that a person's messages can be in a conversation that is not theirs.
    /// Erasure reads every such conversation for the person's messages.
    pub const fn shared_by_many(self) -> bool {
        match self {
            Channel::Comment | Channel::InstagramComment => true,
            Channel::Messenger | Channel::Lead | Channel::Instagram => false,
        }
    }

    /// The longest text Meta takes in one message of this channel.
    pub const fn max_text_chars(self) -> usize {
        match self {
            Channel::Messenger | Channel::Comment | Channel::Lead => 2000,
            // A private reply to an Instagram comment is a Direct message: 1000 as well.
            Channel::Instagram | Channel::InstagramComment => 1000,
        }
    }

    /// Whether Meta's rules let pagedesk keep copies of the channel's media. Instagram's
    /// messaging rules forbid storing or caching Instagram media: its attachments keep Meta's
    /// URL only (Chatwoot's App Review was refused for caching them).
    pub const fn media_may_be_stored(self) -> bool {
        match self {
            Channel::Messenger | Channel::Comment | Channel::Lead => true,
            Channel::Instagram | Channel::InstagramComment => false,
        }
    }

    /// The Graph edge a public reply to a comment is posted to (`/{comment_id}/<edge>`).
    pub const fn public_reply_edge(self) -> &'static str {
        match self {
            Channel::Messenger | Channel::Comment | Channel::Lead => "comments",
            Channel::Instagram | Channel::InstagramComment => "replies",
        }
    }
}

vocabulary! {
    #[derive(Default)]
    pub enum ConversationStatus {
        #[default]
        Open = "open",
        /// Set aside by an agent until a time; the person's next message or that time opens
        /// it again (`conversation.unsnoozed`). Still the contact's active conversation.
        Snoozed = "snoozed",
        Resolved = "resolved",
    }
}

impl ConversationStatus {
    /// Not resolved: the team still holds it (open, or snoozed until it comes back). Replies,
    /// assignment and resolving work on it; automation (greeting, away, AI agent) waits for
    /// `Open`.
    pub const fn is_active(self) -> bool {
        match self {
            ConversationStatus::Open | ConversationStatus::Snoozed => true,
            ConversationStatus::Resolved => false,
        }
    }

    /// The statuses `is_active` accepts, for conditions on the stored word.
    pub const ACTIVE: &'static [ConversationStatus] =
        &[ConversationStatus::Open, ConversationStatus::Snoozed];
}

vocabulary! {
    #[derive(Default)]
    pub enum Direction {
        /// Written by the person.
        #[default]
        In = "in",
        /// Written by the Page: an agent, the AI agent, pagedesk itself, or the Page inbox.
        Out = "out",
    }
}

vocabulary! {
    #[derive(Default)]
    pub enum AuthorType {
        #[default]
        Contact = "contact",
        Agent = "agent",
        /// The Page itself (Page inbox, Business Suite, or the post a comment thread is about).
        Page = "page",
        /// The account's AI agent.
        Bot = "bot",
        /// pagedesk's automatic messages (greeting, away, CSAT survey).
        System = "system",
    }
}

vocabulary! {
    /// A message's stored status. `delivered` and `read` are shown, derived from the person's
    /// receipt watermarks, never stored.
    #[derive(Default)]
    pub enum MessageStatus {
        #[default]
        Received = "received",
        Queued = "queued",
        Failed = "failed",
        Sent = "sent",
        Delivered = "delivered",
        Read = "read",
    }
}

vocabulary! {
    /// What a message is, beyond a Messenger message (which has no kind).
    pub enum MessageKind {
        /// The post a comment conversation is about (its first entry).
        Post = "post",
        Comment = "comment",
        Lead = "lead",
        Note = "note",
        Greeting = "greeting",
        Away = "away",
        Csat = "csat",
    }
}

vocabulary! {
    /// The events feed's event types (`GET /events`).
    pub enum EventType {
        ConversationCreated = "conversation.created",
        ConversationUpdated = "conversation.updated",
        ConversationAssigned = "conversation.assigned",
        ConversationClaimed = "conversation.claimed",
        ConversationHandedOff = "conversation.handed_off",
        /// An agent set it aside until `until`.
        ConversationSnoozed = "conversation.snoozed",
        /// Open again: its time came (`by: time`), the person wrote (`by: message`), or an
        /// agent woke it (`by: agent`).
        ConversationUnsnoozed = "conversation.unsnoozed",
        MessageCreated = "message.created",
        MessageStatus = "message.status",
        /// An attachment's copy landed or was given up.
        MessageUpdated = "message.updated",
        WindowExpiring = "window.expiring",
        WindowClosed = "window.closed",
        WindowHumanAgentEnded = "window.human_agent_ended",
        PageDisconnected = "page.disconnected",
        PageConnected = "page.connected",
        PageResubscribed = "page.resubscribed",
        /// The health check found the Page's Instagram account changed: linked, unlinked,
        /// renamed, or its permissions granted or taken away (`instagram`, `previous`).
        PageInstagramChanged = "page.instagram_changed",
        PageImport = "page.import",
        ContactErased = "contact.erased",
        CsatReceived = "csat.received",
        /// A private note: the team's, never sent to Meta.
        NoteCreated = "note.created",
        /// An outgoing webhook was switched off after its endpoint failed for the give-up
        /// period (`reason`, `failing_since`).
        WebhookDisabled = "webhook.disabled",
    }
}

vocabulary! {
    /// Who or what changed a conversation's owner (`by` in `conversation.assigned` and
    /// `conversation.handed_off` events).
    pub enum AssignedBy {
        /// Routing rules on a new conversation.
        Router = "router",
        /// A person's `POST /conversations/{id}/assign`.
        Assign = "assign",
        /// An agent left a routing rule.
        RuleChange = "rule_change",
        /// An agent no longer works the conversation's Page.
        PageAccess = "page_access",
        /// The AI agent (or a person for it) handed off.
        Handoff = "handoff",
        /// The AI agent could not be reached or refused a delivery.
        AiAgentUnreachable = "ai_agent_unreachable",
    }
}

vocabulary! {
    /// What ended a snooze (`by` in `conversation.unsnoozed`).
    pub enum UnsnoozedBy {
        /// Its `until` came (the scheduler).
        Time = "time",
        /// The person wrote.
        Message = "message",
        /// An agent's `DELETE /conversations/{id}/snooze`.
        Agent = "agent",
    }
}

vocabulary! {
    /// Whether pagedesk may work a Page's linked Instagram account (`instagram.status`).
    pub enum InstagramStatus {
        Connected = "connected",
        /// The token lacks Instagram permissions (`missing_permissions` names them).
        MissingPermissions = "missing_permissions",
        /// The app's Instagram webhook lacks fields pagedesk may not add.
        NotSubscribed = "not_subscribed",
    }
}

vocabulary! {
    pub enum PageStatus {
        Connected = "connected",
        /// Graph refused the Page token (190): receiving goes on, sending waits for a new token.
        ReauthRequired = "reauth_required",
        /// Its token was given up (the person who connected it asked Meta to delete their
        /// data): connecting it again is the only way back.
        Disconnected = "disconnected",
    }
}

vocabulary! {
    /// Where one outgoing webhook delivery stands (`GET /webhooks/{id}/deliveries`).
    #[derive(Default)]
    pub enum DeliveryStatus {
        /// Queued, not tried yet.
        #[default]
        Pending = "pending",
        Delivered = "delivered",
        /// The last attempt failed in a way worth trying again; `next_try_at` says when.
        Retrying = "retrying",
        /// Given up: the endpoint refused it (a 4xx) or it kept failing past the deadline.
        Failed = "failed",
        /// Not sent: the webhook was switched off or deleted before its turn.
        Dropped = "dropped",
    }
}

vocabulary! {
    /// Where a contact's name and picture stand with the User Profile API.
    #[derive(Default)]
    pub enum ProfileStatus {
        #[default]
        Pending = "pending",
        Fetched = "fetched",
        /// The API refused (100/2018218): keep the id, ask again later, never invent a name.
        Unavailable = "unavailable",
    }
}

vocabulary! {
    /// Whether automatic routing may give an agent conversations (absent on a row: offline).
    #[derive(Default)]
    pub enum AgentStatus {
        Online = "online",
        #[default]
        Offline = "offline",
    }
}

vocabulary! {
    /// How a routing rule picks an agent.
    pub enum RoutingMethod {
        /// Even rotation among the rule's online agents.
        RoundRobin = "round_robin",
        /// The online agent with the fewest open conversations, below their maximum.
        LoadBalanced = "load_balanced",
        /// Unassigned, in the rule's pool: the first agent to claim it gets it.
        Claim = "claim",
        /// One named agent ("only me").
        Owner = "owner",
    }
}

vocabulary! {
    /// The Send API's `messaging_type` as pagedesk uses it.
    pub enum SendType {
        /// Inside the 24 h window.
        Response = "RESPONSE",
        /// `MESSAGE_TAG` + `HUMAN_AGENT`: 24 h to 7 days, human replies only.
        HumanAgent = "HUMAN_AGENT",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_strings_are_unchanged() {
        // Rows written before the vocabulary was typed must read back: these strings are data.
        assert_eq!(serde_json::to_value(Channel::Comment).unwrap(), "comment");
        assert_eq!(
            serde_json::from_value::<EventType>("conversation.handed_off".into()).unwrap(),
            EventType::ConversationHandedOff
        );
        assert_eq!(SendType::HumanAgent.as_str(), "HUMAN_AGENT");
        assert_eq!(
            serde_json::to_value(PageStatus::ReauthRequired).unwrap(),
            "reauth_required"
        );
        for c in Channel::ALL {
            assert_eq!(Channel::parse(c.as_str()), Some(*c));
        }
        assert_eq!(Channel::parse("sms"), None);
        assert_eq!(
            Channel::expected(),
            "messenger, comment, lead, instagram or instagram_comment"
        );
    }
}
