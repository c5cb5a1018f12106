//! What our pages keep in the browser's session, and the forms they accept: the IdP session (key `idp`), the
//! administrator's (key `admin`, never the portal user's), the CSRF token (key `csrf`, synchronizer token
//! pattern), the secret that binds this browser's logout runs to it (key `logout`), and `CsrfForm`, the extractor
//! of every form we issue, which yields its fields only after their token matched the session's.
//!
//! It knows what the keys hold and when a session id must change (at every sign-in, so an id planted before is
//! worthless); it does not know the pages that use them, nor where sessions are stored (`web::router` is given
//! the store). The SAML POST-binding forms (`web::saml`, `web::slo`) come from SPs and carry no token; they do
//! not use `CsrfForm`.

use axum::body::Body;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Form;
use serde::de::DeserializeOwned;
use tower_sessions::Session;

use crate::services::admins::AdminSession;
use crate::services::login::{self, IdpSession};
use crate::services::Ctx;
use crate::web::error::PageError;

/// The portal user's IdP session.
const IDP_KEY: &str = "idp";
/// The administrator's session, apart from the portal user's, so a portal sign-in never grants the console.
const ADMIN_KEY: &str = "admin";
const CSRF_KEY: &str = "csrf";
/// The secret whose hash a logout run stores: the run's pages answer only the browser whose session holds it.
const LOGOUT_KEY: &str = "logout";
/// A sign-in whose password was right and whose second factor (or enrolment) is awaited: no IdP session yet.
const PENDING_SIGN_IN_KEY: &str = "idp_pending";
/// A sealed TOTP secret a portal user is enrolling, until a code confirms it.
const USER_ENROLMENT_KEY: &str = "idp_totp_enrolment";
/// How long the second step may take after the password.
const PENDING_SIGN_IN_MS: i64 = 5 * 60 * 1000;
/// The largest form we read (SP metadata pasted into a console text area fits); the router's body limit too.
const MAX_FORM_BYTES: usize = 256 * 1024;

/// The IdP session of this browser, if any, as stored (single logout uses it even when it no longer stands, to
/// reach the SPs it signed in to); everything else asks `signed_in`.
pub async fn current_session(session: &Session) -> Option<IdpSession> {
    session.get::<IdpSession>(IDP_KEY).await.ok().flatten()
}

/// The signed-in user, if the IdP session still stands (`login::session_is_current`); one that no longer does
/// (the password was set since) is ended here, and the browser is treated as signed out.
pub async fn signed_in(ctx: &Ctx, session: &Session) -> Result<Option<IdpSession>, PageError> {
    let Some(idp) = current_session(session).await else {
        return Ok(None);
    };
    if login::session_is_current(ctx, &idp).await? {
        return Ok(Some(idp));
    }
    session.remove::<IdpSession>(IDP_KEY).await.map_err(session_error)?;
    Ok(None)
}

/// Signs the portal user in under a new session id and CSRF token (no fixation).
pub async fn start_idp(session: &Session, idp: &IdpSession) -> Result<(), PageError> {
    session.cycle_id().await.map_err(session_error)?;
    session.insert(IDP_KEY, idp).await.map_err(session_error)?;
    fresh_csrf(session).await?;
    Ok(())
}

/// A sign-in waiting for its second factor, with the IdP session it becomes.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct PendingSignIn {
    idp: IdpSession,
    at_ms: i64,
}

/// Keeps a sign-in whose password was right until its second factor is proven, under a new session id and CSRF
/// token (the half-signed-in state must not live under an id chosen before).
pub async fn start_pending_sign_in(session: &Session, idp: &IdpSession, now_ms: i64) -> Result<(), PageError> {
    session.cycle_id().await.map_err(session_error)?;
    session
        .insert(PENDING_SIGN_IN_KEY, PendingSignIn { idp: idp.clone(), at_ms: now_ms })
        .await
        .map_err(session_error)?;
    fresh_csrf(session).await?;
    Ok(())
}

