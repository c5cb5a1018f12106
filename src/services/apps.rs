//! Applications as the admin API and console manage them: pages with search, everything about one application,
//! creation that refuses an existing name, settings changes, deletion. Creation and import reuse `admin`,
//! `sp_import` and `catalog`, so files, the CLI and the API register applications the same way.

use chrono::{DateTime, Utc};

use crate::audit::{Actor, Event, EventName};
use crate::directory::application::{check_http_url, check_settings, check_tile};
use crate::directory::{check_name, AppKind, AppName, Application, AttributeMapping, Invalid, UserProperty};
use crate::saml::keys::Certificate;
use crate::saml::{NameIdFormat, SigningMode};
use crate::services::catalog::{self, CreateFromConnector};
use crate::services::users::{Page, MAX_PAGE};
use crate::services::{admin, millis, published_certificates, sp_import, Ctx, Error};
use crate::store::apps::{self, AppRecord};
use crate::store::{events, idm};

/// Everything about one application, for the API and the console's app page.
#[derive(Debug)]
pub struct AppDetails {
    pub app: Application,
    pub idp_url: String,
    pub idp_entity_id: String,
    pub metadata_url: String,
    pub certificate_url: String,
    pub bound_groups: Vec<String>,
    /// The published certificates, current first.
    pub certificates: Vec<Certificate>,
    /// The SP's encryption certificates, from its metadata (the first one is used).
    pub sp_encryption_certificates: Vec<Certificate>,
    pub idm: Option<IdmState>,
}

/// The identity-management integration as shown: never its token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdmState {
    pub base_url: String,
    pub manage_groups: bool,
    pub soft_delete: bool,
    pub is_active: bool,
}

/// Where new SP metadata comes from.
#[derive(Debug, Clone)]
pub enum MetadataSource {
    Xml(String),
    /// An http(s) URL (file paths are for the CLI only).
    Url(String),
}

/// A change of settings: `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct AppChange {
    pub display_label: Option<String>,
    pub description: Option<String>,
    pub show_in_portal: Option<bool>,
    pub is_active: Option<bool>,
    pub bookmark_url: Option<String>,
    pub name_id_format: Option<NameIdFormat>,
    /// `Some(None)` goes back to the format's default source.
    pub name_id_source: Option<Option<UserProperty>>,
    pub signing_mode: Option<SigningMode>,
    pub default_relay_state: Option<String>,
    pub sp_login_url: Option<String>,
    pub require_signed_requests: Option<bool>,
    pub assertion_lifetime_secs: Option<u32>,
    pub session_lifetime_secs: Option<u32>,
    /// The whole attribute list; JIT attributes missing from it are kept (their names are fixed).
    pub attributes: Option<Vec<AttributeMapping>>,
    /// Encrypt assertions to the SP's encryption certificate (from its metadata).
    pub encrypt_assertions: Option<bool>,
    pub data_encryption: Option<crate::saml::DataEncryption>,
    pub encrypt_name_id: Option<bool>,
    /// The portal tile's colour (`Some(None)`: derived from the name).
    pub tile_hue: Option<Option<u8>>,
    /// The portal tile's image URL (empty: none).
    pub tile_image_url: Option<String>,
}

impl AppChange {
    fn touches_sso(&self) -> bool {
        self.name_id_format.is_some()
            || self.name_id_source.is_some()
            || self.signing_mode.is_some()
            || self.default_relay_state.is_some()
            || self.sp_login_url.is_some()
            || self.require_signed_requests.is_some()
            || self.assertion_lifetime_secs.is_some()
            || self.session_lifetime_secs.is_some()
            || self.attributes.is_some()
            || self.encrypt_assertions.is_some()
            || self.data_encryption.is_some()
            || self.encrypt_name_id.is_some()
    }
}

pub async fn list_apps(
    ctx: &Ctx,
    text: Option<&str>,
    kind: Option<AppKind>,
    after: Option<&str>,
    limit: u32,
) -> Result<Page<Application>, Error> {
    let limit = limit.clamp(1, MAX_PAGE);
    let rows = apps::list_apps_page(&mut *ctx.db.conn().await?, text, kind, after, limit + 1).await?;
    Ok(Page::of(rows, limit, |a| a.name.to_string()))
}

