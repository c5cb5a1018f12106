//! Signing certificates (rows) and their private keys (files, mode 0600, under the certs directory).
//!
//! Keys never enter the database, logs or events. A key file is named by the certificate's fingerprint, so a
//! replica that shares the certs directory finds the key for whichever certificate the database says is current.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use sqlx::Row;

use crate::directory::AppId;
use crate::store::{Conn, Error};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CertState {
    /// Signs responses and is published first.
    Current,
    /// Published beside the current one so SPs can learn it before it signs (rotation).
    Next,
    /// No longer used or published.
    Retired,
}

impl CertState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Current => "current",
            Self::Next => "next",
            Self::Retired => "retired",
        }
    }

    fn parse(value: &str) -> Option<Self> {
        match value {
            "current" => Some(Self::Current),
            "next" => Some(Self::Next),
            "retired" => Some(Self::Retired),
            _ => None,
        }
    }
}

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

/// Certificates that are current or next, the current one first.
pub async fn list_published_certs(conn: &mut Conn, app: AppId) -> Result<Vec<CertRow>, Error> {
    let rows = sqlx::query(
        "SELECT fingerprint, cert_pem, state FROM app_certs WHERE app_id = $1 AND state <> 'retired' \
         ORDER BY CASE state WHEN 'current' THEN 0 ELSE 1 END, created_at DESC",
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
