//! Signing certificates (rows) and their private keys (files, mode 0600, under the certs directory).
//!
//! Keys never enter the database, logs or events. A key file is named by the certificate's fingerprint, so a
//! replica that shares the certs directory finds the key for whichever certificate the database says is current.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use sqlx::Row;

use crate::directory::AppId;
use crate::saml::keys::CertState;
use crate::store::{Conn, Error};

#[derive(Debug, Clone)]
pub struct CertRow {
    pub fingerprint: String,
    pub cert_pem: String,
    pub state: CertState,
}

pub async fn insert_cert(
    conn: &mut Conn,
    app: AppId,
    fingerprint: &str,
    cert_pem: &str,
    validity_ms: (i64, i64),
    state: CertState,
    now_ms: i64,
) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO app_certs (app_id, fingerprint, cert_pem, not_before, not_after, state, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(app.0)
    .bind(fingerprint)
    .bind(cert_pem)
    .bind(validity_ms.0)
    .bind(validity_ms.1)
    .bind(state.as_str())
    .bind(now_ms)
    .execute(&mut *conn)
    .await
    .map_err(Error::conflict_as("certificate"))?;
    Ok(())
}

/// Certificates that are published (current, next, previous), in that order: many SPs read only the first.
pub async fn list_published_certs(conn: &mut Conn, app: AppId) -> Result<Vec<CertRow>, Error> {
    let rows = sqlx::query(
        "SELECT fingerprint, cert_pem, state FROM app_certs WHERE app_id = $1 AND state <> 'retired' \
         ORDER BY CASE state WHEN 'current' THEN 0 WHEN 'next' THEN 1 ELSE 2 END, created_at DESC",
    )
    .bind(app.0)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
            let state: String = r.try_get("state")?;
            Ok(CertRow {
                fingerprint: r.try_get("fingerprint")?,
                cert_pem: r.try_get("cert_pem")?,
                state: CertState::parse(&state).ok_or(Error::Corrupt { what: "certificate state", reason: state })?,
            })
        })
        .collect()
}

pub async fn update_cert_state(conn: &mut Conn, app: AppId, from: CertState, to: CertState) -> Result<u64, Error> {
    let done = sqlx::query("UPDATE app_certs SET state = $1 WHERE app_id = $2 AND state = $3")
        .bind(to.as_str())
        .bind(app.0)
        .bind(from.as_str())
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected())
}

/// A certificate row with its validity and schedule, for rotation and `app show`.
#[derive(Debug, Clone)]
pub struct CertInfo {
    pub fingerprint: String,
    pub cert_pem: String,
    pub state: CertState,
    pub not_before_ms: i64,
    pub not_after_ms: i64,
    /// For a `next` certificate: when housekeeping activates it.
    pub activate_at_ms: Option<i64>,
    pub created_at_ms: i64,
}

const INFO_COLUMNS: &str = "fingerprint, cert_pem, state, not_before, not_after, activate_at, created_at";

/// Every certificate of an application, published ones first (current, next, previous), then retired, newest first.
pub async fn list_certs(conn: &mut Conn, app: AppId) -> Result<Vec<CertInfo>, Error> {
    let sql = format!(
        "SELECT {INFO_COLUMNS} FROM app_certs WHERE app_id = $1 ORDER BY \
         CASE state WHEN 'current' THEN 0 WHEN 'next' THEN 1 WHEN 'previous' THEN 2 ELSE 3 END, created_at DESC"
    );
    let rows = sqlx::query(&sql).bind(app.0).fetch_all(&mut *conn).await?;
    rows.iter().map(info_from_row).collect()
}

/// Moves one certificate of the application to `to`.
pub async fn update_state_of(conn: &mut Conn, app: AppId, fingerprint: &str, to: CertState) -> Result<(), Error> {
    let done =
        sqlx::query("UPDATE app_certs SET state = $1, activate_at = NULL WHERE app_id = $2 AND fingerprint = $3")
            .bind(to.as_str())
            .bind(app.0)
            .bind(fingerprint)
            .execute(&mut *conn)
            .await?;
    crate::store::touched(done, "certificate")
}

/// Schedules (or, with `None`, unschedules) the activation of the application's `next` certificate.
pub async fn update_activate_at(conn: &mut Conn, app: AppId, at_ms: Option<i64>) -> Result<(), Error> {
    let done = sqlx::query("UPDATE app_certs SET activate_at = $1 WHERE app_id = $2 AND state = 'next'")
        .bind(at_ms)
        .bind(app.0)
        .execute(&mut *conn)
        .await?;
    crate::store::touched(done, "next certificate")
}