pub async fn details(ctx: &Ctx, name: &str) -> Result<AppDetails, Error> {
    let mut conn = ctx.db.conn().await?;
    let app = apps::find_app(&mut conn, name).await?.ok_or_else(|| Error::UnknownApp { name: name.to_owned() })?;
    let certificates = if app.is_saml() { published_certificates(&mut conn, &app).await? } else { Vec::new() };
    let sp_encryption_certificates = app
        .sp
        .encryption_certificates
        .iter()
        .map(|pem| Certificate::from_pem(pem.as_bytes()))
        .collect::<Result<_, _>>()?;
    let bound_groups = apps::list_bound_group_names(&mut conn, app.id).await?;
    let idm = idm::find_integration(&mut conn, app.id).await?.map(|i| IdmState {
        base_url: i.base_url,
        manage_groups: i.manage_groups,
        soft_delete: i.soft_delete,
        is_active: i.is_active,
    });
    let idp_url = ctx.sso_url(app.name.as_str());
    Ok(AppDetails {
        idp_entity_id: ctx.idp_entity_id(&app),
        metadata_url: format!("{idp_url}/metadata"),
        certificate_url: format!("{idp_url}/certificate.pem"),
        idp_url,
        bound_groups,
        certificates,
        sp_encryption_certificates,
        idm,
        app,
    })
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
        Some(text) => text.parse().map_err(|e: toml::de::Error| Error::Settings { reason: e.message().to_owned() })?,
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
            (sp_import::fetch_metadata(&url).await?, Some(url))
        }
    };
    let (app, _) = admin::import_app_xml(ctx, actor, name, &xml, url.as_deref(), Some(&settings), now).await?;
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
    admin::import_app_xml(ctx, actor, name, xml, None, None, now).await
}

/// Creates an application from a catalog connector; an existing name is a conflict.
pub async fn create_from_connector(
    ctx: &Ctx,
    actor: &Actor,
    request: &CreateFromConnector<'_>,
    now: DateTime<Utc>,
) -> Result<catalog::Created, Error> {
    refuse_existing(ctx, request.name).await?;
    catalog::create_app(ctx, actor, request, now).await
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
    let (app, _) = admin::upsert_bookmark(ctx, actor, name, &settings.to_string(), now).await?;
    Ok(app)
}

/// Applies `change` and returns the application as it now is; the event lists the fields changed.
pub async fn update(
    ctx: &Ctx,
    actor: &Actor,
    name: &str,
    change: &AppChange,
    now: DateTime<Utc>,
) -> Result<Application, Error> {
    let mut tx = ctx.db.begin().await?;
    let current = apps::find_app(&mut tx, name).await?.ok_or_else(|| Error::UnknownApp { name: name.to_owned() })?;
    if change.touches_sso() && !current.is_saml() {
        return Err(Error::NotSaml { name: name.to_owned() });
    }
    if change.bookmark_url.is_some() && current.is_saml() {
        return Err(Invalid::new("bookmark_url", "only bookmark applications have one").into());
    }
    let mut changed = Vec::new();
    let mut note = |field: &str, is_set: bool| {
        if is_set {
            changed.push(field.to_owned());
        }
    };
    let display_label = change.display_label.clone().unwrap_or_else(|| current.display_label.clone());
    check_name("display label", &display_label)?;
    note("display_label", change.display_label.is_some());
    let description = change.description.clone().unwrap_or_else(|| current.description.clone());
    note("description", change.description.is_some());
    let bookmark_url = change.bookmark_url.clone().or_else(|| current.bookmark_url.clone());
    if let Some(url) = &change.bookmark_url {
        check_http_url("bookmark_url", url)?;
    }
    note("bookmark_url", change.bookmark_url.is_some());
    note("show_in_portal", change.show_in_portal.is_some());
    note("is_active", change.is_active.is_some());
    let mut sp = current.sp.clone();
    if let Some(v) = change.name_id_format {
        sp.name_id_format = v;
    }
    note("name_id_format", change.name_id_format.is_some());
    if let Some(v) = change.name_id_source {
        sp.name_id_source = v;
    }
    note("name_id_source", change.name_id_source.is_some());
    if let Some(v) = change.signing_mode {
        sp.signing_mode = v;
    }
    note("signing_mode", change.signing_mode.is_some());
    if let Some(v) = &change.default_relay_state {
        sp.default_relay_state.clone_from(v);
    }
    note("default_relay_state", change.default_relay_state.is_some());
    if let Some(v) = &change.sp_login_url {
        sp.sp_login_url.clone_from(v);
    }
    note("sp_login_url", change.sp_login_url.is_some());
    if let Some(v) = change.require_signed_requests {
        sp.require_signed_requests = v;
    }
    note("require_signed_requests", change.require_signed_requests.is_some());
    if let Some(v) = change.assertion_lifetime_secs {
        sp.assertion_lifetime_secs = v;
    }
    note("assertion_lifetime_secs", change.assertion_lifetime_secs.is_some());
    if let Some(v) = change.session_lifetime_secs {
        sp.session_lifetime_secs = v;
    }
    note("session_lifetime_secs", change.session_lifetime_secs.is_some());
    if let Some(v) = &change.attributes {
        sp.attributes = crate::directory::attributes::replace_keeping_jit(&sp.attributes, v.clone());
    }
    note("attributes", change.attributes.is_some());
    if let Some(v) = change.encrypt_assertions {
        sp.encrypt_assertions = v;
    }
    note("encrypt_assertions", change.encrypt_assertions.is_some());
    if let Some(v) = change.data_encryption {
        sp.data_encryption = v;
    }
    note("encryption_algorithm", change.data_encryption.is_some());
    if let Some(v) = change.encrypt_name_id {
        sp.encrypt_name_id = v;
    }
    note("encrypt_name_id", change.encrypt_name_id.is_some());
    if let Some(v) = change.tile_hue {
        sp.tile_hue = v;
    }
    note("tile_hue", change.tile_hue.is_some());
    if let Some(v) = &change.tile_image_url {
        sp.tile_image_url.clone_from(v);
    }
    note("tile_image_url", change.tile_image_url.is_some());
    check_tile(sp.tile_hue, &sp.tile_image_url)?;
    if current.is_saml() {
        check_settings(&sp)?;
    }
    let record = AppRecord {
        display_label: &display_label,
        description: &description,
        show_in_portal: change.show_in_portal.unwrap_or(current.show_in_portal),
        kind: current.kind,
        bookmark_url: bookmark_url.as_deref(),
        is_active: change.is_active.unwrap_or(current.is_active),
        sp: &sp,
    };
    apps::update_app(&mut tx, current.id, &record, millis(now)).await?;
    let event = Event::new(now, EventName::AdminAppUpdate, actor)
        .target(name)
        .app(name)
        .detail(format!("changed {}", changed.join(", ")));
    events::insert_event(&mut tx, &event).await?;
    let app = apps::get_app(&mut tx, name).await?;
    tx.commit().await.map_err(crate::store::Error::from)?;
    Ok(app)
}

