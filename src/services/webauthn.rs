//! WebAuthn with webauthn-rs: passkeys (discoverable credentials with user verification, which sign a user in
//! alone and count as multi-factor) and security keys (non-discoverable, a second factor after the password), for
//! users and for administrators. It owns the relying party (ID: the base URL's host; origin: the base URL's
//! origin, which webauthn-rs checks in every response), registration, renaming and removal, the usernameless
//! passkey sign-in and the second-factor check that the password step calls.
//!
//! Architecture Invariant: every ceremony's state is a row of `webauthn_challenges`, taken (deleted) in one
//! statement when the response comes back, so a challenge is answered at most once, on any replica, and never
//! after it expired; the browser holds only the row's random id.
//!
//! Architecture Invariant: a signature counter that does not move forward (non-zero and not greater than the
//! stored one) is refused and recorded as `user_mfa_failed` with its own detail (a cloned authenticator); failed
//! factors are throttled per user in the database (`throttle::Realm::Factor`), across replicas.
//!
//! Architecture Invariant: signature verification runs on a blocking thread, never on the async workers.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::Serialize;
use webauthn_rs::prelude::{
    AuthenticationResult, DiscoverableAuthentication, DiscoverableKey, Passkey, PasskeyRegistration,
    PublicKeyCredential, RegisterPublicKeyCredential, SecurityKey, SecurityKeyAuthentication, SecurityKeyRegistration,
    Url, Uuid, Webauthn, WebauthnBuilder, WebauthnError,
};

use crate::audit::{Actor, Event, EventName};
use crate::directory::{User, UserId};
use crate::services::login::{self, IdpSession};
use crate::services::throttle::{self, Realm};
use crate::services::{millis, record, Ctx, Error};
use crate::store::users;
use crate::store::webauthn::{self as store, Challenge, CredentialRow, NewCredential, Owner};

/// How long a started ceremony may be finished (webauthn-rs asks the browser for the same timeout).
pub const CEREMONY_SECS: i64 = 300;
/// How recent the last authentication must be to add or remove a credential.
pub const REAUTH_WINDOW_MS: i64 = 5 * 60 * 1000;
/// The longest name a credential may have.
const MAX_NAME_CHARS: usize = 64;

const REGISTER: &str = "register";
const SIGN_IN: &str = "sign_in";
const SECOND_FACTOR: &str = "second_factor";
const ADMIN_FACTOR: &str = "admin_factor";

/// What a credential is: a passkey signs in alone; a security key is a second factor after the password.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Passkey,
    SecurityKey,
}

impl Kind {
    pub fn label(self) -> &'static str {
        match self {
            Self::Passkey => "passkey",
            Self::SecurityKey => "security key",
        }
    }

    fn of(row: &CredentialRow) -> Self {
        if row.is_discoverable {
            Self::Passkey
        } else {
            Self::SecurityKey
        }
    }
}

/// The relying party of this deployment, derived from the base URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelyingParty {
    /// The base URL's host.
    pub id: String,
    /// The base URL's origin (scheme, host and port).
    pub origin: Url,
}

/// Why WebAuthn cannot work with this base URL, in a sentence for the pages.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unavailable {
    #[error("browsers refuse an IP address as a WebAuthn relying party ID: use a host name (http://localhost:PORT, or https with a DNS name) as the base URL")]
    IpAddress,
    #[error("browsers offer WebAuthn only to secure pages: use an https base URL (or http://localhost)")]
    NotSecure,
    #[error("the base URL has no host")]
    NoHost,
}

/// The relying party for `base_url`: its host as the ID and its origin, when browsers allow WebAuthn there (a DNS
/// name over https, or `localhost` over http; never an IP address, which browsers refuse as an RP ID).
pub fn relying_party(base_url: &str) -> Result<RelyingParty, Unavailable> {
    let Ok(url) = Url::parse(base_url) else {
        return Err(Unavailable::NoHost);
    };
    let name = match url.host() {
        Some(url::Host::Domain(name)) => name.trim_end_matches('.').to_ascii_lowercase(),
        Some(url::Host::Ipv4(_) | url::Host::Ipv6(_)) => return Err(Unavailable::IpAddress),
        None => return Err(Unavailable::NoHost),
    };
    let is_local = name == "localhost" || name.ends_with(".localhost");
    match url.scheme() {
        "https" => {}
        "http" if is_local => {}
        _ => return Err(Unavailable::NotSecure),
    }
    let Ok(origin) = Url::parse(&url.origin().ascii_serialization()) else {
        return Err(Unavailable::NoHost);
    };
    Ok(RelyingParty { id: name, origin })
}

