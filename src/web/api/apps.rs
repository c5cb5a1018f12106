//! `/api/v1/applications`: applications, their SSO settings and attributes, bound groups, certificates and
//! identity management; and `/api/v1/catalog`, the connectors applications can be created from.

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::Json;
use chrono::Utc;
use secrecy::SecretString;

use crate::directory::attributes::AttributeChange;
use crate::directory::{AppKind, AttributeSource};
use crate::saml::{NameIdFormat, SigningMode};
use crate::services::apps as app_service;
use crate::services::apps::change::AppChange;
use crate::services::apps::create::CreateFromConnector;
use crate::services::apps::create::MetadataSource;
use crate::services::catalog;
use crate::services::{apps, certs, idm};
use crate::web::api::model::{
    AppListQuery, AppPage, AppPatch, AppSummary, AppView, AttributeBody, AttributePatch, CatalogQuery,
    CertificateActivate, CertificateView, ConnectorView, IdmActivate, IdmView, ImportCandidate, ImportRequest,
    ImportResult, ImportView, MappingChange, MappingRowView, NewApp, PlaceholderView, RefreshView, RotationStep,
    Skipped,
};
use crate::web::api::{decode_cursor, limit, next_page, Caller, Problem};
use crate::web::AppState;

/// List applications, ordered by name, with search.
#[utoipa::path(get, path = "/api/v1/applications", tag = "applications", params(AppListQuery),
    responses((status = 200, description = "A page of applications", body = AppPage)))]
pub async fn list_apps(
    State(state): State<AppState>,
    _caller: Caller,
    Query(q): Query<AppListQuery>,
) -> Result<Json<AppPage>, Problem> {
    let kind = match q.kind.as_deref() {
        None | Some("") => None,
        Some("saml") => Some(AppKind::Saml),
        Some("bookmark") => Some(AppKind::Bookmark),
        Some(_) => return Err(Problem::bad_request("kind must be saml or bookmark")),
    };
    let after = decode_cursor(q.cursor.as_deref())?;
    let limit = limit(q.limit);
    let text = q.q.as_deref().filter(|t| !t.is_empty());
    let page = app_service::view::list_apps(&state.ctx, text, kind, after.as_deref(), limit).await?;
    let (next_cursor, next) =
        next_page("/api/v1/applications", &[("q", q.q.clone()), ("kind", q.kind)], limit, page.next_after.as_deref());
    let items = page.items.iter().map(AppSummary::of).collect();
    Ok(Json(AppPage { items, next_cursor, next }))
}

/// Create an application: a custom SAML application from its SP's metadata (XML text or URL), one from a
/// catalog connector, or a bookmark.
#[utoipa::path(post, path = "/api/v1/applications", tag = "applications", request_body = NewApp,
    responses(
        (status = 201, description = "Created", body = AppView),
        (status = 409, description = "The name is taken", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_app(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Json(body): Json<NewApp>,
) -> Result<(StatusCode, Json<AppView>), Problem> {
    let now = Utc::now();
    let given = [
        body.metadata_xml.is_some(),
        body.metadata_url.is_some(),
        body.connector.is_some(),
        body.bookmark_url.is_some(),
    ];
    if given.iter().filter(|g| **g).count() != 1 {
        return Err(Problem::invalid("give exactly one of metadata_xml, metadata_url, connector or bookmark_url"));
    }
    let overrides = (body.display_label.as_deref(), body.description.as_deref());
    if let Some(connector) = &body.connector {
        let values: Vec<(String, String)> = body.values.clone().into_iter().collect();
        let request = CreateFromConnector {
            name: &body.name,
            connector,
            values: &values,
            sp_certificate_pem: body.sp_certificate_pem.as_deref(),
            display_label: body.display_label.as_deref(),
        };
        app_service::create::create_from_connector(&state.ctx, &actor, &request, now).await?;
    } else if let Some(url) = &body.bookmark_url {
        app_service::create::create_bookmark(&state.ctx, &actor, &body.name, url, overrides.0, overrides.1, now)
            .await?;
    } else {
        let source = match (body.metadata_xml, body.metadata_url) {
            (Some(xml), _) => MetadataSource::Xml(xml),
            (None, Some(url)) => MetadataSource::Url(url),
            (None, None) => return Err(Problem::invalid("no metadata given")),
        };
        let settings = body.settings_toml.as_deref();
        app_service::create::create_from_metadata(&state.ctx, &actor, &body.name, source, settings, overrides, now)
            .await?;
    }
    let details = app_service::view::details(&state.ctx, &body.name).await?;
    Ok((StatusCode::CREATED, Json(AppView::of(details, now))))
}

/// An application with every setting, its bound groups, certificate and identity management.
#[utoipa::path(get, path = "/api/v1/applications/{name}", tag = "applications",
    params(("name" = String, Path, description = "The application's name")),
    responses((status = 200, description = "The application", body = AppView)))]
