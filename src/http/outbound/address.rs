//! Which addresses an outgoing call may reach. Loopback and the private ranges are refused
//! unless `outbound.allow_private` opens them (the demo and the tests talk to loopback
//! servers); link-local, cloud-metadata, multicast and other special addresses are refused
//! always. An IPv6 address that carries an IPv4 one (`::ffff:127.0.0.1`, NAT64) is judged
//! by the IPv4 address it reaches.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use reqwest::Url;

/// Instance metadata services: they hand out cloud credentials to whoever asks. AWS, GCP,
/// Azure and Oracle answer on 169.254.169.254 (link-local anyway); Alibaba on
/// 100.100.100.200; Azure's platform endpoint is 168.63.129.16; AWS and GCP over IPv6 on
/// unique-local addresses, which `allow_private` would otherwise open.
const METADATA_V4: [Ipv4Addr; 3] = [
    Ipv4Addr::new(169, 254, 169, 254),
    Ipv4Addr::new(100, 100, 100, 200),
    Ipv4Addr::new(168, 63, 129, 16),
];
const METADATA_V6: [Ipv6Addr; 2] = [
    Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254),
    Ipv6Addr::new(0xfd20, 0x00ce, 0, 0, 0, 0, 0, 0x0254),
];

/// Host names that need no DNS to judge.
const LOOPBACK_NAMES: [&str; 1] = ["localhost"];
const METADATA_NAMES: [&str; 2] = ["metadata.google.internal", "metadata"];

/// What kind of address an IP is, as far as outgoing calls care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Range {
    Public,
    Loopback,
    /// RFC 1918, and the carrier-grade NAT range (RFC 6598).
    Private,
    /// `fc00::/7`.
    UniqueLocal,
    LinkLocal,
    CloudMetadata,
    Multicast,
    /// `0.0.0.0/8` and `::`: connecting to them reaches this host.
    Unspecified,
    /// Broadcast, documentation, benchmarking, protocol assignments, future use.
    Reserved,
}

impl Range {
    pub fn of(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => Self::of_v4(v4),
            IpAddr::V6(v6) => Self::of_v6(v6),
        }
    }

    fn of_v4(ip: Ipv4Addr) -> Self {
        let [a, b, c, _] = ip.octets();
        if METADATA_V4.contains(&ip) {
            Self::CloudMetadata
        } else if a == 0 {
            Self::Unspecified
        } else if ip.is_loopback() {
            Self::Loopback
        } else if ip.is_private() || (a == 100 && (b & 0xc0) == 64) {
            Self::Private
        } else if ip.is_link_local() {
            Self::LinkLocal
        } else if ip.is_multicast() {
            Self::Multicast
        } else if a >= 240
            || ip.is_documentation()
            || (a == 198 && (b & 0xfe) == 18)
            || (a == 192 && b == 0 && c == 0)
        {
            Self::Reserved
        } else {
            Self::Public
        }
    }

    fn of_v6(ip: Ipv6Addr) -> Self {
        if METADATA_V6.contains(&ip) {
            return Self::CloudMetadata;
        }
        if ip.is_unspecified() {
            return Self::Unspecified;
        }
        if ip.is_loopback() {
            return Self::Loopback;
        }
        if let Some(v4) = embedded_v4(ip) {
            return Self::of_v4(v4);
        }
        let first = ip.segments()[0];
        match first {
            _ if first & 0xfe00 == 0xfc00 => Self::UniqueLocal,
            _ if first & 0xffc0 == 0xfe80 => Self::LinkLocal,
            _ if first & 0xff00 == 0xff00 => Self::Multicast,
            // Documentation (2001:db8::/32), Teredo (2001::/32, its IPv4 end is hidden),
            // and anything outside global unicast (2000::/3).
            0x2001 if matches!(ip.segments()[1], 0 | 0x0db8) => Self::Reserved,
            _ if first & 0xe000 != 0x2000 => Self::Reserved,
            _ => Self::Public,
        }
    }

    /// Loopback and the private ranges, which `outbound.allow_private` opens.
    pub fn is_private(self) -> bool {
        matches!(self, Self::Loopback | Self::Private | Self::UniqueLocal)
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Loopback => "loopback",
            Self::Private => "private",
            Self::UniqueLocal => "unique-local",
            Self::LinkLocal => "link-local",
            Self::CloudMetadata => "cloud-metadata",
            Self::Multicast => "multicast",
            Self::Unspecified => "unspecified",
            Self::Reserved => "reserved",
        }
    }
}

