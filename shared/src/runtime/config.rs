//! Configuration of the functions, read from environment variables in Lambda and from the
//! template's resolved `Environment.Variables` on the local host. Each function has its own
//! configuration type holding exactly what it needs, resolved once at start-up: a missing
//! required variable stops the function from starting instead of failing requests later.
//! Handlers receive the value and never read the environment themselves, so several functions
//! can run in one local process with different settings.

use crate::url_policy::UrlPolicy;
use crate::{Error, Result};

/// Environment variable names: the contract between `template.yaml`, the local host and code.
pub mod env {
    pub const TABLE: &str = "PAGEDESK_TABLE";
    pub const INBOUND_QUEUE_URL: &str = "PAGEDESK_INBOUND_QUEUE_URL";
    pub const OUTBOUND_QUEUE_URL: &str = "PAGEDESK_OUTBOUND_QUEUE_URL";
    pub const APP_SECRET_ID: &str = "PAGEDESK_APP_SECRET_ID";
    pub const VERIFY_TOKEN_ID: &str = "PAGEDESK_VERIFY_TOKEN_ID";
    pub const INSTAGRAM_PRIVATE_REPLIES_PER_HOUR: &str =
        "PAGEDESK_INSTAGRAM_PRIVATE_REPLIES_PER_HOUR";
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
    /// `1` lets the AI agent's URL be http, loopback or private: the local stack only.
    pub const ALLOW_PRIVATE_URLS: &str = "PAGEDESK_ALLOW_PRIVATE_URLS";
    /// The ports a configured URL may name (`443,80,8443`).
    pub const URL_PORTS: &str = "PAGEDESK_URL_PORTS";
    /// A standard queue with per-message delays: events whose target has not arrived yet wait
    /// there instead of blocking their FIFO group.
    pub const DEFERRED_QUEUE_URL: &str = "PAGEDESK_DEFERRED_QUEUE_URL";
    /// The S3 bucket for what does not fit elsewhere (events too large for the queue).
    pub const BUCKET: &str = "PAGEDESK_BUCKET";
    /// Seconds between two health checks of a connected Page (default a day).
    pub const PAGE_CHECK_SECONDS: &str = "PAGEDESK_PAGE_CHECK_SECONDS";
    /// Seconds between two reconciliations of a Page with the Conversations API (default an
    /// hour): what webhooks missed is imported.
    pub const RECONCILE_SECONDS: &str = "PAGEDESK_RECONCILE_SECONDS";
    /// Outgoing webhooks: the dispatch queue (FIFO, group = account, a delay that lets the
    /// feed settle) and the delivery queue (FIFO, group = webhook and conversation).
    pub const DISPATCH_QUEUE_URL: &str = "PAGEDESK_DISPATCH_QUEUE_URL";
    pub const DELIVERY_QUEUE_URL: &str = "PAGEDESK_DELIVERY_QUEUE_URL";
    /// How long one webhook delivery attempt may take (default 10 s).
    pub const WEBHOOK_TIMEOUT_MS: &str = "PAGEDESK_WEBHOOK_TIMEOUT_MS";
    /// How long an endpoint may keep failing before its webhook is switched off, and a
    /// delivery keeps being tried (default a day; tests shorten it).
    pub const WEBHOOK_GIVE_UP_SECONDS: &str = "PAGEDESK_WEBHOOK_GIVE_UP_SECONDS";
    /// Delivery attempts one webhook may have in flight at once (one while it is failing).
    pub const WEBHOOK_IN_FLIGHT: &str = "PAGEDESK_WEBHOOK_IN_FLIGHT";
}

pub const DEFAULT_GRAPH_BASE_URL: &str = "https://graph.facebook.com";
pub const DEFAULT_GRAPH_VERSION: &str = "v25.0";
const DEFAULT_PAGE_TOKEN_PREFIX: &str = "pagedesk/page-token/";

/// Reads variables, treating blank values as absent.
pub struct Env<F: Fn(&str) -> Option<String>>(F);

