//! Single sign-on (SAML Profiles §4.1): an SP's AuthnRequest or an IdP-initiated launch becomes, for the browser,
//! either a signed Response posted to the ACS the request resolved to, a SAML error status to that ACS, or a
//! detour through sign-in while the request waits server-side (parked) so nothing of it travels in URLs.
//!
//! `request`, `resume` and `launch` are the use cases the web layer calls, one per endpoint; each takes the
//! browser's IdP session (if any) and returns an `Outcome`. Requests are received by `inbound::receive`, which
//! verifies everything before anything here acts on them.

use chrono::{DateTime, Duration, Utc};
use tracing::{info, instrument};

use crate::audit::{Actor, Event, EventName};
use crate::directory::{access, attributes, Application, UserProperty};
use crate::saml::authn_request::{self, authn_class, RequestError, RequestedAuthnContext};
use crate::saml::binding::encode_post;
use crate::saml::encrypt::Encryption;
use crate::saml::keys::{Certificate, SigningKey};
use crate::saml::response::{self, name_format, status, Attribute, NameId};
use crate::saml::{NameIdFormat, SigningMode};
use crate::services::inbound::{self, Expected, Incoming, Message, Refusal, StatusFor};
use crate::services::login::IdpSession;
use crate::services::mfa::{self, Requirement};
use crate::services::{apps as app_lookup, millis, participation, record, Ctx, Error};
use crate::store::{sso, users, Conn};

/// What the browser does next.
#[derive(Debug)]
pub enum Outcome {
    /// Posts `form` to the SP's ACS (a signed Response: an assertion, or a SAML error status); `app_label` names
    /// the application on the page.
    Post { form: PostForm, app_label: String },
    /// Signs in first; the sign-in page then continues at `continue_to` (a path of ours). `force` asks for the
    /// password even with a session (ForceAuthn).
    SignIn { continue_to: String, force: bool },
    /// Continues on our own origin at `path`, where the session cookie is sent (after an HTTP-POST request,
    /// which arrives cross-site without it).
    Continue { path: String },
    /// Proves a second factor first (step-up of a password-only session), then continues at `continue_to`.
    SecondFactor { continue_to: String },
    /// Enrols a second factor first (a policy requires one and the user has none), then continues.
    Enrol { continue_to: String },
}

/// A request (or an IdP-initiated launch) waiting for its answer. It is stored server-side while the user signs
/// in, so nothing of it travels in URLs.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Pending {
    /// The AuthnRequest ID, absent for IdP-initiated logins.
    pub request_id: Option<String>,
    pub acs_url: String,
    pub relay_state: Option<String>,
    pub force_authn: bool,
    pub is_passive: bool,
    pub name_id_format: Option<NameIdFormat>,
    pub requested_authn_context: Option<(String, Vec<String>)>,
    pub received_at_ms: i64,
}

impl Pending {
    /// Whether `session` may answer this request without signing in again (ForceAuthn, SAML Core §3.4.1).
    pub fn is_satisfied_by(&self, session: &IdpSession) -> bool {
        !self.force_authn || session.authn_instant_ms >= self.received_at_ms
    }
}

/// What the browser posts to the SP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostForm {
    pub acs_url: String,
    pub saml_response: String,
    pub relay_state: Option<String>,
}

/// An AuthnRequest at `/saml2/{app}`. By HTTP-Redirect the browser came straight from the SP with our cookie
/// (SameSite=Lax allows top-level GETs), so a signed-in user is answered at once. By HTTP-POST it came cross-site
/// without the cookie, so the request is parked and the browser continues on our origin (`resume`).
#[instrument(skip_all, fields(app.name = %app_name))]
pub async fn request(
    ctx: &Ctx,
    app_name: &str,
    incoming: Incoming<'_>,
    session: Option<&IdpSession>,
    now: DateTime<Utc>,
) -> Result<Outcome, Error> {
    let is_post = matches!(incoming, Incoming::Post { .. });
    let (app, pending) = match inbound::receive(ctx, app_name, Expected::AuthnRequest, incoming, now).await {
        Ok(verified) => {
            let Message::AuthnRequest(valid) = verified.message else {
                return Err(Error::PendingExpired);
            };
            let pending = Pending {
                request_id: Some(valid.id),
                acs_url: valid.acs_url,
                relay_state: verified.relay_state,
                force_authn: valid.force_authn,
                is_passive: valid.is_passive,
                name_id_format: valid.name_id_format,
                requested_authn_context: valid.requested_authn_context.map(|r| (r.comparison, r.class_refs)),
                received_at_ms: millis(now),
            };
            (verified.app, pending)
        }
        Err(Refusal::Page(e)) => return Err(e),
        Err(Refusal::ToSp(refused)) => return refusal(ctx, *refused, now).await,
    };
    if is_post {
        let handle = park(ctx, &app, &pending, now).await?;
        return Ok(Outcome::Continue { path: continue_path(&app, &handle) });
    }
    proceed(ctx, &app, &pending, session, None, now).await
}

