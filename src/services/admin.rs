//! Administrative changes (users, groups, applications, bindings, certificates) and what admins look up.
//! Each change commits together with its event.

use std::path::Path;

use chrono::{DateTime, Utc};
use tracing::warn;

use crate::audit::{Actor, Event, EventFilter, EventName};
use crate::directory::user::{check_user, Profile};
use crate::directory::{check_name, AppKind, AppName, Application, Group, User, UserStatus};
use crate::provisioning;
use crate::saml::keys::{Certificate, SigningKey};
use crate::saml::metadata::{idp_metadata, IdpMetadata};
use crate::saml::NameIdFormat;
use crate::services::sp_import::{self, SettingsFile};
use crate::services::{millis, published_certificates, Ctx, Error};
use crate::store::apps::{self, AppRecord};
use crate::store::certs::{self, CertState};
use crate::store::{events, groups, idm, users, Conn};

pub async fn create_user(
    ctx: &Ctx,
    actor: &Actor,
    username: &str,
    profile: Profile,
    password: Option<String>,
    now: DateTime<Utc>,
) -> Result<User, Error> {
    check_user(username, &profile)?;
    let hash = match password {
        Some(p) if p.is_empty() => return Err(crate::directory::Invalid::new("password", "must not be empty").into()),
        Some(p) => Some(crate::services::login::hash_password(p).await?),
        None => None,
    };
    let mut tx = ctx.db.begin().await?;
    let id = users::insert_user(&mut tx, username, &profile, hash.as_deref(), millis(now))
        .await
        .map_err(named("user", username))?;
    events::insert_event(&mut tx, &Event::new(now, EventName::AdminUserCreate, actor).target(username).user(username))
        .await?;
    let user = users::get_user(&mut tx, id).await?;
    tx.commit().await.map_err(crate::store::Error::from)?;
    Ok(user)
}

pub async fn suspend_user(ctx: &Ctx, actor: &Actor, username: &str, now: DateTime<Utc>) -> Result<(), Error> {
    let mut tx = ctx.db.begin().await?;
    let user = users::get_user_by_username(&mut tx, username).await.map_err(named("user", username))?;
    users::update_status(&mut tx, user.id, UserStatus::Suspended, millis(now)).await?;
    provisioning::enqueue_user_change(&mut tx, user.id, millis(now)).await?;
    events::insert_event(&mut tx, &Event::new(now, EventName::AdminUserSuspend, actor).target(username).user(username))
        .await?;
    tx.commit().await.map_err(crate::store::Error::from)?;
    Ok(())
}

pub async fn delete_user(ctx: &Ctx, actor: &Actor, username: &str, now: DateTime<Utc>) -> Result<(), Error> {
    let mut tx = ctx.db.begin().await?;
    let user = users::get_user_by_username(&mut tx, username).await.map_err(named("user", username))?;
    // Jobs first: they must know which apps the user was provisioned to, which the deletion forgets.
    provisioning::enqueue_user_change(&mut tx, user.id, millis(now)).await?;
    users::delete_user(&mut tx, user.id).await?;
    events::insert_event(&mut tx, &Event::new(now, EventName::AdminUserDelete, actor).target(username).user(username))
        .await?;
    tx.commit().await.map_err(crate::store::Error::from)?;
    Ok(())
}

pub async fn find_user(ctx: &Ctx, username: &str) -> Result<User, Error> {
    let mut conn = ctx.db.conn().await?;
    users::get_user_by_username(&mut conn, username).await.map_err(named("user", username))
}

/// Rewrites a user's profile; the SPs the user is provisioned to receive the change.
pub async fn update_user(
    ctx: &Ctx,
    actor: &Actor,
    username: &str,
    profile: Profile,
    now: DateTime<Utc>,
) -> Result<User, Error> {
    check_user(username, &profile)?;
    let mut tx = ctx.db.begin().await?;
    let user = users::get_user_by_username(&mut tx, username).await.map_err(named("user", username))?;
    users::update_profile(&mut tx, user.id, &profile, millis(now)).await?;
    provisioning::enqueue_user_change(&mut tx, user.id, millis(now)).await?;
    events::insert_event(&mut tx, &Event::new(now, EventName::AdminUserUpdate, actor).target(username).user(username))
        .await?;
    let user = users::get_user(&mut tx, user.id).await?;
    tx.commit().await.map_err(crate::store::Error::from)?;
    ctx.worker.wake();
    Ok(user)
}

