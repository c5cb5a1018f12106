//! `/admin/account`: the signed-in administrator's own password and TOTP. Changing either needs the current
//! password (renewing an active TOTP secret: the password or a current code), and enrolling TOTP needs a code of
//! the new secret too: the secret waits, sealed, in
//! the session (never in a form field) until a code confirms it, so a mistyped enrolment switches nothing on.
//! The enrolment's QR code is laid out here and drawn by the template as SVG (no markup built from data, no script).

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use chrono::Utc;

use crate::services::admins::{self, AdminSession};
use crate::services::totp::TotpEnrolment;
use crate::services::Error;
use crate::web::client::ClientIp;
use crate::web::console::{render, Chrome, Console, Fields};
use crate::web::error::PageError;
use crate::web::qr::{qr_path, QrPath};
use crate::web::session::{renew_admin, session_error};
use crate::web::AppState;

/// The TOTP secret being enrolled, under the session of the administrator enrolling it.
const ENROLMENT_KEY: &str = "admin_totp_enrolment";
const BACK: &str = "/admin/account";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/account", get(show_account))
        .route("/admin/account/password", post(change_password))
        .route("/admin/account/totp", post(start_totp))
        .route("/admin/account/totp/confirm", post(confirm_totp))
        .route("/admin/account/totp/cancel", post(cancel_totp))
        .route("/admin/account/totp/disable", post(disable_totp))
}

/// A sealed TOTP secret awaiting its confirming code, for `username` only (another administrator signing in
/// later in the same browser does not inherit it).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Enrolment {
    username: String,
    sealed: String,
}

#[derive(Template)]
#[template(path = "admin/account.html")]
struct AccountPage {
    chrome: Chrome,
    has_totp: bool,
    enrolment: Option<TotpEnrolment>,
    qr: Option<QrPath>,
    min_password: usize,
}

async fn show_account(State(state): State<AppState>, console: Console) -> Result<Response, PageError> {
    let account = admins::account(&state.ctx, &console.username).await?;
    let enrolment = match pending(&console).await {
        Some(sealed) => Some(admins::totp_enrolment(&state.ctx, &console.username, &sealed)?),
        None => None,
    };
    let qr = enrolment.as_ref().and_then(|e| qr_path(&e.uri));
    render(&AccountPage {
        chrome: console.chrome("account"),
        has_totp: account.has_totp,
        enrolment,
        qr,
        min_password: state.ctx.config.min_password_chars(),
    })
}

async fn change_password(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    console: Console,
    f: Fields,
) -> Result<Response, PageError> {
    let new = f.raw("new_password");
    if new != f.raw("new_password_again") {
        return console.refuse("The new passwords do not match; nothing was changed.", BACK).await;
    }
    let result = admins::change_password(
        &state.ctx,
        &console.actor(),
        &console.username,
        f.raw("current_password"),
        new.to_owned(),
        client,
        Utc::now(),
    )
    .await;
    changed(&console, result, "Password changed: use it at your next sign-in.").await
}

/// Starts (or restarts) an enrolment: a new secret, kept in the session until a code confirms it. Replacing an
/// active secret needs the current password or a current code (`proof`).
async fn start_totp(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    console: Console,
    f: Fields,
) -> Result<Response, PageError> {
    let started = admins::start_totp_enrolment(&state.ctx, &console.username, f.raw("proof"), client, Utc::now()).await;
    let sealed = match started {
        Ok(sealed) => sealed,
        Err(e) => return console.done(Err(e), BACK).await,
    };
    let enrolment = Enrolment { username: console.username.clone(), sealed };
    console.session.insert(ENROLMENT_KEY, &enrolment).await.map_err(session_error)?;
    let text = "Add the new secret to your authenticator app, then type its current code to switch TOTP on.";
    console.done(Ok(text.to_owned()), BACK).await
}

async fn confirm_totp(State(state): State<AppState>, console: Console, f: Fields) -> Result<Response, PageError> {
    let Some(sealed) = pending(&console).await else {
        return console.refuse("Start the TOTP set-up first.", BACK).await;
    };
    let result =
        admins::confirm_totp(&state.ctx, &console.actor(), &console.username, &sealed, f.get("code"), Utc::now()).await;
    if result.is_ok() {
        console.session.remove::<Enrolment>(ENROLMENT_KEY).await.map_err(session_error)?;
    }
    changed(&console, result, "TOTP is on: the next sign-in asks for a code from your authenticator app.").await
}

async fn cancel_totp(console: Console, _f: Fields) -> Result<Response, PageError> {
    console.session.remove::<Enrolment>(ENROLMENT_KEY).await.map_err(session_error)?;
    console.done(Ok("TOTP set-up cancelled; nothing was changed.".to_owned()), BACK).await
}

async fn disable_totp(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    console: Console,
    f: Fields,
) -> Result<Response, PageError> {
    let result = admins::disable_totp(
        &state.ctx,
        &console.actor(),
        &console.username,
        f.raw("current_password"),
        client,
        Utc::now(),
    )
    .await;
    changed(&console, result, "TOTP is off: sign-in needs the password only.").await
}

/// After a change of the administrator's credentials: this session goes on under a new id (the change ended every
/// session signed in before it), and the page says so; a refusal is the page's message.
async fn changed(console: &Console, result: Result<AdminSession, Error>, text: &str) -> Result<Response, PageError> {
    if let Ok(admin) = &result {
        renew_admin(&console.session, admin).await?;
    }
    console.done(result.map(|_| format!("{text} Your other sessions are signed out.")), BACK).await
}

/// The sealed secret this administrator is enrolling, if any.
async fn pending(console: &Console) -> Option<String> {
    let enrolment = console.session.get::<Enrolment>(ENROLMENT_KEY).await.ok().flatten()?;
    Some(enrolment.sealed).filter(|_| enrolment.username == console.username)
}
