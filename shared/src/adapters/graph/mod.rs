//! Graph API client: base URL and version from config (Meta in production, the simulator in
//! local runs and tests). Errors keep Meta's code and subcode so callers classify them by
//! number, never by message text (which Meta localises).

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use crate::adapters::secrets::SecretCache;
use crate::runtime::config::GraphConfig;

pub use pagedesk_core::meta::graph_error::GraphError;

mod connect;
pub use connect::{AppCredentials, GrantedPage, InstagramAccount, Node};

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct Profile {
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub last_name: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub profile_pic: Option<String>,
    /// Instagram's @handle (the Instagram user profile).
    #[serde(default)]
    pub username: Option<String>,
}

impl Profile {
    /// The name to show: `name` if Meta gave one, else first and last joined. Never invented.
    pub fn display_name(&self) -> Option<String> {
        if let Some(n) = self
            .name
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())
        {
            return Some(n.to_owned());
        }
        let joined = [self.first_name.as_deref(), self.last_name.as_deref()]
            .into_iter()
            .flatten()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        (!joined.is_empty()).then_some(joined)
    }
}

/// Whether Graph calls carry `appsecret_proof`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProofState {
    /// Every call with a token carries it.
    Sent,
    /// The app secret is not stored (or empty): calls go without it.
    SecretNotStored,
    /// The secret could not be read just now: calls fail until it can be.
    Unreadable,
    /// This function makes no proofs (it has no app secret configured).
    NotConfigured,
}

impl ProofState {
    /// What a read of the app secret means for the proofs.
    pub fn of_secret(secret: Option<&str>) -> ProofState {
        match secret {
            Some(s) if !s.is_empty() => ProofState::Sent,
            _ => ProofState::SecretNotStored,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ProofState::Sent => "sent",
            ProofState::SecretNotStored => "app_secret_not_stored",
            ProofState::Unreadable => "app_secret_unreadable",
            ProofState::NotConfigured => "not_configured",
        }
    }
}

#[derive(Clone)]
pub struct GraphClient {
    http: reqwest::Client,
    base: String,
    /// The app secret's id, and the cache it is read through, for `appsecret_proof`.
    app_secret_id: Option<String>,
    secrets: Option<Arc<SecretCache>>,
}

impl GraphClient {
    pub fn new(cfg: &GraphConfig) -> Self {
        let http = crate::adapters::tls::reqwest_builder()
            .timeout(Duration::from_millis(cfg.timeout_ms))
            .connect_timeout(Duration::from_secs(3))
            .build()
            .unwrap_or_default();
        GraphClient {
            http,
            base: format!("{}/{}", cfg.base_url, cfg.version),
            app_secret_id: cfg.app_secret_id.clone(),
            secrets: None,
        }
    }

    /// Every call with a token carries its `appsecret_proof`, made with the app secret read
    /// through `secrets` (cached there), so an operator can switch on Meta's "Require App
    /// Secret" and a token that leaks is useless without the secret.
    pub fn proving_with(mut self, secrets: &Arc<SecretCache>) -> Self {
        self.secrets = Some(secrets.clone());
        self
    }

    /// Whether calls carry `appsecret_proof` now (one read of the app secret, cached), for
    /// the Page diagnostics: a missing secret otherwise only shows when Meta starts refusing.
    pub async fn proof_state(&self) -> ProofState {
        let (Some(secrets), Some(id)) = (&self.secrets, &self.app_secret_id) else {
            return ProofState::NotConfigured;
        };
        match secrets.get(id).await {
            Ok(v) => ProofState::of_secret(v.as_deref()),
            Err(_) => ProofState::Unreadable,
        }
    }

    /// The query parameters that authorise a call with `token`.
    async fn auth(&self, token: &str) -> Result<Vec<(&'static str, String)>, GraphError> {
        let mut q = vec![("access_token", token.to_owned())];
        if let (Some(secrets), Some(id)) = (&self.secrets, &self.app_secret_id) {
            match secrets.get(id).await {
                Ok(Some(secret)) if !secret.is_empty() => q.push((
                    "appsecret_proof",
                    pagedesk_core::meta::signature::appsecret_proof(secret.as_bytes(), token),
                )),
                // Not stored yet: the call goes without it (Meta refuses it only if the app
                // requires proofs, and then every call fails until the secret is stored). The
                // Page diagnostics say so (`proof_state`).
                Ok(_) => {}
                Err(_) => {
                    return Err(GraphError::Transport(
                        "the Meta app secret could not be read".into(),
                    ));
                }
            }
        }
        Ok(q)
    }

