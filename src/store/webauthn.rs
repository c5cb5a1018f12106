//! WebAuthn credentials (passkeys and security keys of users and administrators) and the ceremonies in progress.
//! The credential itself is webauthn-rs's JSON, which this module stores and returns as text without reading it.

use sqlx::any::AnyRow;
use sqlx::Row;

use crate::directory::UserId;
use crate::store::{flag, Conn, Error};

/// Whose credential or ceremony it is: a user (the portal) or an administrator (the console), by row id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    User(UserId),
    Admin(i64),
}

impl Owner {
    fn columns(self) -> (Option<i64>, Option<i64>) {
        match self {
            Self::User(id) => (Some(id.0), None),
            Self::Admin(id) => (None, Some(id)),
        }
    }

    fn from_columns(user_id: Option<i64>, admin_id: Option<i64>) -> Option<Self> {
        match (user_id, admin_id) {
            (Some(user), None) => Some(Self::User(UserId(user))),
            (None, Some(admin)) => Some(Self::Admin(admin)),
            _ => None,
        }
    }
}

/// One stored credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialRow {
    pub id: i64,
    pub owner: Owner,
    /// The authenticator's credential ID, base64url without padding.
    pub credential_id: String,
    /// The UUID the authenticator keeps for the owner (hyphenated).
    pub user_handle: String,
    pub name: String,
    pub is_discoverable: bool,
    /// webauthn-rs's serialised credential (JSON).
    pub credential: String,
    pub created_at_ms: i64,
    pub last_used_at_ms: Option<i64>,
}

/// What a registration stores.
#[derive(Debug, Clone)]
pub struct NewCredential<'a> {
    pub owner: Owner,
    pub credential_id: &'a str,
    pub user_handle: &'a str,
    pub name: &'a str,
    pub is_discoverable: bool,
    pub credential: &'a str,
    pub now_ms: i64,
}

const COLUMNS: &str = "id, user_id, admin_id, credential_id, user_handle, name, is_discoverable, credential, \
    created_at, last_used_at";

/// Stores a new credential; a credential ID registered before (to anyone) is a `Conflict`.
pub async fn insert_credential(conn: &mut Conn, new: &NewCredential<'_>) -> Result<i64, Error> {
    let (user_id, admin_id) = new.owner.columns();
    let row = sqlx::query(
        "INSERT INTO webauthn_credentials \
         (user_id, admin_id, credential_id, user_handle, name, is_discoverable, credential, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind(user_id)
    .bind(admin_id)
    .bind(new.credential_id)
    .bind(new.user_handle)
    .bind(new.name)
    .bind(flag(new.is_discoverable))
    .bind(new.credential)
    .bind(new.now_ms)
    .fetch_one(&mut *conn)
    .await
    .map_err(Error::conflict_as("credential"))?;
    Ok(row.try_get("id")?)
}

/// The owner's credentials, oldest first.
pub async fn list_credentials(conn: &mut Conn, owner: Owner) -> Result<Vec<CredentialRow>, Error> {
    let (column, id) = owner_column(owner);
    let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM webauthn_credentials WHERE {column} = $1 ORDER BY id"))
        .bind(id)
        .fetch_all(&mut *conn)
        .await?;
    rows.iter().map(credential_row).collect()
}

/// The credential with this credential ID, whoever owns it.
pub async fn find_by_credential_id(conn: &mut Conn, credential_id: &str) -> Result<Option<CredentialRow>, Error> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM webauthn_credentials WHERE credential_id = $1"))
        .bind(credential_id)
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(credential_row).transpose()
}

/// The user handle the owner's credentials already carry, if they have one.
pub async fn find_user_handle(conn: &mut Conn, owner: Owner) -> Result<Option<String>, Error> {
    let (column, id) = owner_column(owner);
    let row =
        sqlx::query(&format!("SELECT user_handle FROM webauthn_credentials WHERE {column} = $1 ORDER BY id LIMIT 1"))
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
    row.map(|r| r.try_get("user_handle")).transpose().map_err(Error::from)
}

