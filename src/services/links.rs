//! Invitations: single-use links mailed to users so that they choose their own password. A link is a 256-bit
//! random token of which only the SHA-256 is stored (`store::links`); a new invitation replaces the unused
//! earlier one, and accepting one uses it up in one statement, so it works once even across replicas.

use askama::Template;
use base64::Engine;
use chrono::{DateTime, Utc};
use rand::RngCore;

use crate::audit::{Actor, Event, EventName};
use crate::directory::{password, User};
use crate::mail::Message;
use crate::services::error::named;
use crate::services::{millis, Ctx, Error};
use crate::store::{events, links, users, Conn};

/// The purpose of an invitation link.
pub const INVITE: &str = "invite";

#[derive(Template)]
#[template(path = "mail/invite.txt")]
struct InviteText<'a> {
    name: &'a str,
    username: &'a str,
    link: &'a str,
    expires: &'a str,
    base_url: &'a str,
}

#[derive(Template)]
#[template(path = "mail/invite.html")]
struct InviteHtml<'a> {
    subject: &'a str,
    name: &'a str,
    username: &'a str,
    link: &'a str,
    expires: &'a str,
    base_url: &'a str,
}

/// Where a user's newest invitation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Invitation {
    /// Mailed and still valid until `expires`.
    Sent { sent: DateTime<Utc>, expires: DateTime<Utc> },
    /// The user chose a password with it.
    Accepted { accepted: DateTime<Utc> },
    /// Not used in time.
    Expired { expires: DateTime<Utc> },
}

impl Invitation {
    pub fn label(&self) -> String {
        match self {
            Self::Sent { expires, .. } => format!("sent, valid until {}", expires.format("%Y-%m-%d %H:%M UTC")),
            Self::Accepted { accepted } => format!("accepted {}", accepted.format("%Y-%m-%d %H:%M UTC")),
            Self::Expired { expires } => format!("expired {}", expires.format("%Y-%m-%d %H:%M UTC")),
        }
    }
}

/// A new random token (256 bits, URL-safe base64) and the hash that is stored.
fn new_token() -> (String, String) {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let hash = hash(&token);
    (token, hash)
}

/// A token longer than any we issue is refused before it is hashed or looked up.
const MAX_TOKEN_CHARS: usize = 128;

fn hash(token: &str) -> String {
    hex::encode(openssl::sha::sha256(token.as_bytes()))
}

