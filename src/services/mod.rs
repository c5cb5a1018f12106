//! Use cases, one function each: SSO, sign-in, admin changes, SP import. They load through `store`, call the pure
//! core (`saml`, `directory`), and write each change with its event in one transaction.
//!
//! Architecture Invariant: services know no HTTP status codes and no templates; `web` and `cli` call them.

pub mod admin;
pub mod admins;
pub mod api_tokens;
pub mod apps;
pub mod attributes;
pub mod catalog;
pub mod dashboard;
pub mod error;
pub mod idm;
pub mod login;
pub mod metadata_refresh;
pub mod rotation;
pub mod slo;
pub mod sp_import;
pub mod sso;
pub mod throttle;
pub mod users;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::audit::Event;
use crate::catalog::Catalog;
use crate::config::Config;
use crate::directory::{AppId, Application};
use crate::provisioning::worker::Worker;
use crate::saml::keys::{Certificate, SigningKey};
use crate::secret::SecretKey;
use crate::store::certs::{self, CertState};
use crate::store::{Conn, Db};

pub use error::Error;

/// What every service needs: configuration, the database, the parsed signing keys, the connector catalog, the key
/// that seals secrets at rest, and the provisioning worker (to wake it after a change).
#[derive(Clone)]
pub struct Ctx {
    pub config: Arc<Config>,
    pub db: Db,
    pub keys: KeyCache,
    pub catalog: Arc<Catalog>,
    pub secret: Arc<SecretKey>,
    pub worker: Worker,
}

impl Ctx {
    pub fn new(config: Config, db: Db, catalog: Catalog) -> Result<Self, Error> {
        let secret = Arc::new(
            SecretKey::load(config.secret_key.as_ref(), &config.data_dir).map_err(|e| Error::Task(e.to_string()))?,
        );
        let catalog = Arc::new(catalog);
        let worker = Worker::new(db.clone(), secret.clone(), config.scim_allow_private_targets, catalog.clone())
            .map_err(|e| Error::Task(e.to_string()))?
            .with_lease(std::time::Duration::from_secs(config.provisioning_lease_secs));
        Ok(Self { config: Arc::new(config), db, keys: KeyCache::default(), catalog, secret, worker })
    }

    /// The IdP URL of an application: SP-initiated requests arrive here and IdP-initiated logins start here.
    pub fn sso_url(&self, app: &str) -> String {
        format!("{}/saml2/{app}", self.config.base_url)
    }

    /// The entity ID the application's SP knows the IdP by.
    pub fn idp_entity_id(&self, app: &Application) -> String {
        if app.sp.idp_entity_id.is_empty() {
            self.sso_url(app.name.as_str())
        } else {
            app.sp.idp_entity_id.clone()
        }
    }
}

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
    pub async fn current(&self, ctx: &Ctx, conn: &mut Conn, app: &Application) -> Result<Arc<SigningKey>, Error> {
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
            None => {
                let key_pem = certs::read_key(&ctx.config.certs_dir, app.name.as_str(), &row.fingerprint)?;
                Arc::new(SigningKey::from_pem(&key_pem, row.cert_pem.as_bytes())?)
            }
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

/// Records an event on its own, for outcomes that change nothing else (a refused request, a failed sign-in).
pub async fn record(ctx: &Ctx, event: Event) -> Result<(), Error> {
    let mut conn = ctx.db.conn().await?;
    crate::store::events::insert_event(&mut conn, &event).await?;
    Ok(())
}

pub fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}
