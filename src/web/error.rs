//! What people see when something goes wrong: an HTML page with a plain sentence and a reference to quote, which
//! is the request's `x-request-id`. Internal failures show a generic sentence; the full error goes to the log,
//! once, from the `report` middleware, inside the request's span (which carries the same id).
//!
//! Architecture Invariant: every status a page or the API shows for a service error comes from `page_status`
//! and `api::problem`'s mapping of `ErrorKind`, matched without a fallback; handlers never pick a status for a
//! service error themselves.

use askama::Template;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};

use crate::directory::access::Denied;
use crate::services::error::{with_causes, ErrorKind};
use crate::services::Error;

tokio::task_local! {
    static REQUEST_ID: String;
    /// Set when the session store's backend (the database) failed during this request.
    static SESSION_STORE_FAILED: std::cell::Cell<bool>;
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    title: &'a str,
    message: &'a str,
    request_id: &'a str,
}

/// An error page: the status, what the person reads, and what the log gets.
#[derive(Debug)]
pub struct PageError {
    pub status: StatusCode,
    pub title: String,
    pub message: String,
    /// The error with its causes, for the log line the `report` middleware writes.
    log: Option<String>,
}

/// The error a response carries to the `report` middleware, which logs it once with the request's span.
#[derive(Debug, Clone)]
pub struct Logged {
    pub is_internal: bool,
    pub text: String,
}

impl PageError {
    pub fn new(status: StatusCode, title: &str, message: impl Into<String>) -> Self {
        Self { status, title: title.to_owned(), message: message.into(), log: None }
    }

    /// An internal failure of the web layer itself (rendering a page, the session store).
    fn internal(e: &dyn std::error::Error) -> Self {
        let mut page = Self::new(StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong", GENERIC);
        page.log = Some(with_causes(e));
        page
    }
}

const UNAVAILABLE: &str = "The identity provider is briefly unavailable. Nothing was changed; try again in a moment.";

const GENERIC: &str =
    "The identity provider could not complete this request. Try again, or give the reference below to your administrator.";

/// The status and title of an error page for each kind of service error.
pub fn page_status(kind: ErrorKind) -> (StatusCode, &'static str) {
    match kind {
        ErrorKind::NotFound => (StatusCode::NOT_FOUND, "Not found"),
        ErrorKind::Conflict => (StatusCode::CONFLICT, "Request refused"),
        ErrorKind::Invalid | ErrorKind::Refused => (StatusCode::BAD_REQUEST, "Request refused"),
        ErrorKind::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "Request refused"),
        ErrorKind::Expired => (StatusCode::BAD_REQUEST, "Sign-in expired"),
        ErrorKind::Denied => (StatusCode::FORBIDDEN, "Access denied"),
        ErrorKind::Unauthenticated => (StatusCode::UNAUTHORIZED, "Sign-in failed"),
        ErrorKind::Throttled => (StatusCode::TOO_MANY_REQUESTS, "Too many attempts"),
        ErrorKind::Upstream => (StatusCode::BAD_GATEWAY, "Another service failed"),
        ErrorKind::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "Briefly unavailable"),
        ErrorKind::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong"),
    }
}

impl From<Error> for PageError {
    fn from(e: Error) -> Self {
        let (status, title) = page_status(e.kind());
        let message = if status == StatusCode::SERVICE_UNAVAILABLE {
            UNAVAILABLE.to_owned()
        } else if status.is_server_error() {
            GENERIC.to_owned()
        } else if let Error::Denied { app, reason: Denied::AppInactive, .. } = &e {
            format!("Single sign-on to {app} is deactivated. Ask your administrator if you need it.")
        } else if let Error::Denied { app, .. } = &e {
            format!("You do not have access to {app}. Ask your administrator to add you to a group bound to it.")
        } else {
            capitalize(&e.to_string())
        };
        let mut page = PageError::new(status, title, message);
        page.log = Some(with_causes(&e));
        page
    }
}

impl From<askama::Error> for PageError {
    fn from(e: askama::Error) -> Self {
        Self::internal(&e)
    }
}

