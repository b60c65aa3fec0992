//! Where pagedesk may send requests to an address a customer configured (the AI agent's URL):
//! https to public addresses only; link-local and cloud metadata addresses never; loopback and
//! private networks, and plain http, only under `PAGEDESK_ALLOW_PRIVATE_URLS=1`, which only the
//! local stack sets. Only the ports web servers listen on (443, 80 and 8443, or the operator's
//! list), so a configured URL cannot be used to probe other services' ports: its delivery log
//! would tell "could not connect" from "timed out". The rules, without I/O; resolving a name
//! and checking every address it resolves to is the adapter's
//! (`pagedesk_shared::adapters::safe_url`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UrlPolicy {
    /// Loopback, private networks and http: for the local stack only (where loopback and
    /// private addresses keep any port).
    pub allow_private: bool,
    /// The ports a URL may name.
    pub ports: Ports,
}

/// The ports a configured URL may name: at most `Ports::MAX` of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ports {
    list: [u16; Ports::MAX],
    len: usize,
}

impl Ports {
    pub const MAX: usize = 8;
    /// HTTPS, HTTP and the usual alternative HTTPS port: where webhook receivers listen.
    pub const STANDARD: Ports = Ports {
        list: [443, 80, 8443, 0, 0, 0, 0, 0],
        len: 3,
    };

    /// `"443,8443"`: one to `MAX` port numbers, comma-separated.
    pub fn parse(raw: &str) -> Result<Ports, String> {
        let mut ports = Ports {
            list: [0; Ports::MAX],
            len: 0,
        };
        for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let port: u16 = part
                .parse()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| format!("{part:?} is not a port number"))?;
            if ports.len == Ports::MAX {
                return Err(format!("at most {} ports", Ports::MAX));
            }
            ports.list[ports.len] = port;
            ports.len += 1;
        }
        if ports.len == 0 {
            return Err("no port given".into());
        }
        Ok(ports)
    }

    pub fn allows(&self, port: u16) -> bool {
        self.list[..self.len].contains(&port)
    }

    pub fn list(&self) -> &[u16] {
        &self.list[..self.len]
    }
}

impl Default for Ports {
    fn default() -> Self {
        Ports::STANDARD
    }
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
    #[error("port {port} is not allowed (allowed: {allowed})")]
    Port { port: u16, allowed: String },
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
            ports: Ports::STANDARD,
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
        let local = match u.host() {
            Some(url::Host::Ipv4(ip)) => self.check_ip(IpAddr::V4(ip))?,
            Some(url::Host::Ipv6(ip)) => self.check_ip(IpAddr::V6(ip))?,
            Some(url::Host::Domain(d)) => self.allow_private && d.eq_ignore_ascii_case("localhost"),
            None => return Err(UrlRefusal::NotUrl),
        };
        let port = u.port_or_known_default().ok_or(UrlRefusal::NotUrl)?;
        if !local && !self.ports.allows(port) {
            let allowed: Vec<String> = self.ports.list().iter().map(u16::to_string).collect();
            return Err(UrlRefusal::Port {
                port,
                allowed: allowed.join(", "),
            });
        }
        Ok(u)
    }

    /// Whether `ip` may be called; `Ok(true)` for a loopback or private address the local
    /// stack allows (which may name any port).
    pub fn check_ip(&self, ip: IpAddr) -> Result<bool, UrlRefusal> {
        match reach(ip) {
            Reach::Public => Ok(false),
            Reach::Private if self.allow_private => Ok(true),
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
            Embedded::Teredo { server, client } => worse(reach_v4(server), reach_v4(client)),
            Embedded::None => reach_v6(v6),
        },
    }
}

/// The less callable of two reaches: link-local over reserved over private over public.
fn worse(a: Reach, b: Reach) -> Reach {
    let rank = |r| match r {
        Reach::Public => 0,
        Reach::Private => 1,
        Reach::Reserved => 2,
        Reach::LinkLocal => 3,
    };
    if rank(a) >= rank(b) { a } else { b }
}

