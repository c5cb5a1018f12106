//! Second factors of directory users and the MFA policy: TOTP (shared with administrators, `totp`), single-use
//! recovery codes, who must use MFA (everyone, members of chosen groups, users of applications with
//! `require_mfa`), and what a sign-in or an SSO request needs next (`after_password`, `requirement`).
//!
//! Architecture Invariant: a second factor is checked under its own throttle (`Realm::Factor`, counted in the
//! database, so replicas share it) before the code is looked at, and every failure is counted and recorded
//! (`user_mfa_failed`); each TOTP step and each recovery code is accepted once, decided by one conditional
//! `UPDATE`, so two replicas cannot both accept it. Secrets are stored sealed, recovery codes hashed; neither
//! appears in events or errors.

use std::net::IpAddr;

use chrono::{DateTime, Utc};

use crate::audit::{Actor, Event, EventName};
use crate::directory::{Application, Invalid, UserId};
use crate::saml::authn_request::{self, authn_class, RequestedAuthnContext};
use crate::services::error::named;
use crate::services::login::IdpSession;
use crate::services::throttle::{self, Realm};
use crate::services::totp::{self, TotpEnrolment};
use crate::services::{millis, record, Ctx, Error};
use crate::store::sealed::USER_TOTP;
use crate::store::webauthn::{self, Owner};
use crate::store::{events, mfa, users, Conn};

/// How many recovery codes a user gets.
pub const RECOVERY_CODES: usize = 10;

/// What a user has and must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    pub has_totp: bool,
    /// Passkeys and security keys (WebAuthn credentials).
    pub webauthn_credentials: usize,
    pub unused_recovery_codes: i64,
    /// A policy (everyone, or one of the user's groups) requires MFA.
    pub is_required: bool,
    /// An administrator reset the user's factors: enrolment comes at the next sign-in.
    pub must_re_enrol: bool,
}

impl Status {
    /// Whether the user can prove a second factor: TOTP, a security key or a passkey. Recovery codes alone are
    /// not a factor: they exist only beside one.
    pub fn has_factor(&self) -> bool {
        self.has_totp || self.webauthn_credentials > 0
    }

    /// How many factors the user has (recovery codes not counted).
    pub fn factor_count(&self) -> usize {
        usize::from(self.has_totp) + self.webauthn_credentials
    }

    /// Whether the user must enrol before being signed in.
    pub fn must_enrol(&self) -> bool {
        !self.has_factor() && (self.is_required || self.must_re_enrol)
    }
}

/// What follows a correct password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterPassword {
    /// Signed in.
    Done,
    /// The user has a factor: it is asked for before the IdP session exists.
    Factor,
    /// A policy requires MFA (or an administrator reset it) and the user has none: enrolment first.
    Enrol,
}

/// What an SSO answer needs of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requirement {
    /// Answer now (with `NoAuthnContext` when the SP asked for more than the session achieved and nothing can be
    /// done about it).
    Met,
    /// A second factor first (the session has only a password, or ForceAuthn asks again).
    StepUp,
    /// A policy requires MFA and the user has no factor: enrolment first.
    Enrol,
}

/// One proof of a second factor.
#[derive(Debug, Clone, Copy)]
pub enum Proof<'a> {
    Totp(&'a str),
    Recovery(&'a str),
}

/// A factor as administrators and the user see it: never a secret.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Factor {
    /// `totp` or `recovery_codes`.
    pub kind: &'static str,
    pub name: String,
    pub created_at_ms: i64,
    pub last_used_at_ms: Option<i64>,
}

/// The MFA policy for people (applications carry their own `require_mfa`).
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct Policy {
    pub everyone: bool,
    pub groups: Vec<String>,
}

pub async fn status(ctx: &Ctx, user: UserId) -> Result<Status, Error> {
    status_on(&mut *ctx.db.conn().await?, user).await
}