/// Whether WebAuthn is offered at all with this configuration, and if not, why (for the pages).
pub fn availability(ctx: &Ctx) -> Result<RelyingParty, Unavailable> {
    relying_party(&ctx.config.base_url)
}

/// A started ceremony: the id the browser sends back, and the options for `navigator.credentials`.
#[derive(Debug, Clone, Serialize)]
pub struct Ceremony {
    pub challenge: String,
    pub options: serde_json::Value,
}

/// A credential as the pages show it (never the key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialView {
    pub id: i64,
    pub name: String,
    pub kind: Kind,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// The user's credentials, oldest first.
pub async fn list(ctx: &Ctx, user: UserId) -> Result<Vec<CredentialView>, Error> {
    let rows = store::list_credentials(&mut *ctx.db.conn().await?, Owner::User(user)).await?;
    Ok(rows.iter().map(view).collect())
}

/// Whether the session's last authentication is recent enough to change its credentials.
pub fn is_recent(session: &IdpSession, now: DateTime<Utc>) -> bool {
    is_recent_ms(session.authn_instant_ms, now)
}

/// Starts adding a passkey (discoverable, user verification required) or a security key (non-discoverable) for
/// the signed-in user; refused unless the session authenticated within the last five minutes.
pub async fn start_registration(
    ctx: &Ctx,
    session: &IdpSession,
    kind: Kind,
    now: DateTime<Utc>,
) -> Result<Ceremony, Error> {
    let subject = user_subject(ctx, session).await?;
    start_registration_of(ctx, &subject, kind, now).await
}

/// Starts adding a security key or a passkey for an administrator (the console's second factor), who signed in
/// at `authn_instant_ms`; refused unless that was within the last five minutes.
pub async fn start_admin_registration(
    ctx: &Ctx,
    username: &str,
    authn_instant_ms: i64,
    kind: Kind,
    now: DateTime<Utc>,
) -> Result<Ceremony, Error> {
    let subject = admin_subject(ctx, username, authn_instant_ms).await?;
    start_registration_of(ctx, &subject, kind, now).await
}

/// Finishes an administrator's registration (as `finish_registration` does a user's).
pub async fn finish_admin_registration(
    ctx: &Ctx,
    username: &str,
    authn_instant_ms: i64,
    challenge: &str,
    response: &str,
    name: &str,
    now: DateTime<Utc>,
) -> Result<CredentialView, Error> {
    let subject = admin_subject(ctx, username, authn_instant_ms).await?;
    finish_registration_of(ctx, &subject, challenge, response, name, now).await
}

/// An administrator's credentials, oldest first.
pub async fn list_admin(ctx: &Ctx, username: &str) -> Result<Vec<CredentialView>, Error> {
    let subject = admin_subject(ctx, username, 0).await?;
    let rows = store::list_credentials(&mut *ctx.db.conn().await?, subject.owner).await?;
    Ok(rows.iter().map(view).collect())
}

/// Removes one of an administrator's credentials (recorded as `user_mfa_remove` by `admin:<name>`); refused
/// unless they signed in within the last five minutes.
pub async fn remove_admin(
    ctx: &Ctx,
    username: &str,
    authn_instant_ms: i64,
    id: i64,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let subject = admin_subject(ctx, username, authn_instant_ms).await?;
    remove_of(ctx, &subject, id, now).await
}

/// Starts the console's second factor for an administrator whose password was right: any of their credentials.
pub async fn start_admin_factor(ctx: &Ctx, username: &str, now: DateTime<Utc>) -> Result<Ceremony, Error> {
    let webauthn = webauthn(ctx)?;
    let subject = admin_subject(ctx, username, 0).await?;
    let rows = store::list_credentials(&mut *ctx.db.conn().await?, subject.owner).await?;
    if rows.is_empty() {
        return Err(Error::NotFound { what: "security key of administrator", name: username.to_owned() });
    }
    let keys = rows.iter().map(parse_credential::<SecurityKey>).collect::<Result<Vec<_>, _>>()?;
    let (rcr, state) = webauthn.start_securitykey_authentication(&keys)?;
    let state = serde_json::to_string(&state)?;
    let challenge = save_challenge(ctx, ADMIN_FACTOR, Some(subject.owner), state, now).await?;
    Ok(Ceremony { challenge, options: serde_json::to_value(rcr)? })
}

