//! Administrators: accounts of the admin console, separate from the directory's users.

use sqlx::any::AnyRow;
use sqlx::Row;

use crate::store::{touched, Conn, Error};

/// An administrator as stored. The password hash and the sealed TOTP secret never leave `services`.
#[derive(Debug, Clone)]
pub struct AdminRow {
    pub id: i64,
    pub username: String,
    pub password_hash: String,
    pub totp_secret_sealed: Option<String>,
    pub totp_last_step: i64,
    /// When the password or the TOTP secret last changed (Unix milliseconds; 0: never since created).
    pub credentials_changed_at: i64,
}

const COLUMNS: &str = "id, username, password_hash, totp_secret_enc, totp_last_step, credentials_changed_at";

pub async fn insert_admin(conn: &mut Conn, username: &str, password_hash: &str, now_ms: i64) -> Result<i64, Error> {
    let row = sqlx::query(
        "INSERT INTO admins (username, password_hash, created_at, updated_at) VALUES ($1, $2, $3, $3) RETURNING id",
    )
    .bind(username)
    .bind(password_hash)
    .bind(now_ms)
    .fetch_one(&mut *conn)
    .await
    .map_err(Error::conflict_as("administrator"))?;
    Ok(row.try_get("id")?)
}

pub async fn find_admin(conn: &mut Conn, username: &str) -> Result<Option<AdminRow>, Error> {
    let sql = format!("SELECT {COLUMNS} FROM admins WHERE username = $1");
    let row = sqlx::query(&sql).bind(username).fetch_optional(&mut *conn).await?;
    row.map(|r| admin_from_row(&r)).transpose()
}

pub async fn count_admins(conn: &mut Conn) -> Result<i64, Error> {
    let row = sqlx::query("SELECT COUNT(*) AS n FROM admins").fetch_one(&mut *conn).await?;
    Ok(row.try_get("n")?)
}

/// Sets the password hash; the credentials count as changed now.
pub async fn update_password(conn: &mut Conn, username: &str, password_hash: &str, now_ms: i64) -> Result<(), Error> {
    let done = sqlx::query(
        "UPDATE admins SET password_hash = $1, updated_at = $2, credentials_changed_at = $2 WHERE username = $3",
    )
    .bind(password_hash)
    .bind(now_ms)
    .bind(username)
    .execute(&mut *conn)
    .await?;
    touched(done, "administrator")
}

/// Sets (or with `None` clears) the sealed TOTP secret, forgetting the last accepted step; the credentials count
/// as changed now.
pub async fn update_totp_secret(
    conn: &mut Conn,
    username: &str,
    sealed: Option<&str>,
    now_ms: i64,
) -> Result<(), Error> {
    let done = sqlx::query(
        "UPDATE admins SET totp_secret_enc = $1, totp_last_step = 0, updated_at = $2, credentials_changed_at = $2 \
         WHERE username = $3",
    )
    .bind(sealed)
    .bind(now_ms)
    .bind(username)
    .execute(&mut *conn)
    .await?;
    touched(done, "administrator")
}

/// Records `step` as the last accepted TOTP step, only if it is later than the one recorded: false when the step
/// (or a later one) was already used, so one code is accepted once, even by two replicas at the same moment.
pub async fn advance_totp_step(conn: &mut Conn, id: i64, step: i64) -> Result<bool, Error> {
    let done = sqlx::query("UPDATE admins SET totp_last_step = $1 WHERE id = $2 AND totp_last_step < $1")
        .bind(step)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

fn admin_from_row(row: &AnyRow) -> Result<AdminRow, Error> {
    Ok(AdminRow {
        id: row.try_get("id")?,
        username: row.try_get("username")?,
        password_hash: row.try_get("password_hash")?,
        totp_secret_sealed: row.try_get("totp_secret_enc")?,
        totp_last_step: row.try_get("totp_last_step")?,
        credentials_changed_at: row.try_get("credentials_changed_at")?,
    })
}

/// Sets (or, with an empty string, clears) an administrator's e-mail address for notices. False when unknown.
pub async fn set_email(conn: &mut Conn, username: &str, email: &str, now_ms: i64) -> Result<bool, Error> {
    let done = sqlx::query("UPDATE admins SET email = $1, updated_at = $2 WHERE username = $3")
        .bind(email)
        .bind(now_ms)
        .bind(username)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// An administrator's e-mail address ('' when none).
pub async fn find_email(conn: &mut Conn, username: &str) -> Result<Option<String>, Error> {
    let row =
        sqlx::query("SELECT email FROM admins WHERE username = $1").bind(username).fetch_optional(&mut *conn).await?;
    Ok(match row {
        Some(row) => Some(row.try_get("email")?),
        None => None,
    })
}

/// The distinct e-mail addresses of administrators who have one: the recipients of notices.
pub async fn notice_addresses(conn: &mut Conn) -> Result<Vec<String>, Error> {
    let rows =
        sqlx::query("SELECT DISTINCT email FROM admins WHERE email <> '' ORDER BY email").fetch_all(&mut *conn).await?;
    rows.iter().map(|row| Ok(row.try_get("email")?)).collect()
}
