//! Single logout: `/saml2/{app}/slo` (LogoutRequests and LogoutResponses by HTTP-Redirect and HTTP-POST), and the
//! logout run pages under `/logout/{run}` that carry our LogoutRequests to each SP in a frame.

use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use chrono::Utc;
use tower_sessions::Session;

use crate::services::inbound::Incoming;
use crate::services::slo::{self, LogoutCall, Outgoing, TargetView};
use crate::web::error::PageError;
use crate::web::session::{current_session, end_idp, find_logout_secret, logout_secret};
use crate::web::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/saml2/{app}/slo", get(slo_redirect).post(slo_post))
        .route("/saml2/{app}/slo/continue/{handle}", get(resume))
        .route("/logout/{run}", get(run_page))
        .route("/logout/{run}/sp/{app}", get(frame))
        .route("/logout/{run}/status", get(status))
        .route("/logout/{run}/finish", post(finish))
}

#[derive(Debug, serde::Deserialize)]
pub struct PostBinding {
    #[serde(rename = "SAMLRequest")]
    saml_request: Option<String>,
    #[serde(rename = "SAMLResponse")]
    saml_response: Option<String>,
    #[serde(rename = "RelayState")]
    relay_state: Option<String>,
}

#[derive(Template)]
#[template(path = "logout.html")]
struct RunPage<'a> {
    run: &'a str,
    targets: &'a [TargetView],
}

#[derive(Template)]
#[template(path = "logout_frame.html")]
struct FramePage<'a> {
    url: &'a str,
    field: &'a str,
    value: &'a str,
    relay_state: Option<&'a str>,
    app_label: &'a str,
}

#[derive(Template)]
#[template(path = "logout_frame_done.html")]
struct FrameDonePage<'a> {
    label: &'a str,
    state: &'a str,
    detail: &'a str,
}

struct ReturnForm<'a> {
    url: &'a str,
    field: Option<&'a str>,
    value: &'a str,
    relay_state: Option<&'a str>,
    label: &'a str,
}

#[derive(Template)]
#[template(path = "logout_done.html")]
struct DonePage<'a> {
    done: Vec<&'a str>,
    failed: Vec<&'a TargetView>,
    response: Option<ReturnForm<'a>>,
}

/// GET: a LogoutRequest (SP-initiated) or a LogoutResponse (to our LogoutRequest) by HTTP-Redirect.
async fn slo_redirect(
    State(state): State<AppState>,
    Path(app): Path<String>,
    RawQuery(query): RawQuery,
    session: Session,
) -> Result<Response, PageError> {
    let now = Utc::now();
    let query = query.unwrap_or_default();
    let has = |name: &str| query.split('&').any(|p| p.starts_with(&format!("{name}=")));
    if has("SAMLResponse") {
        let view = slo::accept_response(&state.ctx, &app, Incoming::Redirect { raw_query: &query }, now).await?;
        return frame_done(&view);
    }
    if !has("SAMLRequest") {
        return Err(PageError::new(StatusCode::BAD_REQUEST, "Request refused", "The request carries no SAML message."));
    }
    let call = slo::accept_request(&state.ctx, &app, Incoming::Redirect { raw_query: &query }, now).await?;
    proceed(&state, &session, &call).await
}

/// POST: a LogoutRequest arrives cross-site without our cookie, so it is parked and the browser sent on to a GET
/// on our origin; a LogoutResponse (in a logout frame) settles its SP.
async fn slo_post(
    State(state): State<AppState>,
    Path(app): Path<String>,
    form: Result<Form<PostBinding>, axum::extract::rejection::FormRejection>,
) -> Result<Response, PageError> {
    let now = Utc::now();
    let Ok(Form(form)) = form else {
        return Err(PageError::new(StatusCode::BAD_REQUEST, "Request refused", "The form could not be read."));
    };
    if let Some(message) = &form.saml_response {
        let incoming = Incoming::Post { message, relay_state: form.relay_state };
        let view = slo::accept_response(&state.ctx, &app, incoming, now).await?;
        return frame_done(&view);
    }
    let Some(message) = &form.saml_request else {
        return Err(PageError::new(StatusCode::BAD_REQUEST, "Request refused", "The form carries no SAML message."));
    };
    let call =
        slo::accept_request(&state.ctx, &app, Incoming::Post { message, relay_state: form.relay_state }, now).await?;
    let handle = slo::park(&state.ctx, &call, now).await?;
    Ok(Redirect::to(&format!("/saml2/{app}/slo/continue/{handle}")).into_response())
}

async fn resume(
    State(state): State<AppState>,
    Path((app, handle)): Path<(String, String)>,
    session: Session,
) -> Result<Response, PageError> {
    let call = slo::resume(&state.ctx, &app, &handle, Utc::now()).await?;
    proceed(&state, &session, &call).await
}

/// Acts on a valid LogoutRequest in the browser that holds (or held) the IdP session.
async fn proceed(state: &AppState, session: &Session, call: &LogoutCall) -> Result<Response, PageError> {
    let idp = current_session(session).await;
    let secret = match &idp {
        Some(_) => logout_secret(session).await?,
        None => String::new(),
    };
    let browser = idp.as_ref().map(|idp| slo::Browser { idp, secret: &secret });
    let started = slo::start(&state.ctx, browser, Some(call), Utc::now()).await?;
    if started.ends_idp_session {
        end_idp(session).await?;
    }
    if let Some(run) = started.run {
        return Ok(Redirect::to(&format!("/logout/{run}")).into_response());
    }
    match &started.response {
        Some(outgoing) => done_page(&[], Some(outgoing), &call.app),
        None => Ok(Redirect::to("/login").into_response()),
    }
}

