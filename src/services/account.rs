//! A portal user's own account (`/account`): their password, a re-authentication before sensitive changes (the
//! password or a second factor from the last five minutes), the user's sessions and the applications each signed
//! in to, and signing out everywhere. Factors themselves are `mfa`'s.

use std::net::IpAddr;

use chrono::{DateTime, Utc};

use crate::audit::{Actor, Event, EventName};
use crate::directory::{password, Invalid};
use crate::services::login::{dummy_hash, verify_password, IdpSession};
use crate::services::mfa::{self, Proof};
use crate::services::throttle::{self, Realm};
use crate::services::{millis, record, Ctx, Error};
use crate::store::{events, users};

/// How recent the last authentication must be for a sensitive change without asking again.
pub const RECENT_MS: i64 = 5 * 60 * 1000;

/// Whether the session authenticated (password or factor) within the last five minutes.
pub fn is_recent(session: &IdpSession, now: DateTime<Utc>) -> bool {
    millis(now).saturating_sub(session.last_authn_instant().timestamp_millis()) < RECENT_MS
}

/// Re-authentication before a sensitive change of a session that is not recent: `proof` is the password, or a
/// current TOTP code of the user (six digits). Throttled and counted like a sign-in (a wrong password) or a
/// second factor (a wrong code), so the form cannot be used to guess.
pub async fn reauthenticate(
    ctx: &Ctx,
    session: &IdpSession,
    proof: &str,
    client: Option<IpAddr>,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let proof = proof.trim();
    if proof.len() == 6 && proof.bytes().all(|b| b.is_ascii_digit()) {
        let username = &session.username;
        return mfa::verify(ctx, session.user_id, username, Proof::Totp(proof), "re-authentication", client, now).await;
    }
    check_password(ctx, session, proof, client, now).await
}

/// Changes the user's own password: the current one is required and the password policy applies. Every session of
/// the user ends (the credentials changed); the session returned (this one, renewed) continues.
pub async fn change_password(
    ctx: &Ctx,
    session: &IdpSession,
    current: &str,
    new: String,
    client: Option<IpAddr>,
    now: DateTime<Utc>,
) -> Result<IdpSession, Error> {
    password::check_new("new password", &new, ctx.config.min_password_chars())?;
    check_password(ctx, session, current, client, now).await?;
    let hash = crate::services::login::hash_password(new).await?;
    let mut tx = ctx.db.begin().await?;
    users::update_password(&mut tx, session.user_id, &hash, millis(now)).await?;
    let actor = Actor::User(session.username.clone());
    let event = Event::new(now, EventName::UserPasswordChange, &actor).user(&session.username);
    events::insert_event(&mut tx, &event).await?;
    tx.commit().await.map_err(crate::store::Error::from)?;
    Ok(IdpSession { authn_instant_ms: millis(now), ..session.clone() })
}

/// Ends every IdP session of the user, this one included (their credentials count as changed now).
pub async fn sign_out_everywhere(ctx: &Ctx, session: &IdpSession, now: DateTime<Utc>) -> Result<(), Error> {
    let mut tx = ctx.db.begin().await?;
    crate::store::mfa::touch_credentials(&mut tx, session.user_id, millis(now)).await?;
    let actor = Actor::User(session.username.clone());
    let event = Event::new(now, EventName::UserLogoutEverywhere, &actor).user(&session.username);
    events::insert_event(&mut tx, &event).await?;
    tx.commit().await.map_err(crate::store::Error::from)?;
    Ok(())
}

/// An IdP session of the user as `/account` shows it: the applications it signed in to and since when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionView {
    pub is_this_one: bool,
    pub since_ms: i64,
    pub applications: Vec<String>,
}

/// The user's sessions that signed in to applications (the database knows them by their participations), this
/// one first (listed even before it signed in to any).
pub async fn sessions(ctx: &Ctx, session: &IdpSession, now: DateTime<Utc>) -> Result<Vec<SessionView>, Error> {
    let rows =
        crate::store::mfa::list_user_participations(&mut *ctx.db.conn().await?, session.user_id, millis(now)).await?;
    let mut views =
        vec![SessionView { is_this_one: true, since_ms: session.authn_instant_ms, applications: Vec::new() }];
    let mut indexes = vec![session.session_index.clone()];
    for (index, label, at) in rows {
        let position = match indexes.iter().position(|i| *i == index) {
            Some(position) => position,
            None => {
                indexes.push(index);
                views.push(SessionView { is_this_one: false, since_ms: at, applications: Vec::new() });
                views.len() - 1
            }
        };
        if let Some(view) = views.get_mut(position) {
            if !view.applications.contains(&label) {
                view.applications.push(label);
            }
        }
    }
    Ok(views)
}

/// Checks the user's password, throttled and counted like a sign-in; a wrong one is `Invalid`, so the page says
/// which field is wrong.
async fn check_password(
    ctx: &Ctx,
    session: &IdpSession,
    password: &str,
    client: Option<IpAddr>,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let username = &session.username;
    throttle::check(ctx, Realm::User, username, client, now).await?;
    let found = users::find_credentials(&mut *ctx.db.conn().await?, username).await?;
    let hash = match found.and_then(|(user, hash)| hash.filter(|_| user.id == session.user_id)) {
        Some(hash) => hash,
        None => dummy_hash().await?,
    };
    if verify_password(password.to_owned(), hash).await? {
        return Ok(());
    }
    let actor = Actor::User(username.clone());
    let event = Event::new(now, EventName::UserLoginFailed, &actor).user(username).failed("wrong current password");
    record(ctx, event).await?;
    throttle::failed(ctx, Realm::User, username, client, now).await?;
    Err(Invalid::new("current password", "is not right").into())
}
