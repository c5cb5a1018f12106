//! The admin REST API under `/api/v1`: bearer API tokens only (no cookies, so no CSRF), JSON in and out, RFC 9457
//! problems for every error, cursor pagination and filters on lists, and an OpenAPI 3 document generated from
//! these handlers (utoipa) at `/api/v1/openapi.json`.
//!
//! Architecture Invariant: handlers extract, call `services` with `Actor::ApiToken(name)` and convert to the
//! bodies of `model`; no SQL and no rules here.

pub mod apps;
pub mod catalog;
pub mod certificates;
pub mod events;
pub mod groups;
pub mod idm;
pub mod mfa;
pub mod model;
pub mod problem;
pub mod users;

use std::sync::OnceLock;

use axum::extract::{DefaultBodyLimit, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, Method, StatusCode};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use base64::Engine;
use chrono::Utc;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::audit::Actor;
use crate::services::tokens;
use crate::web::AppState;

use problem::Problem;

/// Request bodies may carry SP metadata (up to 512 KiB) escaped in JSON.
const BODY_LIMIT: usize = 1024 * 1024;
/// Items per page when `limit` is not given.
const DEFAULT_LIMIT: u32 = 50;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "sesame admin API",
        version = "1",
        description = "Manage sesame's users, groups, applications (SAML SSO settings, attributes, bound groups, \
            certificates, identity management) and read its events. Authenticate with an API token from \
            `sesame api-token create NAME [--read-only]` or the console's API tokens page as \
            `Authorization: Bearer <token>`; a read-only token may use GET and HEAD only. Every error is an \
            RFC 9457 problem (`application/problem+json`)."
    ),
    security(("bearer" = [])),
    components(schemas(Problem)),
    tags(
        (name = "users", description = "Directory users"),
        (name = "groups", description = "Groups and their members"),
        (name = "applications", description = "Applications, SSO settings, bindings, certificates, identity management"),
        (name = "mfa", description = "The MFA policy: who must sign in with a second factor"),
        (name = "events", description = "The audit log"),
        (name = "meta", description = "This document"),
    )
)]
struct ApiDoc;

/// The document, built once with the router.
static DOCUMENT: OnceLock<String> = OnceLock::new();

/// The API's routes (merged into `web::router`), with their problem responses and body limit.
pub fn router() -> Router<AppState> {
    let (router, mut doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(users::list_users, users::create_user))
        .routes(routes!(users::get_user, users::update_user, users::delete_user))
        .routes(routes!(users::suspend_user))
        .routes(routes!(users::activate_user))
        .routes(routes!(users::unlock_user))
        .routes(routes!(users::invite_user))
        .routes(routes!(users::set_password))
        .routes(routes!(mfa::get_user_mfa, mfa::reset_user_mfa))
        .routes(routes!(mfa::get_policy, mfa::set_policy))
        .routes(routes!(groups::list_groups, groups::create_group))
        .routes(routes!(groups::get_group, groups::rename_group, groups::delete_group))
        .routes(routes!(groups::list_members, groups::add_member))
        .routes(routes!(groups::remove_member))
        .routes(routes!(apps::list_apps, apps::create_app))
        .routes(routes!(apps::get_app, apps::update_app, apps::delete_app))
        .routes(routes!(apps::import_metadata))
        .routes(routes!(apps::change_attribute))
        .routes(routes!(apps::list_bound_groups))
        .routes(routes!(apps::bind_group, apps::unbind_group))
        .routes(routes!(certificates::get_certificate))
        .routes(routes!(certificates::rotate_certificate))
        .routes(routes!(certificates::list_certificates))
        .routes(routes!(certificates::stage_certificate))
        .routes(routes!(certificates::activate_certificate))
        .routes(routes!(certificates::retire_certificate))
        .routes(routes!(apps::refresh_metadata))
        .routes(routes!(apps::approve_held_acs))
        .routes(routes!(apps::reject_held_acs))
        .routes(routes!(apps::put_logo, apps::delete_logo))
        .routes(routes!(idm::activate_idm, idm::deactivate_idm))
        .routes(routes!(idm::list_import_candidates, idm::import_users))
        .routes(routes!(idm::get_mapping, idm::change_mapping))
        .routes(routes!(idm::start_import, idm::list_imports))
        .routes(routes!(catalog::list_connectors))
        .routes(routes!(events::list_events))
        .routes(routes!(openapi_json))
        .split_for_parts();
    Documented.modify(&mut doc);
    let json = doc.to_pretty_json().unwrap_or_else(|e| {
        tracing::error!("the OpenAPI document could not be written: {e}");
        "{}".to_owned()
    });
    let _ = DOCUMENT.set(json);
    router
        // Anything else under /api/v1 is a problem too, not the HTML 404 page.
        .route("/api/v1", any(unknown_route))
        .route("/api/v1/{*rest}", any(unknown_route))
        .layer(middleware::from_fn(problem::problem_responses))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
}