/// A parked request, once the browser is on our origin and, if needed, signed in. The handle is consumed when the
/// request is answered, so it is answered at most once.
pub async fn resume(
    ctx: &Ctx,
    app_name: &str,
    handle: &str,
    session: Option<&IdpSession>,
    now: DateTime<Utc>,
) -> Result<Outcome, Error> {
    let mut conn = ctx.db.conn().await?;
    let app = app_lookup::load_saml(&mut conn, app_name).await?;
    let json = sso::find_pending(&mut conn, handle, app.id, millis(now)).await?.ok_or(Error::PendingExpired)?;
    drop(conn);
    let pending: Pending = serde_json::from_str(&json).map_err(|_| Error::PendingExpired)?;
    proceed(ctx, &app, &pending, session, Some(handle), now).await
}

/// An IdP-initiated login (`/saml2/{app}` without a request): to the application's default ACS with its default
/// RelayState, after sign-in if needed.
pub async fn launch(
    ctx: &Ctx,
    app_name: &str,
    session: Option<&IdpSession>,
    now: DateTime<Utc>,
) -> Result<Outcome, Error> {
    let app = app_lookup::load_saml(&mut *ctx.db.conn().await?, app_name).await?;
    let acs = authn_request::default_acs(&app.sp.acs).ok_or(RequestError::NoAcs)?;
    let pending = Pending {
        request_id: None,
        acs_url: acs.url.clone(),
        relay_state: Some(app.sp.default_relay_state.clone()).filter(|r| !r.is_empty()),
        force_authn: false,
        is_passive: false,
        name_id_format: None,
        requested_authn_context: None,
        received_at_ms: millis(now),
    };
    let Some(session) = session else {
        return Ok(Outcome::SignIn { continue_to: format!("/saml2/{}", app.name), force: false });
    };
    match mfa_requirement(ctx, &app, &pending, session).await? {
        Requirement::Met => {}
        Requirement::StepUp => return Ok(Outcome::SecondFactor { continue_to: format!("/saml2/{}", app.name) }),
        Requirement::Enrol => return Ok(Outcome::Enrol { continue_to: format!("/saml2/{}", app.name) }),
    }
    let form = answer(ctx, &app, &pending, session, None, now).await?;
    Ok(Outcome::Post { form, app_label: app.display_label })
}

/// The class a password alone achieves: PasswordProtectedTransport when it travelled over TLS or never left the
/// machine (a loopback base URL), else Password.
fn password_class(ctx: &Ctx) -> &'static str {
    if ctx.config.is_potentially_trustworthy() {
        authn_class::PASSWORD_PROTECTED_TRANSPORT
    } else {
        authn_class::PASSWORD
    }
}

fn requested(pending: &Pending) -> Option<RequestedAuthnContext> {
    pending.requested_authn_context.as_ref().map(|(comparison, class_refs)| RequestedAuthnContext {
        comparison: comparison.clone(),
        class_refs: class_refs.clone(),
    })
}

/// Whether the session must step up (or enrol) before `pending` is answered: the application or a policy for the
/// user requires MFA, or the request can be met only by MFA. ForceAuthn asks for the factor again too.
async fn mfa_requirement(
    ctx: &Ctx,
    app: &Application,
    pending: &Pending,
    session: &IdpSession,
) -> Result<Requirement, Error> {
    let needs = mfa::request_needs_mfa(requested(pending).as_ref(), password_class(ctx));
    let since = pending.force_authn.then_some(pending.received_at_ms);
    mfa::requirement(ctx, app, session, needs, since).await
}

