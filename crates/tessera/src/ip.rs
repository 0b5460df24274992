//! The client IP, as better-auth records it on sessions and keys rate limits
//! with (spec §6.2), believed from forwarded headers only when a trusted
//! proxy sent them.
//!
//! # Which address counts
//!
//! 1. The socket peer ([`ClientAddr`], passed by every adapter) is the
//!    client, unless it is in [`IpOptions::trusted_proxies`]: anyone can
//!    send `X-Forwarded-For`, so a header from anyone else is ignored.
//! 2. From a trusted proxy, the first of [`IpOptions::headers`] the request
//!    carries is walked from the right (the last line first, as proxies
//!    append): trusted hops are skipped, the first untrusted hop is the
//!    client. When every hop is trusted, the leftmost counts.
//! 3. A hop that is not an IP address (`unknown`, an obfuscated name, an
//!    empty or garbled entry) stops the walk: the last address vouched for
//!    counts (the hop to its right, or the peer). Nothing left of it was
//!    written by a proxy Tessera trusts, so taking anything from there
//!    would let the client choose its own address.
//! 4. Without a peer (`Auth::handle`, an ALB event on Lambda, which
//!    carries no source IP) nothing vouches for the headers: they count,
//!    walked the same way, only with [`IpOptions::trust_headers_without_peer`]
//!    (for a platform whose proxy always writes them); otherwise there is
//!    no address.
//!
//! Addresses are compared in canonical form: `::ffff:10.0.0.1` is
//! `10.0.0.1`, `2001:DB8::1` is `2001:db8:0:0::1`. Hops may carry a port
//! (`203.0.113.7:4711`, `[2001:db8::1]:443`). The RFC 7239 `Forwarded`
//! header is not parsed.
//!
//! better-auth 1.7.25 knows no socket peer: it believes a single-address
//! header from any client, which is how one client gets a new rate-limit
//! bucket per request and writes the session's `ipAddress` itself.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use http::{HeaderMap, HeaderValue};

use crate::options::{Environment, IpOptions};

/// The address of the peer that sent a request, as an adapter knows it from
/// its socket. Adapters put it in the request's extensions or pass it to
/// [`crate::Auth::handle_from`]; it is the client unless it is a trusted
/// proxy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

/// The client's IP (see [the module docs](self) for which address counts),
/// normalised: IPv4-mapped IPv6 becomes IPv4, other IPv6 is masked to
/// `ipv6_subnet` bits and written in full (`2001:0db8:0000:…`). Without
/// an address, in development and test, `127.0.0.1`.
///
/// ```
/// use http::HeaderMap;
/// use tessera::ip::client_ip;
/// use tessera::options::IpOptions;
/// use tessera::{ClientAddr, Environment};
///
/// let mut headers = HeaderMap::new();
/// headers.insert("x-forwarded-for", "203.0.113.7".parse().unwrap());
/// let peer = Some(ClientAddr("198.51.100.4".parse().unwrap()));
///
/// // A peer that is not a trusted proxy: the header is ignored.
/// let options = IpOptions::default();
/// let ip = client_ip(&headers, peer, &options, Environment::Production);
/// assert_eq!(ip.as_deref(), Some("198.51.100.4"));
///
/// // Through a trusted proxy, the header names the client.
/// let mut options = IpOptions::default();
/// options.trusted_proxies = vec!["198.51.100.0/24".parse().unwrap()];
/// let ip = client_ip(&headers, peer, &options, Environment::Production);
/// assert_eq!(ip.as_deref(), Some("203.0.113.7"));
/// ```
pub fn client_ip(
    headers: &HeaderMap,
    peer: Option<ClientAddr>,
    options: &IpOptions,
    env: Environment,
) -> Option<String> {
    if options.disable_ip_tracking {
        return None;
    }
    if let Some(ip) = client_addr(headers, peer, options) {
        return Some(normalize(ip, options.ipv6_subnet));
    }
    matches!(env, Environment::Development | Environment::Test).then(|| "127.0.0.1".to_owned())
}