/// The IPv4 address an IPv6 one stands for: IPv4-mapped (`::ffff:a.b.c.d`), IPv4-compatible
/// (`::a.b.c.d`), NAT64 (`64:ff9b::a.b.c.d`) and 6to4 (`2002:aabb:ccdd::`).
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let v4 = |high: u16, low: u16| {
        let [a, b] = high.to_be_bytes();
        let [c, d] = low.to_be_bytes();
        Ipv4Addr::new(a, b, c, d)
    };
    match s {
        [0, 0, 0, 0, 0, 0xffff, high, low] | [0, 0, 0, 0, 0, 0, high, low] => Some(v4(high, low)),
        [0x64, 0xff9b, 0, 0, 0, 0, high, low] => Some(v4(high, low)),
        [0x2002, high, low, ..] => Some(v4(high, low)),
        _ => None,
    }
}

/// The host when it is an IP address. The URL parser has already turned every spelling of
/// an IPv4 address (`2130706433`, `0x7f.1`) into dotted form, and IPv6 ones are bracketed.
fn ip_literal(url: &Url) -> Option<IpAddr> {
    let host = url.host_str()?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    host.parse().ok()
}

/// An address an outgoing call may not reach, and why. An `Error`, so a refusal made inside
/// the DNS resolver can be found again in the chain of the error reqwest returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{ip} is a {} address", .range.name())]
pub struct Refusal {
    pub ip: IpAddr,
    pub range: Range,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddressPolicy {
    pub allow_private: bool,
}

impl AddressPolicy {
    pub fn check(&self, ip: IpAddr) -> Result<(), Refusal> {
        let range = Range::of(ip);
        match range {
            Range::Public => Ok(()),
            _ if range.is_private() && self.allow_private => Ok(()),
            _ => Err(Refusal { ip, range }),
        }
    }

    /// Before sending: a URL whose host is an IP literal never reaches the DNS resolver
    /// (hyper connects to it directly), so it is judged here.
    pub fn check_literal(&self, url: &Url) -> Result<(), Refusal> {
        match ip_literal(url) {
            Some(ip) => self.check(ip),
            None => Ok(()),
        }
    }

