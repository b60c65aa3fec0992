//! Graph API client: base URL and version from config (Meta in production, the simulator in
//! local runs and tests). Errors keep Meta's code and subcode so callers classify them by
//! number, never by message text (which Meta localises).

use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use crate::config::GraphConfig;

#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum GraphError {
    #[error("graph error {code}/{subcode:?} (http {status})")]
    Api {
        status: u16,
        code: i64,
        subcode: Option<i64>,
        kind: Option<String>,
        message: String,
    },
    #[error("graph http {status} without an error body")]
    Http { status: u16 },
    #[error("graph request timed out")]
    Timeout,
    /// Nothing reached Graph (connection refused, DNS): safe to send again.
    #[error("graph transport: {0}")]
    Transport(String),
    /// The request went out but its answer was lost or unreadable (a connection reset after
    /// the request was written, a body that broke off, a 2xx that is not Graph's JSON or lacks
    /// the id it promises): it may have taken effect.
    #[error("graph answer lost: {0}")]
    Unconfirmed(String),
    #[error("graph response not understood: {0}")]
    Decode(String),
}

impl GraphError {
    pub fn code(&self) -> Option<i64> {
        match self {
            GraphError::Api { code, .. } => Some(*code),
            _ => None,
        }
    }
    pub fn subcode(&self) -> Option<i64> {
        match self {
            GraphError::Api { subcode, .. } => *subcode,
            _ => None,
        }
    }
    /// Parses Meta's `{"error": {...}}` body.
    pub fn from_body(status: u16, body: &[u8]) -> GraphError {
        #[derive(Deserialize)]
        struct Envelope {
            error: Body,
        }
        #[derive(Deserialize)]
        struct Body {
            #[serde(default)]
            code: Option<Value>,
            #[serde(default)]
            error_subcode: Option<Value>,
            #[serde(default, rename = "type")]
            kind: Option<String>,
            #[serde(default)]
            message: Option<String>,
        }
        let num = |v: &Option<Value>| {
            v.as_ref().and_then(|v| {
                v.as_i64()
                    .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            })
        };
        match serde_json::from_slice::<Envelope>(body) {
            Ok(Envelope { error }) => match num(&error.code) {
                Some(code) => GraphError::Api {
                    status,
                    code,
                    subcode: num(&error.error_subcode),
                    kind: error.kind,
                    message: error.message.unwrap_or_default(),
                },
                None => GraphError::Http { status },
            },
            Err(_) => GraphError::Http { status },
        }
    }
}

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

#[derive(Clone)]
pub struct GraphClient {
    http: reqwest::Client,
    base: String,
}

impl GraphClient {
    pub fn new(cfg: &GraphConfig) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(cfg.timeout_ms))
            .connect_timeout(Duration::from_secs(3))
            .build()
            .unwrap_or_default();
        GraphClient {
            http,
            base: format!("{}/{}", cfg.base_url, cfg.version),
        }
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
            .query(&[("access_token", token)]);
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
            .query(&[("access_token", token)])
            .json(body);
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

    /// User Profile API: `GET /{psid}?fields=first_name,last_name,name,profile_pic`.
    pub async fn user_profile(&self, psid: &str, page_token: &str) -> Result<Profile, GraphError> {
        let v = self
            .get(
                psid,
                &[("fields", "first_name,last_name,name,profile_pic")],
                page_token,
            )
            .await?;
        serde_json::from_value(v).map_err(|e| GraphError::Decode(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_from_fixtures() {
        let b = include_bytes!("../../fixtures/meta/profile_api_error_100_2018218_no_profile.json");
        let e = GraphError::from_body(400, b);
        assert_eq!((e.code(), e.subcode()), (Some(100), Some(2018218)));
        let b = include_bytes!("../../fixtures/meta/send_api_error_10_2018336_eu_privacy.json");
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
