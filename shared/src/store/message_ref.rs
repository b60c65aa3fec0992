//! How the parts of pagedesk point at a stored message without knowing the store's keys.
//!
//! A [`MessageRef`] is opaque outside `store`: only the store makes one from a message it holds
//! and reads one back into a key. It is serialized as the plain string it always was (the
//! message's sort key), so queue jobs already in flight and the echo metadata of sends Meta has
//! not echoed yet stay valid across a deploy.

use serde::{Deserialize, Serialize};

/// A stored message, within its conversation.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MessageRef(String);

impl MessageRef {
    /// Only the store knows what the string is.
    pub(crate) fn from_key(sk: String) -> Self {
        MessageRef(sk)
    }

    pub(crate) fn key(&self) -> &str {
        &self.0
    }
}

/// What pagedesk writes into a send's `metadata` so Meta's echo of it finds the message:
/// `pd1:<conversation id>:<message ref>:<part>`. The format is a contract with every send still
/// waiting for its echo: change it only with a new prefix, and keep reading this one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EchoMetadata {
    pub conversation_id: String,
    pub message: MessageRef,
    pub part: usize,
}

const PREFIX: &str = "pd1:";

impl EchoMetadata {
    /// Whether `metadata` was written by pagedesk (even if it no longer parses).
    pub fn is_ours(metadata: &str) -> bool {
        metadata.starts_with(PREFIX)
    }

    /// Reads what [`EchoMetadata::to_string`] wrote; `None` for anything else.
    pub fn parse(metadata: &str) -> Option<Self> {
        let rest = metadata.strip_prefix(PREFIX)?;
        let (conv, rest) = rest.split_once(':')?;
        let (reference, part) = rest.rsplit_once(':')?;
        Some(EchoMetadata {
            conversation_id: conv.to_owned(),
            message: MessageRef(reference.to_owned()),
            part: part.parse().ok()?,
        })
    }
}

impl std::fmt::Display for EchoMetadata {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{PREFIX}{}:{}:{}",
            self.conversation_id, self.message.0, self.part
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The metadata of a send made before this type existed reads back to the same message.
    #[test]
    fn todays_format_round_trips() {
        let written = "pd1:cv_1:MSG#0000000000001#ms_1:2";
        let m = EchoMetadata::parse(written).expect("ours");
        assert_eq!(m.conversation_id, "cv_1");
        assert_eq!(m.message.key(), "MSG#0000000000001#ms_1");
        assert_eq!(m.part, 2);
        assert_eq!(m.to_string(), written);
        assert!(EchoMetadata::is_ours(written));
        assert_eq!(EchoMetadata::parse("someone else's"), None);
        assert!(!EchoMetadata::is_ours("someone else's"));
        assert_eq!(EchoMetadata::parse("pd1:cv:sk:x"), None);
    }

    /// In a queue job a reference is the plain string it was.
    #[test]
    fn a_reference_serializes_as_the_bare_key() {
        let r = MessageRef::from_key("MSG#0000000000007#ms_1".into());
        let json = serde_json::to_string(&r).expect("serializes");
        assert_eq!(json, r#""MSG#0000000000007#ms_1""#);
        let back: MessageRef = serde_json::from_str(&json).expect("parses");
        assert_eq!(back, r);
    }
}
