//! Registering applications: from SP metadata (a file, a URL or XML text, with an optional settings file, as
//! `sp-metadata/` files, the CLI, the console and the API do), from a catalog connector and the values of its
//! placeholders, or as a bookmark (a portal tile that opens a URL). The "create" calls refuse a taken name; the
//! imports create or update.
//!
//! A connector whose SP signs its AuthnRequests (Netskope, Zscaler) creates an application that requires signed
//! requests. Without the SP's certificate it is still created, and every SP-initiated request is refused until
//! the certificate is given (running `app create` again with `--sp-cert`): requiring signatures is never relaxed.

use std::path::Path;

use chrono::{DateTime, Utc};
use tracing::{info, warn};

use crate::audit::{Actor, Event, EventName};
use crate::directory::{check_name, AppKind, AppName, Application, Invalid};
use crate::saml::keys::Certificate;
use crate::services::apps::sp_metadata::{self, SettingsFile};
use crate::services::apps::{refuse_existing, save};
use crate::services::certs::ensure_certificate;
use crate::services::error::named;
use crate::services::{millis, Ctx, Error};
use crate::store::apps::{self, AppRecord};
use crate::store::events;

/// Where new SP metadata comes from.
#[derive(Debug, Clone)]
pub enum MetadataSource {
    Xml(String),
    /// An http(s) URL (file paths are for the CLI only).
    Url(String),
}

/// What the admin gives to create an application from a connector.
#[derive(Debug, Clone, Default)]
pub struct CreateFromConnector<'a> {
    pub name: &'a str,
    pub connector: &'a str,
    /// Placeholder values, `(NAME, value)`; on an update, placeholders not given keep their earlier values.
    pub values: &'a [(String, String)],
    /// The SP's request-signing certificate (PEM), for connectors whose SP signs its AuthnRequests.
    pub sp_certificate_pem: Option<&'a str>,
    pub display_label: Option<&'a str>,
}

/// The outcome, with what the admin still has to do.
#[derive(Debug)]
pub struct Created {
    pub app: Application,
    pub is_new: bool,
    /// The SP signs its requests and no certificate is registered yet: SSO refuses its requests until one is.
    pub awaits_sp_certificate: bool,
}

/// Creates a SAML application from SP metadata and an optional settings file (TOML, as beside
/// `sp-metadata/<app>.xml`), whose display label and description `label` and `description` replace when given;
/// an existing name is a conflict.
pub async fn create_from_metadata(
    ctx: &Ctx,
    actor: &Actor,
    name: &str,
    source: MetadataSource,
    settings: Option<&str>,
    (label, description): (Option<&str>, Option<&str>),
    now: DateTime<Utc>,
) -> Result<Application, Error> {
    refuse_existing(ctx, name).await?;
    let mut table: toml::Table = match settings {
        Some(text) => text.parse().map_err(|source| Error::SettingsSyntax { source })?,
        None => toml::Table::new(),
    };
    if let Some(label) = label {
        table.insert("display_label".into(), label.into());
    }
    if let Some(text) = description {
        table.insert("description".into(), text.into());
    }
    let settings = table.to_string();
    let (xml, url) = match source {
        MetadataSource::Xml(xml) => (xml, None),
        MetadataSource::Url(url) => {
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return Err(Invalid::new("metadata URL", "must be an http(s) URL").into());
            }
            check_metadata_url(ctx, name, &url, Some(&settings)).await?;
            (sp_metadata::fetch_metadata(&url).await?, Some(url))
        }
    };
    let (app, _) = import_app_xml(ctx, actor, name, &xml, url.as_deref(), Some(&settings), now).await?;
    Ok(app)
}

/// Creates or updates a SAML application from SP metadata text; true when it was created.
pub async fn import_metadata(
    ctx: &Ctx,
    actor: &Actor,
    name: &str,
    xml: &str,
    now: DateTime<Utc>,
) -> Result<(Application, bool), Error> {
    import_app_xml(ctx, actor, name, xml, None, None, now).await
}

/// Creates an application from a catalog connector; an existing name is a conflict.
pub async fn create_from_connector(
    ctx: &Ctx,
    actor: &Actor,
    request: &CreateFromConnector<'_>,
    now: DateTime<Utc>,
) -> Result<Created, Error> {
    refuse_existing(ctx, request.name).await?;
    apply_connector(ctx, actor, request, now).await
}