pub async fn get_app(
    State(state): State<AppState>,
    _caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<AppView>, Problem> {
    let details = app_service::view::details(&state.ctx, &name).await?;
    Ok(Json(AppView::of(details, Utc::now())))
}

/// Change an application's settings (the fields given).
#[utoipa::path(patch, path = "/api/v1/applications/{name}", tag = "applications", request_body = AppPatch,
    params(("name" = String, Path, description = "The application's name")),
    responses(
        (status = 200, description = "The application as changed", body = AppView),
        (status = 409, description = "An SSO setting on a bookmark application", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn update_app(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(name): Path<String>,
    Json(body): Json<AppPatch>,
) -> Result<Json<AppView>, Problem> {
    let change = AppChange {
        display_label: body.display_label,
        description: body.description,
        show_in_portal: body.show_in_portal,
        is_active: body.is_active,
        bookmark_url: body.bookmark_url,
        name_id_format: match body.name_id_format.as_deref() {
            Some(v) => Some(NameIdFormat::parse(v).ok_or_else(|| {
                Problem::invalid(format!("name_id_format {v:?} must be email, persistent, transient or unspecified"))
            })?),
            None => None,
        },
        name_id_source: match body.name_id_source.as_deref() {
            Some("") => Some(None),
            Some(v) => Some(Some(apps::sp_metadata::property(v)?)),
            None => None,
        },
        signing_mode: match body.signing_mode.as_deref() {
            Some(v) => {
                Some(SigningMode::parse(v).ok_or_else(|| {
                    Problem::invalid(format!("signing_mode {v:?} must be assertion, response or both"))
                })?)
            }
            None => None,
        },
        default_relay_state: body.default_relay_state,
        sp_login_url: body.sp_login_url,
        require_signed_requests: body.require_signed_requests,
        assertion_lifetime_secs: body.assertion_lifetime_secs,
        session_lifetime_secs: body.session_lifetime_secs,
        attributes: match body.attributes {
            Some(list) => Some(list.iter().map(AttributeBody::mapping).collect::<Result<_, _>>()?),
            None => None,
        },
        encrypt_assertions: body.encrypt_assertions,
        data_encryption: match body.encryption_algorithm.as_deref() {
            Some(v) => Some(crate::saml::DataEncryption::parse(v).ok_or_else(|| {
                Problem::invalid(format!("encryption_algorithm {v:?} must be aes256-gcm or aes256-cbc"))
            })?),
            None => None,
        },
        encrypt_name_id: body.encrypt_name_id,
        ..AppChange::default()
    };
    let now = Utc::now();
    app_service::change::update(&state.ctx, &actor, &name, &change, now).await?;
    let details = app_service::view::details(&state.ctx, &name).await?;
    Ok(Json(AppView::of(details, now)))
}

/// Delete an application.
#[utoipa::path(delete, path = "/api/v1/applications/{name}", tag = "applications",
    params(("name" = String, Path, description = "The application's name")),
    responses((status = 204, description = "Deleted")))]
pub async fn delete_app(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(name): Path<String>,
) -> Result<StatusCode, Problem> {
    app_service::change::delete(&state.ctx, &actor, &name, Utc::now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Create or update a SAML application from its SP's metadata, sent as the body.
#[utoipa::path(put, path = "/api/v1/applications/{name}/metadata", tag = "applications",
    params(("name" = String, Path, description = "The application's name")),
    request_body(content = String, content_type = "application/samlmetadata+xml",
        description = "SP metadata (an EntityDescriptor); application/xml and text/xml are accepted too"),
    responses(
        (status = 200, description = "Updated", body = AppView),
        (status = 201, description = "Created", body = AppView),
        (status = 409, description = "The name belongs to a bookmark application", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn import_metadata(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Result<(StatusCode, Json<AppView>), Problem> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let media = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    if !matches!(media.as_str(), "application/samlmetadata+xml" | "application/xml" | "text/xml") {
        return Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "Unsupported media type",
            "send the metadata as application/samlmetadata+xml (or application/xml)",
        ));
    }
    let now = Utc::now();
    let (_, created) = app_service::create::import_metadata(&state.ctx, &actor, &name, &body, now).await?;
    let details = app_service::view::details(&state.ctx, &name).await?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(AppView::of(details, now))))
}

/// Change one attribute: switch it on or off, or give it a property or a constant (JIT attributes too).
#[utoipa::path(patch, path = "/api/v1/applications/{name}/attributes/{attribute}", tag = "applications",
    request_body = AttributePatch,
    params(
        ("name" = String, Path, description = "The application's name"),
        ("attribute" = String, Path, description = "The attribute's SP-side name"),
    ),
    responses((status = 200, description = "The attribute as it now is", body = AttributeBody)))]
