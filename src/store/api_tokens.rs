//! API tokens: only their SHA-256 is stored, so a token is found by its hash and never compared in clear.

use sqlx::any::AnyRow;
use sqlx::Row;

use crate::store::{touched, Conn, Error};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRow {
    pub id: i64,
    pub name: String,
    /// `full` or `read-only`.
    pub scope: String,
    pub created_by: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

const COLUMNS: &str = "id, name, scope, created_by, created_at, last_used_at, revoked_at";

pub async fn insert_token(
    conn: &mut Conn,
    name: &str,
    token_hash: &str,
    scope: &str,
    created_by: &str,
    now_ms: i64,
) -> Result<i64, Error> {
    let row = sqlx::query(
        "INSERT INTO api_tokens (name, token_hash, scope, created_by, created_at) VALUES ($1, $2, $3, $4, $5) \
         RETURNING id",
    )
    .bind(name)
    .bind(token_hash)
    .bind(scope)
    .bind(created_by)
    .bind(now_ms)
    .fetch_one(&mut *conn)
    .await
    .map_err(Error::conflict_as("API token"))?;
    Ok(row.try_get("id")?)
}

/// The token whose hash is `token_hash` (an equality lookup on a hash: no timing leak about the token).
pub async fn find_by_hash(conn: &mut Conn, token_hash: &str) -> Result<Option<TokenRow>, Error> {
    let sql = format!("SELECT {COLUMNS} FROM api_tokens WHERE token_hash = $1");
    let row = sqlx::query(&sql).bind(token_hash).fetch_optional(&mut *conn).await?;
    row.map(|r| token_from_row(&r)).transpose()
}

pub async fn list_tokens(conn: &mut Conn) -> Result<Vec<TokenRow>, Error> {
    let sql = format!("SELECT {COLUMNS} FROM api_tokens ORDER BY name");
    let rows = sqlx::query(&sql).fetch_all(&mut *conn).await?;
    rows.iter().map(token_from_row).collect()
}

/// Marks the token revoked; revoking a revoked token keeps its first revocation time.
pub async fn revoke_token(conn: &mut Conn, name: &str, now_ms: i64) -> Result<(), Error> {
    let done = sqlx::query("UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, $1) WHERE name = $2")
        .bind(now_ms)
        .bind(name)
        .execute(&mut *conn)
        .await?;
    touched(done, "API token")
}

/// Notes a use, at most once a minute per token, so busy clients do not write on every request.
pub async fn touch_token(conn: &mut Conn, id: i64, now_ms: i64) -> Result<(), Error> {
    sqlx::query(
        "UPDATE api_tokens SET last_used_at = $1 WHERE id = $2 AND (last_used_at IS NULL OR last_used_at < $3)",
    )
    .bind(now_ms)
    .bind(id)
    .bind(now_ms - 60_000)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

fn token_from_row(row: &AnyRow) -> Result<TokenRow, Error> {
    Ok(TokenRow {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        scope: row.try_get("scope")?,
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
        last_used_at: row.try_get("last_used_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}
