//! `/saml2/{app}`: SP-initiated requests by HTTP-Redirect and HTTP-POST, IdP-initiated launches, the metadata
//! URL, the certificate download, and the continuation after sign-in. Each handler extracts, calls one
//! `services::sso` use case and renders its `Outcome`.

use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Router};
use chrono::Utc;
use tower_sessions::Session;

use crate::services::inbound::Incoming;
use crate::services::sso::{self, Outcome};
use crate::services::{apps, certs};
use crate::web::error::PageError;
use crate::web::login::{login_url, step_url};
use crate::web::session::signed_in;
use crate::web::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/saml2/{app}", get(sso_redirect).post(sso_post))
        .route("/saml2/{app}/continue/{handle}", get(resume))
        .route("/saml2/{app}/metadata", get(metadata))
        .route("/saml2/{app}/certificate.pem", get(certificate))
}

#[derive(Template)]
#[template(path = "saml_post.html")]
struct PostPage<'a> {
    acs_url: &'a str,
    saml_response: &'a str,
    relay_state: Option<&'a str>,
    app_label: &'a str,
}

#[derive(Debug, serde::Deserialize)]
pub struct PostBinding {
    #[serde(rename = "SAMLRequest")]
    saml_request: Option<String>,
    #[serde(rename = "RelayState")]
    relay_state: Option<String>,
}

/// GET: an HTTP-Redirect request when the query carries `SAMLRequest`, otherwise an IdP-initiated launch.
async fn sso_redirect(
    State(state): State<AppState>,
    Path(app): Path<String>,
    RawQuery(query): RawQuery,
    session: Session,
) -> Result<Response, PageError> {
    let query = query.unwrap_or_default();
    let idp = signed_in(&state.ctx, &session).await?;
    let outcome = if query.split('&').any(|p| p.starts_with("SAMLRequest=")) {
        let incoming = Incoming::Redirect { raw_query: &query };
        sso::request(&state.ctx, &app, incoming, idp.as_ref(), Utc::now()).await?
    } else {
        sso::launch(&state.ctx, &app, idp.as_ref(), Utc::now()).await?
    };
    render(&outcome)
}

/// POST: an HTTP-POST request. It arrives cross-site without our cookie, so it is validated, parked and the
/// browser is sent on to a GET on our own origin, where the cookie is present.
async fn sso_post(
    State(state): State<AppState>,
    Path(app): Path<String>,
    form: Result<Form<PostBinding>, axum::extract::rejection::FormRejection>,
) -> Result<Response, PageError> {
    let Ok(Form(form)) = form else {
        return Err(PageError::new(StatusCode::BAD_REQUEST, "Request refused", "The form could not be read."));
    };
    let Some(message) = form.saml_request else {
        return Err(PageError::new(StatusCode::BAD_REQUEST, "Request refused", "The form carries no SAMLRequest."));
    };
    let incoming = Incoming::Post { message: &message, relay_state: form.relay_state };
    render(&sso::request(&state.ctx, &app, incoming, None, Utc::now()).await?)
}

/// Answers a parked request once the browser is on our origin and, if needed, signed in.
async fn resume(
    State(state): State<AppState>,
    Path((app, handle)): Path<(String, String)>,
    session: Session,
) -> Result<Response, PageError> {
    let idp = signed_in(&state.ctx, &session).await?;
    render(&sso::resume(&state.ctx, &app, &handle, idp.as_ref(), Utc::now()).await?)
}

async fn metadata(State(state): State<AppState>, Path(app): Path<String>) -> Result<Response, PageError> {
    let xml = apps::view::metadata(&state.ctx, &app).await?;
    Ok(([(header::CONTENT_TYPE, "application/samlmetadata+xml; charset=utf-8")], xml).into_response())
}

async fn certificate(State(state): State<AppState>, Path(app): Path<String>) -> Result<Response, PageError> {
    let pem = certs::certificate_pem(&state.ctx, &app).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-pem-file"),
            (header::CONTENT_DISPOSITION, "attachment; filename=\"certificate.pem\""),
        ],
        pem,
    )
        .into_response())
}

/// The browser's next step: the auto-submitting form (its CSP allows posting to the ACS origin only), or a
/// redirect to sign-in or to our own continuation.
fn render(outcome: &Outcome) -> Result<Response, PageError> {
    let (form, app_label) = match outcome {
        Outcome::Post { form, app_label } => (form, app_label),
        Outcome::SignIn { continue_to, force } => {
            return Ok(Redirect::to(&login_url(continue_to, *force)).into_response())
        }
        Outcome::Continue { path } => return Ok(Redirect::to(path).into_response()),
        Outcome::SecondFactor { continue_to } => {
            return Ok(Redirect::to(&step_url("/login/factor", continue_to)).into_response())
        }
        Outcome::Enrol { continue_to } => {
            return Ok(Redirect::to(&step_url("/login/enrol", continue_to)).into_response())
        }
    };
    let page = PostPage {
        acs_url: &form.acs_url,
        saml_response: &form.saml_response,
        relay_state: form.relay_state.as_deref(),
        app_label,
    };
    let html = page.render().map_err(PageError::from)?;
    let origin = url::Url::parse(&form.acs_url).map(|u| u.origin().ascii_serialization()).unwrap_or_default();
    let csp = format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; form-action {origin}; frame-ancestors 'none'; base-uri 'none'"
    );
    let mut response = Html(html).into_response();
    if let Ok(value) = HeaderValue::from_str(&csp) {
        response.headers_mut().insert(header::CONTENT_SECURITY_POLICY, value);
    }
    Ok(response)
}