/// Finishes the console's second factor: the answer must come from one of this administrator's credentials, for
/// a ceremony started for them. The caller (`admins::verify_key`) records the outcome and counts failures; the
/// refusal's reason names a counter that went backwards.
pub async fn finish_admin_factor(
    ctx: &Ctx,
    username: &str,
    challenge: &str,
    response: &str,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let subject = admin_subject(ctx, username, 0).await?;
    let taken = take_challenge(ctx, challenge, ADMIN_FACTOR, now).await?;
    if taken.owner != Some(subject.owner) {
        return Err(Error::CeremonyExpired);
    }
    let state: SecurityKeyAuthentication = parse_state(&taken.state)?;
    let response: PublicKeyCredential = parse_response(response)?;
    let credential_id = URL_SAFE_NO_PAD.encode(response.get_credential_id());
    let row = store::find_by_credential_id(&mut *ctx.db.conn().await?, &credential_id).await?;
    let Some(row) = row.filter(|row| row.owner == subject.owner) else {
        return Err(Error::FactorRefused { reason: "this key is not registered to your account".into() });
    };
    let key: SecurityKey = parse_credential(&row)?;
    let webauthn = webauthn(ctx)?;
    let verified =
        tokio::task::spawn_blocking(move || webauthn.finish_securitykey_authentication(&response, &state)).await?;
    match verified {
        Ok(result) => save_use(ctx, &row, key, &result, now).await,
        Err(WebauthnError::CredentialPossibleCompromise) => Err(Error::FactorRefused {
            reason: "signature counter went backwards (possibly a cloned authenticator)".into(),
        }),
        Err(e) => Err(Error::FactorRefused { reason: refusal(&e) }),
    }
}

/// Whether the administrator has a passkey or security key (then the console asks for a second factor).
pub async fn admin_has_credentials(ctx: &Ctx, admin_id: i64) -> Result<bool, Error> {
    Ok(!store::list_credentials(&mut *ctx.db.conn().await?, Owner::Admin(admin_id)).await?.is_empty())
}

/// Who registers or removes a credential: the owner, names for the authenticator and the events, and when they
/// last authenticated.
struct Subject {
    owner: Owner,
    username: String,
    display: String,
    actor: Actor,
    /// The portal user's name for the events' user field (empty for an administrator).
    event_user: String,
    authn_instant_ms: i64,
}

async fn user_subject(ctx: &Ctx, session: &IdpSession) -> Result<Subject, Error> {
    let user = users::get_user(&mut *ctx.db.conn().await?, session.user_id).await?;
    Ok(Subject {
        owner: Owner::User(session.user_id),
        display: shown_name(&user),
        actor: Actor::User(user.username.clone()),
        event_user: user.username.clone(),
        username: user.username,
        authn_instant_ms: session.authn_instant_ms,
    })
}

async fn admin_subject(ctx: &Ctx, username: &str, authn_instant_ms: i64) -> Result<Subject, Error> {
    let admin = crate::store::admins::find_admin(&mut *ctx.db.conn().await?, username)
        .await?
        .ok_or_else(|| Error::NotFound { what: "administrator", name: username.to_owned() })?;
    Ok(Subject {
        owner: Owner::Admin(admin.id),
        display: admin.username.clone(),
        actor: Actor::Admin(admin.username.clone()),
        event_user: String::new(),
        username: admin.username,
        authn_instant_ms,
    })
}

fn is_recent_ms(authn_instant_ms: i64, now: DateTime<Utc>) -> bool {
    millis(now).saturating_sub(authn_instant_ms) <= REAUTH_WINDOW_MS
}

async fn start_registration_of(
    ctx: &Ctx,
    subject: &Subject,
    kind: Kind,
    now: DateTime<Utc>,
) -> Result<Ceremony, Error> {
    if !is_recent_ms(subject.authn_instant_ms, now) {
        return Err(Error::ReauthRequired);
    }
    let webauthn = webauthn(ctx)?;
    let owner = subject.owner;
    let mut conn = ctx.db.conn().await?;
    let existing = store::list_credentials(&mut conn, owner).await?;
    let handle = match existing.first() {
        Some(row) => Uuid::parse_str(&row.user_handle).map_err(|_| corrupt("user handle"))?,
        None => Uuid::new_v4(),
    };
    drop(conn);
    let exclude = existing
        .iter()
        .filter_map(|row| URL_SAFE_NO_PAD.decode(&row.credential_id).ok())
        .map(Into::into)
        .collect::<Vec<_>>();
    let (username, display) = (&subject.username, &subject.display);
    let (options, state) = match kind {
        Kind::Passkey => {
            let (ccr, state) = webauthn.start_passkey_registration(handle, username, display, Some(exclude))?;
            let mut options = serde_json::to_value(ccr)?;
            // webauthn-rs asks for a non-resident credential; a passkey must be discoverable, so that it can sign
            // in without a username (WebAuthn §5.4.4). The state does not depend on it.
            if let Some(selection) =
                options.pointer_mut("/publicKey/authenticatorSelection").and_then(serde_json::Value::as_object_mut)
            {
                selection.insert("residentKey".into(), "required".into());
                selection.insert("requireResidentKey".into(), true.into());
            }
            (options, serde_json::to_string(&Registration::Passkey { handle, state })?)
        }
        Kind::SecurityKey => {
            let (ccr, state) =
                webauthn.start_securitykey_registration(handle, username, display, Some(exclude), None, None)?;
            let mut options = serde_json::to_value(ccr)?;
            // webauthn-rs asks a security key to protect its credential with user verification (credProtect,
            // not enforced); Chromium refuses that request for a non-discoverable credential as inconsistent. A
            // security key here is a second factor after the password, for which presence is enough.
            if let Some(extensions) =
                options.pointer_mut("/publicKey/extensions").and_then(serde_json::Value::as_object_mut)
            {
                extensions.remove("credentialProtectionPolicy");
                extensions.remove("enforceCredentialProtectionPolicy");
            }
            (options, serde_json::to_string(&Registration::SecurityKey { handle, state })?)
        }
    };
    let challenge = save_challenge(ctx, REGISTER, Some(owner), state, now).await?;
    Ok(Ceremony { challenge, options })
}