/// Saves the credential after a successful use (its new counter) and when it was used.
pub async fn update_after_use(conn: &mut Conn, id: i64, credential: &str, now_ms: i64) -> Result<(), Error> {
    sqlx::query("UPDATE webauthn_credentials SET credential = $1, last_used_at = $2 WHERE id = $3")
        .bind(credential)
        .bind(now_ms)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Renames one of the owner's credentials; `NotFound` when the owner has no such credential.
pub async fn rename_credential(conn: &mut Conn, owner: Owner, id: i64, name: &str) -> Result<(), Error> {
    let (column, owner_id) = owner_column(owner);
    let done = sqlx::query(&format!("UPDATE webauthn_credentials SET name = $1 WHERE id = $2 AND {column} = $3"))
        .bind(name)
        .bind(id)
        .bind(owner_id)
        .execute(&mut *conn)
        .await?;
    if done.rows_affected() == 0 {
        return Err(Error::NotFound { what: "credential" });
    }
    Ok(())
}

/// Removes one of the owner's credentials and returns its name; `NotFound` when the owner has no such credential.
pub async fn delete_credential(conn: &mut Conn, owner: Owner, id: i64) -> Result<String, Error> {
    let (column, owner_id) = owner_column(owner);
    let row = sqlx::query(&format!("DELETE FROM webauthn_credentials WHERE id = $1 AND {column} = $2 RETURNING name"))
        .bind(id)
        .bind(owner_id)
        .fetch_optional(&mut *conn)
        .await?;
    match row {
        Some(r) => Ok(r.try_get("name")?),
        None => Err(Error::NotFound { what: "credential" }),
    }
}

/// Removes every credential of the owner (an administrator's reset of a user's factors); returns how many.
pub async fn delete_all_credentials(conn: &mut Conn, owner: Owner) -> Result<u64, Error> {
    let (column, owner_id) = owner_column(owner);
    let done = sqlx::query(&format!("DELETE FROM webauthn_credentials WHERE {column} = $1"))
        .bind(owner_id)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected())
}

/// A ceremony that was started: its purpose, owner (none for a passkey sign-in) and webauthn-rs's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub purpose: String,
    pub owner: Option<Owner>,
    pub state: String,
    pub expires_at_ms: i64,
}

/// Stores a ceremony under `id` until `expires_ms`.
pub async fn insert_challenge(conn: &mut Conn, id: &str, challenge: &Challenge, now_ms: i64) -> Result<(), Error> {
    let (user_id, admin_id) = challenge.owner.map_or((None, None), Owner::columns);
    sqlx::query(
        "INSERT INTO webauthn_challenges (id, purpose, user_id, admin_id, state, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(id)
    .bind(&challenge.purpose)
    .bind(user_id)
    .bind(admin_id)
    .bind(&challenge.state)
    .bind(now_ms)
    .bind(challenge.expires_at_ms)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Takes the ceremony `id` out of the table in one statement, so it is used at most once, whichever replica asks
/// and however many ask at once; `None` when it does not exist (never started, or already taken). The caller
/// checks its purpose and expiry: an expired one is taken too, and refused.
pub async fn take_challenge(conn: &mut Conn, id: &str) -> Result<Option<Challenge>, Error> {
    let row = sqlx::query(
        "DELETE FROM webauthn_challenges WHERE id = $1 RETURNING purpose, user_id, admin_id, state, expires_at",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(r) = row else {
        return Ok(None);
    };
    Ok(Some(Challenge {
        purpose: r.try_get("purpose")?,
        owner: Owner::from_columns(r.try_get("user_id")?, r.try_get("admin_id")?),
        state: r.try_get("state")?,
        expires_at_ms: r.try_get("expires_at")?,
    }))
}

/// Housekeeping: removes ceremonies that expired at or before `now_ms`.
pub async fn purge_expired_challenges(conn: &mut Conn, now_ms: i64) -> Result<u64, Error> {
    let done =
        sqlx::query("DELETE FROM webauthn_challenges WHERE expires_at <= $1").bind(now_ms).execute(&mut *conn).await?;
    Ok(done.rows_affected())
}

fn owner_column(owner: Owner) -> (&'static str, i64) {
    match owner {
        Owner::User(id) => ("user_id", id.0),
        Owner::Admin(id) => ("admin_id", id),
    }
}

fn credential_row(r: &AnyRow) -> Result<CredentialRow, Error> {
    let owner = Owner::from_columns(r.try_get("user_id")?, r.try_get("admin_id")?)
        .ok_or(Error::Corrupt { what: "credential", reason: "neither or both owners".into() })?;
    Ok(CredentialRow {
        id: r.try_get("id")?,
        owner,
        credential_id: r.try_get("credential_id")?,
        user_handle: r.try_get("user_handle")?,
        name: r.try_get("name")?,
        is_discoverable: r.try_get::<i64, _>("is_discoverable")? != 0,
        credential: r.try_get("credential")?,
        created_at_ms: r.try_get("created_at")?,
        last_used_at_ms: r.try_get("last_used_at")?,
    })
}
