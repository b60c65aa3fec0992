//! Stored item shapes. Times are epoch milliseconds; the API layer formats them.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::domain::{Attachment, MessageError};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PageItem {
    pub pk: String,
    pub sk: String,
    pub gsi1pk: String,
    pub gsi1sk: String,
    pub account: String,
    pub page_id: String,
    pub name: Option<String>,
    pub status: String,
    pub status_reason: Option<String>,
    /// Secrets Manager id of this Page's token secret.
    pub token_secret: String,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct Settings {
    #[serde(default)]
    pub human_agent_enabled: bool,
    #[serde(default)]
    pub history_depth: Option<u32>,
    /// IANA zone the business hours are in (default UTC).
    #[serde(default)]
    pub time_zone: Option<String>,
    /// `{"mon": [["09:00", "17:00"]], …}`; absent = always open.
    #[serde(default)]
    pub business_hours: Option<Value>,
    #[serde(default)]
    pub away_message: Option<String>,
    #[serde(default)]
    pub greeting: Option<String>,
    #[serde(default)]
    pub csat_enabled: bool,
    #[serde(default)]
    pub ai_agent_url: Option<String>,
    /// The key deliveries to the AI agent are signed with (HMAC-SHA256); never shown back.
    #[serde(default)]
    pub ai_agent_secret: Option<String>,
    /// Minutes before the 24 h close at which `window.expiring` is emitted.
    #[serde(default)]
    pub window_warnings_minutes: Option<Vec<i64>>,
}

impl Settings {
    pub const HISTORY_DEPTHS: [u32; 5] = [1, 5, 10, 20, 50];
    pub fn history_depth(&self) -> u32 {
        self.history_depth
            .filter(|d| Self::HISTORY_DEPTHS.contains(d))
            .unwrap_or(10)
    }

    /// The closed period `at` falls in (its end, see `WeeklyHours::closed_until`); `None` while
    /// open, and always `None` without business hours.
    pub fn closed_period(&self, at: i64) -> Option<i64> {
        use crate::domain::hours::{WeeklyHours, zone};
        let hours = WeeklyHours::parse(self.business_hours.as_ref()?).ok()?;
        hours.closed_until(zone(self.time_zone.as_deref()), at)
    }

    pub fn window_warnings(&self) -> Vec<i64> {
        self.window_warnings_minutes
            .clone()
            .unwrap_or_else(|| crate::domain::window::DEFAULT_WARNINGS_MIN.to_vec())
    }
}

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
    /// `pending` | `fetched` | `unavailable`.
    pub profile_status: String,
    /// When to ask the User Profile API again after a refusal.
    pub profile_retry_at: Option<i64>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub active_conversation_id: Option<String>,
    pub last_conversation_id: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct ConversationItem {
    pub pk: String,
    pub sk: String,
    pub gsi1pk: String,
    pub gsi1sk: String,
    pub gsi2pk: String,
    pub gsi2sk: String,
    pub gsi3pk: String,
    pub gsi3sk: String,
    pub account: String,
    pub id: String,
    pub page_id: String,
    pub channel: String,
    pub status: String,
    pub assignee: Option<String>,
    pub contact_id: String,
    /// The person's Page-scoped id, the Send API recipient.
    pub facebook_id: String,
    pub contact_name: Option<String>,
    pub contact_picture_url: Option<String>,
    pub post_id: Option<String>,
    pub subject: Option<String>,
    pub last_message_at: Option<i64>,
    pub last_inbound_at: Option<i64>,
    pub last_activity_at: i64,
    pub delivered_watermark: Option<i64>,
    pub read_watermark: Option<i64>,
    pub previous_conversation_id: Option<String>,
    pub csat: Option<Value>,
    pub created_at: i64,
    pub updated_at: i64,
    pub resolved_at: Option<i64>,
    // ---- window schedule (sparse GSI `due`) ----
    pub duepk: Option<String>,
    pub duesk: Option<String>,
    /// The last inbound time the handled marks refer to.
    pub window_epoch: Option<i64>,
    /// Window marks already handled for `window_epoch` (a string set).
    #[serde(default)]
    pub window_marks: Vec<String>,
    /// The item under `ACC#<a>` that points at this conversation while it is open: the
    /// contact for Messenger and leads, the post for comments. Absent means the contact.
    pub owner_sk: Option<String>,
    // ---- routing and automation ----
    /// The routing rule that placed the conversation (its removal policy applies to it).
    pub routing_rule: Option<String>,
    /// With the AI agent: it receives the person's messages until it hands off.
    #[serde(default)]
    pub bot_active: bool,
    /// The closed period (its end) the away message was sent for.
    pub away_period: Option<i64>,
    pub last_agent_reply_at: Option<i64>,
    pub csat_requested_at: Option<i64>,
    /// Who the survey rates: the assignee when it was resolved.
    pub csat_agent: Option<String>,
}