/// The sign-in waiting for its second factor, if it is not older than five minutes.
pub async fn pending_sign_in(session: &Session, now_ms: i64) -> Option<IdpSession> {
    let pending = session.get::<PendingSignIn>(PENDING_SIGN_IN_KEY).await.ok().flatten()?;
    (now_ms.saturating_sub(pending.at_ms) < PENDING_SIGN_IN_MS).then_some(pending.idp)
}

/// Signs in the user whose second factor was just proven: the pending sign-in (or the step-up) ends and the IdP
/// session starts under a new id.
pub async fn finish_sign_in(session: &Session, idp: &IdpSession) -> Result<(), PageError> {
    session.remove::<PendingSignIn>(PENDING_SIGN_IN_KEY).await.map_err(session_error)?;
    session.remove::<UserEnrolment>(USER_ENROLMENT_KEY).await.map_err(session_error)?;
    start_idp(session, idp).await
}

/// A sealed TOTP secret being enrolled by this user (another user in the same browser does not inherit it).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct UserEnrolment {
    user_id: crate::directory::UserId,
    sealed: String,
}

/// The sealed secret `user` is enrolling, if any.
pub async fn user_enrolment(session: &Session, user: crate::directory::UserId) -> Option<String> {
    let enrolment = session.get::<UserEnrolment>(USER_ENROLMENT_KEY).await.ok().flatten()?;
    Some(enrolment.sealed).filter(|_| enrolment.user_id == user)
}

pub async fn keep_user_enrolment(
    session: &Session,
    user: crate::directory::UserId,
    sealed: String,
) -> Result<(), PageError> {
    session.insert(USER_ENROLMENT_KEY, UserEnrolment { user_id: user, sealed }).await.map_err(session_error)
}

pub async fn end_user_enrolment(session: &Session) -> Result<(), PageError> {
    session.remove::<UserEnrolment>(USER_ENROLMENT_KEY).await.map_err(session_error)?;
    Ok(())
}

/// Ends the portal user's IdP session only: an administrator signed in to the console in the same browser stays
/// signed in, and the logout secret stays, so the browser can follow its logout run.
pub async fn end_idp(session: &Session) -> Result<(), PageError> {
    session.remove::<IdpSession>(IDP_KEY).await.map_err(session_error)?;
    Ok(())
}

/// The secret that binds this browser's logout runs to it, created on first use.
pub async fn logout_secret(session: &Session) -> Result<String, PageError> {
    if let Some(secret) = find_logout_secret(session).await {
        return Ok(secret);
    }
    let bytes: [u8; 32] = rand::random();
    let secret = hex::encode(bytes);
    session.insert(LOGOUT_KEY, &secret).await.map_err(session_error)?;
    Ok(secret)
}

/// The logout secret of this browser, if it started a logout.
pub async fn find_logout_secret(session: &Session) -> Option<String> {
    session.get::<String>(LOGOUT_KEY).await.ok().flatten()
}

/// The signed-in administrator, if any (the console's `Console` extractor also checks that it still stands).
pub async fn current_admin(session: &Session) -> Option<AdminSession> {
    session.get::<AdminSession>(ADMIN_KEY).await.ok().flatten()
}

/// Signs the administrator in under a new session id and CSRF token (no fixation).
pub async fn start_admin(session: &Session, admin: &AdminSession) -> Result<(), PageError> {
    renew_admin(session, admin).await?;
    fresh_csrf(session).await?;
    Ok(())
}

/// Keeps the administrator signed in, under a new session id, after they changed their own credentials (which
/// ends every session signed in before the change: `admins::session_is_current`).
pub async fn renew_admin(session: &Session, admin: &AdminSession) -> Result<(), PageError> {
    session.cycle_id().await.map_err(session_error)?;
    session.insert(ADMIN_KEY, admin).await.map_err(session_error)?;
    Ok(())
}

/// Signs the administrator of this session out (the portal user of the same browser, if any, stays).
pub async fn end_admin(session: &Session) -> Result<(), PageError> {
    session.remove::<AdminSession>(ADMIN_KEY).await.map_err(session_error)?;
    Ok(())
}

/// The session's CSRF token, created on first use.
pub async fn csrf_token(session: &Session) -> Result<String, PageError> {
    if let Ok(Some(token)) = session.get::<String>(CSRF_KEY).await {
        return Ok(token);
    }
    fresh_csrf(session).await
}

