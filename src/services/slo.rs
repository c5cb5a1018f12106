//! Single logout (SAML Profiles §4.4): SP-initiated by a LogoutRequest at `/saml2/{app}/slo` (HTTP-Redirect or
//! HTTP-POST, verified like AuthnRequests), or IdP-initiated from the portal, propagated front-channel to every SP
//! the session signed in to that registered an SLO endpoint.
//!
//! Every successful SSO response records a participation (session index, application, the NameID sent). A logout
//! ends the IdP session, takes its participations and opens a logout run: the user's browser loads one frame per
//! SP, each carrying our signed LogoutRequest to that SP, and each SP's LogoutResponse settles its target. The run
//! is best effort: an SP that is down, refuses to be framed or answers with an error only fails its own target,
//! and the finish step reports which SPs did not confirm. An SP-initiated run ends with our signed LogoutResponse
//! to that SP (`PartialLogout` when another SP did not confirm).

use chrono::{DateTime, Duration, Utc};
use tracing::info;

use crate::audit::{Actor, Event, EventName};
use crate::directory::Application;
use crate::saml::authn_request::{HTTP_POST, HTTP_REDIRECT};
use crate::saml::binding::{self, encode_post};
use crate::saml::logout::{self, PARTIAL_LOGOUT, UNKNOWN_PRINCIPAL};
use crate::saml::metadata::SloEndpoint;
use crate::saml::response::status;
use crate::services::inbound::{self, Expected, Incoming, Message, Refusal, Verified};
use crate::services::login::IdpSession;
use crate::services::participation::{stored_value, StoredNameId};
use crate::services::{apps as app_lookup, millis, Ctx, Error};
use crate::store::{apps, events, slo, sso, Conn};

/// How long a logout run waits for the SPs (and the browser) before it is forgotten.
const RUN_LIFETIME: Duration = Duration::minutes(10);

/// A verified, valid LogoutRequest from an SP, as much as is needed to act on it (it is parked as JSON when it
/// arrives by POST, without our cookie).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LogoutCall {
    pub app: String,
    pub request_id: String,
    pub name_id: String,
    pub session_indexes: Vec<String>,
    pub relay_state: Option<String>,
}

/// A message for the browser to carry to an SP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outgoing {
    /// An auto-submitting form posting `field` (SAMLRequest or SAMLResponse) to `url`.
    Post { url: String, field: &'static str, value: String, relay_state: Option<String> },
    /// A redirect to `url`, which carries the signed query.
    Redirect { url: String },
}

impl Outgoing {
    pub fn url(&self) -> &str {
        match self {
            Self::Post { url, .. } | Self::Redirect { url } => url,
        }
    }
}

/// One SP of a logout run, as the pages show it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TargetView {
    pub app: String,
    pub label: String,
    /// `pending`, `done` or `failed`.
    pub state: String,
    pub detail: String,
    /// The origin of the SP's SLO endpoint, which the logout page's frames navigate to.
    #[serde(skip)]
    pub frame_origin: Option<String>,
}

/// The browser a logout starts in: its IdP session, and the secret its session keeps for logout runs (the run
/// stores the secret's hash, and its pages answer only the browser that holds the secret).
#[derive(Debug, Clone, Copy)]
pub struct Browser<'a> {
    pub idp: &'a IdpSession,
    pub secret: &'a str,
}

/// What starting a logout decided.
#[derive(Debug)]
pub struct Started {
    /// Whether the caller must end the browser's IdP session (false when an SP asked to log out someone else).
    pub ends_idp_session: bool,
    /// The run to show (SPs to notify), if any.
    pub run: Option<String>,
    /// Without a run: the answer to the SP that asked, if any.
    pub response: Option<Outgoing>,
}

/// The end of a logout run.
#[derive(Debug)]
pub struct Finished {
    pub targets: Vec<TargetView>,
    /// Our LogoutResponse to the SP that started the logout, if one did and it has an SLO endpoint.
    pub response: Option<Outgoing>,
    pub origin_label: Option<String>,
}

