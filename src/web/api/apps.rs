//! `/api/v1/applications`: applications, their SSO settings and attributes, SP metadata and bound groups. The
//! certificates (`certificates`) and identity management (`idm`) of an application have their own files.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::Json;
use chrono::Utc;

use crate::directory::logo::ImageType;
use crate::directory::AppKind;
use crate::services::apps as app_service;
use crate::services::apps::create::CreateFromConnector;
use crate::web::api::model::apps::{
    AppListQuery, AppPage, AppPatch, AppSummary, AppView, LogoView, NewApp, NewAppSource, RefreshView,
};
use crate::web::api::model::attributes::{AttributeBody, AttributePatch};
use crate::web::api::problem::Problem;
use crate::web::api::{decode_cursor, limit, next_page, Caller};
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
    let (ctx, name) = (&state.ctx, &body.name);
    let overrides = (body.display_label.as_deref(), body.description.as_deref());
    match body.source()? {
        NewAppSource::Connector(connector) => {
            let values = body.values();
            let request = CreateFromConnector {
                name,
                connector,
                values: &values,
                sp_certificate_pem: body.sp_certificate_pem.as_deref(),
                display_label: body.display_label.as_deref(),
            };
            app_service::create::create_from_connector(ctx, &actor, &request, now).await?;
        }
        NewAppSource::Bookmark(url) => {
            app_service::create::create_bookmark(ctx, &actor, name, url, overrides.0, overrides.1, now).await?;
        }
        NewAppSource::Metadata(source) => {
            let settings = body.settings_toml.as_deref();
            app_service::create::create_from_metadata(ctx, &actor, name, source, settings, overrides, now).await?;
        }
    }
    let details = app_service::view::details(ctx, name).await?;
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
    let change = body.change()?;
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

/// Fetch the SP metadata again from the URL it was registered from; a failure keeps the last good copy.
#[utoipa::path(post, path = "/api/v1/applications/{name}/metadata/refresh", tag = "applications",
    params(("name" = String, Path, description = "The application's name")),
    responses(
        (status = 200, description = "What the refresh found", body = RefreshView),
        (status = 409, description = "A refresh of this application is running already", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn refresh_metadata(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(name): Path<String>,
) -> Result<Json<RefreshView>, Problem> {
    let refreshed = app_service::refresh::refresh_now(&state.ctx, &actor, &name, Utc::now()).await?;
    Ok(Json(RefreshView::of(refreshed)))
}

/// Approve the ACS change held from a metadata refresh: the held document's ACS URLs (checked again against the
/// application as it is now) replace the current ones.
#[utoipa::path(post, path = "/api/v1/applications/{name}/metadata/held/approve", tag = "applications",
    params(("name" = String, Path, description = "The application's name")),
    responses(
        (status = 200, description = "Approved: the application with its new ACS URLs", body = AppView),
        (status = 404, description = "No such application, or no ACS change is held for it", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The held document no longer passes the application's checks (signature, entity, ACS URLs); it stays held", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn approve_held_acs(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(name): Path<String>,
) -> Result<Json<AppView>, Problem> {
    let now = Utc::now();
    app_service::refresh::approve_held(&state.ctx, &actor, &name, now).await?;
    let details = app_service::view::details(&state.ctx, &name).await?;
    Ok(Json(AppView::of(details, now)))
}

/// Reject the ACS change held from a metadata refresh: the current ACS URLs stay (a later refresh that still names
/// the new host holds it again).
#[utoipa::path(post, path = "/api/v1/applications/{name}/metadata/held/reject", tag = "applications",
    params(("name" = String, Path, description = "The application's name")),
    responses(
        (status = 200, description = "Rejected: the application, its ACS URLs unchanged", body = AppView),
        (status = 404, description = "No such application, or no ACS change is held for it", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn reject_held_acs(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(name): Path<String>,
) -> Result<Json<AppView>, Problem> {
    let now = Utc::now();
    app_service::refresh::reject_held(&state.ctx, &actor, &name, now).await?;
    let details = app_service::view::details(&state.ctx, &name).await?;
    Ok(Json(AppView::of(details, now)))
}

/// Upload (or replace) the application's portal tile logo: a PNG, JPEG or WebP image of at most 256 KiB, sent as
/// the body with its type. The type is read from the image's own bytes and must agree with the declared one; SVG
/// is never accepted. The logo is served at `logo.url` and shown on the portal's tile.
#[utoipa::path(put, path = "/api/v1/applications/{name}/logo", tag = "applications",
    params(("name" = String, Path, description = "The application's name")),
    request_body(description = "The image (at most 256 KiB)",
        content((String = "image/png"), (String = "image/jpeg"), (String = "image/webp"))),
    responses(
        (status = 200, description = "The logo as stored", body = LogoView),
    ))]
pub async fn put_logo(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<LogoView>, Problem> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let Some(declared) = ImageType::from_media_type(content_type) else {
        return Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "Unsupported media type",
            "send the logo as image/png, image/jpeg or image/webp",
        ));
    };
    let stored =
        app_service::logo::set_logo(&state.ctx, &actor, &name, &body, Some(declared.media_type()), Utc::now()).await?;
    Ok(Json(LogoView::of(&name, &stored)))
}

/// Remove the application's portal tile logo; the tile shows its image URL or its initial again.
#[utoipa::path(delete, path = "/api/v1/applications/{name}/logo", tag = "applications",
    params(("name" = String, Path, description = "The application's name")),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "No such application, or it has no logo", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn delete_logo(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(name): Path<String>,
) -> Result<StatusCode, Problem> {
    app_service::logo::remove_logo(&state.ctx, &actor, &name, Utc::now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Change one attribute: switch it on or off, or give it a property or a constant (JIT attributes too).
#[utoipa::path(patch, path = "/api/v1/applications/{name}/attributes/{attribute}", tag = "applications",
    request_body = AttributePatch,
    params(
        ("name" = String, Path, description = "The application's name"),
        ("attribute" = String, Path, description = "The attribute's SP-side name"),
    ),
    responses(
        (status = 200, description = "The attribute as it now is", body = AttributeBody),
        (status = 409, description = "A bookmark application, which sends no attributes", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn change_attribute(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path((name, attribute)): Path<(String, String)>,
    Json(body): Json<AttributePatch>,
) -> Result<Json<AttributeBody>, Problem> {
    let change = body.change()?;
    let changed =
        app_service::change::change_attribute(&state.ctx, &actor, &name, &attribute, &change, Utc::now()).await?;
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
    app_service::change::change_binding(&state.ctx, &actor, &name, &group, true, Utc::now()).await?;
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
    app_service::change::change_binding(&state.ctx, &actor, &name, &group, false, Utc::now()).await?;
    Ok(StatusCode::NO_CONTENT)
}
