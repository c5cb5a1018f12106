//! The second step of a sign-in and the step-up of a signed-in session: `/login/factor` asks for a TOTP code or a
//! recovery code, `/login/enrol` enrols a TOTP authenticator when a policy requires a factor and the user has
//! none (then shows the recovery codes once). Both serve either a sign-in whose password was right
//! (`session::pending_sign_in`: no IdP session exists until the factor is proven) or a signed-in, password-only
//! session that an application or a request needs to step up; either way the IdP session starts (again) under a
//! new id with `mfa_instant_ms` set.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Json;
use axum::Router;
use chrono::{DateTime, Utc};
use tower_sessions::Session;

use crate::audit::Actor;
use crate::services::login::IdpSession;
use crate::services::mfa::{self, Proof};
use crate::services::totp::TotpEnrolment;
use crate::services::{participation, webauthn, Error};
use crate::web::client::ClientIp;
use crate::web::error::PageError;
use crate::web::login::{login_url, safe_next, step_url, LoginQuery};
use crate::web::qr::{qr_path, QrPath};
use crate::web::session::{
    check_header_csrf, csrf_token, current_session, end_user_enrolment, finish_sign_in, keep_user_enrolment,
    pending_sign_in, read_json, signed_in, user_enrolment, CsrfFields, CsrfForm,
};
use crate::web::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/login/factor", get(factor_page).post(factor_submit))
        .route("/login/enrol", get(enrol_page).post(enrol_submit))
        .route("/login/factor/key/start", post(key_start))
        .route("/login/factor/key/finish", post(key_finish))
}

#[derive(Template)]
#[template(path = "factor.html")]
struct FactorPage<'a> {
    csrf_token: &'a str,
    continue_to: &'a str,
    is_step_up: bool,
    error: Option<&'a str>,
    /// Which factors the user has: a TOTP code is asked for only with TOTP, the key button only with a key.
    has_totp: bool,
    has_keys: bool,
    /// The security key's finish URL, which carries where to continue.
    key_finish: String,
}

#[derive(Template)]
#[template(path = "enrol.html")]
struct EnrolPage<'a> {
    csrf_token: &'a str,
    continue_to: &'a str,
    enrolment: &'a TotpEnrolment,
    qr: Option<QrPath>,
    error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "recovery_codes.html")]
pub struct RecoveryCodesPage<'a> {
    pub codes: &'a [String],
    pub continue_to: &'a str,
}

#[derive(Debug, serde::Deserialize)]
pub struct FactorForm {
    csrf_token: String,
    #[serde(rename = "continue", default)]
    continue_to: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    recovery_code: String,
}

impl CsrfFields for FactorForm {
    fn csrf_token(&self) -> &str {
        &self.csrf_token
    }
}

/// Who the step is for: a sign-in waiting for its factor, or a signed-in session stepping up.
enum Subject {
    SignIn(IdpSession),
    StepUp(IdpSession),
}

impl Subject {
    fn idp(&self) -> &IdpSession {
        match self {
            Self::SignIn(idp) | Self::StepUp(idp) => idp,
        }
    }
}

async fn subject(state: &AppState, session: &Session, now: DateTime<Utc>) -> Result<Option<Subject>, PageError> {
    if let Some(idp) = pending_sign_in(session, now.timestamp_millis()).await {
        return Ok(Some(Subject::SignIn(idp)));
    }
    Ok(signed_in(&state.ctx, session).await?.map(Subject::StepUp))
}

async fn factor_page(
    State(state): State<AppState>,
    Query(query): Query<LoginQuery>,
    session: Session,
) -> Result<Response, PageError> {
    let next = safe_next(query.continue_to.as_deref());
    let Some(subject) = subject(&state, &session, Utc::now()).await? else {
        return Ok(Redirect::to(&login_url(&next, false)).into_response());
    };
    let is_step_up = matches!(subject, Subject::StepUp(_));
    render_factor(&state, &session, subject.idp(), &next, is_step_up, None, StatusCode::OK).await
}

