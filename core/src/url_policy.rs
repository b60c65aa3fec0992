//! Where pagedesk may send requests to an address a customer configured (the AI agent's URL):
//! https to public addresses only; link-local and cloud metadata addresses never; loopback and
//! private networks, and plain http, only under `PAGEDESK_ALLOW_PRIVATE_URLS=1`, which only the
//! local stack sets. The rules, without I/O; resolving a name and checking every address it
//! resolves to is the adapter's (`pagedesk_shared::adapters::safe_url`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UrlPolicy {
    /// Loopback, private networks and http: for the local stack only.
    pub allow_private: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlRefusal {
    #[error("not an absolute URL")]
    NotUrl,
    #[error("only https is allowed")]
    NotHttps,
    #[error("user names and passwords in the URL are not allowed")]
    Credentials,
    #[error("{0} is a link-local or cloud metadata address")]
    LinkLocal(IpAddr),
    #[error("{0} is a loopback or private address")]
    Private(IpAddr),
    #[error("{0} is not a public address")]
    Reserved(IpAddr),
    #[error("{0} has no address that may be called")]
    NoAllowedAddress(String),
}

/// What kind of network an address is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reach {
    Public,
    Private,
    LinkLocal,
    Reserved,
}

impl UrlPolicy {
    pub fn from_flag(value: Option<&str>) -> Self {
        UrlPolicy {
            allow_private: value.is_some_and(|v| v.trim() == "1"),
        }
    }

    /// Scheme, credentials and a literal address; a name is checked when it is resolved.
    pub fn check_url(&self, raw: &str) -> Result<url::Url, UrlRefusal> {
        let u = url::Url::parse(raw).map_err(|_| UrlRefusal::NotUrl)?;
        match u.scheme() {
            "https" => {}
            "http" if self.allow_private => {}
            _ => return Err(UrlRefusal::NotHttps),
        }
        if !u.username().is_empty() || u.password().is_some() {
            return Err(UrlRefusal::Credentials);
        }
        match u.host() {
            Some(url::Host::Ipv4(ip)) => self.check_ip(IpAddr::V4(ip))?,
            Some(url::Host::Ipv6(ip)) => self.check_ip(IpAddr::V6(ip))?,
            Some(url::Host::Domain(_)) => {}
            None => return Err(UrlRefusal::NotUrl),
        }
        Ok(u)
    }

    pub fn check_ip(&self, ip: IpAddr) -> Result<(), UrlRefusal> {
        match reach(ip) {
            Reach::Public => Ok(()),
            Reach::Private if self.allow_private => Ok(()),
            Reach::Private => Err(UrlRefusal::Private(ip)),
            Reach::LinkLocal => Err(UrlRefusal::LinkLocal(ip)),
            Reach::Reserved => Err(UrlRefusal::Reserved(ip)),
        }
    }
}

fn reach(ip: IpAddr) -> Reach {
    match ip {
        IpAddr::V4(v4) => reach_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => reach_v4(v4),
            None => reach_v6(v6),
        },
    }
}

fn reach_v4(ip: Ipv4Addr) -> Reach {
    let o = ip.octets();
    // 169.254.0.0/16 holds every cloud's metadata service (169.254.169.254).
    if ip.is_link_local() {
        Reach::LinkLocal
    } else if ip.is_loopback() || ip.is_private() || (o[0] == 100 && (o[1] & 0xc0) == 64) {
        // 100.64.0.0/10 is carrier-grade NAT: someone's private network.
        Reach::Private
    } else if ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || o[0] == 0
        || o[0] >= 240
        || (o[0] == 192 && o[1] == 0 && o[2] == 0)
        || (o[0] == 198 && (o[1] & 0xfe) == 18)
    {
        Reach::Reserved
    } else {
        Reach::Public
    }
}

fn reach_v6(ip: Ipv6Addr) -> Reach {
    let s = ip.segments();
    // AWS's metadata service over IPv6.
    let aws_metadata = Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254);
    if ip == aws_metadata || (s[0] & 0xffc0) == 0xfe80 {
        Reach::LinkLocal
    } else if ip.is_loopback() || (s[0] & 0xfe00) == 0xfc00 {
        Reach::Private
    } else if ip.is_unspecified() || ip.is_multicast() || (s[0] == 0x2001 && s[1] == 0x0db8) {
        Reach::Reserved
    } else {
        Reach::Public
    }
}
