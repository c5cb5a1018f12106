//! Use cases, organised by the resource each manages: `users`, `groups`, `apps` (applications: creation from
//! SP metadata, a connector or a bookmark, settings, attributes, bindings, metadata refresh), `certs` (signing
//! certificates and their rotation), `keys` (parsed signing keys), `events` (the audit log and the dashboard),
//! `admins`, `tokens` (API tokens), `idm` (identity management), `catalog` (connector search), `login` and
//! `throttle` (sign-in), `webauthn` (passkeys and security keys), `inbound` (every SAML message an SP sends us, verified once), `sso`, `slo` and
//! `participation` (which SPs an IdP session signed in to). Each function serves every caller (CLI, console,
//! API): it loads through `store`, calls the pure core (`saml`, `directory`), and writes each change with its
//! event in one transaction.
//!
//! Architecture Invariant: services know no HTTP status codes and no templates; `web` and `cli` call them.

pub mod account;
pub mod admins;
pub mod apps;
pub mod catalog;
pub mod certs;
pub mod error;
pub mod events;
pub mod groups;
pub mod idm;
pub mod inbound;
pub mod keys;
pub mod links;
pub mod login;
pub mod mail;
pub mod mfa;
pub mod participation;
pub mod secrets;
pub mod slo;
pub mod sso;
pub mod throttle;
pub mod tokens;
pub mod totp;
pub mod user_import;
pub mod users;
pub mod webauthn;

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::audit::Event;
use crate::catalog::Catalog;
use crate::config::Config;
use crate::directory::Application;
use crate::mail::Mailer;
use crate::provisioning::worker::Worker;
use crate::saml::keys::SigningKey;
use crate::secret::SecretKey;
use crate::services::keys::KeyCache;
use crate::store::{Conn, Db};

pub use error::Error;

/// The most items one page holds.
pub const MAX_PAGE: u32 = 500;

/// One page of a list, and the key to ask for the next one (`None` on the last page).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_after: Option<String>,
}

impl<T> Page<T> {
    /// Cuts the `limit + 1` rows fetched to `limit`, keeping the last key when there is more.
    pub(crate) fn of(mut rows: Vec<T>, limit: u32, key: impl Fn(&T) -> String) -> Self {
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let next_after = if rows.len() > limit {
            rows.truncate(limit);
            rows.last().map(key)
        } else {
            None
        };
        Self { items: rows, next_after }
    }
}

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
    /// Queues and delivers mail (`crate::mail`); not configured without `smtp_url`.
    pub mailer: Mailer,
}

impl Ctx {
    pub fn new(config: Config, db: Db, catalog: Catalog) -> Result<Self, Error> {
        let secret =
            Arc::new(SecretKey::load(config.secret_key.as_ref(), config.secret_key_file.as_deref(), &config.data_dir)?);
        let catalog = Arc::new(catalog);
        let worker = Worker::new(db.clone(), secret.clone(), config.scim_allow_private_targets, catalog.clone())?
            .with_lease(std::time::Duration::from_secs(config.provisioning_lease_secs));
        let mailer = Mailer::new(&config, db.clone(), secret.clone())?;
        Ok(Self { config: Arc::new(config), db, keys: KeyCache::default(), catalog, secret, worker, mailer })
    }

    /// The IdP URL of an application: SP-initiated requests arrive here and IdP-initiated logins start here.
    pub fn sso_url(&self, app: &str) -> String {
        format!("{}/saml2/{app}", self.config.base_url)
    }

    /// The signing key of the application's current certificate (parsed once per process).
    pub async fn signing_key(&self, conn: &mut Conn, app: &Application) -> Result<Arc<SigningKey>, Error> {
        self.keys.current(&self.secret, conn, app).await
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

/// Records an event on its own, for outcomes that change nothing else (a refused request, a failed sign-in).
pub async fn record(ctx: &Ctx, event: Event) -> Result<(), Error> {
    let mut conn = ctx.db.conn().await?;
    crate::store::events::insert_event(&mut conn, &event).await?;
    Ok(())
}

pub fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}
