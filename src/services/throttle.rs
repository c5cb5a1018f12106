//! Sign-in throttling, counted in the database so replicas share the counters. Two counters, so that nobody can
//! lock an account they do not hold:
//! - per (username, client): consecutive failures of that pair. Past `login_max_failures_per_user`, the pair must
//!   wait before its next attempt, 30 seconds doubling with each further failure up to `login_window_secs`; a
//!   success or an administrator's unlock clears it. Another client's right password is never refused for it.
//! - per client: failures from one address (IPv6 grouped by /64, which one host usually holds whole) across all
//!   usernames, in a fixed window (`login_window_secs`); past `login_max_failures_per_ip` every attempt from it is
//!   refused until the window ends (password spraying).
//!
//! A refusal is `Error::Throttled`, recorded as `user_login_throttled`, `admin_login_throttled` or
//! `user_mfa_throttled` (second factors of portal users, `Realm::Factor`).

use std::net::IpAddr;

use chrono::{DateTime, Utc};

use crate::audit::{Actor, Event, EventName};
use crate::services::{millis, record, Ctx, Error};
use crate::store::{events, throttle};

/// The first wait once a pair has used its free failures; it doubles with each further failure.
const BASE_DELAY_SECS: u64 = 30;

/// Which sign-in is counted: the portal's users or the admin console's administrators, counted apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Realm {
    User,
    Admin,
    /// Second factors of portal users (TOTP codes, recovery codes, passkeys and security keys), counted apart from
    /// their passwords, so a stolen password cannot be used to guess codes without bound.
    Factor,
}

impl Realm {
    /// The kind prefix of the (username, client) counters and the kind of the per-client counter.
    fn kinds(self) -> (&'static str, &'static str) {
        match self {
            Self::User => ("user@", "user_ip"),
            Self::Admin => ("admin@", "admin_ip"),
            Self::Factor => ("factor@", "factor_ip"),
        }
    }

    fn event(self) -> EventName {
        match self {
            Self::User => EventName::UserLoginThrottled,
            Self::Admin => EventName::AdminLoginThrottled,
            Self::Factor => EventName::UserMfaThrottled,
        }
    }
}

/// Refuses (`Error::Throttled`, recorded as an event) when this (username, client) pair is still waiting out its
/// backoff, or the client has used up its failures in the current window.
pub async fn check(
    ctx: &Ctx,
    realm: Realm,
    username: &str,
    client: Option<IpAddr>,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let (pair_prefix, ip_kind) = realm.kinds();
    let group = client_group(client);
    let mut conn = ctx.db.conn().await?;
    let pair = throttle::find_counter(&mut conn, &format!("{pair_prefix}{group}"), &subject(username)).await?;
    let by_ip = match client {
        Some(_) => throttle::count_failures(&mut conn, ip_kind, &group, window_start_after(ctx, now)).await?,
        None => 0,
    };
    drop(conn);
    let reason = match pair {
        Some((failures, last_ms)) if millis(now) < last_ms.saturating_add(backoff_ms(ctx, failures)) => match realm {
            Realm::Factor => format!("second factor throttled: {failures} consecutive failures"),
            Realm::User | Realm::Admin => {
                format!("{failures} consecutive failed sign-ins for this username from {group}")
            }
        },
        _ if by_ip >= i64::from(ctx.config.login_max_failures_per_ip) => {
            format!("{by_ip} failed sign-ins from {group}")
        }
        _ => return Ok(()),
    };
    let event = Event::new(now, realm.event(), &Actor::Anonymous).user(subject(username)).failed(reason);
    record(ctx, event).await?;
    Err(Error::Throttled)
}

/// Counts a failed sign-in against the (username, client) pair and the client.
pub async fn failed(
    ctx: &Ctx,
    realm: Realm,
    username: &str,
    client: Option<IpAddr>,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let (pair_prefix, ip_kind) = realm.kinds();
    let group = client_group(client);
    let mut conn = ctx.db.conn().await?;
    throttle::add_consecutive_failure(&mut conn, &format!("{pair_prefix}{group}"), &subject(username), millis(now))
        .await?;
    if client.is_some() {
        throttle::add_failure(&mut conn, ip_kind, &group, millis(now), window_start_after(ctx, now)).await?;
    }
    Ok(())
}

