//! Every SAML message an SP sends us (AuthnRequest, LogoutRequest, LogoutResponse; HTTP-Redirect or HTTP-POST),
//! received in one place: the application is loaded, the message decoded with size caps, its signature verified
//! with the SP's registered certificates, its fields read only from the verified bytes, and issuer, destination
//! and freshness checked; a request's ID is then recorded, so a replay is refused. SSO and SLO act only on what
//! `receive` returns.
//!
//! Architecture Invariant: this is the only code that decides whether an inbound message is signed; the
//! Redirect/POST signature branching exists here and nowhere else.
//!
//! Security order: decode with size caps, refuse DTDs, verify the signature (over the raw query octets for
//! HTTP-Redirect, enveloped for HTTP-POST, whose signed bytes replace the document), parse, validate, then record
//! the request ID. Only after an AuthnRequest's ACS is known to be registered may a refusal go back to the SP as a
//! SAML status (`Refusal::ToSp`); every other refusal is a page for the person and an event for the admin.

use chrono::{DateTime, Duration, Utc};

use crate::audit::{Actor, Event, EventName};
use crate::directory::Application;
use crate::saml::authn_request::{self, Freshness, RequestError, SpPolicy, ValidRequest};
use crate::saml::binding::{self, Received};
use crate::saml::keys::Certificate;
use crate::saml::logout::{self, LogoutError, LogoutRequest, LogoutResponse};
use crate::saml::response::PROTOCOL_NS;
use crate::services::{apps, millis, record, Ctx, Error};
use crate::store::{sso, Conn};

/// How a message arrived.
#[derive(Debug)]
pub enum Incoming<'a> {
    /// HTTP-Redirect: the raw query string, whose bytes the signature covers.
    Redirect { raw_query: &'a str },
    /// HTTP-POST: the base64 message field (SAMLRequest or SAMLResponse) and the RelayState.
    Post { message: &'a str, relay_state: Option<String> },
}

/// The protocol message expected at an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expected {
    /// At `/saml2/{app}`.
    AuthnRequest,
    /// At `/saml2/{app}/slo`, as `SAMLRequest`.
    LogoutRequest,
    /// At `/saml2/{app}/slo`, as `SAMLResponse` (answering one of our LogoutRequests).
    LogoutResponse,
}

impl Expected {
    fn root(self) -> &'static str {
        match self {
            Self::AuthnRequest => "AuthnRequest",
            Self::LogoutRequest => "LogoutRequest",
            Self::LogoutResponse => "LogoutResponse",
        }
    }

    fn parameter(self) -> &'static str {
        match self {
            Self::AuthnRequest | Self::LogoutRequest => "SAMLRequest",
            Self::LogoutResponse => "SAMLResponse",
        }
    }

    fn rejected_event(self) -> EventName {
        match self {
            Self::AuthnRequest => EventName::SsoRequestRejected,
            Self::LogoutRequest | Self::LogoutResponse => EventName::SloRequestRejected,
        }
    }
}

/// A message that passed every check, for its application.
#[derive(Debug)]
pub struct Verified {
    pub app: Application,
    pub message: Message,
    pub relay_state: Option<String>,
}

/// The verified message itself.
#[derive(Debug)]
pub enum Message {
    /// Its ACS resolved to a registered endpoint; its ID is recorded.
    AuthnRequest(ValidRequest),
    /// Issuer, destination and freshness checked; its ID is recorded.
    LogoutRequest(LogoutRequest),
    /// Issuer and destination checked; its `InResponseTo` names the target it settles.
    LogoutResponse(LogoutResponse),
}

/// Why a message was refused. Either way the refusal is recorded as an event.
#[derive(Debug)]
pub enum Refusal {
    /// An error page for the person; nothing goes to the SP.
    Page(Error),
    /// An AuthnRequest whose ACS is registered but that we cannot satisfy: a SAML status to that ACS.
    ToSp(Box<StatusFor>),
}

