//! Rate limit of anonymous SAML requests: a request to `/saml2/…` (not the metadata or certificate download) that
//! carries no IdP session makes the server verify, park requests, record replay rows or sign a status response,
//! so a flood of them from one client address is slowed with 429 and `Retry-After`, before any of that happens.
//!
//! A token bucket per client address (`web::client::ClientIp`; IPv6 grouped by /64, which one subscriber usually
//! holds whole): a burst of `BURST` requests, refilled at `PER_SEC` a second. No person's browser comes near that
//! (one sign-in is two or three such requests; a page reload one), while a script is held to `PER_SEC`.
//! Requests of signed-in users are never counted (the session cookie decodes to an IdP session: one session
//! read, no write), nor are loopback clients (a reverse proxy on the same host that is not listed in
//! `trusted_proxies` would otherwise put every client in one bucket) or requests with no known address.
//!
//! Kept in memory, per process: the limit is there to keep one address from making the server sign and write
//! without bound, not to count exactly; with N replicas an address gets at most N times the rate, still bounded,
//! and a restart forgets buckets that would have refilled within seconds anyway. The table holds at most
//! `MAX_ADDRESSES` entries: when full, buckets that have refilled are dropped, and if it is still full a new
//! address is let through uncounted (never an unbounded table).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower_sessions::Session;

use crate::web::client::ClientIp;
use crate::web::error::PageError;
use crate::web::session::current_session;
use crate::web::AppState;

/// Requests an address may send at once.
pub const BURST: f64 = 30.0;
/// Requests an address may send per second, sustained.
pub const PER_SEC: f64 = 5.0;
/// Addresses tracked at most (about 40 bytes each).
pub const MAX_ADDRESSES: usize = 100_000;

/// Token buckets per client address (IPv6 by /64).
#[derive(Debug)]
pub struct Limiter {
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
    burst: f64,
    per_sec: f64,
    max_addresses: usize,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Default for Limiter {
    fn default() -> Self {
        Self::new(BURST, PER_SEC, MAX_ADDRESSES)
    }
}

impl Limiter {
    pub fn new(burst: f64, per_sec: f64, max_addresses: usize) -> Self {
        Self { buckets: Mutex::new(HashMap::new()), burst, per_sec, max_addresses }
    }

    /// Takes one token for `ip`; `Err` is how long until one is back.
    pub fn check(&self, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        let key = group(ip);
        // A poisoned lock (a panic elsewhere while holding it) lets requests through rather than refusing all.
        let Ok(mut buckets) = self.buckets.lock() else { return Ok(()) };
        if buckets.len() >= self.max_addresses && !buckets.contains_key(&key) {
            buckets.retain(|_, b| self.refilled(b, now) < self.burst);
            if buckets.len() >= self.max_addresses {
                return Ok(());
            }
        }
        let bucket = buckets.entry(key).or_insert(Bucket { tokens: self.burst, at: now });
        let tokens = self.refilled(bucket, now);
        *bucket = Bucket { tokens, at: now };
        if tokens >= 1.0 {
            bucket.tokens = tokens - 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - tokens) / self.per_sec))
        }
    }

    fn refilled(&self, bucket: &Bucket, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        (bucket.tokens + elapsed * self.per_sec).min(self.burst)
    }
}

/// The bucket's key: an IPv4 address (also when mapped into IPv6), or an IPv6 address's /64.
fn group(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
        },
    }
}

/// Whether the path is a SAML endpoint that verifies, writes or signs for anonymous callers.
fn is_counted(path: &str) -> bool {
    path.starts_with("/saml2/") && !path.ends_with("/metadata") && !path.ends_with("/certificate.pem")
}

/// The middleware: counts anonymous SAML requests per client address, answering 429 when the bucket is empty.
pub async fn anonymous_saml(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    session: Session,
    request: Request,
    next: Next,
) -> Response {
    let counted = is_counted(request.uri().path()) && ip.is_some_and(|ip| !group(ip).is_loopback());
    if let Some(ip) = ip.filter(|_| counted) {
        if current_session(&session).await.is_none() {
            if let Err(wait) = state.limiter.check(ip, Instant::now()) {
                return too_many(wait);
            }
        }
    }
    next.run(request).await
}

fn too_many(wait: Duration) -> Response {
    let page = PageError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "Too many requests",
        "This address sent too many sign-in requests in a short time. Wait a moment and try again.",
    );
    let mut response = page.into_response();
    let secs = wait.as_secs().saturating_add(1);
    if let Ok(value) = HeaderValue::from_str(&secs.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Flooding the IdP from one address (or one IPv6 /64) is slowed after the burst; another address is not, and
    /// waiting refills the bucket.
    #[test]
    fn a_burst_then_a_steady_rate_per_address() {
        let limiter = Limiter::new(30.0, 5.0, 1000);
        let now = Instant::now();
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let a_other_host: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let b: IpAddr = "203.0.113.9".parse().unwrap();
        for _ in 0..30 {
            assert!(limiter.check(a, now).is_ok());
        }
        let wait = limiter.check(a_other_host, now).unwrap_err();
        assert!(wait <= Duration::from_millis(200), "{wait:?}");
        assert!(limiter.check(b, now).is_ok());
        assert!(limiter.check(a, now + Duration::from_millis(200)).is_ok(), "refilled at 5 a second");
        assert!(limiter.check(a, now + Duration::from_millis(200)).is_err());
    }

    /// Address spraying cannot grow the table without bound.
    #[test]
    fn the_table_is_bounded() {
        let limiter = Limiter::new(2.0, 1.0, 10);
        let now = Instant::now();
        for i in 0..100u32 {
            let ip = IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            let _ = limiter.check(ip, now);
        }
        assert!(limiter.buckets.lock().unwrap().len() <= 10);
    }
}
