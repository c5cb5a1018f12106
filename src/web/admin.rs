//! The admin console's sign-in and sign-out (the console's pages, `web::console`, build on these).
//!
//! The administrator is held under its own session key (`admin`, `web::session`), apart from the portal user
//! (`idp`), so a portal sign-in never grants the console. Every form carries the session's CSRF token
//! (`CsrfForm`), the session id changes at sign-in (no fixation), and failures are throttled like the portal's.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use chrono::Utc;
use tower_sessions::Session;

use crate::audit::{Actor, Event, EventName};
use crate::services::admins::{self, AdminSession, SignIn};
use crate::services::{record, Error};
use crate::web::client::ClientIp;
use crate::web::error::PageError;
use crate::web::session::{
    csrf_token, current_admin, end_admin, fresh_csrf, session_error, start_admin, CsrfFields, CsrfForm, CsrfOnly,
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
        .route("/admin/logout", post(logout))
}

#[derive(Template)]
#[template(path = "admin/login.html")]
struct LoginPage<'a> {
    csrf_token: &'a str,
    username: &'a str,
    needs_code: bool,
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
}

async fn login_page(session: Session) -> Result<Response, PageError> {
    if current_admin(&session).await.is_some() {
        return Ok(Redirect::to("/admin").into_response());
    }
    let token = csrf_token(&session).await?;
    render(&LoginPage { csrf_token: &token, username: "", needs_code: false, error: None }, StatusCode::OK)
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
        Ok(SignIn::NeedsTotp { username }) => {
            // A new id already here: the half-signed-in state must not live under an id chosen before.
            session.cycle_id().await.map_err(session_error)?;
            let pending = Pending { username: username.clone(), at_ms: Utc::now().timestamp_millis() };
            session.insert(PENDING_KEY, &pending).await.map_err(session_error)?;
            let token = fresh_csrf(&session).await?;
            render(
                &LoginPage { csrf_token: &token, username: &username, needs_code: true, error: None },
                StatusCode::OK,
            )
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
    render(&LoginPage { csrf_token: &token, username, needs_code, error: Some(message) }, status)
}

fn render(page: &impl Template, status: StatusCode) -> Result<Response, PageError> {
    let html = page.render().map_err(PageError::from)?;
    Ok((status, Html(html)).into_response())
}