/// Starts a logout from the portal (`POST /logout`, after its CSRF check): the page of the run, or sign-in when
/// no SP needs telling.
pub async fn portal_logout(state: &AppState, session: &Session) -> Result<Response, PageError> {
    let run = match current_session(session).await {
        Some(idp) => {
            let secret = logout_secret(session).await?;
            slo::start(&state.ctx, Some(slo::Browser { idp: &idp, secret: &secret }), None, Utc::now()).await?.run
        }
        None => None,
    };
    end_idp(session).await?;
    Ok(match run {
        Some(run) => Redirect::to(&format!("/logout/{run}")).into_response(),
        None => Redirect::to("/login").into_response(),
    })
}

async fn run_page(
    State(state): State<AppState>,
    Path(run): Path<String>,
    session: Session,
) -> Result<Response, PageError> {
    let secret = find_logout_secret(&session).await;
    let targets = slo::run_status(&state.ctx, &run, secret.as_deref(), Utc::now()).await?;
    let html = RunPage { run: &run, targets: &targets }.render().map_err(render_error)?;
    // Each frame loads our own page, which then navigates to the SP: frames may go to the SPs' origins.
    let mut frame_src = vec!["'self'".to_owned()];
    for t in &targets {
        frame_src.extend(t.frame_origin.clone());
    }
    let csp = format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; frame-src {}; \
         form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        frame_src.join(" ")
    );
    Ok(with_csp(Html(html).into_response(), &csp, None))
}

/// The content of one logout frame: our signed LogoutRequest on its way to the SP.
async fn frame(
    State(state): State<AppState>,
    Path((run, app)): Path<(String, String)>,
    session: Session,
) -> Result<Response, PageError> {
    let secret = find_logout_secret(&session).await;
    match slo::target_message(&state.ctx, &run, secret.as_deref(), &app, Utc::now()).await? {
        Outgoing::Redirect { url } => {
            Ok(framed(Redirect::to(&url).into_response(), "default-src 'none'; frame-ancestors 'self'"))
        }
        Outgoing::Post { url, field, value, relay_state } => {
            let page =
                FramePage { url: &url, field, value: &value, relay_state: relay_state.as_deref(), app_label: &app };
            let html = page.render().map_err(render_error)?;
            let csp = format!(
                "default-src 'none'; script-src 'self'; style-src 'self'; form-action {}; frame-ancestors 'self'; \
                 base-uri 'none'",
                origin_of(&url)
            );
            Ok(framed(Html(html).into_response(), &csp))
        }
    }
}

async fn status(
    State(state): State<AppState>,
    Path(run): Path<String>,
    session: Session,
) -> Result<Response, PageError> {
    let secret = find_logout_secret(&session).await;
    Ok(Json(slo::run_status(&state.ctx, &run, secret.as_deref(), Utc::now()).await?).into_response())
}

async fn finish(
    State(state): State<AppState>,
    Path(run): Path<String>,
    session: Session,
) -> Result<Response, PageError> {
    let secret = find_logout_secret(&session).await;
    let finished = slo::finish(&state.ctx, &run, secret.as_deref(), Utc::now()).await?;
    let label = finished.origin_label.clone().unwrap_or_default();
    done_page(&finished.targets, finished.response.as_ref(), &label)
}

/// The last page: which SPs confirmed, which did not, and the way back to the SP that asked.
fn done_page(targets: &[TargetView], response: Option<&Outgoing>, label: &str) -> Result<Response, PageError> {
    let done = targets.iter().filter(|t| t.state == "done").map(|t| t.label.as_str()).collect();
    let failed = targets.iter().filter(|t| t.state != "done").collect();
    let form = response.map(|r| match r {
        Outgoing::Post { url, field, value, relay_state } => {
            ReturnForm { url, field: Some(field), value, relay_state: relay_state.as_deref(), label }
        }
        Outgoing::Redirect { url } => ReturnForm { url, field: None, value: "", relay_state: None, label },
    });
    let html = DonePage { done, failed, response: form }.render().map_err(render_error)?;
    let action = response.map(|r| origin_of(r.url())).unwrap_or_else(|| "'self'".to_owned());
    let csp = format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; form-action {action}; frame-ancestors 'none'; \
         base-uri 'none'"
    );
    Ok(with_csp(Html(html).into_response(), &csp, None))
}

/// What a logout frame shows once its SP has answered.
fn frame_done(view: &TargetView) -> Result<Response, PageError> {
    let html = FrameDonePage { label: &view.label, state: &view.state, detail: &view.detail }
        .render()
        .map_err(render_error)?;
    Ok(framed(Html(html).into_response(), "default-src 'none'; style-src 'self'; frame-ancestors 'self'"))
}

/// A page our own logout page may frame (and nobody else).
fn framed(response: Response, csp: &str) -> Response {
    with_csp(response, csp, Some("SAMEORIGIN"))
}

fn with_csp(mut response: Response, csp: &str, frame_options: Option<&'static str>) -> Response {
    if let Ok(value) = HeaderValue::from_str(csp) {
        response.headers_mut().insert(header::CONTENT_SECURITY_POLICY, value);
    }
    if let Some(options) = frame_options {
        response.headers_mut().insert(header::X_FRAME_OPTIONS, HeaderValue::from_static(options));
    }
    response
}

fn origin_of(url: &str) -> String {
    url::Url::parse(url).map(|u| u.origin().ascii_serialization()).unwrap_or_else(|_| "'none'".to_owned())
}

fn render_error(e: askama::Error) -> PageError {
    PageError::from(e)
}
