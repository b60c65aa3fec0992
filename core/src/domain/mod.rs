//! The domain without I/O: the vocabulary (`vocab`), the value types messages carry, and the
//! rules (window, outbound choices, routing rules, business hours), each unit-tested alone.

pub mod hours;
pub mod outbound;
pub mod rules;
pub mod search;
pub mod vocab;
pub mod webhooks;
pub mod window;
pub mod workday;

pub use vocab::{
    AgentStatus, AssignedBy, AuthorType, Channel, ConversationStatus, DeliveryStatus, Direction,
    EventType, InstagramStatus, MessageKind, MessageStatus, PageStatus, ProfileStatus, ReplyRoute,
    RoutingMethod, SendType, UnsnoozedBy,
};

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Attachment {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sticker_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coordinates: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<Value>,
    /// Whether our copy is in the data bucket (`None`: nothing to copy, no URL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stored: Option<bool>,
    /// Where our copy (or the agent's upload) is in the data bucket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<i64>,
    /// Why the copy was given up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_error: Option<String>,
    /// The agent's upload this attachment sends (`POST /uploads`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageError {
    pub code: Option<i64>,
    pub subcode: Option<i64>,
    pub reason: String,
    pub message: Option<String>,
}
