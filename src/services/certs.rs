//! The signing certificates of applications: generation (a key pair per application, created when missing),
//! what an application publishes, staged rotation without downtime, and expiry warnings.
//!
//! A rotation has three steps. `stage` generates a `next` certificate, published in the metadata after the current
//! one, so SPs that refresh (or cache) the metadata learn it before it signs anything. `activate` (now, or at a
//! time that housekeeping applies) makes it current; the old one becomes `previous` and stays published until
//! `retire`. Plain `rotate` replaces the certificate at once, for scripts (the old contract: one published).
//!
//! Every read-then-write starts with `apps::lock_app`, so two admins or two replicas take turns and one certificate
//! stays current. Housekeeping runs on every replica: a scheduled activation is applied once (the second replica
//! finds nothing due under the lock), and an expiry warning is recorded once per certificate and threshold (a row
//! in `cert_expiry_warnings` decides who records it).

use chrono::{DateTime, Duration, TimeZone, Utc};
use secrecy::ExposeSecret;
use tracing::{info, warn};

use crate::audit::{Actor, Event, EventName};
use crate::directory::Application;
use crate::saml::keys::CertState;
use crate::saml::keys::{expiry_threshold, Certificate, SigningKey, EXPIRY_WARNING_DAYS};
use crate::services::keys::published_certificates;
use crate::services::{millis, Ctx, Error};
use crate::store::certs::{self, CertInfo, NewCert};
use crate::store::sealed::SIGNING_KEY;
use crate::store::{apps, events, Conn};

/// What `activate` did.
#[derive(Debug)]
pub enum Activation {
    /// The staged certificate signs from now on.
    Activated { fingerprint: String },
    /// Housekeeping activates it at `at`.
    Scheduled { fingerprint: String, at: DateTime<Utc> },
}

/// Generates the application's `next` certificate and publishes it beside the current one.
pub async fn stage(ctx: &Ctx, actor: &Actor, name: &str, now: DateTime<Utc>) -> Result<Certificate, Error> {
    let mut tx = ctx.db.begin().await?;
    let app = lock(&mut tx, name).await?;
    let list = certs::list_certs(&mut tx, app.id).await?;
    if let Some(next) = list.iter().find(|c| c.state == CertState::Next) {
        return Err(refused(name, format!("certificate {} is already staged; activate it first", short(next))));
    }
    let cert = generate_certificate(ctx, &mut tx, &app, CertState::Next, now).await?;
    let event = Event::new(now, EventName::AdminAppStageCert, actor).target(name).app(name).detail(&cert.fingerprint);
    events::insert_event(&mut tx, &event).await?;
    tx.commit().await.map_err(crate::store::Error::from)?;
    info!(app.name = %name, "staged next signing certificate {} for {name}", cert.fingerprint);
    Ok(cert)
}