fn time(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// Mails `username` an invitation to choose a password, replacing any earlier unused one; returns when the new
/// link expires. Refused when mail is not configured, and for a suspended user, a user without an e-mail address
/// and a user who already has a password (who uses password reset instead).
pub async fn invite(ctx: &Ctx, actor: &Actor, username: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, Error> {
    require_mail(ctx)?;
    let mut tx = ctx.db.begin().await?;
    let expires = invite_in(ctx, &mut tx, actor, username, now).await?;
    tx.commit().await.map_err(crate::store::Error::from)?;
    ctx.mailer.wake();
    Ok(expires)
}

/// `MailNotConfigured` unless mail can be sent: checked before a change that would invite.
pub fn require_mail(ctx: &Ctx) -> Result<(), Error> {
    if ctx.mailer.is_configured() {
        Ok(())
    } else {
        Err(Error::MailNotConfigured)
    }
}

/// `invite` in the caller's transaction (the caller checks that mail is configured and wakes the mailer).
pub async fn invite_in(
    ctx: &Ctx,
    conn: &mut Conn,
    actor: &Actor,
    username: &str,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, Error> {
    let refuse = |reason| Error::CannotInvite { username: crate::audit::bounded(username), reason };
    let (user, password_hash) = users::find_credentials(conn, username)
        .await?
        .ok_or(Error::NotFound { what: "user", name: crate::audit::bounded(username) })?;
    if !user.is_active() {
        return Err(refuse("the user is suspended"));
    }
    if user.profile.email.is_empty() {
        return Err(refuse("the user has no e-mail address"));
    }
    if password_hash.is_some() {
        return Err(refuse("the user already has a password: use password reset instead"));
    }
    let ttl_ms = i64::try_from(ctx.config.invitation_ttl_secs).unwrap_or(259_200).saturating_mul(1000);
    let expires_ms = millis(now).saturating_add(ttl_ms);
    let (token, token_hash) = new_token();
    links::replace(conn, user.id.0, INVITE, &token_hash, millis(now), expires_ms).await?;
    let expires = time(expires_ms);
    ctx.mailer.queue(conn, "invite", &user.profile.email, &invite_message(ctx, &user, &token, expires)?).await?;
    let event = Event::new(now, EventName::AdminUserInvite, actor)
        .target(username)
        .user(username)
        .detail(format!("valid until {}", expires.format("%Y-%m-%d %H:%M UTC")));
    events::insert_event(conn, &event).await?;
    Ok(expires)
}

fn invite_message(ctx: &Ctx, user: &User, token: &str, expires: DateTime<Utc>) -> Result<Message, Error> {
    let base_url = ctx.mailer.base_url();
    let link = format!("{base_url}/invite/{token}");
    let name = user.shown_name();
    let expires = expires.format("%Y-%m-%d %H:%M UTC").to_string();
    let subject = "[sesame] You are invited: choose your password".to_owned();
    let text =
        InviteText { name: &name, username: &user.username, link: &link, expires: &expires, base_url }.render()?;
    let html = InviteHtml {
        subject: &subject,
        name: &name,
        username: &user.username,
        link: &link,
        expires: &expires,
        base_url,
    }
    .render()?;
    Ok(Message { subject, text, html })
}

/// The user a still valid invitation link is for (for the page that asks for the password).
pub async fn check_invitation(ctx: &Ctx, token: &str, now: DateTime<Utc>) -> Result<User, Error> {
    valid_link_user(ctx, INVITE, token, now).await
}

/// Sets the first password of the invited user and uses the link up, all or nothing; returns the username.
/// The password policy applies and the two fields must match.
pub async fn accept_invitation(
    ctx: &Ctx,
    token: &str,
    new_password: String,
    confirm: &str,
    now: DateTime<Utc>,
) -> Result<String, Error> {
    let (mut tx, user) = set_password_with_link(ctx, INVITE, token, new_password, confirm, now).await?;
    let actor = Actor::User(user.username.clone());
    let event = Event::new(now, EventName::UserInviteAccept, &actor).target(&user.username).user(&user.username);
    events::insert_event(&mut tx, &event).await?;
    tx.commit().await.map_err(crate::store::Error::from)?;
    Ok(user.username)
}

/// Where the user's newest invitation stands, if they were ever invited.
pub async fn invitation_state(conn: &mut Conn, user: &User, now: DateTime<Utc>) -> Result<Option<Invitation>, Error> {
    let Some(link) = links::latest(conn, user.id.0, INVITE).await? else { return Ok(None) };
    Ok(Some(match link.used_at {
        Some(used) => Invitation::Accepted { accepted: time(used) },
        None if link.expires_at > millis(now) && link.revoked_at.is_none() => {
            Invitation::Sent { sent: time(link.created_at), expires: time(link.expires_at) }
        }
        None => Invitation::Expired { expires: time(link.expires_at) },
    }))
}

/// `invitation_state` on a connection of its own.
pub async fn invitation(ctx: &Ctx, username: &str, now: DateTime<Utc>) -> Result<Option<Invitation>, Error> {
    let mut conn = ctx.db.conn().await?;
    let user = users::get_user_by_username(&mut conn, username).await.map_err(named("user", username))?;
    invitation_state(&mut conn, &user, now).await
}

/// The purpose of a password reset link.
pub const RESET: &str = "reset";
/// How long a reset link works.
pub const RESET_TTL_MS: i64 = 30 * 60 * 1000;
/// Reset mails per account, and requests per client address, in `RESET_WINDOW_MS`; beyond, nothing is sent.
pub const RESET_MAX_PER_ACCOUNT: i64 = 3;
pub const RESET_MAX_PER_CLIENT: i64 = 10;
pub const RESET_WINDOW_MS: i64 = 15 * 60 * 1000;
const RESET_CLIENT_KIND: &str = "reset_client";

#[derive(Template)]
#[template(path = "mail/reset.txt")]
struct ResetText<'a> {
    name: &'a str,
    username: &'a str,
    link: &'a str,
    expires: &'a str,
    base_url: &'a str,
}

#[derive(Template)]
#[template(path = "mail/reset.html")]
struct ResetHtml<'a> {
    subject: &'a str,
    name: &'a str,
    username: &'a str,
    link: &'a str,
    expires: &'a str,
    base_url: &'a str,
}

#[derive(Template)]
#[template(path = "mail/password_changed.txt")]
struct ChangedText<'a> {
    name: &'a str,
    username: &'a str,
    changed: &'a str,
    base_url: &'a str,
}