pub(crate) async fn status_on(conn: &mut Conn, user: UserId) -> Result<Status, Error> {
    let has_totp = mfa::find_totp(conn, user).await?.is_some();
    let counts = mfa::count_recovery_codes(conn, user).await?;
    let webauthn_credentials = webauthn::list_credentials(conn, Owner::User(user)).await?.len();
    Ok(Status {
        has_totp,
        webauthn_credentials,
        unused_recovery_codes: counts.unused,
        is_required: mfa::is_required_for_user(conn, user).await?,
        must_re_enrol: mfa::find_enrol_required(conn, user).await?,
    })
}

/// What a sign-in needs after the password was right: a user who has a factor is always asked for it.
pub async fn after_password(ctx: &Ctx, session: &IdpSession) -> Result<AfterPassword, Error> {
    let status = status(ctx, session.user_id).await?;
    Ok(if status.has_factor() {
        AfterPassword::Factor
    } else if status.must_enrol() {
        AfterPassword::Enrol
    } else {
        AfterPassword::Done
    })
}

/// Whether the requested authentication context can be met only by a second factor.
pub fn request_needs_mfa(requested: Option<&RequestedAuthnContext>, password_class: &'static str) -> bool {
    authn_request::choose_authn_context(requested, password_class).is_none()
        && authn_request::choose_authn_context(requested, authn_class::REFEDS_MFA).is_some()
}

/// What answering `app` for this session needs: a second factor when the app, a policy for the user or the request
/// asks for one and the session has none (or has one older than a ForceAuthn request, `since_ms`); enrolment when
/// a policy asks and the user has no factor. A request alone never forces enrolment: it gets `NoAuthnContext`.
pub async fn requirement(
    ctx: &Ctx,
    app: &Application,
    session: &IdpSession,
    request_needs_mfa: bool,
    since_ms: Option<i64>,
) -> Result<Requirement, Error> {
    // A factor proven in this session (since ForceAuthn's request, if any) meets every policy and request:
    // nothing to read.
    let is_fresh = session.mfa_instant_ms.is_some_and(|at| since_ms.is_none_or(|since| at >= since));
    if is_fresh {
        return Ok(Requirement::Met);
    }
    let mut conn = ctx.db.conn().await?;
    let (is_required, must_re_enrol) = mfa::policy_for_user(&mut conn, session.user_id).await?;
    let by_policy = app.sp.require_mfa || is_required || must_re_enrol;
    if !by_policy && !request_needs_mfa {
        return Ok(Requirement::Met);
    }
    // Only a session that needs more reads which factors the user has.
    let status = status_on(&mut conn, session.user_id).await?;
    drop(conn);
    Ok(if status.has_factor() {
        Requirement::StepUp
    } else if by_policy {
        Requirement::Enrol
    } else {
        Requirement::Met
    })
}

/// Checks a second factor of a user whose password is already proven (`purpose` says where, for the event:
/// "sign-in", "step-up", "re-authentication"). Throttled per (user, client) and per client, across replicas; a
/// wrong or used code is counted and recorded, and refused with `Error::BadFactor`.
pub async fn verify(
    ctx: &Ctx,
    user: UserId,
    username: &str,
    proof: Proof<'_>,
    purpose: &str,
    client: Option<IpAddr>,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    throttle::check(ctx, Realm::Factor, username, client, now).await?;
    let actor = Actor::User(username.to_owned());
    let outcome = match proof {
        Proof::Totp(code) => check_totp(ctx, user, code, now).await?,
        Proof::Recovery(code) => {
            let is_used_now = match recovery_hash(code) {
                Some(hash) => mfa::use_recovery_code(&mut *ctx.db.conn().await?, user, &hash, millis(now)).await?,
                None => false,
            };
            if is_used_now {
                let left = status(ctx, user).await?.unused_recovery_codes;
                let detail = format!("{purpose}; {left} unused recovery codes left");
                record(ctx, Event::new(now, EventName::UserMfaRecoveryUse, &actor).user(username).detail(detail))
                    .await?;
                Ok("recovery code")
            } else {
                Err("wrong or already used recovery code")
            }
        }
    };
    match outcome {
        Ok(how) => {
            let event =
                Event::new(now, EventName::UserMfaSuccess, &actor).user(username).detail(format!("{how}, {purpose}"));
            record(ctx, event).await?;
            throttle::succeeded(ctx, Realm::Factor, username, client).await?;
            Ok(())
        }
        Err(reason) => {
            let event =
                Event::new(now, EventName::UserMfaFailed, &actor).user(username).failed(format!("{reason}, {purpose}"));
            record(ctx, event).await?;
            throttle::failed(ctx, Realm::Factor, username, client, now).await?;
            Err(Error::BadFactor { reason: shown_reason(reason) })
        }
    }
}

