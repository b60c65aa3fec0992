//! Connecting Pages, without I/O: the webhook fields and permissions pagedesk needs, a Page's
//! channel switches, and what a health check concludes. (Meta's `signed_request` is a wire
//! format: `meta::signed_request`.)

use serde::{Deserialize, Serialize};

/// Every Page webhook field pagedesk handles, subscribed on connect and checked by the health
/// check. Channel switches do not change the subscription: a switched-off channel's events
/// are acknowledged and skipped, so switching back on loses nothing that arrives later.
pub const WEBHOOK_FIELDS: [&str; 12] = [
    "messages",
    "messaging_postbacks",
    "message_echoes",
    "message_reads",
    "message_deliveries",
    "message_reactions",
    "message_edits",
    "messaging_referrals",
    "messaging_handovers",
    "standby",
    "feed",
    "leadgen",
];

/// What working a Page's linked Instagram account needs: reading it, its Direct messages and
/// its comments. Missing ones are reported per Page; the Page's own channels keep working.
pub const INSTAGRAM_PERMISSIONS: [&str; 3] = [
    "instagram_basic",
    "instagram_manage_comments",
    "instagram_manage_messages",
];

/// Which kinds of events a Page brings in (Planfix lets admins leave comments out).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Channels {
    #[serde(default = "on")]
    pub messenger: bool,
    #[serde(default = "on")]
    pub comments: bool,
    #[serde(default = "on")]
    pub leads: bool,
    /// Instagram Direct of the linked Instagram account.
    #[serde(default = "on")]
    pub instagram: bool,
    /// Comments on the linked Instagram account's posts and reels.
    #[serde(default = "on")]
    pub instagram_comment: bool,
}

fn on() -> bool {
    true
}

impl Default for Channels {
    fn default() -> Self {
        Channels {
            messenger: true,
            comments: true,
            leads: true,
            instagram: true,
            instagram_comment: true,
        }
    }
}

impl Channels {
    /// The permissions the Page's switched-on channels need, besides listing Pages and
    /// managing their webhooks, which every Page needs.
    pub fn permissions(&self) -> Vec<&'static str> {
        let mut p = vec!["pages_show_list", "pages_manage_metadata"];
        if self.messenger {
            p.push("pages_messaging");
        }
        if self.comments {
            p.extend([
                "pages_read_engagement",
                "pages_read_user_engagement",
                "pages_manage_engagement",
            ]);
        }
        if self.leads {
            p.extend(["pages_read_engagement", "leads_retrieval"]);
        }
        p.sort_unstable();
        p.dedup();
        p
    }

    /// Whether events of a webhook field (`messaging` for Messenger, else the change's field)
    /// are wanted.
    pub fn admits(&self, field: &str) -> bool {
        match field {
            "feed" => self.comments,
            "leadgen" => self.leads,
            "instagram" => self.instagram,
            "instagram_comment" => self.instagram_comment,
            _ => self.messenger,
        }
    }
}

/// The Page task that is full control (Meta's "Facebook access with full control"): the only role
/// that may connect a Page to an account. The helpdesks pagedesk follows put it plainly: you can
/// connect only the Pages you administer. An analyst or a moderator cannot hand a Page, its
/// people's messages and its token to an account of their choosing.
pub const FULL_CONTROL_TASK: &str = "MANAGE";

/// Whether a person with `tasks` on a Page (as `/me/accounts` lists them) may connect it.
pub fn may_connect(tasks: &[String]) -> bool {
    tasks.iter().any(|t| t == FULL_CONTROL_TASK)
}

/// `needed` minus `granted`, in `needed`'s order.
pub fn missing<'a>(needed: &[&'a str], granted: &[String]) -> Vec<&'a str> {
    needed
        .iter()
        .copied()
        .filter(|p| !granted.iter().any(|g| g == p))
        .collect()
}

/// Fields of `WEBHOOK_FIELDS` that `subscribed` lacks.
pub fn missing_fields(subscribed: &[String]) -> Vec<&'static str> {
    missing(&WEBHOOK_FIELDS, subscribed)
}

/// What `GET /debug_token` says of a Page token.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct TokenInfo {
    #[serde(default)]
    pub is_valid: bool,
    /// Epoch seconds; 0 means never.
    #[serde(default)]
    pub expires_at: i64,
    #[serde(default)]
    pub scopes: Vec<String>,
    #[serde(default)]
    pub profile_id: Option<String>,
}

/// Why a Page needs re-authorisation, or `None` when its token is fine for `channels`.
pub fn token_problem(t: &TokenInfo, channels: &Channels, now_ms: i64) -> Option<String> {
    if !t.is_valid {
        return Some("token_invalid".into());
    }
    if t.expires_at > 0 && t.expires_at * 1000 <= now_ms {
        return Some("token_expired".into());
    }
    let lacking = missing(&channels.permissions(), &t.scopes);
    (!lacking.is_empty()).then(|| format!("missing_permissions: {}", lacking.join(",")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions_follow_channels_and_tokens_are_judged() {
        let all = Channels::default();
        assert_eq!(all.permissions().len(), 7);
        let only_messenger = Channels {
            messenger: true,
            comments: false,
            leads: false,
            instagram: false,
            instagram_comment: false,
        };
        assert_eq!(
            only_messenger.permissions(),
            [
                "pages_manage_metadata",
                "pages_messaging",
                "pages_show_list"
            ]
        );
        assert!(!only_messenger.admits("feed") && only_messenger.admits("messaging"));
        assert!(!only_messenger.admits("instagram") && all.admits("instagram"));
        let granted: Vec<String> = all.permissions().iter().map(|s| s.to_string()).collect();
        let mut t = TokenInfo {
            is_valid: true,
            scopes: granted.clone(),
            ..Default::default()
        };
        assert_eq!(token_problem(&t, &all, 1_000), None);
        t.scopes.retain(|s| s != "leads_retrieval");
        assert_eq!(
            token_problem(&t, &all, 1_000).as_deref(),
            Some("missing_permissions: leads_retrieval")
        );
        assert_eq!(
            token_problem(
                &t,
                &Channels {
                    leads: false,
                    ..all
                },
                1_000
            ),
            None
        );
        t.expires_at = 1;
        assert_eq!(
            token_problem(&t, &only_messenger, 5_000).as_deref(),
            Some("token_expired")
        );
        t.is_valid = false;
        assert_eq!(token_problem(&t, &all, 0).as_deref(), Some("token_invalid"));
        assert_eq!(missing_fields(&["feed".into()]).len(), 11);
    }

    #[test]
    fn only_full_control_may_connect() {
        let tasks = |t: &[&str]| t.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert!(may_connect(&tasks(&["ANALYZE", "MANAGE"])));
        assert!(!may_connect(&tasks(&["ANALYZE"])));
        assert!(!may_connect(&tasks(&[
            "MODERATE",
            "MESSAGING",
            "CREATE_CONTENT",
            "ADVERTISE"
        ])));
        assert!(!may_connect(&[]), "a Page not listed for the person");
        assert!(
            !may_connect(&tasks(&["manage"])),
            "Meta's names are upper case"
        );
    }
}
