//! Configuration of the functions, read from environment variables in Lambda and from the
//! template's resolved `Environment.Variables` on the local host. Handlers receive a `Config`
//! value and never read the environment themselves, so that several functions can run in one
//! local process with different settings.

use crate::{Error, Result};

/// Environment variable names: the contract between `template.yaml`, the local host and code.
pub mod keys {
    pub const TABLE: &str = "PAGEDESK_TABLE";
    pub const INBOUND_QUEUE_URL: &str = "PAGEDESK_INBOUND_QUEUE_URL";
    pub const OUTBOUND_QUEUE_URL: &str = "PAGEDESK_OUTBOUND_QUEUE_URL";
    pub const APP_SECRET_ID: &str = "PAGEDESK_APP_SECRET_ID";
    pub const VERIFY_TOKEN_ID: &str = "PAGEDESK_VERIFY_TOKEN_ID";
    pub const PAGE_TOKEN_PREFIX: &str = "PAGEDESK_PAGE_TOKEN_PREFIX";
    pub const APP_ID: &str = "PAGEDESK_APP_ID";
    pub const GRAPH_BASE_URL: &str = "PAGEDESK_GRAPH_BASE_URL";
    pub const GRAPH_VERSION: &str = "PAGEDESK_GRAPH_VERSION";
    pub const JWKS_URL: &str = "PAGEDESK_JWKS_URL";
    pub const JWT_ISSUER: &str = "PAGEDESK_JWT_ISSUER";
    pub const JWT_AUDIENCE: &str = "PAGEDESK_JWT_AUDIENCE";
    pub const DEV_JWT_SECRET: &str = "PAGEDESK_DEV_JWT_SECRET";
    pub const SECRET_CACHE_SECONDS: &str = "PAGEDESK_SECRET_CACHE_SECONDS";
    pub const GRAPH_TIMEOUT_MS: &str = "PAGEDESK_GRAPH_TIMEOUT_MS";
    pub const SETTINGS_CACHE_SECONDS: &str = "PAGEDESK_SETTINGS_CACHE_SECONDS";
    pub const AI_AGENT_TIMEOUT_MS: &str = "PAGEDESK_AI_AGENT_TIMEOUT_MS";
}

pub const DEFAULT_GRAPH_BASE_URL: &str = "https://graph.facebook.com";
pub const DEFAULT_GRAPH_VERSION: &str = "v25.0";

#[derive(Debug, Clone)]
pub struct Config {
    pub table: String,
    pub inbound_queue_url: Option<String>,
    pub outbound_queue_url: Option<String>,
    /// Secrets Manager id (name or ARN) of the Meta app secret.
    pub app_secret_id: Option<String>,
    /// Secrets Manager id of the webhook verify token.
    pub verify_token_id: Option<String>,
    /// Page tokens live in one secret each, named `<prefix><page_id>`.
    pub page_token_prefix: String,
    /// Our Meta app id: echoes carrying it are our own sends.
    pub app_id: Option<String>,
    pub graph_base_url: String,
    pub graph_version: String,
    pub auth: AuthConfig,
    pub secret_cache_seconds: u64,
    /// A Graph call that takes longer is abandoned (and, for a send, treated as ambiguous).
    pub graph_timeout_ms: u64,
    /// How long a warm router keeps an account's settings and routing rules.
    pub settings_cache_seconds: u64,
    /// A delivery to the AI agent that takes longer is retried.
    pub ai_agent_timeout_ms: u64,
}

#[derive(Debug, Clone)]
pub enum AuthConfig {
    /// Production: RS256 tokens checked against a JWKS document (e.g. a Cognito user pool).
    Jwks {
        url: String,
        issuer: Option<String>,
        audience: Option<String>,
    },
    /// Local runs: HS256 with a shared secret.
    DevSecret(String),
    /// Neither configured: every request is refused rather than trusting a default key.
    None,
}

impl Config {
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let get = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        let table =
            get(keys::TABLE).ok_or_else(|| Error::Config(format!("{} is not set", keys::TABLE)))?;
        let auth = match (get(keys::JWKS_URL), get(keys::DEV_JWT_SECRET)) {
            (Some(url), _) => AuthConfig::Jwks {
                url,
                issuer: get(keys::JWT_ISSUER),
                audience: get(keys::JWT_AUDIENCE),
            },
            (None, Some(secret)) => AuthConfig::DevSecret(secret),
            (None, None) => AuthConfig::None,
        };
        Ok(Config {
            table,
            inbound_queue_url: get(keys::INBOUND_QUEUE_URL),
            outbound_queue_url: get(keys::OUTBOUND_QUEUE_URL),
            app_secret_id: get(keys::APP_SECRET_ID),
            verify_token_id: get(keys::VERIFY_TOKEN_ID),
            page_token_prefix: get(keys::PAGE_TOKEN_PREFIX)
                .unwrap_or_else(|| "pagedesk/page-token/".to_owned()),
            app_id: get(keys::APP_ID),
            graph_base_url: get(keys::GRAPH_BASE_URL)
                .unwrap_or_else(|| DEFAULT_GRAPH_BASE_URL.to_owned())
                .trim_end_matches('/')
                .to_owned(),
            graph_version: get(keys::GRAPH_VERSION)
                .unwrap_or_else(|| DEFAULT_GRAPH_VERSION.to_owned()),
            auth,
            secret_cache_seconds: get(keys::SECRET_CACHE_SECONDS)
                .and_then(|v| v.parse().ok())
                .unwrap_or(300),
            graph_timeout_ms: get(keys::GRAPH_TIMEOUT_MS)
                .and_then(|v| v.parse().ok())
                .unwrap_or(10_000),
            settings_cache_seconds: get(keys::SETTINGS_CACHE_SECONDS)
                .and_then(|v| v.parse().ok())
                .unwrap_or(15),
            ai_agent_timeout_ms: get(keys::AI_AGENT_TIMEOUT_MS)
                .and_then(|v| v.parse().ok())
                .unwrap_or(5_000),
        })
    }

    pub fn inbound_queue(&self) -> Result<&str> {
        self.inbound_queue_url
            .as_deref()
            .ok_or_else(|| Error::Config(format!("{} is not set", keys::INBOUND_QUEUE_URL)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn cfg(pairs: &[(&str, &str)]) -> Result<Config> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| m.get(k).cloned())
    }

    #[test]
    fn table_is_required() {
        assert!(matches!(cfg(&[]), Err(Error::Config(_))));
    }

    #[test]
    fn jwks_wins_over_dev_secret_and_nothing_means_refuse() {
        let c = cfg(&[
            (keys::TABLE, "t"),
            (keys::JWKS_URL, "https://x/jwks"),
            (keys::DEV_JWT_SECRET, "s"),
        ])
        .unwrap();
        assert!(matches!(c.auth, AuthConfig::Jwks { .. }));
        let c = cfg(&[(keys::TABLE, "t")]).unwrap();
        assert!(matches!(c.auth, AuthConfig::None));
        assert_eq!(c.graph_base_url, DEFAULT_GRAPH_BASE_URL);
    }
}
