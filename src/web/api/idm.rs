//! `/api/v1/applications/{name}/idm`: an application's identity management (SCIM 2.0): activation, the mapping
//! and its exclusions, imports of the SP's accounts.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;

use crate::services::apps as app_service;
use crate::services::idm;
use crate::web::api::model::idm::{
    IdmActivate, IdmView, ImportCandidate, ImportRequest, ImportResult, ImportView, MappingChange, MappingRowView,
    Skipped,
};
use crate::web::api::problem::Problem;
use crate::web::api::Caller;
use crate::web::AppState;

/// Activate identity management (SCIM 2.0): the connection is verified first; the token is stored sealed and
/// never returned. The token of an active integration is changed by deactivating first (then this records
/// `idm_integration_reauth`); a connector whose SP needs SSO for SCIM is refused while the application's SSO is off.
#[utoipa::path(put, path = "/api/v1/applications/{name}/idm", tag = "applications", request_body = IdmActivate,
    params(("name" = String, Path, description = "The application's name")),
    responses(
        (status = 200, description = "Active", body = IdmView),
        (status = 422, description = "The body is invalid (type `invalid`), or the activation is refused (type `idm-refused`): the SP needs SSO to use SCIM and the application's SSO is off, a new token for an active integration, a Base URL or placeholder value that cannot be used, or the SCIM service did not accept the connection", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn activate_idm(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(name): Path<String>,
    Json(body): Json<IdmActivate>,
) -> Result<Json<IdmView>, Problem> {
    idm::activate(&state.ctx, &actor, &name, body.activation(), Utc::now()).await?;
    idm_view(&state, &name).await
}

/// Deactivate identity management; the SP's accounts are left as they are.
#[utoipa::path(delete, path = "/api/v1/applications/{name}/idm", tag = "applications",
    params(("name" = String, Path, description = "The application's name")),
    responses(
        (status = 204, description = "Deactivated"),
        (status = 422, description = "Identity management is not active (type `idm-refused`)", body = Problem, content_type = "application/problem+json"),
    ))]
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
    responses(
        (status = 200, description = "The SP's accounts", body = Vec<ImportCandidate>),
        (status = 422, description = "Identity management is not active, or the SP refused or failed to list its accounts (type `idm-refused`)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_import_candidates(
    State(state): State<AppState>,
    _caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<Vec<ImportCandidate>>, Problem> {
    let candidates = idm::list_import_candidates(&state.ctx, &name).await?;
    Ok(Json(candidates.into_iter().map(ImportCandidate::of).collect()))
}

/// Import SP accounts into the directory: at once for up to 100 accounts; more, or `all_new` on an SP holding more
/// than 100, run in the background (202, with the import's progress at `GET .../idm/imports`). Accounts suspended in the SP, or that the directory has, are
/// skipped.
#[utoipa::path(post, path = "/api/v1/applications/{name}/idm/import", tag = "applications",
    request_body = ImportRequest,
    params(("name" = String, Path, description = "The application's name")),
    responses(
        (status = 200, description = "What was imported and skipped", body = ImportResult),
        (status = 202, description = "More than 100 accounts (or `all_new` on an SP holding more than 100): started in the background", body = ImportView),
        (status = 422, description = "Identity management is not active, or the SP refused or failed to list its accounts (type `idm-refused`)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn import_users(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(name): Path<String>,
    Json(body): Json<ImportRequest>,
) -> Result<Response, Problem> {
    if body.users.is_empty() && !body.all_new {
        return Err(Problem::invalid("name users to import, or set all_new"));
    }
    let selected = (!body.all_new).then_some(body.users.as_slice());
    match idm::import_users(&state.ctx, &actor, &name, selected, Utc::now()).await? {
        idm::ImportOutcome::Done { imported, skipped } => {
            let skipped = skipped.into_iter().map(|(username, reason)| Skipped { username, reason }).collect();
            Ok(Json(ImportResult { imported, skipped }).into_response())
        }
        idm::ImportOutcome::Background(id) => {
            Ok((StatusCode::ACCEPTED, Json(started(&state, &name, id).await?)).into_response())
        }
    }
}

/// Background import `id`'s view.
async fn started(state: &AppState, name: &str, id: i64) -> Result<ImportView, Problem> {
    let imports = import_views(state, name).await?;
    imports.into_iter().find(|i| i.id == id).ok_or_else(|| Problem::invalid("the import vanished"))
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
    Ok(Json(rows.into_iter().map(MappingRowView::of).collect()))
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
    Ok((StatusCode::ACCEPTED, Json(started(&state, &name, id).await?)))
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
    Ok(Json(import_views(&state, &name).await?))
}

/// The application's imports, newest first, as views (converted here: their stored type is not ours to name).
async fn import_views(state: &AppState, name: &str) -> Result<Vec<ImportView>, Problem> {
    let imports = idm::imports(&state.ctx, name).await?;
    let time = |ms: i64| chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default();
    Ok(imports
        .into_iter()
        .map(|i| ImportView {
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
        })
        .collect())
}

async fn idm_view(state: &AppState, name: &str) -> Result<Json<IdmView>, Problem> {
    let details = app_service::view::details(&state.ctx, name).await?;
    match details.idm {
        Some(i) => Ok(Json(IdmView::of(i))),
        None => Err(crate::services::Error::NotFound { what: "integration", name: name.to_owned() }.into()),
    }
}