    /// When an admin saves a URL: an http(s) URL whose host is not refused by what can be
    /// known without DNS (IP literals, `localhost`, metadata names). A name may still resolve
    /// to a refused address later: the connect-time check is the guarantee. The message never
    /// repeats the URL (it may carry credentials).
    pub fn check_url(&self, raw: &str) -> Result<(), String> {
        let url = Url::parse(raw.trim())
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .ok_or_else(|| "must be an http(s) URL".to_owned())?;
        let range = match (ip_literal(&url), url.host_str()) {
            (Some(ip), _) => Range::of(ip),
            (None, None) => return Err("must be an http(s) URL".into()),
            (None, Some(name)) => {
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                if METADATA_NAMES.contains(&name.as_str()) {
                    Range::CloudMetadata
                } else if LOOPBACK_NAMES
                    .iter()
                    .any(|l| name == *l || name.ends_with(&format!(".{l}")))
                {
                    Range::Loopback
                } else {
                    Range::Public
                }
            }
        };
        match range {
            Range::Public => Ok(()),
            _ if range.is_private() && self.allow_private => Ok(()),
            _ if range.is_private() => Err(format!(
                "must not point at a {} address (outbound.allow_private is off)",
                range.name()
            )),
            _ => Err(format!("must not point at a {} address", range.name())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(ip: &str) -> Range {
        Range::of(ip.parse().unwrap())
    }

    #[test]
    fn ipv4_ranges() {
        for (ip, expected) in [
            ("93.184.216.34", Range::Public),
            ("8.8.8.8", Range::Public),
            ("127.0.0.1", Range::Loopback),
            ("127.255.0.9", Range::Loopback),
            ("10.1.2.3", Range::Private),
            ("172.16.0.1", Range::Private),
            ("172.31.255.255", Range::Private),
            ("172.32.0.1", Range::Public),
            ("192.168.1.1", Range::Private),
            ("100.64.0.1", Range::Private),
            ("169.254.0.1", Range::LinkLocal),
            ("169.254.169.254", Range::CloudMetadata),
            ("100.100.100.200", Range::CloudMetadata),
            ("168.63.129.16", Range::CloudMetadata),
            ("224.0.0.1", Range::Multicast),
            ("239.255.255.250", Range::Multicast),
            ("0.0.0.0", Range::Unspecified),
            ("0.1.2.3", Range::Unspecified),
            ("255.255.255.255", Range::Reserved),
            ("240.0.0.1", Range::Reserved),
            ("192.0.2.1", Range::Reserved),
            ("198.18.0.1", Range::Reserved),
            ("192.0.0.192", Range::Reserved),
        ] {
            assert_eq!(range(ip), expected, "{ip}");
        }
    }

    #[test]
    fn ipv6_ranges() {
        for (ip, expected) in [
            ("2606:4700::1111", Range::Public),
            ("::1", Range::Loopback),
            ("::", Range::Unspecified),
            ("fc00::1", Range::UniqueLocal),
            ("fd12:3456::1", Range::UniqueLocal),
            ("fe80::1", Range::LinkLocal),
            ("febf::1", Range::LinkLocal),
            ("ff02::1", Range::Multicast),
            ("fd00:ec2::254", Range::CloudMetadata),
            ("fd20:ce::254", Range::CloudMetadata),
            ("2001:db8::1", Range::Reserved),
            ("2001::1", Range::Reserved),
            ("100::1", Range::Reserved),
        ] {
            assert_eq!(range(ip), expected, "{ip}");
        }
    }

    /// An IPv6 form of an IPv4 address reaches the IPv4 address: it is judged as that one.
    #[test]
    fn ipv6_forms_of_ipv4_addresses_are_judged_by_the_ipv4_address() {
        for (ip, expected) in [
            ("::ffff:127.0.0.1", Range::Loopback),
            ("::ffff:7f00:1", Range::Loopback),
            ("::ffff:10.0.0.1", Range::Private),
            ("::ffff:169.254.169.254", Range::CloudMetadata),
            ("::ffff:169.254.1.1", Range::LinkLocal),
            ("::ffff:8.8.8.8", Range::Public),
            ("::127.0.0.1", Range::Loopback),
            ("64:ff9b::169.254.169.254", Range::CloudMetadata),
            ("64:ff9b::8.8.8.8", Range::Public),
            ("2002:7f00:1::", Range::Loopback),
            ("2002:a9fe:a9fe::1", Range::CloudMetadata),
        ] {
            assert_eq!(range(ip), expected, "{ip}");
        }
    }

    #[test]
    fn allow_private_opens_loopback_and_private_ranges_only() {
        let open = AddressPolicy {
            allow_private: true,
        };
        let closed = AddressPolicy {
            allow_private: false,
        };
        for ip in ["127.0.0.1", "10.0.0.1", "192.168.0.1", "fd12::1", "::1"] {
            let ip: IpAddr = ip.parse().unwrap();
            assert!(open.check(ip).is_ok(), "{ip}");
            assert!(closed.check(ip).is_err(), "{ip}");
        }
        for ip in [
            "169.254.169.254",
            "169.254.10.10",
            "fe80::1",
            "fd00:ec2::254",
            "::ffff:169.254.169.254",
            "224.0.0.1",
            "ff02::1",
            "0.0.0.0",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert!(open.check(ip).is_err(), "{ip}");
            assert!(closed.check(ip).is_err(), "{ip}");
        }
        assert!(closed.check("8.8.8.8".parse().unwrap()).is_ok());
    }

    #[test]
    fn urls_judged_without_dns() {
        let closed = AddressPolicy {
            allow_private: false,
        };
        let open = AddressPolicy {
            allow_private: true,
        };
        for url in [
            "http://127.0.0.1:8080/fhir",
            "http://2130706433/",
            "http://0x7f.1/",
            "http://localhost/",
            "http://LOCALHOST./",
            "http://api.localhost/",
            "http://[::ffff:127.0.0.1]/",
            "https://10.0.0.5/",
            "http://[fd00::1]/",
        ] {
            assert!(closed.check_url(url).is_err(), "{url}");
            assert!(open.check_url(url).is_ok(), "{url}");
        }
        for url in [
            "http://169.254.169.254/latest/meta-data/",
            "http://[fe80::1]/",
            "http://[::ffff:169.254.169.254]/",
            "http://metadata.google.internal/",
            "http://224.0.0.1/",
            "ftp://example.com/",
            "not a url",
            "http://0.0.0.0:80/",
        ] {
            assert!(closed.check_url(url).is_err(), "{url}");
            assert!(open.check_url(url).is_err(), "{url}");
        }
        assert!(closed.check_url("https://fhir.hospital.example/R4").is_ok());
        let message = closed
            .check_url("http://user:hunter2@10.0.0.1/")
            .unwrap_err();
        assert!(!message.contains("hunter2"), "{message}");
    }
}