async fn factor_submit(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    session: Session,
    CsrfForm(form): CsrfForm<FactorForm>,
) -> Result<Response, PageError> {
    let now = Utc::now();
    let next = safe_next(Some(&form.continue_to));
    let Some(subject) = subject(&state, &session, now).await? else {
        return Ok(Redirect::to(&login_url(&next, false)).into_response());
    };
    let is_step_up = matches!(subject, Subject::StepUp(_));
    let (proof, what) = if form.recovery_code.trim().is_empty() {
        (Proof::Totp(&form.code), "TOTP")
    } else {
        (Proof::Recovery(&form.recovery_code), "recovery code")
    };
    let purpose = if is_step_up { "step-up" } else { "sign-in" };
    let idp = subject.idp();
    match mfa::verify(&state.ctx, idp.user_id, &idp.username, proof, purpose, client, now).await {
        Ok(()) => {
            if is_step_up {
                mfa::record_step_up(&state.ctx, &idp.username, what, now).await?;
            }
            complete(&state, &session, subject, now).await?;
            Ok(Redirect::to(&next).into_response())
        }
        Err(Error::BadFactor { reason }) => {
            render_factor(&state, &session, idp, &next, is_step_up, Some(reason), StatusCode::UNAUTHORIZED).await
        }
        Err(Error::Throttled) => {
            let message = "Too many wrong codes. Wait a little and try again.";
            let status = StatusCode::TOO_MANY_REQUESTS;
            render_factor(&state, &session, idp, &next, is_step_up, Some(message), status).await
        }
        Err(e) => Err(e.into()),
    }
}

async fn enrol_page(
    State(state): State<AppState>,
    Query(query): Query<LoginQuery>,
    session: Session,
) -> Result<Response, PageError> {
    let next = safe_next(query.continue_to.as_deref());
    let Some(subject) = subject(&state, &session, Utc::now()).await? else {
        return Ok(Redirect::to(&login_url(&next, false)).into_response());
    };
    // Enrolment here is only for users without a factor: one who has a factor proves it instead.
    if mfa::status(&state.ctx, subject.idp().user_id).await?.has_factor() {
        return Ok(Redirect::to(&step_url("/login/factor", &next)).into_response());
    }
    render_enrol(&state, &session, subject.idp(), &next, None, StatusCode::OK).await
}

async fn enrol_submit(
    State(state): State<AppState>,
    session: Session,
    CsrfForm(form): CsrfForm<FactorForm>,
) -> Result<Response, PageError> {
    let now = Utc::now();
    let next = safe_next(Some(&form.continue_to));
    let Some(subject) = subject(&state, &session, now).await? else {
        return Ok(Redirect::to(&login_url(&next, false)).into_response());
    };
    let idp = subject.idp();
    if mfa::status(&state.ctx, idp.user_id).await?.has_factor() {
        return Ok(Redirect::to(&step_url("/login/factor", &next)).into_response());
    }
    let Some(sealed) = user_enrolment(&session, idp.user_id).await else {
        return render_enrol(
            &state,
            &session,
            idp,
            &next,
            Some("The enrolment expired; scan this new code."),
            StatusCode::BAD_REQUEST,
        )
        .await;
    };
    let actor = Actor::User(idp.username.clone());
    match mfa::confirm_totp(&state.ctx, &actor, idp.user_id, &idp.username, &sealed, &form.code, now).await {
        Ok(codes) => {
            end_user_enrolment(&session).await?;
            complete(&state, &session, subject, now).await?;
            match codes {
                Some(codes) => render(&RecoveryCodesPage { codes: &codes, continue_to: &next }, StatusCode::OK),
                None => Ok(Redirect::to(&next).into_response()),
            }
        }
        Err(Error::Invalid(invalid)) => {
            let message = format!("The {} {}.", invalid.field, invalid.problem);
            let idp = subject.idp();
            render_enrol(&state, &session, idp, &next, Some(&message), StatusCode::BAD_REQUEST).await
        }
        Err(e) => Err(e.into()),
    }
}