/// The OpenAPI 3 document of this API.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    tag = "meta",
    security(()),
    responses((status = 200, description = "The OpenAPI document", content_type = "application/json", body = Object))
)]
async fn openapi_json() -> Response {
    let body = DOCUMENT.get().cloned().unwrap_or_else(|| "{}".to_owned());
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

async fn unknown_route() -> Problem {
    Problem::of_status(StatusCode::NOT_FOUND, "there is no such API resource".into())
}

/// The API client: an API token presented as `Authorization: Bearer …`, by name, as the actor of its changes.
/// A missing, unknown or revoked token is a 401 with `WWW-Authenticate: Bearer` (RFC 6750 §3.1: `invalid_token`
/// once a token was presented); a read-only token is refused every method but GET and HEAD with a 403 and
/// `error="insufficient_scope"`.
///
/// Architecture Invariant: every handler of this API but `openapi_json` takes a `Caller`, so the scope is enforced
/// here, once, before any handler runs.
#[derive(Debug, Clone)]
pub struct Caller(pub Actor);

impl FromRequestParts<AppState> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
            return Err(Problem::unauthorized("an API token is required: Authorization: Bearer <token>", false));
        };
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim());
        let Some(token) = token else {
            return Err(Problem::unauthorized("the Authorization header must be Bearer <token>", true));
        };
        let client = tokens::authenticate(&state.ctx, token, Utc::now()).await?;
        let is_read = parts.method == Method::GET || parts.method == Method::HEAD;
        if !is_read && !client.scope.allows_changes() {
            return Err(Problem::insufficient_scope(&format!(
                "API token {} is read-only: it may use GET and HEAD only",
                client.name
            )));
        }
        Ok(Self(Actor::ApiToken(client.name)))
    }
}

/// The page size asked for, within bounds.
pub(crate) fn limit(asked: Option<u32>) -> u32 {
    asked.unwrap_or(DEFAULT_LIMIT).clamp(1, crate::services::MAX_PAGE)
}

/// Decodes a `cursor` made by `encode_cursor`.
pub(crate) fn decode_cursor(cursor: Option<&str>) -> Result<Option<String>, Problem> {
    let Some(cursor) = cursor.filter(|c| !c.is_empty()) else {
        return Ok(None);
    };
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .map(Some)
        .ok_or_else(|| Problem::bad_request("the cursor is not one this API gave out"))
}

pub(crate) fn encode_cursor(key: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key.as_bytes())
}

/// The next page's cursor and URL (same filters), or nothing on the last page.
pub(crate) fn next_page(
    path: &str,
    filters: &[(&str, Option<String>)],
    limit: u32,
    next_after: Option<&str>,
) -> (Option<String>, Option<String>) {
    let Some(key) = next_after else {
        return (None, None);
    };
    let cursor = encode_cursor(key);
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in filters {
        if let Some(v) = value {
            query.append_pair(name, v);
        }
    }
    query.append_pair("limit", &limit.to_string());
    query.append_pair("cursor", &cursor);
    let url = format!("{path}?{}", query.finish());
    (Some(cursor), Some(url))
}

/// Adds the bearer scheme and, to every operation, the problem responses it can give: 400, 401, 405 and 500
/// everywhere; 403 (a read-only token) on every method but GET; 404 where a path names a resource; 413, 415 and
/// 422 where a body is read.
struct Documented;

impl Modify for Documented {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("sesame_<43 base64url characters>")
                    .description(Some(
                        "An API token from `sesame api-token create NAME [--read-only]` or the console's API tokens page",
                    ))
                    .build(),
            ),
        );
        for (path, item) in openapi.paths.paths.iter_mut() {
            if path.ends_with("/openapi.json") {
                continue;
            }
            let names_resource = path.contains('{');
            // (operation, may have a body, is a change)
            let operations = [
                (&mut item.get, false, false),
                (&mut item.put, true, true),
                (&mut item.post, true, true),
                (&mut item.delete, false, true),
                (&mut item.patch, true, true),
            ];
            for (operation, has_body, is_change) in operations {
                if let Some(op) = operation.as_mut() {
                    add_problems(op, names_resource, has_body && op.request_body.is_some(), is_change);
                }
            }
        }
    }
}

fn add_problems(op: &mut Operation, names_resource: bool, has_body: bool, is_change: bool) {
    let mut statuses = vec![
        ("400", "The request could not be read (JSON syntax, a query parameter, a cursor)"),
        (
            "401",
            "No API token, one that does not exist, or one that was revoked (type `revoked-token`); \
             WWW-Authenticate: Bearer",
        ),
        ("405", "The path does not take this method"),
        ("500", "The server failed; the detail has a reference for its log"),
        ("503", "The database is briefly unavailable (type `unavailable`); nothing was changed, try again"),
    ];
    if is_change {
        statuses.push(("403", "The API token is read-only (WWW-Authenticate: Bearer error=\"insufficient_scope\")"));
    }
    if names_resource {
        statuses.push(("404", "The named resource does not exist"));
    }
    if has_body {
        statuses.push(("413", "The body is too large"));
        statuses.push(("415", "The body is not of the documented content type"));
        statuses.push(("422", "The body is malformed or a value is invalid"));
    }
    for (status, description) in statuses {
        let response = ResponseBuilder::new()
            .description(description)
            .content(
                problem::CONTENT_TYPE,
                ContentBuilder::new().schema(Some(Ref::from_schema_name("Problem"))).build(),
            )
            .build();
        op.responses.responses.entry(status.to_owned()).or_insert(RefOr::T(response));
    }
}
