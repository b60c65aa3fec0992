//! Agent API authentication: `Authorization: Bearer <JWT>` with claims `sub` (agent id),
//! `account` and `role`. RS256 against a JWKS URL in production, HS256 with a shared secret in
//! local runs; with neither configured every request is refused.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde::{Deserialize, Serialize};

use crate::config::AuthConfig;

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

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error("missing bearer token")]
    Missing,
    #[error("invalid token: {0}")]
    Invalid(String),
    #[error("authentication is not configured")]
    NotConfigured,
    #[error("key set unavailable: {0}")]
    KeysUnavailable(String),
}

pub struct Verifier {
    cfg: AuthConfig,
    http: reqwest::Client,
    jwks: Mutex<Option<(JwkSet, Instant)>>,
}

const JWKS_TTL: Duration = Duration::from_secs(600);

impl Verifier {
    pub fn new(cfg: AuthConfig) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap_or_default();
        Verifier {
            cfg,
            http,
            jwks: Mutex::new(None),
        }
    }

    pub fn with_jwks(cfg: AuthConfig, set: JwkSet) -> Self {
        let v = Self::new(cfg);
        if let Ok(mut j) = v.jwks.lock() {
            *j = Some((set, Instant::now()));
        }
        v
    }

    pub async fn verify_header(&self, header: Option<&str>) -> Result<Claims, AuthError> {
        let token = header
            .and_then(|h| {
                h.strip_prefix("Bearer ")
                    .or_else(|| h.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(AuthError::Missing)?;
        self.verify(token).await
    }

    pub async fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        match &self.cfg {
            AuthConfig::None => Err(AuthError::NotConfigured),
            AuthConfig::DevSecret(secret) => {
                let mut v = Validation::new(Algorithm::HS256);
                v.required_spec_claims.clear();
                v.validate_exp = true;
                decode::<Claims>(token, &DecodingKey::from_secret(secret.as_bytes()), &v)
                    .map(|d| d.claims)
                    .map_err(|e| AuthError::Invalid(e.to_string()))
                    .and_then(check)
            }
            AuthConfig::Jwks {
                issuer, audience, ..
            } => {
                let header = decode_header(token).map_err(|e| AuthError::Invalid(e.to_string()))?;
                if header.alg != Algorithm::RS256 {
                    return Err(AuthError::Invalid("only RS256 is accepted".into()));
                }
                let kid = header
                    .kid
                    .ok_or_else(|| AuthError::Invalid("token has no kid".into()))?;
                let key = self.key_for(&kid).await?;
                let mut v = Validation::new(Algorithm::RS256);
                if let Some(i) = issuer {
                    v.set_issuer(&[i]);
                }
                match audience {
                    Some(a) => v.set_audience(&[a]),
                    None => v.validate_aud = false,
                }
                decode::<Claims>(token, &key, &v)
                    .map(|d| d.claims)
                    .map_err(|e| AuthError::Invalid(e.to_string()))
                    .and_then(check)
            }
        }
    }

    async fn key_for(&self, kid: &str) -> Result<DecodingKey, AuthError> {
        let cached = self
            .jwks
            .lock()
            .ok()
            .and_then(|j| j.as_ref().map(|(set, at)| (set.clone(), *at)));
        if let Some((set, at)) = &cached
            && let Some(jwk) = set.find(kid)
            && at.elapsed() < JWKS_TTL
        {
            return DecodingKey::from_jwk(jwk).map_err(|e| AuthError::Invalid(e.to_string()));
        }
        // Unknown kid or stale set: the provider may have rotated keys, fetch again.
        let AuthConfig::Jwks { url, .. } = &self.cfg else {
            return Err(AuthError::NotConfigured);
        };
        let set: JwkSet = self
            .http
            .get(url)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| AuthError::KeysUnavailable(e.without_url().to_string()))?
            .json()
            .await
            .map_err(|e| AuthError::KeysUnavailable(e.to_string()))?;
        let key = set
            .find(kid)
            .ok_or_else(|| AuthError::Invalid("unknown kid".into()))
            .and_then(|jwk| {
                DecodingKey::from_jwk(jwk).map_err(|e| AuthError::Invalid(e.to_string()))
            });
        if let Ok(mut j) = self.jwks.lock() {
            *j = Some((set, Instant::now()));
        }
        key
    }
}

fn check(c: Claims) -> Result<Claims, AuthError> {
    if c.sub.trim().is_empty() || c.account.trim().is_empty() {
        return Err(AuthError::Invalid("sub and account are required".into()));
    }
    if c.account.contains('#') || c.sub.contains('#') {
        return Err(AuthError::Invalid(
            "account and sub may not contain '#'".into(),
        ));
    }
    Ok(c)
}

/// Signs an HS256 token (local runs and tests).
pub fn dev_token(secret: &str, sub: &str, account: &str, role: Role, ttl_secs: u64) -> String {
    let exp = chrono::Utc::now().timestamp().max(0) as u64 + ttl_secs;
    let claims = Claims {
        sub: sub.into(),
        account: account.into(),
        role,
        exp: Some(exp),
    };
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hs256_round_trip_and_refusals() {
        let v = Verifier::new(AuthConfig::DevSecret("s".into()));
        let t = dev_token("s", "agent-1", "acme", Role::Admin, 60);
        let c = v.verify_header(Some(&format!("Bearer {t}"))).await.unwrap();
        assert_eq!(
            (c.sub.as_str(), c.account.as_str(), c.role),
            ("agent-1", "acme", Role::Admin)
        );
        assert_eq!(v.verify_header(None).await, Err(AuthError::Missing));
        let other = dev_token("other", "a", "acme", Role::Agent, 60);
        assert!(matches!(v.verify(&other).await, Err(AuthError::Invalid(_))));
        let none = Verifier::new(AuthConfig::None);
        assert_eq!(none.verify(&t).await, Err(AuthError::NotConfigured));
    }

    #[tokio::test]
    async fn rs256_against_a_jwks_and_hs256_is_refused_there() {
        // A 2048-bit test key made for this test only.
        let pem = include_str!("../testdata/rs256-test-key.pem");
        let jwks: JwkSet =
            serde_json::from_str(include_str!("../testdata/rs256-test-jwks.json")).unwrap();
        let cfg = AuthConfig::Jwks {
            url: "http://127.0.0.1:9/none".into(),
            issuer: Some("iss".into()),
            audience: None,
        };
        let v = Verifier::with_jwks(cfg, jwks);
        let mut h = jsonwebtoken::Header::new(Algorithm::RS256);
        h.kid = Some("test-key".into());
        #[derive(Serialize)]
        struct C<'a> {
            sub: &'a str,
            account: &'a str,
            role: &'a str,
            iss: &'a str,
            exp: u64,
        }
        let exp = chrono::Utc::now().timestamp() as u64 + 60;
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap();
        let t = jsonwebtoken::encode(
            &h,
            &C {
                sub: "a1",
                account: "acme",
                role: "agent",
                iss: "iss",
                exp,
            },
            &key,
        )
        .unwrap();
        assert_eq!(v.verify(&t).await.unwrap().role, Role::Agent);
        let wrong_iss = jsonwebtoken::encode(
            &h,
            &C {
                sub: "a1",
                account: "acme",
                role: "agent",
                iss: "x",
                exp,
            },
            &key,
        )
        .unwrap();
        assert!(v.verify(&wrong_iss).await.is_err());
        let hs = dev_token("s", "a", "acme", Role::Admin, 60);
        assert!(matches!(v.verify(&hs).await, Err(AuthError::Invalid(_))));
    }
}
