//! Who may call the agent API: the roles, the claims a verified token carries, and what makes
//! those claims acceptable. Verifying the token itself (keys, signatures) is an adapter's
//! (`pagedesk_shared::adapters::auth`).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Agent,
    Admin,
    /// The account's AI agent: answers as author `bot` while it has a conversation, and hands
    /// conversations off to people.
    Bot,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub account: String,
    pub role: Role,
    #[serde(default)]
    pub exp: Option<u64>,
}

/// Why verified claims are still refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ClaimsRefused(pub &'static str);

/// The one agent id nobody may have (see `check`).
pub const RESERVED_AGENT_ID: &str = "-";
/// The longest agent id (a token's `sub`) the API takes.
pub const MAX_AGENT_ID_CHARS: usize = 128;

/// Why `id` cannot name an agent (`openapi.yaml`'s path id: 1 to 128 characters, not only
/// white space, not the reserved `-`), or `None`.
pub fn agent_id_problem(id: &str) -> Option<&'static str> {
    if id.is_empty() || id.chars().count() > MAX_AGENT_ID_CHARS {
        Some("id: 1 to 128 characters")
    } else if id.chars().all(char::is_whitespace) {
        Some("id: not only white space")
    } else if id == RESERVED_AGENT_ID {
        Some("id: '-' is reserved (it marks unassigned conversations)")
    } else {
        None
    }
}

pub fn check(c: Claims) -> Result<Claims, ClaimsRefused> {
    if c.sub.trim().is_empty() || c.account.trim().is_empty() {
        return Err(ClaimsRefused("sub and account are required"));
    }
    if c.account.contains('#') || c.sub.contains('#') {
        return Err(ClaimsRefused("account and sub may not contain '#'"));
    }
    // The store lists unassigned conversations under "-": an agent of that name would see
    // (and be counted with) everyone's unassigned work.
    if c.sub == RESERVED_AGENT_ID {
        return Err(ClaimsRefused("sub '-' is reserved"));
    }
    Ok(c)
}

#[cfg(test)]
mod agent_id_tests {
    use super::agent_id_problem;

    #[test]
    fn an_agent_id_is_one_to_128_characters_not_blank_nor_reserved() {
        assert_eq!(agent_id_problem("ann"), None);
        assert_eq!(agent_id_problem(&"é".repeat(128)), None);
        assert!(agent_id_problem(&"a".repeat(129)).is_some());
        assert!(agent_id_problem("").is_some());
        assert!(agent_id_problem("  ").is_some());
        assert!(agent_id_problem("-").is_some());
    }
}
