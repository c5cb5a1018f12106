//! `/account`: the signed-in user's own page: change the password (the current one required; every other session
//! ends, this one continues), enrol and remove TOTP, regenerate recovery codes, see the applications this session
//! signed in to, and sign out everywhere. Sensitive changes need the password or a current code unless the
//! session authenticated in the last five minutes (`services::account::is_recent`). Every form carries the CSRF
//! token; a pending TOTP secret waits sealed in the session until a code confirms it.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use chrono::Utc;
use tower_sessions::Session;

use crate::audit::Actor;
use crate::services::login::IdpSession;
use crate::services::totp::TotpEnrolment;
use crate::services::{account, mfa, Error};
use crate::web::client::ClientIp;
use crate::web::error::PageError;
use crate::web::factor::{render, RecoveryCodesPage};
use crate::web::login::login_url;
use crate::web::qr::{qr_path, QrPath};
use crate::web::session::{
    csrf_token, end_idp, end_user_enrolment, keep_user_enrolment, signed_in, start_idp, user_enrolment, CsrfFields,
    CsrfForm, CsrfOnly,
};
use crate::web::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/account", get(show))
        .route("/account/password", post(change_password))
        .route("/account/totp", post(start_totp))
        .route("/account/totp/confirm", post(confirm_totp))
        .route("/account/totp/remove", post(remove_totp))
        .route("/account/recovery-codes", post(regenerate_codes))
        .route("/account/sign-out-everywhere", post(sign_out_everywhere))
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage<'a> {
    csrf_token: &'a str,
    username: &'a str,
    message: Option<&'a str>,
    error: Option<&'a str>,
    is_recent: bool,
    has_totp: bool,
    /// How many passkeys and security keys the user has (managed on `/account/passkeys`).
    key_count: usize,
    is_required: bool,
    unused_codes: i64,
    enrolment: Option<TotpEnrolment>,
    qr: Option<QrPath>,
    sessions: Vec<SessionRow>,
    is_multi_factor: bool,
    min_password: usize,
}

/// A session as the page lists it.
struct SessionRow {
    is_this_one: bool,
    since: String,
    applications: String,
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct AccountQuery {
    done: Option<String>,
}

#[derive(Debug, serde::Deserialize)]
pub struct AccountForm {
    csrf_token: String,
    #[serde(default)]
    proof: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
    #[serde(default)]
    new_password_again: String,
}

impl CsrfFields for AccountForm {
    fn csrf_token(&self) -> &str {
        &self.csrf_token
    }
}

/// The fixed confirmations a change redirects with (post, redirect, get); nothing from the request is echoed.
fn confirmation(key: &str) -> Option<&'static str> {
    Some(match key {
        "password" => "Your password is changed. Your other sessions are signed out.",
        "totp" => "Your authenticator app is set up.",
        "totp-removed" => "Your authenticator app is removed, and with it your recovery codes.",
        _ => return None,
    })
}

async fn show(
    State(state): State<AppState>,
    Query(query): Query<AccountQuery>,
    session: Session,
) -> Result<Response, PageError> {
    let Some(idp) = signed_in(&state.ctx, &session).await? else {
        return Ok(Redirect::to(&login_url("/account", false)).into_response());
    };
    let message = query.done.as_deref().and_then(confirmation);
    page(&state, &session, &idp, message, None, StatusCode::OK).await
}

async fn change_password(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    session: Session,
    CsrfForm(form): CsrfForm<AccountForm>,
) -> Result<Response, PageError> {
    let Some(idp) = signed_in(&state.ctx, &session).await? else {
        return Ok(Redirect::to(&login_url("/account", false)).into_response());
    };
    if form.new_password != form.new_password_again {
        return refuse(&state, &session, &idp, "The new passwords do not match.").await;
    }
    let now = Utc::now();
    let current = &form.current_password;
    match account::change_password(&state.ctx, &idp, current, form.new_password.clone(), client, now).await {
        Ok(renewed) => {
            start_idp(&session, &renewed).await?;
            Ok(Redirect::to("/account?done=password").into_response())
        }
        Err(e) => refused(&state, &session, &idp, e).await,
    }
}

async fn start_totp(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    session: Session,
    CsrfForm(form): CsrfForm<AccountForm>,
) -> Result<Response, PageError> {
    let Some(idp) = signed_in(&state.ctx, &session).await? else {
        return Ok(Redirect::to(&login_url("/account", false)).into_response());
    };
    if let Err(e) = recent_or_proof(&state, &idp, &form.proof, client).await {
        return refused(&state, &session, &idp, e).await;
    }
    keep_user_enrolment(&session, idp.user_id, mfa::start_totp(&state.ctx, idp.user_id)?).await?;
    Ok(Redirect::to("/account#totp").into_response())
}

async fn confirm_totp(
    State(state): State<AppState>,
    session: Session,
    CsrfForm(form): CsrfForm<AccountForm>,
) -> Result<Response, PageError> {
    let Some(idp) = signed_in(&state.ctx, &session).await? else {
        return Ok(Redirect::to(&login_url("/account", false)).into_response());
    };
    let Some(sealed) = user_enrolment(&session, idp.user_id).await else {
        return refuse(&state, &session, &idp, "The set-up expired; start it again.").await;
    };
    let now = Utc::now();
    let actor = Actor::User(idp.username.clone());
    match mfa::confirm_totp(&state.ctx, &actor, idp.user_id, &idp.username, &sealed, &form.code, now).await {
        Ok(codes) => {
            end_user_enrolment(&session).await?;
            // A code of the new authenticator was just proven after the password: the session is multi-factor.
            let idp = IdpSession { mfa_instant_ms: Some(now.timestamp_millis()), ..idp };
            start_idp(&session, &idp).await?;
            match codes {
                Some(codes) => render(&RecoveryCodesPage { codes: &codes, continue_to: "/account" }, StatusCode::OK),
                None => Ok(Redirect::to("/account?done=totp").into_response()),
            }
        }
        Err(e) => refused(&state, &session, &idp, e).await,
    }
}

