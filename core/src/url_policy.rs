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
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Embedded::V4(v4) => reach_v4(v4),
            Embedded::LocalNat64 => Reach::Private,
            Embedded::None => reach_v6(v6),
        },
    }
}

/// What an IPv6 address says about an IPv4 one.
enum Embedded {
    /// The network delivers it to this IPv4 address: judged as that address.
    V4(Ipv4Addr),
    /// A local-use NAT64 prefix (`64:ff9b:1::/48`, RFC 8215): where the IPv4 address sits
    /// depends on the operator's prefix length, and the network is someone's own.
    LocalNat64,
    None,
}

/// The IPv4 address behind the IPv6 forms that reach one: IPv4-mapped `::ffff:a.b.c.d`,
/// IPv4-compatible `::a.b.c.d` (deprecated, still routed by some stacks), NAT64's well-known
/// prefix `64:ff9b::/96` (RFC 6052: on a NAT64 network `64:ff9b::a9fe:a9fe` is the metadata
/// address) and 6to4 `2002:AABB:CCDD::/48` (RFC 3056). Judged by the IPv4 address, not by how
/// it is written.
fn embedded_v4(ip: Ipv6Addr) -> Embedded {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Embedded::V4(v4);
    }
    let s = ip.segments();
    let v4_of = |hi: u16, lo: u16| {
        let [a, b] = hi.to_be_bytes();
        let [c, d] = lo.to_be_bytes();
        Ipv4Addr::new(a, b, c, d)
    };
    match s {
        // `::` and `::1` are IPv6's own unspecified and loopback addresses.
        [0, 0, 0, 0, 0, 0, 0, 0 | 1] => Embedded::None,
        [0, 0, 0, 0, 0, 0, hi, lo] => Embedded::V4(v4_of(hi, lo)),
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => Embedded::V4(v4_of(hi, lo)),
        [0x64, 0xff9b, 1, ..] => Embedded::LocalNat64,
        [0x2002, hi, lo, ..] => Embedded::V4(v4_of(hi, lo)),
        _ => Embedded::None,
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

#[cfg(test)]
mod tests {
    use super::*;

    const STRICT: UrlPolicy = UrlPolicy {
        allow_private: false,
    };

    /// IPv6 forms that stand for an IPv4 address are judged as that address: before, each of
    /// these passed as a public IPv6 address, and `64:ff9b::a9fe:a9fe` reached the metadata
    /// service on a NAT64 network.
    #[test]
    fn an_ipv4_address_inside_an_ipv6_one_is_judged_as_itself() {
        for url in [
            "https://[64:ff9b::a9fe:a9fe]/",
            "https://[64:ff9b::169.254.169.254]/",
            "https://[2002:a9fe:a9fe::1]/",
            "https://[::a9fe:a9fe]/",
            "https://[::169.254.169.254]/",
        ] {
            assert!(
                matches!(STRICT.check_url(url), Err(UrlRefusal::LinkLocal(_))),
                "{url}: {:?}",
                STRICT.check_url(url)
            );
        }
        for url in [
            "https://[64:ff9b::7f00:1]/",
            "https://[64:ff9b::10.0.0.1]/",
            "https://[2002:c0a8:0101::]/",
            "https://[::10.1.2.3]/",
            "https://[64:ff9b:1::a9fe:a9fe]/",
        ] {
            assert!(
                matches!(STRICT.check_url(url), Err(UrlRefusal::Private(_))),
                "{url}: {:?}",
                STRICT.check_url(url)
            );
        }
        assert!(
            matches!(
                STRICT.check_url("https://[2002:e000:0001::]/"),
                Err(UrlRefusal::Reserved(_))
            ),
            "6to4 of a multicast address"
        );
        // A public IPv4 address through NAT64 or 6to4 is as public as itself, and IPv6's own
        // addresses are judged as before.
        for url in [
            "https://[64:ff9b::5db8:d822]/",
            "https://[2002:5db8:d822::1]/",
            "https://[2606:4700:4700::1111]/",
        ] {
            assert!(STRICT.check_url(url).is_ok(), "{url}");
        }
        assert!(matches!(
            STRICT.check_url("https://[::1]/"),
            Err(UrlRefusal::Private(_))
        ));
        assert!(matches!(
            STRICT.check_url("https://[::]/"),
            Err(UrlRefusal::Reserved(_))
        ));
    }
}