/// Answers a pending request with the session if it satisfies it; otherwise NoPassive for a passive request, or
/// sign-in with the request parked (under `handle` when it already is).
async fn proceed(
    ctx: &Ctx,
    app: &Application,
    pending: &Pending,
    session: Option<&IdpSession>,
    handle: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Outcome, Error> {
    if let Some(session) = session.filter(|s| pending.is_satisfied_by(s)) {
        let requirement = mfa_requirement(ctx, app, pending, session).await?;
        if requirement == Requirement::Met {
            let form = answer(ctx, app, pending, session, handle, now).await?;
            return Ok(Outcome::Post { form, app_label: app.display_label.clone() });
        }
        // IsPassive never steps up (SAML Core §3.4.1: the IdP must not take control of the user interface).
        if pending.is_passive {
            let message = "a second factor is needed and the request does not allow interaction";
            let form = status_response(ctx, app, pending, status::NO_PASSIVE, message, now).await?;
            return Ok(Outcome::Post { form, app_label: app.display_label.clone() });
        }
        let handle = match handle {
            Some(handle) => handle.to_owned(),
            None => park(ctx, app, pending, now).await?,
        };
        let continue_to = continue_path(app, &handle);
        return Ok(match requirement {
            Requirement::Enrol => Outcome::Enrol { continue_to },
            _ => Outcome::SecondFactor { continue_to },
        });
    }
    if pending.is_passive {
        let message = "the user is not signed in and the request does not allow interaction";
        let form = status_response(ctx, app, pending, status::NO_PASSIVE, message, now).await?;
        return Ok(Outcome::Post { form, app_label: app.display_label.clone() });
    }
    let handle = match handle {
        Some(handle) => handle.to_owned(),
        None => park(ctx, app, pending, now).await?,
    };
    Ok(Outcome::SignIn { continue_to: continue_path(app, &handle), force: pending.force_authn })
}

/// A valid request we cannot satisfy: the signed error response goes to its registered ACS.
async fn refusal(ctx: &Ctx, refused: StatusFor, now: DateTime<Utc>) -> Result<Outcome, Error> {
    let pending = Pending {
        request_id: Some(refused.request_id),
        acs_url: refused.acs_url,
        relay_state: refused.relay_state,
        force_authn: false,
        is_passive: false,
        name_id_format: None,
        requested_authn_context: None,
        received_at_ms: millis(now),
    };
    let form = status_response(ctx, &refused.app, &pending, refused.second_code, &refused.message, now).await?;
    Ok(Outcome::Post { form, app_label: refused.app.display_label })
}

/// Parks a request while the user signs in and returns its handle.
async fn park(ctx: &Ctx, app: &Application, pending: &Pending, now: DateTime<Utc>) -> Result<String, Error> {
    let handle = crate::saml::new_id();
    let json = serde_json::to_string(pending)?;
    let expires = now + Duration::seconds(i64::try_from(ctx.config.login_timeout_secs).unwrap_or(900));
    let mut conn = ctx.db.conn().await?;
    sso::insert_pending(&mut conn, &handle, app.id, &json, millis(now), millis(expires)).await?;
    Ok(handle)
}

fn continue_path(app: &Application, handle: &str) -> String {
    format!("/saml2/{}/continue/{handle}", app.name)
}

/// Answers a request for a signed-in user: checks the user may use the app, then builds and signs the response.
/// `handle` is the parked request being answered; it is consumed, so a request is answered at most once.
#[instrument(skip_all, fields(app.name = %app.name, user.id = %session.user_id))]
async fn answer(
    ctx: &Ctx,
    app: &Application,
    pending: &Pending,
    session: &IdpSession,
    handle: Option<&str>,
    now: DateTime<Utc>,
) -> Result<PostForm, Error> {
    let mut conn = ctx.db.conn().await?;
    // One statement answers both who may use the app and what the group attribute carries.
    let (user, group_names) = users::get_user_with_bound_groups(&mut conn, session.user_id, app.id).await?;
    if let Err(reason) = access::may_use(&user, app, &group_names) {
        drop(conn);
        let event = Event::new(now, EventName::SsoDenied, &Actor::User(user.username.clone()))
            .app(app.name.as_str())
            .user(&user.username)
            .failed(reason.to_string());
        record(ctx, event).await?;
        return Err(Error::Denied { user: user.username, app: app.display_label.clone(), reason });
    }
    if let Some(handle) = handle {
        if !sso::delete_pending(&mut conn, handle).await? {
            return Err(Error::PendingExpired);
        }
    }

    // Two factors: the REFEDS MFA profile; else what the password achieved.
    let ours = if session.is_multi_factor() { authn_class::REFEDS_MFA } else { password_class(ctx) };
    let Some(class) = authn_request::choose_authn_context(requested(pending).as_ref(), ours) else {
        drop(conn);
        // A refused request, not a refused user: the SP asked for more than this sign-in achieved.
        let (comparison, class_refs) = pending.requested_authn_context.clone().unwrap_or_default();
        let detail = format!(
            "the requested authentication context ({comparison}: {}) cannot be satisfied; this sign-in achieved {ours}",
            class_refs.join(", ")
        );
        let event = Event::new(now, EventName::SsoRequestRejected, &Actor::User(user.username.clone()))
            .app(app.name.as_str())
            .user(&user.username)
            .failed(detail);
        record(ctx, event).await?;
        let message = "the requested authentication context cannot be satisfied";
        return status_response(ctx, app, pending, status::NO_AUTHN_CONTEXT, message, now).await;
    };

    let idp_entity_id = ctx.idp_entity_id(app);
    let format = pending.name_id_format.unwrap_or(app.sp.name_id_format);
    let name_id = match name_id(&mut conn, app, &user, format, &idp_entity_id).await? {
        Some(name_id) => name_id,
        None => {
            drop(conn);
            let message = format!("user {} has no value for the NameID of this application", user.username);
            return status_response(ctx, app, pending, status::INVALID_NAMEID_POLICY, &message, now).await;
        }
    };
    let attrs: Vec<Attribute> = attributes::resolve_for(&app.sp, &user, &group_names, &ctx.config.scope())
        .into_iter()
        .map(|r| Attribute {
            name_format: name_format_urn(&r.name_format).to_owned(),
            name: r.name,
            friendly_name: r.friendly_name,
            values: r.values,
        })
        .collect();
    let key = ctx.signing_key(&mut conn, app).await?;
    drop(conn);
    let encryption = encryption(app)?;

    let lifetime = Duration::seconds(i64::from(app.sp.assertion_lifetime_secs));
    let sent_name_id = name_id.clone();
    let job = SignJob {
        response_id: crate::saml::new_id(),
        assertion_id: crate::saml::new_id(),
        issuer: idp_entity_id,
        destination: pending.acs_url.clone(),
        in_response_to: pending.request_id.clone(),
        audience: app.sp.entity_id.clone(),
        name_id,
        now,
        lifetime,
        authn_instant: session.last_authn_instant(),
        session_index: session.session_index.clone(),
        session_end: session.authn_instant() + Duration::seconds(i64::from(app.sp.session_lifetime_secs)),
        class,
        attributes: attrs,
        mode: app.sp.signing_mode,
        encryption,
    };
    let xml = sign_off_thread(key, job).await?;
    // Single logout reaches every SP this session signed in to, with the NameID it was sent.
    participation::record_participation(ctx, session, app, user.id, &sent_name_id, now).await?;

    let detail = if pending.request_id.is_some() { "sp-initiated" } else { "idp-initiated" };
    let event = Event::new(now, EventName::SsoLogin, &Actor::User(user.username.clone()))
        .app(app.name.as_str())
        .user(&user.username)
        .detail(detail);
    record(ctx, event).await?;
    info!(app.name = %app.name, user.id = %user.id, "issued assertion for {}", app.name);
    Ok(PostForm {
        acs_url: pending.acs_url.clone(),
        saml_response: encode_post(&xml),
        relay_state: pending.relay_state.clone(),
    })
}

/// A signed error response to a request whose ACS is registered (IsPassive without a session, say).
async fn status_response(
    ctx: &Ctx,
    app: &Application,
    pending: &Pending,
    second_code: &'static str,
    message: &str,
    now: DateTime<Utc>,
) -> Result<PostForm, Error> {
    let mut conn = ctx.db.conn().await?;
    let key = ctx.signing_key(&mut conn, app).await?;
    drop(conn);
    let issuer = ctx.idp_entity_id(app);
    let (top, second) = match second_code {
        status::UNSUPPORTED_BINDING | status::INVALID_NAMEID_POLICY => (status::REQUESTER, second_code),
        _ => (status::RESPONDER, second_code),
    };
    let response_id = crate::saml::new_id();
    let destination = pending.acs_url.clone();
    let in_response_to = pending.request_id.clone();
    let message = message.to_owned();
    let xml = tokio::task::spawn_blocking(move || {
        response::build_status_response(
            &response::StatusResponse {
                response_id: &response_id,
                issue_instant: now,
                issuer: &issuer,
                destination: &destination,
                in_response_to: in_response_to.as_deref(),
                top_code: top,
                second_code: Some(second),
                message: Some(&message),
            },
            &key,
        )
    })
    .await??;
    Ok(PostForm {
        acs_url: pending.acs_url.clone(),
        saml_response: encode_post(&xml),
        relay_state: pending.relay_state.clone(),
    })
}

/// How to encrypt for the application's SP, if it asks for encryption: to the first encryption certificate of its
/// metadata (settings refuse encryption without one). Single logout uses it for the NameID of its LogoutRequests.
pub fn encryption(app: &Application) -> Result<Option<Encryption>, Error> {
    if !app.sp.encrypt_assertions && !app.sp.encrypt_name_id {
        return Ok(None);
    }
    let Some(pem) = app.sp.encryption_certificates.first() else {
        return Err(Error::Settings { reason: format!("{} has no SP encryption certificate", app.name) });
    };
    Ok(Some(Encryption {
        cert: Certificate::from_pem(pem.as_bytes())?,
        data: app.sp.data_encryption,
        encrypts_assertion: app.sp.encrypt_assertions,
        encrypts_name_id: app.sp.encrypt_name_id,
    }))
}

async fn name_id(
    conn: &mut Conn,
    app: &Application,
    user: &crate::directory::User,
    format: NameIdFormat,
    idp_entity_id: &str,
) -> Result<Option<NameId>, Error> {
    let scoped = |value: String| NameId {
        value,
        format: format.urn().to_owned(),
        name_qualifier: Some(idp_entity_id.to_owned()),
        sp_name_qualifier: Some(app.sp.entity_id.clone()),
    };
    let plain = |value: &str| {
        (!value.is_empty()).then(|| NameId {
            value: value.to_owned(),
            format: format.urn().to_owned(),
            name_qualifier: None,
            sp_name_qualifier: None,
        })
    };
    Ok(match format {
        // The configured source fills every format that takes a value; persistent and transient stay opaque.
        NameIdFormat::Email | NameIdFormat::Unspecified => {
            plain(user.property(app.sp.name_id_source.unwrap_or(UserProperty::Email)))
        }
        // Opaque and stable per (application, user): it reveals nothing and cannot be correlated across SPs.
        NameIdFormat::Persistent => {
            Some(scoped(sso::persistent_id(conn, app.id, user.id, &crate::saml::new_id()).await?))
        }
        NameIdFormat::Transient => Some(scoped(crate::saml::new_id())),
    })
}

fn name_format_urn(short: &str) -> &'static str {
    match short {
        "uri" => name_format::URI,
        "unspecified" => name_format::UNSPECIFIED,
        _ => name_format::BASIC,
    }
}