/// Finishes a registration started by the same user: verifies the browser's answer against the stored state
/// (challenge, origin, RP ID, user verification for a passkey) and stores the credential under `name`, recorded
/// as `user_mfa_enrol`.
pub async fn finish_registration(
    ctx: &Ctx,
    session: &IdpSession,
    challenge: &str,
    response: &str,
    name: &str,
    now: DateTime<Utc>,
) -> Result<CredentialView, Error> {
    let subject = user_subject(ctx, session).await?;
    finish_registration_of(ctx, &subject, challenge, response, name, now).await
}

async fn finish_registration_of(
    ctx: &Ctx,
    subject: &Subject,
    challenge: &str,
    response: &str,
    name: &str,
    now: DateTime<Utc>,
) -> Result<CredentialView, Error> {
    if !is_recent_ms(subject.authn_instant_ms, now) {
        return Err(Error::ReauthRequired);
    }
    let owner = subject.owner;
    let name = credential_name(name)?;
    let taken = take_challenge(ctx, challenge, REGISTER, now).await?;
    if taken.owner != Some(owner) {
        return Err(Error::CeremonyExpired);
    }
    let registration: Registration = parse_state(&taken.state)?;
    let response: RegisterPublicKeyCredential = parse_response(response)?;
    let webauthn = webauthn(ctx)?;
    let asked = match &registration {
        Registration::Passkey { .. } => Kind::Passkey,
        Registration::SecurityKey { .. } => Kind::SecurityKey,
    };
    let verified = tokio::task::spawn_blocking(move || match registration {
        Registration::Passkey { handle, state } => webauthn
            .finish_passkey_registration(&response, &state)
            .map(|key| (handle, Kind::Passkey, key.cred_id().to_vec(), serde_json::to_string(&key))),
        Registration::SecurityKey { handle, state } => webauthn
            .finish_securitykey_registration(&response, &state)
            .map(|key| (handle, Kind::SecurityKey, key.cred_id().to_vec(), serde_json::to_string(&key))),
    })
    .await?;
    let actor = &subject.actor;
    let (handle, kind, credential_id, credential) = match verified {
        Ok(found) => found,
        Err(e) => {
            let event = Event::new(now, EventName::UserMfaFailed, actor)
                .user(&subject.event_user)
                .failed(format!("{} registration refused: {e}", asked.label()));
            record(ctx, event).await?;
            return Err(Error::FactorRefused { reason: refusal(&e) });
        }
    };
    let credential = credential?;
    let credential_id = URL_SAFE_NO_PAD.encode(credential_id);
    let handle = handle.hyphenated().to_string();
    let new = NewCredential {
        owner,
        credential_id: &credential_id,
        user_handle: &handle,
        name: &name,
        is_discoverable: kind == Kind::Passkey,
        credential: &credential,
        now_ms: millis(now),
    };
    let mut tx = ctx.db.begin().await?;
    let id = store::insert_credential(&mut tx, &new).await.map_err(|e| match e {
        crate::store::Error::Conflict { .. } => Error::Conflict { what: "credential", name: name.clone() },
        other => Error::Store(other),
    })?;
    let event =
        Event::new(now, EventName::UserMfaEnrol, actor).user(&subject.event_user).target(&name).detail(kind.label());
    crate::store::events::insert_event(&mut tx, &event).await?;
    tx.commit().await.map_err(crate::store::Error::from)?;
    Ok(CredentialView { id, name, kind, created_at: now, last_used_at: None })
}

