//! `/logos/{app}`: the portal tile logo an administrator uploaded, served from our origin with the type its bytes
//! showed at upload (PNG, JPEG or WebP; never SVG), `nosniff` (the security headers layer), a Content-Security-Policy
//! that lets the response itself do nothing (should a browser render it as a document), and caching by version.
//!
//! Logos are public, like the IdP metadata that already names every application: the portal, the console and
//! anyone may fetch them. A request that names the current version (`?v=`, as our pages link) may be cached for a
//! year; any other is revalidated by its ETag.

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::services::apps::logo;
use crate::web::error::PageError;
use crate::web::AppState;

/// The policy of an image response: nothing may load, run or be framed, and a document rendering it is sandboxed.
pub const LOGO_CSP: &str = "default-src 'none'; frame-ancestors 'none'; sandbox";
/// For a URL that names the current version: the bytes at that URL never change.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// For any other request: a cache must ask again (a 304 when the ETag still matches).
const REVALIDATE: &str = "public, no-cache";

pub fn router() -> Router<AppState> {
    Router::new().route("/logos/{app}", get(serve))
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct VersionQuery {
    v: String,
}

async fn serve(
    State(state): State<AppState>,
    Path(app): Path<String>,
    Query(q): Query<VersionQuery>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let Some(image) = logo::image(&state.ctx, &app).await? else {
        return Err(PageError::new(StatusCode::NOT_FOUND, "Page not found", "There is nothing at this address."));
    };
    let etag = format!("\"{}\"", image.version);
    let cache = if q.v == image.version { IMMUTABLE } else { REVALIDATE };
    let mut out = HeaderMap::new();
    out.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    // The version is hex, so always a valid header value.
    if let Ok(value) = HeaderValue::from_str(&etag) {
        out.insert(header::ETAG, value);
    }
    out.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(LOGO_CSP));
    out.insert(
        header::HeaderName::from_static("cross-origin-resource-policy"),
        HeaderValue::from_static("same-origin"),
    );
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    if matches {
        return Ok((StatusCode::NOT_MODIFIED, out).into_response());
    }
    out.insert(header::CONTENT_TYPE, HeaderValue::from_static(image.image_type.media_type()));
    Ok((out, image.bytes).into_response())
}
