//! What the console's dashboard shows: sign-ins and failures over time, counted from the audit log.

use chrono::{DateTime, Duration, DurationRound, Utc};

use crate::audit::EventName;
use crate::services::{Ctx, Error};
use crate::store::events;

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
    let current = now.duration_trunc(width).map_err(|e| Error::Task(e.to_string()))?;
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