impl<F: Fn(&str) -> Option<String>> Env<F> {
    pub fn new(get: F) -> Self {
        Env(get)
    }

    fn optional(&self, key: &str) -> Option<String> {
        (self.0)(key).filter(|v| !v.trim().is_empty())
    }

    fn required(&self, key: &str) -> Result<String> {
        self.optional(key)
            .ok_or_else(|| Error::Config(format!("{key} is not set")))
    }

    fn number(&self, key: &str, default: u64) -> Result<u64> {
        match self.optional(key) {
            None => Ok(default),
            Some(v) => v
                .trim()
                .parse()
                .map_err(|_| Error::Config(format!("{key} must be a whole number, not {v:?}"))),
        }
    }

    fn graph(&self) -> Result<GraphConfig> {
        Ok(GraphConfig {
            base_url: self
                .optional(env::GRAPH_BASE_URL)
                .unwrap_or_else(|| DEFAULT_GRAPH_BASE_URL.to_owned())
                .trim_end_matches('/')
                .to_owned(),
            version: self
                .optional(env::GRAPH_VERSION)
                .unwrap_or_else(|| DEFAULT_GRAPH_VERSION.to_owned()),
            timeout_ms: self.number(env::GRAPH_TIMEOUT_MS, 10_000)?,
            app_secret_id: self.optional(env::APP_SECRET_ID),
        })
    }

    /// With a JWKS, the issuer and the audience are required (a blank one is missing): without
    /// them a token the same identity provider signed for another application would pass.
    fn auth(&self) -> Result<AuthConfig> {
        Ok(
            match (
                self.optional(env::JWKS_URL),
                self.optional(env::DEV_JWT_SECRET),
            ) {
                (Some(url), _) => AuthConfig::Jwks {
                    url,
                    issuer: self.required(env::JWT_ISSUER)?.trim().to_owned(),
                    audience: self.required(env::JWT_AUDIENCE)?.trim().to_owned(),
                },
                (None, Some(secret)) => AuthConfig::DevSecret(secret),
                (None, None) => AuthConfig::None,
            },
        )
    }

    fn url_policy(&self) -> Result<UrlPolicy> {
        let mut policy = UrlPolicy::from_flag(self.optional(env::ALLOW_PRIVATE_URLS).as_deref());
        if let Some(raw) = self.optional(env::URL_PORTS) {
            policy.ports = crate::url_policy::Ports::parse(&raw)
                .map_err(|why| Error::Config(format!("{}: {why}", env::URL_PORTS)))?;
        }
        Ok(policy)
    }

    fn page_check_seconds(&self) -> Result<u64> {
        Ok(self.number(env::PAGE_CHECK_SECONDS, 86_400)?.max(1))
    }

    fn page_token_prefix(&self) -> String {
        self.optional(env::PAGE_TOKEN_PREFIX)
            .unwrap_or_else(|| DEFAULT_PAGE_TOKEN_PREFIX.to_owned())
    }
}

/// A function's configuration: what it needs, read once at start-up.
pub trait FunctionConfig: Sized {
    fn read<F: Fn(&str) -> Option<String>>(e: &Env<F>) -> Result<Self>;

    /// From the process environment (in Lambda).
    fn from_env() -> Result<Self> {
        Self::read(&Env::new(|k: &str| std::env::var(k).ok()))
    }

    /// From any lookup (the local host passes the template's resolved variables).
    fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self> {
        Self::read(&Env::new(get))
    }
}

/// The Graph API as a function calls it.
#[derive(Debug, Clone)]
pub struct GraphConfig {
    pub base_url: String,
    pub version: String,
    /// A call that takes longer is abandoned (and, for a send, treated as ambiguous).
    pub timeout_ms: u64,
    /// The Meta app secret (a Secrets Manager id) every call's `appsecret_proof` is made
    /// with; without it calls carry none.
    pub app_secret_id: Option<String>,
}