/// Renames one of the signed-in user's credentials.
pub async fn rename(ctx: &Ctx, session: &IdpSession, id: i64, name: &str) -> Result<(), Error> {
    let name = credential_name(name)?;
    let owner = Owner::User(session.user_id);
    store::rename_credential(&mut *ctx.db.conn().await?, owner, id, &name)
        .await
        .map_err(crate::services::error::named("credential", &id.to_string()))
}

/// Removes one of the signed-in user's credentials, recorded as `user_mfa_remove`; refused unless the session
/// authenticated within the last five minutes.
pub async fn remove(ctx: &Ctx, session: &IdpSession, id: i64, now: DateTime<Utc>) -> Result<(), Error> {
    let subject = user_subject(ctx, session).await?;
    remove_of(ctx, &subject, id, now).await
}

async fn remove_of(ctx: &Ctx, subject: &Subject, id: i64, now: DateTime<Utc>) -> Result<(), Error> {
    if !is_recent_ms(subject.authn_instant_ms, now) {
        return Err(Error::ReauthRequired);
    }
    let mut tx = ctx.db.begin().await?;
    let name = store::delete_credential(&mut tx, subject.owner, id)
        .await
        .map_err(crate::services::error::named("credential", &id.to_string()))?;
    // A user's last factor may not go while a policy requires one (the transaction is dropped, undoing the delete).
    if let Owner::User(user) = subject.owner {
        let status = crate::services::mfa::status_on(&mut tx, user).await?;
        if status.is_required && !status.has_factor() {
            return Err(crate::directory::Invalid::new(
                "credential",
                "cannot be removed: a policy requires a second factor for your account and it is your last one",
            )
            .into());
        }
    }
    let event = Event::new(now, EventName::UserMfaRemove, &subject.actor).user(&subject.event_user).target(name);
    crate::store::events::insert_event(&mut tx, &event).await?;
    tx.commit().await.map_err(crate::store::Error::from)?;
    Ok(())
}

/// Starts a usernameless sign-in with a passkey: the browser lets the user pick one of their discoverable
/// credentials for this relying party.
pub async fn start_sign_in(ctx: &Ctx, now: DateTime<Utc>) -> Result<Ceremony, Error> {
    let webauthn = webauthn(ctx)?;
    let (mut rcr, state) = webauthn.start_discoverable_authentication()?;
    // webauthn-rs asks for conditional mediation (autofill); our button asks for the credential at once.
    rcr.mediation = None;
    let state = serde_json::to_string(&state)?;
    let challenge = save_challenge(ctx, SIGN_IN, None, state, now).await?;
    Ok(Ceremony { challenge, options: serde_json::to_value(rcr)? })
}

/// Finishes a passkey sign-in: finds the credential the authenticator chose, verifies the signature (challenge,
/// origin, RP ID, user verification, counter) and opens an IdP session, multi-factor when the user was verified.
/// A suspended user, an unknown credential, a security key and a refused signature fail as
/// `Error::FactorRefused`, each recorded; failures count against the user's factor throttle.
pub async fn finish_sign_in(
    ctx: &Ctx,
    challenge: &str,
    response: &str,
    now: DateTime<Utc>,
) -> Result<IdpSession, Error> {
    let taken = take_challenge(ctx, challenge, SIGN_IN, now).await?;
    let state: DiscoverableAuthentication = parse_state(&taken.state)?;
    let response: PublicKeyCredential = parse_response(response)?;
    let webauthn = webauthn(ctx)?;
    let (handle, credential_id) = match webauthn.identify_discoverable_authentication(&response) {
        Ok((handle, id)) => (handle, URL_SAFE_NO_PAD.encode(id)),
        Err(e) => return refuse_anonymous(ctx, "passkey sign-in without a user handle", &e, now).await,
    };
    let mut conn = ctx.db.conn().await?;
    let row = store::find_by_credential_id(&mut conn, &credential_id).await?;
    let row = match row {
        Some(row) if row.is_discoverable && row.user_handle == handle.hyphenated().to_string() => row,
        _ => {
            drop(conn);
            let event =
                Event::new(now, EventName::UserMfaFailed, &Actor::Anonymous).failed("passkey: unknown credential");
            record(ctx, event).await?;
            return Err(Error::FactorRefused { reason: "this passkey is not registered here".into() });
        }
    };
    let Owner::User(user_id) = row.owner else {
        // An administrator's passkey signs in to the console only.
        drop(conn);
        let event =
            Event::new(now, EventName::UserMfaFailed, &Actor::Anonymous).failed("passkey: not a user's credential");
        record(ctx, event).await?;
        return Err(Error::FactorRefused { reason: "this passkey is not registered here".into() });
    };
    let user = users::get_user(&mut conn, user_id).await?;
    drop(conn);
    throttle::check(ctx, Realm::Factor, &user.username, None, now).await?;
    let passkey: Passkey = parse_credential(&row)?;
    let key = DiscoverableKey::from(&passkey);
    let verified =
        tokio::task::spawn_blocking(move || webauthn.finish_discoverable_authentication(&response, state, &[key]))
            .await?;
    let result = match verified {
        Ok(result) => result,
        Err(e) => return refuse_factor(ctx, &user, Kind::Passkey, &e, now).await,
    };
    if !user.is_active() {
        let event = Event::new(now, EventName::UserLoginFailed, &Actor::Anonymous)
            .user(&user.username)
            .failed("account suspended (passkey)");
        record(ctx, event).await?;
        return Err(Error::FactorRefused { reason: "this account is suspended".into() });
    }
    save_use(ctx, &row, passkey, &result, now).await?;
    throttle::succeeded(ctx, Realm::Factor, &user.username, None).await?;
    let detail = if result.user_verified() { "passkey with user verification" } else { "passkey" };
    let actor = Actor::User(user.username.clone());
    record(ctx, Event::new(now, EventName::UserLogin, &actor).user(&user.username).detail(detail)).await?;
    record(
        ctx,
        Event::new(now, EventName::UserMfaSuccess, &actor).user(&user.username).target(&row.name).detail(detail),
    )
    .await?;
    let mut session = login::new_session(&user, now);
    if result.user_verified() {
        // Possession of the key and a PIN or biometric on it: two factors.
        session.mfa_instant_ms = Some(millis(now));
    }
    Ok(session)
}

