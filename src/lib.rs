//! sesame: a SAML 2.0 identity provider in one binary.
//!
//! Modules in reading order: the pure core (`saml`, `directory`, `audit`), the connector catalog (`catalog`),
//! storage (`store`), the use cases (`services`), and the edges (`web`, `cli`). ARCHITECTURE.md has the map and
//! its invariants.

pub mod audit;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod directory;
pub mod saml;
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
    pub sessions: web::sessions::Store,
}

/// Opens the database (running migrations) and prepares directories; used by `serve` and the admin commands.
pub async fn open(config: Config) -> anyhow::Result<Ctx> {
    for dir in [&config.data_dir, &config.certs_dir] {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create directory {}", dir.display()))?;
    }
    restrict(&config.certs_dir)?;
    // The connectors are compiled in; a broken entry is a build defect, refused before anything else runs.
    let catalog = catalog::Catalog::embedded().context("the built-in connector catalog is invalid")?;
    let url = config.database_url();
    let db = store::Db::connect(&url)
        .await
        .with_context(|| format!("cannot open database {}", config.database_url_for_log()))?;
    Ok(Ctx::new(config, db, catalog))
}

/// Prepares a server: checks that signature verification really works, registers `sp-metadata/`, makes sure
/// every application has a signing key, and builds the router.
pub async fn build(config: Config) -> anyhow::Result<Server> {
    let now = Utc::now();
    tokio::task::spawn_blocking(move || saml::self_test(now))
        .await?
        .context("the SAML self-test failed: refusing to start with broken signature checks")?;
    let ctx = open(config).await?;
    let dir = ctx.config.sp_metadata_dir.clone();
    let imported = services::admin::import_sp_metadata_dir(&ctx, &dir, now).await?;
    if imported > 0 {
        tracing::info!("registered {imported} application(s) from {}", dir.display());
    }
    services::admin::ensure_all_certificates(&ctx, now).await?;
    let sessions =
        web::sessions::Store::connect(&ctx.config.database_url()).await.context("cannot open the session store")?;
    let router = web::router(web::AppState { ctx: ctx.clone() }, sessions.clone());
    Ok(Server { ctx, router, sessions })
}

/// Periodic clean-up of expired sessions, replay-cache entries and parked requests.
pub fn spawn_housekeeping(server: &Server) -> tokio::task::JoinHandle<()> {
    let ctx = server.ctx.clone();
    let sessions = server.sessions.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
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
        }
    })
}

fn restrict(dir: &std::path::Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("cannot restrict permissions of {}", dir.display()))
}
