//! sesame: a SAML 2.0 identity provider in one binary.
//!
//! Modules in reading order: the pure core (`saml`, `directory`, `mapping`, `audit`), the connector catalog
//! (`catalog`), storage (`store`), provisioning (`provisioning`), the use cases (`services`), and the edges (`web`,
//! `cli`). ARCHITECTURE.md has the map and its invariants.

pub mod audit;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod directory;
pub mod mail;
pub mod mapping;
pub mod provisioning;
pub mod saml;
pub mod secret;
pub mod services;
pub mod store;
pub mod web;

use std::time::Duration;

use anyhow::Context as _;
use chrono::Utc;
use tower_sessions::ExpiredDeletion;

use crate::config::Config;
use crate::services::Ctx;

/// Everything `serve` (and the tests) run: the services context, the router and the session store.
pub struct Server {
    pub ctx: Ctx,
    pub router: axum::Router,
    pub sessions: store::sessions::Store,
}

/// Opens the database (running migrations) and prepares directories; used by the admin commands, which try the
/// database once and fail with one line.
pub async fn open(config: Config) -> anyhow::Result<Ctx> {
    open_waiting(config, Duration::ZERO).await
}

/// `open`, trying again for up to `wait` while the database cannot be reached (it may be starting beside us), with
/// one log line per attempt.
async fn open_waiting(config: Config, wait: Duration) -> anyhow::Result<Ctx> {
    for dir in [&config.data_dir, &config.certs_dir] {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create directory {}", dir.display()))?;
    }
    // The data directory holds the database, the secret key and their journals: nobody else may list or read it.
    restrict(&config.data_dir)?;
    restrict(&config.certs_dir)?;
    // The connectors are compiled in; a broken entry is a build defect, refused before anything else runs.
    let catalog = catalog::Catalog::embedded().context("the built-in connector catalog is invalid")?;
    let url = config.database_url();
    let shown = config.database_url_for_log();
    let deadline = tokio::time::Instant::now() + wait;
    let mut pause = Duration::from_millis(250);
    let db = loop {
        let e = match store::Db::connect(&url).await {
            Ok(db) => break db,
            Err(e) => e,
        };
        // sqlx's messages already include their cause, so the first one says it all.
        let reason = match &e {
            store::Error::Database(inner) => inner.to_string(),
            other => other.to_string(),
        };
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if !e.is_unreachable() || wait.is_zero() {
            anyhow::bail!("cannot open database {shown}: {reason}");
        }
        if left.is_zero() {
            anyhow::bail!("cannot open database {shown}: gave up after {}s: {reason}", wait.as_secs());
        }
        tracing::warn!("waiting for the database at {shown}: {reason}");
        tokio::time::sleep(pause.min(left)).await;
        pause = (pause * 2).min(Duration::from_secs(5));
    };
    let ctx = Ctx::new(config, db, catalog)?;
    // Secrets sealed before they were bound to their records are sealed again, bound, by whichever process
    // opens the database first (each value is replaced only if unchanged, so processes may race).
    services::secrets::seal_unbound(&ctx).await?;
    Ok(ctx)
}

/// Prepares a server: checks that signature verification really works, registers `sp-metadata/`, imports key
/// files from the certs directory, makes sure every application has a signing key, and builds the router.
pub async fn build(config: Config) -> anyhow::Result<Server> {
    let now = Utc::now();
    tokio::task::spawn_blocking(move || saml::self_test(now))
        .await?
        .context("the SAML self-test failed: refusing to start with broken signature checks")?;
    let wait = Duration::from_secs(config.database_wait_secs);
    let ctx = open_waiting(config, wait).await?;
    let dir = ctx.config.sp_metadata_dir.clone();
    let imported = services::apps::create::import_sp_metadata_dir(&ctx, &dir, now).await?;
    if imported > 0 {
        tracing::info!("registered {imported} application(s) from {}", dir.display());
    }
    let imported = services::certs::import_key_files(&ctx, now).await?;
    if imported > 0 {
        tracing::info!("imported {imported} private key(s) from {} into the database", ctx.config.certs_dir.display());
    }
    services::certs::ensure_all_certificates(&ctx, now).await?;
    for names in services::users::duplicate_emails(&ctx).await? {
        tracing::warn!(
            "users {} share one e-mail address (compared without case); give each its own address",
            names.join(", ")
        );
    }
    let sessions =
        store::sessions::Store::connect(&ctx.config.database_url()).await.context("cannot open the session store")?;
    let router = web::router(web::AppState::new(ctx.clone()), sessions.clone());
    Ok(Server { ctx, router, sessions })
}