impl From<tower_sessions::session::Error> for PageError {
    /// The session store's only backend is the database: when it fails (unreachable, no connection free in time),
    /// the page says the service is briefly unavailable (503) rather than hanging or blaming a bug.
    fn from(e: tower_sessions::session::Error) -> Self {
        use tower_sessions::session::Error as SessionError;
        use tower_sessions::session_store::Error as StoreError;
        match &e {
            SessionError::Store(StoreError::Backend(_)) => {
                let mut page = Self::new(StatusCode::SERVICE_UNAVAILABLE, "Briefly unavailable", UNAVAILABLE);
                page.log = Some(with_causes(&e));
                page
            }
            _ => Self::internal(&e),
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let request_id = request_id();
        let page = ErrorPage { title: &self.title, message: &self.message, request_id: &request_id };
        let mut response = match page.render() {
            Ok(html) => (self.status, Html(html)).into_response(),
            Err(_) => (self.status, self.message).into_response(),
        };
        if let Some(text) = self.log {
            response.extensions_mut().insert(Logged { is_internal: self.status.is_server_error(), text });
        }
        response
    }
}

impl PageError {
    /// The same error for a page's script (the WebAuthn ceremonies): `{"error": message, "request_id": …}` with the
    /// page's status, logged once by `report` like the page.
    pub fn into_json(self) -> Response {
        let request_id = request_id();
        let body = serde_json::json!({ "error": self.message, "request_id": request_id });
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(text) = self.log {
            response.extensions_mut().insert(Logged { is_internal: self.status.is_server_error(), text });
        }
        response
    }
}

/// A session store that notes a failure of its backend for `report`. Every method passes through unchanged.
#[derive(Debug, Clone)]
pub struct SessionStoreWatch<S>(pub S);

impl<S> SessionStoreWatch<S> {
    fn noted<T>(result: tower_sessions::session_store::Result<T>) -> tower_sessions::session_store::Result<T> {
        if let Err(tower_sessions::session_store::Error::Backend(_)) = &result {
            let _ = SESSION_STORE_FAILED.try_with(|failed| failed.set(true));
        }
        result
    }
}

#[async_trait::async_trait]
impl<S: tower_sessions::SessionStore> tower_sessions::SessionStore for SessionStoreWatch<S> {
    async fn create(&self, record: &mut tower_sessions::session::Record) -> tower_sessions::session_store::Result<()> {
        Self::noted(self.0.create(record).await)
    }

    async fn save(&self, record: &tower_sessions::session::Record) -> tower_sessions::session_store::Result<()> {
        Self::noted(self.0.save(record).await)
    }

    async fn load(
        &self,
        id: &tower_sessions::session::Id,
    ) -> tower_sessions::session_store::Result<Option<tower_sessions::session::Record>> {
        Self::noted(self.0.load(id).await)
    }

    async fn delete(&self, id: &tower_sessions::session::Id) -> tower_sessions::session_store::Result<()> {
        Self::noted(self.0.delete(id).await)
    }
}

/// The `x-request-id` of the request being served (empty outside one).
pub fn request_id() -> String {
    REQUEST_ID.try_with(Clone::clone).unwrap_or_default()
}

/// Makes the request id known to the error pages and problems of this request, then logs the error its response
/// carries, if any: once, inside the request's span.
///
/// The session layer answers a failed save with a bare 500 of its own; when the session store's backend failed
/// (`SessionStoreWatch`), that answer becomes the "briefly unavailable" page (503), as for every other database
/// outage.
pub async fn report(request: Request, next: Next) -> Response {
    let id = request.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let watched = SESSION_STORE_FAILED.scope(std::cell::Cell::new(false), async {
        let response = REQUEST_ID.scope(id.clone(), next.run(request)).await;
        (response, SESSION_STORE_FAILED.with(std::cell::Cell::get))
    });
    let (mut response, store_failed) = watched.await;
    if store_failed && response.status() == StatusCode::INTERNAL_SERVER_ERROR {
        let mut page = PageError::new(StatusCode::SERVICE_UNAVAILABLE, "Briefly unavailable", UNAVAILABLE);
        page.log = Some("the session store could not save the session: the database is unavailable".into());
        response = REQUEST_ID.scope(id, async move { page.into_response() }).await;
    }
    if let Some(logged) = response.extensions_mut().remove::<Logged>() {
        if logged.is_internal {
            tracing::error!(http.status = response.status().as_u16(), "request failed: {}", logged.text);
        } else {
            tracing::info!(http.status = response.status().as_u16(), "request refused: {}", logged.text);
        }
    }
    response
}

fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => format!("{}{}.", first.to_uppercase(), chars.as_str()),
        None => String::new(),
    }
}
