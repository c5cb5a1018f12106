//! The event log's table.

use chrono::{DateTime, Utc};
use sqlx::Row;

use crate::audit::{Event, EventFilter, EventName};
use crate::store::{flag, Conn, Error};

pub async fn insert_event(conn: &mut Conn, event: &Event) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO events (at, name, actor, target, app, username, success, detail) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(event.at.timestamp_millis())
    .bind(event.name.as_str())
    .bind(&event.actor)
    .bind(&event.target)
    .bind(&event.app)
    .bind(&event.username)
    .bind(flag(event.success))
    .bind(&event.detail)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Deletes at most `limit` events older than `before` (Unix milliseconds), oldest first, in one statement; returns
/// how many went. Callers repeat it in batches, so one pass never holds a long lock on a large table.
pub async fn purge_before(conn: &mut Conn, before: i64, limit: u32) -> Result<u64, Error> {
    let done =
        sqlx::query("DELETE FROM events WHERE id IN (SELECT id FROM events WHERE at < $1 ORDER BY at, id LIMIT $2)")
            .bind(before)
            .bind(i64::from(limit))
            .execute(&mut *conn)
            .await?;
    Ok(done.rows_affected())
}

/// Events matching `filter`, newest first.
pub async fn list_events(conn: &mut Conn, filter: &EventFilter) -> Result<Vec<Event>, Error> {
    // Every filter is bound; an absent one compares the column with itself through a NULL check.
    let (before_at, before_id) = match filter.before {
        Some((at, id)) => (Some(at.timestamp_millis()), Some(id)),
        None => (None, None),
    };
    let rows = sqlx::query(
        "SELECT id, at, name, actor, target, app, username, success, detail FROM events \
         WHERE ($1 IS NULL OR name = $1) AND ($2 IS NULL OR app = $2) AND ($3 IS NULL OR username = $3) \
         AND ($4 IS NULL OR at >= $4) AND ($5 IS NULL OR success = $5) AND ($7 IS NULL OR at < $7) \
         AND ($8 IS NULL OR name LIKE $8 ESCAPE '\\') \
         AND ($9 IS NULL OR at < $9 OR (at = $9 AND id < $10)) \
         ORDER BY at DESC, id DESC LIMIT $6",
    )
    .bind(filter.name.map(EventName::as_str))
    .bind(filter.app.as_deref())
    .bind(filter.username.as_deref())
    .bind(filter.since.map(|t| t.timestamp_millis()))
    .bind(filter.success.map(flag))
    .bind(i64::from(filter.limit.clamp(1, 10_000)))
    .bind(filter.until.map(|t| t.timestamp_millis()))
    .bind(filter.name_prefix.as_deref().map(prefix_pattern))
    .bind(before_at)
    .bind(before_id)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|row| {
            let name: String = row.try_get("name")?;
            let at: i64 = row.try_get("at")?;
            Ok(Event {
                id: Some(row.try_get("id")?),
                at: DateTime::<Utc>::from_timestamp_millis(at).unwrap_or_default(),
                name: EventName::parse(&name).ok_or(Error::Corrupt { what: "event name", reason: name })?,
                actor: row.try_get("actor")?,
                target: row.try_get("target")?,
                app: row.try_get("app")?,
                username: row.try_get("username")?,
                success: row.try_get::<i64, _>("success")? != 0,
                detail: row.try_get("detail")?,
            })
        })
        .collect()
}

/// A `LIKE … ESCAPE '\'` pattern for names starting with `prefix`.
fn prefix_pattern(prefix: &str) -> String {
    let mut out = String::new();
    for c in prefix.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// How many events of each of `names` fell in each `bucket_ms`-wide slot from `since` on: `(name, slot, count)`,
/// slot 0 starting at `since`. One grouped query, so a dashboard chart costs the same whatever the traffic.
pub async fn count_events_by_slot(
    conn: &mut Conn,
    names: &[EventName],
    since: DateTime<Utc>,
    bucket_ms: i64,
) -> Result<Vec<(String, i64, i64)>, Error> {
    let since_ms = since.timestamp_millis();
    let mut out = Vec::new();
    // One query per name keeps the statement free of a variable IN list (the same text on both backends).
    for name in names {
        let rows = sqlx::query(
            "SELECT (at - $2) / $3 AS slot, COUNT(*) AS n FROM events WHERE name = $1 AND at >= $2 \
             GROUP BY (at - $2) / $3",
        )
        .bind(name.as_str())
        .bind(since_ms)
        .bind(bucket_ms.max(1))
        .fetch_all(&mut *conn)
        .await?;
        for row in rows {
            out.push((name.as_str().to_owned(), row.try_get::<i64, _>("slot")?, row.try_get::<i64, _>("n")?));
        }
    }
    Ok(out)
}
