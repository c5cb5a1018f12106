//! What people see when something goes wrong: an HTML page with a plain sentence and a reference to quote.
//! Internal failures show a generic sentence; the full error goes to the log under the same reference.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use crate::services::Error;

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    title: &'a str,
    message: &'a str,
    request_id: &'a str,
}

#[derive(Debug)]
pub struct PageError {
    pub status: StatusCode,
    pub title: String,
    pub message: String,
    pub reference: String,
}

impl PageError {
    pub fn new(status: StatusCode, title: &str, message: impl Into<String>) -> Self {
        let bytes: [u8; 6] = rand::random();
        Self { status, title: title.to_owned(), message: message.into(), reference: hex::encode(bytes) }
    }
}

impl From<Error> for PageError {
    fn from(e: Error) -> Self {
        use crate::saml::authn_request::RequestError;
        let (status, title) = match &e {
            Error::UnknownApp { .. } | Error::NotSaml { .. } | Error::NotFound { .. } => {
                (StatusCode::NOT_FOUND, "Unknown application")
            }
            Error::Denied { .. } => (StatusCode::FORBIDDEN, "Access denied"),
            Error::BadCredentials => (StatusCode::UNAUTHORIZED, "Sign-in failed"),
            Error::PendingExpired => (StatusCode::BAD_REQUEST, "Sign-in expired"),
            Error::Request(RequestError::Malformed(crate::saml::Error::TooLarge { .. }))
            | Error::Saml(crate::saml::Error::TooLarge { .. }) => (StatusCode::PAYLOAD_TOO_LARGE, "Request refused"),
            Error::Request(_) | Error::ReplayedRequest { .. } | Error::Saml(_) => {
                (StatusCode::BAD_REQUEST, "Request refused")
            }
            _ if e.is_internal() => (StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong"),
            _ => (StatusCode::BAD_REQUEST, "Request refused"),
        };
        let message = if status.is_server_error() {
            "The identity provider could not complete this request. Try again, or give the reference below to \
             your administrator."
                .to_owned()
        } else if let Error::Denied { app, reason: crate::directory::access::Denied::AppInactive, .. } = &e {
            format!("Single sign-on to {app} is deactivated. Ask your administrator if you need it.")
        } else if let Error::Denied { app, .. } = &e {
            format!("You do not have access to {app}. Ask your administrator to add you to a group bound to it.")
        } else {
            capitalize(&e.to_string())
        };
        let page = PageError::new(status, title, message);
        if status.is_server_error() {
            tracing::error!(reference = %page.reference, "request failed: {}", with_causes(&e));
        } else {
            tracing::info!(reference = %page.reference, "request refused: {e}");
        }
        page
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let page = ErrorPage { title: &self.title, message: &self.message, request_id: &self.reference };
        match page.render() {
            Ok(html) => (self.status, Html(html)).into_response(),
            Err(_) => (self.status, self.message).into_response(),
        }
    }
}

fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => format!("{}{}.", first.to_uppercase(), chars.as_str()),
        None => String::new(),
    }
}

/// An error and each of its causes, for the log: `database error: database is locked`.
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}
