//! Failed sign-in counters in a fixed window, per (kind, subject), in the database so replicas share them.

use sqlx::Row;

use crate::store::{Conn, Error};

/// Failures of `subject` counted in the window that started after `window_start_after`.
pub async fn count_failures(conn: &mut Conn, kind: &str, subject: &str, window_start_after: i64) -> Result<i64, Error> {
    let row = sqlx::query("SELECT failures FROM login_failures WHERE kind = $1 AND subject = $2 AND window_start > $3")
        .bind(kind)
        .bind(subject)
        .bind(window_start_after)
        .fetch_optional(&mut *conn)
        .await?;
    match row {
        Some(r) => Ok(r.try_get("failures")?),
        None => Ok(0),
    }
}

/// Counts one failure in one statement: a window that started at or before `window_start_after` is over, so the
/// count starts again at 1 in a window starting `now_ms`.
pub async fn add_failure(
    conn: &mut Conn,
    kind: &str,
    subject: &str,
    now_ms: i64,
    window_start_after: i64,
) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO login_failures (kind, subject, window_start, failures) VALUES ($1, $2, $3, 1) \
         ON CONFLICT (kind, subject) DO UPDATE SET \
         failures = CASE WHEN login_failures.window_start <= $4 THEN 1 ELSE login_failures.failures + 1 END, \
         window_start = CASE WHEN login_failures.window_start <= $4 THEN $3 ELSE login_failures.window_start END",
    )
    .bind(kind)
    .bind(subject)
    .bind(now_ms)
    .bind(window_start_after)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn delete_failures(conn: &mut Conn, kind: &str, subject: &str) -> Result<(), Error> {
    sqlx::query("DELETE FROM login_failures WHERE kind = $1 AND subject = $2")
        .bind(kind)
        .bind(subject)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Housekeeping: counters whose window is over.
pub async fn purge_expired(conn: &mut Conn, window_start_after: i64) -> Result<u64, Error> {
    let done = sqlx::query("DELETE FROM login_failures WHERE window_start <= $1")
        .bind(window_start_after)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected())
}