impl Server {
    /// Closes the database pools, for after the last request: connections end cleanly instead of being cut.
    pub async fn close(&self) {
        self.sessions.close().await;
        self.ctx.db.pool.close().await;
    }
}

/// The periodic clean-up task (`spawn_housekeeping`).
pub struct Housekeeping {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Housekeeping {
    /// Stops the task, letting a clean-up pass in progress finish.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// Periodic clean-up of expired sessions, replay-cache entries, parked requests, sign-in failure counters and events
/// past `event_retention_days`,
/// scheduled certificate activations and expiry warnings, and the refresh of SP metadata registered from a URL
/// (one replica at a time per application, by lease). Every replica runs it; the deletions are idempotent, and
/// the certificate steps lock the application and record each warning once, so replicas need not take turns.
pub fn spawn_housekeeping(server: &Server) -> Housekeeping {
    let ctx = server.ctx.clone();
    let sessions = server.sessions.clone();
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stopped.changed() => break,
            }
            if let Err(e) = sessions.delete_expired().await {
                tracing::warn!("could not delete expired sessions: {e}");
            }
            match ctx.db.conn().await {
                Ok(mut conn) => {
                    if let Err(e) = store::sso::purge_expired(&mut conn, Utc::now().timestamp_millis()).await {
                        tracing::warn!("could not purge the replay cache: {e}");
                    }
                }
                Err(e) => tracing::warn!("housekeeping: {e}"),
            }
            match services::events::purge_expired(&ctx, Utc::now()).await {
                Ok(0) => {}
                Ok(n) => tracing::info!("purged {n} event(s) past the retention period"),
                Err(e) => tracing::warn!("could not purge old events: {e}"),
            }
            if let Err(e) = services::throttle::purge_expired(&ctx, Utc::now()).await {
                tracing::warn!("could not purge sign-in failure counters: {e}");
            }
            if let Err(e) = services::webauthn::purge_expired(&ctx, Utc::now()).await {
                tracing::warn!("could not purge expired WebAuthn ceremonies: {e}");
            }
            services::certs::housekeeping(&ctx, Utc::now()).await;
            services::apps::refresh::housekeeping(&ctx, Utc::now()).await;
            services::slo::housekeeping(&ctx, Utc::now()).await;
        }
    });
    Housekeeping { stop, task }
}

/// How often `serve` looks at the reconciliation schedule; each integration is reconciled on its own interval
/// (`services::idm::schedule_reconciliations`), to within this much.
const RECONCILE_LOOK: Duration = Duration::from_secs(30);

/// The reconciliation schedule of `serve`: every `RECONCILE_LOOK`, asks `services::idm::schedule_reconciliations`
/// with the current time for the integrations whose own interval has passed. Replicas may all do this: each due
/// reconciliation is claimed once, and one worker claims its job.
pub fn spawn_reconciler(ctx: &Ctx, mut shutdown: tokio::sync::watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
    let ctx = ctx.clone();
    tokio::spawn(async move {
        let period = RECONCILE_LOOK.min(Duration::from_secs(ctx.config.reconcile_interval_secs.max(1)));
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        loop {
            tokio::select! {
                _ = tick.tick() => {},
                _ = shutdown.changed() => return,
            }
            if let Err(e) = services::idm::schedule_reconciliations(&ctx, Utc::now()).await {
                tracing::warn!("could not schedule reconciliation: {e}");
            }
        }
    })
}

