//! Signing in at the IdP: password check (argon2, off the async workers) and the IdP session it opens.

use std::sync::OnceLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use chrono::{DateTime, Utc};

use crate::audit::{Actor, Event, EventName};
use crate::directory::{User, UserId};
use crate::services::throttle::{self, Realm};
use crate::services::{record, Ctx, Error};
use crate::store::users;

/// What the IdP session holds. It is stored server-side; the browser holds only the session id.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IdpSession {
    pub user_id: UserId,
    pub username: String,
    /// When the password was checked, in Unix milliseconds (the AuthnInstant of every assertion).
    pub authn_instant_ms: i64,
    /// Identifies this session to SPs (AuthnStatement SessionIndex).
    pub session_index: String,
}

impl IdpSession {
    pub fn authn_instant(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(self.authn_instant_ms).unwrap_or_default()
    }
}

/// Checks a username and password. A failure says only "invalid username or password" to the caller; the event
/// records which it was. A username or client address (`client`, when known) past its failures in the throttling
/// window is refused with `Error::Throttled` before the password is looked at.
pub async fn sign_in(
    ctx: &Ctx,
    username: &str,
    password: &str,
    client: Option<std::net::IpAddr>,
    now: DateTime<Utc>,
) -> Result<IdpSession, Error> {
    throttle::check(ctx, Realm::User, username, client, now).await?;
    let mut conn = ctx.db.conn().await?;
    let found = users::find_credentials(&mut conn, username).await?;
    drop(conn);
    let (user, hash) = match found {
        Some((user, hash)) => (Some(user), hash),
        None => (None, None),
    };
    // Verify even when there is no user or hash, so timing does not reveal which usernames exist.
    let is_valid = verify_password(password.to_owned(), hash.unwrap_or_else(|| dummy_hash().to_owned())).await?;
    let failure = match &user {
        None => Some("unknown username"),
        Some(_) if !is_valid => Some("wrong password"),
        Some(u) if !u.is_active() => Some("account suspended"),
        Some(_) => None,
    };
    let shown = username.chars().take(128).collect::<String>();
    if let Some(reason) = failure {
        record(ctx, Event::new(now, EventName::UserLoginFailed, &Actor::Anonymous).user(shown).failed(reason)).await?;
        throttle::failed(ctx, Realm::User, username, client, now).await?;
        return Err(Error::BadCredentials);
    }
    let Some(user) = user else {
        return Err(Error::BadCredentials);
    };
    record(ctx, Event::new(now, EventName::UserLogin, &Actor::User(user.username.clone())).user(&user.username))
        .await?;
    throttle::succeeded(ctx, Realm::User, username).await?;
    Ok(new_session(&user, now))
}

pub fn new_session(user: &User, now: DateTime<Utc>) -> IdpSession {
    IdpSession {
        user_id: user.id,
        username: user.username.clone(),
        authn_instant_ms: now.timestamp_millis(),
        session_index: crate::saml::new_id(),
    }
}

/// Hashes a password with argon2id and a random salt (PHC string format).
pub async fn hash_password(password: String) -> Result<String, Error> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| Error::Task(format!("password hashing failed: {e}")))
    })
    .await
    .map_err(|e| Error::Task(e.to_string()))?
}

pub(crate) async fn verify_password(password: String, hash: String) -> Result<bool, Error> {
    tokio::task::spawn_blocking(move || {
        let Ok(parsed) = PasswordHash::new(&hash) else {
            return false;
        };
        Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok()
    })
    .await
    .map_err(|e| Error::Task(e.to_string()))
}

/// A valid hash of a random password, computed once, for sign-ins of unknown users.
pub(crate) fn dummy_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| {
        let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
        let random: [u8; 16] = rand::random();
        Argon2::default().hash_password(&random, &salt).map(|h| h.to_string()).unwrap_or_default()
    })
}
