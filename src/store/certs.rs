//! Signing certificates (rows) with their private keys, sealed (`sealed::SIGNING_KEY`), and the key files that
//! start-up imports from the certs directory: key files of certificates made before keys were sealed (named by
//! the certificate's fingerprint) and a key pair an admin brings (`key.pem` and `cert.pem`).
//!
//! Keys never enter the database unsealed, nor logs or events; no key file is written.

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

/// A certificate to record, with its private key sealed (`sealed::SIGNING_KEY`).
#[derive(Debug, Clone, Copy)]
pub struct NewCert<'a> {
    pub fingerprint: &'a str,
    pub cert_pem: &'a str,
    /// Not before and not after, in Unix milliseconds.
    pub validity_ms: (i64, i64),
    pub state: CertState,
    pub key_sealed: &'a str,
}

pub async fn insert_cert(conn: &mut Conn, app: AppId, cert: NewCert<'_>, now_ms: i64) -> Result<(), Error> {
    let NewCert { fingerprint, cert_pem, validity_ms, state, key_sealed } = cert;
    sqlx::query(
        "INSERT INTO app_certs (app_id, fingerprint, cert_pem, not_before, not_after, state, created_at, key_sealed) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(app.0)
    .bind(fingerprint)
    .bind(cert_pem)
    .bind(validity_ms.0)
    .bind(validity_ms.1)
    .bind(state.as_str())
    .bind(now_ms)
    .bind(key_sealed)
    .execute(&mut *conn)
    .await
    .map_err(Error::conflict_as("certificate"))?;
    Ok(())
}

/// The sealed private key of a certificate; `None` when the certificate's key was not imported yet.
pub async fn get_sealed_key(conn: &mut Conn, fingerprint: &str) -> Result<Option<String>, Error> {
    let row = sqlx::query("SELECT key_sealed FROM app_certs WHERE fingerprint = $1")
        .bind(fingerprint)
        .fetch_optional(&mut *conn)
        .await?;
    match row {
        Some(row) => Ok(row.try_get("key_sealed")?),
        None => Err(Error::NotFound { what: "certificate" }),
    }
}

/// Certificates of an application whose private key is not in the database (made before keys were sealed).
pub async fn list_without_key(conn: &mut Conn, app: AppId) -> Result<Vec<CertInfo>, Error> {
    let sql = format!("SELECT {INFO_COLUMNS} FROM app_certs WHERE app_id = $1 AND key_sealed IS NULL");
    let rows = sqlx::query(&sql).bind(app.0).fetch_all(&mut *conn).await?;
    rows.iter().map(info_from_row).collect()
}

/// Stores the sealed key of a certificate that has none yet; `false` when another replica stored it first.
pub async fn set_sealed_key(conn: &mut Conn, fingerprint: &str, key_sealed: &str) -> Result<bool, Error> {
    let done = sqlx::query("UPDATE app_certs SET key_sealed = $1 WHERE fingerprint = $2 AND key_sealed IS NULL")
        .bind(key_sealed)
        .bind(fingerprint)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Whether any certificate (of any application) has this fingerprint.
pub async fn exists(conn: &mut Conn, fingerprint: &str) -> Result<bool, Error> {
    let row = sqlx::query("SELECT 1 AS one FROM app_certs WHERE fingerprint = $1")
        .bind(fingerprint)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(row.is_some())
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

/// The key file of a certificate made before keys were sealed.
pub fn key_path(certs_dir: &Path, app: &str, fingerprint: &str) -> PathBuf {
    let short = fingerprint.get(..16).unwrap_or(fingerprint);
    certs_dir.join(app).join(format!("{short}.key"))
}

/// The key file of a certificate made before keys were sealed; `None` when this host has none.
pub fn read_key(certs_dir: &Path, app: &str, fingerprint: &str) -> Result<Option<Vec<u8>>, Error> {
    read_if_present(&key_path(certs_dir, app, fingerprint))
}

/// The file names of a key pair an admin brings for an application, under `certs/<app>/`.
pub const BROUGHT_KEY: &str = "key.pem";
pub const BROUGHT_CERT: &str = "cert.pem";

/// A key pair an admin brought, as PEM.
pub struct BroughtPair {
    pub key_pem: Vec<u8>,
    pub cert_pem: Vec<u8>,
}

/// The key pair an admin placed under `certs/<app>/` (`key.pem`, `cert.pem`); `None` unless both are there.
pub fn read_brought(certs_dir: &Path, app: &str) -> Result<Option<BroughtPair>, Error> {
    let dir = certs_dir.join(app);
    let key = read_if_present(&dir.join(BROUGHT_KEY))?;
    let cert = read_if_present(&dir.join(BROUGHT_CERT))?;
    Ok(key.zip(cert).map(|(key_pem, cert_pem)| BroughtPair { key_pem, cert_pem }))
}

fn read_if_present(path: &Path) -> Result<Option<Vec<u8>>, Error> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(file_error(path, "read", e)),
    }
}

fn file_error(path: &Path, action: &'static str, source: std::io::Error) -> Error {
    Error::File { path: path.display().to_string(), action, source }
}
