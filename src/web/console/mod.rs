//! The admin console: applications, users, groups, events, the dashboard, API tokens and the administrator's own
//! account, as HTML pages.
//!
//! Every page needs the administrator's session (`web::admin`, key `admin`); without it the browser is sent to
//! `/admin/login`. Every form carries the session's CSRF token and is refused (403) without it. Handlers extract,
//! call one `services` function with `Actor::Admin(name)`, and redirect back with a one-time message (post,
//! redirect, get); they hold no SQL and no business rules.

pub mod account;
pub mod apps;
pub mod dashboard;
pub mod events;
pub mod tokens;
pub mod users;

use askama::Template;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Router;
use tower_sessions::Session;

use crate::audit::Actor;
use crate::services::Error;
use crate::web::admin::current_admin;
use crate::web::error::PageError;
use crate::web::login::{check_csrf, csrf_token};
use crate::web::AppState;

/// The one-time message shown on the page a change redirects to.
const FLASH_KEY: &str = "console_flash";
/// The largest form the console reads (SP metadata pasted into a text area fits).
const MAX_FORM_BYTES: usize = 256 * 1024;

pub fn router() -> Router<AppState> {
    Router::new()
        .merge(dashboard::router())
        .merge(apps::router())
        .merge(users::router())
        .merge(events::router())
        .merge(tokens::router())
        .merge(account::router())
}

/// A message about the last change: `ok` or `error`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Flash {
    pub kind: String,
    pub text: String,
}

/// The signed-in administrator of a console request, with the session's CSRF token and the pending message.
pub struct Console {
    pub session: Session,
    pub username: String,
    pub csrf_token: String,
    pub flash: Option<Flash>,
}

impl Console {
    pub fn actor(&self) -> Actor {
        Actor::Admin(self.username.clone())
    }

    /// What the layout shows around every console page; `section` marks the current entry of the navigation.
    pub fn chrome(&self, section: &'static str) -> Chrome {
        Chrome {
            username: self.username.clone(),
            csrf_token: self.csrf_token.clone(),
            flash: self.flash.clone(),
            section,
        }
    }

    /// Redirects to `back` after a change, with its outcome as the next page's message. A refusal the admin can
    /// fix (an invalid value, a taken name, an unreachable metadata URL) becomes the message; our own failures
    /// become the error page.
    pub async fn done(&self, result: Result<String, Error>, back: &str) -> Result<Response, PageError> {
        let flash = match result {
            Ok(text) => Flash { kind: "ok".into(), text },
            Err(e) if e.is_internal() => return Err(e.into()),
            Err(e) => Flash { kind: "error".into(), text: capitalize(&e.to_string()) },
        };
        self.session.insert(FLASH_KEY, &flash).await.map_err(session_error)?;
        Ok(Redirect::to(back).into_response())
    }

    /// Redirects to `back` with an error message of our own.
    pub async fn refuse(&self, text: &str, back: &str) -> Result<Response, PageError> {
        let flash = Flash { kind: "error".into(), text: text.to_owned() };
        self.session.insert(FLASH_KEY, &flash).await.map_err(session_error)?;
        Ok(Redirect::to(back).into_response())
    }
}

impl FromRequestParts<AppState> for Console {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let session = Session::from_request_parts(parts, state).await.map_err(IntoResponse::into_response)?;
        let Some(admin) = current_admin(&session).await else {
            return Err(Redirect::to("/admin/login").into_response());
        };
        let csrf_token = csrf_token(&session).await.map_err(IntoResponse::into_response)?;
        let flash =
            if parts.method == Method::GET { session.remove::<Flash>(FLASH_KEY).await.ok().flatten() } else { None };
        Ok(Self { session, username: admin.username, csrf_token, flash })
    }
}

/// The fields of a console form (`application/x-www-form-urlencoded`), read only after its CSRF token matched the
/// session's: a form without the token, or with another session's, is refused with 403 before anything happens.
pub struct Fields(Vec<(String, String)>);

impl Fields {
    /// The first value of `name`, trimmed; empty when absent.
    pub fn get(&self, name: &str) -> &str {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim()).unwrap_or_default()
    }

    /// The first value of `name` exactly as sent (passwords, pasted XML).
    pub fn raw(&self, name: &str) -> &str {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).unwrap_or_default()
    }

    /// Every non-empty value of `name` (repeated fields such as checkboxes).
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0.iter().filter(|(k, v)| k == name && !v.trim().is_empty()).map(|(_, v)| v.trim().to_owned()).collect()
    }

    /// `(rest, value)` of every non-empty field whose name is `prefix` + rest (a connector's placeholder values).
    pub fn all_with_prefix(&self, prefix: &str) -> Vec<(String, String)> {
        self.0
            .iter()
            .filter(|(_, v)| !v.trim().is_empty())
            .filter_map(|(k, v)| k.strip_prefix(prefix).map(|rest| (rest.to_owned(), v.trim().to_owned())))
            .collect()
    }

    /// A checkbox: present and not "off".
    pub fn is_checked(&self, name: &str) -> bool {
        self.0.iter().any(|(k, v)| k == name && v != "off" && v != "false")
    }

    /// The value, or `None` when empty.
    pub fn optional(&self, name: &str) -> Option<String> {
        Some(self.get(name)).filter(|v| !v.is_empty()).map(str::to_owned)
    }
}

impl FromRequest<AppState> for Fields {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = request.into_parts();
        let session = Session::from_request_parts(&mut parts, state).await.map_err(IntoResponse::into_response)?;
        let Ok(bytes) = axum::body::to_bytes(body, MAX_FORM_BYTES).await else {
            return Err(PageError::new(StatusCode::PAYLOAD_TOO_LARGE, "Form too large", "The form is too large.")
                .into_response());
        };
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(&bytes).into_owned().collect();
        let token = pairs.iter().find(|(k, _)| k == "csrf_token").map(|(_, v)| v.as_str()).unwrap_or_default();
        check_csrf(&session, token).await.map_err(IntoResponse::into_response)?;
        Ok(Self(pairs))
    }
}

/// The parts of the layout every console page shares.
pub struct Chrome {
    pub username: String,
    pub csrf_token: String,
    pub flash: Option<Flash>,
    pub section: &'static str,
}

impl Chrome {
    pub fn is(&self, section: &str) -> bool {
        self.section == section
    }
}

pub fn render(page: &impl Template) -> Result<Response, PageError> {
    let html = page.render().map_err(|e| PageError::from(Error::Task(e.to_string())))?;
    Ok(Html(html).into_response())
}

/// A query value, percent-encoded.
pub fn encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// A path segment, percent-encoded (user and group names may hold spaces or slashes).
pub fn segment(text: &str) -> String {
    crate::web::api::apps::path_segment(text)
}

fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => format!("{}{}.", first.to_uppercase(), chars.as_str()),
        None => String::new(),
    }
}

pub(crate) fn session_error(e: tower_sessions::session::Error) -> PageError {
    PageError::from(Error::Task(format!("session store: {e}")))
}
