//! The admin console: applications, users, groups, events, the dashboard, API tokens and the administrator's own
//! account, as HTML pages.
//!
//! Every page needs the administrator's session (`web::session`, key `admin`); without it the browser is sent to
//! `/admin/login`. Every form carries the session's CSRF token and is refused (403) without it (`Fields`, a
//! `web::session::CsrfForm`). Handlers extract, call one `services` function with `Actor::Admin(name)`, and
//! redirect back with a one-time message (post, redirect, get); they hold no SQL and no business rules. A form
//! with a file input (SP metadata, a portal tile logo) is sent as `multipart/form-data` and read by `Upload`, which checks the same
//! token before anything happens.

pub mod account;
pub mod apps;
pub mod dashboard;
pub mod events;
pub mod tokens;
pub mod users;

use askama::Template;
use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, FromRequestParts, Multipart, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Router;
use chrono::{DateTime, NaiveDateTime, Utc};
use tower_sessions::Session;

use crate::audit::Actor;
use crate::saml::metadata::MAX_SP_METADATA;
use crate::services::{admins, Error};
use crate::web::error::PageError;
use crate::web::session::{check_csrf, csrf_token, current_admin, end_admin, session_error, CsrfFields, CsrfForm};
use crate::web::AppState;

/// The one-time message shown on the page a change redirects to.
const FLASH_KEY: &str = "console_flash";
/// The largest upload the console reads: room for an SP metadata file over its cap (512 KiB) or a logo over its
/// cap (256 KiB), so the page can say how large it was, and for the other fields. Anything larger is refused
/// before its token can be read.
const MAX_UPLOAD_BYTES: usize = 2 * MAX_SP_METADATA;

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
        // The account must still exist, and its credentials must not have changed since this session signed in.
        if !admins::session_is_current(&state.ctx, &admin).await.map_err(|e| PageError::from(e).into_response())? {
            end_admin(&session).await.map_err(IntoResponse::into_response)?;
            return Err(Redirect::to("/admin/login").into_response());
        }
        let csrf_token = csrf_token(&session).await.map_err(IntoResponse::into_response)?;
        let flash =
            if parts.method == Method::GET { session.remove::<Flash>(FLASH_KEY).await.ok().flatten() } else { None };
        Ok(Self { session, username: admin.username, csrf_token, flash })
    }
}

/// A console form (`application/x-www-form-urlencoded`), read only after its CSRF token matched the session's
/// (`CsrfForm`): a form without the token, or with another session's, is refused with 403 before anything happens.
pub type Fields = CsrfForm<FormFields>;

/// The fields of a console form, in the order sent; pages read them by name.
#[derive(Debug, serde::Deserialize)]
#[serde(transparent)]
pub struct FormFields(Vec<(String, String)>);

impl CsrfFields for FormFields {
    fn csrf_token(&self) -> &str {
        self.0.iter().find(|(k, _)| k == "csrf_token").map(|(_, v)| v.as_str()).unwrap_or_default()
    }
}

impl FormFields {
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

/// A file of an `Upload`.
pub struct UploadedFile {
    /// The name the browser gave, for messages only.
    pub file_name: String,
    pub bytes: Bytes,
}

/// A console form that may carry files: `multipart/form-data` (or, without files, the usual urlencoded form).
/// Its text fields are `fields`; like `Fields`, nothing of it is handed out before its CSRF token matched the
/// session's (`check_csrf`, the check of `CsrfForm`). The whole body is read first, up to `MAX_UPLOAD_BYTES`, so
/// the token (wherever it is in the body) is checked before any file is looked at.
pub struct Upload {
    pub fields: FormFields,
    files: Vec<(String, UploadedFile)>,
}

impl Upload {
    /// The file sent as `name`, if one was chosen (browsers send an empty part without a file name otherwise).
    pub fn file(&self, name: &str) -> Option<&UploadedFile> {
        self.files.iter().find(|(k, f)| k == name && !(f.file_name.is_empty() && f.bytes.is_empty())).map(|(_, f)| f)
    }
}

impl FromRequest<AppState> for Upload {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let is_multipart = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("multipart/form-data"));
        if !is_multipart {
            let CsrfForm(fields) = Fields::from_request(request, state).await?;
            return Ok(Self { fields, files: Vec::new() });
        }
        let (mut parts, body) = request.into_parts();
        let session = Session::from_request_parts(&mut parts, state).await.map_err(IntoResponse::into_response)?;
        let Ok(bytes) = axum::body::to_bytes(body, MAX_UPLOAD_BYTES).await else {
            let text = format!(
                "The upload is larger than {} KiB. SP metadata files may be at most {} KiB, logos {} KiB.",
                MAX_UPLOAD_BYTES / 1024,
                MAX_SP_METADATA / 1024,
                crate::directory::logo::MAX_LOGO_BYTES / 1024
            );
            return Err(PageError::new(StatusCode::PAYLOAD_TOO_LARGE, "Upload too large", text).into_response());
        };
        let Some((pairs, files)) = read_multipart(&parts.headers, bytes).await else {
            return Err(PageError::new(StatusCode::BAD_REQUEST, "Unreadable form", "The form could not be read.")
                .into_response());
        };
        let fields = FormFields(pairs);
        check_csrf(&session, fields.csrf_token()).await.map_err(IntoResponse::into_response)?;
        Ok(Self { fields, files })
    }
}

type Parsed = (Vec<(String, String)>, Vec<(String, UploadedFile)>);

/// The text fields and files of a multipart body already read into memory; `None` when it is malformed (a bad
/// boundary, a text field that is not UTF-8).
async fn read_multipart(headers: &HeaderMap, bytes: Bytes) -> Option<Parsed> {
    // A request of its own, so the router's body limit for urlencoded forms does not apply to the upload.
    let mut request = Request::new(Body::from(bytes));
    if let Some(value) = headers.get(header::CONTENT_TYPE) {
        request.headers_mut().insert(header::CONTENT_TYPE, value.clone());
    }
    let mut multipart = Multipart::from_request(request, &()).await.ok()?;
    let (mut pairs, mut files) = (Vec::new(), Vec::new());
    while let Some(field) = multipart.next_field().await.ok()? {
        let name = field.name().unwrap_or_default().to_owned();
        match field.file_name().map(str::to_owned) {
            Some(file_name) => {
                let bytes = field.bytes().await.ok()?;
                files.push((name, UploadedFile { file_name, bytes }));
            }
            None => pairs.push((name, field.text().await.ok()?)),
        }
    }
    Some((pairs, files))
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
    let html = page.render().map_err(PageError::from)?;
    Ok(Html(html).into_response())
}

/// A query value, percent-encoded.
pub fn encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// A path segment, percent-encoded (user and group names may hold spaces or slashes).
pub fn segment(text: &str) -> String {
    crate::web::path_segment(text)
}

/// A `datetime-local` value (`2026-01-31T09:30`, read as UTC) or an RFC 3339 time.
pub fn parse_utc(value: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(value) {
        return Some(t.with_timezone(&Utc));
    }
    ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(value, f).ok())
        .or_else(|| chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d").ok().and_then(|d| d.and_hms_opt(0, 0, 0)))
        .map(|t| t.and_utc())
}

fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => format!("{}{}.", first.to_uppercase(), chars.as_str()),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_browser_and_rfc3339_times() {
        let t = parse_utc("2026-01-31T09:30").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-01-31T09:30:00+00:00");
        assert_eq!(parse_utc("2026-01-31T10:30:00+01:00"), Some(t));
        assert!(parse_utc("yesterday").is_none());
    }
}