/// Lifts a suspension.
pub async fn activate_user(ctx: &Ctx, actor: &Actor, username: &str, now: DateTime<Utc>) -> Result<(), Error> {
    let mut tx = ctx.db.begin().await?;
    let user = users::get_user_by_username(&mut tx, username).await.map_err(named("user", username))?;
    users::update_status(&mut tx, user.id, UserStatus::Active, millis(now)).await?;
    provisioning::enqueue_user_change(&mut tx, user.id, millis(now)).await?;
    events::insert_event(
        &mut tx,
        &Event::new(now, EventName::AdminUserUpdate, actor).target(username).user(username).detail("activated"),
    )
    .await?;
    tx.commit().await.map_err(crate::store::Error::from)?;
    ctx.worker.wake();
    Ok(())
}

/// Renames a group; the new name reaches the SPs that manage it.
pub async fn rename_group(
    ctx: &Ctx,
    actor: &Actor,
    name: &str,
    new_name: &str,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    check_name("group name", new_name)?;
    let mut tx = ctx.db.begin().await?;
    let g = groups::get_group_by_name(&mut tx, name).await.map_err(named("group", name))?;
    groups::update_group_name(&mut tx, g.id, new_name).await.map_err(named("group", new_name))?;
    provisioning::enqueue_group_change(&mut tx, g.id, millis(now)).await?;
    let event = Event::new(now, EventName::AdminGroupRename, actor).target(new_name).detail(format!("was {name}"));
    events::insert_event(&mut tx, &event).await?;
    tx.commit().await.map_err(crate::store::Error::from)?;
    ctx.worker.wake();
    Ok(())
}

/// Deletes a group: SPs that manage it delete it too, and members left without a bound group are deactivated.
pub async fn delete_group(ctx: &Ctx, actor: &Actor, name: &str, now: DateTime<Utc>) -> Result<(), Error> {
    let mut tx = ctx.db.begin().await?;
    let g = groups::get_group_by_name(&mut tx, name).await.map_err(named("group", name))?;
    // Jobs first: the deletion forgets the bindings and members they need to find.
    provisioning::enqueue_group_change(&mut tx, g.id, millis(now)).await?;
    groups::delete_group(&mut tx, g.id).await?;
    events::insert_event(&mut tx, &Event::new(now, EventName::AdminGroupDelete, actor).target(name)).await?;
    tx.commit().await.map_err(crate::store::Error::from)?;
    ctx.worker.wake();
    Ok(())
}

pub async fn create_group(ctx: &Ctx, actor: &Actor, name: &str, now: DateTime<Utc>) -> Result<Group, Error> {
    check_name("group name", name)?;
    let mut tx = ctx.db.begin().await?;
    groups::insert_group(&mut tx, name, "", millis(now)).await.map_err(named("group", name))?;
    events::insert_event(&mut tx, &Event::new(now, EventName::AdminGroupCreate, actor).target(name)).await?;
    let group = groups::get_group_by_name(&mut tx, name).await?;
    tx.commit().await.map_err(crate::store::Error::from)?;
    Ok(group)
}

