//! `/api/v1/applications/{name}/certificate(s)`: an application's signing certificates and their rotation, at once
//! or staged (stage, activate now or at a time, retire).

use axum::extract::{Path, State};
use axum::Json;
use chrono::Utc;

use crate::services::certs;
use crate::web::api::model::certificates::{CertificateActivate, CertificateView, RotationStep};
use crate::web::api::problem::Problem;
use crate::web::api::Caller;
use crate::web::AppState;

/// The application's current signing certificate, with its PEM and validity.
#[utoipa::path(get, path = "/api/v1/applications/{name}/certificate", tag = "applications",
    params(("name" = String, Path, description = "The application's name")),
    responses(
        (status = 200, description = "The current certificate", body = CertificateView),
        (status = 409, description = "A bookmark application, which has no certificates", body = Problem, content_type = "application/problem+json"),
    ))]
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
    responses(
        (status = 200, description = "The new certificate", body = CertificateView),
        (status = 409, description = "A bookmark application, which has no certificates", body = Problem, content_type = "application/problem+json"),
    ))]
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
    responses(
        (status = 200, description = "Published certificates", body = Vec<CertificateView>),
        (status = 409, description = "A bookmark application, which has no certificates", body = Problem, content_type = "application/problem+json"),
    ))]
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
    responses(
        (status = 200, description = "The staged certificate", body = CertificateView),
        (status = 409, description = "A bookmark application, which has no certificates", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A certificate is staged already; activate it first", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn stage_certificate(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(name): Path<String>,
) -> Result<Json<CertificateView>, Problem> {
    let now = Utc::now();
    let cert = certs::stage(&state.ctx, &actor, &name, now).await?;
    Ok(Json(CertificateView::of(&cert, now, true)))
}

/// Rotation step 2: the staged certificate signs from now on, or from `at`.
#[utoipa::path(post, path = "/api/v1/applications/{name}/certificate/activate", tag = "applications",
    request_body = CertificateActivate,
    params(("name" = String, Path, description = "The application's name")),
    responses(
        (status = 200, description = "Activated or scheduled", body = RotationStep),
        (status = 409, description = "A bookmark application, which has no certificates", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "No certificate is staged, or the body is invalid", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn activate_certificate(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(name): Path<String>,
    Json(body): Json<CertificateActivate>,
) -> Result<Json<RotationStep>, Problem> {
    let activation = certs::activate(&state.ctx, &actor, &name, body.at, Utc::now()).await?;
    Ok(Json(RotationStep::of(activation)))
}

/// Rotation step 3: stop publishing the certificate that signed before the last activation.
#[utoipa::path(post, path = "/api/v1/applications/{name}/certificate/retire", tag = "applications",
    params(("name" = String, Path, description = "The application's name")),
    responses(
        (status = 200, description = "Retired", body = RotationStep),
        (status = 409, description = "A bookmark application, which has no certificates", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "No previous certificate to retire (activate a staged one first)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn retire_certificate(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(name): Path<String>,
) -> Result<Json<RotationStep>, Problem> {
    let fingerprint = certs::retire(&state.ctx, &actor, &name, Utc::now()).await?;
    Ok(Json(RotationStep::retired(fingerprint)))
}