#[derive(Debug, Clone)]
pub enum AuthConfig {
    /// Production: RS256 tokens checked against a JWKS document (e.g. a Cognito user pool),
    /// which must carry this `iss`, this `aud` and an `exp`.
    Jwks {
        url: String,
        issuer: String,
        audience: String,
    },
    /// Local runs: HS256 with a shared secret.
    DevSecret(String),
    /// Neither configured: every request is refused rather than trusting a default key.
    None,
}

#[derive(Debug, Clone)]
pub struct WebhookConfig {
    pub inbound_queue_url: String,
    /// Secrets Manager id (name or ARN) of the Meta app secret.
    pub app_secret_id: String,
    /// Secrets Manager id of the webhook verify token.
    pub verify_token_id: String,
    pub secret_cache_seconds: u64,
    /// Where events too large for the queue are kept (`spill`). Without it such an event
    /// cannot be accepted and Meta is answered 503.
    pub bucket: Option<String>,
}

impl FunctionConfig for WebhookConfig {
    fn read<F: Fn(&str) -> Option<String>>(e: &Env<F>) -> Result<Self> {
        Ok(WebhookConfig {
            inbound_queue_url: e.required(env::INBOUND_QUEUE_URL)?,
            app_secret_id: e.required(env::APP_SECRET_ID)?,
            verify_token_id: e.required(env::VERIFY_TOKEN_ID)?,
            secret_cache_seconds: e.number(env::SECRET_CACHE_SECONDS, 300)?,
            bucket: e.optional(env::BUCKET),
        })
    }
}

#[derive(Debug, Clone)]
pub struct RouterConfig {
    pub table: String,
    /// Automatic messages and AI-agent deliveries go out through the outbound queue.
    pub outbound_queue_url: String,
    /// Our Meta app id: echoes carrying it are our own sends.
    pub app_id: Option<String>,
    pub graph: GraphConfig,
    pub secret_cache_seconds: u64,
    /// How long a warm router keeps an account's settings and routing rules.
    pub settings_cache_seconds: u64,
    /// Where the webhook kept events too large for the queue.
    pub bucket: Option<String>,
    /// Where an edit, reaction, receipt or echo waits for its target (`DEFERRED_QUEUE_URL`).
    pub deferred_queue_url: String,
    /// A history import's next step is queued here, in the Page's message group.
    pub inbound_queue_url: String,
    /// Which addresses attachments may be copied from (public only, unless the local stack).
    pub url_policy: UrlPolicy,
}

impl FunctionConfig for RouterConfig {
    fn read<F: Fn(&str) -> Option<String>>(e: &Env<F>) -> Result<Self> {
        Ok(RouterConfig {
            table: e.required(env::TABLE)?,
            outbound_queue_url: e.required(env::OUTBOUND_QUEUE_URL)?,
            app_id: e.optional(env::APP_ID),
            graph: e.graph()?,
            secret_cache_seconds: e.number(env::SECRET_CACHE_SECONDS, 300)?,
            settings_cache_seconds: e.number(env::SETTINGS_CACHE_SECONDS, 15)?,
            bucket: e.optional(env::BUCKET),
            deferred_queue_url: e.required(env::DEFERRED_QUEUE_URL)?,
            inbound_queue_url: e.required(env::INBOUND_QUEUE_URL)?,
            url_policy: e.url_policy()?,
        })
    }
}

