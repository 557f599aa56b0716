//! Who is asking: the client's address and whether the request came over https, as the
//! dashboard needs them to throttle failed sign-ins ([`super::sign_in_throttle`]) and to mark
//! the session cookie `Secure`.
//!
//! The address is the connection's peer. `X-Forwarded-For` and `X-Forwarded-Proto` are
//! believed only when that peer is one of `server.trusted_proxies`: anyone else could write
//! them. A request came over https when the gateway serves TLS itself (`[server.tls]`),
//! `server.public_url` is an https address, or a trusted proxy says so.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::HeaderMap;

use crate::config::ServerSettings;

/// The connection's peer address, when the server recorded it (it does; a router called
/// without a connection, as in some tests, has none).
#[derive(Clone, Copy, Debug)]
pub struct Peer(pub Option<SocketAddr>);

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        // Plain HTTP records the socket address; TLS records it in its peer with the
        // client certificate.
        let plain = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0);
        let tls = || {
            parts
                .extensions
                .get::<ConnectInfo<crate::tls::TlsPeer>>()
                .map(|c| c.0.addr)
        };
        Ok(Peer(plain.or_else(tls)))
    }
}

/// The client as the dashboard sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Client {
    /// The client's address (0.0.0.0 when the connection's peer is unknown).
    pub addr: IpAddr,
    /// Whether the browser reached the gateway over https.
    pub https: bool,
}

impl Client {
    /// The client of a request from `peer` with `headers`, under `settings`.
    pub fn of(peer: Peer, headers: &HeaderMap, settings: &ServerSettings) -> Self {
        let peer = peer.0.map(|p| p.ip());
        let trusted = |ip: &IpAddr| settings.trusted_proxies.contains(ip);
        let via_proxy = peer.as_ref().is_some_and(trusted);
        let mut addr = peer.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        if via_proxy {
            // Right to left: each trusted proxy appended the address it got the request
            // from; the first one no trusted proxy has is the client's.
            let hops: Vec<&str> = headers
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .map(str::trim)
                .collect();
            for hop in hops.iter().rev() {
                let Ok(ip) = hop.parse::<IpAddr>() else {
                    break;
                };
                addr = ip;
                if !trusted(&ip) {
                    break;
                }
            }
        }
        let own_tls = settings.tls.is_some();
        let public_https = settings
            .public_url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://"));
        let forwarded_https = via_proxy
            && headers
                .get("x-forwarded-proto")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(',').next())
                .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"));
        Self {
            addr,
            https: own_tls || public_https || forwarded_https,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use std::time::Duration;

    fn settings(public_url: Option<&str>, proxies: &[&str]) -> ServerSettings {
        ServerSettings {
            listen: "127.0.0.1:0".parse().unwrap(),
            body_limit_bytes: 1024,
            request_timeout: Duration::from_secs(1),
            header_read_timeout: Duration::from_secs(1),
            body_read_timeout: Duration::from_secs(1),
            shutdown_grace: Duration::from_secs(1),
            max_requests_in_flight: 8,
            public_url: public_url.map(str::to_owned),
            trusted_proxies: proxies.iter().map(|p| p.parse().unwrap()).collect(),
            tls: None,
        }
    }

    fn peer(ip: &str) -> Peer {
        Peer(Some(SocketAddr::new(ip.parse().unwrap(), 40000)))
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn forwarded_headers_count_only_from_a_trusted_proxy() {
        let forwarded = headers(&[
            ("x-forwarded-for", "198.51.100.9"),
            ("x-forwarded-proto", "https"),
        ]);
        let direct = Client::of(peer("192.0.2.1"), &forwarded, &settings(None, &[]));
        assert_eq!(direct.addr, "192.0.2.1".parse::<IpAddr>().unwrap());
        assert!(!direct.https, "anyone can write X-Forwarded-Proto");
        let proxied = Client::of(peer("10.0.0.5"), &forwarded, &settings(None, &["10.0.0.5"]));
        assert_eq!(proxied.addr, "198.51.100.9".parse::<IpAddr>().unwrap());
        assert!(proxied.https);
        let plain = Client::of(
            peer("10.0.0.5"),
            &headers(&[("x-forwarded-proto", "http")]),
            &settings(None, &["10.0.0.5"]),
        );
        assert_eq!(plain.addr, "10.0.0.5".parse::<IpAddr>().unwrap());
        assert!(!plain.https);
    }

    #[test]
    fn the_client_is_the_first_address_from_the_right_no_trusted_proxy_has() {
        let s = settings(None, &["10.0.0.5", "10.0.0.6"]);
        // A client-written first entry is not believed: the proxies' own entries are.
        let h = headers(&[
            ("x-forwarded-for", "203.0.113.66, 198.51.100.9"),
            ("x-forwarded-for", "10.0.0.6"),
        ]);
        let c = Client::of(peer("10.0.0.5"), &h, &s);
        assert_eq!(c.addr, "198.51.100.9".parse::<IpAddr>().unwrap());
        // Garbage stops the walk at the last address a trusted proxy vouched for.
        let h = headers(&[("x-forwarded-for", "not-an-address, 10.0.0.6")]);
        let c = Client::of(peer("10.0.0.5"), &h, &s);
        assert_eq!(c.addr, "10.0.0.6".parse::<IpAddr>().unwrap());
        // No connection recorded: one shared unknown address.
        let c = Client::of(Peer(None), &h, &s);
        assert_eq!(c.addr, IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    }

    #[test]
    fn an_https_public_url_means_https() {
        let c = Client::of(
            peer("192.0.2.1"),
            &HeaderMap::new(),
            &settings(Some("https://wijkbrug.example.nl"), &[]),
        );
        assert!(c.https);
        let c = Client::of(
            peer("192.0.2.1"),
            &HeaderMap::new(),
            &settings(Some("http://wijkbrug.example.nl"), &[]),
        );
        assert!(!c.https);
    }
}