/// A step-up proven on a signed-in session: recorded as `user_mfa_step_up`.
pub async fn record_step_up(ctx: &Ctx, username: &str, detail: &str, now: DateTime<Utc>) -> Result<(), Error> {
    let actor = Actor::User(username.to_owned());
    record(ctx, Event::new(now, EventName::UserMfaStepUp, &actor).user(username).detail(detail)).await
}

/// A new sealed TOTP secret for an enrolment, kept by the caller (the session) until a code confirms it.
pub fn start_totp(ctx: &Ctx, user: UserId) -> Result<String, Error> {
    totp::new_sealed_secret(ctx, &USER_TOTP.binding(user.0))
}

/// The URI and base32 secret of a pending enrolment, to show.
pub fn totp_enrolment(ctx: &Ctx, user: UserId, username: &str, sealed: &str) -> Result<TotpEnrolment, Error> {
    totp::enrolment(ctx, username, &USER_TOTP.binding(user.0), sealed)
}

/// Confirms a TOTP enrolment with a current code of the new secret (so a mistyped enrolment cannot lock the user
/// out); the code counts as used. At the first enrolment (no recovery codes yet) ten recovery codes are made and
/// returned, to be shown once. Clears an administrator's reset.
pub async fn confirm_totp(
    ctx: &Ctx,
    actor: &Actor,
    user: UserId,
    username: &str,
    sealed: &str,
    code: &str,
    now: DateTime<Utc>,
) -> Result<Option<Vec<String>>, Error> {
    let Some(step) = totp::matching_sealed_step(ctx, &USER_TOTP.binding(user.0), sealed, code, now)? else {
        return Err(Invalid::new("one-time code", "does not match the new secret: try the current code again").into());
    };
    let mut tx = ctx.db.begin().await?;
    let replaced = mfa::find_totp(&mut tx, user).await?.is_some();
    mfa::upsert_totp(&mut tx, user, sealed, step, millis(now)).await?;
    let codes = if mfa::count_recovery_codes(&mut tx, user).await?.total == 0 {
        let codes = new_recovery_codes();
        mfa::replace_recovery_codes(&mut tx, user, &hashes(&codes), millis(now)).await?;
        Some(codes)
    } else {
        None
    };
    mfa::update_enrol_required(&mut tx, user, false, None).await?;
    let detail = if replaced { "TOTP authenticator replaced" } else { "TOTP authenticator" };
    events::insert_event(&mut tx, &Event::new(now, EventName::UserMfaEnrol, actor).user(username).detail(detail))
        .await?;
    tx.commit().await.map_err(crate::store::Error::from)?;
    Ok(codes)
}

/// New recovery codes for a user who has a factor (the old ones stop working); returned to be shown once.
pub async fn regenerate_recovery_codes(
    ctx: &Ctx,
    actor: &Actor,
    user: UserId,
    username: &str,
    now: DateTime<Utc>,
) -> Result<Vec<String>, Error> {
    let mut tx = ctx.db.begin().await?;
    if !status_on(&mut tx, user).await?.has_factor() {
        return Err(Invalid::new("recovery codes", "need a second factor first: enrol an authenticator").into());
    }
    let codes = new_recovery_codes();
    mfa::replace_recovery_codes(&mut tx, user, &hashes(&codes), millis(now)).await?;
    let event = Event::new(now, EventName::UserMfaRecoveryRegenerate, actor).user(username);
    events::insert_event(&mut tx, &event).await?;
    tx.commit().await.map_err(crate::store::Error::from)?;
    Ok(codes)
}

