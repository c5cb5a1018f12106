//! Every column that holds a sealed value (`secret`), by table, row key and field: the one list that binds each
//! value to its place and that re-sealing walks (the start-up migration of unbound values, `secret-key rotate`).
//!
//! Architecture Invariant: a column that stores a sealed value is listed in `SEALED_COLUMNS`, and its values are
//! sealed and opened with `SealedColumn::binding` of their row, so a value copied to another row or column does
//! not open, and a rotation of the secret key reaches it.

use sqlx::Row;

use crate::secret::Binding;
use crate::store::{Conn, Error};

/// A column holding sealed values, and the column whose value names its row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SealedColumn {
    pub table: &'static str,
    /// A column that identifies the row for good (not renamed, not reused).
    pub row: &'static str,
    pub field: &'static str,
}

impl SealedColumn {
    /// Where the value of the row whose `row` column is `key` is bound.
    pub fn binding(&self, key: impl std::fmt::Display) -> Binding {
        Binding::new(self.table, self.field, key)
    }
}

/// An administrator's TOTP secret, by username.
pub const ADMIN_TOTP: SealedColumn = SealedColumn { table: "admins", row: "username", field: "totp_secret_enc" };
/// The SCIM token of an application's identity management, by application id.
pub const SCIM_TOKEN: SealedColumn = SealedColumn { table: "idm_integrations", row: "app_id", field: "token_enc" };
/// The private key (PKCS#8 PEM) of a signing certificate, by certificate fingerprint.
pub const SIGNING_KEY: SealedColumn = SealedColumn { table: "app_certs", row: "fingerprint", field: "key_sealed" };

/// A portal user's TOTP secret, by user id.
pub const USER_TOTP: SealedColumn = SealedColumn { table: "user_totp", row: "user_id", field: "secret_enc" };
/// A queued mail (subject and parts, which may hold a single-use link), by outbox row id.
pub const MAIL_MESSAGE: SealedColumn = SealedColumn { table: "mail_outbox", row: "id", field: "message_enc" };

/// Every sealed column.
pub const SEALED_COLUMNS: &[SealedColumn] = &[ADMIN_TOTP, SCIM_TOKEN, SIGNING_KEY, USER_TOTP, MAIL_MESSAGE];

/// Every sealed value of a column, with its row key as text.
pub async fn list_sealed(conn: &mut Conn, column: &SealedColumn) -> Result<Vec<(String, String)>, Error> {
    let SealedColumn { table, row, field } = column;
    let sql =
        format!("SELECT CAST({row} AS TEXT) AS row_key, {field} AS sealed FROM {table} WHERE {field} IS NOT NULL");
    let rows = sqlx::query(&sql).fetch_all(&mut *conn).await?;
    rows.iter().map(|r| Ok((r.try_get("row_key")?, r.try_get("sealed")?))).collect()
}

/// Replaces one sealed value if it is still `old` (another process may have re-sealed or changed it meanwhile,
/// which then wins). Returns whether it was replaced.
pub async fn replace_sealed(
    conn: &mut Conn,
    column: &SealedColumn,
    row_key: &str,
    old: &str,
    new: &str,
) -> Result<bool, Error> {
    let SealedColumn { table, row, field } = column;
    let sql = format!("UPDATE {table} SET {field} = $1 WHERE CAST({row} AS TEXT) = $2 AND {field} = $3");
    let done = sqlx::query(&sql).bind(new).bind(row_key).bind(old).execute(&mut *conn).await?;
    Ok(done.rows_affected() == 1)
}
