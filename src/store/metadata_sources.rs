//! SP metadata registered from a URL, and the lease that lets one replica at a time refresh it.

use sqlx::Row;

use crate::directory::AppId;
use crate::store::{Conn, Error};

/// Where an application's SP metadata comes from and how its refreshes went.
#[derive(Debug, Clone)]
pub struct MetadataSource {
    pub app: AppId,
    pub url: String,
    pub next_refresh_at_ms: i64,
    pub last_attempt_at_ms: i64,
    pub last_success_at_ms: i64,
    pub last_error: String,
    /// A refreshed document whose new ACS host awaits an administrator's approval; empty when none.
    pub held_document: String,
}

/// Records (or replaces) the URL of an application's metadata after an import, with the document accepted.
pub async fn upsert_source(
    conn: &mut Conn,
    app: AppId,
    url: &str,
    document: &str,
    next_refresh_at_ms: i64,
    now_ms: i64,
) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO sp_metadata_sources (app_id, url, next_refresh_at, last_attempt_at, last_success_at, last_good) \
         VALUES ($1, $2, $3, $4, $4, $5) ON CONFLICT (app_id) DO UPDATE SET url = $2, next_refresh_at = $3, \
         last_attempt_at = $4, last_success_at = $4, last_error = '', last_good = $5, held_document = ''",
    )
    .bind(app.0)
    .bind(url)
    .bind(next_refresh_at_ms)
    .bind(now_ms)
    .bind(document)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn find_source(conn: &mut Conn, app: AppId) -> Result<Option<MetadataSource>, Error> {
    let row = sqlx::query(
        "SELECT app_id, url, next_refresh_at, last_attempt_at, last_success_at, last_error, held_document \
         FROM sp_metadata_sources WHERE app_id = $1",
    )
    .bind(app.0)
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|r| {
        Ok(MetadataSource {
            app: AppId(r.try_get("app_id")?),
            url: r.try_get("url")?,
            next_refresh_at_ms: r.try_get("next_refresh_at")?,
            last_attempt_at_ms: r.try_get("last_attempt_at")?,
            last_success_at_ms: r.try_get("last_success_at")?,
            last_error: r.try_get("last_error")?,
            held_document: r.try_get("held_document")?,
        })
    })
    .transpose()
}

/// Claims the most overdue source for `lease_ms`: at most one replica refreshes an application at a time, and a
/// replica that dies mid-refresh lets the lease expire. The conditional UPDATE decides (PostgreSQL re-checks the
/// condition after waiting for a concurrent claim; SQLite has one writer).
pub async fn claim_due(conn: &mut Conn, now_ms: i64, lease_ms: i64) -> Result<Option<(AppId, String)>, Error> {
    let row = sqlx::query(
        "UPDATE sp_metadata_sources SET locked_until = $1 WHERE app_id = (SELECT app_id FROM sp_metadata_sources \
         WHERE next_refresh_at <= $2 AND locked_until <= $2 ORDER BY next_refresh_at LIMIT 1) \
         AND locked_until <= $2 RETURNING app_id, url",
    )
    .bind(now_ms + lease_ms)
    .bind(now_ms)
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|r| Ok((AppId(r.try_get("app_id")?), r.try_get("url")?))).transpose()
}

/// Claims one application's source now, due or not (`sesame app refresh-metadata`); `None` when it has no URL or
/// another replica holds the lease.
pub async fn claim_app(conn: &mut Conn, app: AppId, now_ms: i64, lease_ms: i64) -> Result<Option<String>, Error> {
    let row = sqlx::query(
        "UPDATE sp_metadata_sources SET locked_until = $1 WHERE app_id = $2 AND locked_until <= $3 RETURNING url",
    )
    .bind(now_ms + lease_ms)
    .bind(app.0)
    .bind(now_ms)
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|r| Ok(r.try_get("url")?)).transpose()
}

/// Ends a refresh and releases the lease. `accepted` is the new last good document, `None` after a failure (the
/// last good one stays).
pub async fn finish_refresh(
    conn: &mut Conn,
    app: AppId,
    accepted: Option<&str>,
    error: &str,
    next_refresh_at_ms: i64,
    now_ms: i64,
) -> Result<(), Error> {
    let sql = if accepted.is_some() {
        "UPDATE sp_metadata_sources SET locked_until = 0, next_refresh_at = $1, last_attempt_at = $2, \
         last_success_at = $2, last_error = '', last_good = $3 WHERE app_id = $4"
    } else {
        "UPDATE sp_metadata_sources SET locked_until = 0, next_refresh_at = $1, last_attempt_at = $2, \
         last_error = $3 WHERE app_id = $4"
    };
    let done = sqlx::query(sql)
        .bind(next_refresh_at_ms)
        .bind(now_ms)
        .bind(accepted.unwrap_or(error))
        .bind(app.0)
        .execute(&mut *conn)
        .await?;
    crate::store::touched(done, "metadata source")
}

/// Holds a document whose new ACS host awaits approval (`""` clears it); true when it differs from the one held.
pub async fn set_held(conn: &mut Conn, app: AppId, document: &str) -> Result<bool, Error> {
    let done =
        sqlx::query("UPDATE sp_metadata_sources SET held_document = $1 WHERE app_id = $2 AND held_document <> $1")
            .bind(document)
            .bind(app.0)
            .execute(&mut *conn)
            .await?;
    Ok(done.rows_affected() > 0)
}
