//! SP metadata registered from a URL, fetched again periodically so an SP's new ACS URLs and certificates (an SP
//! rotating its key) reach us without an admin.
//!
//! The last good copy stays in use when a fetch fails, the document is invalid, its `validUntil` has passed, its
//! signature does not verify (when a metadata-signing certificate is configured) or it describes another entity.
//! A refresh merges like a re-import, so it never relaxes a requirement: signed requests stay required once
//! required. Changes found and failures are events (`sp_metadata_refresh`); an unchanged document records none.
//!
//! Metadata is read over https, or over http only when it must be signed by the application's metadata-signing
//! certificate (or from a loopback host); a redirect from https to http is never followed. A document that names
//! a new ACS host (scheme, host and port not among the current ACS URLs) cannot redirect assertions by itself:
//! its ACS URLs are held for an administrator's approval (`approve_held`, the console's SSO tab) while its other
//! changes apply; the hold is a failed `sp_metadata_refresh` event ("held for an administrator's approval"), and
//! approving or rejecting it is one more `sp_metadata_refresh` event with the administrator as actor.
//!
//! Housekeeping runs on every replica; a lease row (`sp_metadata_sources.locked_until`) lets one replica at a
//! time refresh an application.

use chrono::{DateTime, Duration, Utc};
use tracing::{info, warn};

use crate::audit::{Actor, Event, EventName};
use crate::directory::application::SpSettings;
use crate::directory::{AppId, Application};
use crate::saml::keys::Certificate;
use crate::saml::metadata::{next_refresh, SpMetadata};
use crate::services::apps::sp_metadata::{self, checked_metadata, SettingsFile};
use crate::services::{millis, Ctx, Error};
use crate::store::apps::{self, AppRecord};
use crate::store::{events, metadata_sources};

/// How long a replica may take to refresh one application before another may try (fetches time out at 20 s).
const LEASE: Duration = Duration::minutes(2);
/// Applications refreshed per housekeeping pass at most; the rest wait for the next pass.
const PER_PASS: usize = 16;

/// What a refresh found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The document was accepted and changed these things (ACS URLs, certificates, endpoints).
    Changed(Vec<String>),
    /// The document was accepted and nothing we use changed.
    Unchanged,
    /// The last good copy stays in use, for this reason.
    Failed(String),
}

#[derive(Debug, Clone)]
pub struct Refreshed {
    pub app: String,
    pub outcome: Outcome,
    pub next_refresh: DateTime<Utc>,
}

/// Refreshes the applications whose metadata is due (housekeeping).
pub async fn refresh_due(ctx: &Ctx, now: DateTime<Utc>) -> Result<Vec<Refreshed>, Error> {
    let mut done = Vec::new();
    while done.len() < PER_PASS {
        let claimed =
            metadata_sources::claim_due(&mut *ctx.db.conn().await?, millis(now), LEASE.num_milliseconds()).await?;
        let Some((app, url)) = claimed else { break };
        done.push(refresh_claimed(ctx, app, &url, &Actor::System, now).await?);
    }
    Ok(done)
}

/// Refreshes one application now, due or not (`sesame app refresh-metadata APP`).
pub async fn refresh_now(ctx: &Ctx, actor: &Actor, name: &str, now: DateTime<Utc>) -> Result<Refreshed, Error> {
    let mut conn = ctx.db.conn().await?;
    let app = apps::find_app(&mut conn, name).await?.ok_or_else(|| Error::UnknownApp { name: name.to_owned() })?;
    if metadata_sources::find_source(&mut conn, app.id).await?.is_none() {
        return Err(Error::NotFound { what: "metadata URL of application", name: name.to_owned() });
    }
    let Some(url) = metadata_sources::claim_app(&mut conn, app.id, millis(now), LEASE.num_milliseconds()).await? else {
        return Err(Error::Conflict { what: "metadata refresh of application", name: name.to_owned() });
    };
    drop(conn);
    refresh_claimed(ctx, app.id, &url, actor, now).await
}

/// One housekeeping pass; failures are logged, not returned.
pub async fn housekeeping(ctx: &Ctx, now: DateTime<Utc>) {
    if let Err(e) = refresh_due(ctx, now).await {
        warn!("could not refresh SP metadata: {e}");
    }
}

