//! Who a request comes from, as far as this gateway can trust it.
//!
//! `X-Forwarded-For`, `X-Forwarded-Proto`, `X-Forwarded-Host` and `Forwarded` are believed
//! only when the TCP peer is one of the configured trusted proxies (a TLS-terminating load
//! balancer, say). From anyone else they are dropped and replaced by what this gateway saw, so
//! a client cannot choose the address that upstreams, rate limits or logs attribute to it.

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use http::HeaderMap;
use ipnet::IpNet;

/// The configured trusted proxy networks (`--trusted-proxies`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl FromStr for TrustedProxies {
    type Err = String;

    /// A comma- or space-separated list of CIDRs or single addresses.
    fn from_str(list: &str) -> Result<Self, String> {
        let mut nets = Vec::new();
        for item in list.split([',', ' ', '\n']).map(str::trim).filter(|s| !s.is_empty()) {
            let net = match item.parse::<IpNet>() {
                Ok(net) => net,
                Err(_) => match item.parse::<IpAddr>() {
                    Ok(ip) => IpNet::from(ip),
                    Err(_) => {
                        return Err(format!("{item:?} is neither a CIDR (10.0.0.0/8) nor an IP address"));
                    }
                },
            };
            nets.push(net.trunc());
        }
        Ok(Self(nets))
    }
}

impl TrustedProxies {
    pub fn contains(&self, ip: IpAddr) -> bool {
        // A dual-stack listener reports IPv4 peers as ::ffff:a.b.c.d: match them as IPv4.
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// Where the request on a connection from `peer` comes from.
    pub fn hop(&self, peer: SocketAddr, tls: bool) -> Hop {
        Hop { peer, tls, trusted: self.contains(peer.ip()) }
    }

    /// The client's address: the peer's, or behind trusted proxies, the right-most address in
    /// `X-Forwarded-For` that is not itself a trusted proxy (entries further left were written
    /// by whoever reached the first trusted proxy, and could say anything).
    pub fn client_ip(&self, hop: &Hop, headers: &HeaderMap) -> IpAddr {
        let peer = hop.peer.ip().to_canonical();
        if !hop.trusted {
            return peer;
        }
        let mut client = peer;
        let entries = headers.get_all(X_FORWARDED_FOR).iter().filter_map(|v| v.to_str().ok());
        let entries: Vec<&str> = entries.flat_map(|v| v.split(',')).collect();
        for entry in entries.iter().rev() {
            match entry.trim().parse::<IpAddr>() {
                Ok(ip) => {
                    client = ip.to_canonical();
                    if !self.contains(client) {
                        break;
                    }
                }
                // Garbage in the chain: trust stops there.
                Err(_) => break,
            }
        }
        client
    }
}

pub const X_FORWARDED_FOR: http::HeaderName = http::HeaderName::from_static("x-forwarded-for");
pub const X_FORWARDED_PROTO: http::HeaderName = http::HeaderName::from_static("x-forwarded-proto");
pub const X_FORWARDED_HOST: http::HeaderName = http::HeaderName::from_static("x-forwarded-host");

/// The connection a request arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hop {
    /// The TCP peer.
    pub peer: SocketAddr,
    /// Whether it reached this gateway over TLS.
    pub tls: bool,
    /// Whether the peer is a trusted proxy, whose forwarding headers are believed.
    pub trusted: bool,
}

impl Hop {
    /// This hop's scheme, as `X-Forwarded-Proto` and `Forwarded` carry it.
    pub fn proto(&self) -> &'static str {
        if self.tls { "https" } else { "http" }
    }

    /// Whether the client's request was encrypted all the way to a party we trust: TLS to this
    /// gateway, or TLS to a trusted proxy that says so with `X-Forwarded-Proto: https`.
    pub fn secure(&self, headers: &HeaderMap) -> bool {
        self.tls || (self.trusted && forwarded_proto(headers) == Some("https"))
    }

    /// Removes forwarding headers a client may have forged: everything unless the peer is a
    /// trusted proxy.
    pub fn sanitise(&self, headers: &mut HeaderMap) {
        if self.trusted {
            return;
        }
        for name in [X_FORWARDED_FOR, X_FORWARDED_PROTO, X_FORWARDED_HOST, http::header::FORWARDED] {
            headers.remove(name);
        }
    }
}

/// The scheme the first trusted proxy reported (`X-Forwarded-Proto`: its left-most entry).
pub fn forwarded_proto(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(X_FORWARDED_PROTO)?.to_str().ok()?;
    let first = value.split(',').next()?.trim();
    ["https", "http"].into_iter().find(|p| first.eq_ignore_ascii_case(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &str, proto: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        if !xff.is_empty() {
            h.insert(X_FORWARDED_FOR, xff.parse().unwrap());
        }
        if !proto.is_empty() {
            h.insert(X_FORWARDED_PROTO, proto.parse().unwrap());
        }
        h
    }

    #[test]
    fn parses_cidrs_and_addresses() {
        let t: TrustedProxies = "10.0.0.0/8, 192.168.1.7 ::1,fd00::/8".parse().unwrap();
        assert!(t.contains("10.1.2.3".parse().unwrap()));
        assert!(t.contains("192.168.1.7".parse().unwrap()));
        assert!(!t.contains("192.168.1.8".parse().unwrap()));
        assert!(t.contains("::ffff:10.9.9.9".parse().unwrap()));
        assert!(t.contains("fd12::1".parse().unwrap()));
        assert!("10.0.0.0/33".parse::<TrustedProxies>().is_err());
        assert!("proxy.local".parse::<TrustedProxies>().is_err());
        assert_eq!("".parse::<TrustedProxies>().unwrap(), TrustedProxies::default());
    }

    #[test]
    fn untrusted_peers_are_their_own_address_and_never_secure_by_header() {
        let t: TrustedProxies = "10.0.0.0/8".parse().unwrap();
        let hop = t.hop("203.0.113.9:5000".parse().unwrap(), false);
        let h = headers("198.51.100.1", "https");
        assert_eq!(t.client_ip(&hop, &h), "203.0.113.9".parse::<IpAddr>().unwrap());
        assert!(!hop.secure(&h));
        let mut h = h;
        hop.sanitise(&mut h);
        assert!(h.is_empty());
    }

    #[test]
    fn trusted_chains_are_walked_from_the_right() {
        let t: TrustedProxies = "10.0.0.0/8".parse().unwrap();
        let hop = t.hop("10.0.0.1:5000".parse().unwrap(), false);
        // A forged left-most entry, the real client, then another of our proxies.
        let h = headers("1.1.1.1, 198.51.100.1, 10.0.0.2", "https");
        assert_eq!(t.client_ip(&hop, &h), "198.51.100.1".parse::<IpAddr>().unwrap());
        assert!(hop.secure(&h));
        assert!(!hop.secure(&headers("", "http")));
        assert_eq!(t.client_ip(&hop, &headers("junk", "")), "10.0.0.1".parse::<IpAddr>().unwrap());
    }
}
