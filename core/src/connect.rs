//! Connecting Pages, without I/O: the webhook fields and permissions pagedesk needs, a Page's
//! channel switches, and what a health check concludes. (Meta's `signed_request` is a wire
//! format: `meta::signed_request`.)

use serde::{Deserialize, Serialize};

use crate::domain::InstagramStatus;

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

/// The Instagram webhook fields pagedesk handles. They belong to the app's `instagram` object
/// subscription (`/{app-id}/subscriptions`), not to a Page's: Meta delivers them for the
/// Instagram account of every Page the app is installed on (`subscribed_apps`).
pub const INSTAGRAM_FIELDS: [&str; 7] = [
    "messages",
    "messaging_postbacks",
    "messaging_referral",
    "messaging_seen",
    "message_reactions",
    "comments",
    "live_comments",
];

/// Whether a Page's Instagram account may be worked with the permissions `granted`:
/// `Connected` and none missing, or `MissingPermissions` and the missing ones.
pub fn instagram_status(granted: &[String]) -> (InstagramStatus, Vec<&'static str>) {
    let lacking = missing(&INSTAGRAM_PERMISSIONS, granted);
    let status = if lacking.is_empty() {
        InstagramStatus::Connected
    } else {
        InstagramStatus::MissingPermissions
    };
    (status, lacking)
}

/// One object of the app's webhook subscriptions, as `GET /{app-id}/subscriptions` lists it.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct AppSubscription {
    pub object: String,
    #[serde(default)]
    pub callback_url: String,
    #[serde(default)]
    pub active: bool,
    #[serde(default, deserialize_with = "field_names")]
    pub fields: Vec<String>,
}

/// Meta lists fields as `{"name", "version"}`; bare names are taken too.
fn field_names<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Field {
        Named { name: String },
        Bare(String),
    }
    let fields = Vec::<Field>::deserialize(d)?;
    Ok(fields
        .into_iter()
        .map(|f| match f {
            Field::Named { name } | Field::Bare(name) => name,
        })
        .collect())
}

/// What to do about the app's `instagram` subscription.
#[derive(Debug, Clone, PartialEq)]
pub enum InstagramSubscription {
    /// Every field in `INSTAGRAM_FIELDS` is subscribed.
    Complete,
    /// Subscribe `fields` (ours and those already there) at `callback_url`; `missing` were
    /// lacking.
    Subscribe {
        callback_url: String,
        fields: Vec<String>,
        missing: Vec<&'static str>,
    },
    /// Not ours to repair (`no_page_subscription`: the deployer has not set up the app's Page
    /// webhook, so there is no callback URL to copy; `callback_elsewhere`: the app's Instagram
    /// webhook goes to another endpoint, which pagedesk must not take over).
    Blocked {
        reason: &'static str,
        missing: Vec<&'static str>,
    },
}

/// Judges the app's subscriptions. The callback is the one the deployer entered for the
/// `page` object, so pagedesk never needs to know its own public URL.
pub fn instagram_subscription(subs: &[AppSubscription]) -> InstagramSubscription {
    let of = |object: &str| subs.iter().find(|s| s.object == object && s.active);
    let current = of("instagram");
    let have = current.map(|s| s.fields.as_slice()).unwrap_or_default();
    let missing = missing(&INSTAGRAM_FIELDS, have);
    if missing.is_empty() {
        return InstagramSubscription::Complete;
    }
    let Some(page) = of("page").filter(|p| !p.callback_url.is_empty()) else {
        return InstagramSubscription::Blocked {
            reason: "no_page_subscription",
            missing,
        };
    };
    if current.is_some_and(|c| !c.callback_url.is_empty() && c.callback_url != page.callback_url) {
        return InstagramSubscription::Blocked {
            reason: "callback_elsewhere",
            missing,
        };
    }
    let mut fields = have.to_vec();
    fields.extend(missing.iter().map(|f| (*f).to_owned()));
    InstagramSubscription::Subscribe {
        callback_url: page.callback_url.clone(),
        fields,
        missing,
    }
}

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
    fn instagram_access_and_the_apps_instagram_subscription() {
        let all: Vec<String> = INSTAGRAM_PERMISSIONS
            .iter()
            .map(|p| p.to_string())
            .collect();
        assert_eq!(instagram_status(&all), (InstagramStatus::Connected, vec![]));
        assert_eq!(
            instagram_status(&all[..2]),
            (
                InstagramStatus::MissingPermissions,
                vec!["instagram_manage_messages"]
            )
        );
        let subs: Vec<AppSubscription> = serde_json::from_value(serde_json::json!([
            {"object": "page", "callback_url": "https://hook/webhook", "active": true,
             "fields": [{"name": "messages", "version": "v25.0"}]},
            {"object": "instagram", "callback_url": "https://hook/webhook", "active": true,
             "fields": [{"name": "messages", "version": "v25.0"}, {"name": "mentions", "version": "v25.0"}]}
        ]))
        .unwrap();
        let InstagramSubscription::Subscribe {
            callback_url,
            fields,
            missing,
        } = instagram_subscription(&subs)
        else {
            panic!("a partial subscription is completed");
        };
        assert_eq!(callback_url, "https://hook/webhook");
        assert_eq!(missing.len(), 6);
        assert!(
            fields.contains(&"mentions".to_owned()),
            "others' fields stay"
        );
        assert_eq!(fields.len(), 8);
        // Only the Page object: subscribed at its callback.
        assert!(matches!(
            instagram_subscription(&subs[..1]),
            InstagramSubscription::Subscribe { missing, .. } if missing.len() == 7
        ));
        // Nothing to copy the callback from.
        assert_eq!(
            instagram_subscription(&[]),
            InstagramSubscription::Blocked {
                reason: "no_page_subscription",
                missing: INSTAGRAM_FIELDS.to_vec()
            }
        );
        // Someone else's Instagram endpoint is left alone.
        let mut elsewhere = subs.clone();
        elsewhere[1].callback_url = "https://other/ig".into();
        assert!(matches!(
            instagram_subscription(&elsewhere),
            InstagramSubscription::Blocked {
                reason: "callback_elsewhere",
                ..
            }
        ));
        let mut complete = subs;
        complete[1].fields = INSTAGRAM_FIELDS.map(str::to_owned).to_vec();
        complete[1].callback_url = "https://other/ig".into();
        assert_eq!(
            instagram_subscription(&complete),
            InstagramSubscription::Complete
        );
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
