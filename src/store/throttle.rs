//! Failed sign-in counters per (kind, subject), in the database so replicas share them: in a fixed window
//! (`add_failure`), or consecutive failures with the time of the last one (`add_consecutive_failure`).

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

/// The consecutive failures of `subject` and the time of the last one (Unix milliseconds).
pub async fn find_counter(conn: &mut Conn, kind: &str, subject: &str) -> Result<Option<(i64, i64)>, Error> {
    let row = sqlx::query("SELECT failures, window_start FROM login_failures WHERE kind = $1 AND subject = $2")
        .bind(kind)
        .bind(subject)
        .fetch_optional(&mut *conn)
        .await?;
    match row {
        Some(r) => Ok(Some((r.try_get("failures")?, r.try_get("window_start")?))),
        None => Ok(None),
    }
}

/// Counts one more consecutive failure in one statement; `window_start` becomes the time of this one.
pub async fn add_consecutive_failure(conn: &mut Conn, kind: &str, subject: &str, now_ms: i64) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO login_failures (kind, subject, window_start, failures) VALUES ($1, $2, $3, 1) \
         ON CONFLICT (kind, subject) DO UPDATE SET failures = login_failures.failures + 1, window_start = $3",
    )
    .bind(kind)
    .bind(subject)
    .bind(now_ms)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Deletes `subject`'s counters of every kind that starts with `kind_prefix` (a fixed word of ours, never input,
/// so it holds no `LIKE` wildcard); returns how many there were.
pub async fn delete_pair_failures(conn: &mut Conn, kind_prefix: &str, subject: &str) -> Result<u64, Error> {
    let done = sqlx::query("DELETE FROM login_failures WHERE subject = $1 AND kind LIKE $2")
        .bind(subject)
        .bind(format!("{kind_prefix}%"))
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected())
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