/// Receives a LogoutRequest (`inbound::receive`: signature, issuer, destination, freshness, replay). A refusal is
/// an event and an error page; nothing is sent to the SP.
pub async fn accept_request(
    ctx: &Ctx,
    app_name: &str,
    incoming: Incoming<'_>,
    now: DateTime<Utc>,
) -> Result<LogoutCall, Error> {
    let Verified { app, message, relay_state } =
        inbound::receive(ctx, app_name, Expected::LogoutRequest, incoming, now).await.map_err(Refusal::into_error)?;
    let Message::LogoutRequest(request) = message else {
        return Err(Error::LogoutExpired);
    };
    Ok(LogoutCall {
        app: app.name.to_string(),
        request_id: request.id,
        name_id: request.name_id,
        session_indexes: request.session_indexes,
        relay_state,
    })
}

/// Parks a LogoutRequest that arrived by POST (cross-site, so without our cookie) until the browser is on our
/// origin; returns its handle.
pub async fn park(ctx: &Ctx, call: &LogoutCall, now: DateTime<Utc>) -> Result<String, Error> {
    let mut conn = ctx.db.conn().await?;
    let app = app_lookup::load_saml(&mut conn, &call.app).await?;
    let handle = crate::saml::new_id();
    let json = serde_json::to_string(call)?;
    let expires = now + Duration::minutes(5);
    sso::insert_pending(&mut conn, &handle, app.id, &json, millis(now), millis(expires)).await?;
    Ok(handle)
}

/// Takes a parked LogoutRequest back (once).
pub async fn resume(ctx: &Ctx, app_name: &str, handle: &str, now: DateTime<Utc>) -> Result<LogoutCall, Error> {
    let mut conn = ctx.db.conn().await?;
    let app = app_lookup::load_saml(&mut conn, app_name).await?;
    let json = sso::find_pending(&mut conn, handle, app.id, millis(now)).await?.ok_or(Error::LogoutExpired)?;
    if !sso::delete_pending(&mut conn, handle).await? {
        return Err(Error::LogoutExpired);
    }
    serde_json::from_str(&json).map_err(|_| Error::LogoutExpired)
}

/// Starts a logout: SP-initiated (`origin`) or from the portal. `browser` holds the browser's IdP session, if any.
pub async fn start(
    ctx: &Ctx,
    browser: Option<Browser<'_>>,
    origin: Option<&LogoutCall>,
    now: DateTime<Utc>,
) -> Result<Started, Error> {
    let mut tx = ctx.db.begin().await?;
    let origin_app = match origin {
        Some(call) => Some(app_lookup::load_saml(&mut tx, &call.app).await?),
        None => None,
    };
    let Some(Browser { idp: session, secret }) = browser else {
        // No IdP session in this browser: forget the participation the SP names, by its NameID and one of our
        // SessionIndexes (a NameID alone would let a request end every session of the principal at this SP),
        // and answer; there is nothing to propagate.
        let mut n_ended = 0;
        if let (Some(call), Some(app)) = (origin, &origin_app) {
            for (session_index, json) in slo::find_sessions_of(&mut tx, app.id).await? {
                if call.session_indexes.contains(&session_index) && stored_value(&json) == call.name_id {
                    n_ended += slo::delete_participation(&mut tx, &session_index, app.id).await?;
                }
            }
        }
        tx.commit().await.map_err(crate::store::Error::from)?;
        let response = match (origin, &origin_app) {
            (Some(call), Some(app)) if n_ended > 0 => respond(ctx, app, call, status::SUCCESS, None, now).await?,
            (Some(call), Some(app)) => respond(ctx, app, call, status::REQUESTER, Some(UNKNOWN_PRINCIPAL), now).await?,
            _ => None,
        };
        return Ok(Started { ends_idp_session: false, run: None, response });
    };

    let participations = slo::list_participations(&mut tx, &session.session_index).await?;
    if let (Some(call), Some(app)) = (origin, &origin_app) {
        // The SP must name this session's principal: its NameID, and our SessionIndex if it gives any.
        let ours = participations.iter().find(|(id, _)| *id == app.id).map(|(_, json)| stored_value(json));
        let is_ours = ours.as_deref() == Some(call.name_id.as_str())
            && (call.session_indexes.is_empty() || call.session_indexes.contains(&session.session_index));
        if !is_ours {
            tx.commit().await.map_err(crate::store::Error::from)?;
            let response = respond(ctx, app, call, status::REQUESTER, Some(UNKNOWN_PRINCIPAL), now).await?;
            return Ok(Started { ends_idp_session: false, run: None, response });
        }
    }
    slo::delete_participations(&mut tx, &session.session_index).await?;
    let mut targets = Vec::new();
    for (app_id, json) in participations {
        if origin_app.as_ref().is_some_and(|o| o.id == app_id) {
            continue;
        }
        let app = apps::get_app_by_id(&mut tx, app_id).await?;
        if app.is_saml() && !app.sp.slo.is_empty() {
            targets.push((app_id, json));
        }
    }
    let detail = match &origin_app {
        Some(app) => format!("single logout requested by {}", app.name),
        None => "single logout from the portal".to_owned(),
    };
    let event = Event::new(now, EventName::UserLogout, &Actor::User(session.username.clone()))
        .user(&session.username)
        .detail(detail);
    events::insert_event(&mut tx, &event).await?;
    if targets.is_empty() {
        tx.commit().await.map_err(crate::store::Error::from)?;
        let response = match (origin, &origin_app) {
            (Some(call), Some(app)) => respond(ctx, app, call, status::SUCCESS, None, now).await?,
            _ => None,
        };
        return Ok(Started { ends_idp_session: true, run: None, response });
    }
    let run = slo::Run {
        id: crate::saml::new_id(),
        user: session.user_id,
        origin_app: origin_app.as_ref().map(|a| a.id),
        origin_request_id: origin.map(|c| c.request_id.clone()).unwrap_or_default(),
        relay_state: origin.and_then(|c| c.relay_state.clone()),
        is_finished: false,
        browser_hash: browser_hash(secret),
    };
    slo::insert_run(&mut tx, &run, millis(now), millis(now + RUN_LIFETIME)).await?;
    for (app, json) in targets {
        let target = slo::Target {
            run_id: run.id.clone(),
            app,
            name_id_json: json,
            session_index: session.session_index.clone(),
            request_id: crate::saml::new_id(),
            state: "pending".into(),
            detail: String::new(),
            // Opaque and the target's own: an SP learns nothing of the run or of the other SPs from it.
            relay_state: crate::saml::new_id(),
        };
        slo::insert_target(&mut tx, &target, millis(now)).await?;
    }
    tx.commit().await.map_err(crate::store::Error::from)?;
    info!(user.id = %session.user_id, "single logout {} started", run.id);
    Ok(Started { ends_idp_session: true, run: Some(run.id), response: None })
}