async fn refresh_claimed(
    ctx: &Ctx,
    app_id: AppId,
    url: &str,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Refreshed, Error> {
    let app = apps::get_app_by_id(&mut *ctx.db.conn().await?, app_id).await?;
    let name = app.name.to_string();
    let checked = match fetch_and_check(&app, url, now).await {
        Ok((document, metadata)) => apply(ctx, &name, &document, &metadata, actor, now).await?,
        Err(reason) => Err(reason),
    };
    let config = &ctx.config;
    let secs = |s: u64| Duration::seconds(i64::try_from(s).unwrap_or(i64::MAX / 2_000));
    let (default, min, max) = (
        secs(config.metadata_refresh_secs),
        secs(config.metadata_refresh_min_secs),
        secs(config.metadata_refresh_max_secs),
    );
    match checked {
        Ok((outcome, next)) => Ok(Refreshed { app: name, outcome, next_refresh: next }),
        Err(reason) => {
            // A failure is tried again within the hour (or the default interval, if shorter).
            let next = next_refresh(now, None, None, default.min(Duration::hours(1)), min, max);
            let mut tx = ctx.db.begin().await?;
            // Administrators are mailed when a source that worked starts failing, not at every retry.
            let was_failing =
                metadata_sources::find_source(&mut tx, app_id).await?.is_some_and(|s| !s.last_error.is_empty());
            metadata_sources::finish_refresh(&mut tx, app_id, None, &reason, millis(next), millis(now)).await?;
            let mailed = if was_failing {
                0
            } else {
                let headline = format!("The SP metadata of {name} could not be refreshed");
                let detail = format!("{reason}. The last good copy stays in use; sesame tries again within the hour.");
                crate::services::mail::metadata_notice(ctx, &mut tx, &name, url, &headline, &detail).await?
            };
            let event = Event::new(now, EventName::SpMetadataRefresh, actor)
                .target(url)
                .app(&name)
                .failed(format!("{reason}; the last good copy stays in use"));
            events::insert_event(&mut tx, &event).await?;
            tx.commit().await.map_err(crate::store::Error::from)?;
            if mailed > 0 {
                ctx.mailer.wake();
            }
            warn!(app.name = %name, "SP metadata of {name} from {url} not refreshed: {reason}");
            Ok(Refreshed { app: name, outcome: Outcome::Failed(reason), next_refresh: next })
        }
    }
}

/// Merges an accepted document into the application (under its lock) and records what changed. The inner error
/// is a refusal (the merged settings are invalid), which keeps the last good copy like a failed fetch.
async fn apply(
    ctx: &Ctx,
    name: &str,
    document: &str,
    metadata: &SpMetadata,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Result<(Outcome, DateTime<Utc>), String>, Error> {
    let mut tx = ctx.db.begin().await?;
    apps::lock_app(&mut tx, name).await?;
    let app = apps::get_app(&mut tx, name).await?;
    let mut sp = match sp_metadata::merge(metadata, &SettingsFile::default(), Some(&app.sp), None) {
        Ok(sp) => sp,
        Err(e) => return Ok(Err(e.to_string())),
    };
    let source = metadata_sources::find_source(&mut tx, app.id).await?;
    let held = new_acs_hosts(&app.sp, &sp);
    let mut held_changes = Vec::new();
    if !held.is_empty() {
        let old: Vec<&str> = app.sp.acs.iter().map(|a| a.url.as_str()).collect();
        let new: Vec<&str> = sp.acs.iter().map(|a| a.url.as_str()).collect();
        list_changes(&mut held_changes, "ACS URL", &old, &new);
        sp.acs = app.sp.acs.clone();
    }
    let is_new_hold = match source {
        Some(_) => metadata_sources::set_held(&mut tx, app.id, if held.is_empty() { "" } else { document }).await?,
        None => false,
    };
    let mut changes = differences(&app.sp, &sp);
    if !held.is_empty() {
        let text =
            format!("ACS host {} held for an administrator's approval: {}", held.join(", "), held_changes.join("; "));
        if is_new_hold {
            let event = Event::new(now, EventName::SpMetadataRefresh, actor)
                .target(&app.sp.metadata_url)
                .app(name)
                .failed(text.clone());
            events::insert_event(&mut tx, &event).await?;
            let headline = format!("A change of {name}'s ACS host waits for your approval");
            let detail = format!(
                "{text}. Assertions keep going to the current ACS URLs until an administrator approves the change \
                 on the application's page (or rejects it)."
            );
            crate::services::mail::metadata_notice(ctx, &mut tx, name, &app.sp.metadata_url, &headline, &detail)
                .await?;
            warn!(app.name = %name, "SP metadata of {name}: {text}");
        }
        changes.push(text);
    }
    if sp != app.sp {
        apps::update_app(&mut tx, app.id, &record(&app, &sp), millis(now)).await?;
    }
    let applied: Vec<&String> = changes.iter().filter(|c| !c.starts_with("ACS host ")).collect();
    if !applied.is_empty() {
        let applied: Vec<&str> = applied.iter().map(|c| c.as_str()).collect();
        let event = Event::new(now, EventName::SpMetadataRefresh, actor)
            .target(&app.sp.metadata_url)
            .app(name)
            .detail(applied.join("; "));
        events::insert_event(&mut tx, &event).await?;
    }
    let config = &ctx.config;
    let secs = |s: u64| Duration::seconds(i64::try_from(s).unwrap_or(i64::MAX / 2_000));
    let next = next_refresh(
        now,
        metadata.cache_duration,
        metadata.valid_until,
        secs(config.metadata_refresh_secs),
        secs(config.metadata_refresh_min_secs),
        secs(config.metadata_refresh_max_secs),
    );
    metadata_sources::finish_refresh(&mut tx, app.id, Some(document), "", millis(next), millis(now)).await?;
    tx.commit().await.map_err(crate::store::Error::from)?;
    // A held ACS change may have queued a notice.
    ctx.mailer.wake();
    if changes.is_empty() {
        return Ok(Ok((Outcome::Unchanged, next)));
    }
    info!(app.name = %name, "SP metadata of {name} refreshed: {}", changes.join("; "));
    Ok(Ok((Outcome::Changed(changes), next)))
}

/// Fetches and checks a document; `Err` is the reason to keep the last good copy.
async fn fetch_and_check(app: &Application, url: &str, now: DateTime<Utc>) -> Result<(String, SpMetadata), String> {
    sp_metadata::check_metadata_url(url, !app.sp.metadata_signing_certificate.is_empty())?;
    let document = sp_metadata::fetch_url(url).await.map_err(|e| format!("fetching {url} failed: {e}"))?;
    let metadata = checked_metadata(&document, &app.sp).map_err(|e| match e {
        Error::MetadataSignature { .. } => e.to_string(),
        _ => format!("the document is invalid: {e}"),
    })?;
    if let Some(until) = metadata.valid_until.filter(|until| *until <= now) {
        return Err(format!("the document expired at {} (validUntil)", until.to_rfc3339()));
    }
    if metadata.entity_id != app.sp.entity_id {
        return Err(format!(
            "the document describes entity {}, not the application's SP {}",
            metadata.entity_id, app.sp.entity_id
        ));
    }
    Ok((document, metadata))
}
/// The ACS origins (scheme, host and port) of `new` that `old` does not have.
fn new_acs_hosts(old: &SpSettings, new: &SpSettings) -> Vec<String> {
    let origin = |u: &str| url::Url::parse(u).map(|u| u.origin().ascii_serialization()).unwrap_or_else(|_| u.into());
    let known: Vec<String> = old.acs.iter().map(|a| origin(&a.url)).collect();
    let mut added: Vec<String> = new.acs.iter().map(|a| origin(&a.url)).filter(|o| !known.contains(o)).collect();
    added.sort_unstable();
    added.dedup();
    added
}

/// Applies the ACS URLs of the document held for approval (the console's SSO tab); returns the changes made.
/// The held document is checked again (signature, entity) against the application as it is now.
pub async fn approve_held(ctx: &Ctx, actor: &Actor, name: &str, now: DateTime<Utc>) -> Result<Vec<String>, Error> {
    let mut tx = ctx.db.begin().await?;
    apps::lock_app(&mut tx, name).await?;
    let app = apps::get_app(&mut tx, name).await?;
    let document = held_document(&mut tx, &app).await?;
    let metadata = checked_metadata(&document, &app.sp)?;
    if metadata.entity_id != app.sp.entity_id {
        return Err(Error::Settings { reason: "the held document describes another entity".into() });
    }
    let mut sp = app.sp.clone();
    sp.acs = metadata.acs;
    crate::directory::application::check_settings(&sp)?;
    let changes = differences(&app.sp, &sp);
    apps::update_app(&mut tx, app.id, &record(&app, &sp), millis(now)).await?;
    metadata_sources::set_held(&mut tx, app.id, "").await?;
    let event = Event::new(now, EventName::SpMetadataRefresh, actor)
        .target(&app.sp.metadata_url)
        .app(name)
        .detail(format!("held ACS change approved: {}", changes.join("; ")));
    events::insert_event(&mut tx, &event).await?;
    tx.commit().await.map_err(crate::store::Error::from)?;
    Ok(changes)
}

/// Drops the document held for approval; the current ACS URLs stay (a later refresh that still names the new host
/// holds it again).
pub async fn reject_held(ctx: &Ctx, actor: &Actor, name: &str, now: DateTime<Utc>) -> Result<(), Error> {
    let mut tx = ctx.db.begin().await?;
    apps::lock_app(&mut tx, name).await?;
    let app = apps::get_app(&mut tx, name).await?;
    held_document(&mut tx, &app).await?;
    metadata_sources::set_held(&mut tx, app.id, "").await?;
    let event = Event::new(now, EventName::SpMetadataRefresh, actor)
        .target(&app.sp.metadata_url)
        .app(name)
        .detail("held ACS change rejected; the current ACS URLs stay".to_owned());
    events::insert_event(&mut tx, &event).await?;
    tx.commit().await.map_err(crate::store::Error::from)?;
    Ok(())
}

async fn held_document(conn: &mut crate::store::Conn, app: &Application) -> Result<String, Error> {
    metadata_sources::find_source(conn, app.id)
        .await?
        .map(|s| s.held_document)
        .filter(|d| !d.is_empty())
        .ok_or_else(|| Error::NotFound { what: "held ACS change of application", name: app.name.to_string() })
}

/// What changed between two settings, in words for the event log.
pub fn differences(old: &SpSettings, new: &SpSettings) -> Vec<String> {
    let mut changes = Vec::new();
    let old_acs: Vec<&str> = old.acs.iter().map(|a| a.url.as_str()).collect();
    let new_acs: Vec<&str> = new.acs.iter().map(|a| a.url.as_str()).collect();
    list_changes(&mut changes, "ACS URL", &old_acs, &new_acs);
    // One line per location, whatever bindings it serves.
    let mut old_slo: Vec<&str> = old.slo.iter().map(|e| e.location.as_str()).collect();
    let mut new_slo: Vec<&str> = new.slo.iter().map(|e| e.location.as_str()).collect();
    for list in [&mut old_slo, &mut new_slo] {
        list.sort_unstable();
        list.dedup();
    }
    list_changes(&mut changes, "SLO endpoint", &old_slo, &new_slo);
    let fingerprints = |pems: &[String]| -> Vec<String> {
        pems.iter()
            .map(|p| Certificate::from_pem(p.as_bytes()).map(|c| c.fingerprint).unwrap_or_else(|_| "unreadable".into()))
            .collect()
    };
    for (what, old, new) in [
        ("SP signing certificate", &old.signing_certificates, &new.signing_certificates),
        ("SP encryption certificate", &old.encryption_certificates, &new.encryption_certificates),
    ] {
        let (old, new) = (fingerprints(old), fingerprints(new));
        let old: Vec<&str> = old.iter().map(String::as_str).collect();
        let new: Vec<&str> = new.iter().map(String::as_str).collect();
        list_changes(&mut changes, what, &old, &new);
    }
    if new.require_signed_requests && !old.require_signed_requests {
        changes.push("signed AuthnRequests now required".into());
    }
    changes
}

fn list_changes(out: &mut Vec<String>, what: &str, old: &[&str], new: &[&str]) {
    for added in new.iter().filter(|v| !old.contains(v)) {
        out.push(format!("{what} added: {added}"));
    }
    for removed in old.iter().filter(|v| !new.contains(v)) {
        out.push(format!("{what} removed: {removed}"));
    }
}

fn record<'a>(app: &'a Application, sp: &'a SpSettings) -> AppRecord<'a> {
    AppRecord {
        display_label: &app.display_label,
        description: &app.description,
        show_in_portal: app.show_in_portal,
        kind: app.kind,
        bookmark_url: app.bookmark_url.as_deref(),
        is_active: app.is_active,
        sp,
    }
}