pub async fn change_attribute(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path((name, attribute)): Path<(String, String)>,
    Json(body): Json<AttributePatch>,
) -> Result<Json<AttributeBody>, Problem> {
    let source = match (body.property, body.constant) {
        (Some(p), None) => Some(AttributeSource::Property(apps::sp_metadata::property(&p)?)),
        (None, Some(c)) => Some(AttributeSource::Constant(c)),
        (None, None) => None,
        (Some(_), Some(_)) => return Err(Problem::invalid("give property or constant, not both")),
    };
    let change = AttributeChange { source, is_enabled: body.enabled };
    let changed = apps::change::change_attribute(&state.ctx, &actor, &name, &attribute, &change, Utc::now()).await?;
    Ok(Json(AttributeBody::of(&changed)))
}

/// The groups bound to an application.
#[utoipa::path(get, path = "/api/v1/applications/{name}/groups", tag = "applications",
    params(("name" = String, Path, description = "The application's name")),
    responses((status = 200, description = "Group names", body = Vec<String>)))]
pub async fn list_bound_groups(
    State(state): State<AppState>,
    _caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<Vec<String>>, Problem> {
    Ok(Json(app_service::view::details(&state.ctx, &name).await?.bound_groups))
}

/// Bind a group: its members may use the application.
#[utoipa::path(put, path = "/api/v1/applications/{name}/groups/{group}", tag = "applications",
    params(
        ("name" = String, Path, description = "The application's name"),
        ("group" = String, Path, description = "The group's name"),
    ),
    responses(
        (status = 204, description = "Bound"),
        (status = 409, description = "Already bound", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn bind_group(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path((name, group)): Path<(String, String)>,
) -> Result<StatusCode, Problem> {
    apps::change::change_binding(&state.ctx, &actor, &name, &group, true, Utc::now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Unbind a group.
#[utoipa::path(delete, path = "/api/v1/applications/{name}/groups/{group}", tag = "applications",
    params(
        ("name" = String, Path, description = "The application's name"),
        ("group" = String, Path, description = "The group's name"),
    ),
    responses((status = 204, description = "Unbound")))]
pub async fn unbind_group(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path((name, group)): Path<(String, String)>,
) -> Result<StatusCode, Problem> {
    apps::change::change_binding(&state.ctx, &actor, &name, &group, false, Utc::now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The application's current signing certificate, with its PEM and validity.
#[utoipa::path(get, path = "/api/v1/applications/{name}/certificate", tag = "applications",
    params(("name" = String, Path, description = "The application's name")),
    responses((status = 200, description = "The current certificate", body = CertificateView)))]
pub async fn get_certificate(
    State(state): State<AppState>,
    _caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<CertificateView>, Problem> {
    let certificates = certs::certificates(&state.ctx, &name).await?;
    let Some(cert) = certificates.first() else {
        return Err(crate::services::Error::NoSigningKey { app: name }.into());
    };
    Ok(Json(CertificateView::of(cert, Utc::now(), true)))
}

/// Replace the signing certificate at once; the SP must import the new one (metadata or certificate URL).
#[utoipa::path(post, path = "/api/v1/applications/{name}/certificate/rotate", tag = "applications",
    params(("name" = String, Path, description = "The application's name")),
    responses((status = 200, description = "The new certificate", body = CertificateView)))]
pub async fn rotate_certificate(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(name): Path<String>,
) -> Result<Json<CertificateView>, Problem> {
    let now = Utc::now();
    let cert = certs::rotate(&state.ctx, &actor, &name, now).await?;
    Ok(Json(CertificateView::of(&cert, now, true)))
}

/// Every certificate the application publishes (current first, then a staged next one or the previous one).
#[utoipa::path(get, path = "/api/v1/applications/{name}/certificates", tag = "applications",
    params(("name" = String, Path, description = "The application's name")),
    responses((status = 200, description = "Published certificates", body = Vec<CertificateView>)))]
