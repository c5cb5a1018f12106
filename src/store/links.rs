//! Single-use links mailed to users (invitations and password resets): only the SHA-256 of each token is stored.
//! A new link revokes the unused earlier one of the same purpose; `consume` uses a link up in one statement, so it
//! works once even across replicas.

use sqlx::any::AnyRow;
use sqlx::Row;

use crate::store::{Conn, Error};

/// The newest link of one purpose for a user, for the invitation state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Link {
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// Revokes the user's unused links of `purpose` and stores a new one, in the caller's transaction.
pub async fn replace(
    conn: &mut Conn,
    user_id: i64,
    purpose: &str,
    token_hash: &str,
    now_ms: i64,
    expires_at: i64,
) -> Result<(), Error> {
    sqlx::query(
        "UPDATE user_links SET revoked_at = $1 \
         WHERE user_id = $2 AND purpose = $3 AND used_at IS NULL AND revoked_at IS NULL",
    )
    .bind(now_ms)
    .bind(user_id)
    .bind(purpose)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO user_links (user_id, purpose, token_hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(user_id)
    .bind(purpose)
    .bind(token_hash)
    .bind(now_ms)
    .bind(expires_at)
    .execute(&mut *conn)
    .await
    .map_err(Error::conflict_as("link"))?;
    Ok(())
}

const VALID: &str = "token_hash = $1 AND purpose = $2 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $3";

/// The user a valid (unused, unrevoked, unexpired) link belongs to, without using it up.
pub async fn find_valid(conn: &mut Conn, purpose: &str, token_hash: &str, now_ms: i64) -> Result<Option<i64>, Error> {
    let row = sqlx::query(&format!("SELECT user_id FROM user_links WHERE {VALID}"))
        .bind(token_hash)
        .bind(purpose)
        .bind(now_ms)
        .fetch_optional(&mut *conn)
        .await?;
    row.map(|r| r.try_get("user_id")).transpose().map_err(Error::from)
}

/// Uses a valid link up in one statement and returns its user; `None` when it is unknown, used, revoked or
/// expired (or another request used it first).
pub async fn consume(conn: &mut Conn, purpose: &str, token_hash: &str, now_ms: i64) -> Result<Option<i64>, Error> {
    let row = sqlx::query(&format!("UPDATE user_links SET used_at = $3 WHERE {VALID} RETURNING user_id"))
        .bind(token_hash)
        .bind(purpose)
        .bind(now_ms)
        .fetch_optional(&mut *conn)
        .await?;
    row.map(|r| r.try_get("user_id")).transpose().map_err(Error::from)
}

/// The user's newest link of `purpose`.
pub async fn latest(conn: &mut Conn, user_id: i64, purpose: &str) -> Result<Option<Link>, Error> {
    let row = sqlx::query(
        "SELECT created_at, expires_at, used_at, revoked_at FROM user_links \
         WHERE user_id = $1 AND purpose = $2 ORDER BY created_at DESC, id DESC LIMIT 1",
    )
    .bind(user_id)
    .bind(purpose)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(link).transpose()
}

/// How many links of `purpose` the user was sent since `since_ms`, for throttling.
pub async fn count_since(conn: &mut Conn, user_id: i64, purpose: &str, since_ms: i64) -> Result<i64, Error> {
    let row =
        sqlx::query("SELECT COUNT(*) AS n FROM user_links WHERE user_id = $1 AND purpose = $2 AND created_at > $3")
            .bind(user_id)
            .bind(purpose)
            .bind(since_ms)
            .fetch_one(&mut *conn)
            .await?;
    Ok(row.try_get("n")?)
}

fn link(row: &AnyRow) -> Result<Link, Error> {
    Ok(Link {
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        used_at: row.try_get("used_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}
