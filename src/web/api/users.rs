//! `/api/v1/users`: directory users.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::Utc;

use crate::directory::UserStatus;
use crate::services::throttle::{self, Realm};
use crate::services::users::UserFilter;
use crate::services::{links, users};
use crate::web::api::model::users::{
    InvitationView, NewUser, PasswordBody, UserListQuery, UserPage, UserPatch, UserView,
};
use crate::web::api::{decode_cursor, limit, next_page, problem::Problem, Caller};
use crate::web::AppState;

/// List users, ordered by username, with filters.
#[utoipa::path(get, path = "/api/v1/users", tag = "users", params(UserListQuery),
    responses((status = 200, description = "A page of users", body = UserPage)))]
pub async fn list_users(
    State(state): State<AppState>,
    _caller: Caller,
    Query(q): Query<UserListQuery>,
) -> Result<Json<UserPage>, Problem> {
    let status = match q.status.as_deref() {
        None | Some("") => None,
        Some(s) => {
            Some(UserStatus::parse(s).ok_or_else(|| Problem::bad_request("status must be active or suspended"))?)
        }
    };
    let filter = UserFilter { text: q.q.clone().filter(|t| !t.is_empty()), status };
    let after = decode_cursor(q.cursor.as_deref())?;
    let limit = limit(q.limit);
    let page = users::list_users(&state.ctx, &filter, after.as_deref(), limit).await?;
    let (next_cursor, next) =
        next_page("/api/v1/users", &[("q", q.q), ("status", q.status)], limit, page.next_after.as_deref());
    let items = page.items.into_iter().map(|u| UserView::of(u, None)).collect();
    Ok(Json(UserPage { items, next_cursor, next }))
}

/// Create a user.
#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = NewUser,
    responses(
        (status = 201, description = "Created", body = UserView),
        (status = 409, description = "The username is taken", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_user(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Json(body): Json<NewUser>,
) -> Result<(StatusCode, Json<UserView>), Problem> {
    let profile = body.profile();
    let user = users::create_user(&state.ctx, &actor, &body.username, profile, body.password, Utc::now()).await?;
    let (user, groups) = users::get_user(&state.ctx, &user.username).await?;
    Ok((StatusCode::CREATED, Json(UserView::of(user, Some(groups)))))
}

/// A user, with the names of their groups.
#[utoipa::path(get, path = "/api/v1/users/{username}", tag = "users",
    params(("username" = String, Path, description = "The username")),
    responses((status = 200, description = "The user", body = UserView)))]
pub async fn get_user(
    State(state): State<AppState>,
    _caller: Caller,
    Path(username): Path<String>,
) -> Result<Json<UserView>, Problem> {
    let (user, groups) = users::get_user(&state.ctx, &username).await?;
    let invitation = links::invitation(&state.ctx, &username, Utc::now()).await?;
    Ok(Json(UserView { invitation: invitation.map(InvitationView::of), ..UserView::of(user, Some(groups)) }))
}

/// Mail a user without a password a single-use link to choose one; an earlier unused link stops working.
#[utoipa::path(post, path = "/api/v1/users/{username}/invitation", tag = "users",
    params(("username" = String, Path, description = "The username")),
    responses(
        (status = 200, description = "The invitation is queued for mailing", body = InvitationView),
        (status = 409, description = "Mail is not configured, or the user is suspended, has no e-mail address or \
            already has a password", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn invite_user(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(username): Path<String>,
) -> Result<Json<InvitationView>, Problem> {
    let now = Utc::now();
    let expires = links::invite(&state.ctx, &actor, &username, now).await?;
    Ok(Json(InvitationView::of(links::Invitation::Sent { sent: now, expires })))
}

/// Change a user's profile (the fields given).
#[utoipa::path(patch, path = "/api/v1/users/{username}", tag = "users", request_body = UserPatch,
    params(("username" = String, Path, description = "The username")),
    responses((status = 200, description = "The user as changed", body = UserView)))]
pub async fn update_user(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(username): Path<String>,
    Json(body): Json<UserPatch>,
) -> Result<Json<UserView>, Problem> {
    let mut profile = users::find_user(&state.ctx, &username).await?.profile;
    body.apply(&mut profile);
    users::update_user(&state.ctx, &actor, &username, profile, Utc::now()).await?;
    let (user, groups) = users::get_user(&state.ctx, &username).await?;
    Ok(Json(UserView::of(user, Some(groups))))
}

/// Delete a user.
#[utoipa::path(delete, path = "/api/v1/users/{username}", tag = "users",
    params(("username" = String, Path, description = "The username")),
    responses((status = 204, description = "Deleted")))]
pub async fn delete_user(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(username): Path<String>,
) -> Result<StatusCode, Problem> {
    users::delete_user(&state.ctx, &actor, &username, Utc::now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Suspend a user: sign-in and SSO are refused, provisioned accounts are deactivated.
#[utoipa::path(post, path = "/api/v1/users/{username}/suspend", tag = "users",
    params(("username" = String, Path, description = "The username")),
    responses((status = 200, description = "The user, suspended", body = UserView)))]
pub async fn suspend_user(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(username): Path<String>,
) -> Result<Json<UserView>, Problem> {
    users::suspend_user(&state.ctx, &actor, &username, Utc::now()).await?;
    let (user, groups) = users::get_user(&state.ctx, &username).await?;
    Ok(Json(UserView::of(user, Some(groups))))
}

/// Lift a suspension.
#[utoipa::path(post, path = "/api/v1/users/{username}/activate", tag = "users",
    params(("username" = String, Path, description = "The username")),
    responses((status = 200, description = "The user, active", body = UserView)))]
pub async fn activate_user(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(username): Path<String>,
) -> Result<Json<UserView>, Problem> {
    users::activate_user(&state.ctx, &actor, &username, Utc::now()).await?;
    let (user, groups) = users::get_user(&state.ctx, &username).await?;
    Ok(Json(UserView::of(user, Some(groups))))
}

/// Lift the sign-in waits that failed passwords put on a user, from every client.
#[utoipa::path(post, path = "/api/v1/users/{username}/unlock", tag = "users",
    params(("username" = String, Path, description = "The username")),
    responses((status = 200, description = "The user, unlocked", body = UserView)))]
pub async fn unlock_user(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(username): Path<String>,
) -> Result<Json<UserView>, Problem> {
    let (user, groups) = users::get_user(&state.ctx, &username).await?;
    throttle::unlock(&state.ctx, &actor, Realm::User, &username, Utc::now()).await?;
    Ok(Json(UserView::of(user, Some(groups))))
}

/// Set a user's portal password.
#[utoipa::path(put, path = "/api/v1/users/{username}/password", tag = "users", request_body = PasswordBody,
    params(("username" = String, Path, description = "The username")),
    responses((status = 204, description = "The password is set")))]
pub async fn set_password(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(username): Path<String>,
    Json(body): Json<PasswordBody>,
) -> Result<StatusCode, Problem> {
    users::set_password(&state.ctx, &actor, &username, body.password, Utc::now()).await?;
    Ok(StatusCode::NO_CONTENT)
}
