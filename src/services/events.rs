//! The audit log as admins read it: filtered lists and pages of events, and the dashboard's counts of sign-ins
//! and failures over time.

use chrono::{DateTime, Duration, DurationRound, Utc};

use crate::audit::{Event, EventFilter, EventName};
use crate::services::{Ctx, Error, Page, MAX_PAGE};
use crate::store::events;

/// Every event the filter selects, newest first (the CLI prints them all).
pub async fn list_events(ctx: &Ctx, filter: &EventFilter) -> Result<Vec<Event>, Error> {
    let mut conn = ctx.db.conn().await?;
    Ok(events::list_events(&mut conn, filter).await?)
}

/// A page of events, newest first; the key of the next page is the last event's `at:id`.
pub async fn page_events(ctx: &Ctx, filter: &EventFilter) -> Result<Page<Event>, Error> {
    let limit = filter.limit.clamp(1, MAX_PAGE);
    let filter = EventFilter { limit: limit + 1, ..filter.clone() };
    let rows = events::list_events(&mut *ctx.db.conn().await?, &filter).await?;
    Ok(Page::of(rows, limit, |e| format!("{}:{}", e.at.timestamp_millis(), e.id.unwrap_or_default())))
}

/// Events deleted per statement, and statements per housekeeping pass, by `purge_expired`.
const PURGE_BATCH: u32 = 1000;
const PURGE_BATCHES_PER_PASS: u32 = 5;

/// Deletes events older than `event_retention_days` (none when it is 0), in batches of `PURGE_BATCH` rows, at
/// most `PURGE_BATCHES_PER_PASS` per call: a large backlog goes over several housekeeping passes without one long
/// lock. Returns how many went. Every replica may run it; a deletion is idempotent.
pub async fn purge_expired(ctx: &Ctx, now: DateTime<Utc>) -> Result<u64, Error> {
    let days = ctx.config.event_retention_days;
    if days == 0 {
        return Ok(0);
    }
    let before = (now - Duration::days(i64::from(days))).timestamp_millis();
    let mut purged = 0;
    for _ in 0..PURGE_BATCHES_PER_PASS {
        let n = events::purge_before(&mut *ctx.db.conn().await?, before, PURGE_BATCH).await?;
        purged += n;
        if n < u64::from(PURGE_BATCH) {
            break;
        }
    }
    Ok(purged)
}

/// Parses an event page key made by `page_events`.
pub fn parse_event_key(key: &str) -> Option<(DateTime<Utc>, i64)> {
    let (at, id) = key.split_once(':')?;
    Some((DateTime::from_timestamp_millis(at.parse().ok()?)?, id.parse().ok()?))
}

/// The period a chart covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Span {
    /// The last 24 hours, by hour.
    Day,
    /// The last 14 days, by day.
    Fortnight,
}

/// The counts of one slot of the chart.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Slot {
    pub start: DateTime<Utc>,
    /// `user_login`: portal sign-ins.
    pub logins: i64,
    /// `sso_login`: responses sent to applications.
    pub sso_logins: i64,
    /// `user_login_failed`.
    pub failures: i64,
    /// `sso_denied`.
    pub denials: i64,
}

/// The names the chart counts.
pub const CHARTED: [EventName; 4] =
    [EventName::UserLogin, EventName::SsoLogin, EventName::UserLoginFailed, EventName::SsoDenied];

/// Sign-ins and failures per hour (`Span::Day`) or per day (`Span::Fortnight`), oldest slot first; the last slot is
/// the one `now` is in.
pub async fn activity(ctx: &Ctx, span: Span, now: DateTime<Utc>) -> Result<Vec<Slot>, Error> {
    let (width, n) = match span {
        Span::Day => (Duration::hours(1), 24),
        Span::Fortnight => (Duration::days(1), 14),
    };
    let current = now.duration_trunc(width)?;
    let since = current - width * (n - 1);
    let mut slots: Vec<Slot> = (0..n).map(|i| Slot { start: since + width * i, ..Slot::default() }).collect();
    let counts =
        events::count_events_by_slot(&mut *ctx.db.conn().await?, &CHARTED, since, width.num_milliseconds()).await?;
    for (name, slot, count) in counts {
        let Some(s) = usize::try_from(slot).ok().and_then(|i| slots.get_mut(i)) else { continue };
        match EventName::parse(&name) {
            Some(EventName::UserLogin) => s.logins += count,
            Some(EventName::SsoLogin) => s.sso_logins += count,
            Some(EventName::UserLoginFailed) => s.failures += count,
            Some(EventName::SsoDenied) => s.denials += count,
            _ => {}
        }
    }
    Ok(slots)
}
