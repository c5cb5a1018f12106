//! The pages of the links mailed to users: an invitation (`/invite/{token}`) and a password reset
//! (`/login/forgot` asks for one, `/login/reset/{token}` uses it). Either sets a password, which uses the link up,
//! and the user then signs in as usual at `/login` (so a factor, or a policy's enrolment, still applies).

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use chrono::Utc;
use tower_sessions::Session;

use crate::services::{links, Error};
use crate::web::client::ClientIp;
use crate::web::error::PageError;
use crate::web::session::{csrf_token, CsrfFields, CsrfForm};
use crate::web::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/invite/{token}", get(invite_page).post(invite_submit))
        .route("/login/forgot", get(forgot_page).post(forgot_submit))
        .route("/login/reset/{token}", get(reset_page).post(reset_submit))
}

#[derive(Template)]
#[template(path = "set_password.html")]
struct SetPasswordPage<'a> {
    heading: &'a str,
    action: &'a str,
    csrf_token: &'a str,
    username: &'a str,
    error: Option<&'a str>,
}

#[derive(Debug, serde::Deserialize)]
pub struct SetPasswordForm {
    csrf_token: String,
    password: String,
    confirm: String,
}

impl CsrfFields for SetPasswordForm {
    fn csrf_token(&self) -> &str {
        &self.csrf_token
    }
}

/// The URL of a link's page; only URL-safe base64 tokens are ever issued.
fn action(base: &str, token: &str) -> String {
    let token: String = token.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_')).collect();
    format!("{base}/{token}")
}

const INVITE: (&str, &str) = ("Choose your password", "/invite");
const RESET: (&str, &str) = ("Choose a new password", "/login/reset");

async fn invite_page(
    State(state): State<AppState>,
    Path(token): Path<String>,
    session: Session,
) -> Result<Response, PageError> {
    let user = links::check_invitation(&state.ctx, &token, Utc::now()).await?;
    render(&session, INVITE, &token, &user.username, None, StatusCode::OK).await
}

async fn invite_submit(
    State(state): State<AppState>,
    Path(token): Path<String>,
    session: Session,
    CsrfForm(form): CsrfForm<SetPasswordForm>,
) -> Result<Response, PageError> {
    let now = Utc::now();
    match links::accept_invitation(&state.ctx, &token, form.password.clone(), &form.confirm, now).await {
        Ok(_) => Ok(Redirect::to("/login?notice=password_set").into_response()),
        Err(Error::Invalid(invalid)) => {
            let user = links::check_invitation(&state.ctx, &token, now).await?;
            let message = format!("The {} {}.", field_label(invalid.field), invalid.problem);
            render(&session, INVITE, &token, &user.username, Some(&message), StatusCode::BAD_REQUEST).await
        }
        Err(e) => Err(e.into()),
    }
}

fn field_label(field: &str) -> &str {
    match field {
        "confirm" => "second password",
        _ => "password",
    }
}

async fn render(
    session: &Session,
    (heading, base): (&str, &str),
    token: &str,
    username: &str,
    error: Option<&str>,
    status: StatusCode,
) -> Result<Response, PageError> {
    let csrf = csrf_token(session).await?;
    let page = SetPasswordPage { heading, action: &action(base, token), csrf_token: &csrf, username, error };
    Ok((status, Html(page.render().map_err(PageError::from)?)).into_response())
}

#[derive(Template)]
#[template(path = "forgot.html")]
struct ForgotPage<'a> {
    csrf_token: &'a str,
    available: bool,
    sent: bool,
}

#[derive(Debug, serde::Deserialize)]
pub struct ForgotForm {
    csrf_token: String,
    who: String,
}

impl CsrfFields for ForgotForm {
    fn csrf_token(&self) -> &str {
        &self.csrf_token
    }
}

async fn render_forgot(state: &AppState, session: &Session, sent: bool) -> Result<Response, PageError> {
    let csrf = csrf_token(session).await?;
    let available = state.ctx.mailer.is_configured();
    let page = ForgotPage { csrf_token: &csrf, available, sent };
    Ok(Html(page.render().map_err(PageError::from)?).into_response())
}

async fn forgot_page(State(state): State<AppState>, session: Session) -> Result<Response, PageError> {
    render_forgot(&state, &session, false).await
}

/// The same answer whether or not an account matched, was suspended or over its limits.
async fn forgot_submit(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    session: Session,
    CsrfForm(form): CsrfForm<ForgotForm>,
) -> Result<Response, PageError> {
    match links::request_reset(&state.ctx, &form.who, client, Utc::now()).await {
        Ok(()) => render_forgot(&state, &session, true).await,
        Err(Error::MailNotConfigured) => render_forgot(&state, &session, false).await,
        Err(e) => Err(e.into()),
    }
}

async fn reset_page(
    State(state): State<AppState>,
    Path(token): Path<String>,
    session: Session,
) -> Result<Response, PageError> {
    let user = links::check_reset(&state.ctx, &token, Utc::now()).await?;
    render(&session, RESET, &token, &user.username, None, StatusCode::OK).await
}

async fn reset_submit(
    State(state): State<AppState>,
    Path(token): Path<String>,
    session: Session,
    CsrfForm(form): CsrfForm<SetPasswordForm>,
) -> Result<Response, PageError> {
    let now = Utc::now();
    match links::complete_reset(&state.ctx, &token, form.password.clone(), &form.confirm, now).await {
        Ok(_) => Ok(Redirect::to("/login?notice=password_reset").into_response()),
        Err(Error::Invalid(invalid)) => {
            let user = links::check_reset(&state.ctx, &token, now).await?;
            let message = format!("The {} {}.", field_label(invalid.field), invalid.problem);
            render(&session, RESET, &token, &user.username, Some(&message), StatusCode::BAD_REQUEST).await
        }
        Err(e) => Err(e.into()),
    }
}
