//! The page an invitation link opens (`/invite/{token}`): the invited user chooses a password, which uses the
//! link up, and then signs in as usual at `/login` (where a policy that requires MFA has them enrol a factor).

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use chrono::Utc;
use tower_sessions::Session;

use crate::services::{links, Error};
use crate::web::error::PageError;
use crate::web::session::{csrf_token, CsrfFields, CsrfForm};
use crate::web::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/invite/{token}", get(invite_page).post(invite_submit))
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

/// The URL of an invitation's page; only URL-safe base64 tokens are ever issued.
fn action(token: &str) -> String {
    let token: String = token.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_')).collect();
    format!("/invite/{token}")
}

async fn invite_page(
    State(state): State<AppState>,
    Path(token): Path<String>,
    session: Session,
) -> Result<Response, PageError> {
    let user = links::check_invitation(&state.ctx, &token, Utc::now()).await?;
    render(&session, &token, &user.username, None, StatusCode::OK).await
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
            render(&session, &token, &user.username, Some(&message), StatusCode::BAD_REQUEST).await
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
    token: &str,
    username: &str,
    error: Option<&str>,
    status: StatusCode,
) -> Result<Response, PageError> {
    let csrf = csrf_token(session).await?;
    let page =
        SetPasswordPage { heading: "Choose your password", action: &action(token), csrf_token: &csrf, username, error };
    Ok((status, Html(page.render().map_err(PageError::from)?)).into_response())
}
