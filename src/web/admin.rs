//! The admin console's sign-in and sign-out (the console's pages, `web::console`, build on these).
//!
//! The administrator is held under its own session key (`admin`, `web::session`), apart from the portal user
//! (`idp`), so a portal sign-in never grants the console. Every form carries the session's CSRF token
//! (`CsrfForm`), the session id changes at sign-in (no fixation), and failures are throttled like the portal's.

use askama::Template;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Utc;
use tower_sessions::Session;

use crate::audit::{Actor, Event, EventName};
use crate::services::admins::{self, AdminSession, SignIn};
use crate::services::{record, webauthn, Error};
use crate::web::client::ClientIp;
use crate::web::error::PageError;
use crate::web::session::{
    check_header_csrf, csrf_token, current_admin, end_admin, fresh_csrf, read_json, session_error, start_admin,
    CsrfFields, CsrfForm, CsrfOnly,
};
use crate::web::AppState;

/// An administrator whose password was right and whose one-time code is awaited.
const PENDING_KEY: &str = "admin_pending";
/// How long the code may take after the password.
const PENDING_MS: i64 = 5 * 60 * 1000;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/login", get(login_page).post(login_submit))
        .route("/admin/login/totp", post(totp_submit))
        .route("/admin/login/key/start", post(key_start))
        .route("/admin/login/key/finish", post(key_finish))
        .route("/admin/logout", post(logout))
}

#[derive(Template)]
#[template(path = "admin/login.html")]
struct LoginPage<'a> {
    csrf_token: &'a str,
    username: &'a str,
    needs_code: bool,
    /// At the second step: whether a TOTP code, a passkey or security key (or both) may answer it.
    has_totp: bool,
    has_keys: bool,
    error: Option<&'a str>,
}

#[derive(Debug, serde::Deserialize)]
pub struct LoginForm {
    csrf_token: String,
    username: String,
    password: String,
}

impl CsrfFields for LoginForm {
    fn csrf_token(&self) -> &str {
        &self.csrf_token
    }
}

#[derive(Debug, serde::Deserialize)]
pub struct TotpForm {
    csrf_token: String,
    code: String,
}

impl CsrfFields for TotpForm {
    fn csrf_token(&self) -> &str {
        &self.csrf_token
    }
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Pending {
    username: String,
    at_ms: i64,
    #[serde(default = "yes")]
    has_totp: bool,
    #[serde(default)]
    has_keys: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, serde::Deserialize)]
struct KeyFinish {
    challenge: String,
    credential: serde_json::Value,
}

async fn login_page(session: Session) -> Result<Response, PageError> {
    if current_admin(&session).await.is_some() {
        return Ok(Redirect::to("/admin").into_response());
    }
    let token = csrf_token(&session).await?;
    let page = LoginPage {
        csrf_token: &token,
        username: "",
        needs_code: false,
        has_totp: false,
        has_keys: false,
        error: None,
    };
    render(&page, StatusCode::OK)
}

async fn login_submit(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    session: Session,
    CsrfForm(form): CsrfForm<LoginForm>,
) -> Result<Response, PageError> {
    let username = form.username.trim();
    match admins::sign_in(&state.ctx, username, &form.password, client, Utc::now()).await {
        Ok(SignIn::Done(admin)) => establish(&session, &admin).await,
        Ok(SignIn::NeedsTotp { username, has_totp, has_keys }) => {
            // A new id already here: the half-signed-in state must not live under an id chosen before.
            session.cycle_id().await.map_err(session_error)?;
            let at_ms = Utc::now().timestamp_millis();
            let pending = Pending { username: username.clone(), at_ms, has_totp, has_keys };
            session.insert(PENDING_KEY, &pending).await.map_err(session_error)?;
            let token = fresh_csrf(&session).await?;
            let page = LoginPage {
                csrf_token: &token,
                username: &username,
                needs_code: true,
                has_totp,
                has_keys,
                error: None,
            };
            render(&page, StatusCode::OK)
        }
        Err(e) => refused(&session, username, false, e).await,
    }
}