/// Starts the second factor after a password: asks for any of the user's passkeys and security keys. Refused
/// (`Error::NotFound`) when the user has none, and while their factor failures are throttled.
pub async fn start_second_factor(ctx: &Ctx, user_id: UserId, now: DateTime<Utc>) -> Result<Ceremony, Error> {
    let webauthn = webauthn(ctx)?;
    let owner = Owner::User(user_id);
    let mut conn = ctx.db.conn().await?;
    let user = users::get_user(&mut conn, user_id).await?;
    let rows = store::list_credentials(&mut conn, owner).await?;
    drop(conn);
    throttle::check(ctx, Realm::Factor, &user.username, None, now).await?;
    if rows.is_empty() {
        return Err(Error::NotFound { what: "security key of", name: user.username });
    }
    let keys = rows.iter().map(parse_credential::<SecurityKey>).collect::<Result<Vec<_>, _>>()?;
    let (rcr, state) = webauthn.start_securitykey_authentication(&keys)?;
    let state = serde_json::to_string(&state)?;
    let challenge = save_challenge(ctx, SECOND_FACTOR, Some(owner), state, now).await?;
    Ok(Ceremony { challenge, options: serde_json::to_value(rcr)? })
}

/// Finishes the second factor: the answer must come from one of the credentials of the user the ceremony was
/// started for, with a valid signature and a counter that moved forward. Returns that user, whose session the
/// caller then marks multi-factor. Every outcome is an event; failures count against the user's factor throttle.
pub async fn finish_second_factor(
    ctx: &Ctx,
    challenge: &str,
    response: &str,
    now: DateTime<Utc>,
) -> Result<UserId, Error> {
    let taken = take_challenge(ctx, challenge, SECOND_FACTOR, now).await?;
    let Some(Owner::User(user_id)) = taken.owner else {
        return Err(Error::CeremonyExpired);
    };
    let state: SecurityKeyAuthentication = parse_state(&taken.state)?;
    let response: PublicKeyCredential = parse_response(response)?;
    let mut conn = ctx.db.conn().await?;
    let user = users::get_user(&mut conn, user_id).await?;
    let credential_id = URL_SAFE_NO_PAD.encode(response.get_credential_id());
    let row = store::find_by_credential_id(&mut conn, &credential_id).await?;
    drop(conn);
    throttle::check(ctx, Realm::Factor, &user.username, None, now).await?;
    let Some(row) = row.filter(|row| row.owner == Owner::User(user_id)) else {
        let event = Event::new(now, EventName::UserMfaFailed, &Actor::User(user.username.clone()))
            .user(&user.username)
            .failed("security key: not one of this user's credentials");
        record(ctx, event).await?;
        throttle::failed(ctx, Realm::Factor, &user.username, None, now).await?;
        return Err(Error::FactorRefused { reason: "this key is not registered to your account".into() });
    };
    let kind = Kind::of(&row);
    let key: SecurityKey = parse_credential(&row)?;
    let webauthn = webauthn(ctx)?;
    let verified =
        tokio::task::spawn_blocking(move || webauthn.finish_securitykey_authentication(&response, &state)).await?;
    let result = match verified {
        Ok(result) => result,
        Err(e) => return refuse_factor(ctx, &user, kind, &e, now).await,
    };
    save_use(ctx, &row, key, &result, now).await?;
    throttle::succeeded(ctx, Realm::Factor, &user.username, None).await?;
    let event = Event::new(now, EventName::UserMfaSuccess, &Actor::User(user.username.clone()))
        .user(&user.username)
        .target(&row.name)
        .detail(kind.label());
    record(ctx, event).await?;
    Ok(user_id)
}

