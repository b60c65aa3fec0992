//! Where pagedesk may send requests to an address a customer configured (the AI agent's URL):
//! https to public addresses only; link-local and cloud metadata addresses never; loopback and
//! private networks, and plain http, only under `PAGEDESK_ALLOW_PRIVATE_URLS=1`, which only the
//! local stack sets (the rules: `pagedesk_core::url_policy`). The URL is checked when it is
//! saved and the address again at every call (`GuardedResolver`), so a name that later resolves
//! somewhere else is still refused.

use std::net::SocketAddr;
use std::sync::Arc;

pub use pagedesk_core::url_policy::{UrlPolicy, UrlRefusal};

/// Resolves names for an HTTP client and keeps only the addresses the policy allows, so the
/// address checked is the address connected to.
pub struct GuardedResolver {
    policy: UrlPolicy,
}

impl GuardedResolver {
    pub fn new(policy: UrlPolicy) -> Arc<Self> {
        Arc::new(GuardedResolver { policy })
    }

    pub async fn allowed_addresses(&self, host: &str) -> Result<Vec<SocketAddr>, UrlRefusal> {
        let found = tokio::net::lookup_host((host, 0))
            .await
            .map_err(|_| UrlRefusal::NoAllowedAddress(host.to_owned()))?;
        let allowed: Vec<SocketAddr> = found
            .filter(|a| self.policy.check_ip(a.ip()).is_ok())
            .collect();
        if allowed.is_empty() {
            return Err(UrlRefusal::NoAllowedAddress(host.to_owned()));
        }
        Ok(allowed)
    }
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let resolver = GuardedResolver {
            policy: self.policy,
        };
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs = resolver.allowed_addresses(&host).await?;
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// An HTTP client for customer-configured URLs (the AI agent, outgoing webhooks): every
/// address it connects to passes `policy`, redirects are not followed (one would lead past the
/// check), and a whole request takes at most `timeout`.
pub fn guarded_client(timeout: std::time::Duration, policy: UrlPolicy) -> reqwest::Client {
    crate::adapters::tls::reqwest_builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(std::time::Duration::from_secs(3)))
        .redirect(reqwest::redirect::Policy::none())
        .dns_resolver(GuardedResolver::new(policy))
        .build()
        .unwrap_or_default()
}

/// The policy's refusal behind a failed request, if that is why it failed.
pub fn refusal_in(e: &(dyn std::error::Error + 'static)) -> Option<UrlRefusal> {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(r) = err.downcast_ref::<UrlRefusal>() {
            return Some(r.clone());
        }
        cur = err.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const STRICT: UrlPolicy = UrlPolicy {
        allow_private: false,
        ports: crate::url_policy::Ports::STANDARD,
    };
    const LOCAL: UrlPolicy = UrlPolicy {
        allow_private: true,
        ports: crate::url_policy::Ports::STANDARD,
    };

    #[test]
    fn only_https_to_public_addresses_and_never_metadata() {
        assert!(STRICT.check_url("https://bot.example.com/hook").is_ok());
        assert!(STRICT.check_url("https://93.184.216.34/hook").is_ok());
        for (url, want) in [
            ("http://bot.example.com/hook", UrlRefusal::NotHttps),
            ("ftp://bot.example.com/", UrlRefusal::NotHttps),
            ("https://u:p@bot.example.com/", UrlRefusal::Credentials),
            ("not a url", UrlRefusal::NotUrl),
        ] {
            assert_eq!(STRICT.check_url(url).unwrap_err(), want, "{url}");
        }
        for url in [
            "https://169.254.169.254/latest/meta-data/",
            "https://[fd00:ec2::254]/",
            "https://[fe80::1]/",
            "https://[::ffff:169.254.169.254]/",
        ] {
            for p in [STRICT, LOCAL] {
                assert!(
                    matches!(p.check_url(url), Err(UrlRefusal::LinkLocal(_))),
                    "{url} is never allowed"
                );
            }
        }
        for url in [
            "https://127.0.0.1:3002/_bot/x",
            "https://10.1.2.3/",
            "https://172.16.0.1/",
            "https://192.168.1.1/",
            "https://100.64.0.1/",
            "https://[::1]/",
            "https://[fd12::1]/",
        ] {
            assert!(
                matches!(STRICT.check_url(url), Err(UrlRefusal::Private(_))),
                "{url}"
            );
            assert!(LOCAL.check_url(url).is_ok(), "{url} on the local stack");
        }
        assert!(LOCAL.check_url("http://127.0.0.1:3002/_bot/x").is_ok());
        for url in [
            "https://0.0.0.0/",
            "https://224.0.0.1/",
            "https://192.0.2.1/",
        ] {
            assert!(
                matches!(LOCAL.check_url(url), Err(UrlRefusal::Reserved(_))),
                "{url}"
            );
        }
        assert_eq!(UrlPolicy::from_flag(Some("1")), LOCAL);
        assert_eq!(UrlPolicy::from_flag(Some("yes")), STRICT);
        assert_eq!(UrlPolicy::from_flag(None), STRICT);
    }

    #[tokio::test]
    async fn a_name_is_judged_by_the_address_it_resolves_to() {
        let strict = GuardedResolver::new(STRICT);
        assert_eq!(
            strict.allowed_addresses("localhost").await,
            Err(UrlRefusal::NoAllowedAddress("localhost".into()))
        );
        let local = GuardedResolver::new(LOCAL);
        let addrs = local.allowed_addresses("localhost").await.unwrap();
        assert!(addrs.iter().all(|a| a.ip().is_loopback()));
    }
}
