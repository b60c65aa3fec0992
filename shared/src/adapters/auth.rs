//! Agent API authentication: `Authorization: Bearer <JWT>` with claims `sub` (agent id),
//! `account` and `role`. RS256 against a JWKS URL in production, HS256 with a shared secret in
//! local runs; with neither configured every request is refused.

use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};

use crate::runtime::config::AuthConfig;
pub use pagedesk_core::access::{Claims, RESERVED_AGENT_ID, Role};

/// What makes verified claims acceptable (`pagedesk_core::access::check`), as an `AuthError`.
fn check(c: Claims) -> Result<Claims, AuthError> {
    pagedesk_core::access::check(c).map_err(|e| AuthError::Invalid(e.to_string()))
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
    /// Held across a fetch: concurrent misses wait for one request instead of each making one.
    jwks: Mutex<Jwks>,
}

#[derive(Default)]
struct Jwks {
    set: Option<JwkSet>,
    fetched_at: Option<Instant>,
    /// The last fetch attempt, successful or not: unknown kids do not refetch before
    /// `MIN_REFETCH` has passed, so tokens with made-up kids cannot drive requests to the
    /// identity provider.
    tried_at: Option<Instant>,
}

/// Keys are fetched again this long after the last fetch (rotations show up within it).
const JWKS_TTL: Duration = Duration::from_secs(600);
const MIN_REFETCH: Duration = Duration::from_secs(30);

impl Verifier {
    pub fn new(cfg: AuthConfig) -> Self {
        let http = crate::adapters::tls::reqwest_builder()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap_or_default();
        Verifier {
            cfg,
            http,
            jwks: Mutex::new(Jwks::default()),
        }
    }

    /// A verifier that already holds `set`, fetched `age` ago (tests, and a warm start).
    pub fn with_jwks_aged(cfg: AuthConfig, set: JwkSet, age: Duration) -> Self {
        let at = Instant::now().checked_sub(age).unwrap_or_else(Instant::now);
        Verifier {
            jwks: Mutex::new(Jwks {
                set: Some(set),
                fetched_at: Some(at),
                tried_at: Some(at),
            }),
            ..Self::new(cfg)
        }
    }

    pub fn with_jwks(cfg: AuthConfig, set: JwkSet) -> Self {
        Self::with_jwks_aged(cfg, set, Duration::ZERO)
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
                v.validate_nbf = true;
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
                // jsonwebtoken checks `iss` and `aud` only when a token carries them: they
                // must be required as well, or a token without them passes both checks.
                let mut v = Validation::new(Algorithm::RS256);
                v.validate_nbf = true;
                v.set_required_spec_claims(&["exp", "iss", "aud"]);
                v.set_issuer(&[issuer]);
                v.set_audience(&[audience]);
                decode::<Claims>(token, &key, &v)
                    .map(|d| d.claims)
                    .map_err(|e| AuthError::Invalid(e.to_string()))
                    .and_then(check)
            }
        }
    }

    async fn key_for(&self, kid: &str) -> Result<DecodingKey, AuthError> {
        let AuthConfig::Jwks { url, .. } = &self.cfg else {
            return Err(AuthError::NotConfigured);
        };
        let mut cache = self.jwks.lock().await;
        let known = |c: &Jwks| c.set.as_ref().and_then(|s| s.find(kid)).cloned();
        let fresh = cache.fetched_at.is_some_and(|at| at.elapsed() < JWKS_TTL);
        let tried_lately = cache.tried_at.is_some_and(|at| at.elapsed() < MIN_REFETCH);
        if let Some(jwk) = known(&cache)
            && (fresh || tried_lately)
        {
            return decoding_key(&jwk);
        }
        if tried_lately {
            return Err(AuthError::Invalid("unknown kid".into()));
        }
        // Unknown kid or stale set: the provider may have rotated keys, fetch again.
        cache.tried_at = Some(Instant::now());
        match self.fetch(url).await {
            Ok(set) => {
                cache.set = Some(set);
                cache.fetched_at = Some(Instant::now());
                match known(&cache) {
                    Some(jwk) => decoding_key(&jwk),
                    None => Err(AuthError::Invalid("unknown kid".into())),
                }
            }
            // The provider is down: keys we hold keep working until it is back.
            Err(e) => match known(&cache) {
                Some(jwk) => {
                    tracing::warn!(error = %e, "JWKS unavailable; using the cached keys");
                    decoding_key(&jwk)
                }
                None => Err(e),
            },
        }
    }

    async fn fetch(&self, url: &str) -> Result<JwkSet, AuthError> {
        self.http
            .get(url)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| AuthError::KeysUnavailable(e.without_url().to_string()))?
            .json()
            .await
            // A body that is no key set fails here, and reqwest names the URL (query included)
            // in its error: left out like the others'.
            .map_err(|e| AuthError::KeysUnavailable(e.without_url().to_string()))
    }
}