/// The client's address before normalisation (steps 1 to 4 of the module
/// docs).
fn client_addr(
    headers: &HeaderMap,
    peer: Option<ClientAddr>,
    options: &IpOptions,
) -> Option<IpAddr> {
    let peer = peer.map(|ClientAddr(ip)| ip.to_canonical());
    let vouched = match peer {
        Some(ip) => is_trusted(ip, options),
        None => options.trust_headers_without_peer,
    };
    if !vouched {
        return peer;
    }
    for name in &options.headers {
        let mut lines = headers.get_all(name).iter().peekable();
        if lines.peek().is_some() {
            return walk_forwarded(lines, peer, options);
        }
    }
    peer
}

/// The first untrusted hop from the right of the header's lines; `last`,
/// the nearest address vouched for so far, when a hop is malformed or
/// when every hop is trusted (then it is the leftmost).
fn walk_forwarded<'h>(
    lines: impl DoubleEndedIterator<Item = &'h HeaderValue>,
    mut last: Option<IpAddr>,
    options: &IpOptions,
) -> Option<IpAddr> {
    for line in lines.rev() {
        let Ok(line) = line.to_str() else {
            return last;
        };
        for hop in line.rsplit(',') {
            let Some(ip) = parse_hop(hop.trim()) else {
                return last;
            };
            if !is_trusted(ip, options) {
                return Some(ip);
            }
            last = Some(ip);
        }
    }
    last
}

/// One hop: an address, maybe with a port; canonical.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let ip = hop
        .parse::<IpAddr>()
        .or_else(|_| hop.parse::<SocketAddr>().map(|a| a.ip()))
        .ok()?;
    Some(ip.to_canonical())
}

fn is_trusted(ip: IpAddr, options: &IpOptions) -> bool {
    options.trusted_proxies.iter().any(|net| net.contains(ip))
}