/// A new CSRF token for the session, replacing the old one (at sign-in and sign-out).
pub async fn fresh_csrf(session: &Session) -> Result<String, PageError> {
    let bytes: [u8; 32] = rand::random();
    let token = hex::encode(bytes);
    session.insert(CSRF_KEY, &token).await.map_err(session_error)?;
    Ok(token)
}

/// Refuses a form whose token does not match the session's (cross-site request forgery) with the 403 page.
pub async fn check_csrf(session: &Session, submitted: &str) -> Result<(), PageError> {
    let expected = session.get::<String>(CSRF_KEY).await.ok().flatten().unwrap_or_default();
    // Lengths first: the constant-time comparison requires equal lengths (and asserts it).
    let matches = !expected.is_empty()
        && submitted.len() == expected.len()
        && openssl::memcmp::eq(expected.as_bytes(), submitted.as_bytes());
    if matches {
        Ok(())
    } else {
        Err(PageError::new(
            StatusCode::FORBIDDEN,
            "Form expired",
            "This form was not sent from this page or has expired. Go back, reload the page and try again.",
        ))
    }
}

/// The header that carries the session's CSRF token on a page script's JSON requests (the WebAuthn ceremonies).
pub const CSRF_HEADER: &str = "x-csrf-token";

/// Checks the CSRF token a script sends in the `x-csrf-token` header, as `check_csrf` checks a form's field.
pub async fn check_header_csrf(session: &Session, headers: &axum::http::HeaderMap) -> Result<(), PageError> {
    let submitted = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()).unwrap_or_default();
    check_csrf(session, submitted).await
}

/// A ceremony request's JSON body, or a 400 that says it could not be read.
pub fn read_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, PageError> {
    serde_json::from_slice(body)
        .map_err(|_| PageError::new(StatusCode::BAD_REQUEST, "Request refused", "The request could not be read."))
}

/// A failure of the session store, as our own failure (the error page with a reference).
pub fn session_error(e: tower_sessions::session::Error) -> PageError {
    PageError::from(e)
}

/// The fields of a form that carries the session's CSRF token in its `csrf_token` field.
pub trait CsrfFields: DeserializeOwned {
    /// The token as sent; empty when the form had none.
    fn csrf_token(&self) -> &str;
}

/// A form of ours (`application/x-www-form-urlencoded`, at most 256 KiB), handed to the handler only after its
/// CSRF token matched the session's. A larger body is refused with 413, fields that cannot be read (a missing
/// required field) with 400, and a missing or foreign token with 403, before anything happens.
pub struct CsrfForm<T>(pub T);

impl<T> std::ops::Deref for CsrfForm<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T, S> FromRequest<S> for CsrfForm<T>
where
    T: CsrfFields + Send,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = request.into_parts();
        let session = Session::from_request_parts(&mut parts, state).await.map_err(IntoResponse::into_response)?;
        let Ok(bytes) = axum::body::to_bytes(body, MAX_FORM_BYTES).await else {
            return Err(PageError::new(StatusCode::PAYLOAD_TOO_LARGE, "Form too large", "The form is too large.")
                .into_response());
        };
        // The body is read as a form whatever its declared type, as the console always did.
        let mut form = Request::new(Body::from(bytes));
        *form.method_mut() = Method::POST;
        form.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/x-www-form-urlencoded"));
        let Ok(Form(fields)) = Form::<T>::from_request(form, state).await else {
            // Only the sign-in forms have required fields, so only they can be unreadable.
            return Err(PageError::new(
                StatusCode::BAD_REQUEST,
                "Sign-in failed",
                "The sign-in form could not be read.",
            )
            .into_response());
        };
        check_csrf(&session, fields.csrf_token()).await.map_err(IntoResponse::into_response)?;
        Ok(Self(fields))
    }
}

/// A form with no fields but its token (sign-out, and console buttons that need nothing more).
#[derive(Debug, serde::Deserialize)]
pub struct CsrfOnly {
    #[serde(default)]
    csrf_token: String,
}

impl CsrfFields for CsrfOnly {
    fn csrf_token(&self) -> &str {
        &self.csrf_token
    }
}
