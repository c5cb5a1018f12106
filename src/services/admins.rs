//! Administrators: accounts of the admin console and API token owners, separate from the directory's users, so
//! a portal user is never an administrator. Passwords are argon2id (hashed and checked on blocking threads); the
//! optional second factor is TOTP (RFC 6238: HMAC-SHA-1, 6 digits, 30-second steps, one step of clock drift either
//! way), whose secret is stored sealed and whose codes are accepted once.

use std::net::IpAddr;

use base64::Engine;
use chrono::{DateTime, Utc};

use crate::audit::{Actor, Event, EventName};
use crate::directory::{check_name, password, Invalid};
use crate::services::error::named;
use crate::services::login::{dummy_hash, hash_password, verify_password};
use crate::services::throttle::{self, Realm};
use crate::services::totp::{self, matching_step, unix_secs, TotpEnrolment};
use crate::services::{millis, record, webauthn, Ctx, Error};
use crate::store::sealed::ADMIN_TOTP;
use crate::store::{admins, events};

/// What the admin session holds (server-side; the browser has only the session id).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AdminSession {
    pub username: String,
    pub authn_instant_ms: i64,
}

/// The outcome of a correct password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignIn {
    Done(AdminSession),
    /// The administrator has TOTP on, or a passkey or security key: the one-time code (`verify_totp`) or the key
    /// (`verify_key`) must follow.
    NeedsTotp {
        username: String,
        has_totp: bool,
        has_keys: bool,
    },
}

/// Creates an administrator (`sesame admin add`).
pub async fn create_admin(
    ctx: &Ctx,
    actor: &Actor,
    username: &str,
    password: String,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    check_name("administrator name", username)?;
    check_password(ctx, "password", &password)?;
    let hash = hash_password(password).await?;
    let mut tx = ctx.db.begin().await?;
    admins::insert_admin(&mut tx, username, &hash, millis(now)).await.map_err(named("administrator", username))?;
    events::insert_event(&mut tx, &Event::new(now, EventName::AdminAdminCreate, actor).target(username)).await?;
    tx.commit().await.map_err(crate::store::Error::from)?;
    Ok(())
}

/// Sets (or, with an empty address, clears) the e-mail address where an administrator gets notices (certificate
/// expiry, SP metadata problems).
pub async fn set_email(ctx: &Ctx, actor: &Actor, username: &str, email: &str, now: DateTime<Utc>) -> Result<(), Error> {
    let email = email.trim();
    if !email.is_empty() {
        crate::services::mail::check_address(email)?;
    }
    let mut tx = ctx.db.begin().await?;
    if !admins::set_email(&mut tx, username, email, millis(now)).await? {
        return Err(Error::NotFound { what: "administrator", name: username.to_owned() });
    }
    let detail = if email.is_empty() { "e-mail address removed".to_owned() } else { format!("e-mail address {email}") };
    let event = Event::new(now, EventName::AdminAdminUpdate, actor).target(username).detail(detail);
    events::insert_event(&mut tx, &event).await?;
    tx.commit().await.map_err(crate::store::Error::from)?;
    Ok(())
}

/// An administrator's e-mail address for notices ('' when none).
pub async fn email(ctx: &Ctx, username: &str) -> Result<String, Error> {
    admins::find_email(&mut *ctx.db.conn().await?, username)
        .await?
        .ok_or_else(|| Error::NotFound { what: "administrator", name: username.to_owned() })
}