/// Deletes an application with its bindings, certificates and integration. Its SPs' accounts are left as they
/// are; the private key files stay in the certs directory (they are named by fingerprint and harmless).
pub async fn delete(ctx: &Ctx, actor: &Actor, name: &str, now: DateTime<Utc>) -> Result<(), Error> {
    let mut tx = ctx.db.begin().await?;
    let app = apps::find_app(&mut tx, name).await?.ok_or_else(|| Error::UnknownApp { name: name.to_owned() })?;
    apps::delete_app(&mut tx, app.id).await?;
    events::insert_event(&mut tx, &Event::new(now, EventName::AdminAppDelete, actor).target(name).app(name)).await?;
    tx.commit().await.map_err(crate::store::Error::from)?;
    Ok(())
}

/// The certificates an application publishes, current first; a bookmark has none (`NotSaml`).
pub async fn certificates(ctx: &Ctx, name: &str) -> Result<Vec<Certificate>, Error> {
    let mut conn = ctx.db.conn().await?;
    let app = apps::find_app(&mut conn, name).await?.ok_or_else(|| Error::UnknownApp { name: name.to_owned() })?;
    if !app.is_saml() {
        return Err(Error::NotSaml { name: name.to_owned() });
    }
    let certificates = published_certificates(&mut conn, &app).await?;
    if certificates.is_empty() {
        return Err(Error::NoSigningKey { app: name.to_owned() });
    }
    Ok(certificates)
}

/// Replaces a SAML application's signing certificate (`admin::rotate_cert`); a bookmark has none to rotate.
pub async fn rotate_certificate(
    ctx: &Ctx,
    actor: &Actor,
    name: &str,
    now: DateTime<Utc>,
) -> Result<Certificate, Error> {
    let app = apps::find_app(&mut *ctx.db.conn().await?, name)
        .await?
        .ok_or_else(|| Error::UnknownApp { name: name.to_owned() })?;
    if !app.is_saml() {
        return Err(Error::NotSaml { name: name.to_owned() });
    }
    admin::rotate_cert(ctx, actor, name, now).await
}

async fn refuse_existing(ctx: &Ctx, name: &str) -> Result<(), Error> {
    AppName::parse(name)?;
    if apps::find_app(&mut *ctx.db.conn().await?, name).await?.is_some() {
        return Err(Error::Conflict { what: "application", name: name.to_owned() });
    }
    Ok(())
}