/// The second factor is proven: the IdP session (the pending sign-in's, or the stepped-up one) starts under a new
/// id, multi-factor from now.
async fn complete(state: &AppState, session: &Session, subject: Subject, now: DateTime<Utc>) -> Result<(), PageError> {
    let idp = match subject {
        Subject::SignIn(idp) => {
            // As at a password-only sign-in: the same user keeps the session index, another user's ends first.
            let previous = current_session(session).await;
            participation::hand_over(&state.ctx, previous.as_ref(), idp, now).await?
        }
        Subject::StepUp(idp) => idp,
    };
    let idp = IdpSession { mfa_instant_ms: Some(now.timestamp_millis()), ..idp };
    finish_sign_in(session, &idp).await
}

async fn render_factor(
    state: &AppState,
    session: &Session,
    idp: &IdpSession,
    next: &str,
    is_step_up: bool,
    error: Option<&str>,
    status: StatusCode,
) -> Result<Response, PageError> {
    let token = csrf_token(session).await?;
    let factors = mfa::status(&state.ctx, idp.user_id).await?;
    let page = FactorPage {
        csrf_token: &token,
        continue_to: next,
        is_step_up,
        error,
        has_totp: factors.has_totp,
        has_keys: factors.webauthn_credentials > 0,
        key_finish: step_url("/login/factor/key/finish", next),
    };
    render(&page, status)
}

/// Starts a security key (or passkey) as the second factor of the waiting sign-in or the step-up (JSON, the
/// CSRF token in `x-csrf-token`).
async fn key_start(State(state): State<AppState>, session: Session, headers: HeaderMap) -> Response {
    let result = async {
        check_header_csrf(&session, &headers).await?;
        let now = Utc::now();
        let Some(subject) = subject(&state, &session, now).await? else {
            return Err(PageError::from(Error::CeremonyExpired));
        };
        Ok(webauthn::start_second_factor(&state.ctx, subject.idp().user_id, now).await?)
    };
    match result.await {
        Ok(ceremony) => Json(ceremony).into_response(),
        Err(e) => e.into_json(),
    }
}

/// Finishes it: the key must belong to the user whose sign-in (or session) waits; then the session is
/// multi-factor, as after a code.
async fn key_finish(
    State(state): State<AppState>,
    Query(query): Query<LoginQuery>,
    session: Session,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = async {
        check_header_csrf(&session, &headers).await?;
        let request: KeyFinish = read_json(&body)?;
        let now = Utc::now();
        let Some(subject) = subject(&state, &session, now).await? else {
            return Err(PageError::from(Error::CeremonyExpired));
        };
        let response = request.credential.to_string();
        let user = webauthn::finish_second_factor(&state.ctx, &request.challenge, &response, now).await?;
        if user != subject.idp().user_id {
            return Err(PageError::from(Error::FactorRefused {
                reason: "this key belongs to another account".to_owned(),
            }));
        }
        if matches!(subject, Subject::StepUp(_)) {
            mfa::record_step_up(&state.ctx, &subject.idp().username, "security key", now).await?;
        }
        complete(&state, &session, subject, now).await?;
        Ok(safe_next(query.continue_to.as_deref()))
    };
    match result.await {
        Ok(next) => Json(serde_json::json!({ "redirect": next })).into_response(),
        Err(e) => e.into_json(),
    }
}

#[derive(Debug, serde::Deserialize)]
struct KeyFinish {
    challenge: String,
    credential: serde_json::Value,
}

async fn render_enrol(
    state: &AppState,
    session: &Session,
    idp: &IdpSession,
    next: &str,
    error: Option<&str>,
    status: StatusCode,
) -> Result<Response, PageError> {
    let sealed = match user_enrolment(session, idp.user_id).await {
        Some(sealed) => sealed,
        None => {
            let sealed = mfa::start_totp(&state.ctx, idp.user_id)?;
            keep_user_enrolment(session, idp.user_id, sealed.clone()).await?;
            sealed
        }
    };
    let enrolment = mfa::totp_enrolment(&state.ctx, idp.user_id, &idp.username, &sealed)?;
    let qr = qr_path(&enrolment.uri);
    let token = csrf_token(session).await?;
    render(&EnrolPage { csrf_token: &token, continue_to: next, enrolment: &enrolment, qr, error }, status)
}

pub fn render(page: &impl Template, status: StatusCode) -> Result<Response, PageError> {
    let html = page.render().map_err(PageError::from)?;
    Ok((status, Html(html)).into_response())
}
