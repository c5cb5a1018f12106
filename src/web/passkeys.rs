//! `/account/passkeys`: the signed-in user's passkeys and security keys. The page lists them (rename, remove by
//! CSRF-checked forms); adding one is a WebAuthn ceremony that `assets/webauthn.js` runs against two JSON
//! endpoints, which check the session's CSRF token in the `x-csrf-token` header (`check_header_csrf`). Adding and
//! removing need an authentication from the last five minutes (`webauthn::is_recent`); otherwise the page offers
//! to sign in again (`force`).

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Utc;
use tower_sessions::Session;

use crate::audit::Actor;
use crate::services::login::IdpSession;
use crate::services::mfa;
use crate::services::webauthn::{self, Kind};
use crate::web::error::PageError;
use crate::web::login::login_url;
use crate::web::session::{
    check_header_csrf, csrf_token, read_json, session_error, signed_in, CsrfFields, CsrfForm, CsrfOnly,
};
use crate::web::AppState;

const PAGE: &str = "/account/passkeys";
/// The session key of recovery codes made with a first passkey or security key, until the page shows them once.
const NEW_CODES_KEY: &str = "new_recovery_codes";

pub fn router() -> Router<AppState> {
    Router::new()
        .route(PAGE, get(show))
        .route("/account/passkeys/register/start", post(register_start))
        .route("/account/passkeys/register/finish", post(register_finish))
        .route("/account/passkeys/{id}/rename", post(rename))
        .route("/account/passkeys/{id}/remove", post(remove))
}

struct Row {
    id: i64,
    name: String,
    kind: &'static str,
    created: String,
    last_used: String,
}

#[derive(Template)]
#[template(path = "passkeys.html")]
struct PasskeysPage<'a> {
    /// Recovery codes made with the first factor, shown this once.
    new_codes: Vec<String>,
    shown_name: &'a str,
    csrf_token: &'a str,
    unavailable: Option<String>,
    is_recent: bool,
    reauth_url: String,
    rows: Vec<Row>,
}

#[derive(Debug, serde::Deserialize)]
struct StartRequest {
    kind: Kind,
}

#[derive(Debug, serde::Deserialize)]
struct FinishRequest {
    challenge: String,
    #[serde(default)]
    name: String,
    credential: serde_json::Value,
}

#[derive(Debug, serde::Deserialize)]
struct RenameForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    name: String,
}

impl CsrfFields for RenameForm {
    fn csrf_token(&self) -> &str {
        &self.csrf_token
    }
}

async fn show(State(state): State<AppState>, session: Session) -> Result<Response, PageError> {
    let Some(idp) = signed_in(&state.ctx, &session).await? else {
        return Ok(Redirect::to(&login_url(PAGE, false)).into_response());
    };
    let token = csrf_token(&session).await?;
    let rows = webauthn::list(&state.ctx, idp.user_id).await?;
    let rows = rows
        .into_iter()
        .map(|c| Row {
            id: c.id,
            name: c.name,
            kind: c.kind.label(),
            created: c.created_at.format("%Y-%m-%d %H:%M UTC").to_string(),
            last_used: c
                .last_used_at
                .map_or_else(|| "never".to_owned(), |t| t.format("%Y-%m-%d %H:%M UTC").to_string()),
        })
        .collect();
    let new_codes = session.remove::<Vec<String>>(NEW_CODES_KEY).await.map_err(session_error)?.unwrap_or_default();
    let page = PasskeysPage {
        new_codes,
        shown_name: &idp.username,
        csrf_token: &token,
        unavailable: webauthn::availability(&state.ctx).err().map(|e| e.to_string()),
        is_recent: webauthn::is_recent(&idp, Utc::now()),
        reauth_url: login_url(PAGE, true),
        rows,
    };
    Ok(Html(page.render().map_err(PageError::from)?).into_response())
}

async fn register_start(State(state): State<AppState>, session: Session, headers: HeaderMap, body: Bytes) -> Response {
    let result = async {
        let idp = json_caller(&state, &session, &headers).await?;
        let request: StartRequest = read_json(&body)?;
        Ok::<_, PageError>(webauthn::start_registration(&state.ctx, &idp, request.kind, Utc::now()).await?)
    };
    match result.await {
        Ok(ceremony) => Json(ceremony).into_response(),
        Err(e) => e.into_json(),
    }
}

async fn register_finish(State(state): State<AppState>, session: Session, headers: HeaderMap, body: Bytes) -> Response {
    let result = async {
        let idp = json_caller(&state, &session, &headers).await?;
        let request: FinishRequest = read_json(&body)?;
        let response = request.credential.to_string();
        let name = request.name;
        let added =
            webauthn::finish_registration(&state.ctx, &idp, &request.challenge, &response, &name, Utc::now()).await?;
        keep_first_codes(&state, &session, &idp).await?;
        Ok::<_, PageError>(added)
    };
    match result.await {
        Ok(added) => Json(serde_json::json!({ "id": added.id, "name": added.name, "redirect": PAGE })).into_response(),
        Err(e) => e.into_json(),
    }
}

/// After a user's first factor (a passkey or a security key rather than TOTP), their ten recovery codes: made
/// now and kept in the session until the passkeys page shows them, once.
async fn keep_first_codes(state: &AppState, session: &Session, idp: &IdpSession) -> Result<(), PageError> {
    let actor = Actor::User(idp.username.clone());
    if let Some(codes) = mfa::first_recovery_codes(&state.ctx, &actor, idp.user_id, &idp.username, Utc::now()).await? {
        session.insert(NEW_CODES_KEY, &codes).await.map_err(session_error)?;
    }
    Ok(())
}

async fn rename(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<i64>,
    CsrfForm(form): CsrfForm<RenameForm>,
) -> Result<Response, PageError> {
    let Some(idp) = signed_in(&state.ctx, &session).await? else {
        return Ok(Redirect::to(&login_url(PAGE, false)).into_response());
    };
    webauthn::rename(&state.ctx, &idp, id, &form.name).await?;
    Ok(Redirect::to(PAGE).into_response())
}

async fn remove(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<i64>,
    _form: CsrfForm<CsrfOnly>,
) -> Result<Response, PageError> {
    let Some(idp) = signed_in(&state.ctx, &session).await? else {
        return Ok(Redirect::to(&login_url(PAGE, false)).into_response());
    };
    webauthn::remove(&state.ctx, &idp, id, Utc::now()).await?;
    Ok(Redirect::to(PAGE).into_response())
}

/// The signed-in user of a ceremony's JSON request, after its `x-csrf-token` header matched the session's token.
async fn json_caller(state: &AppState, session: &Session, headers: &HeaderMap) -> Result<IdpSession, PageError> {
    check_header_csrf(session, headers).await?;
    signed_in(&state.ctx, session).await?.ok_or_else(|| {
        PageError::new(axum::http::StatusCode::UNAUTHORIZED, "Signed out", "Your session has ended; sign in again.")
    })
}