/// The provisioning workers and the reconciliation schedule of `serve` (`spawn_provisioning`).
pub struct Provisioning {
    stop: tokio::sync::watch::Sender<bool>,
    workers: tokio::task::JoinHandle<()>,
    reconciler: tokio::task::JoinHandle<()>,
}

impl Provisioning {
    /// Stops claiming jobs and waits for each worker to finish the job it holds. A replica that dies instead
    /// leaves its jobs claimed until their lease (`provisioning_lease_secs`) expires; then another replica runs them.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.reconciler.await;
        let _ = self.workers.await;
    }
}

/// Starts `provisioning_workers` worker loops and the reconciliation schedule. Every replica runs them: a job is
/// claimed by one worker at a time (`FOR UPDATE SKIP LOCKED` on PostgreSQL) for the length of its lease.
pub fn spawn_provisioning(server: &Server) -> Provisioning {
    let ctx = &server.ctx;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let workers = usize::try_from(ctx.config.provisioning_workers).unwrap_or(1);
    let workers = tokio::spawn(ctx.worker.clone().run(workers, stopped.clone()));
    let reconciler = spawn_reconciler(ctx, stopped);
    Provisioning { stop, workers, reconciler }
}

/// The mail worker (`mail::Mailer::spawn`); it returns at once when no SMTP server is configured.
pub struct MailWorker {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl MailWorker {
    /// Stops the worker, letting a mail being sent finish.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

pub fn spawn_mail(server: &Server) -> MailWorker {
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let task = server.ctx.mailer.spawn(stopped);
    MailWorker { stop, task }
}

fn restrict(dir: &std::path::Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("cannot restrict permissions of {}", dir.display()))
}

/// Entry points for the fuzz targets (`fuzz/`) and their replay on stable (`tests/fuzz_corpus.rs`). Each takes bytes
/// from outside and runs them through the same decoding, verification, parsing and checks as production (the steps
/// of `services::inbound::receive` without its database, metadata import and refresh, the SCIM client's reading of
/// an SP's answers, settings files); whatever the bytes, it must return, never panic. Not an API.
#[doc(hidden)]
pub mod fuzzing {
    use chrono::{DateTime, Duration, TimeZone, Utc};

    use crate::directory::application::SpSettings;
    use crate::provisioning::scim;
    use crate::saml::authn_request::{self, Freshness, SpPolicy};
    use crate::saml::binding::{self, Received};
    use crate::saml::keys::Certificate;
    use crate::saml::{logout, metadata, response::PROTOCOL_NS};
    use crate::services::apps::sp_metadata::{checked_metadata, merge, SettingsFile};

    /// The IdP endpoints the seeds are addressed to: application `acme` on `http://idp.test`.
    pub const SSO_URL: &str = "http://idp.test/saml2/acme";
    pub const SLO_URL: &str = "http://idp.test/saml2/acme/slo";