/// Our signed LogoutRequest to one SP of a run, for the browser that started the run to carry (the frame's
/// content).
pub async fn target_message(
    ctx: &Ctx,
    run_id: &str,
    secret: Option<&str>,
    app_name: &str,
    now: DateTime<Utc>,
) -> Result<Outgoing, Error> {
    let mut conn = ctx.db.conn().await?;
    bound_run(&mut conn, run_id, secret, now).await?;
    let app = app_lookup::load_saml(&mut conn, app_name).await?;
    let target = slo::list_targets(&mut conn, run_id)
        .await?
        .into_iter()
        .find(|t| t.app == app.id && t.state == "pending")
        .ok_or(Error::LogoutExpired)?;
    let endpoint = preferred(&app.sp.slo).ok_or(Error::LogoutExpired)?.clone();
    let name_id = serde_json::from_str::<StoredNameId>(&target.name_id_json)?.into_name_id();
    let key = ctx.signing_key(&mut conn, &app).await?;
    drop(conn);
    let encryption = crate::services::sso::encryption(&app)?;
    let issuer = ctx.idp_entity_id(&app);
    let relay_state = target.relay_state.clone();
    tokio::task::spawn_blocking(move || {
        let request = logout::OutgoingLogoutRequest {
            id: &target.request_id,
            issue_instant: now,
            issuer: &issuer,
            destination: &endpoint.location,
            name_id: &name_id,
            session_index: &target.session_index,
            not_on_or_after: now + Duration::minutes(5),
            encryption: encryption.as_ref(),
        };
        if endpoint.binding == HTTP_POST {
            let xml = logout::build_logout_request(&request, Some(&key))?;
            Ok(Outgoing::Post {
                url: endpoint.location.clone(),
                field: "SAMLRequest",
                value: encode_post(&xml),
                relay_state: Some(relay_state),
            })
        } else {
            let xml = logout::build_logout_request(&request, None)?;
            let query = binding::encode_redirect("SAMLRequest", &xml, Some(&relay_state), &key)?;
            Ok(Outgoing::Redirect { url: with_query(&endpoint.location, &query) })
        }
    })
    .await?
}