/// A successful sign-in clears its pair's count (not the client's: one good account must not reset what an
/// address spent guessing others).
pub async fn succeeded(ctx: &Ctx, realm: Realm, username: &str, client: Option<IpAddr>) -> Result<(), Error> {
    let kind = format!("{}{}", realm.kinds().0, client_group(client));
    let mut conn = ctx.db.conn().await?;
    throttle::delete_failures(&mut conn, &kind, &subject(username)).await?;
    Ok(())
}

/// An administrator lifts every backoff on a username (from every client; for a portal user, on passwords and
/// second factors), recorded as `admin_user_unlock` in the
/// same transaction; returns how many clients were waiting. Per-client counters stay: they belong to addresses,
/// not to the account.
pub async fn unlock(ctx: &Ctx, actor: &Actor, realm: Realm, username: &str, now: DateTime<Utc>) -> Result<u64, Error> {
    let mut tx = ctx.db.begin().await?;
    let mut n = throttle::delete_pair_failures(&mut tx, realm.kinds().0, &subject(username)).await?;
    // A portal user's unlock lifts the waits on their second factor too: both stand between them and sign-in.
    if realm == Realm::User {
        n += throttle::delete_pair_failures(&mut tx, Realm::Factor.kinds().0, &subject(username)).await?;
    }
    let what = match realm {
        Realm::User => "portal sign-in",
        Realm::Admin => "admin console sign-in",
        Realm::Factor => "second factor",
    };
    let event = Event::new(now, EventName::AdminUserUnlock, actor).target(subject(username)).detail(what);
    events::insert_event(&mut tx, &event).await?;
    tx.commit().await.map_err(crate::store::Error::from)?;
    Ok(n)
}

/// Housekeeping: forgets counters whose window is over (a pair's window starts at its last failure, and its
/// backoff never outlasts the window).
pub async fn purge_expired(ctx: &Ctx, now: DateTime<Utc>) -> Result<u64, Error> {
    let mut conn = ctx.db.conn().await?;
    Ok(throttle::purge_expired(&mut conn, window_start_after(ctx, now)).await?)
}

/// How long a pair with `failures` consecutive failures waits after the last one: nothing within the free
/// failures, then 30 s doubling per failure, capped at the window.
fn backoff_ms(ctx: &Ctx, failures: i64) -> i64 {
    let free = i64::from(ctx.config.login_max_failures_per_user);
    let Some(over) = failures.checked_sub(free).filter(|over| *over >= 0) else {
        return 0;
    };
    let exponent = u32::try_from(over.min(32)).unwrap_or(32);
    let secs = BASE_DELAY_SECS.saturating_mul(1u64 << exponent).min(ctx.config.login_window_secs);
    i64::try_from(secs).unwrap_or(i64::MAX).saturating_mul(1000)
}

/// Windows that started at or before this instant are over.
fn window_start_after(ctx: &Ctx, now: DateTime<Utc>) -> i64 {
    let window = i64::try_from(ctx.config.login_window_secs).unwrap_or(900).saturating_mul(1000);
    millis(now).saturating_sub(window)
}

/// The client as counted: an IPv4 address, or an IPv6 address's /64 (an IPv4-mapped one as IPv4); `unknown`
/// without an address.
pub fn client_group(client: Option<IpAddr>) -> String {
    match client.map(|ip| ip.to_canonical()) {
        None => "unknown".to_owned(),
        Some(IpAddr::V4(v4)) => v4.to_string(),
        Some(IpAddr::V6(v6)) => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            format!("{}/64", std::net::Ipv6Addr::from(prefix))
        }
    }
}

/// The username as counted: bounded, so a huge input cannot bloat the table.
fn subject(username: &str) -> String {
    username.chars().take(128).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_are_grouped_by_64() {
        let group = |s: &str| client_group(Some(s.parse().unwrap()));
        assert_eq!(group("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(group("2001:db8:1:2:ffff:ffff:ffff:ffff"), "2001:db8:1:2::/64");
        assert_eq!(group("2001:db8:1:3::1"), "2001:db8:1:3::/64");
        assert_eq!(group("203.0.113.9"), "203.0.113.9");
        assert_eq!(group("::ffff:203.0.113.9"), "203.0.113.9");
        assert_eq!(client_group(None), "unknown");
    }
}
