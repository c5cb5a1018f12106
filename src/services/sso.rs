//! Single sign-on: accepting an SP's AuthnRequest, parking it while the user signs in, launching IdP-initiated
//! logins, and answering with a signed Response for the ACS the request resolved to.
//!
//! Security order: decode with size caps, verify the signature with the registered SP certificates, read fields
//! only from verified bytes, validate issuer, ACS, destination and freshness, then record the request ID (replay).
//! Only after the ACS is known to be registered may an error go back to the SP as a SAML status.

use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use tracing::{info, instrument};

use crate::audit::{Actor, Event, EventName};
use crate::directory::{access, attributes, AppName, Application, UserProperty};
use crate::saml::authn_request::{self, authn_class, Freshness, RequestError, RequestedAuthnContext, SpPolicy};
use crate::saml::binding::{self, Received};
use crate::saml::encrypt::Encryption;
use crate::saml::keys::{Certificate, SigningKey};
use crate::saml::response::{self, name_format, status, Attribute, NameId};
use crate::saml::{NameIdFormat, SigningMode};
use crate::services::login::IdpSession;
use crate::services::{millis, record, Ctx, Error};
use crate::store::{apps, sso, users, Conn};

/// How an AuthnRequest arrived.
#[derive(Debug)]
pub enum Incoming<'a> {
    /// HTTP-Redirect: the raw query string, whose bytes the signature covers.
    Redirect { raw_query: &'a str },
    /// HTTP-POST: the form fields.
    Post { saml_request: &'a str, relay_state: Option<String> },
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

/// The outcome of receiving an AuthnRequest.
#[derive(Debug)]
pub enum Accepted {
    /// A valid request for `app`.
    Request { app: Box<Application>, pending: Pending },
    /// A valid request we cannot satisfy; the signed error response goes to its registered ACS.
    Refusal(PostForm),
}

/// What the browser posts to the SP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostForm {
    pub acs_url: String,
    pub saml_response: String,
    pub relay_state: Option<String>,
}

/// Receives an AuthnRequest for `app_name` and checks everything that can be checked before sign-in.
#[instrument(skip_all, fields(app.name = %app_name))]
pub async fn accept(ctx: &Ctx, app_name: &str, incoming: Incoming<'_>, now: DateTime<Utc>) -> Result<Accepted, Error> {
    let mut conn = ctx.db.conn().await?;
    let app = load_saml_app(&mut conn, app_name).await?;
    let certs = sp_certificates(&app)?;
    match check_request(ctx, &mut conn, &app, &certs, incoming, now).await {
        Ok(pending) => Ok(Accepted::Request { app: Box::new(app), pending }),
        Err(Refused::ToSp { pending, second_code, message }) => {
            drop(conn);
            record(
                ctx,
                Event::new(now, EventName::SsoRequestRejected, &Actor::Anonymous).app(app_name).failed(&message),
            )
            .await?;
            let form = status_response(ctx, &app, &pending, second_code, &message, now).await?;
            Ok(Accepted::Refusal(form))
        }
        Err(Refused::Page(error)) => {
            drop(conn);
            let event = Event::new(now, EventName::SsoRequestRejected, &Actor::Anonymous).app(app_name);
            record(ctx, event.failed(error.to_string())).await?;
            Err(error)
        }
    }
}

/// Prepares an IdP-initiated login to the application's default ACS with its default RelayState.
pub async fn launch(ctx: &Ctx, app_name: &str, now: DateTime<Utc>) -> Result<(Application, Pending), Error> {
    let mut conn = ctx.db.conn().await?;
    let app = load_saml_app(&mut conn, app_name).await?;
    let acs = authn_request::default_acs(&app.sp.acs).ok_or(RequestError::NoAcs)?;
    let relay_state = Some(app.sp.default_relay_state.clone()).filter(|r| !r.is_empty());
    let pending = Pending {
        request_id: None,
        acs_url: acs.url.clone(),
        relay_state,
        force_authn: false,
        is_passive: false,
        name_id_format: None,
        requested_authn_context: None,
        received_at_ms: millis(now),
    };
    Ok((app, pending))
}

/// Parks a request while the user signs in and returns its handle.
pub async fn park(ctx: &Ctx, app: &Application, pending: &Pending, now: DateTime<Utc>) -> Result<String, Error> {
    let handle = crate::saml::new_id();
    let json = serde_json::to_string(pending).map_err(|e| Error::Task(e.to_string()))?;
    let expires = now + Duration::seconds(i64::try_from(ctx.config.login_timeout_secs).unwrap_or(900));
    let mut conn = ctx.db.conn().await?;
    sso::insert_pending(&mut conn, &handle, app.id, &json, millis(now), millis(expires)).await?;
    Ok(handle)
}

/// Finds a parked request again after sign-in.
pub async fn resume(
    ctx: &Ctx,
    app_name: &str,
    handle: &str,
    now: DateTime<Utc>,
) -> Result<(Application, Pending), Error> {
    let mut conn = ctx.db.conn().await?;
    let app = load_saml_app(&mut conn, app_name).await?;
    let json = sso::find_pending(&mut conn, handle, app.id, millis(now)).await?.ok_or(Error::PendingExpired)?;
    let pending = serde_json::from_str(&json).map_err(|_| Error::PendingExpired)?;
    Ok((app, pending))
}

/// Answers a request for a signed-in user: checks the user may use the app, then builds and signs the response.
/// `handle` is the parked request being answered; it is consumed, so a request is answered at most once.
#[instrument(skip_all, fields(app.name = %app.name, user.id = %session.user_id))]
pub async fn answer(
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

    let ours = if ctx.config.is_https() { authn_class::PASSWORD_PROTECTED_TRANSPORT } else { authn_class::PASSWORD };
    let requested = pending.requested_authn_context.as_ref().map(|(comparison, class_refs)| RequestedAuthnContext {
        comparison: comparison.clone(),
        class_refs: class_refs.clone(),
    });
    let Some(class) = authn_request::choose_authn_context(requested.as_ref(), ours) else {
        drop(conn);
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
    let attrs: Vec<Attribute> = attributes::resolve(&app.sp.attributes, &user, &group_names)
        .into_iter()
        .map(|r| Attribute { name_format: name_format_urn(&r.name_format).to_owned(), name: r.name, values: r.values })
        .collect();
    let key = ctx.keys.current(ctx, &mut conn, app).await?;
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
        authn_instant: session.authn_instant(),
        session_index: session.session_index.clone(),
        session_end: session.authn_instant() + Duration::seconds(i64::from(app.sp.session_lifetime_secs)),
        class,
        attributes: attrs,
        mode: app.sp.signing_mode,
        encryption,
    };
    let xml = sign_off_thread(key, job).await?;
    // Single logout reaches every SP this session signed in to, with the NameID it was sent.
    crate::services::slo::record_participation(ctx, session, app, user.id, &sent_name_id, now).await?;

    let detail = if pending.request_id.is_some() { "sp-initiated" } else { "idp-initiated" };
    let event = Event::new(now, EventName::SsoLogin, &Actor::User(user.username.clone()))
        .app(app.name.as_str())
        .user(&user.username)
        .detail(detail);
    record(ctx, event).await?;
    info!(app.name = %app.name, user.id = %user.id, "issued assertion for {}", app.name);
    Ok(PostForm {
        acs_url: pending.acs_url.clone(),
        saml_response: encode(&xml),
        relay_state: pending.relay_state.clone(),
    })
}

/// A signed error response to a request whose ACS is registered (IsPassive without a session, say).
pub async fn status_response(
    ctx: &Ctx,
    app: &Application,
    pending: &Pending,
    second_code: &'static str,
    message: &str,
    now: DateTime<Utc>,
) -> Result<PostForm, Error> {
    let mut conn = ctx.db.conn().await?;
    let key = ctx.keys.current(ctx, &mut conn, app).await?;
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
    .await
    .map_err(|e| Error::Task(e.to_string()))??;
    Ok(PostForm {
        acs_url: pending.acs_url.clone(),
        saml_response: encode(&xml),
        relay_state: pending.relay_state.clone(),
    })
}

/// Refusals of `check_request`: an HTML page only, or (ACS verified) a SAML status to the SP.
enum Refused {
    Page(Error),
    ToSp { pending: Pending, second_code: &'static str, message: String },
}

impl<E: Into<Error>> From<E> for Refused {
    fn from(e: E) -> Self {
        Self::Page(e.into())
    }
}

async fn check_request(
    ctx: &Ctx,
    conn: &mut Conn,
    app: &Application,
    certs: &[Certificate],
    incoming: Incoming<'_>,
    now: DateTime<Utc>,
) -> Result<Pending, Refused> {
    let received: Received = match incoming {
        Incoming::Redirect { raw_query } => binding::decode_redirect(raw_query)?,
        Incoming::Post { saml_request, relay_state } => binding::decode_post(saml_request, relay_state)?,
    };
    authn_request::precheck(&received.xml).map_err(Error::from)?;
    let allow_sha1 = app.sp.allow_sha1;
    // A signature is checked whenever the SP has registered a certificate; an app that requires signatures and
    // has none refuses every request (the admin sees why in the event).
    let (xml, is_signed) = if let Some(sig) = &received.redirect_signature {
        if certs.is_empty() {
            (received.xml.clone(), false)
        } else {
            binding::verify_redirect_signature(sig, certs, allow_sha1)?;
            (received.xml.clone(), true)
        }
    } else if !certs.is_empty() && authn_request::has_enveloped_signature(&received.xml)? {
        (authn_request::verify_post_signature(&received.xml, certs, allow_sha1)?, true)
    } else {
        (received.xml.clone(), false)
    };
    let request = authn_request::parse(&xml, is_signed)?;
    let sso_url = ctx.sso_url(app.name.as_str());
    let policy = SpPolicy {
        entity_id: &app.sp.entity_id,
        acs: &app.sp.acs,
        require_signed: app.sp.require_signed_requests,
        sso_url: &sso_url,
    };
    let freshness = freshness(ctx, now);
    let pending_for = |acs_url: String| Pending {
        request_id: Some(request.id.clone()),
        acs_url,
        relay_state: received.relay_state.clone(),
        force_authn: request.force_authn,
        is_passive: request.is_passive,
        name_id_format: None,
        requested_authn_context: None,
        received_at_ms: millis(now),
    };
    let valid = match authn_request::validate(&request, &policy, freshness) {
        Ok(valid) => valid,
        Err(RequestError::Status { acs_url, second_code, message }) => {
            // Replay protection applies to refusals too, or a refusal could be replayed at will.
            if !remember(conn, app, &request.id, freshness).await? {
                return Err(Error::ReplayedRequest { id: request.id.clone() }.into());
            }
            return Err(Refused::ToSp { pending: pending_for(acs_url), second_code, message });
        }
        Err(e) => return Err(e.into()),
    };
    if !remember(conn, app, &valid.id, freshness).await? {
        return Err(Error::ReplayedRequest { id: valid.id }.into());
    }
    let mut pending = pending_for(valid.acs_url);
    pending.name_id_format = valid.name_id_format;
    pending.requested_authn_context = valid.requested_authn_context.map(|r| (r.comparison, r.class_refs));
    Ok(pending)
}

/// Records a request ID for as long as a request with it could still be fresh.
async fn remember(conn: &mut Conn, app: &Application, id: &str, f: Freshness) -> Result<bool, Error> {
    let expires = f.now + f.max_age + f.clock_skew * 2;
    Ok(sso::insert_seen_request(conn, app.id, id, millis(f.now), millis(expires)).await?)
}

pub(crate) fn freshness(ctx: &Ctx, now: DateTime<Utc>) -> Freshness {
    let secs = |s: u64| Duration::seconds(i64::try_from(s).unwrap_or(i64::MAX / 2_000));
    Freshness { now, clock_skew: secs(ctx.config.clock_skew_secs), max_age: secs(ctx.config.request_max_age_secs) }
}

pub(crate) async fn load_saml_app(conn: &mut Conn, app_name: &str) -> Result<Application, Error> {
    // Names that cannot be application names are unknown, without a query.
    let name = AppName::parse(app_name).map_err(|_| Error::UnknownApp { name: app_name.to_owned() })?;
    let app = apps::find_app(conn, name.as_str()).await?.ok_or_else(|| Error::UnknownApp { name: name.to_string() })?;
    if !app.is_saml() {
        return Err(Error::NotSaml { name: name.to_string() });
    }
    Ok(app)
}

/// How to encrypt for the application's SP, if it asks for encryption: to the first encryption certificate of its
/// metadata (settings refuse encryption without one).
fn encryption(app: &Application) -> Result<Option<Encryption>, Error> {
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

pub(crate) fn sp_certificates(app: &Application) -> Result<Vec<Certificate>, Error> {
    app.sp.signing_certificates.iter().map(|pem| Ok(Certificate::from_pem(pem.as_bytes())?)).collect()
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
        NameIdFormat::Email => plain(&user.profile.email),
        NameIdFormat::Unspecified => plain(user.property(app.sp.name_id_source.unwrap_or(UserProperty::Email))),
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
    .await
    .map_err(|e| Error::Task(e.to_string()))?
    .map_err(Error::from)
}

pub(crate) fn encode(xml: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(xml.as_bytes())
}

/// The signed-in user and the applications their portal shows, or `None` when the account no longer exists.
/// A suspended user sees no applications.
pub async fn portal(
    ctx: &Ctx,
    session: &IdpSession,
) -> Result<Option<(crate::directory::User, Vec<Application>)>, Error> {
    let mut conn = ctx.db.conn().await?;
    let user = match users::get_user(&mut conn, session.user_id).await {
        Ok(user) => user,
        Err(crate::store::Error::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let apps = if user.is_active() { apps::list_portal_apps(&mut conn, user.id).await? } else { Vec::new() };
    Ok(Some((user, apps)))
}

/// The display label of an application, for the sign-in page ("to continue to …").
pub async fn app_label(ctx: &Ctx, app_name: &str) -> Option<String> {
    let mut conn = ctx.db.conn().await.ok()?;
    apps::find_app(&mut conn, app_name).await.ok().flatten().map(|a| a.display_label)
}
