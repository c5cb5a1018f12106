//! The one lookup of an application that every caller shows (the console's pages, the API, `sesame app show`),
//! the application list, and the IdP metadata document an SP imports.

use chrono::{DateTime, Utc};

use crate::directory::{AppKind, Application};
use crate::saml::keys::Certificate;
use crate::saml::metadata::{idp_metadata, IdpMetadata};
use crate::saml::NameIdFormat;
use crate::services::keys::published_certificates;
use crate::services::login::IdpSession;
use crate::services::{Ctx, Error, Page, MAX_PAGE};
use crate::store::{apps, groups, idm, users};

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
    pub certificates: Vec<crate::services::certs::CertView>,
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
    let certificates = crate::services::certs::cert_views(&mut conn, &app, now).await?;
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
                source: crate::services::apps::change::describe(&a.source),
                enabled: a.is_enabled,
                jit: a.is_jit,
            })
            .collect(),
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
    Ok(idp_metadata(&IdpMetadata {
        entity_id: &entity_id,
        sso_url: &sso_url,
        want_authn_requests_signed: app.sp.require_signed_requests,
        certificates: &certificates,
        name_id_formats: &NameIdFormat::ALL,
        slo_url: Some(&format!("{sso_url}/slo")),
    }))
}

/// The signed-in user and the applications their portal shows, or `None` when the account no longer exists.
/// A suspended user sees no applications.
pub async fn portal(
    ctx: &Ctx,
    session: &IdpSession,
) -> Result<Option<(crate::directory::User, Vec<Application>)>, Error> {
    let mut conn = ctx.db.conn().await?;
    let user = match users::get_user(&mut conn, session.user_id).await {
        Ok(user) => user,
        Err(crate::store::Error::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let apps = if user.is_active() { apps::list_portal_apps(&mut conn, user.id).await? } else { Vec::new() };
    Ok(Some((user, apps)))
}

/// The display label of an application, for the sign-in page ("to continue to …").
pub async fn label(ctx: &Ctx, app_name: &str) -> Option<String> {
    let mut conn = ctx.db.conn().await.ok()?;
    apps::find_app(&mut conn, app_name).await.ok().flatten().map(|a| a.display_label)
}