/// When there is no administrator at all, creates `admin` with a random password and returns the password (for
/// `serve` to show once). Replicas starting together race on the unique name; the losers return `None`.
pub async fn ensure_first_admin(ctx: &Ctx, now: DateTime<Utc>) -> Result<Option<String>, Error> {
    if admins::count_admins(&mut *ctx.db.conn().await?).await? > 0 {
        return Ok(None);
    }
    let bytes: [u8; 18] = rand::random();
    let password = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    match create_admin(ctx, &Actor::System, "admin", password.clone(), now).await {
        Ok(()) => Ok(Some(password)),
        Err(Error::Conflict { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Checks an administrator's password. Failures say only "invalid username or password"; the event says which.
pub async fn sign_in(
    ctx: &Ctx,
    username: &str,
    password: &str,
    client: Option<IpAddr>,
    now: DateTime<Utc>,
) -> Result<SignIn, Error> {
    throttle::check(ctx, Realm::Admin, username, client, now).await?;
    let found = admins::find_admin(&mut *ctx.db.conn().await?, username).await?;
    let hash = match &found {
        Some(admin) => admin.password_hash.clone(),
        None => dummy_hash().await?,
    };
    // Verified even for unknown names, so timing does not tell which administrators exist.
    let is_valid = verify_password(password.to_owned(), hash).await?;
    let admin = match found {
        Some(admin) if is_valid => admin,
        other => {
            let reason = if other.is_none() { "unknown administrator" } else { "wrong password" };
            return Err(refuse(ctx, username, client, reason, now).await?);
        }
    };
    let has_totp = admin.totp_secret_sealed.is_some();
    let has_keys = webauthn::admin_has_credentials(ctx, admin.id).await?;
    if has_totp || has_keys {
        return Ok(SignIn::NeedsTotp { username: admin.username, has_totp, has_keys });
    }
    Ok(SignIn::Done(signed_in(ctx, &admin.username, "password", client, now).await?))
}

/// The second step for an administrator with TOTP: a current code (one step of drift either way) that was not
/// accepted before.
pub async fn verify_totp(
    ctx: &Ctx,
    username: &str,
    code: &str,
    client: Option<IpAddr>,
    now: DateTime<Utc>,
) -> Result<AdminSession, Error> {
    throttle::check(ctx, Realm::Admin, username, client, now).await?;
    let mut conn = ctx.db.conn().await?;
    let Some(admin) = admins::find_admin(&mut conn, username).await? else {
        drop(conn);
        return Err(refuse(ctx, username, client, "unknown administrator", now).await?);
    };
    let Some(sealed) = admin.totp_secret_sealed.as_deref() else {
        drop(conn);
        return Err(refuse(ctx, username, client, "TOTP is not enabled", now).await?);
    };
    let secret = open_secret(ctx, username, sealed)?;
    let Some(step) = matching_step(&secret, code.trim(), unix_secs(now)) else {
        drop(conn);
        return Err(refuse(ctx, username, client, "wrong one-time code", now).await?);
    };
    let step = i64::try_from(step).unwrap_or(i64::MAX);
    let is_fresh = admins::advance_totp_step(&mut conn, admin.id, step).await?;
    drop(conn);
    if !is_fresh {
        return Err(refuse(ctx, username, client, "one-time code already used", now).await?);
    }
    signed_in(ctx, &admin.username, "password and TOTP", client, now).await
}

/// The second step with a passkey or security key instead of a TOTP code (`webauthn::finish_admin_factor`):
/// throttled, counted and recorded like a wrong code (`admin_login_failed`, the reason in its detail).
pub async fn verify_key(
    ctx: &Ctx,
    username: &str,
    challenge: &str,
    response: &str,
    client: Option<IpAddr>,
    now: DateTime<Utc>,
) -> Result<AdminSession, Error> {
    throttle::check(ctx, Realm::Admin, username, client, now).await?;
    match webauthn::finish_admin_factor(ctx, username, challenge, response, now).await {
        Ok(()) => signed_in(ctx, username, "password and security key", client, now).await,
        Err(Error::FactorRefused { reason }) => {
            Err(refuse(ctx, username, client, &format!("security key refused: {reason}"), now).await?)
        }
        Err(e) => Err(e),
    }
}

/// Turns TOTP on (or renews its secret) and returns the `otpauth://` URI to show once, as text or a QR code.
pub async fn enable_totp(ctx: &Ctx, actor: &Actor, username: &str, now: DateTime<Utc>) -> Result<String, Error> {
    let secret: [u8; 20] = rand::random();
    let sealed = ctx.secret.seal(&hex::encode(secret), &ADMIN_TOTP.binding(username))?;
    let mut tx = ctx.db.begin().await?;
    admins::update_totp_secret(&mut tx, username, Some(&sealed), millis(now))
        .await
        .map_err(named("administrator", username))?;
    events::insert_event(&mut tx, &Event::new(now, EventName::AdminTotpEnable, actor).target(username)).await?;
    tx.commit().await.map_err(crate::store::Error::from)?;
    Ok(totp::otpauth_uri(username, &secret))
}

/// What the console's account page shows of an administrator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub username: String,
    pub has_totp: bool,
}

pub async fn account(ctx: &Ctx, username: &str) -> Result<Account, Error> {
    let Some(admin) = admins::find_admin(&mut *ctx.db.conn().await?, username).await? else {
        return Err(Error::NotFound { what: "administrator", name: username.to_owned() });
    };
    Ok(Account { username: admin.username, has_totp: admin.totp_secret_sealed.is_some() })
}

/// Changes an administrator's own password. The current password is required, so a session left open is not
/// enough to take the account over; a wrong one counts as a failed sign-in, so the form cannot be used to guess.
/// Every other session of the administrator ends (`session_is_current`); the one returned continues.
pub async fn change_password(
    ctx: &Ctx,
    actor: &Actor,
    username: &str,
    current: &str,
    new: String,
    client: Option<IpAddr>,
    now: DateTime<Utc>,
) -> Result<AdminSession, Error> {
    check_password(ctx, "new password", &new)?;
    reauthenticate(ctx, username, current, client, now).await?;
    let hash = hash_password(new).await?;
    let mut tx = ctx.db.begin().await?;
    admins::update_password(&mut tx, username, &hash, millis(now)).await.map_err(named("administrator", username))?;
    events::insert_event(&mut tx, &Event::new(now, EventName::AdminAdminPassword, actor).target(username)).await?;
    tx.commit().await.map_err(crate::store::Error::from)?;
    Ok(renewed(username, now))
}

/// The first step of turning TOTP on from the console: a new secret, sealed for this administrator's row, for the
/// caller to keep server-side (the session) until `confirm_totp` stores it. Nothing is stored yet, so an enrolment
/// that is never confirmed changes nothing.
pub fn new_totp_secret(ctx: &Ctx, username: &str) -> Result<String, Error> {
    totp::new_sealed_secret(ctx, &ADMIN_TOTP.binding(username))
}

/// Starts a console enrolment: `new_totp_secret`, after proof when TOTP is already on. Replacing an active secret
/// takes over the second factor, so a session left open is not enough: `proof` must be the current password or a
/// current code of the active secret (a code not used before, which then counts as used). A wrong proof counts as
/// a failed sign-in, as for a password change, so the form cannot be used to guess. Without TOTP, no proof is asked.
pub async fn start_totp_enrolment(
    ctx: &Ctx,
    username: &str,
    proof: &str,
    client: Option<IpAddr>,
    now: DateTime<Utc>,
) -> Result<String, Error> {
    let Some(admin) = admins::find_admin(&mut *ctx.db.conn().await?, username).await? else {
        return Err(Error::NotFound { what: "administrator", name: username.to_owned() });
    };
    let Some(active) = admin.totp_secret_sealed.as_deref() else {
        return new_totp_secret(ctx, username);
    };
    throttle::check(ctx, Realm::Admin, username, client, now).await?;
    if let Some(step) = matching_step(&open_secret(ctx, username, active)?, proof.trim(), unix_secs(now)) {
        let step = i64::try_from(step).unwrap_or(i64::MAX);
        if admins::advance_totp_step(&mut *ctx.db.conn().await?, admin.id, step).await? {
            return new_totp_secret(ctx, username);
        }
    } else if !proof.is_empty() && verify_password(proof.to_owned(), admin.password_hash).await? {
        return new_totp_secret(ctx, username);
    }
    let actor = Actor::Admin(username.to_owned());
    let reason = "wrong current password or one-time code to renew TOTP";
    record(ctx, Event::new(now, EventName::AdminLoginFailed, &actor).target(username).failed(reason)).await?;
    throttle::failed(ctx, Realm::Admin, username, client, now).await?;
    Err(Invalid::new("current password or code", "is not right: TOTP was not changed").into())
}

/// The URI and base32 secret of a sealed secret from `new_totp_secret`, to show while it is enrolled.
pub fn totp_enrolment(ctx: &Ctx, username: &str, sealed: &str) -> Result<TotpEnrolment, Error> {
    let secret = open_pending(ctx, username, sealed)?;
    Ok(TotpEnrolment { uri: totp::otpauth_uri(username, &secret), secret: totp::base32_encode(&secret) })
}

/// The second step: TOTP is switched on (or its secret renewed) only with a current code of the new secret, so a
/// mistyped enrolment cannot lock the administrator out. The code's step counts as used (no replay at sign-in).
pub async fn confirm_totp(
    ctx: &Ctx,
    actor: &Actor,
    username: &str,
    sealed: &str,
    code: &str,
    now: DateTime<Utc>,
) -> Result<AdminSession, Error> {
    let secret = open_pending(ctx, username, sealed)?;
    let Some(step) = matching_step(&secret, code.trim(), unix_secs(now)) else {
        return Err(Invalid::new("one-time code", "does not match the new secret: TOTP was not changed").into());
    };
    let mut tx = ctx.db.begin().await?;
    admins::update_totp_secret(&mut tx, username, Some(sealed), millis(now))
        .await
        .map_err(named("administrator", username))?;
    let Some(admin) = admins::find_admin(&mut tx, username).await? else {
        return Err(Error::NotFound { what: "administrator", name: username.to_owned() });
    };
    admins::advance_totp_step(&mut tx, admin.id, i64::try_from(step).unwrap_or(i64::MAX)).await?;
    let event = Event::new(now, EventName::AdminTotpEnable, actor).target(username).detail("confirmed with a code");
    events::insert_event(&mut tx, &event).await?;
    tx.commit().await.map_err(crate::store::Error::from)?;
    Ok(renewed(username, now))
}

/// Turns TOTP off; the password is required, as for a password change.
pub async fn disable_totp(
    ctx: &Ctx,
    actor: &Actor,
    username: &str,
    password: &str,
    client: Option<IpAddr>,
    now: DateTime<Utc>,
) -> Result<AdminSession, Error> {
    reauthenticate(ctx, username, password, client, now).await?;
    let mut tx = ctx.db.begin().await?;
    admins::update_totp_secret(&mut tx, username, None, millis(now)).await.map_err(named("administrator", username))?;
    events::insert_event(&mut tx, &Event::new(now, EventName::AdminTotpDisable, actor).target(username)).await?;
    tx.commit().await.map_err(crate::store::Error::from)?;
    Ok(renewed(username, now))
}

/// Whether an administrator's console session still stands: the account exists and its credentials have not
/// changed since the session signed in. A password or TOTP change (console or CLI) thus signs out every session
/// signed in before it; the session that made the change in the console keeps going with the session returned
/// by the change.
pub async fn session_is_current(ctx: &Ctx, session: &AdminSession) -> Result<bool, Error> {
    let found = admins::find_admin(&mut *ctx.db.conn().await?, &session.username).await?;
    Ok(found.is_some_and(|admin| admin.credentials_changed_at <= session.authn_instant_ms))
}

/// The session of an administrator who just changed their credentials, having proved them again.
fn renewed(username: &str, now: DateTime<Utc>) -> AdminSession {
    AdminSession { username: username.to_owned(), authn_instant_ms: millis(now) }
}

fn check_password(ctx: &Ctx, field: &'static str, password: &str) -> Result<(), Invalid> {
    password::check_new(field, password, ctx.config.min_password_chars())
}

/// Checks a signed-in administrator's password again before a change to their credentials, throttled and
/// counted like a sign-in.
async fn reauthenticate(
    ctx: &Ctx,
    username: &str,
    password: &str,
    client: Option<IpAddr>,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    throttle::check(ctx, Realm::Admin, username, client, now).await?;
    let Some(admin) = admins::find_admin(&mut *ctx.db.conn().await?, username).await? else {
        return Err(Error::NotFound { what: "administrator", name: username.to_owned() });
    };
    if verify_password(password.to_owned(), admin.password_hash).await? {
        return Ok(());
    }
    let actor = Actor::Admin(username.to_owned());
    let event = Event::new(now, EventName::AdminLoginFailed, &actor).target(username).failed("wrong current password");
    record(ctx, event).await?;
    throttle::failed(ctx, Realm::Admin, username, client, now).await?;
    Err(Invalid::new("current password", "is not right").into())
}

/// A secret being enrolled (kept in the session) that no longer opens (sealed before an upgrade or under a
/// secret key since dropped) is a refusal to start again, not our failure.
fn open_pending(ctx: &Ctx, username: &str, sealed: &str) -> Result<Vec<u8>, Error> {
    open_secret(ctx, username, sealed).map_err(|e| match e {
        Error::Secret(_) => Invalid::new("TOTP enrolment", "has expired: start setting up TOTP again").into(),
        other => other,
    })
}

fn open_secret(ctx: &Ctx, username: &str, sealed: &str) -> Result<Vec<u8>, Error> {
    totp::open_secret(ctx, &ADMIN_TOTP.binding(username), sealed)
}

async fn signed_in(
    ctx: &Ctx,
    username: &str,
    how: &str,
    client: Option<IpAddr>,
    now: DateTime<Utc>,
) -> Result<AdminSession, Error> {
    let actor = Actor::Admin(username.to_owned());
    record(ctx, Event::new(now, EventName::AdminLogin, &actor).target(username).detail(how)).await?;
    throttle::succeeded(ctx, Realm::Admin, username, client).await?;
    Ok(AdminSession { username: username.to_owned(), authn_instant_ms: millis(now) })
}

/// Records a failed administrator sign-in, counts it, and returns the generic refusal.
async fn refuse(
    ctx: &Ctx,
    username: &str,
    client: Option<IpAddr>,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<Error, Error> {
    let shown: String = username.chars().take(128).collect();
    record(ctx, Event::new(now, EventName::AdminLoginFailed, &Actor::Anonymous).target(shown).failed(reason)).await?;
    throttle::failed(ctx, Realm::Admin, username, client, now).await?;
    Ok(Error::BadCredentials)
}
