//! The Graph calls of connecting a Page and keeping it connected: Facebook Login's tokens, the
//! Pages a person granted, `debug_token`, the Page's app subscription and the app's own webhook
//! subscriptions (the `instagram` object's fields are the app's, not a Page's).

use serde::Deserialize;
use serde_json::{Value, json};

use super::{GraphClient, GraphError, List, decode, success, token_of};
use crate::connect::{AppSubscription, TokenInfo};

impl GraphClient {
    /// Facebook Login's code for a user token (`redirect_uri` must be the one the login used).
    pub async fn exchange_code(
        &self,
        app: &AppCredentials,
        code: &str,
        redirect_uri: &str,
    ) -> Result<String, GraphError> {
        let v = self
            .get_public(
                "oauth/access_token",
                &[
                    ("client_id", &app.id),
                    ("client_secret", &app.secret),
                    ("redirect_uri", redirect_uri),
                    ("code", code),
                ],
            )
            .await?;
        token_of(&v)
    }

    /// A short-lived user token for a long-lived one (about 60 days); Page tokens listed with
    /// it do not expire.
    pub async fn long_lived(
        &self,
        app: &AppCredentials,
        token: &str,
    ) -> Result<String, GraphError> {
        let v = self
            .get_public(
                "oauth/access_token",
                &[
                    ("grant_type", "fb_exchange_token"),
                    ("client_id", &app.id),
                    ("client_secret", &app.secret),
                    ("fb_exchange_token", token),
                ],
            )
            .await?;
        token_of(&v)
    }

    async fn get_public(&self, path: &str, query: &[(&str, &str)]) -> Result<Value, GraphError> {
        Self::finish(self.http.get(self.url(path)).query(query).send().await).await
    }

    /// `GET /me`: a user token answers the person (app-scoped id), a Page token the Page.
    pub async fn me(&self, token: &str) -> Result<Node, GraphError> {
        let v = self.get("me", &[("fields", "id,name")], token).await?;
        decode(v)
    }

    /// The permissions the person granted.
    pub async fn granted_permissions(&self, token: &str) -> Result<Vec<String>, GraphError> {
        #[derive(Deserialize)]
        struct P {
            permission: String,
            #[serde(default)]
            status: String,
        }
        let list: List<P> = decode(self.get("me/permissions", &[], token).await?)?;
        Ok(list
            .data
            .into_iter()
            .filter(|p| p.status == "granted")
            .map(|p| p.permission)
            .collect())
    }

    /// Every Page the person granted, following the cursors to the end.
    pub async fn managed_pages(&self, token: &str) -> Result<Vec<GrantedPage>, GraphError> {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        // A bound far above any real account, so a cursor that never ends cannot loop for ever.
        for _ in 0..200 {
            let mut q = vec![(
                "fields",
                "id,name,access_token,tasks,instagram_business_account{id,username}",
            )];
            if let Some(a) = &after {
                q.push(("after", a));
            }
            let list: List<GrantedPage> = decode(self.get("me/accounts", &q, token).await?)?;
            let got = list.data.len();
            out.extend(list.data);
            match list.paging.and_then(|p| p.next_cursor()) {
                Some(a) if got > 0 => after = Some(a),
                _ => break,
            }
        }
        Ok(out)
    }

    /// `GET /debug_token` with the app's token.
    pub async fn debug_token(
        &self,
        input: &str,
        app: &AppCredentials,
    ) -> Result<TokenInfo, GraphError> {
        let v = self
            .get("debug_token", &[("input_token", input)], &app.token())
            .await?;
        decode(v.get("data").cloned().unwrap_or_default())
    }