pub async fn list_certificates(
    State(state): State<AppState>,
    _caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<Vec<CertificateView>>, Problem> {
    let now = Utc::now();
    let certificates = certs::certificates(&state.ctx, &name).await?;
    Ok(Json(certificates.iter().map(|c| CertificateView::of(c, now, true)).collect()))
}

/// Rotation without downtime, step 1: generate the next certificate and publish it beside the current one, so
/// SPs can import it before it signs.
#[utoipa::path(post, path = "/api/v1/applications/{name}/certificate/stage", tag = "applications",
    params(("name" = String, Path, description = "The application's name")),
    responses((status = 200, description = "The staged certificate", body = CertificateView)))]
pub async fn stage_certificate(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(name): Path<String>,
) -> Result<Json<CertificateView>, Problem> {
    let now = Utc::now();
    certs::certificates(&state.ctx, &name).await?;
    let cert = certs::stage(&state.ctx, &actor, &name, now).await?;
    Ok(Json(CertificateView::of(&cert, now, true)))
}

/// Rotation step 2: the staged certificate signs from now on, or from `at`.
#[utoipa::path(post, path = "/api/v1/applications/{name}/certificate/activate", tag = "applications",
    request_body = CertificateActivate,
    params(("name" = String, Path, description = "The application's name")),
    responses((status = 200, description = "Activated or scheduled", body = RotationStep)))]
pub async fn activate_certificate(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(name): Path<String>,
    Json(body): Json<CertificateActivate>,
) -> Result<Json<RotationStep>, Problem> {
    certs::certificates(&state.ctx, &name).await?;
    let step = match certs::activate(&state.ctx, &actor, &name, body.at, Utc::now()).await? {
        certs::Activation::Activated { fingerprint } => {
            RotationStep { fingerprint, outcome: "activated".into(), at: None }
        }
        certs::Activation::Scheduled { fingerprint, at } => {
            RotationStep { fingerprint, outcome: "scheduled".into(), at: Some(at) }
        }
    };
    Ok(Json(step))
}

/// Rotation step 3: stop publishing the certificate that signed before the last activation.
#[utoipa::path(post, path = "/api/v1/applications/{name}/certificate/retire", tag = "applications",
    params(("name" = String, Path, description = "The application's name")),
    responses((status = 200, description = "Retired", body = RotationStep)))]
pub async fn retire_certificate(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(name): Path<String>,
) -> Result<Json<RotationStep>, Problem> {
    certs::certificates(&state.ctx, &name).await?;
    let fingerprint = certs::retire(&state.ctx, &actor, &name, Utc::now()).await?;
    Ok(Json(RotationStep { fingerprint, outcome: "retired".into(), at: None }))
}

/// Fetch the SP metadata again from the URL it was registered from; a failure keeps the last good copy.
#[utoipa::path(post, path = "/api/v1/applications/{name}/metadata/refresh", tag = "applications",
    params(("name" = String, Path, description = "The application's name")),
    responses((status = 200, description = "What the refresh found", body = RefreshView)))]
pub async fn refresh_metadata(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(name): Path<String>,
) -> Result<Json<RefreshView>, Problem> {
    let refreshed = apps::refresh::refresh_now(&state.ctx, &actor, &name, Utc::now()).await?;
    let (outcome, details) = match refreshed.outcome {
        apps::refresh::Outcome::Changed(changes) => ("changed", changes),
        apps::refresh::Outcome::Unchanged => ("unchanged", Vec::new()),
        apps::refresh::Outcome::Failed(why) => ("failed", vec![why]),
    };
    Ok(Json(RefreshView { outcome: outcome.into(), details, next_refresh: refreshed.next_refresh }))
}

