//! `/api/v1/groups`: groups and their members.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::Utc;

use crate::services::groups;
use crate::web::api::model::groups::{
    GroupListQuery, GroupPage, GroupPatch, GroupView, MemberBody, MemberPage, NewGroup,
};
use crate::web::api::model::PageQuery;
use crate::web::api::{decode_cursor, limit, next_page, problem::Problem, Caller};
use crate::web::AppState;

/// List groups, ordered by name.
#[utoipa::path(get, path = "/api/v1/groups", tag = "groups", params(GroupListQuery),
    responses((status = 200, description = "A page of groups", body = GroupPage)))]
pub async fn list_groups(
    State(state): State<AppState>,
    _caller: Caller,
    Query(q): Query<GroupListQuery>,
) -> Result<Json<GroupPage>, Problem> {
    let after = decode_cursor(q.cursor.as_deref())?;
    let limit = limit(q.limit);
    let text = q.q.as_deref().filter(|t| !t.is_empty());
    let page = groups::list_groups(&state.ctx, text, after.as_deref(), limit).await?;
    let (next_cursor, next) = next_page("/api/v1/groups", &[("q", q.q.clone())], limit, page.next_after.as_deref());
    let items = page.items.into_iter().map(|g| GroupView::of(g, None)).collect();
    Ok(Json(GroupPage { items, next_cursor, next }))
}

/// Create a group.
#[utoipa::path(post, path = "/api/v1/groups", tag = "groups", request_body = NewGroup,
    responses(
        (status = 201, description = "Created", body = GroupView),
        (status = 409, description = "The name is taken", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_group(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Json(body): Json<NewGroup>,
) -> Result<(StatusCode, Json<GroupView>), Problem> {
    let group = groups::create_group(&state.ctx, &actor, &body.name, Utc::now()).await?;
    Ok((StatusCode::CREATED, Json(GroupView::of(group, Some(Vec::new())))))
}

/// A group, with the applications it is bound to.
#[utoipa::path(get, path = "/api/v1/groups/{name}", tag = "groups",
    params(("name" = String, Path, description = "The group's name")),
    responses((status = 200, description = "The group", body = GroupView)))]
pub async fn get_group(
    State(state): State<AppState>,
    _caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<GroupView>, Problem> {
    let (group, apps) = groups::get_group(&state.ctx, &name).await?;
    Ok(Json(GroupView::of(group, Some(apps))))
}

/// Rename a group (SPs that manage it follow).
#[utoipa::path(patch, path = "/api/v1/groups/{name}", tag = "groups", request_body = GroupPatch,
    params(("name" = String, Path, description = "The group's name")),
    responses(
        (status = 200, description = "The renamed group", body = GroupView),
        (status = 409, description = "The new name is taken", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn rename_group(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(name): Path<String>,
    Json(body): Json<GroupPatch>,
) -> Result<Json<GroupView>, Problem> {
    if body.name != name {
        groups::rename_group(&state.ctx, &actor, &name, &body.name, Utc::now()).await?;
    }
    let (group, apps) = groups::get_group(&state.ctx, &body.name).await?;
    Ok(Json(GroupView::of(group, Some(apps))))
}

/// Delete a group (SPs that manage it delete it too).
#[utoipa::path(delete, path = "/api/v1/groups/{name}", tag = "groups",
    params(("name" = String, Path, description = "The group's name")),
    responses((status = 204, description = "Deleted")))]
pub async fn delete_group(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(name): Path<String>,
) -> Result<StatusCode, Problem> {
    groups::delete_group(&state.ctx, &actor, &name, Utc::now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// List a group's members (usernames).
#[utoipa::path(get, path = "/api/v1/groups/{name}/members", tag = "groups", params(
        ("name" = String, Path, description = "The group's name"),
        PageQuery,
    ),
    responses((status = 200, description = "A page of members", body = MemberPage)))]
pub async fn list_members(
    State(state): State<AppState>,
    _caller: Caller,
    Path(name): Path<String>,
    Query(q): Query<PageQuery>,
) -> Result<Json<MemberPage>, Problem> {
    let after = decode_cursor(q.cursor.as_deref())?;
    let limit = limit(q.limit);
    let page = groups::list_members(&state.ctx, &name, after.as_deref(), limit).await?;
    let path = format!("/api/v1/groups/{}/members", crate::web::path_segment(&name));
    let (next_cursor, next) = next_page(&path, &[], limit, page.next_after.as_deref());
    Ok(Json(MemberPage { items: page.items, next_cursor, next }))
}

/// Add a user to a group.
#[utoipa::path(post, path = "/api/v1/groups/{name}/members", tag = "groups", request_body = MemberBody,
    params(("name" = String, Path, description = "The group's name")),
    responses(
        (status = 204, description = "Added"),
        (status = 409, description = "Already a member", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn add_member(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(name): Path<String>,
    Json(body): Json<MemberBody>,
) -> Result<StatusCode, Problem> {
    groups::change_member(&state.ctx, &actor, &name, &body.username, true, Utc::now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Remove a user from a group.
#[utoipa::path(delete, path = "/api/v1/groups/{name}/members/{username}", tag = "groups",
    params(
        ("name" = String, Path, description = "The group's name"),
        ("username" = String, Path, description = "The member's username"),
    ),
    responses((status = 204, description = "Removed")))]
pub async fn remove_member(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path((name, username)): Path<(String, String)>,
) -> Result<StatusCode, Problem> {
    groups::change_member(&state.ctx, &actor, &name, &username, false, Utc::now()).await?;
    Ok(StatusCode::NO_CONTENT)
}