    /// The fields our app is subscribed to on the Page (`None`: not subscribed at all).
    /// Without our app id, the first app listed is taken as ours.
    pub async fn subscription(
        &self,
        page_id: &str,
        token: &str,
        app_id: Option<&str>,
    ) -> Result<Option<Vec<String>>, GraphError> {
        #[derive(Deserialize)]
        struct App {
            #[serde(default)]
            id: Option<Value>,
            #[serde(default)]
            subscribed_fields: Vec<String>,
        }
        let list: List<App> = decode(
            self.get(&format!("{page_id}/subscribed_apps"), &[], token)
                .await?,
        )?;
        let id_of = |v: &Option<Value>| match v {
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => String::new(),
        };
        Ok(list
            .data
            .into_iter()
            .find(|a| app_id.is_none_or(|id| id_of(&a.id) == id))
            .map(|a| a.subscribed_fields))
    }

    /// Subscribes our app to the Page's webhook `fields`.
    pub async fn subscribe(
        &self,
        page_id: &str,
        token: &str,
        fields: &[&str],
    ) -> Result<(), GraphError> {
        let req = self
            .http
            .post(self.url(&format!("{page_id}/subscribed_apps")))
            .query(&[("subscribed_fields", fields.join(","))])
            .query(&self.auth(token).await?);
        let v = Self::finish(req.send().await).await?;
        success(&v)
    }

    /// The Instagram professional account linked to the Page now (`None`: none is).
    pub async fn page_instagram(
        &self,
        page_id: &str,
        token: &str,
    ) -> Result<Option<InstagramAccount>, GraphError> {
        #[derive(Deserialize)]
        struct Page {
            #[serde(default)]
            instagram_business_account: Option<InstagramAccount>,
        }
        let v = self
            .get(
                page_id,
                &[("fields", "instagram_business_account{id,username}")],
                token,
            )
            .await?;
        Ok(decode::<Page>(v)?.instagram_business_account)
    }

    /// The app's own webhook subscriptions, one per object (`page`, `instagram`, …).
    pub async fn app_subscriptions(
        &self,
        app: &AppCredentials,
    ) -> Result<Vec<AppSubscription>, GraphError> {
        let list: List<AppSubscription> = decode(
            self.get(&format!("{}/subscriptions", app.id), &[], &app.token())
                .await?,
        )?;
        Ok(list.data)
    }

    /// Subscribes the app's `object` webhook to `fields` at `callback_url`. Meta checks the
    /// callback with `verify_token` before it answers, so the token travels in the body,
    /// never in a URL.
    pub async fn subscribe_app(
        &self,
        app: &AppCredentials,
        object: &str,
        callback_url: &str,
        fields: &[String],
        verify_token: &str,
    ) -> Result<(), GraphError> {
        let body = json!({
            "object": object,
            "callback_url": callback_url,
            "fields": fields.join(","),
            "verify_token": verify_token,
        });
        let v = self
            .post_json(&format!("{}/subscriptions", app.id), &body, &app.token())
            .await?;
        success(&v)
    }

    pub async fn unsubscribe(&self, page_id: &str, token: &str) -> Result<(), GraphError> {
        let v = self
            .delete(&format!("{page_id}/subscribed_apps"), token)
            .await?;
        success(&v)
    }
}

/// The Meta app's id and secret, for the calls only the app may make.
#[derive(Clone)]
pub struct AppCredentials {
    pub id: String,
    pub secret: String,
}

impl AppCredentials {
    /// The app access token (`id|secret`), for the calls only the app may make.
    fn token(&self) -> String {
        format!("{}|{}", self.id, self.secret)
    }
}

/// A Graph node's id and name.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Node {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
}

/// A Page from `/me/accounts`, with its Page token.
#[derive(Debug, Clone, Deserialize)]
pub struct GrantedPage {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub access_token: Option<String>,
    #[serde(default)]
    pub tasks: Vec<String>,
    /// The Instagram professional account linked to the Page, if any.
    #[serde(default)]
    pub instagram_business_account: Option<InstagramAccount>,
}

/// An Instagram professional account as Graph names it.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct InstagramAccount {
    pub id: String,
    #[serde(default)]
    pub username: Option<String>,
}