    fn url(&self, path: &str) -> String {
        format!("{}/{}", self.base, path.trim_start_matches('/'))
    }

    pub async fn get(
        &self,
        path: &str,
        query: &[(&str, &str)],
        token: &str,
    ) -> Result<Value, GraphError> {
        let req = self
            .http
            .get(self.url(path))
            .query(query)
            .query(&self.auth(token).await?);
        Self::finish(req.send().await).await
    }

    pub async fn post_json(
        &self,
        path: &str,
        body: &Value,
        token: &str,
    ) -> Result<Value, GraphError> {
        let req = self
            .http
            .post(self.url(path))
            .query(&self.auth(token).await?)
            .json(body);
        Self::finish(req.send().await).await
    }

    pub async fn delete(&self, path: &str, token: &str) -> Result<Value, GraphError> {
        let req = self
            .http
            .delete(self.url(path))
            .query(&self.auth(token).await?);
        Self::finish(req.send().await).await
    }

    async fn finish(res: Result<reqwest::Response, reqwest::Error>) -> Result<Value, GraphError> {
        let res = res.map_err(|e| {
            if e.is_timeout() {
                GraphError::Timeout
            } else if e.is_connect() {
                GraphError::Transport(e.without_url().to_string())
            } else {
                // The connection broke after the request was on its way.
                GraphError::Unconfirmed(e.without_url().to_string())
            }
        })?;
        let status = res.status().as_u16();
        let ok = (200..300).contains(&status);
        let bytes = match res.bytes().await {
            Ok(b) => b,
            Err(e) if e.is_timeout() => return Err(GraphError::Timeout),
            // Graph answered; only the body broke off. A refusal is still a refusal.
            Err(_) if !ok => return Err(GraphError::Http { status }),
            Err(e) => return Err(GraphError::Unconfirmed(e.without_url().to_string())),
        };
        if !ok {
            return Err(GraphError::from_body(status, &bytes));
        }
        serde_json::from_slice(&bytes)
            .map_err(|e| GraphError::Unconfirmed(format!("a 2xx answer that is not JSON: {e}")))
    }

    /// A post's text and link, for a comment conversation's subject and first entry.
    pub async fn post(&self, post_id: &str, page_token: &str) -> Result<Value, GraphError> {
        self.get(
            post_id,
            &[("fields", "message,story,permalink_url,created_time")],
            page_token,
        )
        .await
    }

    /// An Instagram post or reel, in a Page post's terms (`message`, `permalink_url`,
    /// `created_time`) so comments treat both alike.
    pub async fn instagram_media(
        &self,
        media_id: &str,
        page_token: &str,
    ) -> Result<Value, GraphError> {
        let v = self
            .get(
                media_id,
                &[("fields", "caption,permalink,timestamp")],
                page_token,
            )
            .await?;
        Ok(serde_json::json!({
            "message": v.get("caption"),
            "permalink_url": v.get("permalink"),
            "created_time": v.get("timestamp"),
        }))
    }

    /// Lead retrieval: the answers of a lead-ad form (`leads_retrieval`).
    pub async fn lead(&self, leadgen_id: &str, page_token: &str) -> Result<Value, GraphError> {
        self.get(
            leadgen_id,
            &[(
                "fields",
                "id,created_time,field_data,form_id,ad_id,campaign_id",
            )],
            page_token,
        )
        .await
    }