/// What an IPv6 address says about an IPv4 one.
enum Embedded {
    /// The network delivers it to this IPv4 address: judged as that address.
    V4(Ipv4Addr),
    /// A local-use NAT64 prefix (`64:ff9b:1::/48`, RFC 8215): where the IPv4 address sits
    /// depends on the operator's prefix length, and the network is someone's own.
    LocalNat64,
    /// A Teredo address names two IPv4 addresses.
    Teredo {
        server: Ipv4Addr,
        client: Ipv4Addr,
    },
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
        // IPv4-translated `::ffff:0:a.b.c.d` (RFC 6145, SIIT).
        [0, 0, 0, 0, 0xffff, 0, hi, lo] => Embedded::V4(v4_of(hi, lo)),
        // Teredo `2001:0::/32` (RFC 4380): the server's IPv4 address in plain, the client's
        // (where the packets go) with every bit flipped. Judged by the worse of the two.
        [0x2001, 0, shi, slo, _, _, chi, clo] => Embedded::Teredo {
            server: v4_of(shi, slo),
            client: v4_of(!chi, !clo),
        },
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
        ports: Ports::STANDARD,
    };
    const LOCAL: UrlPolicy = UrlPolicy {
        allow_private: true,
        ports: Ports::STANDARD,
    };

    /// RFC 6145's translated form and Teredo passed as public IPv6 addresses.
    #[test]
    fn translated_and_teredo_addresses_are_judged_by_their_ipv4_ones() {
        for (url, want) in [
            ("https://[::ffff:0:a9fe:a9fe]/", "link-local"),
            ("https://[::ffff:0:10.0.0.1]/", "private"),
            ("https://[::ffff:0:7f00:1]/", "private"),
            // Teredo, server 65.54.227.120, client 169.254.169.254 (bits flipped: 5601:5601).
            (
                "https://[2001:0:4136:e378:8000:63bf:5601:5601]/",
                "link-local",
            ),
            // Teredo, client 10.0.0.1 (f5ff:fffe).
            ("https://[2001:0:4136:e378:8000:63bf:f5ff:fffe]/", "private"),
            // Teredo with a private server.
            ("https://[2001:0:0a00:0001:8000:63bf:a245:2e7d]/", "private"),
        ] {
            let got = STRICT.check_url(url);
            let kind = match got {
                Err(UrlRefusal::LinkLocal(_)) => "link-local",
                Err(UrlRefusal::Private(_)) => "private",
                _ => "other",
            };
            assert_eq!(kind, want, "{url}: {got:?}");
        }
        // Teredo with a public server and client (93.184.216.34 = a2b8:27dd flipped).
        assert!(
            STRICT
                .check_url("https://[2001:0:4136:e378:8000:63bf:a247:27dd]/")
                .is_ok()
        );
    }

    #[test]
    fn only_the_ports_web_servers_use_except_locally() {
        for ok in [
            "https://example.com/h",
            "https://example.com:443/h",
            "https://example.com:8443/h",
            "http://localhost:80/",
        ] {
            assert!(LOCAL.check_url(ok).is_ok(), "{ok}");
        }
        assert!(STRICT.check_url("https://example.com:8443/h").is_ok());
        for bad in [
            "https://example.com:22/",
            "https://example.com:6379/",
            "https://93.184.216.34:3306/",
        ] {
            assert!(
                matches!(STRICT.check_url(bad), Err(UrlRefusal::Port { .. })),
                "{bad}: {:?}",
                STRICT.check_url(bad)
            );
            assert!(
                matches!(LOCAL.check_url(bad), Err(UrlRefusal::Port { .. })),
                "a public host keeps the rule locally too: {bad}"
            );
        }
        // The local stack's loopback endpoints keep their ports.
        assert!(LOCAL.check_url("http://127.0.0.1:3002/_bot/x").is_ok());
        assert!(LOCAL.check_url("http://localhost:3002/").is_ok());
        assert!(STRICT.check_url("https://localhost:3002/").is_err());
        // The operator's list replaces the standard one.
        let own = UrlPolicy {
            allow_private: false,
            ports: Ports::parse("443, 9443").expect("ports"),
        };
        assert!(own.check_url("https://example.com:9443/").is_ok());
        assert!(own.check_url("https://example.com:8443/").is_err());
        assert!(Ports::parse("").is_err());
        assert!(Ports::parse("443,x").is_err());
        assert!(Ports::parse("0").is_err());
        assert!(Ports::parse("1,2,3,4,5,6,7,8,9").is_err());
    }

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
