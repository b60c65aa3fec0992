//! The simulator's Facebook side of connecting Pages (issue 9's groundwork): people who manage
//! Pages, the tokens Facebook Login gives them, and the Graph endpoints a connect flow and a
//! health check call — `/oauth/access_token` (login code and `fb_exchange_token`),
//! `/me/accounts` with paging, `/me/permissions`, `/me`, `/debug_token`,
//! `/{page}/subscribed_apps` (GET, POST, DELETE) and the Conversations API
//! (`/{page}/conversations`, `/{thread}/messages`). Tokens are minted here and only these are
//! known; a revoked Page's tokens answer 190.

mod history;
mod links;

use std::collections::{HashMap, HashSet};

use serde::Deserialize;
use serde_json::{Value, json};

/// Every permission pagedesk asks for at login.
pub const PERMISSIONS: [&str; 11] = [
    "pages_show_list",
    "pages_manage_metadata",
    "pages_messaging",
    "pages_read_engagement",
    "pages_read_user_engagement",
    "pages_manage_engagement",
    "leads_retrieval",
    "business_management",
    "instagram_basic",
    "instagram_manage_messages",
    "instagram_manage_comments",
];

#[derive(Debug, Clone, Deserialize)]
pub struct NewUser {
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub pages: Vec<PageRef>,
    #[serde(default)]
    pub declined: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PageRef {
    pub id: String,
    #[serde(default)]
    pub name: String,
    /// What the person may do on the Page (`/me/accounts`' `tasks`); every task by default,
    /// as for the Page's owner.
    #[serde(default = "every_task")]
    pub tasks: Vec<String>,
    /// The Instagram professional account linked to the Page (`{"id", "username"}`).
    #[serde(default)]
    pub instagram_business_account: Option<Value>,
}

/// The tasks Meta lists for a person with full control of a Page.
pub const EVERY_TASK: [&str; 6] = [
    "ADVERTISE",
    "ANALYZE",
    "CREATE_CONTENT",
    "MESSAGING",
    "MODERATE",
    "MANAGE",
];

fn every_task() -> Vec<String> {
    EVERY_TASK.iter().map(|t| (*t).to_owned()).collect()
}

#[derive(Debug, Clone, Deserialize)]
pub struct OldMessage {
    pub from: String,
    #[serde(default)]
    pub text: String,
    pub created_time: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct OldConversation {
    pub psid: String,
    pub messages: Vec<OldMessage>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    ShortUser,
    LongUser,
    Page,
}

#[derive(Debug, Clone)]
struct Token {
    kind: Kind,
    user: String,
    page: Option<String>,
}

#[derive(Debug, Clone)]
struct Thread {
    id: String,
    psid: String,
    messages: Vec<(String, OldMessage)>,
}

/// What the simulator knows of Facebook accounts.
#[derive(Default)]
pub struct Accounts {
    users: HashMap<String, NewUser>,
    tokens: HashMap<String, Token>,
    codes: HashMap<String, String>,
    revoked: HashSet<String>,
    subscriptions: HashMap<String, Vec<String>>,
    threads: HashMap<String, Vec<Thread>>,
    counter: u64,
}

/// A Graph answer: status and body.
pub type Answer = (u16, Value);

fn error(status: u16, code: i64, subcode: Option<i64>, message: &str) -> Answer {
    let mut e =
        json!({"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "sim"});
    if let Some(s) = subcode {
        e["error_subcode"] = json!(s);
    }
    (status, json!({"error": e}))
}

fn invalid_token() -> Answer {
    error(
        400,
        190,
        Some(460),
        "Error validating access token: The session has been invalidated because the user changed their password or Facebook has changed the session for security reasons.",
    )
}

impl Accounts {
    fn mint(&mut self, prefix: &str) -> String {
        self.counter += 1;
        format!("{prefix}{:012}", self.counter)
    }

    /// Creates a person who manages `pages`; answers their short-lived token and a login code.
    pub fn add_user(&mut self, u: NewUser) -> Value {
        let token = self.mint("EAAsimU");
        let code = self.mint("simcode");
        self.tokens.insert(
            token.clone(),
            Token {
                kind: Kind::ShortUser,
                user: u.id.clone(),
                page: None,
            },
        );
        self.codes.insert(code.clone(), u.id.clone());
        self.users.insert(u.id.clone(), u);
        json!({"user_access_token": token, "code": code})
    }

    /// The Page a Page token is for.
    pub fn page_of(&self, token: &str) -> Option<&str> {
        self.tokens
            .get(token)
            .filter(|t| t.kind == Kind::Page)
            .and_then(|t| t.page.as_deref())
    }

    pub fn revoke_page(&mut self, page: &str) {
        self.revoked.insert(page.to_owned());
    }

    pub fn drop_subscription(&mut self, page: &str) {
        self.subscriptions.remove(page);
    }

    /// The refusal of a token the simulator did not mint, or of a revoked Page's: Graph
    /// answers 190 everywhere for both.
    pub fn refused(&self, token: &str) -> Option<Answer> {
        self.token(Some(token)).err()
    }

    fn token(&self, token: Option<&str>) -> Result<&Token, Answer> {
        let t = token.and_then(|t| self.tokens.get(t)).ok_or_else(|| {
            error(
                400,
                190,
                None,
                "Invalid OAuth access token - Cannot parse access token",
            )
        })?;
        match &t.page {
            Some(p) if self.revoked.contains(p) => Err(invalid_token()),
            _ => Ok(t),
        }
    }

    /// Answers the Graph paths of a connect flow; `None` for paths it does not own.
    pub fn answer(
        &mut self,
        method: &str,
        rest: &[&str],
        param: &dyn Fn(&str) -> Option<String>,
        app_id: &str,
        here: &str,
    ) -> Option<Answer> {
        let token = param("access_token");
        let page_of = |data: Vec<Value>| page_of(data, param, here);
        Some(match (method, rest) {
            ("GET", ["oauth", "access_token"]) => self.oauth(param, app_id),
            ("GET", ["me", "accounts"]) => match self.accounts(token.as_deref()) {
                Ok(data) => page_of(data),
                Err(e) => e,
            },
            ("GET", ["me", "permissions"]) => match self.token(token.as_deref()) {
                Ok(t) if t.kind != Kind::Page => {
                    let declined = self
                        .users
                        .get(&t.user)
                        .map(|u| u.declined.clone())
                        .unwrap_or_default();
                    let data: Vec<Value> = PERMISSIONS
                        .iter()
                        .map(|p| {
                            let status = if declined.iter().any(|d| d == p) {
                                "declined"
                            } else {
                                "granted"
                            };
                            json!({"permission": p, "status": status})
                        })
                        .collect();
                    (200, json!({"data": data}))
                }
                Ok(_) => error(
                    400,
                    100,
                    None,
                    "Tried accessing nonexisting field (permissions)",
                ),
                Err(e) => e,
            },
            ("GET", ["me"]) => match self.token(token.as_deref()) {
                Ok(Token { page: Some(p), .. }) => {
                    let name = self.page_name(p);
                    (200, json!({"id": p, "name": name}))
                }
                Ok(t) => {
                    let name = self
                        .users
                        .get(&t.user)
                        .map(|u| u.name.clone())
                        .unwrap_or_default();
                    (200, json!({"id": t.user, "name": name}))
                }
                Err(e) => e,
            },
            ("GET", [page])
                if param("fields").is_some_and(|f| f.contains("instagram_business_account")) =>
            {
                self.page_instagram(page, token.as_deref())
            }
            ("GET", ["debug_token"]) => self.debug_token(param("input_token").as_deref(), app_id),
            (_, [page, "subscribed_apps"]) => {
                self.subscribed_apps(method, page, token.as_deref(), param, app_id)
            }
            ("GET", [page, "conversations"])
                if self.threads.contains_key(*page) || self.owns(token.as_deref(), page) =>
            {
                match self.page_token(token.as_deref(), page) {
                    Ok(()) => {
                        let updated = |t: &Thread| {
                            t.messages
                                .iter()
                                .map(|m| m.1.created_time.clone())
                                .max()
                                .unwrap_or_default()
                        };
                        // Most recently updated first, as Meta lists them.
                        let mut threads: Vec<&Thread> =
                            self.threads.get(*page).into_iter().flatten().collect();
                        threads.sort_by_key(|t| std::cmp::Reverse(updated(t)));
                        let data: Vec<Value> = threads
                            .into_iter()
                            .map(|t| json!({"id": t.id, "updated_time": updated(t)}))
                            .collect();
                        page_of(data)
                    }
                    Err(e) => e,
                }
            }
            ("GET", [thread, "messages"]) if thread.starts_with("t_") => {
                let found = self.threads.iter().find_map(|(p, ts)| {
                    ts.iter()
                        .find(|t| t.id == *thread)
                        .map(|t| (p.clone(), t.clone()))
                });
                let Some((page, t)) = found else {
                    return Some(error(400, 100, None, "Unsupported get request."));
                };
                if let Err(e) = self.page_token(token.as_deref(), &page) {
                    return Some(e);
                }
                let mut msgs: Vec<&(String, OldMessage)> = t.messages.iter().collect();
                msgs.sort_by(|a, b| b.1.created_time.cmp(&a.1.created_time));
                // Meta gives details of the 20 most recent messages of a conversation only.
                let data: Vec<Value> = msgs
                    .into_iter()
                    .take(20)
                    .map(|(id, m)| {
                        let (from, to) = if m.from == "page" {
                            (page.clone(), t.psid.clone())
                        } else {
                            (t.psid.clone(), page.clone())
                        };
                        json!({"id": id, "created_time": m.created_time, "message": m.text,
                               "from": {"id": from}, "to": {"data": [{"id": to}]}})
                    })
                    .collect();
                page_of(data)
            }
            _ => return None,
        })
    }

    fn owns(&self, token: Option<&str>, page: &str) -> bool {
        token
            .and_then(|t| self.tokens.get(t))
            .is_some_and(|t| t.page.as_deref() == Some(page))
    }

    fn page_token(&self, token: Option<&str>, page: &str) -> Result<(), Answer> {
        let t = self.token(token)?;
        if t.page.as_deref() == Some(page) {
            Ok(())
        } else {
            Err(error(
                400,
                190,
                None,
                "A Page access token is required to request this resource.",
            ))
        }
    }

    fn page_name(&self, page: &str) -> String {
        self.users
            .values()
            .flat_map(|u| u.pages.iter())
            .find(|p| p.id == page)
            .map(|p| p.name.clone())
            .unwrap_or_default()
    }

    fn oauth(&mut self, param: &dyn Fn(&str) -> Option<String>, app_id: &str) -> Answer {
        if param("grant_type").as_deref() == Some("client_credentials") {
            return (
                200,
                json!({"access_token": format!("{app_id}|sim-app-token"), "token_type": "bearer"}),
            );
        }
        if param("grant_type").as_deref() == Some("fb_exchange_token") {
            let user = match self.token(param("fb_exchange_token").as_deref()) {
                Ok(t) if t.kind != Kind::Page => t.user.clone(),
                Ok(_) => return error(400, 100, None, "fb_exchange_token must be a user token"),
                Err(e) => return e,
            };
            let token = self.mint("EAAsimL");
            self.tokens.insert(
                token.clone(),
                Token {
                    kind: Kind::LongUser,
                    user,
                    page: None,
                },
            );
            return (
                200,
                json!({"access_token": token, "token_type": "bearer", "expires_in": 5_183_944}),
            );
        }
        let Some(user) = param("code").and_then(|c| self.codes.remove(&c)) else {
            return error(
                400,
                100,
                Some(36009),
                "This authorization code has been used.",
            );
        };
        if param("redirect_uri").is_none() {
            return error(400, 100, None, "Missing redirect_uri parameter.");
        }
        let token = self.mint("EAAsimU");
        self.tokens.insert(
            token.clone(),
            Token {
                kind: Kind::ShortUser,
                user,
                page: None,
            },
        );
        (
            200,
            json!({"access_token": token, "token_type": "bearer", "expires_in": 3_600}),
        )
    }

    /// The Pages the person granted, each with a Page token.
    fn accounts(&mut self, token: Option<&str>) -> Result<Vec<Value>, Answer> {
        let t = match self.token(token) {
            Ok(t) if t.kind != Kind::Page => t.clone(),
            Ok(_) => {
                return Err(error(
                    400,
                    100,
                    None,
                    "Tried accessing nonexisting field (accounts)",
                ));
            }
            Err(e) => return Err(e),
        };
        let Some(user) = self.users.get(&t.user).cloned() else {
            return Ok(Vec::new());
        };
        if user.declined.iter().any(|d| d == "pages_show_list") {
            return Ok(Vec::new());
        }
        let mut data = Vec::new();
        for p in &user.pages {
            // One Page token per person and Page, as Meta's long-lived ones do not change.
            let existing = self
                .tokens
                .iter()
                .find(|(_, v)| {
                    v.kind == Kind::Page
                        && v.user == user.id
                        && v.page.as_deref() == Some(&p.id)
                        && t.kind == Kind::LongUser
                })
                .map(|(k, _)| k.clone());
            let token = match existing {
                Some(k) => k,
                None => {
                    let k = self.mint("EAAsimP");
                    self.tokens.insert(
                        k.clone(),
                        Token {
                            kind: Kind::Page,
                            user: user.id.clone(),
                            page: Some(p.id.clone()),
                        },
                    );
                    k
                }
            };
            let mut page = json!({"id": p.id, "name": p.name, "access_token": token,
                "category": "Business", "tasks": p.tasks});
            if let Some(ig) = &p.instagram_business_account {
                page["instagram_business_account"] = ig.clone();
            }
            data.push(page);
        }
        Ok(data)
    }

    fn debug_token(&self, input: Option<&str>, app_id: &str) -> Answer {
        let Some(t) = input.and_then(|i| self.tokens.get(i)) else {
            return (
                200,
                json!({"data": {"is_valid": false, "error": {"code": 190, "message": "Invalid OAuth access token."}, "scopes": []}}),
            );
        };
        let declined = self
            .users
            .get(&t.user)
            .map(|u| u.declined.clone())
            .unwrap_or_default();
        let scopes: Vec<&str> = PERMISSIONS
            .iter()
            .copied()
            .filter(|p| !declined.iter().any(|d| d == p))
            .collect();
        let revoked = t.page.as_deref().is_some_and(|p| self.revoked.contains(p));
        let mut data = json!({
            "app_id": app_id, "application": "pagedesk",
            "type": if t.kind == Kind::Page { "PAGE" } else { "USER" },
            "expires_at": if t.kind == Kind::ShortUser { 3600 } else { 0 },
            "is_valid": !revoked, "scopes": scopes, "user_id": t.user,
        });
        if let Some(p) = &t.page {
            data["profile_id"] = json!(p);
        }
        if revoked {
            data["error"] = json!({"code": 190, "subcode": 460, "message": "The session has been invalidated."});
        }
        (200, json!({"data": data}))
    }

    fn subscribed_apps(
        &mut self,
        method: &str,
        page: &str,
        token: Option<&str>,
        param: &dyn Fn(&str) -> Option<String>,
        app_id: &str,
    ) -> Answer {
        if let Err(e) = self.page_token(token, page) {
            return e;
        }
        match method {
            "POST" => {
                let Some(fields) = param("subscribed_fields") else {
                    return error(
                        400,
                        100,
                        None,
                        "The parameter subscribed_fields is required",
                    );
                };
                let fields: Vec<String> = fields
                    .split(',')
                    .map(|f| f.trim().to_owned())
                    .filter(|f| !f.is_empty())
                    .collect();
                self.subscriptions.insert(page.to_owned(), fields);
                (200, json!({"success": true}))
            }
            "DELETE" => {
                self.subscriptions.remove(page);
                (200, json!({"success": true}))
            }
            _ => match self.subscriptions.get(page) {
                Some(f) => (
                    200,
                    json!({"data": [{"id": app_id, "name": "pagedesk", "subscribed_fields": f}]}),
                ),
                None => (200, json!({"data": []})),
            },
        }
    }
}

/// One page of a Graph list: `limit` (25) items after the `after` cursor, with Meta's paging
/// (`next` is the full URL of the following page, `here` being this request's URL).
fn page_of(data: Vec<Value>, param: &dyn Fn(&str) -> Option<String>, here: &str) -> Answer {
    let limit = param("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(25usize)
        .max(1);
    let start = param("after")
        .and_then(|a| a.strip_prefix("c").and_then(|n| n.parse().ok()))
        .unwrap_or(0usize);
    let end = (start + limit).min(data.len());
    let items: Vec<Value> = data
        .get(start..end)
        .map(<[Value]>::to_vec)
        .unwrap_or_default();
    let mut paging =
        json!({"cursors": {"before": format!("c{start}"), "after": format!("c{end}")}});
    if end < data.len() {
        let token = param("access_token").unwrap_or_default();
        paging["next"] = json!(format!(
            "{here}?access_token={token}&limit={limit}&after=c{end}"
        ));
    }
    (200, json!({"data": items, "paging": paging}))
}