    /// The instant the seeds were issued at, taken as now, so that a seed passes the freshness checks.
    pub fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).single().unwrap_or_default()
    }

    /// The SP the targets receive messages from: an application registered from its metadata, as an import does.
    pub struct Peer {
        sp: SpSettings,
        certs: Vec<Certificate>,
    }

    impl Peer {
        pub fn from_metadata(xml: &str) -> Result<Self, crate::services::Error> {
            let metadata = crate::saml::metadata::parse_sp_metadata(xml)?;
            let sp = merge(&metadata, &SettingsFile::default(), None, None)?;
            Ok(Self { sp, certs: metadata.signing_certificates })
        }
    }

    /// An HTTP-Redirect query string (without `?`) carrying `SAMLRequest` or `SAMLResponse`.
    ///
    /// Each entry function returns whether the input passed every check with a verified signature (or, for SCIM
    /// answers and settings, was read without error), which the replay test asserts for its well-formed seeds.
    pub fn redirect(peer: &Peer, data: &[u8]) -> bool {
        let Ok(query) = std::str::from_utf8(data) else { return false };
        let mut accepted = false;
        if let Ok(received) = binding::decode_redirect_message(query, "SAMLRequest") {
            accepted |= receive(peer, &received, "AuthnRequest");
            accepted |= receive(peer, &received, "LogoutRequest");
        }
        if let Ok(received) = binding::decode_redirect_message(query, "SAMLResponse") {
            accepted |= receive(peer, &received, "LogoutResponse");
        }
        accepted
    }

    /// An HTTP-POST AuthnRequest: the XML document (and the same bytes as the base64 form field).
    pub fn post_authn_request(peer: &Peer, data: &[u8]) -> bool {
        post(peer, data, &["AuthnRequest"])
    }

    /// An HTTP-POST LogoutRequest or LogoutResponse: the XML document (and the same bytes as the form field).
    pub fn logout(peer: &Peer, data: &[u8]) -> bool {
        post(peer, data, &["LogoutRequest", "LogoutResponse"])
    }

    /// SP metadata, read as an unsigned import and as one that must be signed by the peer's certificate, then
    /// merged into new and into existing settings, and scheduled for its next refresh.
    pub fn sp_metadata(peer: &Peer, data: &[u8]) -> bool {
        let Ok(xml) = std::str::from_utf8(data) else { return false };
        let mut accepted = false;
        let mut signed = peer.sp.clone();
        signed.metadata_signing_certificate = peer.certs.first().and_then(|c| c.to_pem().ok()).unwrap_or_default();
        for settings in [&SpSettings::default(), &signed] {
            let Ok(md) = checked_metadata(xml, settings) else { continue };
            let merged = merge(&md, &SettingsFile::default(), None, Some("https://sp.example.com/metadata"));
            let updated = merge(&md, &SettingsFile::default(), Some(&peer.sp), None);
            let hour = Duration::hours(1);
            metadata::next_refresh(now(), md.cache_duration, md.valid_until, hour * 24, hour, hour * 24 * 7);
            let is_signed = !settings.metadata_signing_certificate.is_empty();
            accepted |= is_signed && merged.is_ok() && updated.is_ok();
        }
        accepted
    }

    /// A SCIM service's answer: the first byte picks the status, the bytes up to the first newline are the
    /// `Retry-After` value, the rest is the body (a resource, a ListResponse, an error, a ServiceProviderConfig).
    pub fn scim_response(data: &[u8]) -> bool {
        const STATUSES: [u16; 10] = [200, 201, 204, 400, 401, 404, 409, 429, 500, 503];
        let Some((first, rest)) = data.split_first() else { return false };
        let code = STATUSES.get(usize::from(*first) % STATUSES.len()).copied().unwrap_or(200);
        let Ok(status) = reqwest::StatusCode::from_u16(code) else { return false };
        let (header, body) = match rest.iter().position(|b| *b == b'\n') {
            Some(i) => (rest.get(..i).unwrap_or_default(), rest.get(i + 1..).unwrap_or_default()),
            None => (&[][..], rest),
        };
        let retry_after = std::str::from_utf8(header).ok().and_then(|h| scim::retry_after(h, now()));
        let Ok(value) = scim::reply(status, body, retry_after) else { return false };
        let mapping = crate::mapping::UserMapping::default();
        let user = crate::directory::User {
            id: crate::directory::UserId(1),
            username: "alice".into(),
            profile: crate::directory::user::Profile {
                email: "alice@example.com".into(),
                display_name: "Alice".into(),
                ..Default::default()
            },
            status: crate::directory::user::UserStatus::Active,
        };
        scim::patch_supported(&value);
        let page = scim::user_page(&value);
        for remote in page.items.iter().chain(std::iter::once(&scim::remote_user(&value))) {
            mapping.differs(&user, &remote.raw);
            crate::mapping::values_by_path(&remote.raw);
        }
        for resource in scim::resources(&value) {
            scim::remote_group(&resource);
        }
        scim::remote_group(&value);
        true
    }

    /// A settings file: an application's (merged over the peer's metadata) and the server's.
    pub fn settings(peer: &Peer, data: &[u8]) -> bool {
        let Ok(text) = std::str::from_utf8(data) else { return false };
        let mut accepted = false;
        if let Ok(settings) = SettingsFile::parse(text) {
            let metadata = crate::saml::metadata::SpMetadata {
                entity_id: peer.sp.entity_id.clone(),
                acs: peer.sp.acs.clone(),
                signing_certificates: peer.certs.clone(),
                encryption_certificates: Vec::new(),
                name_id_formats: Vec::new(),
                authn_requests_signed: false,
                want_assertions_signed: false,
                single_logout: peer.sp.slo.clone(),
                valid_until: None,
                cache_duration: None,
                requested_attributes: peer.sp.requested_attributes.clone(),
            };
            let created = merge(&metadata, &settings, None, None);
            let updated = merge(&metadata, &settings, Some(&peer.sp), None);
            accepted |= created.is_ok() && updated.is_ok();
        }
        accepted | crate::config::Config::from_toml(text).is_ok()
    }

    fn post(peer: &Peer, data: &[u8], roots: &[&'static str]) -> bool {
        let Ok(text) = std::str::from_utf8(data) else { return false };
        let as_xml = Received { xml: text.to_owned(), relay_state: None, redirect_signature: None };
        let as_field = binding::decode_post(text.trim(), None);
        let mut accepted = false;
        for received in std::iter::once(&as_xml).chain(as_field.as_ref().ok()) {
            for root in roots {
                accepted |= receive(peer, received, root);
            }
        }
        accepted
    }

    /// `services::inbound::check` without the database: verify as the application would (the peer's certificates),
    /// parse what was verified and check it; when verification fails, parse the unverified bytes too, as an
    /// application without certificates would.
    fn receive(peer: &Peer, received: &Received, root: &'static str) -> bool {
        let verified = verify(peer, received, root);
        let accepted = verified.as_ref().is_some_and(|(xml, _)| check(peer, xml, true, root));
        check(peer, &received.xml, false, root);
        accepted
    }

    fn verify(peer: &Peer, received: &Received, root: &'static str) -> Option<(String, bool)> {
        authn_request::precheck(&received.xml).ok()?;
        if let Some(signature) = &received.redirect_signature {
            binding::verify_redirect_signature(signature, &peer.certs, false).ok()?;
            return Some((received.xml.clone(), true));
        }
        if !authn_request::has_enveloped_signature(&received.xml).ok()? {
            return None;
        }
        authn_request::verify_root_signature(&received.xml, &peer.certs, false, PROTOCOL_NS, root)
            .ok()
            .map(|signed| (signed, true))
    }

    /// Whether the message parses and passes the checks `services::inbound` applies.
    fn check(peer: &Peer, xml: &str, is_signed: bool, root: &'static str) -> bool {
        let time = Freshness { now: now(), clock_skew: Duration::minutes(3), max_age: Duration::minutes(10) };
        let sp = &peer.sp;
        match root {
            "AuthnRequest" => {
                let Ok(request) = authn_request::parse(xml, is_signed) else { return false };
                let policy = SpPolicy {
                    entity_id: &sp.entity_id,
                    acs: &sp.acs,
                    require_signed: sp.require_signed_requests,
                    sso_url: SSO_URL,
                    name_id_format: sp.name_id_format,
                    allowed_name_id_formats: &sp.allowed_name_id_formats,
                };
                let Ok(valid) = authn_request::validate(&request, &policy, time) else { return false };
                authn_request::choose_authn_context(
                    valid.requested_authn_context.as_ref(),
                    authn_request::authn_class::PASSWORD_PROTECTED_TRANSPORT,
                );
                true
            }
            "LogoutRequest" => logout::parse_logout_request(xml, is_signed)
                .is_ok_and(|r| logout::validate_logout_request(&r, &sp.entity_id, true, SLO_URL, time).is_ok()),
            _ => logout::parse_logout_response(xml, is_signed).is_ok_and(|r| {
                r.issuer == sp.entity_id && r.destination.as_deref().is_none_or(|d| authn_request::same_url(d, SLO_URL))
            }),
        }
    }
}
