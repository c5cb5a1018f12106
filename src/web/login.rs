//! Signing in and out at the IdP: the sign-in page and form, and sign-out (which hands over to single logout).

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Utc;
use tower_sessions::Session;

use crate::services::mfa::{self, AfterPassword};
use crate::services::{login, participation, webauthn, Error};
use crate::web::client::ClientIp;
use crate::web::error::PageError;
use crate::web::session::{
    check_header_csrf, csrf_token, current_session, read_json, signed_in, start_idp, start_pending_sign_in, CsrfFields,
    CsrfForm, CsrfOnly,
};
use crate::web::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/login", get(login_page).post(login_submit))
        .route("/login/passkey/start", post(passkey_start))
        .route("/login/passkey/finish", post(passkey_finish))
        .route("/logout", post(logout))
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    csrf_token: &'a str,
    continue_to: &'a str,
    force: bool,
    username: &'a str,
    error: Option<&'a str>,
    /// A sentence about what just happened (a password was set), from a fixed list.
    notice: Option<&'a str>,
    app_label: Option<&'a str>,
    /// Why "Sign in with a passkey" is not offered (the base URL does not allow WebAuthn), if it is not.
    passkeys_unavailable: Option<String>,
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct LoginQuery {
    #[serde(rename = "continue")]
    pub continue_to: Option<String>,
    force: Option<String>,
    notice: Option<String>,
}

/// The sentence of a `notice` the sign-in page shows; anything else shows nothing.
fn notice_text(notice: Option<&str>) -> Option<&'static str> {
    match notice? {
        "password_set" => Some("Your password is set. Sign in with it."),
        "password_reset" => {
            Some("Your password was changed and every session of your account ended. Sign in with the new password.")
        }
        _ => None,
    }
}

#[derive(Debug, serde::Deserialize)]
pub struct LoginForm {
    csrf_token: String,
    username: String,
    password: String,
    #[serde(rename = "continue", default)]
    continue_to: String,
    force: Option<String>,
}

impl CsrfFields for LoginForm {
    fn csrf_token(&self) -> &str {
        &self.csrf_token
    }
}

/// The URL of a sign-in step (`/login/factor`, `/login/enrol`) that continues to `next` afterwards.
pub fn step_url(step: &str, next: &str) -> String {
    let next: String = url::form_urlencoded::byte_serialize(next.as_bytes()).collect();
    format!("{step}?continue={next}")
}

/// The sign-in page URL that continues to `next` afterwards.
pub fn login_url(next: &str, force: bool) -> String {
    let next: String = url::form_urlencoded::byte_serialize(next.as_bytes()).collect();
    if force {
        format!("/login?continue={next}&force=1")
    } else {
        format!("/login?continue={next}")
    }
}

async fn login_page(
    State(state): State<AppState>,
    Query(query): Query<LoginQuery>,
    session: Session,
) -> Result<Response, PageError> {
    let next = safe_next(query.continue_to.as_deref());
    let force = query.force.is_some();
    if !force && signed_in(&state.ctx, &session).await?.is_some() {
        return Ok(Redirect::to(&next).into_response());
    }
    let notice = notice_text(query.notice.as_deref());
    render_login(&state, &session, &next, force, "", (None, notice), StatusCode::OK).await
}

