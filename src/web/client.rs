//! The client's address, for sign-in throttling: the socket peer (axum `ConnectInfo`), or, when the peer is one of
//! `trusted_proxies`, the address that proxy put in `X-Forwarded-For`. A request without `ConnectInfo` (the tests
//! drive the router without a socket) has no known address, and only the per-username limits apply to it.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::HeaderMap;

use crate::web::AppState;

/// The client's address, when known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub Option<IpAddr>);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
        // Validated at start-up, so this cannot fail here; an error would only mean no proxy is trusted.
        let trusted = state.ctx.config.trusted_proxy_ranges().unwrap_or_default();
        Ok(Self(peer.map(|peer| client_ip(peer, &parts.headers, &trusted))))
    }
}

/// Walks `X-Forwarded-For` from the right (the entries our own proxies appended) while the hop is trusted; the
/// first untrusted hop is the client. Entries a client wrote itself are further left and never reached unless
/// every proxy after them is trusted.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[ipnet::IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        let Ok(ip) = hop.parse::<IpAddr>() else { break };
        client = ip;
        if !is_trusted(&ip) {
            break;
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xff(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", value.parse().unwrap());
        headers
    }

    /// Address spoofing: a client cannot choose its throttling address with X-Forwarded-For unless it comes
    /// through a trusted proxy, and then only the proxy's own entry counts.
    #[test]
    fn honours_forwarded_for_only_from_trusted_proxies() {
        let proxy: IpAddr = "10.0.0.5".parse().unwrap();
        let trusted: Vec<ipnet::IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let client: IpAddr = "203.0.113.7".parse().unwrap();
        assert_eq!(client_ip(client, &xff("198.51.100.1"), &trusted), client, "untrusted peer: header ignored");
        assert_eq!(client_ip(proxy, &xff("203.0.113.7"), &trusted), client);
        assert_eq!(client_ip(proxy, &xff("198.51.100.1, 203.0.113.7"), &trusted), client, "spoofed entry skipped");
        assert_eq!(client_ip(proxy, &xff("203.0.113.7, 10.0.0.9"), &trusted), client, "chained trusted proxies");
        assert_eq!(client_ip(proxy, &HeaderMap::new(), &trusted), proxy);
        assert_eq!(client_ip(proxy, &xff("garbage"), &trusted), proxy);
        assert_eq!(client_ip(proxy, &xff("203.0.113.7"), &[]), proxy, "no trusted proxies configured");
    }
}