/// Housekeeping: forgets ceremonies nobody finished.
pub async fn purge_expired(ctx: &Ctx, now: DateTime<Utc>) -> Result<u64, Error> {
    Ok(store::purge_expired_challenges(&mut *ctx.db.conn().await?, millis(now)).await?)
}

/// A registration in progress, with the user handle it offered.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Registration {
    Passkey { handle: Uuid, state: PasskeyRegistration },
    SecurityKey { handle: Uuid, state: SecurityKeyRegistration },
}

/// The webauthn-rs relying party for this configuration.
fn webauthn(ctx: &Ctx) -> Result<Webauthn, Error> {
    let rp = availability(ctx).map_err(|reason| Error::WebauthnUnavailable { reason: reason.to_string() })?;
    let built = WebauthnBuilder::new(&rp.id, &rp.origin)
        .map(|b| b.rp_name("sesame").timeout(std::time::Duration::from_secs(CEREMONY_SECS.unsigned_abs())))
        .and_then(WebauthnBuilder::build)?;
    Ok(built)
}

async fn save_challenge(
    ctx: &Ctx,
    purpose: &str,
    owner: Option<Owner>,
    state: String,
    now: DateTime<Utc>,
) -> Result<String, Error> {
    let id = hex::encode(rand::random::<[u8; 32]>());
    let challenge = Challenge {
        purpose: purpose.to_owned(),
        owner,
        state,
        expires_at_ms: millis(now).saturating_add(CEREMONY_SECS * 1000),
    };
    store::insert_challenge(&mut *ctx.db.conn().await?, &id, &challenge, millis(now)).await?;
    Ok(id)
}

/// Takes the ceremony out of the database (used once, whatever happens next); one of another purpose, an expired
/// one or one already taken is `Error::CeremonyExpired`.
async fn take_challenge(ctx: &Ctx, id: &str, purpose: &str, now: DateTime<Utc>) -> Result<Challenge, Error> {
    let taken = store::take_challenge(&mut *ctx.db.conn().await?, id).await?;
    match taken {
        Some(c) if c.purpose == purpose && c.expires_at_ms > millis(now) => Ok(c),
        _ => Err(Error::CeremonyExpired),
    }
}

/// Saves a credential after a successful use: its new counter (webauthn-rs updates it) and the time.
async fn save_use<K>(
    ctx: &Ctx,
    row: &CredentialRow,
    mut key: K,
    result: &AuthenticationResult,
    now: DateTime<Utc>,
) -> Result<(), Error>
where
    K: Serialize + UpdateCredential,
{
    key.update(result);
    let credential = serde_json::to_string(&key)?;
    store::update_after_use(&mut *ctx.db.conn().await?, row.id, &credential, millis(now)).await?;
    Ok(())
}

/// webauthn-rs's credential types that learn from an authentication (counter, backup state).
trait UpdateCredential {
    fn update(&mut self, result: &AuthenticationResult);
}

impl UpdateCredential for Passkey {
    fn update(&mut self, result: &AuthenticationResult) {
        let _ = self.update_credential(result);
    }
}

impl UpdateCredential for SecurityKey {
    fn update(&mut self, result: &AuthenticationResult) {
        let _ = self.update_credential(result);
    }
}

/// Records a refused factor (the counter regression with its own detail), counts it against the user's
/// throttle, and refuses.
async fn refuse_factor<T>(
    ctx: &Ctx,
    user: &User,
    kind: Kind,
    e: &WebauthnError,
    now: DateTime<Utc>,
) -> Result<T, Error> {
    let detail = match e {
        WebauthnError::CredentialPossibleCompromise => {
            format!("{}: signature counter went backwards (possibly a cloned authenticator)", kind.label())
        }
        other => format!("{}: {other}", kind.label()),
    };
    let event = Event::new(now, EventName::UserMfaFailed, &Actor::User(user.username.clone()))
        .user(&user.username)
        .failed(detail);
    record(ctx, event).await?;
    throttle::failed(ctx, Realm::Factor, &user.username, None, now).await?;
    Err(Error::FactorRefused { reason: refusal(e) })
}

