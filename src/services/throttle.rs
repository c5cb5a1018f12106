//! Sign-in throttling: failures are counted per username and per client address in the database (replicas share
//! the counters), in a fixed window (`login_window_secs`). Past `login_max_failures_per_user` failures for a
//! username, or `login_max_failures_per_ip` from an address, every attempt is refused until the window ends, even
//! with the right password, and the refusal is recorded as an event.

use std::net::IpAddr;

use chrono::{DateTime, Utc};

use crate::audit::{Actor, Event, EventName};
use crate::services::{millis, record, Ctx, Error};
use crate::store::throttle;

/// Which sign-in is counted: the portal's users or the admin console's administrators, counted apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Realm {
    User,
    Admin,
}

impl Realm {
    fn kinds(self) -> (&'static str, &'static str) {
        match self {
            Self::User => ("user", "user_ip"),
            Self::Admin => ("admin", "admin_ip"),
        }
    }

    fn event(self) -> EventName {
        match self {
            Self::User => EventName::UserLoginThrottled,
            Self::Admin => EventName::AdminLoginThrottled,
        }
    }
}

/// Refuses (`Error::Throttled`, recorded as `user_login_throttled` or `admin_login_throttled`) when the username
/// or the client address has used up its failures in the current window.
pub async fn check(
    ctx: &Ctx,
    realm: Realm,
    username: &str,
    client: Option<IpAddr>,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let (user_kind, ip_kind) = realm.kinds();
    let after = window_start_after(ctx, now);
    let mut conn = ctx.db.conn().await?;
    let by_user = throttle::count_failures(&mut conn, user_kind, &subject(username), after).await?;
    let by_ip = match client {
        Some(ip) => throttle::count_failures(&mut conn, ip_kind, &ip.to_string(), after).await?,
        None => 0,
    };
    drop(conn);
    let reason = if by_user >= i64::from(ctx.config.login_max_failures_per_user) {
        format!("{by_user} failed sign-ins for this username")
    } else if by_ip >= i64::from(ctx.config.login_max_failures_per_ip) {
        format!("{by_ip} failed sign-ins from {}", client.map(|ip| ip.to_string()).unwrap_or_default())
    } else {
        return Ok(());
    };
    let event = Event::new(now, realm.event(), &Actor::Anonymous).user(subject(username)).failed(reason);
    record(ctx, event).await?;
    Err(Error::Throttled)
}

/// Counts a failed sign-in against the username and the client address.
pub async fn failed(
    ctx: &Ctx,
    realm: Realm,
    username: &str,
    client: Option<IpAddr>,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let (user_kind, ip_kind) = realm.kinds();
    let after = window_start_after(ctx, now);
    let mut conn = ctx.db.conn().await?;
    throttle::add_failure(&mut conn, user_kind, &subject(username), millis(now), after).await?;
    if let Some(ip) = client {
        throttle::add_failure(&mut conn, ip_kind, &ip.to_string(), millis(now), after).await?;
    }
    Ok(())
}

/// A successful sign-in clears the username's count (not the address's: one good account must not reset what an
/// address spent guessing others).
pub async fn succeeded(ctx: &Ctx, realm: Realm, username: &str) -> Result<(), Error> {
    let mut conn = ctx.db.conn().await?;
    throttle::delete_failures(&mut conn, realm.kinds().0, &subject(username)).await?;
    Ok(())
}

/// Housekeeping: forgets counters whose window is over.
pub async fn purge_expired(ctx: &Ctx, now: DateTime<Utc>) -> Result<u64, Error> {
    let mut conn = ctx.db.conn().await?;
    Ok(throttle::purge_expired(&mut conn, window_start_after(ctx, now)).await?)
}

/// Windows that started at or before this instant are over.
fn window_start_after(ctx: &Ctx, now: DateTime<Utc>) -> i64 {
    let window = i64::try_from(ctx.config.login_window_secs).unwrap_or(900).saturating_mul(1000);
    millis(now).saturating_sub(window)
}

/// The username as counted: bounded, so a huge input cannot bloat the table.
fn subject(username: &str) -> String {
    username.chars().take(128).collect()
}
