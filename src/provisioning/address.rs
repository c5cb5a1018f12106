//! The outbound address policy: which addresses a request we send on an administrator's behalf may reach.
//!
//! Two policies share one classifier. SCIM calls (`Policy::Public`) reach only public addresses unless
//! `scim_allow_private_targets` is set. SP metadata fetches (`Policy::NotReserved`) may reach loopback and private
//! networks (an SP's metadata is often served on an internal host), but never addresses that no SP serves from:
//! "this network" 0.0.0.0/8, link-local 169.254.0.0/16 and fe80::/10 (where cloud metadata services answer),
//! multicast, 198.18.0.0/15 (benchmarking), 240.0.0.0/4 (reserved, and broadcast), and the IPv6 prefixes that embed
//! an IPv4 address someone else chooses: 64:ff9b::/96 (NAT64), 2002::/16 (6to4), IPv4-compatible ::/96 and the
//! deprecated site-local fec0::/10.
//!
//! Architecture Invariant: the policy holds for literal addresses in a URL (`check_url`, also on every redirect),
//! for every address a host name resolves to (`PolicyResolver`, so DNS rebinding is refused at connection time),
//! and no proxy from the environment (`HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY`) can route around it: the clients
//! are built with `no_proxy`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

/// Which addresses a client may reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Public addresses only (SCIM, unless private targets are allowed).
    Public,
    /// Anything but the reserved ranges (SP metadata; SCIM with `scim_allow_private_targets`).
    NotReserved,
}

impl Policy {
    /// Whether `ip` may be reached under this policy.
    pub fn allows(self, ip: IpAddr) -> bool {
        match self {
            Self::Public => !is_reserved(ip) && !is_private(ip),
            Self::NotReserved => !is_reserved(ip),
        }
    }

    /// A resolver that drops the addresses this policy refuses.
    pub fn resolver(self) -> Arc<PolicyResolver> {
        Arc::new(PolicyResolver { policy: self })
    }
}

/// Checks the literal address of a URL, if it has one (a host name is checked by `PolicyResolver` when it is
/// resolved; reqwest does not resolve a literal address, so it must be checked here).
pub fn check_url(url: &url::Url, policy: Policy) -> Result<(), String> {
    let ip = match url.host() {
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip),
        Some(url::Host::Domain(_)) => return Ok(()),
        None => return Err("the URL has no host".into()),
    };
    if policy.allows(ip) {
        Ok(())
    } else if is_reserved(ip) {
        Err(format!("the URL points to a reserved address ({ip}), which is never allowed"))
    } else {
        Err(format!("the URL points to a private address ({ip}), which is not allowed"))
    }
}

/// Loopback and private networks: reachable only where configured.
fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            // 100.64.0.0/10 is carrier-grade NAT.
            v4.is_loopback() || v4.is_private() || (a == 100 && (b & 0xc0) == 64)
        }
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || (v6.segments()[0] & 0xfe00) == 0xfc00
                || v6.to_ipv4_mapped().is_some_and(|v4| is_private(IpAddr::V4(v4)))
        }
    }
}

/// Addresses no SP serves from, refused by every policy.
fn is_reserved(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_reserved_v4(v4),
        IpAddr::V6(v6) => is_reserved_v6(v6),
    }
}

fn is_reserved_v4(v4: Ipv4Addr) -> bool {
    let [a, b, ..] = v4.octets();
    a == 0 // 0.0.0.0/8, "this network"
        || v4.is_link_local() // 169.254.0.0/16
        || v4.is_multicast() // 224.0.0.0/4
        || a >= 240 // 240.0.0.0/4 and 255.255.255.255
        || (a == 198 && (b & 0xfe) == 18) // 198.18.0.0/15
}

fn is_reserved_v6(v6: Ipv6Addr) -> bool {
    let [s0, s1, s2, s3, s4, s5, ..] = v6.segments();
    if let Some(v4) = v6.to_ipv4_mapped() {
        return is_reserved_v4(v4);
    }
    let ipv4_compatible = s0 == 0 && s1 == 0 && s2 == 0 && s3 == 0 && s4 == 0 && s5 == 0 && !v6.is_loopback();
    v6.is_unspecified()
        || ipv4_compatible // ::/96, deprecated
        || v6.is_multicast() // ff00::/8
        || (s0 & 0xffc0) == 0xfe80 // fe80::/10, link-local
        || (s0 & 0xffc0) == 0xfec0 // fec0::/10, site-local (deprecated)
        || (s0 == 0x64 && s1 == 0xff9b && s2 == 0 && s3 == 0 && s4 == 0 && s5 == 0) // 64:ff9b::/96, NAT64
        || s0 == 0x2002 // 2002::/16, 6to4
}

/// Resolves host names and drops the addresses the policy refuses, so a permitted name that resolves to a
/// refused address (DNS rebinding) is refused at connection time too.
pub struct PolicyResolver {
    policy: Policy,
}

impl reqwest::dns::Resolve for PolicyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy;
        Box::pin(async move {
            let host = format!("{}:0", name.as_str());
            let addrs: Vec<std::net::SocketAddr> =
                tokio::net::lookup_host(host).await?.filter(|a| policy.allows(a.ip())).collect();
            if addrs.is_empty() {
                let message = format!("{} resolves to no address that may be used", name.as_str());
                return Err(Box::new(std::io::Error::other(message)) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// Server-side request forgery: addresses where no SP serves (cloud metadata at 169.254.169.254, "this
    /// network", multicast, benchmarking, reserved, and IPv6 prefixes that smuggle an IPv4 address) are refused by
    /// both policies; private networks only by the SCIM one.
    #[test]
    fn refuses_reserved_ranges_under_every_policy() {
        for bad in [
            "0.0.0.0",
            "0.1.2.3",
            "169.254.169.254",
            "224.0.0.1",
            "239.255.255.250",
            "198.18.0.1",
            "198.19.255.254",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::a9fe:a9fe",
            "::ffff:169.254.169.254",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "64:ff9b::a9fe:a9fe",
            "2002:a9fe:a9fe::1",
        ] {
            assert!(!Policy::Public.allows(ip(bad)), "{bad}");
            assert!(!Policy::NotReserved.allows(ip(bad)), "{bad}");
        }
        for private in ["127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "100.64.0.1", "::1", "fd00::1"] {
            assert!(!Policy::Public.allows(ip(private)), "{private}");
            assert!(Policy::NotReserved.allows(ip(private)), "{private}");
        }
        for public in ["93.184.216.34", "198.20.0.1", "2606:2800:220:1::1"] {
            assert!(Policy::Public.allows(ip(public)) && Policy::NotReserved.allows(ip(public)), "{public}");
        }
    }
}