/// The registered ACS and request that a SAML error status answers.
#[derive(Debug)]
pub struct StatusFor {
    pub app: Application,
    pub request_id: String,
    pub acs_url: String,
    pub relay_state: Option<String>,
    pub second_code: &'static str,
    pub message: String,
}

impl Refusal {
    /// The refusal as an error, for callers that answer every refusal with a page (logout messages, which never
    /// get a status from us).
    pub fn into_error(self) -> Error {
        match self {
            Self::Page(e) => e,
            Self::ToSp(status) => Error::Request(RequestError::Status {
                acs_url: status.acs_url,
                second_code: status.second_code,
                message: status.message,
            }),
        }
    }
}

impl<E: Into<Error>> From<E> for Refusal {
    fn from(e: E) -> Self {
        Self::Page(e.into())
    }
}

/// Receives a message for `app_name`, checking everything that can be checked before acting on it.
pub async fn receive(
    ctx: &Ctx,
    app_name: &str,
    expected: Expected,
    incoming: Incoming<'_>,
    now: DateTime<Utc>,
) -> Result<Verified, Refusal> {
    let mut conn = ctx.db.conn().await.map_err(Error::from)?;
    let app = apps::load_saml(&mut conn, app_name).await?;
    let checked = check(ctx, &mut conn, &app, expected, incoming, now).await;
    drop(conn);
    match checked {
        Ok((message, relay_state)) => Ok(Verified { app, message, relay_state }),
        Err(refusal) => {
            let detail = match &refusal {
                Refusal::Page(e) => e.to_string(),
                Refusal::ToSp(status) => status.message.clone(),
            };
            let event = Event::new(now, expected.rejected_event(), &Actor::Anonymous).app(app_name).failed(detail);
            record(ctx, event).await?;
            Err(refusal)
        }
    }
}

/// The freshness rules of configuration, at `now`.
pub fn freshness(ctx: &Ctx, now: DateTime<Utc>) -> Freshness {
    let secs = |s: u64| Duration::seconds(i64::try_from(s).unwrap_or(i64::MAX / 2_000));
    Freshness { now, clock_skew: secs(ctx.config.clock_skew_secs), max_age: secs(ctx.config.request_max_age_secs) }
}

/// The SP's registered signing certificates, parsed.
pub fn sp_certificates(app: &Application) -> Result<Vec<Certificate>, Error> {
    app.sp.signing_certificates.iter().map(|pem| Ok(Certificate::from_pem(pem.as_bytes())?)).collect()
}

/// `{base}/saml2/{app}/slo`, where logout messages must be sent.
pub fn slo_url(ctx: &Ctx, app: &Application) -> String {
    format!("{}/slo", ctx.sso_url(app.name.as_str()))
}

