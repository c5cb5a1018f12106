//! SSO state shared by every replica: the replay cache, parked requests and persistent NameIDs.

use sqlx::Row;

use crate::directory::{AppId, UserId};
use crate::store::{Conn, Error};

/// Records an AuthnRequest ID; returns `false` when the ID was already seen for this application (a replay).
pub async fn insert_seen_request(
    conn: &mut Conn,
    app: AppId,
    request_id: &str,
    now_ms: i64,
    expires_at_ms: i64,
) -> Result<bool, Error> {
    // One statement: insert, or take over an entry whose window has passed (its request would be refused as stale
    // anyway). A live entry is left alone and nothing is written, which is the replay.
    let done = sqlx::query(
        "INSERT INTO seen_requests (app_id, request_id, expires_at) VALUES ($1, $2, $3) \
         ON CONFLICT (app_id, request_id) DO UPDATE SET expires_at = excluded.expires_at \
         WHERE seen_requests.expires_at < $4",
    )
    .bind(app.0)
    .bind(request_id)
    .bind(expires_at_ms)
    .bind(now_ms)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Parks a validated request (serialized by the caller) under a random handle.
pub async fn insert_pending(
    conn: &mut Conn,
    handle: &str,
    app: AppId,
    request_json: &str,
    now_ms: i64,
    expires_at_ms: i64,
) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO pending_requests (id, app_id, request, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(handle)
    .bind(app.0)
    .bind(request_json)
    .bind(now_ms)
    .bind(expires_at_ms)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Reads a parked request that has not expired, without consuming it.
pub async fn find_pending(conn: &mut Conn, handle: &str, app: AppId, now_ms: i64) -> Result<Option<String>, Error> {
    let row = sqlx::query("SELECT request FROM pending_requests WHERE id = $1 AND app_id = $2 AND expires_at >= $3")
        .bind(handle)
        .bind(app.0)
        .bind(now_ms)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(row.map(|r| r.try_get("request")).transpose()?)
}

/// Consumes a parked request; returns whether this call was the one that removed it.
pub async fn delete_pending(conn: &mut Conn, handle: &str) -> Result<bool, Error> {
    let done = sqlx::query("DELETE FROM pending_requests WHERE id = $1").bind(handle).execute(&mut *conn).await?;
    Ok(done.rows_affected() == 1)
}

/// Removes expired replay-cache entries and parked requests.
pub async fn purge_expired(conn: &mut Conn, now_ms: i64) -> Result<u64, Error> {
    let a = sqlx::query("DELETE FROM seen_requests WHERE expires_at < $1").bind(now_ms).execute(&mut *conn).await?;
    let b = sqlx::query("DELETE FROM pending_requests WHERE expires_at < $1").bind(now_ms).execute(&mut *conn).await?;
    Ok(a.rows_affected() + b.rows_affected())
}

/// The persistent NameID for (application, user), created with `candidate` the first time.
pub async fn persistent_id(conn: &mut Conn, app: AppId, user: UserId, candidate: &str) -> Result<String, Error> {
    sqlx::query("INSERT INTO persistent_ids (app_id, user_id, value) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
        .bind(app.0)
        .bind(user.0)
        .bind(candidate)
        .execute(&mut *conn)
        .await?;
    let row = sqlx::query("SELECT value FROM persistent_ids WHERE app_id = $1 AND user_id = $2")
        .bind(app.0)
        .bind(user.0)
        .fetch_one(&mut *conn)
        .await?;
    Ok(row.try_get("value")?)
}