/// Adds (`is_add`) or removes a member.
pub async fn change_member(
    ctx: &Ctx,
    actor: &Actor,
    group: &str,
    username: &str,
    is_add: bool,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let mut tx = ctx.db.begin().await?;
    let g = groups::get_group_by_name(&mut tx, group).await.map_err(named("group", group))?;
    let u = users::get_user_by_username(&mut tx, username).await.map_err(named("user", username))?;
    let pair = format!("{username} in {group}");
    let name = if is_add {
        groups::insert_member(&mut tx, g.id, u.id).await.map_err(named("membership", &pair))?;
        EventName::AdminGroupAddMember
    } else {
        groups::delete_member(&mut tx, g.id, u.id).await.map_err(named("membership", &pair))?;
        EventName::AdminGroupRemoveMember
    };
    provisioning::enqueue_membership_change(&mut tx, g.id, u.id, millis(now)).await?;
    events::insert_event(&mut tx, &Event::new(now, name, actor).target(group).user(username)).await?;
    tx.commit().await.map_err(crate::store::Error::from)?;
    ctx.worker.wake();
    Ok(())
}

/// Creates or updates application `name` from SP metadata (file path, URL or, with `xml`, the text itself).
/// Returns the application and whether it was created.
pub async fn import_app(
    ctx: &Ctx,
    actor: &Actor,
    name: &str,
    metadata_source: &str,
    settings_text: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(Application, bool), Error> {
    AppName::parse(name)?;
    let xml = sp_import::fetch_metadata(metadata_source).await?;
    let url = metadata_source.starts_with("http").then_some(metadata_source);
    import_app_xml(ctx, actor, name, &xml, url, settings_text, now).await
}

pub async fn import_app_xml(
    ctx: &Ctx,
    actor: &Actor,
    name: &str,
    xml: &str,
    metadata_url: Option<&str>,
    settings_text: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(Application, bool), Error> {
    let name = AppName::parse(name)?;
    let settings = settings_text.map(SettingsFile::parse).transpose()?.unwrap_or_default();
    if settings.bookmark_url.is_some() {
        return Err(Error::Settings {
            reason: "bookmark_url is for bookmark applications, which have no metadata".into(),
        });
    }
    let mut tx = ctx.db.begin().await?;
    let current = apps::find_app(&mut tx, name.as_str()).await?;
    if current.as_ref().is_some_and(|a| !a.is_saml()) {
        return Err(Error::Conflict { what: "bookmark application", name: name.to_string() });
    }
    // A metadata-signing certificate (from this settings file or configured before) must have signed the document;
    // then only the signed bytes are read.
    let mut check = current.as_ref().map(|a| a.sp.clone()).unwrap_or_default();
    if let Some(pem) = &settings.metadata_signing_certificate {
        check.metadata_signing_certificate = pem.trim().to_owned();
    }
    let metadata = crate::services::metadata_refresh::checked_metadata(xml, &check)?;
    let sp = sp_import::merge(&metadata, &settings, current.as_ref().map(|a| &a.sp), metadata_url)?;
    let display_label = settings
        .display_label
        .clone()
        .or_else(|| current.as_ref().map(|a| a.display_label.clone()))
        .unwrap_or_else(|| name.to_string());
    check_name("display label", &display_label)?;
    let description = settings.description.clone().or_else(|| current.as_ref().map(|a| a.description.clone()));
    let record = AppRecord {
        display_label: &display_label,
        description: description.as_deref().unwrap_or_default(),
        show_in_portal: settings.show_in_portal.or(current.as_ref().map(|a| a.show_in_portal)).unwrap_or(true),
        kind: AppKind::Saml,
        bookmark_url: None,
        is_active: current.as_ref().is_none_or(|a| a.is_active),
        sp: &sp,
    };
    let created = current.is_none();
    let app = save_app(&mut tx, actor, &name, current.as_ref(), &record, now).await?;
    ensure_certificate(ctx, &mut tx, &app, now).await?;
    if let Some(url) = metadata_url {
        // Registered from a URL: housekeeping fetches it again (metadata_refresh).
        let secs = |s: u64| chrono::Duration::seconds(i64::try_from(s).unwrap_or(i64::MAX / 2_000));
        let next = crate::saml::metadata::next_refresh(
            now,
            metadata.cache_duration,
            metadata.valid_until,
            secs(ctx.config.metadata_refresh_secs),
            secs(ctx.config.metadata_refresh_min_secs),
            secs(ctx.config.metadata_refresh_max_secs),
        );
        crate::store::metadata_sources::upsert_source(&mut tx, app.id, url, xml, millis(next), millis(now)).await?;
    }
    tx.commit().await.map_err(crate::store::Error::from)?;
    Ok((app, created))
}

/// Writes an application (insert or update) with its `admin_app_create`/`admin_app_update` event, and reads it back.
async fn save_app(
    conn: &mut Conn,
    actor: &Actor,
    name: &AppName,
    current: Option<&Application>,
    record: &AppRecord<'_>,
    now: DateTime<Utc>,
) -> Result<Application, Error> {
    let event = match current {
        Some(app) => {
            apps::update_app(conn, app.id, record, millis(now)).await?;
            EventName::AdminAppUpdate
        }
        None => {
            apps::insert_app(conn, name, record, millis(now)).await?;
            EventName::AdminAppCreate
        }
    };
    events::insert_event(conn, &Event::new(now, event, actor).target(name.as_str()).app(name.as_str())).await?;
    Ok(apps::get_app(conn, name.as_str()).await?)
}

/// Creates or updates a bookmark application: a portal tile that opens `settings.bookmark_url`.
pub async fn upsert_bookmark(
    ctx: &Ctx,
    actor: &Actor,
    name: &str,
    settings_text: &str,
    now: DateTime<Utc>,
) -> Result<(Application, bool), Error> {
    let name = AppName::parse(name)?;
    let settings = SettingsFile::parse(settings_text)?;
    let Some(url) = settings.bookmark_url.as_deref() else {
        return Err(Error::Settings { reason: "a bookmark needs bookmark_url".into() });
    };
    crate::directory::application::check_http_url("bookmark_url", url)?;
    let mut tx = ctx.db.begin().await?;
    let current = apps::find_app(&mut tx, name.as_str()).await?;
    if current.as_ref().is_some_and(Application::is_saml) {
        return Err(Error::Conflict { what: "SAML application", name: name.to_string() });
    }
    let display_label = settings.display_label.clone().unwrap_or_else(|| name.to_string());
    check_name("display label", &display_label)?;
    let sp = Default::default();
    let record = AppRecord {
        display_label: &display_label,
        description: settings.description.as_deref().unwrap_or_default(),
        show_in_portal: settings.show_in_portal.unwrap_or(true),
        kind: AppKind::Bookmark,
        bookmark_url: Some(url),
        is_active: true,
        sp: &sp,
    };
    let app = save_app(&mut tx, actor, &name, current.as_ref(), &record, now).await?;
    tx.commit().await.map_err(crate::store::Error::from)?;
    Ok((app, current.is_none()))
}

/// Binds (`is_bind`) or unbinds a group.
pub async fn change_binding(
    ctx: &Ctx,
    actor: &Actor,
    app: &str,
    group: &str,
    is_bind: bool,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let mut tx = ctx.db.begin().await?;
    let a = apps::find_app(&mut tx, app).await?.ok_or_else(|| Error::UnknownApp { name: app.to_owned() })?;
    let g = groups::get_group_by_name(&mut tx, group).await.map_err(named("group", group))?;
    let pair = format!("{group} to {app}");
    let name = if is_bind {
        apps::insert_binding(&mut tx, a.id, g.id).await.map_err(named("binding", &pair))?;
        EventName::AdminAppBind
    } else {
        apps::delete_binding(&mut tx, a.id, g.id).await.map_err(named("binding", &pair))?;
        EventName::AdminAppUnbind
    };
    if idm::find_integration(&mut tx, a.id).await?.is_some_and(|i| i.is_active) {
        provisioning::enqueue_group_for_app(&mut tx, a.id, g.id, millis(now)).await?;
    }
    events::insert_event(&mut tx, &Event::new(now, name, actor).target(group).app(app)).await?;
    tx.commit().await.map_err(crate::store::Error::from)?;
    ctx.worker.wake();
    Ok(())
}

/// What `sesame app show` prints.
#[derive(Debug, serde::Serialize)]
pub struct AppView {
    pub name: String,
    pub display_label: String,
    pub kind: AppKind,
    pub is_active: bool,
    pub idp_url: String,
    pub entity_id: String,
    pub metadata_url: String,
    pub certificate_url: String,
    pub cert_fingerprint: String,
    pub cert_not_before: String,
    pub cert_not_after: String,
    pub cert_days_left: i64,
    /// Every certificate with its state (current, next, previous, retired), validity and expiry warning.
    pub certificates: Vec<crate::services::rotation::CertView>,
    /// For an application registered from a URL: where its SP metadata is refreshed from, and how that went.
    pub sp_metadata_source: Option<MetadataSourceView>,
    pub sp_entity_id: String,
    pub acs_urls: Vec<String>,
    /// The SP's single logout endpoints (from its metadata); logout reaches the SP only when there is one.
    pub slo_urls: Vec<String>,
    pub signing: String,
    pub nameid_format: String,
    pub require_signed_requests: bool,
    pub sp_certificates: usize,
    pub encrypt_assertions: bool,
    /// `aes256-gcm` or `aes256-cbc`, with RSA-OAEP key transport.
    pub encryption_algorithm: String,
    pub encrypt_name_id: bool,
    pub sp_encryption_certificates: usize,
    pub bound_groups: Vec<String>,
    /// The catalog connector the application was created from, if any.
    pub connector: Option<String>,
    pub attributes: Vec<AttributeView>,
}

/// The refresh state of SP metadata registered from a URL.
#[derive(Debug, serde::Serialize)]
pub struct MetadataSourceView {
    pub url: String,
    pub last_success_at: String,
    pub last_attempt_at: String,
    pub next_refresh_at: String,
    /// Why the last attempt failed (the last good copy stays in use); empty after a success.
    pub last_error: String,
}

/// One attribute as `app show` prints it.
#[derive(Debug, serde::Serialize)]
pub struct AttributeView {
    pub name: String,
    pub source: String,
    pub enabled: bool,
    pub jit: bool,
}

pub async fn show_app(ctx: &Ctx, name: &str, now: DateTime<Utc>) -> Result<AppView, Error> {
    let mut conn = ctx.db.conn().await?;
    let app = apps::find_app(&mut conn, name).await?.ok_or_else(|| Error::UnknownApp { name: name.to_owned() })?;
    let certs = published_certificates(&mut conn, &app).await?;
    let bound = apps::list_bound_group_ids(&mut conn, app.id).await?;
    let all_groups = groups::list_groups(&mut conn).await?;
    let idp_url = ctx.sso_url(app.name.as_str());
    let current = certs.first();
    let certificates = crate::services::rotation::cert_views(&mut conn, &app, now).await?;
    let time = |ms: i64| chrono::TimeZone::timestamp_millis_opt(&Utc, ms).single().unwrap_or_default().to_rfc3339();
    let sp_metadata_source =
        crate::store::metadata_sources::find_source(&mut conn, app.id).await?.map(|m| MetadataSourceView {
            url: m.url,
            last_success_at: time(m.last_success_at_ms),
            last_attempt_at: time(m.last_attempt_at_ms),
            next_refresh_at: time(m.next_refresh_at_ms),
            last_error: m.last_error,
        });
    Ok(AppView {
        name: app.name.to_string(),
        display_label: app.display_label.clone(),
        kind: app.kind,
        is_active: app.is_active,
        entity_id: ctx.idp_entity_id(&app),
        metadata_url: format!("{idp_url}/metadata"),
        certificate_url: format!("{idp_url}/certificate.pem"),
        idp_url,
        cert_fingerprint: current.map(|c| c.fingerprint.clone()).unwrap_or_default(),
        cert_not_before: current.map(|c| c.not_before.to_rfc3339()).unwrap_or_default(),
        cert_not_after: current.map(|c| c.not_after.to_rfc3339()).unwrap_or_default(),
        cert_days_left: current.map(|c| (c.not_after - now).num_days()).unwrap_or_default(),
        certificates,
        sp_metadata_source,
        sp_entity_id: app.sp.entity_id.clone(),
        acs_urls: app.sp.acs.iter().map(|a| a.url.clone()).collect(),
        slo_urls: {
            let mut urls: Vec<String> = app.sp.slo.iter().map(|e| e.location.clone()).collect();
            urls.dedup();
            urls
        },
        signing: app.sp.signing_mode.as_str().to_owned(),
        nameid_format: app.sp.name_id_format.as_str().to_owned(),
        require_signed_requests: app.sp.require_signed_requests,
        sp_certificates: app.sp.signing_certificates.len(),
        encrypt_assertions: app.sp.encrypt_assertions,
        encryption_algorithm: app.sp.data_encryption.as_str().to_owned(),
        encrypt_name_id: app.sp.encrypt_name_id,
        sp_encryption_certificates: app.sp.encryption_certificates.len(),
        bound_groups: all_groups.into_iter().filter(|g| bound.contains(&g.id)).map(|g| g.name).collect(),
        connector: app.sp.connector.as_ref().map(|c| c.id.clone()),
        attributes: app
            .sp
            .attributes
            .iter()
            .map(|a| AttributeView {
                name: a.name.clone(),
                source: crate::services::attributes::describe(&a.source),
                enabled: a.is_enabled,
                jit: a.is_jit,
            })
            .collect(),
    })
}

/// Replaces the signing certificate at once (`sesame app rotate-cert APP`): a new certificate is current and the
/// others are retired. `services::rotation` has the staged steps (stage, activate, retire) for no downtime.
pub async fn rotate_cert(ctx: &Ctx, actor: &Actor, name: &str, now: DateTime<Utc>) -> Result<Certificate, Error> {
    crate::services::rotation::rotate(ctx, actor, name, now).await
}

/// The IdP metadata document for an application.
pub async fn metadata(ctx: &Ctx, name: &str) -> Result<String, Error> {
    let mut conn = ctx.db.conn().await?;
    let app = apps::find_app(&mut conn, name).await?.ok_or_else(|| Error::UnknownApp { name: name.to_owned() })?;
    if !app.is_saml() {
        return Err(Error::NotSaml { name: name.to_owned() });
    }
    let certificates = published_certificates(&mut conn, &app).await?;
    let entity_id = ctx.idp_entity_id(&app);
    let sso_url = ctx.sso_url(app.name.as_str());
    Ok(idp_metadata(&IdpMetadata {
        entity_id: &entity_id,
        sso_url: &sso_url,
        want_authn_requests_signed: app.sp.require_signed_requests,
        certificates: &certificates,
        name_id_formats: &NameIdFormat::ALL,
        slo_url: Some(&format!("{sso_url}/slo")),
    }))
}

/// The certificates an application publishes, as PEM (current first).
pub async fn certificate_pem(ctx: &Ctx, name: &str) -> Result<String, Error> {
    let mut conn = ctx.db.conn().await?;
    let app = apps::find_app(&mut conn, name).await?.ok_or_else(|| Error::UnknownApp { name: name.to_owned() })?;
    let certs = published_certificates(&mut conn, &app).await?;
    if certs.is_empty() {
        return Err(Error::NoSigningKey { app: name.to_owned() });
    }
    certs.iter().map(|c| Ok(c.to_pem()?)).collect()
}

pub async fn list_events(ctx: &Ctx, filter: &EventFilter) -> Result<Vec<Event>, Error> {
    let mut conn = ctx.db.conn().await?;
    Ok(events::list_events(&mut conn, filter).await?)
}

/// Registers or updates every `sp-metadata/<app>.xml` (with `<app>.toml` beside it when present), and every
/// `<app>.toml` without XML that names a `bookmark_url`. A bad file is reported and skipped, so one broken SP does
/// not keep the IdP down.
pub async fn import_sp_metadata_dir(ctx: &Ctx, dir: &Path, now: DateTime<Utc>) -> Result<usize, Error> {
    let Ok(mut entries) = tokio::fs::read_dir(dir).await else {
        return Ok(0);
    };
    let mut paths = Vec::new();
    while let Ok(Some(entry)) = entries.next_entry().await {
        paths.push(entry.path());
    }
    paths.sort();
    let mut imported = 0;
    for path in &paths {
        let Some(name) = path.file_stem().and_then(|s| s.to_str()) else { continue };
        let mut result = register_file(ctx, path, name, now).await;
        // Replicas starting together read the same directory: when another one created the application between
        // our look-up and our insert, importing again updates it to the same content.
        if matches!(result, Some(Err(Error::Store(crate::store::Error::Conflict { .. })))) {
            result = register_file(ctx, path, name, now).await;
        }
        match result {
            None => {}
            Some(Ok(())) => imported += 1,
            Some(Err(e)) => warn!(app.name = %name, "could not register {}: {e}", path.display()),
        }
    }
    Ok(imported)
}

/// Registers one file of the `sp-metadata/` directory; `None` when the file is not one to register.
async fn register_file(ctx: &Ctx, path: &Path, name: &str, now: DateTime<Utc>) -> Option<Result<(), Error>> {
    let settings_path = path.with_extension("toml");
    let result = match path.extension().and_then(|e| e.to_str()) {
        Some("xml") => {
            let settings = tokio::fs::read_to_string(&settings_path).await.ok();
            import_app(ctx, &Actor::System, name, &path.display().to_string(), settings.as_deref(), now).await.map(drop)
        }
        Some("toml") if !path.with_extension("xml").exists() => match tokio::fs::read_to_string(path).await {
            Ok(text) => upsert_bookmark(ctx, &Actor::System, name, &text, now).await.map(drop),
            Err(e) => Err(Error::Fetch { url: path.display().to_string(), reason: e.to_string() }),
        },
        _ => return None,
    };
    Some(result)
}

/// Gives every SAML application a signing certificate (created at start-up when missing).
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

pub(crate) async fn ensure_certificate(
    ctx: &Ctx,
    conn: &mut Conn,
    app: &Application,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let published = certs::list_published_certs(conn, app.id).await?;
    if published.iter().any(|c| c.state == CertState::Current) {
        return Ok(());
    }
    generate_certificate(ctx, conn, app, CertState::Current, now).await?;
    Ok(())
}

/// Generates a key pair, writes the key file (0600) and records the certificate in `state`.
pub(crate) async fn generate_certificate(
    ctx: &Ctx,
    conn: &mut Conn,
    app: &Application,
    state: CertState,
    now: DateTime<Utc>,
) -> Result<Certificate, Error> {
    let cn = format!("{} ({})", app.name, host_of(&ctx.config.base_url));
    let days = ctx.config.cert_validity_days;
    let key = tokio::task::spawn_blocking(move || SigningKey::generate(&cn, now, days))
        .await
        .map_err(|e| Error::Task(e.to_string()))??;
    let cert_pem = key.cert.to_pem()?;
    certs::write_key(
        &ctx.config.certs_dir,
        app.name.as_str(),
        &key.cert.fingerprint,
        &key.private_key_pem()?,
        cert_pem.as_bytes(),
    )?;
    let validity = (millis(key.cert.not_before), millis(key.cert.not_after));
    certs::insert_cert(conn, app.id, &key.cert.fingerprint, &cert_pem, validity, state, millis(now)).await?;
    Ok(key.cert)
}

fn host_of(base_url: &str) -> String {
    url::Url::parse(base_url).ok().and_then(|u| u.host_str().map(str::to_owned)).unwrap_or_default()
}

/// Maps the store's NotFound and Conflict to errors that name the thing.
pub(crate) fn named(what: &'static str, name: &str) -> impl FnOnce(crate::store::Error) -> Error {
    let name = name.to_owned();
    move |e| match e {
        crate::store::Error::NotFound { .. } => Error::NotFound { what, name },
        crate::store::Error::Conflict { .. } => Error::Conflict { what, name },
        other => Error::Store(other),
    }
}