async fn login_submit(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    session: Session,
    CsrfForm(form): CsrfForm<LoginForm>,
) -> Result<Response, PageError> {
    let next = safe_next(Some(&form.continue_to));
    let force = form.force.is_some();
    let now = Utc::now();
    match login::sign_in(&state.ctx, form.username.trim(), &form.password, client, now).await {
        Ok(idp) => {
            // A user with a second factor proves it (or, under a policy without one, enrols) before the IdP
            // session exists; the password's success waits in the session meanwhile.
            let step = match mfa::after_password(&state.ctx, &idp).await? {
                AfterPassword::Done => None,
                AfterPassword::Factor => Some("/login/factor"),
                AfterPassword::Enrol => Some("/login/enrol"),
            };
            if let Some(step) = step {
                start_pending_sign_in(&session, &idp, now.timestamp_millis()).await?;
                return Ok(Redirect::to(&step_url(step, &next)).into_response());
            }
            // The same user keeps the session index (single logout reaches the SPs used before); another user's
            // participations end first.
            let previous = current_session(&session).await;
            let idp = participation::hand_over(&state.ctx, previous.as_ref(), idp, now).await?;
            // A new session id at sign-in, so an id planted before sign-in is worthless (session fixation).
            start_idp(&session, &idp).await?;
            Ok(Redirect::to(&next).into_response())
        }
        Err(Error::BadCredentials) => {
            let message = "Invalid username or password.";
            render_login(
                &state,
                &session,
                &next,
                force,
                &form.username,
                (Some(message), None),
                StatusCode::UNAUTHORIZED,
            )
            .await
        }
        // Throttled: the same sentence, so the page does not say whether the password was right.
        Err(Error::Throttled) => {
            let message = "Invalid username or password.";
            let status = StatusCode::TOO_MANY_REQUESTS;
            render_login(&state, &session, &next, force, &form.username, (Some(message), None), status).await
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Debug, serde::Deserialize)]
struct PasskeyFinish {
    challenge: String,
    credential: serde_json::Value,
    #[serde(rename = "continue", default)]
    continue_to: String,
}

/// Starts "Sign in with a passkey" (usernameless): the options for `navigator.credentials.get`.
async fn passkey_start(State(state): State<AppState>, session: Session, headers: HeaderMap) -> Response {
    let result = async {
        check_header_csrf(&session, &headers).await?;
        Ok::<_, PageError>(webauthn::start_sign_in(&state.ctx, Utc::now()).await?)
    };
    match result.await {
        Ok(ceremony) => Json(ceremony).into_response(),
        Err(e) => e.into_json(),
    }
}

/// Finishes a passkey sign-in: the IdP session starts as a password sign-in's does (`hand_over`, a new session
/// id), multi-factor when the authenticator verified the user, and the browser continues where it was going.
async fn passkey_finish(State(state): State<AppState>, session: Session, headers: HeaderMap, body: Bytes) -> Response {
    let result = async {
        check_header_csrf(&session, &headers).await?;
        let request: PasskeyFinish = read_json(&body)?;
        let now = Utc::now();
        let response = request.credential.to_string();
        let idp = webauthn::finish_sign_in(&state.ctx, &request.challenge, &response, now).await?;
        let previous = current_session(&session).await;
        let idp = participation::hand_over(&state.ctx, previous.as_ref(), idp, now).await?;
        start_idp(&session, &idp).await?;
        Ok::<_, PageError>(safe_next(Some(&request.continue_to)))
    };
    match result.await {
        Ok(next) => Json(serde_json::json!({ "redirect": next })).into_response(),
        Err(e) => e.into_json(),
    }
}

async fn logout(
    State(state): State<AppState>,
    session: Session,
    _form: CsrfForm<CsrfOnly>,
) -> Result<Response, PageError> {
    // Ends the IdP session and, when it signed in to SPs with an SLO endpoint, tells each of them (single logout).
    crate::web::slo::portal_logout(&state, &session).await
}

async fn render_login(
    state: &AppState,
    session: &Session,
    next: &str,
    force: bool,
    username: &str,
    (error, notice): (Option<&str>, Option<&str>),
    status: StatusCode,
) -> Result<Response, PageError> {
    let token = csrf_token(session).await?;
    let label = match app_of(next) {
        Some(app) => crate::services::apps::view::label(&state.ctx, app).await,
        None => None,
    };
    let passkeys_unavailable = webauthn::availability(&state.ctx).err().map(|e| e.to_string());
    let page = LoginPage {
        csrf_token: &token,
        continue_to: next,
        force,
        username,
        error,
        notice,
        app_label: label.as_deref(),
        passkeys_unavailable,
    };
    let html = page.render().map_err(PageError::from)?;
    Ok((status, Html(html)).into_response())
}

/// Only local paths are followed after sign-in (no open redirect): `/x`, never `//host` or `/\host`.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') && !n.chars().any(char::is_control) =>
        {
            n.to_owned()
        }
        _ => "/".to_owned(),
    }
}

fn app_of(path: &str) -> Option<&str> {
    path.strip_prefix("/saml2/")?.split('/').next()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Open redirect: the continue parameter cannot send a signed-in user to another site.
    #[test]
    fn follows_only_local_paths() {
        assert_eq!(safe_next(Some("/saml2/a/continue/_x")), "/saml2/a/continue/_x");
        for bad in ["//evil.example", "https://evil.example", "/\\evil.example", "evil", ""] {
            assert_eq!(safe_next(Some(bad)), "/", "{bad}");
        }
    }
}