/// Removes the user's TOTP (and, with the last factor, the recovery codes). Refused while a policy requires MFA
/// for the user and it is the last factor.
pub async fn remove_totp(
    ctx: &Ctx,
    actor: &Actor,
    user: UserId,
    username: &str,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let mut tx = ctx.db.begin().await?;
    let status = status_on(&mut tx, user).await?;
    if !status.has_totp {
        return Err(Error::NotFound { what: "TOTP authenticator of", name: username.to_owned() });
    }
    // The last factor may not go while a policy requires one.
    if status.is_required && status.factor_count() == 1 {
        return Err(Invalid::new(
            "TOTP authenticator",
            "cannot be removed: a policy requires a second factor for your account and it is your last one",
        )
        .into());
    }
    mfa::delete_totp(&mut tx, user).await?;
    mfa::delete_recovery_codes(&mut tx, user).await?;
    let event = Event::new(now, EventName::UserMfaRemove, actor).user(username).detail("TOTP authenticator");
    events::insert_event(&mut tx, &event).await?;
    tx.commit().await.map_err(crate::store::Error::from)?;
    Ok(())
}

/// An administrator's reset: every factor and recovery code of the user goes, the user's sessions end, and the
/// user enrols again at the next sign-in.
pub async fn reset(ctx: &Ctx, actor: &Actor, username: &str, now: DateTime<Utc>) -> Result<(), Error> {
    let mut tx = ctx.db.begin().await?;
    let user = users::get_user_by_username(&mut tx, username).await.map_err(named("user", username))?;
    let had_totp = mfa::delete_totp(&mut tx, user.id).await?;
    let keys = webauthn::delete_all_credentials(&mut tx, Owner::User(user.id)).await?;
    let codes = mfa::delete_recovery_codes(&mut tx, user.id).await?;
    mfa::update_enrol_required(&mut tx, user.id, true, Some(millis(now))).await?;
    let detail = format!(
        "{}{keys} passkey(s) or security key(s) and {codes} recovery codes removed; enrolment at the next sign-in",
        if had_totp { "TOTP authenticator, " } else { "" }
    );
    let event = Event::new(now, EventName::UserMfaReset, actor).target(username).user(username).detail(detail);
    events::insert_event(&mut tx, &event).await?;
    tx.commit().await.map_err(crate::store::Error::from)?;
    Ok(())
}

/// A user's factors (never secrets), for the console, the API, the CLI and the account page.
pub async fn list_factors(ctx: &Ctx, username: &str) -> Result<Vec<Factor>, Error> {
    let mut conn = ctx.db.conn().await?;
    let user = users::get_user_by_username(&mut conn, username).await.map_err(named("user", username))?;
    factors_of(&mut conn, user.id).await
}

pub async fn factors_of(conn: &mut Conn, user: UserId) -> Result<Vec<Factor>, Error> {
    let mut factors = Vec::new();
    if let Some(row) = mfa::find_totp(conn, user).await? {
        factors.push(Factor {
            kind: "totp",
            name: "Authenticator app (TOTP)".to_owned(),
            created_at_ms: row.created_at,
            last_used_at_ms: row.last_used_at,
        });
    }
    for credential in webauthn::list_credentials(conn, Owner::User(user)).await? {
        factors.push(Factor {
            kind: if credential.is_discoverable { "passkey" } else { "security_key" },
            name: credential.name,
            created_at_ms: credential.created_at_ms,
            last_used_at_ms: credential.last_used_at_ms,
        });
    }
    let counts = mfa::count_recovery_codes(conn, user).await?;
    if let Some(created) = counts.created_at {
        factors.push(Factor {
            kind: "recovery_codes",
            name: format!("Recovery codes ({} of {} unused)", counts.unused, counts.total),
            created_at_ms: created,
            last_used_at_ms: counts.last_used_at,
        });
    }
    Ok(factors)
}