impl ConversationItem {
    pub fn owner_sk(&self) -> String {
        self.owner_sk
            .clone()
            .unwrap_or_else(|| super::keys::contact_sk(&self.contact_id))
    }
}

/// A post with comments: points at its open comment conversation, like a contact does.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct PostItem {
    pub pk: String,
    pub sk: String,
    pub page_id: String,
    pub post_id: String,
    pub text: Option<String>,
    pub permalink_url: Option<String>,
    pub active_conversation_id: Option<String>,
    pub last_conversation_id: Option<String>,
    pub created_at: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct MessageItem {
    pub pk: String,
    pub sk: String,
    pub account: String,
    pub id: String,
    pub conversation_id: String,
    /// `in` | `out`.
    pub direction: String,
    /// `contact` | `agent` | `page` | `bot` | `system`.
    pub author_type: String,
    pub author_id: Option<String>,
    pub text: Option<String>,
    #[serde(default)]
    pub attachments: Vec<Attachment>,
    pub status: String,
    pub error: Option<MessageError>,
    /// Meta's message id (mid).
    pub external_id: Option<String>,
    #[serde(default)]
    pub private: bool,
    pub quick_reply_payload: Option<String>,
    pub reply_to_mid: Option<String>,
    pub postback: Option<Value>,
    pub referral: Option<Value>,
    pub reaction: Option<Value>,
    pub edited_at: Option<i64>,
    pub edit_count: Option<i64>,
    #[serde(default)]
    pub standby: bool,
    /// Carried over from the contact's earlier conversation as context.
    #[serde(default)]
    pub context: bool,
    pub sent_at: Option<i64>,
    pub created_at: i64,
    // ---- outbound ----
    pub quick_replies: Option<Value>,
    pub client_id: Option<String>,
    /// How many Send API calls the message takes (attachments, then text).
    pub parts_total: Option<i64>,
    /// Meta's message ids of the parts sent so far, in order.
    #[serde(default)]
    pub sent_mids: Vec<String>,
    /// A sender holds the message until then; nobody else sends it meanwhile.
    pub lease_until: Option<i64>,
    /// A send timed out at this time: the echo decides whether it went out.
    pub ambiguous_since: Option<i64>,
    /// `RESPONSE` or `HUMAN_AGENT` as actually used.
    pub messaging_type: Option<String>,
    // ---- comments and leads ----
    /// `post` (the post a comment conversation is about), `comment`, `lead`, `note`.
    pub kind: Option<String>,
    /// The comment this message is (inbound) or answers (outbound).
    pub comment_id: Option<String>,
    /// When Meta's comment was created (epoch ms), for the 7-day private-reply rule.
    pub comment_created_at: Option<i64>,
    pub removed_at: Option<i64>,
    pub lead: Option<Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ClientItem {
    pub pk: String,
    pub sk: String,
    pub message_id: String,
    pub message_sk: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MidItem {
    pub pk: String,
    pub sk: String,
    pub account: String,
    pub conversation_id: String,
    pub message_sk: String,
    pub message_id: String,
}

impl MidItem {
    /// The guard that makes `mid` unique in the account and points at its message.
    pub fn for_message(m: &MessageItem, mid: &str) -> Self {
        MidItem {
            pk: super::keys::mid(&m.account, mid),
            sk: super::keys::MID_SK.into(),
            account: m.account.clone(),
            conversation_id: m.conversation_id.clone(),
            message_sk: m.sk.clone(),
            message_id: m.id.clone(),
        }
    }
}