#[derive(Debug, Clone)]
pub struct AgentApiConfig {
    pub table: String,
    pub outbound_queue_url: String,
    /// History imports run as jobs on the inbound queue, in the Page's own message group.
    pub inbound_queue_url: String,
    /// Our Meta app: connecting Pages exchanges tokens with its id and secret.
    pub app_id: Option<String>,
    pub app_secret_id: Option<String>,
    pub graph: GraphConfig,
    /// Health checks are scheduled this far after a Page is connected.
    pub page_check_seconds: u64,
    /// Page tokens live in one secret each, named `<prefix><page_id>`.
    pub page_token_prefix: String,
    pub auth: AuthConfig,
    /// How long a warm agent API keeps an agent's Pages (their access) before reading again.
    pub settings_cache_seconds: u64,
    pub secret_cache_seconds: u64,
    /// Which AI agent URLs may be saved.
    pub url_policy: UrlPolicy,
    /// The data bucket: media copies (presigned reads) and uploads (presigned writes).
    pub bucket: Option<String>,
    /// Webhook replays are dispatch turns on this queue.
    pub dispatch_queue_url: Option<String>,
    /// How long webhook deliveries are tried: a replay holds its webhook's replay slot at most
    /// twice that long, whatever happens to its count.
    pub webhook_give_up_seconds: u64,
    /// The webhook verify token's secret: subscribing the app's Instagram webhook needs it.
    pub verify_token_id: Option<String>,
    /// Private replies to an Instagram account's comments counted per clock hour: Meta's 750
    /// (`INSTAGRAM_PRIVATE_REPLIES_PER_HOUR`); lower only to test the limit.
    pub instagram_private_replies_per_hour: u32,
}

impl FunctionConfig for AgentApiConfig {
    fn read<F: Fn(&str) -> Option<String>>(e: &Env<F>) -> Result<Self> {
        Ok(AgentApiConfig {
            table: e.required(env::TABLE)?,
            outbound_queue_url: e.required(env::OUTBOUND_QUEUE_URL)?,
            inbound_queue_url: e.required(env::INBOUND_QUEUE_URL)?,
            app_id: e.optional(env::APP_ID),
            app_secret_id: e.optional(env::APP_SECRET_ID),
            graph: e.graph()?,
            page_check_seconds: e.page_check_seconds()?,
            page_token_prefix: e.page_token_prefix(),
            auth: e.auth()?,
            settings_cache_seconds: e.number(env::SETTINGS_CACHE_SECONDS, 15)?,
            secret_cache_seconds: e.number(env::SECRET_CACHE_SECONDS, 300)?,
            url_policy: e.url_policy()?,
            bucket: e.optional(env::BUCKET),
            dispatch_queue_url: e.optional(env::DISPATCH_QUEUE_URL),
            webhook_give_up_seconds: e.number(env::WEBHOOK_GIVE_UP_SECONDS, 86_400)?.max(1),
            verify_token_id: e.optional(env::VERIFY_TOKEN_ID),
            instagram_private_replies_per_hour: e
                .number(
                    env::INSTAGRAM_PRIVATE_REPLIES_PER_HOUR,
                    u64::from(crate::domain::outbound::INSTAGRAM_PRIVATE_REPLIES_PER_HOUR),
                )?
                .clamp(1, u64::from(u32::MAX))
                as u32,
        })
    }
}

#[derive(Debug, Clone)]
pub struct SenderConfig {
    pub table: String,
    /// Where a failed send's record lives: the sender sets its backoff on it.
    pub outbound_queue_url: String,
    pub graph: GraphConfig,
    pub secret_cache_seconds: u64,
    /// A delivery to the AI agent that takes longer is retried.
    pub ai_agent_timeout_ms: u64,
    /// Which addresses deliveries to the AI agent may go to.
    pub url_policy: UrlPolicy,
    /// Uploads are sent to Meta as presigned reads of the data bucket.
    pub bucket: Option<String>,
    /// How long a warm sender keeps a Page it read (its token's secret, its status).
    pub settings_cache_seconds: u64,
}

impl FunctionConfig for SenderConfig {
    fn read<F: Fn(&str) -> Option<String>>(e: &Env<F>) -> Result<Self> {
        Ok(SenderConfig {
            table: e.required(env::TABLE)?,
            outbound_queue_url: e.required(env::OUTBOUND_QUEUE_URL)?,
            graph: e.graph()?,
            secret_cache_seconds: e.number(env::SECRET_CACHE_SECONDS, 300)?,
            ai_agent_timeout_ms: e.number(env::AI_AGENT_TIMEOUT_MS, 5_000)?,
            url_policy: e.url_policy()?,
            bucket: e.optional(env::BUCKET),
            settings_cache_seconds: e.number(env::SETTINGS_CACHE_SECONDS, 15)?,
        })
    }
}

