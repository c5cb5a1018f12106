//! `/api/v1/users/{username}/mfa` (a user's second factors and their reset) and `/api/v1/mfa/policy` (who must
//! sign in with a second factor).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::Utc;

use crate::services::{mfa, users};
use crate::web::api::model::mfa::{MfaPolicyBody, UserMfaView};
use crate::web::api::{problem::Problem, Caller};
use crate::web::AppState;

/// A user's second factors (kind, name, created, last used; never secrets).
#[utoipa::path(get, path = "/api/v1/users/{username}/mfa", tag = "users",
    params(("username" = String, Path, description = "The username")),
    responses((status = 200, description = "The user's factors", body = UserMfaView)))]
pub async fn get_user_mfa(
    State(state): State<AppState>,
    _caller: Caller,
    Path(username): Path<String>,
) -> Result<Json<UserMfaView>, Problem> {
    let (user, _) = users::get_user(&state.ctx, &username).await?;
    let factors = mfa::list_factors(&state.ctx, &username).await?;
    let status = mfa::status(&state.ctx, user.id).await?;
    Ok(Json(UserMfaView::of(user.username, factors, status)))
}

/// Reset a user's MFA: every factor and recovery code is removed, the user's sessions end, and the user enrols
/// again at the next sign-in.
#[utoipa::path(delete, path = "/api/v1/users/{username}/mfa", tag = "users",
    params(("username" = String, Path, description = "The username")),
    responses((status = 204, description = "The factors are removed; enrolment at the next sign-in")))]
pub async fn reset_user_mfa(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(username): Path<String>,
) -> Result<StatusCode, Problem> {
    mfa::reset(&state.ctx, &actor, &username, Utc::now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Who must sign in with a second factor: everyone, or members of these groups.
#[utoipa::path(get, path = "/api/v1/mfa/policy", tag = "mfa",
    responses((status = 200, description = "The MFA policy", body = MfaPolicyBody)))]
pub async fn get_policy(State(state): State<AppState>, _caller: Caller) -> Result<Json<MfaPolicyBody>, Problem> {
    Ok(Json(MfaPolicyBody::of(mfa::policy(&state.ctx).await?)))
}

/// Set who must sign in with a second factor.
#[utoipa::path(put, path = "/api/v1/mfa/policy", tag = "mfa", request_body = MfaPolicyBody,
    responses(
        (status = 200, description = "The MFA policy", body = MfaPolicyBody),
        (status = 404, description = "A group does not exist", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn set_policy(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Json(body): Json<MfaPolicyBody>,
) -> Result<Json<MfaPolicyBody>, Problem> {
    mfa::replace_policy(&state.ctx, &actor, &body.policy(), Utc::now()).await?;
    Ok(Json(MfaPolicyBody::of(mfa::policy(&state.ctx).await?)))
}