/// Makes the staged certificate current now, or schedules that for `at` (a time in the past means now).
pub async fn activate(
    ctx: &Ctx,
    actor: &Actor,
    name: &str,
    at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<Activation, Error> {
    let mut tx = ctx.db.begin().await?;
    let app = lock(&mut tx, name).await?;
    let list = certs::list_certs(&mut tx, app.id).await?;
    let Some(next) = list.iter().find(|c| c.state == CertState::Next) else {
        return Err(refused(name, "no certificate is staged; stage one first (rotate-cert --stage)".into()));
    };
    let outcome = match at.filter(|at| *at > now) {
        Some(at) => {
            certs::update_activate_at(&mut tx, app.id, Some(millis(at))).await?;
            let detail = format!("{} scheduled for {}", next.fingerprint, at.to_rfc3339());
            let event = Event::new(now, EventName::AdminAppActivateCert, actor).target(name).app(name).detail(detail);
            events::insert_event(&mut tx, &event).await?;
            Activation::Scheduled { fingerprint: next.fingerprint.clone(), at }
        }
        None => {
            let fingerprint = activate_locked(&mut tx, &app, &list).await?;
            let event =
                Event::new(now, EventName::AdminAppActivateCert, actor).target(name).app(name).detail(&fingerprint);
            events::insert_event(&mut tx, &event).await?;
            Activation::Activated { fingerprint }
        }
    };
    tx.commit().await.map_err(crate::store::Error::from)?;
    if let Activation::Activated { fingerprint } = &outcome {
        info!(app.name = %name, "activated signing certificate {fingerprint} for {name}");
    }
    Ok(outcome)
}

/// Stops publishing the certificate that signed before the last activation. Returns its fingerprint.
pub async fn retire(ctx: &Ctx, actor: &Actor, name: &str, now: DateTime<Utc>) -> Result<String, Error> {
    let mut tx = ctx.db.begin().await?;
    let app = lock(&mut tx, name).await?;
    let list = certs::list_certs(&mut tx, app.id).await?;
    let Some(previous) = list.iter().find(|c| c.state == CertState::Previous) else {
        return Err(refused(name, "no previous certificate to retire (activate a staged one first)".into()));
    };
    certs::update_state_of(&mut tx, app.id, &previous.fingerprint, CertState::Retired).await?;
    let event =
        Event::new(now, EventName::AdminAppRetireCert, actor).target(name).app(name).detail(&previous.fingerprint);
    events::insert_event(&mut tx, &event).await?;
    tx.commit().await.map_err(crate::store::Error::from)?;
    info!(app.name = %name, "retired signing certificate {} of {name}", previous.fingerprint);
    Ok(previous.fingerprint.clone())
}

/// Replaces the signing certificate in one step (plain `rotate-cert`, for scripts): a new certificate becomes
/// current at once, and every other one (the old current, a previous, a staged next) is retired, as before staged
/// rotation existed. Use the staged steps for a rotation without downtime.
pub async fn rotate(ctx: &Ctx, actor: &Actor, name: &str, now: DateTime<Utc>) -> Result<Certificate, Error> {
    let mut tx = ctx.db.begin().await?;
    let app = lock(&mut tx, name).await?;
    for old in certs::list_certs(&mut tx, app.id).await?.iter().filter(|c| c.state != CertState::Retired) {
        certs::update_state_of(&mut tx, app.id, &old.fingerprint, CertState::Retired).await?;
    }
    let cert = generate_certificate(ctx, &mut tx, &app, CertState::Current, now).await?;
    let event = Event::new(now, EventName::AdminAppRotateCert, actor).target(name).app(name).detail(&cert.fingerprint);
    events::insert_event(&mut tx, &event).await?;
    tx.commit().await.map_err(crate::store::Error::from)?;
    info!(app.name = %name, "rotated the signing certificate of {name}");
    Ok(cert)
}

/// Activates every staged certificate whose time has come. Safe on every replica at once: each application is
/// locked and re-read, so the second replica finds nothing left to do. Returns how many were activated.
pub async fn apply_scheduled(ctx: &Ctx, now: DateTime<Utc>) -> Result<usize, Error> {
    let due = certs::list_due_activations(&mut *ctx.db.conn().await?, millis(now)).await?;
    let mut activated = 0;
    for name in due {
        let mut tx = ctx.db.begin().await?;
        if !apps::lock_app(&mut tx, &name).await? {
            continue;
        }
        let app = apps::get_app(&mut tx, &name).await?;
        let list = certs::list_certs(&mut tx, app.id).await?;
        let is_due =
            list.iter().any(|c| c.state == CertState::Next && c.activate_at_ms.is_some_and(|at| at <= millis(now)));
        if !is_due {
            continue;
        }
        let fingerprint = activate_locked(&mut tx, &app, &list).await?;
        let event = Event::new(now, EventName::AdminAppActivateCert, &Actor::System)
            .target(&name)
            .app(&name)
            .detail(format!("{fingerprint} (scheduled)"));
        events::insert_event(&mut tx, &event).await?;
        tx.commit().await.map_err(crate::store::Error::from)?;
        info!(app.name = %name, "activated scheduled signing certificate {fingerprint} for {name}");
        activated += 1;
    }
    Ok(activated)
}

/// Records a `cert_expiry_warning` event and logs a warning for every published certificate that has reached a
/// threshold (60, 30, 7, 1 days) not yet warned about. A certificate that reaches several thresholds at once (a
/// short-lived one, or a server that was down) gets one warning, for the most urgent. Each warning is also mailed
/// to the administrators who have an e-mail address (in the same transaction: once per threshold, whichever
/// replica gives it). Returns how many were given.
pub async fn warn_expiring(ctx: &Ctx, now: DateTime<Utc>) -> Result<usize, Error> {
    let horizon = EXPIRY_WARNING_DAYS.iter().copied().max().unwrap_or(60);
    let expiring = certs::list_expiring(&mut *ctx.db.conn().await?, millis(now + Duration::days(horizon))).await?;
    let mut given = 0;
    let mut mailed = 0;
    for cert in expiring {
        let not_after = at_ms(cert.not_after_ms);
        let Some(threshold) = expiry_threshold(not_after, now) else { continue };
        let mut tx = ctx.db.begin().await?;
        let is_new = certs::insert_expiry_warning(&mut tx, &cert.fingerprint, threshold, millis(now)).await?;
        // The less urgent thresholds are behind us: mark them given too, so they never fire late.
        for days in EXPIRY_WARNING_DAYS.iter().copied().filter(|d| *d > threshold) {
            certs::insert_expiry_warning(&mut tx, &cert.fingerprint, days, millis(now)).await?;
        }
        if is_new {
            let message = expiry_message(not_after, now);
            let detail = format!("{} certificate {} {message}", cert.state.as_str(), cert.fingerprint);
            let event = Event::new(now, EventName::CertExpiryWarning, &Actor::System)
                .target(&cert.app)
                .app(&cert.app)
                .detail(detail);
            events::insert_event(&mut tx, &event).await?;
            let notice = crate::services::mail::CertExpiry {
                app: &cert.app,
                message: &message,
                state: cert.state.as_str(),
                fingerprint: &cert.fingerprint,
                not_after,
            };
            mailed += crate::services::mail::cert_expiry(ctx, &mut tx, &notice).await?;
            warn!(
                app.name = %cert.app,
                "the {} signing certificate {} of {} {message}: rotate it (sesame app rotate-cert {} --stage)",
                cert.state.as_str(),
                cert.fingerprint,
                cert.app,
                cert.app
            );
            given += 1;
        }
        tx.commit().await.map_err(crate::store::Error::from)?;
    }
    if mailed > 0 {
        ctx.mailer.wake();
    }
    Ok(given)
}

/// One housekeeping pass of the certificate lifecycle; failures are logged, not returned, so the rest runs.
pub async fn housekeeping(ctx: &Ctx, now: DateTime<Utc>) {
    if let Err(e) = apply_scheduled(ctx, now).await {
        warn!("could not apply scheduled certificate activations: {e}");
    }
    if let Err(e) = warn_expiring(ctx, now).await {
        warn!("could not check certificate expiry: {e}");
    }
}

/// One certificate of an application, as the console shows it.
#[derive(Debug, Clone)]
pub struct CertEntry {
    pub fingerprint: String,
    pub state: CertState,
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
    /// For a staged certificate whose activation is scheduled.
    pub activate_at: Option<DateTime<Utc>>,
}

/// Every certificate of a SAML application: published ones first (current, next, previous), then retired ones,
/// newest first within a state.
pub async fn list_certificates(ctx: &Ctx, name: &str) -> Result<Vec<CertEntry>, Error> {
    let mut conn = ctx.db.conn().await?;
    let app = crate::services::apps::load_saml(&mut conn, name).await?;
    entries(&mut conn, &app).await
}

impl CertEntry {
    fn of(c: &CertInfo) -> Self {
        Self {
            fingerprint: c.fingerprint.clone(),
            state: c.state,
            not_before: at_ms(c.not_before_ms),
            not_after: at_ms(c.not_after_ms),
            activate_at: c.activate_at_ms.map(at_ms),
        }
    }
}

impl CertEntry {
    /// Days until the certificate expires (negative once it has).
    pub fn expires_in_days(&self, now: DateTime<Utc>) -> i64 {
        (self.not_after - now).num_days()
    }

    /// The expiry warning of a published certificate that reached a warning threshold, e.g. "expires in 5 days".
    pub fn warning(&self, now: DateTime<Utc>) -> Option<String> {
        let is_published = self.state != CertState::Retired;
        (is_published && expiry_threshold(self.not_after, now).is_some()).then(|| expiry_message(self.not_after, now))
    }
}

/// Every certificate of an application with its state: published ones first, then retired ones.
pub async fn entries(conn: &mut Conn, app: &Application) -> Result<Vec<CertEntry>, Error> {
    Ok(certs::list_certs(conn, app.id).await?.iter().map(CertEntry::of).collect())
}

/// Gives every SAML application a signing certificate (created at start-up when missing: the key pair brought
/// under `certs/<app>/`, else a new one).
pub async fn ensure_all_certificates(ctx: &Ctx, now: DateTime<Utc>) -> Result<(), Error> {
    let listed = apps::list_apps(&mut *ctx.db.conn().await?).await?;
    for app in listed.iter().filter(|a| a.is_saml()) {
        // Replicas starting together take turns per application; the second finds the first one's certificate.
        let mut tx = ctx.db.begin().await?;
        if apps::lock_app(&mut tx, app.name.as_str()).await? {
            ensure_certificate(ctx, &mut tx, app, now).await?;
        }
        tx.commit().await.map_err(crate::store::Error::from)?;
    }
    Ok(())
}

pub async fn ensure_certificate(
    ctx: &Ctx,
    conn: &mut Conn,
    app: &Application,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let published = certs::list_published_certs(conn, app.id).await?;
    if published.iter().any(|c| c.state == CertState::Current) {
        return Ok(());
    }
    // A key pair the admin brought under certs/<app>/ is used rather than a new one.
    if import_brought_key(ctx, conn, app, now).await? {
        return Ok(());
    }
    generate_certificate(ctx, conn, app, CertState::Current, now).await?;
    Ok(())
}

/// Generates a key pair and records the certificate in `state` with its key, sealed.
async fn generate_certificate(
    ctx: &Ctx,
    conn: &mut Conn,
    app: &Application,
    state: CertState,
    now: DateTime<Utc>,
) -> Result<Certificate, Error> {
    let cn = format!("{} ({})", app.name, host_of(&ctx.config.base_url));
    let days = ctx.config.cert_validity_days;
    let key = tokio::task::spawn_blocking(move || SigningKey::generate(&cn, now, days)).await??;
    insert_with_key(ctx, conn, app, &key, state, now).await?;
    Ok(key.cert)
}

/// Records a certificate in `state` with its private key, sealed for its row.
async fn insert_with_key(
    ctx: &Ctx,
    conn: &mut Conn,
    app: &Application,
    key: &SigningKey,
    state: CertState,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let cert_pem = key.cert.to_pem()?;
    let sealed = seal_key(ctx, key)?;
    let validity = (millis(key.cert.not_before), millis(key.cert.not_after));
    let new = NewCert {
        fingerprint: &key.cert.fingerprint,
        cert_pem: &cert_pem,
        validity_ms: validity,
        state,
        key_sealed: &sealed,
    };
    certs::insert_cert(conn, app.id, new, millis(now)).await?;
    Ok(())
}

fn seal_key(ctx: &Ctx, key: &SigningKey) -> Result<String, Error> {
    let pem = String::from_utf8(key.private_key_pem()?).map_err(|_| crate::secret::Error::Decrypt)?;
    let pem = secrecy::SecretString::from(pem);
    Ok(ctx.secret.seal(pem.expose_secret(), &SIGNING_KEY.binding(&key.cert.fingerprint))?)
}

/// Imports, at start-up, the key files of the certificates directory into the database, sealed, for every SAML
/// application: the key files of certificates made before keys were sealed (`<fingerprint prefix>.key`), and a key
/// pair an admin placed as `certs/<app>/key.pem` and `certs/<app>/cert.pem`. The brought pair becomes the current
/// certificate of an application that has none, else the staged (`next`) one, to activate with
/// `rotate-cert --activate` once SPs know it; it is imported once (its fingerprint is then known). Each application
/// is locked, so replicas starting together import each file once; key files are only read, never written.
/// Returns how many keys were imported.
pub async fn import_key_files(ctx: &Ctx, now: DateTime<Utc>) -> Result<usize, Error> {
    let listed = apps::list_apps(&mut *ctx.db.conn().await?).await?;
    let mut imported = 0;
    for app in listed.iter().filter(|a| a.is_saml()) {
        let mut tx = ctx.db.begin().await?;
        if !apps::lock_app(&mut tx, app.name.as_str()).await? {
            continue;
        }
        imported += import_legacy_keys(ctx, &mut tx, app).await?;
        imported += usize::from(import_brought_key(ctx, &mut tx, app, now).await?);
        tx.commit().await.map_err(crate::store::Error::from)?;
    }
    Ok(imported)
}

async fn import_legacy_keys(ctx: &Ctx, conn: &mut Conn, app: &Application) -> Result<usize, Error> {
    let mut imported = 0;
    for cert in certs::list_without_key(conn, app.id).await? {
        let Some(key_pem) = certs::read_key(&ctx.config.certs_dir, app.name.as_str(), &cert.fingerprint)? else {
            if cert.state != CertState::Retired {
                warn!(
                    app.name = %app.name,
                    "the private key of the {} certificate {} of {} is neither in the database nor in {}: start the \
                     replica that has it, which imports it",
                    cert.state.as_str(),
                    cert.fingerprint,
                    app.name,
                    certs::key_path(&ctx.config.certs_dir, app.name.as_str(), &cert.fingerprint).display()
                );
            }
            continue;
        };
        let key = SigningKey::from_pem(&key_pem, cert.cert_pem.as_bytes())?;
        if certs::set_sealed_key(conn, &cert.fingerprint, &seal_key(ctx, &key)?).await? {
            info!(app.name = %app.name, "imported the private key of certificate {} of {} into the database", cert.fingerprint, app.name);
            imported += 1;
        }
    }
    Ok(imported)
}

async fn import_brought_key(ctx: &Ctx, conn: &mut Conn, app: &Application, now: DateTime<Utc>) -> Result<bool, Error> {
    let Some(pair) = certs::read_brought(&ctx.config.certs_dir, app.name.as_str())? else {
        return Ok(false);
    };
    let name = app.name.as_str();
    let key = SigningKey::from_pem(&pair.key_pem, &pair.cert_pem)
        .map_err(|e| refused(name, format!("the key pair in {}: {e}", ctx.config.certs_dir.join(name).display())))?;
    if certs::exists(conn, &key.cert.fingerprint).await? {
        return Ok(false);
    }
    let list = certs::list_certs(conn, app.id).await?;
    let state = if !list.iter().any(|c| c.state == CertState::Current) {
        CertState::Current
    } else if !list.iter().any(|c| c.state == CertState::Next) {
        CertState::Next
    } else {
        warn!(app.name = %name, "the key pair in certs/{name}/ is not imported: a certificate is already staged for {name}; activate or replace it first");
        return Ok(false);
    };
    insert_with_key(ctx, conn, app, &key, state, now).await?;
    let detail = format!("{} imported from the certs directory as {}", key.cert.fingerprint, state.as_str());
    let event = Event::new(now, EventName::AdminAppImportKey, &Actor::System).target(name).app(name).detail(detail);
    events::insert_event(conn, &event).await?;
    info!(app.name = %name, "imported the key pair in certs/{name}/ as the {} certificate {}", state.as_str(), key.cert.fingerprint);
    Ok(true)
}

/// The private key and certificate of the application's current certificate, as PEM (key first), for a backup.
/// Recorded as an event.
pub async fn export_key(
    ctx: &Ctx,
    actor: &Actor,
    name: &str,
    now: DateTime<Utc>,
) -> Result<secrecy::SecretString, Error> {
    let mut conn = ctx.db.conn().await?;
    let app = crate::services::apps::load_saml(&mut conn, name).await?;
    let list = certs::list_certs(&mut conn, app.id).await?;
    let Some(current) = list.iter().find(|c| c.state == CertState::Current) else {
        return Err(Error::NoSigningKey { app: name.to_owned() });
    };
    let key =
        crate::services::keys::unseal(&ctx.secret, &mut conn, &app, &current.fingerprint, &current.cert_pem).await?;
    let key_pem = String::from_utf8(key.private_key_pem()?).map_err(|_| crate::secret::Error::Decrypt)?;
    let pem = secrecy::SecretString::from(format!("{key_pem}{}", current.cert_pem));
    let event =
        Event::new(now, EventName::AdminAppExportKey, actor).target(name).app(name).detail(&current.fingerprint);
    events::insert_event(&mut conn, &event).await?;
    Ok(pem)
}

/// The certificates a SAML application publishes, current first; a bookmark has none (`NotSaml`).
pub async fn certificates(ctx: &Ctx, name: &str) -> Result<Vec<Certificate>, Error> {
    let mut conn = ctx.db.conn().await?;
    let app = crate::services::apps::load_saml(&mut conn, name).await?;
    let certificates = published_certificates(&mut conn, &app).await?;
    if certificates.is_empty() {
        return Err(Error::NoSigningKey { app: name.to_owned() });
    }
    Ok(certificates)
}

/// The certificates an application publishes, as PEM (current first): the `certificate.pem` download.
pub async fn certificate_pem(ctx: &Ctx, name: &str) -> Result<String, Error> {
    certificates(ctx, name).await?.iter().map(|c| Ok(c.to_pem()?)).collect()
}

/// Moves certificates one step: previous → retired, current → previous, next → current. Returns the new current.
async fn activate_locked(conn: &mut Conn, app: &Application, list: &[CertInfo]) -> Result<String, Error> {
    let Some(next) = list.iter().find(|c| c.state == CertState::Next) else {
        return Err(refused(app.name.as_str(), "no certificate is staged".into()));
    };
    for c in list.iter().filter(|c| c.state == CertState::Previous) {
        certs::update_state_of(conn, app.id, &c.fingerprint, CertState::Retired).await?;
    }
    for c in list.iter().filter(|c| c.state == CertState::Current) {
        certs::update_state_of(conn, app.id, &c.fingerprint, CertState::Previous).await?;
    }
    certs::update_state_of(conn, app.id, &next.fingerprint, CertState::Current).await?;
    Ok(next.fingerprint.clone())
}

/// Locks a SAML application for a certificate change and loads it.
async fn lock(conn: &mut Conn, name: &str) -> Result<Application, Error> {
    if !apps::lock_app(conn, name).await? {
        return Err(Error::UnknownApp { name: name.to_owned() });
    }
    let app = apps::get_app(conn, name).await?;
    if !app.is_saml() {
        return Err(Error::NotSaml { name: name.to_owned() });
    }
    Ok(app)
}

fn expiry_message(not_after: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let days = (not_after - now).num_days();
    match days {
        _ if not_after <= now => format!("expired on {}", not_after.to_rfc3339()),
        0 => format!("expires within a day, on {}", not_after.to_rfc3339()),
        1 => format!("expires in 1 day, on {}", not_after.to_rfc3339()),
        _ => format!("expires in {days} days, on {}", not_after.to_rfc3339()),
    }
}

fn at_ms(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

fn short(c: &CertInfo) -> &str {
    c.fingerprint.get(..16).unwrap_or(&c.fingerprint)
}

fn refused(app: &str, reason: String) -> Error {
    Error::Certificate { app: app.to_owned(), reason }
}

fn host_of(base_url: &str) -> String {
    url::Url::parse(base_url).ok().and_then(|u| u.host_str().map(str::to_owned)).unwrap_or_default()
}
