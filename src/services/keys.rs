//! The parsed signing keys of applications, cached per process, and the certificates an application publishes.
//!
//! Architecture Invariant: which certificate is current is read from the database (at most a second old), so a
//! rotation by another process signs within a second; only parsed keys are kept in memory. A key is unsealed and
//! parsed once per process (on the first use of its certificate), never per response.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::directory::{AppId, Application};
use crate::saml::keys::CertState;
use crate::saml::keys::{Certificate, SigningKey};
use crate::secret::SecretKey;
use crate::services::Error;
use crate::store::certs;
use crate::store::sealed::SIGNING_KEY;
use crate::store::Conn;

/// Parsed private keys. Parsing a key costs as much as a signature, so each is parsed once per process. Which
/// certificate is current is read from the database at most once a second per application, so a rotation made by
/// another process (the CLI, another replica) signs within a second.
#[derive(Clone, Default)]
pub struct KeyCache {
    inner: Arc<RwLock<KeyCacheInner>>,
}

#[derive(Default)]
struct KeyCacheInner {
    by_fingerprint: HashMap<String, Arc<SigningKey>>,
    current: HashMap<AppId, (Instant, Arc<SigningKey>)>,
}

/// How long the current-certificate lookup of an application is reused.
const CURRENT_KEY_TTL: Duration = Duration::from_secs(1);

impl KeyCache {
    /// The signing key of the application's current certificate.
    pub async fn current(
        &self,
        secret: &SecretKey,
        conn: &mut Conn,
        app: &Application,
    ) -> Result<Arc<SigningKey>, Error> {
        if let Some((at, key)) = self.inner.read().ok().and_then(|c| c.current.get(&app.id).cloned()) {
            if at.elapsed() < CURRENT_KEY_TTL {
                return Ok(key);
            }
        }
        let published = certs::list_published_certs(conn, app.id).await?;
        let Some(row) = published.iter().find(|c| c.state == CertState::Current) else {
            return Err(Error::NoSigningKey { app: app.name.to_string() });
        };
        let cached = self.inner.read().ok().and_then(|c| c.by_fingerprint.get(&row.fingerprint).cloned());
        let key = match cached {
            Some(key) => key,
            None => Arc::new(unseal(secret, conn, app, &row.fingerprint, &row.cert_pem).await?),
        };
        if let Ok(mut cache) = self.inner.write() {
            cache.by_fingerprint.insert(row.fingerprint.clone(), key.clone());
            cache.current.insert(app.id, (Instant::now(), key.clone()));
        }
        Ok(key)
    }
}

/// The certificates an application publishes (current first), parsed.
pub async fn published_certificates(conn: &mut Conn, app: &Application) -> Result<Vec<Certificate>, Error> {
    let rows = certs::list_published_certs(conn, app.id).await?;
    rows.iter().map(|r| Ok(Certificate::from_pem(r.cert_pem.as_bytes())?)).collect()
}

/// Opens the sealed private key of a certificate and parses it with the certificate.
pub async fn unseal(
    secret: &SecretKey,
    conn: &mut Conn,
    app: &Application,
    fingerprint: &str,
    cert_pem: &str,
) -> Result<SigningKey, Error> {
    let Some(sealed) = certs::get_sealed_key(conn, fingerprint).await? else {
        return Err(Error::KeyNotImported { app: app.name.to_string(), fingerprint: fingerprint.to_owned() });
    };
    let key_pem = secret.open(&sealed, &SIGNING_KEY.binding(fingerprint))?;
    Ok(SigningKey::from_pem(secrecy::ExposeSecret::expose_secret(&key_pem).as_bytes(), cert_pem.as_bytes())?)
}
