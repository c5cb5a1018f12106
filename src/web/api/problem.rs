//! RFC 9457 problem details: the body of every error of `/api/v1`, as `application/problem+json`.

use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::services::error::{with_causes, ErrorKind};
use crate::services::Error;
use crate::web::error::{request_id, Logged};

pub const CONTENT_TYPE: &str = "application/problem+json";

/// A problem: `type` names the kind of problem (a `urn:sesame:problem:` URN, stable for clients to match on),
/// `title` is its short summary, `detail` says what happened this time.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[schema(example = json!({
    "type": "urn:sesame:problem:not-found",
    "title": "Not found",
    "status": 404,
    "detail": "user alice does not exist"
}))]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    #[serde(skip)]
    #[schema(ignore)]
    pub www_authenticate: Option<&'static str>,
    /// An internal failure's error with its causes, for the one log line the `report` middleware writes.
    #[serde(skip)]
    #[schema(ignore)]
    log: Option<String>,
}

impl Problem {
    pub fn new(status: StatusCode, slug: &str, title: &str, detail: impl Into<String>) -> Self {
        Self {
            kind: format!("urn:sesame:problem:{slug}"),
            title: title.to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            www_authenticate: None,
            log: None,
        }
    }

    /// The problem for a bare HTTP status (a route or method that does not exist, a body axum refused).
    pub fn of_status(status: StatusCode, detail: String) -> Self {
        let (slug, title) = match status {
            StatusCode::BAD_REQUEST => ("bad-request", "Bad request"),
            StatusCode::UNAUTHORIZED => ("unauthorized", "Unauthorized"),
            StatusCode::FORBIDDEN => ("forbidden", "Forbidden"),
            StatusCode::NOT_FOUND => ("not-found", "Not found"),
            StatusCode::METHOD_NOT_ALLOWED => ("method-not-allowed", "Method not allowed"),
            StatusCode::CONFLICT => ("conflict", "Conflict"),
            StatusCode::PAYLOAD_TOO_LARGE => ("payload-too-large", "Payload too large"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ("unsupported-media-type", "Unsupported media type"),
            StatusCode::UNPROCESSABLE_ENTITY => ("invalid", "Invalid request"),
            StatusCode::TOO_MANY_REQUESTS => ("too-many-requests", "Too many requests"),
            s if s.is_server_error() => ("internal", "Internal error"),
            _ => ("http-error", "Request failed"),
        };
        let detail = if detail.is_empty() || status.is_server_error() {
            status.canonical_reason().unwrap_or("request failed").to_owned()
        } else {
            detail
        };
        Self::new(status, slug, title, detail)
    }

    pub fn unauthorized(detail: &str, invalid_token: bool) -> Self {
        let mut p = Self::new(StatusCode::UNAUTHORIZED, "unauthorized", "Unauthorized", detail);
        p.www_authenticate = Some(if invalid_token {
            r#"Bearer realm="sesame", error="invalid_token""#
        } else {
            r#"Bearer realm="sesame""#
        });
        p
    }

    /// RFC 6750 §3.1: the token is valid but its scope does not cover the request.
    pub fn insufficient_scope(detail: &str) -> Self {
        let mut p = Self::new(StatusCode::FORBIDDEN, "forbidden", "Forbidden", detail);
        p.www_authenticate = Some(r#"Bearer realm="sesame", error="insufficient_scope""#);
        p
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad-request", "Bad request", detail)
    }

    pub fn invalid(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", "Invalid request", detail)
    }
}

impl From<Error> for Problem {
    fn from(e: Error) -> Self {
        let detail = e.to_string();
        let (status, slug, title) = match e.kind() {
            ErrorKind::NotFound => (StatusCode::NOT_FOUND, "not-found", "Not found"),
            ErrorKind::Conflict => (StatusCode::CONFLICT, "conflict", "Conflict"),
            ErrorKind::Invalid | ErrorKind::Refused | ErrorKind::Expired => {
                (StatusCode::UNPROCESSABLE_ENTITY, "invalid", "Invalid request")
            }
            ErrorKind::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "payload-too-large", "Payload too large"),
            ErrorKind::Denied => (StatusCode::FORBIDDEN, "forbidden", "Forbidden"),
            // RFC 6750 §3.1: a missing, unknown or revoked token is an invalid token (401); a revoked one has its
            // own type for clients to tell.
            ErrorKind::Unauthenticated if matches!(e, Error::RevokedToken { .. }) => {
                let mut p = Self::new(StatusCode::UNAUTHORIZED, "revoked-token", "Token revoked", detail);
                p.www_authenticate = Some(r#"Bearer realm="sesame", error="invalid_token""#);
                return p;
            }
            ErrorKind::Unauthenticated => return Self::unauthorized(&detail, true),
            ErrorKind::Throttled => (StatusCode::TOO_MANY_REQUESTS, "too-many-requests", "Too many requests"),
            ErrorKind::Upstream if matches!(e, Error::Fetch { .. }) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "metadata-unavailable", "Metadata unavailable")
            }
            ErrorKind::Upstream => (StatusCode::UNPROCESSABLE_ENTITY, "idm-refused", "Identity management refused"),
            ErrorKind::Unavailable => {
                let detail = "the service is briefly unavailable; nothing was changed, try again in a moment";
                let mut p = Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "Service unavailable", detail);
                p.log = Some(with_causes(&e));
                return p;
            }
            ErrorKind::Internal => {
                let reference = request_id();
                let detail = format!("the request could not be completed (reference {reference})");
                let mut p = Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "Internal error", detail);
                p.log = Some(with_causes(&e));
                return p;
            }
        };
        Self::new(status, slug, title, detail)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut response = (status, [(header::CONTENT_TYPE, CONTENT_TYPE)], body).into_response();
        if let Some(challenge) = self.www_authenticate {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
        }
        if let Some(text) = self.log {
            response.extensions_mut().insert(Logged { is_internal: true, text });
        }
        response
    }
}

/// Makes every error of the API a problem: axum's own refusals (no such route or method, a body it could not
/// read or parse, a missing content type) arrive as plain text and leave as `application/problem+json`, with
/// the text as the detail. Headers such as `Allow` are kept.
pub async fn problem_responses(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(CONTENT_TYPE));
    if !(status.is_client_error() || status.is_server_error()) || is_problem {
        return response;
    }
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, 16 * 1024).await.unwrap_or_default();
    let detail = String::from_utf8_lossy(&bytes).trim().to_owned();
    let mut out = Problem::of_status(status, detail).into_response();
    for name in [header::ALLOW, header::WWW_AUTHENTICATE, header::RETRY_AFTER] {
        if let Some(value) = parts.headers.get(&name) {
            out.headers_mut().insert(name, value.clone());
        }
    }
    out
}