async fn remove_totp(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    session: Session,
    CsrfForm(form): CsrfForm<AccountForm>,
) -> Result<Response, PageError> {
    let Some(idp) = signed_in(&state.ctx, &session).await? else {
        return Ok(Redirect::to(&login_url("/account", false)).into_response());
    };
    let actor = Actor::User(idp.username.clone());
    let result = match recent_or_proof(&state, &idp, &form.proof, client).await {
        Ok(()) => mfa::remove_totp(&state.ctx, &actor, idp.user_id, &idp.username, Utc::now()).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => Ok(Redirect::to("/account?done=totp-removed").into_response()),
        Err(e) => refused(&state, &session, &idp, e).await,
    }
}

async fn regenerate_codes(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    session: Session,
    CsrfForm(form): CsrfForm<AccountForm>,
) -> Result<Response, PageError> {
    let Some(idp) = signed_in(&state.ctx, &session).await? else {
        return Ok(Redirect::to(&login_url("/account", false)).into_response());
    };
    let actor = Actor::User(idp.username.clone());
    let result = match recent_or_proof(&state, &idp, &form.proof, client).await {
        Ok(()) => mfa::regenerate_recovery_codes(&state.ctx, &actor, idp.user_id, &idp.username, Utc::now()).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(codes) => render(&RecoveryCodesPage { codes: &codes, continue_to: "/account" }, StatusCode::OK),
        Err(e) => refused(&state, &session, &idp, e).await,
    }
}

async fn sign_out_everywhere(
    State(state): State<AppState>,
    session: Session,
    _form: CsrfForm<CsrfOnly>,
) -> Result<Response, PageError> {
    let Some(idp) = signed_in(&state.ctx, &session).await? else {
        return Ok(Redirect::to(&login_url("/account", false)).into_response());
    };
    account::sign_out_everywhere(&state.ctx, &idp, Utc::now()).await?;
    end_idp(&session).await?;
    session.cycle_id().await.map_err(crate::web::session::session_error)?;
    Ok(Redirect::to("/login").into_response())
}

/// A sensitive change goes ahead when the session authenticated in the last five minutes, else with `proof`.
async fn recent_or_proof(
    state: &AppState,
    idp: &IdpSession,
    proof: &str,
    client: Option<std::net::IpAddr>,
) -> Result<(), Error> {
    let now = Utc::now();
    if account::is_recent(idp, now) {
        return Ok(());
    }
    account::reauthenticate(&state.ctx, idp, proof, client, now).await
}

/// A refusal the user can fix is the page's message (400, 401 or 429); anything else is the error page.
async fn refused(state: &AppState, session: &Session, idp: &IdpSession, e: Error) -> Result<Response, PageError> {
    let (text, status) = match &e {
        Error::Invalid(invalid) => (format!("The {} {}.", invalid.field, invalid.problem), StatusCode::BAD_REQUEST),
        Error::BadFactor { reason } => ((*reason).to_owned(), StatusCode::UNAUTHORIZED),
        Error::Throttled => {
            ("Too many wrong attempts. Wait a little and try again.".to_owned(), StatusCode::TOO_MANY_REQUESTS)
        }
        Error::NotFound { .. } => (format!("{e}."), StatusCode::NOT_FOUND),
        _ => return Err(e.into()),
    };
    page(state, session, idp, None, Some(&text), status).await
}

async fn refuse(state: &AppState, session: &Session, idp: &IdpSession, text: &str) -> Result<Response, PageError> {
    page(state, session, idp, None, Some(text), StatusCode::BAD_REQUEST).await
}

async fn page(
    state: &AppState,
    session: &Session,
    idp: &IdpSession,
    message: Option<&str>,
    error: Option<&str>,
    status: StatusCode,
) -> Result<Response, PageError> {
    let ctx = &state.ctx;
    let mfa_status = mfa::status(ctx, idp.user_id).await?;
    let enrolment = match user_enrolment(session, idp.user_id).await {
        Some(sealed) if !mfa_status.has_totp => Some(mfa::totp_enrolment(ctx, idp.user_id, &idp.username, &sealed)?),
        _ => None,
    };
    let qr = enrolment.as_ref().and_then(|e| qr_path(&e.uri));
    let token = csrf_token(session).await?;
    render(
        &AccountPage {
            csrf_token: &token,
            username: &idp.username,
            message,
            error,
            is_recent: account::is_recent(idp, Utc::now()),
            has_totp: mfa_status.has_totp,
            key_count: mfa_status.webauthn_credentials,
            is_required: mfa_status.is_required,
            unused_codes: mfa_status.unused_recovery_codes,
            enrolment,
            qr,
            sessions: account::sessions(ctx, idp, Utc::now())
                .await?
                .into_iter()
                .map(|s| SessionRow {
                    is_this_one: s.is_this_one,
                    since: chrono::DateTime::from_timestamp_millis(s.since_ms)
                        .unwrap_or_default()
                        .format("%Y-%m-%d %H:%M UTC")
                        .to_string(),
                    applications: if s.applications.is_empty() {
                        "none yet".to_owned()
                    } else {
                        s.applications.join(", ")
                    },
                })
                .collect(),
            is_multi_factor: idp.is_multi_factor(),
            min_password: ctx.config.min_password_chars(),
        },
        status,
    )
}
