//! The one lookup of an application that every caller shows (the console's pages, the API, `sesame app show`),
//! the application list, and the IdP metadata document an SP imports.

use chrono::{DateTime, Utc};

use crate::directory::{AppKind, Application};
use crate::saml::authn_request::offered_name_id_formats;
use crate::saml::keys::Certificate;
use crate::saml::metadata::{idp_metadata, IdpMetadata};
use crate::services::apps::logo::{self, LogoInfo};
use crate::services::certs::{self, CertEntry};
use crate::services::keys::published_certificates;
use crate::services::login::IdpSession;
use crate::services::{Ctx, Error, Page, MAX_PAGE};
use crate::store::{apps, idm, logos, metadata_sources, users};

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
    /// Every certificate with its state (published ones first, then retired), validity and scheduled activation.
    pub certificate_history: Vec<CertEntry>,
    /// For an application registered from a URL: where its SP metadata is refreshed from, and how that went.
    pub metadata_source: Option<MetadataSourceState>,
    pub idm: Option<IdmState>,
    /// The portal tile logo an administrator uploaded, if any.
    pub logo: Option<LogoInfo>,
}

/// The refresh state of SP metadata registered from a URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataSourceState {
    pub url: String,
    pub last_success_at: DateTime<Utc>,
    pub last_attempt_at: DateTime<Utc>,
    pub next_refresh_at: DateTime<Utc>,
    /// Why the last attempt failed (the last good copy stays in use); empty after a success.
    pub last_error: String,
    /// The ACS URLs of a refreshed document that names a new ACS host, awaiting an administrator's approval.
    pub held_acs: Vec<String>,
}

/// The identity-management integration as shown: never its token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdmState {
    pub base_url: String,
    pub manage_groups: bool,
    pub soft_delete: bool,
    pub is_active: bool,
    /// Seconds between reconciliations, the configured default applied.
    pub reconcile_interval_secs: u64,
    /// When the next reconciliation is due.
    pub next_reconcile_at: DateTime<Utc>,
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
        reconcile_interval_secs: crate::provisioning::reconcile_interval_secs(
            i.reconcile_interval_secs,
            ctx.config.reconcile_interval_secs,
        ),
        next_reconcile_at: DateTime::from_timestamp_millis(i.next_reconcile_at).unwrap_or_default(),
    });
    let certificate_history = certs::entries(&mut conn, &app).await?;
    let time = |ms: i64| DateTime::from_timestamp_millis(ms).unwrap_or_default();
    let metadata_source = metadata_sources::find_source(&mut conn, app.id).await?.map(|m| MetadataSourceState {
        url: m.url,
        last_success_at: time(m.last_success_at_ms),
        last_attempt_at: time(m.last_attempt_at_ms),
        next_refresh_at: time(m.next_refresh_at_ms),
        last_error: m.last_error,
        held_acs: Some(m.held_document.as_str())
            .filter(|d| !d.is_empty())
            .and_then(|d| crate::saml::metadata::parse_sp_metadata(d).ok())
            .map(|md| md.acs.into_iter().map(|a| a.url).collect())
            .unwrap_or_default(),
    });
    let logo = logos::find_logo(&mut conn, app.id).await?.and_then(logo::info);
    let idp_url = ctx.sso_url(app.name.as_str());
    Ok(AppDetails {
        idp_entity_id: ctx.idp_entity_id(&app),
        metadata_url: format!("{idp_url}/metadata"),
        certificate_url: format!("{idp_url}/certificate.pem"),
        idp_url,
        bound_groups,
        certificates,
        sp_encryption_certificates,
        certificate_history,
        metadata_source,
        idm,
        logo,
        app,
    })
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
    let name_id_formats = offered_name_id_formats(app.sp.name_id_format, &app.sp.allowed_name_id_formats);
    Ok(idp_metadata(&IdpMetadata {
        entity_id: &entity_id,
        sso_url: &sso_url,
        want_authn_requests_signed: app.sp.require_signed_requests,
        certificates: &certificates,
        name_id_formats: &name_id_formats,
        slo_url: Some(&format!("{sso_url}/slo")),
    }))
}

/// An application as the portal shows it: with the version of its uploaded logo, if it has one.
#[derive(Debug, Clone)]
pub struct PortalApp {
    pub app: Application,
    /// Where its uploaded logo is served (`LogoInfo::url`), if it has one.
    pub logo_url: Option<String>,
}

/// The signed-in user and the applications their portal shows, or `None` when the account no longer exists.
/// A suspended user sees no applications.
pub async fn portal(
    ctx: &Ctx,
    session: &IdpSession,
) -> Result<Option<(crate::directory::User, Vec<PortalApp>)>, Error> {
    let mut conn = ctx.db.conn().await?;
    let user = match users::get_user(&mut conn, session.user_id).await {
        Ok(user) => user,
        Err(crate::store::Error::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let apps = if user.is_active() { apps::list_portal_apps(&mut conn, user.id).await? } else { Vec::new() };
    let versions = if apps.is_empty() { Vec::new() } else { logos::list_logo_versions(&mut conn).await? };
    let apps = apps
        .into_iter()
        .map(|app| {
            let logo_url =
                versions.iter().find(|(id, _)| *id == app.id).map(|(_, version)| logo::url(app.name.as_str(), version));
            PortalApp { app, logo_url }
        })
        .collect();
    Ok(Some((user, apps)))
}

/// The display label of an application, for the sign-in page ("to continue to …").
pub async fn label(ctx: &Ctx, app_name: &str) -> Option<String> {
    let mut conn = ctx.db.conn().await.ok()?;
    apps::find_app(&mut conn, app_name).await.ok().flatten().map(|a| a.display_label)
}