async fn refuse_anonymous<T>(ctx: &Ctx, what: &str, e: &WebauthnError, now: DateTime<Utc>) -> Result<T, Error> {
    let event = Event::new(now, EventName::UserMfaFailed, &Actor::Anonymous).failed(format!("{what}: {e}"));
    record(ctx, event).await?;
    Err(Error::FactorRefused { reason: refusal(e) })
}

/// What the person is told about a refused answer (the event has webauthn-rs's exact reason).
fn refusal(e: &WebauthnError) -> String {
    match e {
        WebauthnError::CredentialPossibleCompromise => {
            "this authenticator's signature counter went backwards; it may have been copied".into()
        }
        WebauthnError::InvalidRPOrigin | WebauthnError::InvalidRPIDHash => {
            "the answer was made for another site".into()
        }
        WebauthnError::MismatchedChallenge => "the answer does not belong to this request".into(),
        WebauthnError::UserNotVerified => "the authenticator did not verify you (PIN or biometric)".into(),
        _ => "the authenticator's answer could not be verified".into(),
    }
}

fn parse_state<T: DeserializeOwned>(state: &str) -> Result<T, Error> {
    serde_json::from_str(state).map_err(|_| corrupt("ceremony state"))
}

fn parse_response<T: DeserializeOwned>(response: &str) -> Result<T, Error> {
    serde_json::from_str(response)
        .map_err(|_| Error::FactorRefused { reason: "the browser's answer could not be read".into() })
}

/// webauthn-rs's `Passkey` and `SecurityKey` are the same stored credential (`{"cred": …}`), so either reads a
/// row: a passkey may also serve as the second factor.
fn parse_credential<T: DeserializeOwned>(row: &CredentialRow) -> Result<T, Error> {
    serde_json::from_str(&row.credential).map_err(|_| corrupt("credential"))
}

fn corrupt(what: &'static str) -> Error {
    Error::Store(crate::store::Error::Corrupt { what, reason: "not readable by webauthn-rs".into() })
}

/// A credential's name as given, trimmed: 1 to 64 characters, no control characters.
fn credential_name(name: &str) -> Result<String, Error> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(Error::Invalid(crate::directory::Invalid::new(
            "name",
            format!("a name of 1 to {MAX_NAME_CHARS} characters, without control characters"),
        )));
    }
    Ok(name.to_owned())
}

fn shown_name(user: &User) -> String {
    let display = user.profile.display_name.trim();
    if display.is_empty() {
        user.username.clone()
    } else {
        display.to_owned()
    }
}

fn view(row: &CredentialRow) -> CredentialView {
    CredentialView {
        id: row.id,
        name: row.name.clone(),
        kind: Kind::of(row),
        created_at: DateTime::from_timestamp_millis(row.created_at_ms).unwrap_or_default(),
        last_used_at: row.last_used_at_ms.and_then(DateTime::from_timestamp_millis),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(base_url: &str, expected: Result<(&str, &str), Unavailable>) {
        let got = relying_party(base_url).map(|rp| (rp.id, rp.origin.to_string()));
        let expected = expected.map(|(id, origin)| (id.to_owned(), origin.to_owned()));
        assert_eq!(got, expected, "{base_url}");
    }

    /// The RP ID is the base URL's host and the origin its origin; browsers refuse IP addresses as RP IDs and
    /// offer WebAuthn only to secure contexts, so those base URLs get a reason instead.
    #[test]
    fn relying_party_follows_the_base_url() {
        check("https://idp.example.com", Ok(("idp.example.com", "https://idp.example.com/")));
        check("https://idp.example.com:8443/sso", Ok(("idp.example.com", "https://idp.example.com:8443/")));
        check("http://localhost:8080", Ok(("localhost", "http://localhost:8080/")));
        check("http://idp.localhost", Ok(("idp.localhost", "http://idp.localhost/")));
        check("http://127.0.0.1:8080", Err(Unavailable::IpAddress));
        check("https://[::1]:8443", Err(Unavailable::IpAddress));
        check("https://10.0.0.1", Err(Unavailable::IpAddress));
        check("http://idp.example.com", Err(Unavailable::NotSecure));
        check("not a url", Err(Unavailable::NoHost));
    }

    #[test]
    fn credential_names_are_bounded() {
        assert_eq!(credential_name("  YubiKey 5 ").unwrap(), "YubiKey 5");
        assert!(credential_name("").is_err());
        assert!(credential_name("a\nb").is_err());
        assert!(credential_name(&"x".repeat(65)).is_err());
    }
}
