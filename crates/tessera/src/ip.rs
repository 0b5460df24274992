//! The client IP, as better-auth records it on sessions and keys rate limits
//! with (spec §6.2).

use std::net::{IpAddr, Ipv6Addr};

use http::HeaderMap;

use crate::options::{Environment, IpOptions};

/// The address of the peer that sent a request, as an adapter knows it from
/// its socket. Adapters put it in the request's extensions; the kernel uses
/// it when no configured header names the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

/// The client's IP from the configured headers, normalised: IPv4-mapped
/// IPv6 becomes IPv4, other IPv6 is masked to `ipv6_subnet` bits and written
/// in full (`2001:0db8:0000:…`). Without a usable header the socket peer
/// (`peer`, from [`ClientAddr`]) is used; then, in development and test,
/// `127.0.0.1`.
pub fn client_ip(
    headers: &HeaderMap,
    peer: Option<ClientAddr>,
    options: &IpOptions,
    env: Environment,
) -> Option<String> {
    if options.disable_ip_tracking {
        return None;
    }
    for name in &options.headers {
        let Some(value) = headers.get(name.as_str()).and_then(|v| v.to_str().ok()) else {
            continue;
        };
        let hops: Vec<&str> = value.split(',').map(str::trim).collect();
        let candidate = if options.trusted_proxies.is_empty() {
            // Without trusted proxies only a single address is believable.
            (hops.len() == 1).then(|| hops[0])
        } else {
            hops.iter()
                .rev()
                .copied()
                .find(|hop| !options.trusted_proxies.iter().any(|p| p == hop))
        };
        if let Some(ip) = candidate.and_then(|c| c.parse::<IpAddr>().ok()) {
            return Some(normalize(ip, options.ipv6_subnet));
        }
    }
    if let Some(ClientAddr(ip)) = peer {
        return Some(normalize(ip, options.ipv6_subnet));
    }
    matches!(env, Environment::Development | Environment::Test).then(|| "127.0.0.1".to_owned())
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

    fn client_ip_h(h: &HeaderMap, o: &IpOptions, env: Environment) -> Option<String> {
        client_ip(h, None, o, env)
    }

    #[test]
    fn socket_peer_is_the_fallback() {
        let peer = Some(ClientAddr("198.51.100.4".parse().unwrap()));
        let h = HeaderMap::new();
        assert_eq!(
            client_ip(&h, peer, &IpOptions::default(), Environment::Production).as_deref(),
            Some("198.51.100.4")
        );
        assert_eq!(
            client_ip(
                &headers("203.0.113.7"),
                peer,
                &IpOptions::default(),
                Environment::Production
            )
            .as_deref(),
            Some("203.0.113.7")
        );
    }

    fn headers(xff: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", xff.parse().unwrap());
        h
    }

    #[test]
    fn single_ipv4() {
        let ip = client_ip_h(
            &headers("203.0.113.7"),
            &IpOptions::default(),
            Environment::Production,
        );
        assert_eq!(ip.as_deref(), Some("203.0.113.7"));
    }

    #[test]
    fn ipv6_is_masked_to_64_and_expanded() {
        let ip = client_ip_h(
            &headers("2001:db8::1234:5678"),
            &IpOptions::default(),
            Environment::Production,
        );
        assert_eq!(
            ip.as_deref(),
            Some("2001:0db8:0000:0000:0000:0000:0000:0000")
        );
        let mapped = client_ip_h(
            &headers("::ffff:10.1.2.3"),
            &IpOptions::default(),
            Environment::Production,
        );
        assert_eq!(mapped.as_deref(), Some("10.1.2.3"));
    }

    #[test]
    fn chains_need_trusted_proxies() {
        let opts = IpOptions::default();
        assert_eq!(
            client_ip_h(
                &headers("1.1.1.1, 10.0.0.1"),
                &opts,
                Environment::Production
            ),
            None
        );
        let opts = IpOptions {
            trusted_proxies: vec!["10.0.0.1".into()],
            ..IpOptions::default()
        };
        assert_eq!(
            client_ip_h(
                &headers("1.1.1.1, 10.0.0.1"),
                &opts,
                Environment::Production
            )
            .as_deref(),
            Some("1.1.1.1")
        );
    }

    #[test]
    fn development_falls_back_to_localhost() {
        let h = HeaderMap::new();
        assert_eq!(
            client_ip_h(&h, &IpOptions::default(), Environment::Production),
            None
        );
        assert_eq!(
            client_ip_h(&h, &IpOptions::default(), Environment::Development).as_deref(),
            Some("127.0.0.1")
        );
    }
}