/// Activate identity management (SCIM 2.0): the connection is verified first; the token is stored sealed and
/// never returned.
#[utoipa::path(put, path = "/api/v1/applications/{name}/idm", tag = "applications", request_body = IdmActivate,
    params(("name" = String, Path, description = "The application's name")),
    responses((status = 200, description = "Active", body = IdmView)))]
pub async fn activate_idm(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(name): Path<String>,
    Json(body): Json<IdmActivate>,
) -> Result<Json<IdmView>, Problem> {
    let activation = idm::Activation {
        base_url: body.base_url,
        values: body.values.into_iter().collect(),
        token: SecretString::from(body.token),
        manage_groups: body.manage_groups,
        soft_delete: body.soft_delete,
    };
    idm::activate(&state.ctx, &actor, &name, activation, Utc::now()).await?;
    idm_view(&state, &name).await
}

/// Deactivate identity management; the SP's accounts are left as they are.
#[utoipa::path(delete, path = "/api/v1/applications/{name}/idm", tag = "applications",
    params(("name" = String, Path, description = "The application's name")),
    responses((status = 204, description = "Deactivated")))]
pub async fn deactivate_idm(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(name): Path<String>,
) -> Result<StatusCode, Problem> {
    idm::deactivate(&state.ctx, &actor, &name, Utc::now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The SP's accounts, marked `new` or `imported`.
#[utoipa::path(get, path = "/api/v1/applications/{name}/idm/import", tag = "applications",
    params(("name" = String, Path, description = "The application's name")),
    responses((status = 200, description = "The SP's accounts", body = Vec<ImportCandidate>)))]
pub async fn list_import_candidates(
    State(state): State<AppState>,
    _caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<Vec<ImportCandidate>>, Problem> {
    let candidates = idm::list_import_candidates(&state.ctx, &name).await?;
    Ok(Json(
        candidates
            .into_iter()
            .map(|c| ImportCandidate {
                user_name: c.user.user_name,
                email: c.user.email,
                given_name: c.user.given_name,
                family_name: c.user.family_name,
                display_name: c.user.display_name,
                active: c.user.active,
                status: c.status.to_owned(),
            })
            .collect(),
    ))
}

/// Import SP accounts into the directory.
#[utoipa::path(post, path = "/api/v1/applications/{name}/idm/import", tag = "applications",
    request_body = ImportRequest,
    params(("name" = String, Path, description = "The application's name")),
    responses((status = 200, description = "What was imported and skipped", body = ImportResult)))]
pub async fn import_users(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(name): Path<String>,
    Json(body): Json<ImportRequest>,
) -> Result<Json<ImportResult>, Problem> {
    if body.users.is_empty() && !body.all_new {
        return Err(Problem::invalid("name users to import, or set all_new"));
    }
    let selected = (!body.all_new).then_some(body.users.as_slice());
    let (imported, skipped) = idm::import_users(&state.ctx, &actor, &name, selected, Utc::now()).await?;
    let skipped = skipped.into_iter().map(|(username, reason)| Skipped { username, reason }).collect();
    Ok(Json(ImportResult { imported, skipped }))
}

/// The SCIM attributes the application sends for its users: its connector's table (or the default one), each
/// required, optional or excluded.
#[utoipa::path(get, path = "/api/v1/applications/{name}/idm/mapping", tag = "applications",
    params(("name" = String, Path, description = "The application's name")),
    responses((status = 200, description = "The mapping", body = Vec<MappingRowView>)))]
pub async fn get_mapping(
    State(state): State<AppState>,
    _caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<Vec<MappingRowView>>, Problem> {
    mapping_view(&state, &name).await
}

/// Exclude optional SCIM attributes (no longer sent) or restore them; required ones cannot be excluded.
#[utoipa::path(patch, path = "/api/v1/applications/{name}/idm/mapping", tag = "applications",
    request_body = MappingChange,
    params(("name" = String, Path, description = "The application's name")),
    responses((status = 200, description = "The mapping after the change", body = Vec<MappingRowView>)))]
