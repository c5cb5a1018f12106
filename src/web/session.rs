//! What our pages keep in the browser's session: the IdP session (key `idp`), the administrator's (key `admin`,
//! never the portal user's) and the CSRF token of our forms (key `csrf`, synchronizer token pattern).
//!
//! It knows what the keys hold and when a session id must change (at every sign-in, so an id planted before is
//! worthless); it does not know the pages that use them, nor where sessions are stored (`web::router` is given
//! the store).

use axum::http::StatusCode;
use tower_sessions::Session;

use crate::services::admins::AdminSession;
use crate::services::login::{self, IdpSession};
use crate::services::{Ctx, Error};
use crate::web::error::PageError;

/// The portal user's IdP session.
const IDP_KEY: &str = "idp";
/// The administrator's session, apart from the portal user's, so a portal sign-in never grants the console.
const ADMIN_KEY: &str = "admin";
const CSRF_KEY: &str = "csrf";

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

/// A failure of the session store, as our own failure (the error page with a reference).
pub fn session_error(e: tower_sessions::session::Error) -> PageError {
    PageError::from(Error::Task(format!("session store: {e}")))
}