async fn totp_submit(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    session: Session,
    CsrfForm(form): CsrfForm<TotpForm>,
) -> Result<Response, PageError> {
    let now = Utc::now();
    let pending = session.get::<Pending>(PENDING_KEY).await.ok().flatten();
    let Some(pending) = pending.filter(|p| now.timestamp_millis() - p.at_ms < PENDING_MS) else {
        let _ = session.remove::<Pending>(PENDING_KEY).await;
        return refused(&session, "", false, Error::BadCredentials).await;
    };
    match admins::verify_totp(&state.ctx, &pending.username, &form.code, client, now).await {
        Ok(admin) => {
            session.remove::<Pending>(PENDING_KEY).await.map_err(session_error)?;
            establish(&session, &admin).await
        }
        Err(e) => refused(&session, &pending.username, true, e).await,
    }
}

/// The second step with a passkey or security key: the options for `navigator.credentials.get`.
async fn key_start(State(state): State<AppState>, session: Session, headers: HeaderMap) -> Response {
    let result = async {
        check_header_csrf(&session, &headers).await?;
        let pending = fresh_pending(&session).await.ok_or_else(expired)?;
        Ok::<_, PageError>(webauthn::start_admin_factor(&state.ctx, &pending.username, Utc::now()).await?)
    };
    match result.await {
        Ok(ceremony) => Json(ceremony).into_response(),
        Err(e) => e.into_json(),
    }
}

/// Finishes the second step with a passkey or security key; the console session starts as after a TOTP code.
async fn key_finish(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    session: Session,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = async {
        check_header_csrf(&session, &headers).await?;
        let pending = fresh_pending(&session).await.ok_or_else(expired)?;
        let request: KeyFinish = read_json(&body)?;
        let response = request.credential.to_string();
        let admin =
            admins::verify_key(&state.ctx, &pending.username, &request.challenge, &response, client, Utc::now())
                .await?;
        session.remove::<Pending>(PENDING_KEY).await.map_err(session_error)?;
        start_admin(&session, &admin).await?;
        Ok::<_, PageError>(())
    };
    match result.await {
        Ok(()) => Json(serde_json::json!({ "redirect": "/admin" })).into_response(),
        Err(e) => e.into_json(),
    }
}

/// The administrator awaiting a second step, if the password was given in the last five minutes.
async fn fresh_pending(session: &Session) -> Option<Pending> {
    let pending = session.get::<Pending>(PENDING_KEY).await.ok().flatten();
    pending.filter(|p| Utc::now().timestamp_millis() - p.at_ms < PENDING_MS)
}

fn expired() -> PageError {
    PageError::new(StatusCode::UNAUTHORIZED, "Sign-in failed", "Sign in with your password again.")
}

async fn logout(
    State(state): State<AppState>,
    session: Session,
    _form: CsrfForm<CsrfOnly>,
) -> Result<Response, PageError> {
    if let Some(admin) = current_admin(&session).await {
        let actor = Actor::Admin(admin.username.clone());
        record(&state.ctx, Event::new(Utc::now(), EventName::AdminLogout, &actor).target(&admin.username)).await?;
    }
    end_admin(&session).await?;
    session.remove::<Pending>(PENDING_KEY).await.map_err(session_error)?;
    session.cycle_id().await.map_err(session_error)?;
    fresh_csrf(&session).await?;
    Ok(Redirect::to("/admin/login").into_response())
}

/// Signs the administrator in under a new session id and CSRF token (no fixation).
async fn establish(session: &Session, admin: &AdminSession) -> Result<Response, PageError> {
    start_admin(session, admin).await?;
    Ok(Redirect::to("/admin").into_response())
}

/// The same sentence for a wrong name, password or code and for throttling (429), so the page tells nothing.
async fn refused(session: &Session, username: &str, needs_code: bool, e: Error) -> Result<Response, PageError> {
    let status = match e {
        Error::BadCredentials => StatusCode::UNAUTHORIZED,
        Error::Throttled => StatusCode::TOO_MANY_REQUESTS,
        other => return Err(other.into()),
    };
    let token = csrf_token(session).await?;
    let message = if needs_code { "Invalid one-time code." } else { "Invalid username or password." };
    let pending = if needs_code { fresh_pending(session).await } else { None };
    let (has_totp, has_keys) = pending.map_or((needs_code, false), |p| (p.has_totp, p.has_keys));
    let page = LoginPage { csrf_token: &token, username, needs_code, has_totp, has_keys, error: Some(message) };
    render(&page, status)
}

fn render(page: &impl Template, status: StatusCode) -> Result<Response, PageError> {
    let html = page.render().map_err(PageError::from)?;
    Ok((status, Html(html)).into_response())
}