pub async fn policy(ctx: &Ctx) -> Result<Policy, Error> {
    let (everyone, groups) = mfa::find_policy(&mut *ctx.db.conn().await?).await?;
    Ok(Policy { everyone, groups })
}

/// Sets whether everyone must use MFA.
pub async fn set_everyone(ctx: &Ctx, actor: &Actor, is_required: bool, now: DateTime<Utc>) -> Result<(), Error> {
    let mut tx = ctx.db.begin().await?;
    mfa::update_require_all(&mut tx, is_required, millis(now)).await?;
    let detail = format!("MFA required for everyone: {is_required}");
    events::insert_event(&mut tx, &Event::new(now, EventName::AdminMfaPolicy, actor).target("everyone").detail(detail))
        .await?;
    tx.commit().await.map_err(crate::store::Error::from)?;
    Ok(())
}

/// Replaces the whole policy (everyone, and exactly these groups), in one transaction with its event.
pub async fn replace_policy(ctx: &Ctx, actor: &Actor, policy: &Policy, now: DateTime<Utc>) -> Result<(), Error> {
    let mut tx = ctx.db.begin().await?;
    mfa::update_require_all(&mut tx, policy.everyone, millis(now)).await?;
    let (_, before) = mfa::find_policy(&mut tx).await?;
    for group in before.iter().filter(|g| !policy.groups.contains(g)) {
        mfa::update_group_required(&mut tx, group, false).await.map_err(named("group", group))?;
    }
    for group in &policy.groups {
        mfa::update_group_required(&mut tx, group, true).await.map_err(named("group", group))?;
    }
    let detail = format!("MFA required for everyone: {}; groups: {}", policy.everyone, policy.groups.join(", "));
    events::insert_event(&mut tx, &Event::new(now, EventName::AdminMfaPolicy, actor).target("policy").detail(detail))
        .await?;
    tx.commit().await.map_err(crate::store::Error::from)?;
    Ok(())
}

/// Sets whether members of `group` must use MFA.
pub async fn set_group(
    ctx: &Ctx,
    actor: &Actor,
    group: &str,
    is_required: bool,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let mut tx = ctx.db.begin().await?;
    mfa::update_group_required(&mut tx, group, is_required).await.map_err(named("group", group))?;
    let detail = format!("MFA required for members: {is_required}");
    events::insert_event(&mut tx, &Event::new(now, EventName::AdminMfaPolicy, actor).target(group).detail(detail))
        .await?;
    tx.commit().await.map_err(crate::store::Error::from)?;
    Ok(())
}

/// Checks a TOTP code: the step must match and not have been used; `Err` is the reason for the event.
async fn check_totp(
    ctx: &Ctx,
    user: UserId,
    code: &str,
    now: DateTime<Utc>,
) -> Result<Result<&'static str, &'static str>, Error> {
    let mut conn = ctx.db.conn().await?;
    let Some(row) = mfa::find_totp(&mut conn, user).await? else {
        return Ok(Err("no TOTP authenticator enrolled"));
    };
    let Some(step) = totp::matching_sealed_step(ctx, &USER_TOTP.binding(user.0), &row.secret_sealed, code, now)? else {
        return Ok(Err("wrong one-time code"));
    };
    if !mfa::advance_totp_step(&mut conn, user, step, millis(now)).await? {
        return Ok(Err("one-time code already used"));
    }
    Ok(Ok("TOTP"))
}

/// What the user is told: wrong and used codes are told apart (a used code is no secret to whoever typed it).
fn shown_reason(reason: &str) -> &'static str {
    match reason {
        "one-time code already used" => "This code was already used. Wait for the next code and try again.",
        "wrong or already used recovery code" => "This recovery code is wrong or was already used.",
        _ => "This code is not right. Check the time on your device and try again.",
    }
}