async fn check(
    ctx: &Ctx,
    conn: &mut Conn,
    app: &Application,
    expected: Expected,
    incoming: Incoming<'_>,
    now: DateTime<Utc>,
) -> Result<(Message, Option<String>), Refusal> {
    let received = match incoming {
        Incoming::Redirect { raw_query } => binding::decode_redirect_message(raw_query, expected.parameter())?,
        Incoming::Post { message, relay_state } => binding::decode_post(message, relay_state)?,
    };
    let (xml, is_signed) = verify_signature(app, &received, expected.root())?;
    let relay_state = received.relay_state;
    let time = freshness(ctx, now);
    let message = match expected {
        Expected::AuthnRequest => {
            let request = authn_request::parse(&xml, is_signed)?;
            let sso_url = ctx.sso_url(app.name.as_str());
            let policy = SpPolicy {
                entity_id: &app.sp.entity_id,
                acs: &app.sp.acs,
                require_signed: app.sp.require_signed_requests,
                sso_url: &sso_url,
                name_id_format: app.sp.name_id_format,
                allowed_name_id_formats: &app.sp.allowed_name_id_formats,
            };
            match authn_request::validate(&request, &policy, time) {
                Ok(valid) => {
                    remember(conn, app, &valid.id, time).await?;
                    Message::AuthnRequest(valid)
                }
                Err(RequestError::Status { acs_url, second_code, message }) => {
                    // Replay protection applies to refusals too, or a refusal could be replayed at will.
                    remember(conn, app, &request.id, time).await?;
                    return Err(Refusal::ToSp(Box::new(StatusFor {
                        app: app.clone(),
                        request_id: request.id,
                        acs_url,
                        relay_state,
                        second_code,
                        message,
                    })));
                }
                Err(e) => return Err(e.into()),
            }
        }
        Expected::LogoutRequest => {
            require_signature(app, is_signed)?;
            let request = logout::parse_logout_request(&xml, is_signed)?;
            let require_signed = requires_signed_logout(app);
            logout::validate_logout_request(&request, &app.sp.entity_id, require_signed, &slo_url(ctx, app), time)?;
            remember(conn, app, &request.id, time).await?;
            Message::LogoutRequest(request)
        }
        Expected::LogoutResponse => {
            require_signature(app, is_signed)?;
            let response = logout::parse_logout_response(&xml, is_signed)?;
            if response.issuer != app.sp.entity_id {
                let expected = app.sp.entity_id.clone();
                return Err(LogoutError::WrongIssuer { got: response.issuer, expected }.into());
            }
            if let Some(d) = response.destination.as_ref().filter(|d| !authn_request::same_url(d, &slo_url(ctx, app))) {
                return Err(LogoutError::WrongDestination { got: d.clone() }.into());
            }
            Message::LogoutResponse(response)
        }
    };
    Ok((message, relay_state))
}

/// Verifies the signature a message carries: over the raw query (HTTP-Redirect) or enveloped in the root element
/// (HTTP-POST; then only the bytes xmlsec digested are returned, so no unsigned content can be read). A signature
/// is checked whenever the SP has registered a certificate; without one a message counts as unsigned, and an
/// application that requires signatures then refuses it (the admin sees why in the event).
fn verify_signature(app: &Application, received: &Received, root: &'static str) -> Result<(String, bool), Error> {
    authn_request::precheck(&received.xml)?;
    let certs = sp_certificates(app)?;
    let allow_sha1 = app.sp.allow_sha1;
    if let Some(signature) = &received.redirect_signature {
        if certs.is_empty() {
            return Ok((received.xml.clone(), false));
        }
        binding::verify_redirect_signature(signature, &certs, allow_sha1)?;
        return Ok((received.xml.clone(), true));
    }
    if !certs.is_empty() && authn_request::has_enveloped_signature(&received.xml)? {
        let signed = authn_request::verify_root_signature(&received.xml, &certs, allow_sha1, PROTOCOL_NS, root)?;
        return Ok((signed, true));
    }
    Ok((received.xml.clone(), false))
}

/// Logout messages must be signed whenever the SP has registered a signing certificate (SAML Profiles §4.4.3.1,
/// §4.4.4.1: they are signed or otherwise authenticated), as well as when the application requires signed
/// requests; otherwise a cross-site GET could end a user's IdP session, or anyone could confirm a logout.
fn require_signature(app: &Application, is_signed: bool) -> Result<(), Error> {
    if requires_signed_logout(app) && !is_signed {
        return Err(LogoutError::Unsigned.into());
    }
    Ok(())
}

fn requires_signed_logout(app: &Application) -> bool {
    app.sp.require_signed_requests || !app.sp.signing_certificates.is_empty()
}

/// Records a request ID for as long as a request with it could still be fresh; a second use is a replay.
async fn remember(conn: &mut Conn, app: &Application, id: &str, f: Freshness) -> Result<(), Error> {
    let expires = f.now + f.max_age + f.clock_skew * 2;
    if !sso::insert_seen_request(conn, app.id, id, millis(f.now), millis(expires)).await? {
        return Err(Error::ReplayedRequest { id: id.to_owned() });
    }
    Ok(())
}
