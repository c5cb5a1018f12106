//! `/admin/account`: the signed-in administrator's own password and TOTP. Changing either needs the current
//! password (renewing an active TOTP secret: the password or a current code), and enrolling TOTP needs a code of
//! the new secret too: the secret waits, sealed, in
//! the session (never in a form field) until a code confirms it, so a mistyped enrolment switches nothing on.
//! The enrolment's QR code is laid out here and drawn by the template as SVG (no markup built from data, no script).
//! Passkeys and security keys for the console's sign-in are added here too (`services::webauthn`, the JSON
//! ceremony endpoints under `/admin/account/keys`, run by `assets/webauthn.js`), and removed, after a sign-in
//! within the last five minutes.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Utc;

use crate::services::admins::{self, AdminSession};
use crate::services::totp::TotpEnrolment;
use crate::services::webauthn::{self, CredentialView, Kind};
use crate::services::Error;
use crate::web::client::ClientIp;
use crate::web::console::{render, Chrome, Console, Fields};
use crate::web::error::PageError;
use crate::web::qr::{qr_path, QrPath};
use crate::web::session::{check_header_csrf, current_admin, read_json, renew_admin, session_error};
use crate::web::AppState;

/// The TOTP secret being enrolled, under the session of the administrator enrolling it.
const ENROLMENT_KEY: &str = "admin_totp_enrolment";
const BACK: &str = "/admin/account";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/account", get(show_account))
        .route("/admin/account/password", post(change_password))
        .route("/admin/account/email", post(change_email))
        .route("/admin/account/totp", post(start_totp))
        .route("/admin/account/totp/confirm", post(confirm_totp))
        .route("/admin/account/totp/cancel", post(cancel_totp))
        .route("/admin/account/totp/disable", post(disable_totp))
        .route("/admin/account/keys/start", post(keys_start))
        .route("/admin/account/keys/finish", post(keys_finish))
        .route("/admin/account/keys/{id}/remove", post(remove_key))
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
    /// Where this administrator gets notices by mail ('' for none), and whether mail is configured at all.
    email: String,
    mail_configured: bool,
    keys: Vec<CredentialView>,
    /// Why passkeys and security keys are not offered, if they are not (the base URL).
    keys_unavailable: Option<String>,
    /// Whether the sign-in is recent enough to add or remove one.
    is_recent: bool,
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
        email: admins::email(&state.ctx, &console.username).await?,
        mail_configured: state.ctx.mailer.is_configured(),
        keys: webauthn::list_admin(&state.ctx, &console.username).await?,
        keys_unavailable: webauthn::availability(&state.ctx).err().map(|e| e.to_string()),
        is_recent: authn_instant_ms(&console).await >= Utc::now().timestamp_millis() - webauthn::REAUTH_WINDOW_MS,
    })
}

/// Sets or clears the address where this administrator gets notices (certificate expiry, SP metadata problems).
async fn change_email(State(state): State<AppState>, console: Console, f: Fields) -> Result<Response, PageError> {
    let email = f.get("email");
    let result = admins::set_email(&state.ctx, &console.actor(), &console.username, email, Utc::now()).await;
    let text = if email.is_empty() { "Notices by mail are off." } else { "Notices go to the new address." };
    console.done(result.map(|()| text.to_owned()), BACK).await
}

#[derive(Debug, serde::Deserialize)]
struct KeyStart {
    kind: Kind,
}

#[derive(Debug, serde::Deserialize)]
struct KeyFinish {
    challenge: String,
    #[serde(default)]
    name: String,
    credential: serde_json::Value,
}

/// Starts adding a passkey or security key for the console (JSON, the CSRF token in `x-csrf-token`).
async fn keys_start(State(state): State<AppState>, console: Console, headers: HeaderMap, body: Bytes) -> Response {
    let result = async {
        check_header_csrf(&console.session, &headers).await?;
        let request: KeyStart = read_json(&body)?;
        let at = authn_instant_ms(&console).await;
        Ok::<_, PageError>(
            webauthn::start_admin_registration(&state.ctx, &console.username, at, request.kind, Utc::now()).await?,
        )
    };
    match result.await {
        Ok(ceremony) => Json(ceremony).into_response(),
        Err(e) => e.into_json(),
    }
}

async fn keys_finish(State(state): State<AppState>, console: Console, headers: HeaderMap, body: Bytes) -> Response {
    let result = async {
        check_header_csrf(&console.session, &headers).await?;
        let request: KeyFinish = read_json(&body)?;
        let at = authn_instant_ms(&console).await;
        let response = request.credential.to_string();
        let now = Utc::now();
        let (user, challenge, name) = (&console.username, &request.challenge, &request.name);
        Ok::<_, PageError>(
            webauthn::finish_admin_registration(&state.ctx, user, at, challenge, &response, name, now).await?,
        )
    };
    match result.await {
        Ok(added) => Json(serde_json::json!({ "id": added.id, "name": added.name, "redirect": BACK })).into_response(),
        Err(e) => e.into_json(),
    }
}

async fn remove_key(
    State(state): State<AppState>,
    console: Console,
    Path(id): Path<i64>,
    _f: Fields,
) -> Result<Response, PageError> {
    let at = authn_instant_ms(&console).await;
    let result = webauthn::remove_admin(&state.ctx, &console.username, at, id, Utc::now()).await;
    console.done(result.map(|()| "Removed.".to_owned()), BACK).await
}

/// When this administrator last signed in (0 when the session does not say).
async fn authn_instant_ms(console: &Console) -> i64 {
    current_admin(&console.session).await.map_or(0, |a| a.authn_instant_ms)
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