fn decoding_key(jwk: &jsonwebtoken::jwk::Jwk) -> Result<DecodingKey, AuthError> {
    DecodingKey::from_jwk(jwk).map_err(|e| AuthError::Invalid(e.to_string()))
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
    async fn the_unassigned_marker_is_no_agent_id() {
        let v = Verifier::new(AuthConfig::DevSecret("s".into()));
        let t = dev_token("s", RESERVED_AGENT_ID, "acme", Role::Agent, 60);
        assert!(matches!(v.verify(&t).await, Err(AuthError::Invalid(_))));
        let ok = dev_token("s", "-x", "acme", Role::Agent, 60);
        assert!(v.verify(&ok).await.is_ok());
    }

    fn rs256(kid: &str, nbf: Option<u64>) -> String {
        rs256_from("iss", kid, nbf)
    }

    fn rs256_from(iss: &str, kid: &str, nbf: Option<u64>) -> String {
        rs256_with(Some(iss), Some("aud"), kid, nbf)
    }

    fn rs256_with(iss: Option<&str>, aud: Option<&str>, kid: &str, nbf: Option<u64>) -> String {
        #[derive(serde::Serialize)]
        struct C<'a> {
            sub: &'a str,
            account: &'a str,
            role: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            iss: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            aud: Option<&'a str>,
            exp: u64,
            #[serde(skip_serializing_if = "Option::is_none")]
            nbf: Option<u64>,
        }
        let mut h = jsonwebtoken::Header::new(Algorithm::RS256);
        h.kid = Some(kid.into());
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(
            include_str!("../../testdata/rs256-test-key.pem").as_bytes(),
        )
        .unwrap();
        let now = chrono::Utc::now().timestamp() as u64;
        let claims = C {
            sub: "a1",
            account: "acme",
            role: "agent",
            iss,
            aud,
            exp: now + 60,
            nbf,
        };
        jsonwebtoken::encode(&h, &claims, &key).unwrap()
    }

    /// A JWKS endpoint on loopback that counts its requests and can be taken down.
    async fn jwks_endpoint(
        up: std::sync::Arc<std::sync::atomic::AtomicBool>,
    ) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
        use std::sync::atomic::Ordering::SeqCst;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = hits.clone();
        let body = include_str!("../../testdata/rs256-test-jwks.json").to_owned();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                counted.fetch_add(1, SeqCst);
                let (body, up) = (body.clone(), up.clone());
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    let _ = sock.read(&mut buf).await;
                    let resp = if up.load(SeqCst) {
                        format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                            body.len()
                        )
                    } else {
                        "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".to_owned()
                    };
                    let _ = sock.write_all(resp.as_bytes()).await;
                });
            }
        });
        (format!("http://{addr}/jwks"), hits)
    }

    fn jwks_cfg(url: String) -> AuthConfig {
        AuthConfig::Jwks {
            url,
            issuer: "iss".into(),
            audience: "aud".into(),
        }
    }

    #[tokio::test]
    async fn made_up_kids_cost_one_fetch_however_many_arrive() {
        use std::sync::atomic::Ordering::SeqCst;
        let up = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let (url, hits) = jwks_endpoint(up).await;
        let v = Verifier::new(jwks_cfg(url));
        let forged: Vec<String> = (0..20)
            .map(|i| rs256(&format!("made-up-{i}"), None))
            .collect();
        let results = futures::future::join_all(forged.iter().map(|t| v.verify(t))).await;
        assert!(
            results
                .iter()
                .all(|r| matches!(r, Err(AuthError::Invalid(_))))
        );
        assert_eq!(hits.load(SeqCst), 1, "one fetch for twenty unknown kids");
        // The real key came with that fetch: no second one.
        assert_eq!(v.verify(&rs256("test-key", None)).await.unwrap().sub, "a1");
        assert_eq!(hits.load(SeqCst), 1);
    }

    #[tokio::test]
    async fn cached_keys_keep_working_while_the_provider_is_down() {
        use std::sync::atomic::Ordering::SeqCst;
        let up = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (url, hits) = jwks_endpoint(up).await;
        let set: JwkSet =
            serde_json::from_str(include_str!("../../testdata/rs256-test-jwks.json")).unwrap();
        // Older than the TTL: a fetch is due, and it fails.
        let v = Verifier::with_jwks_aged(jwks_cfg(url), set, JWKS_TTL + Duration::from_secs(60));
        assert_eq!(v.verify(&rs256("test-key", None)).await.unwrap().sub, "a1");
        assert_eq!(v.verify(&rs256("test-key", None)).await.unwrap().sub, "a1");
        assert_eq!(
            hits.load(SeqCst),
            1,
            "a failed fetch is not retried per request"
        );
    }

    #[tokio::test]
    async fn a_token_not_valid_yet_is_refused() {
        let set: JwkSet =
            serde_json::from_str(include_str!("../../testdata/rs256-test-jwks.json")).unwrap();
        let v = Verifier::with_jwks(jwks_cfg("http://127.0.0.1:9/none".into()), set);
        let later = chrono::Utc::now().timestamp() as u64 + 3600;
        assert!(matches!(
            v.verify(&rs256("test-key", Some(later))).await,
            Err(AuthError::Invalid(_))
        ));
        let earlier = chrono::Utc::now().timestamp() as u64 - 10;
        assert!(v.verify(&rs256("test-key", Some(earlier))).await.is_ok());
    }

    #[tokio::test]
    async fn rs256_against_a_jwks_and_hs256_is_refused_there() {
        let jwks: JwkSet =
            serde_json::from_str(include_str!("../../testdata/rs256-test-jwks.json")).unwrap();
        let v = Verifier::with_jwks(jwks_cfg("http://127.0.0.1:9/none".into()), jwks);
        let t = rs256("test-key", None);
        assert_eq!(v.verify(&t).await.unwrap().role, Role::Agent);
        let wrong_iss = rs256_from("x", "test-key", None);
        assert!(v.verify(&wrong_iss).await.is_err());
        let hs = dev_token("s", "a", "acme", Role::Admin, 60);
        assert!(matches!(v.verify(&hs).await, Err(AuthError::Invalid(_))));
    }

    /// A token the same identity provider signed for another application, or without saying
    /// who issued it, is refused even though its signature and claims are good.
    #[tokio::test]
    async fn a_token_without_iss_or_aud_is_refused() {
        let jwks: JwkSet =
            serde_json::from_str(include_str!("../../testdata/rs256-test-jwks.json")).unwrap();
        let v = Verifier::with_jwks(jwks_cfg("http://127.0.0.1:9/none".into()), jwks);
        assert!(
            v.verify(&rs256_with(Some("iss"), Some("aud"), "test-key", None))
                .await
                .is_ok()
        );
        for (iss, aud, what) in [
            (Some("iss"), None, "no aud (a Cognito access token)"),
            (None, Some("aud"), "no iss"),
            (None, None, "neither"),
            (Some("iss"), Some("another-app"), "another application's"),
        ] {
            let t = rs256_with(iss, aud, "test-key", None);
            assert!(
                matches!(v.verify(&t).await, Err(AuthError::Invalid(_))),
                "{what} must be refused"
            );
        }
    }
}