/// Creates a bookmark application (a portal tile that opens `url`); an existing name is a conflict.
pub async fn create_bookmark(
    ctx: &Ctx,
    actor: &Actor,
    name: &str,
    url: &str,
    display_label: Option<&str>,
    description: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Application, Error> {
    refuse_existing(ctx, name).await?;
    let mut settings = toml::Table::new();
    settings.insert("bookmark_url".into(), url.into());
    if let Some(label) = display_label {
        settings.insert("display_label".into(), label.into());
    }
    if let Some(text) = description {
        settings.insert("description".into(), text.into());
    }
    let (app, _) = upsert_bookmark(ctx, actor, name, &settings.to_string(), now).await?;
    Ok(app)
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
    let url = metadata_source.starts_with("http").then_some(metadata_source);
    if let Some(url) = url {
        check_metadata_url(ctx, name, url, settings_text).await?;
    }
    let xml = sp_metadata::fetch_metadata(metadata_source).await?;
    import_app_xml(ctx, actor, name, &xml, url, settings_text, now).await
}

/// Refuses, before anything is fetched, a metadata URL that `sp_metadata::check_metadata_url` does not allow: the
/// metadata-signing certificate is the settings' (when they name one) or the application's.
async fn check_metadata_url(ctx: &Ctx, name: &str, url: &str, settings: Option<&str>) -> Result<(), Error> {
    let named = settings.map(SettingsFile::parse).transpose()?.and_then(|s| s.metadata_signing_certificate);
    let is_signed = match named {
        Some(pem) => !pem.trim().is_empty(),
        None => apps::find_app(&mut *ctx.db.conn().await?, name)
            .await?
            .is_some_and(|a| !a.sp.metadata_signing_certificate.is_empty()),
    };
    sp_metadata::check_metadata_url(url, is_signed).map_err(|reason| Invalid::new("metadata URL", reason).into())
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
    if let Some(url) = metadata_url {
        sp_metadata::check_metadata_url(url, !check.metadata_signing_certificate.is_empty())
            .map_err(|reason| Invalid::new("metadata URL", reason))?;
    }
    let metadata = sp_metadata::checked_metadata(xml, &check)?;
    let sp = sp_metadata::merge(&metadata, &settings, current.as_ref().map(|a| &a.sp), metadata_url)?;
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
    let app = save(&mut tx, actor, &name, current.as_ref(), &record, now).await?;
    ensure_certificate(ctx, &mut tx, &app, now).await?;
    if let Some(url) = metadata_url {
        // Registered from a URL: housekeeping fetches it again (`apps::refresh`).
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
    let app = save(&mut tx, actor, &name, current.as_ref(), &record, now).await?;
    tx.commit().await.map_err(crate::store::Error::from)?;
    Ok((app, current.is_none()))
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
            Err(e) => Err(Error::Fetch { url: path.display().to_string(), source: e.into() }),
        },
        _ => return None,
    };
    Some(result)
}

/// Creates application `request.name` from a connector, or updates one created from the same connector (new
/// placeholder values, a new SP certificate). Unfilled or invalid placeholders are refused before anything is
/// written. An update keeps the admin's attribute changes and adds JIT attributes the connector gained since.
pub async fn apply_connector(
    ctx: &Ctx,
    actor: &Actor,
    request: &CreateFromConnector<'_>,
    now: DateTime<Utc>,
) -> Result<Created, Error> {
    let name = AppName::parse(request.name)?;
    let connector = ctx.catalog.get(request.connector)?;
    let certificate = request.sp_certificate_pem.map(|pem| Certificate::from_pem(pem.as_bytes())).transpose()?;

    let mut tx = ctx.db.begin().await?;
    let current = apps::find_app(&mut tx, name.as_str()).await?;
    let display_label = match (request.display_label, &current) {
        (Some(label), _) => label.to_owned(),
        (None, Some(app)) => app.display_label.clone(),
        (None, None) => connector.name.clone(),
    };
    check_name("display label", &display_label)?;
    let previous = match &current {
        None => Default::default(),
        Some(app) => match &app.sp.connector {
            Some(from) if app.is_saml() && from.id == connector.id => from.values.clone(),
            _ => return Err(Error::NotFromConnector { app: name.to_string(), connector: connector.id.clone() }),
        },
    };
    let filled = connector.fill(&previous, request.values)?;
    let mut sp = connector.sp_settings(&filled)?;
    if let Some(app) = &current {
        sp.attributes.clone_from(&app.sp.attributes);
        for default in &connector.sso.attributes {
            if default.is_jit && !sp.attributes.iter().any(|a| a.name == default.name) {
                sp.attributes.push(default.clone());
            }
        }
        sp.signing_certificates.clone_from(&app.sp.signing_certificates);
        sp.require_signed_requests |= app.sp.require_signed_requests;
        sp.session_lifetime_secs = app.sp.session_lifetime_secs;
        sp.assertion_lifetime_secs = app.sp.assertion_lifetime_secs;
        sp.default_relay_state.clone_from(&app.sp.default_relay_state);
    }
    if let Some(cert) = &certificate {
        sp.signing_certificates = vec![cert.to_pem()?];
    }
    let awaits_sp_certificate = sp.require_signed_requests && sp.signing_certificates.is_empty();

    let record = AppRecord {
        display_label: &display_label,
        description: &connector.description,
        show_in_portal: current.as_ref().is_none_or(|a| a.show_in_portal),
        kind: AppKind::Saml,
        bookmark_url: None,
        is_active: current.as_ref().is_none_or(|a| a.is_active),
        sp: &sp,
    };
    let event_name = match &current {
        Some(app) => {
            apps::update_app(&mut tx, app.id, &record, millis(now)).await?;
            EventName::AdminAppUpdate
        }
        None => {
            apps::insert_app(&mut tx, &name, &record, millis(now))
                .await
                .map_err(named("application", name.as_str()))?;
            EventName::AdminAppCreate
        }
    };
    let event = Event::new(now, event_name, actor)
        .target(name.as_str())
        .app(name.as_str())
        .detail(format!("connector {}", connector.id));
    events::insert_event(&mut tx, &event).await?;
    let app = apps::get_app(&mut tx, name.as_str()).await?;
    ensure_certificate(ctx, &mut tx, &app, now).await?;
    tx.commit().await.map_err(crate::store::Error::from)?;
    info!(app.name = %name, connector = %connector.id, "application {name} from connector {}", connector.id);
    Ok(Created { app, is_new: current.is_none(), awaits_sp_certificate })
}
