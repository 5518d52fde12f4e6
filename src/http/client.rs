//! Who is calling, by network address, for throttles and rate limits.
//!
//! Behind proxies the peer is the proxy, and `X-Forwarded-For` lists the hops, each proxy
//! appending the address it saw. Only the right end is trustworthy: a client can write
//! anything at the left. So the caller is the right-most address that is not one of our
//! own proxies (`server.trusted_proxies`, CIDRs); with none configured, the header is
//! ignored and the peer is the caller.

use std::future::{Ready, ready};
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};

use crate::config::Cidr;
use crate::error::ApiError;

/// Our own proxies, registered as app data; none means the peer is always the caller.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(pub Vec<Cidr>);

impl TrustedProxies {
    fn trusts(&self, address: IpAddr) -> bool {
        self.0.iter().any(|block| block.contains(address))
    }

    /// The caller's address: the peer, or, when the peer is one of our proxies, the
    /// right-most forwarded address that is not.
    pub fn client_of(&self, req: &HttpRequest) -> Option<IpAddr> {
        let peer = req.peer_addr()?.ip().to_canonical();
        if !self.trusts(peer) {
            return Some(peer);
        }
        let hops: Vec<&str> = req
            .headers()
            .get_all("x-forwarded-for")
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .collect();
        let mut caller = peer;
        for hop in hops.iter().rev() {
            // Something unreadable was written by whoever came before the last trusted hop:
            // that hop is the best we know.
            let Some(address) = parse_hop(hop) else {
                break;
            };
            caller = address;
            if !self.trusts(address) {
                break;
            }
        }
        Some(caller)
    }
}

/// One `X-Forwarded-For` entry: an address, perhaps with a port.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    hop.parse::<IpAddr>()
        .or_else(|_| hop.parse::<SocketAddr>().map(|s| s.ip()))
        .ok()
        .map(|ip| ip.to_canonical())
}

/// The key a rate limit counts an address under: the address for IPv4, its /64 for IPv6
/// (one subscriber gets a whole /64 and can rotate through it at will).
pub fn rate_key(address: IpAddr) -> String {
    match address.to_canonical() {
        IpAddr::V4(ip) => ip.to_string(),
        IpAddr::V6(ip) => {
            let mut octets = ip.octets();
            octets[8..].fill(0);
            format!("{}/64", Ipv6Addr::from(octets))
        }
    }
}

/// The caller's address as an extractor (`None` only for a request with no peer, as in
/// some test harnesses).
pub struct ClientAddress(pub Option<IpAddr>);

impl ClientAddress {
    /// The rate-limit key, or one shared key for requests without an address.
    pub fn key(&self) -> String {
        self.0.map_or_else(|| "unknown".into(), rate_key)
    }
}

impl FromRequest for ClientAddress {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let proxies = req.app_data::<web::Data<TrustedProxies>>();
        let address = match proxies {
            Some(proxies) => proxies.client_of(req),
            None => req.peer_addr().map(|a| a.ip().to_canonical()),
        };
        ready(Ok(Self(address)))
    }
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    fn proxies(blocks: &[&str]) -> TrustedProxies {
        TrustedProxies(blocks.iter().map(|b| b.parse().unwrap()).collect())
    }

    fn request(peer: &str, forwarded: &[&str]) -> HttpRequest {
        let mut request = TestRequest::default().peer_addr(peer.parse().unwrap());
        for value in forwarded {
            request = request.append_header(("x-forwarded-for", *value));
        }
        request.to_http_request()
    }

    #[test]
    fn without_trusted_proxies_the_header_is_ignored() {
        let req = request("203.0.113.9:5000", &["1.2.3.4"]);
        assert_eq!(
            proxies(&[]).client_of(&req),
            Some("203.0.113.9".parse().unwrap())
        );
    }

    #[test]
    fn the_right_most_untrusted_hop_is_the_caller_not_the_forged_left_one() {
        let trusted = proxies(&["10.0.0.0/8"]);
        // The client forged "6.6.6.6"; our proxy appended the address it really saw.
        let req = request("10.0.0.2:5000", &["6.6.6.6, 198.51.100.7"]);
        assert_eq!(
            trusted.client_of(&req),
            Some("198.51.100.7".parse().unwrap())
        );
        // Two of our proxies in a row, and the header split over two lines.
        let req = request("10.0.0.2:5000", &["6.6.6.6, 198.51.100.7", "10.0.0.3"]);
        assert_eq!(
            trusted.client_of(&req),
            Some("198.51.100.7".parse().unwrap())
        );
        // A peer that is not our proxy is the caller, whatever it forwards.
        let req = request("198.51.100.8:5000", &["10.0.0.9"]);
        assert_eq!(
            trusted.client_of(&req),
            Some("198.51.100.8".parse().unwrap())
        );
        // Junk to the right of the real hops stops the walk at the last trusted one.
        let req = request("10.0.0.2:5000", &["198.51.100.7, junk"]);
        assert_eq!(trusted.client_of(&req), Some("10.0.0.2".parse().unwrap()));
    }

    #[test]
    fn ipv6_callers_are_counted_by_their_64() {
        assert_eq!(
            rate_key("2001:db8:1:2:aaaa::1".parse().unwrap()),
            "2001:db8:1:2::/64"
        );
        assert_eq!(rate_key("::ffff:1.2.3.4".parse().unwrap()), "1.2.3.4");
    }
}