#[derive(Template)]
#[template(path = "mail/password_changed.html")]
struct ChangedHtml<'a> {
    subject: &'a str,
    name: &'a str,
    username: &'a str,
    changed: &'a str,
    base_url: &'a str,
}

/// "Forgot your password?": mails a reset link to the account named by `who` (a username or an e-mail address)
/// when it exists, is active, has an address and is not over its limits. The caller answers the same way
/// whatever happened, and the same statements run whether or not the account exists, so neither the page nor
/// its timing tells. `MailNotConfigured` only when no mail can be sent at all.
pub async fn request_reset(
    ctx: &Ctx,
    who: &str,
    client: Option<std::net::IpAddr>,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    require_mail(ctx)?;
    let who = who.trim();
    let now_ms = millis(now);
    let since = now_ms - RESET_WINDOW_MS;
    let mut tx = ctx.db.begin().await?;
    // The per-client count goes up for every request, known account or not.
    let client_key = client.map(|ip| ip.to_string()).unwrap_or_default();
    crate::store::throttle::add_failure(&mut tx, RESET_CLIENT_KIND, &client_key, now_ms, since).await?;
    let client_count = crate::store::throttle::count_failures(&mut tx, RESET_CLIENT_KIND, &client_key, since).await?;
    let by_email = users::find_username_by_email(&mut tx, who).await?;
    let username = by_email.as_deref().unwrap_or(who);
    let found = users::find_credentials(&mut tx, username).await?;
    let user_id = found.as_ref().map_or(-1, |(u, _)| u.id.0);
    let account_count = links::count_since(&mut tx, user_id, RESET, since).await?;
    let user = match found {
        Some((user, _))
            if user.is_active()
                && !user.profile.email.is_empty()
                && who.len() <= 254
                && account_count < RESET_MAX_PER_ACCOUNT
                && client_count <= RESET_MAX_PER_CLIENT =>
        {
            user
        }
        _ => {
            tx.commit().await.map_err(crate::store::Error::from)?;
            return Ok(());
        }
    };
    let expires_ms = now_ms + RESET_TTL_MS;
    let (token, token_hash) = new_token();
    links::replace(&mut tx, user.id.0, RESET, &token_hash, now_ms, expires_ms).await?;
    let base_url = ctx.mailer.base_url();
    let link = format!("{base_url}/login/reset/{token}");
    let name = user.shown_name();
    let expires = time(expires_ms).format("%Y-%m-%d %H:%M UTC").to_string();
    let subject = "[sesame] Reset your password".to_owned();
    let (username, link_ref, expires_ref) = (user.username.as_str(), link.as_str(), expires.as_str());
    let text = ResetText { name: &name, username, link: link_ref, expires: expires_ref, base_url }.render()?;
    let html = ResetHtml { subject: &subject, name: &name, username, link: link_ref, expires: expires_ref, base_url }
        .render()?;
    ctx.mailer.queue(&mut tx, "password_reset", &user.profile.email, &Message { subject, text, html }).await?;
    let actor = Actor::Anonymous;
    let mut event = Event::new(now, EventName::UserPasswordResetRequest, &actor).target(username).user(username);
    if let Some(ip) = client {
        event = event.detail(format!("from {ip}"));
    }
    events::insert_event(&mut tx, &event).await?;
    tx.commit().await.map_err(crate::store::Error::from)?;
    ctx.mailer.wake();
    Ok(())
}