/// Names of applications whose `next` certificate is scheduled at or before `now_ms`.
pub async fn list_due_activations(conn: &mut Conn, now_ms: i64) -> Result<Vec<String>, Error> {
    let rows = sqlx::query(
        "SELECT DISTINCT a.name FROM app_certs c JOIN applications a ON a.id = c.app_id \
         WHERE c.state = 'next' AND c.activate_at IS NOT NULL AND c.activate_at <= $1 ORDER BY a.name",
    )
    .bind(now_ms)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(|r| Ok(r.try_get("name")?)).collect()
}

/// A published certificate that expires before some time, with its application's name.
#[derive(Debug, Clone)]
pub struct Expiring {
    pub app: String,
    pub fingerprint: String,
    pub state: CertState,
    pub not_after_ms: i64,
}

/// Published certificates (not retired) that expire before `before_ms`.
pub async fn list_expiring(conn: &mut Conn, before_ms: i64) -> Result<Vec<Expiring>, Error> {
    let rows = sqlx::query(
        "SELECT a.name, c.fingerprint, c.state, c.not_after FROM app_certs c JOIN applications a ON a.id = c.app_id \
         WHERE c.state <> 'retired' AND c.not_after < $1 ORDER BY c.not_after",
    )
    .bind(before_ms)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Expiring {
                app: r.try_get("name")?,
                fingerprint: r.try_get("fingerprint")?,
                state: parse_state(r.try_get("state")?)?,
                not_after_ms: r.try_get("not_after")?,
            })
        })
        .collect()
}

/// Records that the warning at `days` before expiry was given for a certificate; `false` when it already was
/// (by this or another replica), so each warning is given once.
pub async fn insert_expiry_warning(conn: &mut Conn, fingerprint: &str, days: i64, now_ms: i64) -> Result<bool, Error> {
    let done = sqlx::query(
        "INSERT INTO cert_expiry_warnings (fingerprint, days, created_at) VALUES ($1, $2, $3) \
         ON CONFLICT (fingerprint, days) DO NOTHING",
    )
    .bind(fingerprint)
    .bind(days)
    .bind(now_ms)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

fn parse_state(state: String) -> Result<CertState, Error> {
    CertState::parse(&state).ok_or(Error::Corrupt { what: "certificate state", reason: state })
}

fn info_from_row(r: &sqlx::any::AnyRow) -> Result<CertInfo, Error> {
    Ok(CertInfo {
        fingerprint: r.try_get("fingerprint")?,
        cert_pem: r.try_get("cert_pem")?,
        state: parse_state(r.try_get("state")?)?,
        not_before_ms: r.try_get("not_before")?,
        not_after_ms: r.try_get("not_after")?,
        activate_at_ms: r.try_get("activate_at")?,
        created_at_ms: r.try_get("created_at")?,
    })
}

/// The key file for a certificate.
pub fn key_path(certs_dir: &Path, app: &str, fingerprint: &str) -> PathBuf {
    let short = fingerprint.get(..16).unwrap_or(fingerprint);
    certs_dir.join(app).join(format!("{short}.key"))
}

/// Writes a private key with mode 0600 (directory 0700), atomically: a reader never sees half a key.
pub fn write_key(certs_dir: &Path, app: &str, fingerprint: &str, key_pem: &[u8], cert_pem: &[u8]) -> Result<(), Error> {
    let path = key_path(certs_dir, app, fingerprint);
    let Some(dir) = path.parent() else {
        return Err(file_error(&path, "created", std::io::Error::other("no parent directory")));
    };
    std::fs::create_dir_all(dir).map_err(|e| file_error(dir, "created", e))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| file_error(dir, "protected", e))?;
    let tmp = path.with_extension("key.tmp");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| file_error(&tmp, "created", e))?;
    file.write_all(key_pem).and_then(|()| file.sync_all()).map_err(|e| file_error(&tmp, "written", e))?;
    std::fs::rename(&tmp, &path).map_err(|e| file_error(&path, "written", e))?;
    // The certificate beside it is public; it is kept for admins who look at the directory.
    let crt = path.with_extension("crt");
    std::fs::write(&crt, cert_pem).map_err(|e| file_error(&crt, "written", e))?;
    Ok(())
}

pub fn read_key(certs_dir: &Path, app: &str, fingerprint: &str) -> Result<Vec<u8>, Error> {
    let path = key_path(certs_dir, app, fingerprint);
    std::fs::read(&path).map_err(|e| file_error(&path, "read", e))
}

fn file_error(path: &Path, action: &'static str, source: std::io::Error) -> Error {
    Error::File { path: path.display().to_string(), action, source }
}