pub async fn change_mapping(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(name): Path<String>,
    Json(body): Json<MappingChange>,
) -> Result<Json<Vec<MappingRowView>>, Problem> {
    let restore = (!body.restore_all).then_some(body.restore.as_slice());
    idm::change_mapping(&state.ctx, &actor, &name, &body.exclude, restore, Utc::now()).await?;
    mapping_view(&state, &name).await
}

async fn mapping_view(state: &AppState, name: &str) -> Result<Json<Vec<MappingRowView>>, Problem> {
    let rows = idm::mapping(&state.ctx, name).await?;
    Ok(Json(
        rows.into_iter()
            .map(|r| MappingRowView {
                scim: r.scim,
                source: r.source,
                required: r.required,
                excluded: r.excluded,
                allowed_values: r.allowed_values,
            })
            .collect(),
    ))
}

/// Start a background import of SP accounts (for large imports); `GET` on the same path shows its progress.
#[utoipa::path(post, path = "/api/v1/applications/{name}/idm/imports", tag = "applications",
    request_body = ImportRequest,
    params(("name" = String, Path, description = "The application's name")),
    responses((status = 202, description = "Started", body = ImportView)))]
pub async fn start_import(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(name): Path<String>,
    Json(body): Json<ImportRequest>,
) -> Result<(StatusCode, Json<ImportView>), Problem> {
    if body.users.is_empty() != body.all_new {
        return Err(Problem::invalid("name users to import, or set all_new (not both)"));
    }
    let selected = (!body.all_new).then_some(body.users.as_slice());
    let id = idm::start_import(&state.ctx, &actor, &name, selected, Utc::now()).await?;
    let imports = idm::imports(&state.ctx, &name).await?;
    let started = imports.into_iter().find(|i| i.id == id).ok_or_else(|| Problem::invalid("the import vanished"))?;
    Ok((StatusCode::ACCEPTED, Json(import_view(started))))
}

/// The application's background imports, newest first, with their progress.
#[utoipa::path(get, path = "/api/v1/applications/{name}/idm/imports", tag = "applications",
    params(("name" = String, Path, description = "The application's name")),
    responses((status = 200, description = "Imports", body = Vec<ImportView>)))]
pub async fn list_imports(
    State(state): State<AppState>,
    _caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<Vec<ImportView>>, Problem> {
    Ok(Json(idm::imports(&state.ctx, &name).await?.into_iter().map(import_view).collect()))
}

fn import_view(i: crate::store::imports::Import) -> ImportView {
    let time = |ms: i64| chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default();
    ImportView {
        id: i.id,
        state: i.state,
        selected: i.selected,
        total: i.total,
        imported: i.imported,
        skipped: i.skipped,
        last_error: i.last_error,
        actor: i.actor,
        created_at: time(i.created_at),
        updated_at: time(i.updated_at),
    }
}

/// The connector catalog: the SPs applications can be created from with `connector` and `values`.
#[utoipa::path(get, path = "/api/v1/catalog", tag = "applications", params(CatalogQuery),
    responses((status = 200, description = "Connectors", body = Vec<ConnectorView>)))]
pub async fn list_connectors(
    State(state): State<AppState>,
    _caller: Caller,
    Query(q): Query<CatalogQuery>,
) -> Result<Json<Vec<ConnectorView>>, Problem> {
    let connectors = catalog::search(&state.ctx, q.q.as_deref().unwrap_or_default());
    Ok(Json(
        connectors
            .into_iter()
            .map(|c| ConnectorView {
                id: c.id.clone(),
                name: c.name.clone(),
                description: c.description.clone(),
                placeholders: c
                    .placeholders
                    .iter()
                    .map(|p| PlaceholderView {
                        name: p.name.clone(),
                        label: p.label.clone(),
                        example: p.example.clone(),
                    })
                    .collect(),
                sp_signs_requests: c.sso.sp_signs_requests,
                jit_attributes: c.jit_attributes().map(str::to_owned).collect(),
            })
            .collect(),
    ))
}

async fn idm_view(state: &AppState, name: &str) -> Result<Json<IdmView>, Problem> {
    let details = app_service::view::details(&state.ctx, name).await?;
    match details.idm {
        Some(i) => Ok(Json(IdmView::of(i))),
        None => Err(crate::services::Error::NotFound { what: "integration", name: name.to_owned() }.into()),
    }
}

/// `text` as one URL path segment.
pub(crate) fn path_segment(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