fn normalize(ip: IpAddr, subnet: u8) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let bits = u128::from(v6);
                let subnet = u32::from(subnet.min(128));
                let mask = if subnet == 0 {
                    0
                } else {
                    u128::MAX << (128 - subnet)
                };
                let masked = Ipv6Addr::from(bits & mask);
                masked
                    .segments()
                    .iter()
                    .map(|s| format!("{s:04x}"))
                    .collect::<Vec<_>>()
                    .join(":")
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::IpNetwork;

    const PROD: Environment = Environment::Production;

    fn peer(ip: &str) -> Option<ClientAddr> {
        Some(ClientAddr(ip.parse().unwrap()))
    }

    fn headers(xff: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", xff.parse().unwrap());
        h
    }

    fn trusting(proxies: &[&str]) -> IpOptions {
        IpOptions {
            trusted_proxies: proxies.iter().map(|p| p.parse().unwrap()).collect(),
            ..IpOptions::default()
        }
    }

    fn ip(h: &HeaderMap, peer: Option<ClientAddr>, o: &IpOptions) -> Option<String> {
        client_ip(h, peer, o, PROD)
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let o = IpOptions::default();
        assert_eq!(
            ip(&HeaderMap::new(), peer("198.51.100.4"), &o).as_deref(),
            Some("198.51.100.4")
        );
        for forged in ["203.0.113.7", "203.0.113.7, 10.0.0.1", "garbage"] {
            assert_eq!(
                ip(&headers(forged), peer("198.51.100.4"), &o).as_deref(),
                Some("198.51.100.4"),
                "{forged}"
            );
        }
        // Trusting other proxies changes nothing for this peer.
        let o = trusting(&["10.0.0.0/8"]);
        assert_eq!(
            ip(&headers("203.0.113.7"), peer("198.51.100.4"), &o).as_deref(),
            Some("198.51.100.4")
        );
    }

    #[test]
    fn a_trusted_peer_forwards_the_first_untrusted_hop_from_the_right() {
        let o = trusting(&["10.0.0.0/8", "2001:db8:ffff::/48"]);
        let from_proxy = peer("10.0.0.2");
        // The client forged the leftmost hop; the proxies appended the rest.
        let chain = headers("192.0.2.66, 203.0.113.7, 10.1.1.1");
        assert_eq!(ip(&chain, from_proxy, &o).as_deref(), Some("203.0.113.7"));
        assert_eq!(
            ip(&headers("203.0.113.7"), from_proxy, &o).as_deref(),
            Some("203.0.113.7")
        );
        // IPv6 proxies and clients; a client's address is masked to /64.
        let v6 = headers("2001:db8:1:2:3:4:5:6, 2001:db8:ffff::9");
        assert_eq!(
            ip(&v6, peer("2001:db8:ffff::1"), &o).as_deref(),
            Some("2001:0db8:0001:0002:0000:0000:0000:0000")
        );
        // No header: the proxy itself.
        assert_eq!(
            ip(&HeaderMap::new(), from_proxy, &o).as_deref(),
            Some("10.0.0.2")
        );
        // Every hop trusted: the leftmost.
        assert_eq!(
            ip(&headers("10.9.9.9, 10.1.1.1"), from_proxy, &o).as_deref(),
            Some("10.9.9.9")
        );
    }

    #[test]
    fn several_header_lines_are_one_chain_read_from_the_last() {
        let o = trusting(&["10.0.0.0/8"]);
        let mut h = HeaderMap::new();
        // The client sent the first line; the proxy added the second.
        h.append("x-forwarded-for", "192.0.2.66".parse().unwrap());
        h.append("x-forwarded-for", "203.0.113.7".parse().unwrap());
        assert_eq!(ip(&h, peer("10.0.0.2"), &o).as_deref(), Some("203.0.113.7"));
    }

    #[test]
    fn a_malformed_hop_stops_at_the_last_address_vouched_for() {
        let o = trusting(&["10.0.0.0/8"]);
        let from_proxy = peer("10.0.0.2");
        for (chain, expected) in [
            ("unknown", "10.0.0.2"),
            ("203.0.113.7, unknown", "10.0.0.2"),
            ("203.0.113.7, _hidden, 10.1.1.1", "10.1.1.1"),
            ("203.0.113.7,, 10.1.1.1", "10.1.1.1"),
            ("", "10.0.0.2"),
            ("fe80::1%eth0", "10.0.0.2"),
        ] {
            let mut h = HeaderMap::new();
            h.insert("x-forwarded-for", HeaderValue::from_str(chain).unwrap());
            assert_eq!(
                ip(&h, from_proxy, &o).as_deref(),
                Some(expected),
                "{chain:?}"
            );
        }
        // Bytes that are not text: the same.
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            HeaderValue::from_bytes(b"203.0.113.7\xff").unwrap(),
        );
        assert_eq!(ip(&h, from_proxy, &o).as_deref(), Some("10.0.0.2"));
    }

    #[test]
    fn hops_with_ports_are_addresses() {
        let o = trusting(&["10.0.0.0/8"]);
        let h = headers("[2001:db8::7]:443, 203.0.113.7:4711");
        assert_eq!(ip(&h, peer("10.0.0.2"), &o).as_deref(), Some("203.0.113.7"));
    }

    #[test]
    fn addresses_compare_in_canonical_form() {
        // A mapped peer is its IPv4 address; a mapped network its IPv4 one.
        let o = trusting(&["10.0.0.1"]);
        assert_eq!(
            ip(&headers("203.0.113.7"), peer("::ffff:10.0.0.1"), &o).as_deref(),
            Some("203.0.113.7")
        );
        let o = trusting(&["::ffff:10.0.0.0/104"]);
        assert_eq!(
            ip(&headers("203.0.113.7"), peer("10.200.0.1"), &o).as_deref(),
            Some("203.0.113.7")
        );
        // Upper case and compressed forms of one IPv6 address.
        let o = trusting(&["2001:DB8::1"]);
        assert_eq!(
            ip(&headers("203.0.113.7"), peer("2001:db8:0:0::1"), &o).as_deref(),
            Some("203.0.113.7")
        );
        // Mapped hops are skipped as trusted, and named as IPv4.
        let o = trusting(&["10.0.0.0/8"]);
        assert_eq!(
            ip(
                &headers("::ffff:203.0.113.7, ::ffff:10.1.1.1"),
                peer("10.0.0.2"),
                &o
            )
            .as_deref(),
            Some("203.0.113.7")
        );
    }

    #[test]
    fn configured_headers_are_read_in_order_from_a_trusted_peer() {
        let o = IpOptions {
            headers: vec![
                http::HeaderName::from_static("cf-connecting-ip"),
                http::HeaderName::from_static("x-forwarded-for"),
            ],
            ..trusting(&["10.0.0.0/8"])
        };
        let mut h = headers("198.51.100.9");
        assert_eq!(
            ip(&h, peer("10.0.0.2"), &o).as_deref(),
            Some("198.51.100.9")
        );
        h.insert("cf-connecting-ip", "203.0.113.7".parse().unwrap());
        assert_eq!(ip(&h, peer("10.0.0.2"), &o).as_deref(), Some("203.0.113.7"));
    }

    #[test]
    fn without_a_peer_headers_count_only_when_configured_to() {
        let h = headers("198.51.100.9, 203.0.113.7");
        assert_eq!(ip(&h, None, &IpOptions::default()), None);
        let o = IpOptions {
            trust_headers_without_peer: true,
            ..IpOptions::default()
        };
        // The platform's proxy appended the address it saw.
        assert_eq!(ip(&h, None, &o).as_deref(), Some("203.0.113.7"));
        assert_eq!(ip(&headers("unknown"), None, &o), None);
    }

    #[test]
    fn ipv6_is_masked_to_64_and_expanded() {
        let o = IpOptions::default();
        assert_eq!(
            ip(&HeaderMap::new(), peer("2001:db8::1234:5678"), &o).as_deref(),
            Some("2001:0db8:0000:0000:0000:0000:0000:0000")
        );
        assert_eq!(
            ip(&HeaderMap::new(), peer("::ffff:10.1.2.3"), &o).as_deref(),
            Some("10.1.2.3")
        );
    }

    #[test]
    fn development_falls_back_to_localhost() {
        let h = HeaderMap::new();
        let o = IpOptions::default();
        assert_eq!(client_ip(&h, None, &o, PROD), None);
        assert_eq!(
            client_ip(&h, None, &o, Environment::Development).as_deref(),
            Some("127.0.0.1")
        );
    }

    #[test]
    fn disabled_tracking_records_nothing() {
        let o = IpOptions {
            disable_ip_tracking: true,
            ..IpOptions::default()
        };
        assert_eq!(ip(&HeaderMap::new(), peer("198.51.100.4"), &o), None);
    }

    #[test]
    fn networks_parse_from_addresses_and_cidrs() {
        for good in [
            "10.0.0.1",
            "10.0.0.0/8",
            "10.1.2.3/8",
            "::1",
            "2001:db8::/32",
            " ::/0 ",
        ] {
            assert!(good.parse::<IpNetwork>().is_ok(), "{good}");
        }
        for bad in [
            "",
            "10.0.0.0/33",
            "::/129",
            "10.0.0.0/",
            "10.0.0.0/+8",
            "10.0.0.0/8/8",
            "010.0.0.1",
            "example.com",
            "10.0.0.0-10.0.0.9",
            "[::1]",
        ] {
            let err = bad.parse::<IpNetwork>().unwrap_err();
            assert_eq!(err.value, bad);
        }
        let host_bits: IpNetwork = "10.1.2.3/8".parse().unwrap();
        assert_eq!(host_bits.to_string(), "10.0.0.0/8");
        assert!(IpNetwork::parse_list("10.0.0.1, nope").is_err());
        assert_eq!(IpNetwork::parse_list(" , ").unwrap(), Vec::new());
    }
}