    /// One page of the Page's Messenger conversations (Conversations API), with the cursor of
    /// the next page if there is one.
    pub async fn conversations(
        &self,
        page_id: &str,
        token: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<(Vec<Thread>, Option<String>), GraphError> {
        let limit = limit.to_string();
        let mut q = vec![
            ("platform", "messenger"),
            ("fields", "id,updated_time"),
            ("limit", limit.as_str()),
        ];
        if let Some(a) = after {
            q.push(("after", a));
        }
        let list: List<Thread> = decode(
            self.get(&format!("{page_id}/conversations"), &q, token)
                .await?,
        )?;
        let next = list.paging.and_then(|p| p.next_cursor());
        Ok((list.data, next))
    }

    /// A conversation's messages as Meta details them (the 20 most recent).
    pub async fn thread_messages(
        &self,
        thread_id: &str,
        token: &str,
    ) -> Result<Vec<OldMessage>, GraphError> {
        let list: List<OldMessage> = decode(
            self.get(
                &format!("{thread_id}/messages"),
                &[
                    ("fields", "id,created_time,from,to,message"),
                    ("limit", "20"),
                ],
                token,
            )
            .await?,
        )?;
        Ok(list.data)
    }

    /// Instagram user profile (the Page's token, the Instagram-scoped id):
    /// `GET /{igsid}?fields=name,username,profile_pic`. Meta answers only for people who wrote
    /// to the account.
    pub async fn instagram_profile(&self, igsid: &str, token: &str) -> Result<Profile, GraphError> {
        self.profile(igsid, "name,username,profile_pic", token)
            .await
    }

    /// User Profile API: `GET /{psid}?fields=first_name,last_name,name,profile_pic`.
    pub async fn user_profile(&self, psid: &str, page_token: &str) -> Result<Profile, GraphError> {
        self.profile(psid, "first_name,last_name,name,profile_pic", page_token)
            .await
    }

    async fn profile(&self, id: &str, fields: &str, token: &str) -> Result<Profile, GraphError> {
        let v = self.get(id, &[("fields", fields)], token).await?;
        serde_json::from_value(v).map_err(|e| GraphError::Decode(e.to_string()))
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Thread {
    pub id: String,
    #[serde(default)]
    pub updated_time: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct OldMessage {
    pub id: String,
    #[serde(default)]
    pub created_time: Option<String>,
    #[serde(default)]
    pub from: Option<Node>,
    #[serde(default)]
    pub to: Option<Recipients>,
    #[serde(default)]
    pub message: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Recipients {
    #[serde(default)]
    pub data: Vec<Node>,
}

#[derive(Deserialize)]
struct List<T> {
    #[serde(default = "Vec::new")]
    data: Vec<T>,
    #[serde(default)]
    paging: Option<Paging>,
}

#[derive(Deserialize)]
struct Paging {
    #[serde(default)]
    cursors: Option<Cursors>,
    #[serde(default)]
    next: Option<String>,
}

#[derive(Deserialize)]
struct Cursors {
    #[serde(default)]
    after: Option<String>,
}

impl Paging {
    /// The cursor of the next page: only when Meta says there is one (`next`). The `next`
    /// URL itself is not followed, so a token never goes anywhere but the configured Graph.
    fn next_cursor(self) -> Option<String> {
        self.next?;
        self.cursors?.after
    }
}

fn decode<T: serde::de::DeserializeOwned>(v: Value) -> Result<T, GraphError> {
    serde_json::from_value(v).map_err(|e| GraphError::Decode(e.to_string()))
}

fn token_of(v: &Value) -> Result<String, GraphError> {
    v.get("access_token")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| GraphError::Decode("no access_token in the answer".into()))
}

/// `{"success": true}`, or `"true"` as one of Meta's documents shows it.
fn success(v: &Value) -> Result<(), GraphError> {
    match v.get("success") {
        Some(Value::Bool(true)) => Ok(()),
        Some(Value::String(s)) if s == "true" => Ok(()),
        _ => Err(GraphError::Decode(format!("not a success: {v}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proofs_are_sent_only_with_a_stored_secret() {
        assert_eq!(ProofState::of_secret(Some("s3cret")), ProofState::Sent);
        assert_eq!(ProofState::of_secret(Some("")), ProofState::SecretNotStored);
        assert_eq!(ProofState::of_secret(None), ProofState::SecretNotStored);
    }

    #[tokio::test]
    async fn a_client_without_an_app_secret_says_it_makes_no_proofs() {
        let g = GraphClient::new(&GraphConfig {
            base_url: "http://127.0.0.1:9".into(),
            version: "v25.0".into(),
            timeout_ms: 100,
            app_secret_id: None,
        });
        assert_eq!(g.proof_state().await, ProofState::NotConfigured);
    }

    #[test]
    fn error_bodies_from_fixtures() {
        let b = include_bytes!(
            "../../../../fixtures/meta/profile_api_error_100_2018218_no_profile.json"
        );
        let e = GraphError::from_body(400, b);
        assert_eq!((e.code(), e.subcode()), (Some(100), Some(2018218)));
        let b =
            include_bytes!("../../../../fixtures/meta/send_api_error_10_2018336_eu_privacy.json");
        assert_eq!(GraphError::from_body(400, b).subcode(), Some(2018336));
        assert_eq!(
            GraphError::from_body(502, b"<html>"),
            GraphError::Http { status: 502 }
        );
    }

    #[test]
    fn names_are_never_invented() {
        assert_eq!(Profile::default().display_name(), None);
        let p = Profile {
            first_name: Some("Ada".into()),
            ..Default::default()
        };
        assert_eq!(p.display_name().as_deref(), Some("Ada"));
        let p = Profile {
            name: Some("Ada L".into()),
            first_name: Some("X".into()),
            ..Default::default()
        };
        assert_eq!(p.display_name().as_deref(), Some("Ada L"));
    }
}