/// Ten random codes of 80 bits each, as four groups of four base32 characters (`ABCD-EFGH-JKLM-NPQR`).
/// Makes the user's first recovery codes, when they have a factor and no codes yet (the first enrolment was a
/// passkey or a security key rather than TOTP); returns them to show once, or `None` when codes exist already.
pub async fn first_recovery_codes(
    ctx: &Ctx,
    actor: &Actor,
    user: UserId,
    username: &str,
    now: DateTime<Utc>,
) -> Result<Option<Vec<String>>, Error> {
    let mut tx = ctx.db.begin().await?;
    if mfa::count_recovery_codes(&mut tx, user).await?.total > 0 || !status_on(&mut tx, user).await?.has_factor() {
        return Ok(None);
    }
    let codes = new_recovery_codes();
    mfa::replace_recovery_codes(&mut tx, user, &hashes(&codes), millis(now)).await?;
    let event = Event::new(now, EventName::UserMfaRecoveryRegenerate, actor).user(username).detail("first codes");
    events::insert_event(&mut tx, &event).await?;
    tx.commit().await.map_err(crate::store::Error::from)?;
    Ok(Some(codes))
}

fn new_recovery_codes() -> Vec<String> {
    (0..RECOVERY_CODES)
        .map(|_| {
            let bytes: [u8; 10] = rand::random();
            let text = totp::base32_encode(&bytes);
            let groups: Vec<String> =
                text.as_bytes().chunks(4).map(|c| String::from_utf8_lossy(c).into_owned()).collect();
            groups.join("-")
        })
        .collect()
}

fn hashes(codes: &[String]) -> Vec<String> {
    codes.iter().filter_map(|c| recovery_hash(c)).collect()
}

/// The stored form of a recovery code: SHA-256 of its 16 characters (upper case, without separators or spaces).
/// A fast unsalted hash is enough here, unlike for passwords: each code carries 80 random bits, so no dictionary
/// or brute force over the hash is feasible, and a slow hash would make the ten-code check cost ten argon2 runs.
fn recovery_hash(code: &str) -> Option<String> {
    let normal: String =
        code.chars().filter(|c| !c.is_whitespace() && *c != '-').map(|c| c.to_ascii_uppercase()).collect();
    if normal.len() != 16 || !normal.chars().all(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    Some(hex::encode(openssl::sha::sha256(normal.as_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_codes_are_ten_distinct_and_hash_however_typed() {
        let codes = new_recovery_codes();
        assert_eq!(codes.len(), 10);
        let unique: std::collections::BTreeSet<_> = codes.iter().collect();
        assert_eq!(unique.len(), 10);
        let code = codes.first().unwrap();
        assert_eq!(code.len(), 19, "{code}");
        let typed = code.replace('-', " ").to_lowercase();
        assert_eq!(recovery_hash(code), recovery_hash(&typed));
        assert!(recovery_hash(code).is_some());
        assert_eq!(recovery_hash("short"), None);
        assert_eq!(recovery_hash("AAAA-BBBB-CCCC-DDD!"), None);
    }

    #[test]
    fn only_requests_that_a_password_cannot_meet_need_mfa() {
        let req = |comparison: &str, classes: &[&str]| RequestedAuthnContext {
            comparison: comparison.to_owned(),
            class_refs: classes.iter().map(|c| (*c).to_owned()).collect(),
        };
        let ppt = authn_class::PASSWORD_PROTECTED_TRANSPORT;
        assert!(request_needs_mfa(Some(&req("exact", &[authn_class::REFEDS_MFA])), ppt));
        assert!(request_needs_mfa(Some(&req("minimum", &[authn_class::REFEDS_MFA])), ppt));
        assert!(request_needs_mfa(Some(&req("better", &[ppt])), ppt));
        assert!(!request_needs_mfa(Some(&req("exact", &[ppt])), ppt));
        assert!(!request_needs_mfa(Some(&req("minimum", &[authn_class::PASSWORD])), ppt));
        assert!(!request_needs_mfa(None, ppt));
        // Something nobody can meet is not a reason to step up.
        assert!(!request_needs_mfa(Some(&req("exact", &["urn:example:smartcard"])), ppt));
    }
}
