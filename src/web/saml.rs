//! `/saml2/{app}`: SP-initiated requests by HTTP-Redirect and HTTP-POST, IdP-initiated launches, the metadata
//! URL, the certificate download, and the continuation after sign-in.

use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Router};
use chrono::Utc;
use tower_sessions::Session;

use crate::saml::response::status;
use crate::services::sso::{self, Accepted, Incoming, Pending, PostForm};
use crate::services::{admin, Error};
use crate::web::error::PageError;
use crate::web::login::login_url;
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
    let now = Utc::now();
    let query = query.unwrap_or_default();
    if !query.split('&').any(|p| p.starts_with("SAMLRequest=")) {
        return launch(&state, &app, &session).await;
    }
    let accepted = sso::accept(&state.ctx, &app, Incoming::Redirect { raw_query: &query }, now).await?;
    let (app, pending) = match accepted {
        Accepted::Refusal(form) => return post_page(&form, &app),
        Accepted::Request { app, pending } => (app, pending),
    };
    // The browser came straight from the SP with our cookie (SameSite=Lax allows top-level GETs), so a
    // signed-in user is answered at once.
    if let Some(s) = signed_in(&state.ctx, &session).await?.filter(|s| pending.is_satisfied_by(s)) {
        let form = sso::answer(&state.ctx, &app, &pending, &s, None, now).await?;
        return post_page(&form, &app.display_label);
    }
    if pending.is_passive {
        return no_passive(&state, &app, &pending).await;
    }
    let handle = sso::park(&state.ctx, &app, &pending, now).await?;
    let next = continue_path(app.name.as_str(), &handle);
    Ok(Redirect::to(&login_url(&next, pending.force_authn)).into_response())
}

/// POST: an HTTP-POST request. It arrives cross-site without our cookie, so it is validated, parked and the
/// browser is sent on to a GET on our own origin, where the cookie is present.
async fn sso_post(
    State(state): State<AppState>,
    Path(app): Path<String>,
    form: Result<Form<PostBinding>, axum::extract::rejection::FormRejection>,
) -> Result<Response, PageError> {
    let now = Utc::now();
    let Ok(Form(form)) = form else {
        return Err(PageError::new(StatusCode::BAD_REQUEST, "Request refused", "The form could not be read."));
    };
    let Some(saml_request) = form.saml_request else {
        return Err(PageError::new(StatusCode::BAD_REQUEST, "Request refused", "The form carries no SAMLRequest."));
    };
    let incoming = Incoming::Post { saml_request: &saml_request, relay_state: form.relay_state };
    match sso::accept(&state.ctx, &app, incoming, now).await? {
        Accepted::Refusal(form) => post_page(&form, &app),
        Accepted::Request { app, pending } => {
            let handle = sso::park(&state.ctx, &app, &pending, now).await?;
            Ok(Redirect::to(&continue_path(app.name.as_str(), &handle)).into_response())
        }
    }
}

/// Answers a parked request once the browser is on our origin and, if needed, signed in.
async fn resume(
    State(state): State<AppState>,
    Path((app, handle)): Path<(String, String)>,
    session: Session,
) -> Result<Response, PageError> {
    let now = Utc::now();
    let (app, pending) = sso::resume(&state.ctx, &app, &handle, now).await?;
    match signed_in(&state.ctx, &session).await?.filter(|s| pending.is_satisfied_by(s)) {
        Some(s) => {
            let form = sso::answer(&state.ctx, &app, &pending, &s, Some(&handle), now).await?;
            post_page(&form, &app.display_label)
        }
        None if pending.is_passive => no_passive(&state, &app, &pending).await,
        None => {
            Ok(Redirect::to(&login_url(&continue_path(app.name.as_str(), &handle), pending.force_authn))
                .into_response())
        }
    }
}

async fn launch(state: &AppState, app_name: &str, session: &Session) -> Result<Response, PageError> {
    let now = Utc::now();
    let (app, pending) = sso::launch(&state.ctx, app_name, now).await?;
    let Some(s) = signed_in(&state.ctx, session).await? else {
        return Ok(Redirect::to(&login_url(&format!("/saml2/{}", app.name), false)).into_response());
    };
    let form = sso::answer(&state.ctx, &app, &pending, &s, None, now).await?;
    post_page(&form, &app.display_label)
}

async fn no_passive(
    state: &AppState,
    app: &crate::directory::Application,
    pending: &Pending,
) -> Result<Response, PageError> {
    let message = "the user is not signed in and the request does not allow interaction";
    let form = sso::status_response(&state.ctx, app, pending, status::NO_PASSIVE, message, Utc::now()).await?;
    post_page(&form, &app.display_label)
}

async fn metadata(State(state): State<AppState>, Path(app): Path<String>) -> Result<Response, PageError> {
    let xml = admin::metadata(&state.ctx, &app).await?;
    Ok(([(header::CONTENT_TYPE, "application/samlmetadata+xml; charset=utf-8")], xml).into_response())
}

async fn certificate(State(state): State<AppState>, Path(app): Path<String>) -> Result<Response, PageError> {
    let pem = admin::certificate_pem(&state.ctx, &app).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-pem-file"),
            (header::CONTENT_DISPOSITION, "attachment; filename=\"certificate.pem\""),
        ],
        pem,
    )
        .into_response())
}

fn continue_path(app: &str, handle: &str) -> String {
    format!("/saml2/{app}/continue/{handle}")
}

/// The auto-submitting form. Its CSP allows posting to the ACS origin only.
fn post_page(form: &PostForm, app_label: &str) -> Result<Response, PageError> {
    let page = PostPage {
        acs_url: &form.acs_url,
        saml_response: &form.saml_response,
        relay_state: form.relay_state.as_deref(),
        app_label,
    };
    let html = page.render().map_err(|e| Error::Task(e.to_string()))?;
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
