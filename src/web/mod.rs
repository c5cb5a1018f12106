//! HTTP: the SAML endpoints, sign-in and sign-out, the user portal, health, and static assets.
//!
//! Architecture Invariant: handlers extract, call one `services` function and render; no SQL, no XML, no protocol
//! rules here. Every page is an askama template with escaping on.

pub mod account;
pub mod admin;
pub mod api;
pub mod client;
pub mod console;
pub mod error;
pub mod factor;
pub mod invite;
pub mod login;
pub mod logo;
pub mod passkeys;
pub mod portal;
pub mod qr;
pub mod rate;
pub mod saml;
pub mod session;
pub mod slo;

use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer, SessionStore};

use crate::audit::bounded;
use crate::services::Ctx;

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    pub ctx: Ctx,
    /// Anonymous SAML requests per client address (`rate`), in this process.
    pub limiter: std::sync::Arc<rate::Limiter>,
}

impl AppState {
    pub fn new(ctx: Ctx) -> Self {
        Self { ctx, limiter: std::sync::Arc::default() }
    }
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// The default Content-Security-Policy: no inline script or style anywhere, forms post only to us, and scripts
/// talk only to us (`connect-src`: the WebAuthn ceremonies' JSON requests).
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
    connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The whole HTTP application, its sessions kept in `store` (the database's, which `lib::build` opens).
pub fn router<S>(state: AppState, store: S) -> Router
where
    S: SessionStore + Clone,
{
    let config = &state.ctx.config;
    let secure = config.is_https();
    // `__Host-` binds the cookie to our origin, but browsers accept that prefix only on Secure cookies.
    let cookie_name = if secure { "__Host-sesame" } else { "sesame_session" };
    let lifetime = time::Duration::seconds(i64::try_from(config.session_lifetime_secs).unwrap_or(8 * 3600));
    let sessions = SessionManagerLayer::new(error::SessionStoreWatch(store))
        .with_name(cookie_name)
        .with_secure(secure)
        .with_http_only(true)
        // Strict would drop the session on the SP's cross-site redirect to us (notes/rust-stack.md).
        .with_same_site(SameSite::Lax)
        .with_path("/")
        .with_expiry(Expiry::OnInactivity(lifetime));

    Router::new()
        .merge(saml::router())
        .merge(login::router())
        .merge(invite::router())
        .merge(passkeys::router())
        .merge(factor::router())
        .merge(account::router())
        .merge(portal::router())
        .merge(logo::router())
        .merge(admin::router())
        .merge(console::router())
        .merge(api::router())
        .merge(slo::router())
        .route("/healthz", get(healthz))
        .route("/assets/sesame.css", get(stylesheet))
        .route("/assets/autopost.js", get(autopost))
        .route("/assets/logout.js", get(logout_script))
        .route("/assets/console.js", get(console_script))
        .route("/assets/webauthn.js", get(webauthn_script))
        .route("/favicon.ico", get(favicon))
        .fallback(not_found)
        // Inside the session layer, which it reads; before any handler verifies, writes or signs.
        .layer(middleware::from_fn_with_state(state.clone(), rate::anonymous_saml))
        .layer(sessions)
        .layer(middleware::from_fn(security_headers))
        .layer(DefaultBodyLimit::max(256 * 1024))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, Duration::from_secs(30)))
        // Defence in depth: no input should panic (tests/sso.rs fuzzes for it), but if one does, the client gets
        // a 500 and the process keeps serving everyone else.
        .layer(CatchPanicLayer::custom(panic_page))
        // Inside the span: error pages and problems quote the request id, and their errors are logged once.
        .layer(middleware::from_fn(error::report))
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, RandomRequestId))
        .with_state(state)
}

/// The span of one request: its id (as in `x-request-id` and on error pages), method and path (never the query,
/// which carries SAML messages).
fn request_span(request: &Request) -> tracing::Span {
    // A client may send its own request id, and the path is the client's: both bounded in the log.
    let id = bounded(request.headers().get(&REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or_default());
    let path = bounded(request.uri().path());
    tracing::info_span!("request", request.id = %id, http.method = %request.method(), http.path = %path)
}

fn panic_page(_panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked");
    error::PageError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong",
        "The request could not be completed.",
    )
    .into_response()
}

async fn healthz(State(state): State<AppState>) -> Response {
    match state.ctx.db.conn().await {
        Ok(_) => (StatusCode::OK, "ok\n").into_response(),
        Err(e) => {
            tracing::error!("health check: database unavailable: {e}");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable\n").into_response()
        }
    }
}

async fn not_found() -> error::PageError {
    error::PageError::new(StatusCode::NOT_FOUND, "Page not found", "There is nothing at this address.")
}

async fn stylesheet() -> Response {
    static_asset("text/css; charset=utf-8", include_str!("../../assets/sesame.css"))
}

async fn logout_script() -> Response {
    static_asset("text/javascript; charset=utf-8", include_str!("../../assets/logout.js"))
}

async fn favicon() -> Response {
    static_asset("image/svg+xml", include_str!("../../assets/favicon.svg"))
}

async fn webauthn_script() -> Response {
    static_asset("text/javascript; charset=utf-8", include_str!("../../assets/webauthn.js"))
}

async fn console_script() -> Response {
    static_asset("text/javascript; charset=utf-8", include_str!("../../assets/console.js"))
}

async fn autopost() -> Response {
    static_asset("text/javascript; charset=utf-8", include_str!("../../assets/autopost.js"))
}

fn static_asset(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "public, max-age=3600")], body).into_response()
}

/// Adds security headers; a handler that set its own CSP (the SAML POST page, the logout pages) or frame options
/// (logout frames) keeps them.
async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.entry(header::CONTENT_SECURITY_POLICY).or_insert(HeaderValue::from_static(CSP));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // Pages of a logout run may be framed by our own logout page; they set SAMEORIGIN themselves.
    headers.entry(header::X_FRAME_OPTIONS).or_insert(HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    response
}

/// Random request ids, echoed in `x-request-id` and shown on error pages.
#[derive(Clone, Copy)]
struct RandomRequestId;

impl MakeRequestId for RandomRequestId {
    fn make_request_id<B>(&mut self, _request: &axum::http::Request<B>) -> Option<RequestId> {
        let bytes: [u8; 8] = rand::random();
        HeaderValue::from_str(&hex::encode(bytes)).ok().map(RequestId::new)
    }
}

/// `text` as one URL path segment.
pub fn path_segment(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