/// The user a still valid reset link is for (for the page that asks for the new password).
pub async fn check_reset(ctx: &Ctx, token: &str, now: DateTime<Utc>) -> Result<User, Error> {
    valid_link_user(ctx, RESET, token, now).await
}

/// Sets a new password with a reset link, all or nothing: the link is used up, every session of the user ends
/// (their credentials changed), the event is written and the user is told by mail. Factors stay: the next
/// sign-in still asks for them. Returns the username.
pub async fn complete_reset(
    ctx: &Ctx,
    token: &str,
    new_password: String,
    confirm: &str,
    now: DateTime<Utc>,
) -> Result<String, Error> {
    let (mut tx, user) = set_password_with_link(ctx, RESET, token, new_password, confirm, now).await?;
    let actor = Actor::User(user.username.clone());
    let event = Event::new(now, EventName::UserPasswordReset, &actor).target(&user.username).user(&user.username);
    events::insert_event(&mut tx, &event).await?;
    if ctx.mailer.is_configured() && !user.profile.email.is_empty() {
        let base_url = ctx.mailer.base_url();
        let name = user.shown_name();
        let changed = now.format("%Y-%m-%d %H:%M UTC").to_string();
        let subject = "[sesame] Your password was changed".to_owned();
        let username = user.username.as_str();
        let text = ChangedText { name: &name, username, changed: &changed, base_url }.render()?;
        let html = ChangedHtml { subject: &subject, name: &name, username, changed: &changed, base_url }.render()?;
        ctx.mailer.queue(&mut tx, "password_changed", &user.profile.email, &Message { subject, text, html }).await?;
    }
    tx.commit().await.map_err(crate::store::Error::from)?;
    ctx.mailer.wake();
    Ok(user.username)
}

/// The active user a valid (unused, unexpired) link of `purpose` is for; anything else is `LinkInvalid`.
async fn valid_link_user(ctx: &Ctx, purpose: &str, token: &str, now: DateTime<Utc>) -> Result<User, Error> {
    if token.len() > MAX_TOKEN_CHARS {
        return Err(Error::LinkInvalid);
    }
    let mut conn = ctx.db.conn().await?;
    let user_id = links::find_valid(&mut conn, purpose, &hash(token), millis(now)).await?.ok_or(Error::LinkInvalid)?;
    active_user(&mut conn, user_id).await
}

/// Checks the new password (the two fields match; the policy), then, in a transaction it returns uncommitted,
/// uses the link of `purpose` up and sets the password of its (active) user; the caller adds its event and commits.
async fn set_password_with_link(
    ctx: &Ctx,
    purpose: &str,
    token: &str,
    new_password: String,
    confirm: &str,
    now: DateTime<Utc>,
) -> Result<(crate::store::Tx<'static>, User), Error> {
    if token.len() > MAX_TOKEN_CHARS {
        return Err(Error::LinkInvalid);
    }
    if new_password != confirm {
        return Err(crate::directory::Invalid::new("confirm", "does not match the password").into());
    }
    password::check_new("password", &new_password, ctx.config.min_password_chars())?;
    let password_hash = crate::services::login::hash_password(new_password).await?;
    let mut tx = ctx.db.begin().await?;
    let user_id = links::consume(&mut tx, purpose, &hash(token), millis(now)).await?.ok_or(Error::LinkInvalid)?;
    let user = active_user(&mut tx, user_id).await?;
    users::update_password(&mut tx, user.id, &password_hash, millis(now)).await?;
    Ok((tx, user))
}

async fn active_user(conn: &mut Conn, user_id: i64) -> Result<User, Error> {
    let user = users::get_user(conn, crate::directory::UserId(user_id)).await?;
    if user.is_active() {
        Ok(user)
    } else {
        Err(Error::LinkInvalid)
    }
}