/// The outgoing-webhook function: stream records in, dispatches, deliveries.
#[derive(Debug, Clone)]
pub struct HooksConfig {
    pub table: String,
    pub dispatch_queue_url: String,
    pub delivery_queue_url: String,
    pub timeout_ms: u64,
    pub give_up_seconds: u64,
    /// Attempts one healthy webhook may have in flight at once; a failing one has one. The
    /// delivery pool (`MaximumConcurrency`) is every account's, so this is what keeps one
    /// slow endpoint from taking it.
    pub in_flight: u32,
    /// Which addresses deliveries may go to.
    pub url_policy: UrlPolicy,
}

impl FunctionConfig for HooksConfig {
    fn read<F: Fn(&str) -> Option<String>>(e: &Env<F>) -> Result<Self> {
        Ok(HooksConfig {
            table: e.required(env::TABLE)?,
            dispatch_queue_url: e.required(env::DISPATCH_QUEUE_URL)?,
            delivery_queue_url: e.required(env::DELIVERY_QUEUE_URL)?,
            timeout_ms: e.number(env::WEBHOOK_TIMEOUT_MS, 10_000)?.max(1),
            give_up_seconds: e.number(env::WEBHOOK_GIVE_UP_SECONDS, 86_400)?.max(1),
            in_flight: u32::try_from(
                e.number(
                    env::WEBHOOK_IN_FLIGHT,
                    u64::from(crate::domain::webhooks::IN_FLIGHT),
                )?
                .clamp(1, u64::from(crate::domain::webhooks::MAX_IN_FLIGHT)),
            )
            .unwrap_or(crate::domain::webhooks::IN_FLIGHT),
            url_policy: e.url_policy()?,
        })
    }
}

#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    pub table: String,
    /// Health checks: `debug_token` with the app's token, `subscribed_apps` with the Page's.
    pub app_id: Option<String>,
    pub app_secret_id: Option<String>,
    pub graph: GraphConfig,
    pub page_check_seconds: u64,
    pub secret_cache_seconds: u64,
    /// Where reconciliation queues its import steps; absent: no reconciliation.
    pub inbound_queue_url: Option<String>,
    pub reconcile_seconds: u64,
    /// The webhook verify token's secret: repairing the app's Instagram webhook needs it.
    pub verify_token_id: Option<String>,
}

impl FunctionConfig for SchedulerConfig {
    fn read<F: Fn(&str) -> Option<String>>(e: &Env<F>) -> Result<Self> {
        Ok(SchedulerConfig {
            table: e.required(env::TABLE)?,
            app_id: e.optional(env::APP_ID),
            app_secret_id: e.optional(env::APP_SECRET_ID),
            graph: e.graph()?,
            page_check_seconds: e.page_check_seconds()?,
            secret_cache_seconds: e.number(env::SECRET_CACHE_SECONDS, 300)?,
            inbound_queue_url: e.optional(env::INBOUND_QUEUE_URL),
            reconcile_seconds: e.number(env::RECONCILE_SECONDS, 3600)?.max(1),
            verify_token_id: e.optional(env::VERIFY_TOKEN_ID),
        })
    }
}

/// Meta's deauthorize and data-deletion callbacks.
#[derive(Debug, Clone)]
pub struct MetaCallbacksConfig {
    pub table: String,
    pub app_secret_id: String,
    pub secret_cache_seconds: u64,
}