/// Receives an SP's LogoutResponse to one of our LogoutRequests and settles that SP's target: the one whose
/// request ID it answers (`InResponseTo`) and whose application sent it. The frame's POST comes cross-site, so
/// without the browser's cookie; the request ID (and the RelayState, when echoed) are what bind it.
pub async fn accept_response(
    ctx: &Ctx,
    app_name: &str,
    incoming: Incoming<'_>,
    now: DateTime<Utc>,
) -> Result<TargetView, Error> {
    let Verified { app, message, relay_state } =
        inbound::receive(ctx, app_name, Expected::LogoutResponse, incoming, now).await.map_err(Refusal::into_error)?;
    let Message::LogoutResponse(response) = message else {
        return Err(Error::LogoutExpired);
    };
    let mut conn = ctx.db.conn().await?;
    let target =
        slo::find_target_by_request(&mut conn, app.id, &response.in_response_to).await?.ok_or(Error::LogoutExpired)?;
    // SAML Bindings §3.4.3, §3.5.3: the SP returns the RelayState exactly; another one is not our exchange.
    if relay_state.is_some_and(|r| r != target.relay_state) {
        return Err(Error::LogoutExpired);
    }
    let (state, detail) = if response.status == status::SUCCESS {
        ("done", String::new())
    } else {
        ("failed", format!("the application answered {}", response.status))
    };
    if slo::settle_target(&mut conn, &target.run_id, app.id, state, &detail, millis(now)).await? {
        let event = Event::new(now, EventName::SloPropagate, &Actor::System).app(app_name).target(&target.run_id);
        let event = if state == "done" { event.detail("logged out") } else { event.failed(&detail) };
        events::insert_event(&mut conn, &event).await?;
    }
    Ok(TargetView {
        app: app.name.to_string(),
        label: app.display_label.clone(),
        state: state.into(),
        detail,
        frame_origin: frame_origin(&app),
    })
}