/// Owned inputs for signing on a blocking thread, so RSA never runs on the async workers.
struct SignJob {
    response_id: String,
    assertion_id: String,
    issuer: String,
    destination: String,
    in_response_to: Option<String>,
    audience: String,
    name_id: NameId,
    now: DateTime<Utc>,
    lifetime: Duration,
    authn_instant: DateTime<Utc>,
    session_index: String,
    session_end: DateTime<Utc>,
    class: &'static str,
    attributes: Vec<Attribute>,
    mode: SigningMode,
    encryption: Option<Encryption>,
}

async fn sign_off_thread(key: std::sync::Arc<SigningKey>, job: SignJob) -> Result<String, Error> {
    tokio::task::spawn_blocking(move || {
        let assertion = response::Assertion {
            response_id: &job.response_id,
            assertion_id: &job.assertion_id,
            issue_instant: job.now,
            issuer: &job.issuer,
            destination: &job.destination,
            in_response_to: job.in_response_to.as_deref(),
            audience: &job.audience,
            name_id: &job.name_id,
            // A little slack for SPs whose clocks run behind ours.
            not_before: job.now - Duration::seconds(30),
            not_on_or_after: job.now + job.lifetime,
            authn_instant: job.authn_instant,
            session_index: &job.session_index,
            session_not_on_or_after: job.session_end,
            authn_context_class: job.class,
            attributes: &job.attributes,
        };
        response::build_response_encrypted(&assertion, job.mode, &key, job.encryption.as_ref())
    })
    .await?
    .map_err(Error::from)
}