impl FunctionConfig for MetaCallbacksConfig {
    fn read<F: Fn(&str) -> Option<String>>(e: &Env<F>) -> Result<Self> {
        Ok(MetaCallbacksConfig {
            table: e.required(env::TABLE)?,
            app_secret_id: e.required(env::APP_SECRET_ID)?,
            secret_cache_seconds: e.number(env::SECRET_CACHE_SECONDS, 300)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn vars(pairs: &[(&str, &str)]) -> Env<impl Fn(&str) -> Option<String>> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Env::new(move |k: &str| m.get(k).cloned())
    }

    #[test]
    fn required_variables_stop_start_up_and_say_which() {
        let e = vars(&[(env::TABLE, "t")]);
        match AgentApiConfig::read(&e) {
            Err(Error::Config(m)) => assert!(m.contains(env::OUTBOUND_QUEUE_URL), "{m}"),
            other => panic!("expected a config error, got {other:?}"),
        }
        assert!(matches!(
            SchedulerConfig::read(&vars(&[])),
            Err(Error::Config(_))
        ));
        let blank = vars(&[(env::TABLE, "t"), (env::OUTBOUND_QUEUE_URL, "  ")]);
        assert!(
            SenderConfig::read(&blank).is_err(),
            "blank counts as missing"
        );
        let bad = vars(&[
            (env::TABLE, "t"),
            (env::OUTBOUND_QUEUE_URL, "q"),
            (env::GRAPH_TIMEOUT_MS, "soon"),
        ]);
        assert!(
            SenderConfig::read(&bad).is_err(),
            "a number that is not one is refused"
        );
    }

    #[test]
    fn jwks_wins_over_dev_secret_and_nothing_means_refuse() {
        let base = [
            (env::TABLE, "t"),
            (env::OUTBOUND_QUEUE_URL, "q"),
            (env::INBOUND_QUEUE_URL, "i"),
        ];
        let mut with_both = base.to_vec();
        with_both.extend([
            (env::JWKS_URL, "https://x/jwks"),
            (env::DEV_JWT_SECRET, "s"),
            (env::JWT_ISSUER, "https://idp"),
            (env::JWT_AUDIENCE, "app"),
        ]);
        let c = AgentApiConfig::read(&vars(&with_both)).unwrap();
        assert!(matches!(c.auth, AuthConfig::Jwks { .. }));
        let c = AgentApiConfig::read(&vars(&base)).unwrap();
        assert!(matches!(c.auth, AuthConfig::None));
        assert_eq!(c.page_token_prefix, DEFAULT_PAGE_TOKEN_PREFIX);
        let s = SenderConfig::read(&vars(&base)).unwrap();
        assert_eq!(s.graph.base_url, DEFAULT_GRAPH_BASE_URL);
        assert_eq!(s.graph.timeout_ms, 10_000);
    }

    /// A JWKS without an issuer or an audience (a blank one included) does not start: the check
    /// it would switch off is what keeps other applications' tokens out.
    #[test]
    fn a_jwks_needs_an_issuer_and_an_audience() {
        let base = [
            (env::TABLE, "t"),
            (env::OUTBOUND_QUEUE_URL, "q"),
            (env::INBOUND_QUEUE_URL, "i"),
            (env::JWKS_URL, "https://x/jwks"),
        ];
        for (issuer, audience) in [
            ("", "app"),
            ("https://idp", ""),
            (" ", "app"),
            ("https://idp", " "),
        ] {
            let mut v = base.to_vec();
            v.extend([(env::JWT_ISSUER, issuer), (env::JWT_AUDIENCE, audience)]);
            match AgentApiConfig::read(&vars(&v)) {
                Err(e) => assert!(e.to_string().contains("PAGEDESK_JWT_"), "{e}"),
                Ok(_) => panic!("{issuer:?}, {audience:?} must be refused at start-up"),
            }
        }
        let mut v = base.to_vec();
        v.extend([(env::JWT_ISSUER, "https://idp"), (env::JWT_AUDIENCE, "app")]);
        assert!(AgentApiConfig::read(&vars(&v)).is_ok());
    }
}