/// The SPs of a run and how far each got, for the browser that started it.
pub async fn run_status(
    ctx: &Ctx,
    run_id: &str,
    secret: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Vec<TargetView>, Error> {
    let mut conn = ctx.db.conn().await?;
    bound_run(&mut conn, run_id, secret, now).await?;
    views(&mut conn, run_id).await
}

/// Ends a run: SPs that have not confirmed count as failed, and the SP that started the logout gets our answer.
/// A second call reports the same results without answering the SP again. Only the browser that started the run
/// may finish it.
pub async fn finish(ctx: &Ctx, run_id: &str, secret: Option<&str>, now: DateTime<Utc>) -> Result<Finished, Error> {
    let mut tx = ctx.db.begin().await?;
    let run = bound_run(&mut tx, run_id, secret, now).await?;
    let reason = "the application did not confirm the logout (unreachable, or it refused)";
    for target in slo::list_targets(&mut tx, run_id).await?.iter().filter(|t| t.state == "pending") {
        if slo::settle_target(&mut tx, run_id, target.app, "failed", reason, millis(now)).await? {
            let app = apps::get_app_by_id(&mut tx, target.app).await?;
            let event = Event::new(now, EventName::SloPropagate, &Actor::System).app(app.name.as_str()).target(run_id);
            events::insert_event(&mut tx, &event.failed(reason)).await?;
        }
    }
    let is_first = slo::update_run_finished(&mut tx, run_id).await?;
    let targets = views(&mut tx, run_id).await?;
    let origin = match run.origin_app {
        Some(id) => Some(apps::get_app_by_id(&mut tx, id).await?),
        None => None,
    };
    tx.commit().await.map_err(crate::store::Error::from)?;
    let response = match (&origin, is_first) {
        (Some(app), true) => {
            let call = LogoutCall {
                app: app.name.to_string(),
                request_id: run.origin_request_id.clone(),
                name_id: String::new(),
                session_indexes: Vec::new(),
                relay_state: run.relay_state.clone(),
            };
            let partial = targets.iter().any(|t| t.state != "done");
            respond(ctx, app, &call, status::SUCCESS, partial.then_some(PARTIAL_LOGOUT), now).await?
        }
        _ => None,
    };
    Ok(Finished { targets, response, origin_label: origin.map(|a| a.display_label) })
}

/// Housekeeping: forget expired participations and logout runs.
pub async fn housekeeping(ctx: &Ctx, now: DateTime<Utc>) {
    let result = async { slo::purge_expired(&mut *ctx.db.conn().await?, millis(now)).await.map_err(Error::from) };
    if let Err(e) = result.await {
        tracing::warn!("could not purge single-logout state: {e}");
    }
}

/// Our signed LogoutResponse to the SP that asked, at its SLO endpoint (`None` when it registered none).
async fn respond(
    ctx: &Ctx,
    app: &Application,
    call: &LogoutCall,
    top: &'static str,
    second: Option<&'static str>,
    now: DateTime<Utc>,
) -> Result<Option<Outgoing>, Error> {
    let Some(endpoint) = preferred(&app.sp.slo).cloned() else {
        return Ok(None);
    };
    let key = ctx.signing_key(&mut *ctx.db.conn().await?, app).await?;
    let issuer = ctx.idp_entity_id(app);
    let call = call.clone();
    let outgoing = tokio::task::spawn_blocking(move || {
        let destination = endpoint.response_location.clone().unwrap_or_else(|| endpoint.location.clone());
        let id = crate::saml::new_id();
        let response = logout::OutgoingLogoutResponse {
            id: &id,
            issue_instant: now,
            issuer: &issuer,
            destination: &destination,
            in_response_to: &call.request_id,
            top_code: top,
            second_code: second,
        };
        if endpoint.binding == HTTP_POST {
            let xml = logout::build_logout_response(&response, Some(&key))?;
            Ok::<_, Error>(Outgoing::Post {
                url: destination.clone(),
                field: "SAMLResponse",
                value: encode_post(&xml),
                relay_state: call.relay_state.clone(),
            })
        } else {
            let xml = logout::build_logout_response(&response, None)?;
            let query = binding::encode_redirect("SAMLResponse", &xml, call.relay_state.as_deref(), &key)?;
            Ok(Outgoing::Redirect { url: with_query(&destination, &query) })
        }
    })
    .await??;
    Ok(Some(outgoing))
}

/// The run, if it exists and belongs to the browser whose session holds `secret`; any other browser (an SP that
/// learnt the run id, say) gets `LogoutNotHere`, as if there were no such run.
async fn bound_run(conn: &mut Conn, run_id: &str, secret: Option<&str>, now: DateTime<Utc>) -> Result<slo::Run, Error> {
    let Some(secret) = secret.filter(|s| !s.is_empty()) else {
        return Err(Error::LogoutNotHere);
    };
    let run = slo::find_run(conn, run_id, millis(now)).await?.ok_or(Error::LogoutNotHere)?;
    let expected = browser_hash(secret);
    let is_same = run.browser_hash.len() == expected.len()
        && openssl::memcmp::eq(run.browser_hash.as_bytes(), expected.as_bytes());
    if !is_same {
        return Err(Error::LogoutNotHere);
    }
    Ok(run)
}

fn browser_hash(secret: &str) -> String {
    hex::encode(openssl::sha::sha256(secret.as_bytes()))
}

async fn views(conn: &mut Conn, run_id: &str) -> Result<Vec<TargetView>, Error> {
    let mut out = Vec::new();
    for t in slo::list_targets(conn, run_id).await? {
        let app = apps::get_app_by_id(conn, t.app).await?;
        out.push(TargetView {
            app: app.name.to_string(),
            frame_origin: frame_origin(&app),
            label: app.display_label,
            state: t.state,
            detail: t.detail,
        });
    }
    Ok(out)
}

/// HTTP-POST when the SP offers it (the enveloped signature covers the whole message), else HTTP-Redirect.
fn preferred(endpoints: &[SloEndpoint]) -> Option<&SloEndpoint> {
    endpoints.iter().find(|e| e.binding == HTTP_POST).or_else(|| endpoints.iter().find(|e| e.binding == HTTP_REDIRECT))
}

fn frame_origin(app: &Application) -> Option<String> {
    let endpoint = preferred(&app.sp.slo)?;
    url::Url::parse(&endpoint.location).ok().map(|u| u.origin().ascii_serialization())
}

fn with_query(location: &str, query: &str) -> String {
    let separator = if location.contains('?') { '&' } else { '?' };
    format!("{location}{separator}{query}")
}
