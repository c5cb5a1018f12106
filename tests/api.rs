//! The admin REST API (`/api/v1`): every endpoint, its documented problem responses (unauthorized, revoked,
//! read-only, malformed JSON, unknown names, conflicting names), and the OpenAPI document it serves.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use chrono::Utc;
use common::*;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use sesame::audit::Actor;
use sesame::services::tokens::{self, Scope};
use tower::ServiceExt;

struct Answer {
    status: StatusCode,
    content_type: String,
    www_authenticate: Option<String>,
    allow: Option<String>,
    json: Value,
    text: String,
}

impl Answer {
    /// Asserts an RFC 9457 problem with this status and type, and returns its detail.
    fn problem(&self, status: StatusCode, kind: &str) -> String {
        assert_eq!(self.status, status, "{}", self.text);
        assert_eq!(self.content_type, "application/problem+json", "{}", self.text);
        assert_eq!(self.json["status"], status.as_u16(), "{}", self.text);
        assert_eq!(self.json["type"], format!("urn:sesame:problem:{kind}"), "{}", self.text);
        assert!(self.json["title"].as_str().is_some_and(|t| !t.is_empty()));
        self.json["detail"].as_str().unwrap().to_owned()
    }

    fn ok(&self, status: StatusCode) -> &Value {
        assert_eq!(self.status, status, "{}", self.text);
        &self.json
    }
}

struct Api {
    app: TestApp,
    token: String,
}

impl Api {
    async fn new() -> Self {
        let app = TestApp::new().await;
        let token = tokens::create(&app.ctx, &Actor::Cli, "ci", Scope::Full, Utc::now()).await.unwrap();
        Self { app, token }
    }

    /// The same fixture, with a read-only token named `reader` as the caller.
    async fn read_only() -> Self {
        let app = TestApp::new().await;
        let token = tokens::create(&app.ctx, &Actor::Cli, "reader", Scope::ReadOnly, Utc::now()).await.unwrap();
        Self { app, token }
    }

    async fn raw(&self, request: Request<Body>) -> Answer {
        let response = self.app.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let get = |name: header::HeaderName| response.headers().get(name).map(|v| v.to_str().unwrap().to_owned());
        let content_type = get(header::CONTENT_TYPE).unwrap_or_default();
        let www_authenticate = get(header::WWW_AUTHENTICATE);
        let allow = get(header::ALLOW);
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Answer { status, content_type, www_authenticate, allow, json, text }
    }

    fn request(&self, method: Method, uri: &str) -> axum::http::request::Builder {
        Request::builder().method(method).uri(uri).header(header::AUTHORIZATION, format!("Bearer {}", self.token))
    }

    async fn call(&self, method: Method, uri: &str, body: Option<Value>) -> Answer {
        let request = self.request(method, uri);
        let request = match body {
            Some(b) => request.header(header::CONTENT_TYPE, "application/json").body(Body::from(b.to_string())),
            None => request.body(Body::empty()),
        };
        self.raw(request.unwrap()).await
    }

    async fn get(&self, uri: &str) -> Answer {
        self.call(Method::GET, uri, None).await
    }

    async fn send_text(&self, method: Method, uri: &str, content_type: &str, body: &str) -> Answer {
        let request = self.request(method, uri).header(header::CONTENT_TYPE, content_type);
        self.raw(request.body(Body::from(body.to_owned())).unwrap()).await
    }

    /// How many of the latest events name `actor`.
    async fn events_by(&self, actor: &str) -> usize {
        let page = self.get("/api/v1/events?limit=500").await;
        page.ok(StatusCode::OK)["items"].as_array().unwrap().iter().filter(|e| e["actor"] == actor).count()
    }

    async fn event_names(&self, query: &str) -> Vec<String> {
        let page = self.get(&format!("/api/v1/events?{query}")).await;
        page.ok(StatusCode::OK)["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["name"].as_str().unwrap().to_owned())
            .collect()
    }
}

/// Unauthenticated access: no token, a malformed header, an unknown token and a revoked one are all refused
/// with a 401 problem and the Bearer challenge (RFC 6750 §3.1: `invalid_token` once a token was presented); a
/// revoked token keeps its own problem type, so a client can tell it was revoked.
#[tokio::test]
async fn refuses_missing_unknown_and_revoked_tokens() {
    let api = Api::new().await;
    let none = api.raw(Request::get("/api/v1/users").body(Body::empty()).unwrap()).await;
    none.problem(StatusCode::UNAUTHORIZED, "unauthorized");
    assert_eq!(none.www_authenticate.as_deref(), Some(r#"Bearer realm="sesame""#));

    let basic =
        api.raw(Request::get("/api/v1/users").header("authorization", "Basic YTpi").body(Body::empty()).unwrap()).await;
    basic.problem(StatusCode::UNAUTHORIZED, "unauthorized");
    assert!(basic.www_authenticate.unwrap().contains("invalid_token"));

    let forged = format!("Bearer {}", api.token.replace(|c: char| c.is_ascii_lowercase(), "a"));
    let unknown =
        api.raw(Request::get("/api/v1/users").header("authorization", forged).body(Body::empty()).unwrap()).await;
    unknown.problem(StatusCode::UNAUTHORIZED, "unauthorized");
    assert!(unknown.www_authenticate.unwrap().contains("invalid_token"));

    // A session cookie is not a credential for the API (no CSRF exposure): a signed-in portal user gets a 401.
    let cookie = api.app.login("alice", PASSWORD).await;
    let with_cookie =
        api.raw(Request::get("/api/v1/users").header("cookie", cookie).body(Body::empty()).unwrap()).await;
    with_cookie.problem(StatusCode::UNAUTHORIZED, "unauthorized");

    assert_eq!(api.get("/api/v1/users").await.status, StatusCode::OK);
    tokens::revoke(&api.app.ctx, &Actor::Cli, "ci", Utc::now()).await.unwrap();
    let revoked = api.get("/api/v1/users").await;
    assert!(revoked.problem(StatusCode::UNAUTHORIZED, "revoked-token").contains("ci"));
    assert_eq!(revoked.www_authenticate.as_deref(), Some(r#"Bearer realm="sesame", error="invalid_token""#));
    let create = api.call(Method::POST, "/api/v1/groups", Some(json!({"name": "x"}))).await;
    create.problem(StatusCode::UNAUTHORIZED, "revoked-token");
}

/// Privilege escalation by a read-only token (a monitoring or reporting client whose token leaks): it reads
/// users and events, but a POST, PATCH, PUT or DELETE is refused with 403 and the `insufficient_scope`
/// challenge before any handler runs, and nothing changes.
#[tokio::test]
async fn a_read_only_token_reads_and_changes_nothing() {
    let api = Api::read_only().await;
    let users = api.get("/api/v1/users").await;
    assert!(users.ok(StatusCode::OK)["items"].as_array().unwrap().iter().any(|u| u["username"] == "alice"));
    api.get("/api/v1/events").await.ok(StatusCode::OK);
    let head = api.raw(api.request(Method::HEAD, "/api/v1/users").body(Body::empty()).unwrap()).await;
    assert_eq!(head.status, StatusCode::OK);

    let challenge = r#"Bearer realm="sesame", error="insufficient_scope""#;
    let attempts = [
        (Method::POST, "/api/v1/groups", Some(json!({"name": "intruders"}))),
        (Method::PATCH, "/api/v1/users/alice", Some(json!({"email": "evil@example.com"}))),
        (Method::PUT, "/api/v1/applications/acme/groups/outsiders", None),
        (Method::DELETE, "/api/v1/users/alice", None),
    ];
    for (method, uri, body) in attempts {
        let refused = api.call(method.clone(), uri, body).await;
        assert!(refused.problem(StatusCode::FORBIDDEN, "forbidden").contains("read-only"), "{method} {uri}");
        assert_eq!(refused.www_authenticate.as_deref(), Some(challenge), "{method} {uri}");
    }
    let alice = api.get("/api/v1/users/alice").await;
    assert_ne!(alice.ok(StatusCode::OK)["email"], "evil@example.com");
    api.get("/api/v1/groups/intruders").await.problem(StatusCode::NOT_FOUND, "not-found");
    let bound = api.get("/api/v1/applications/acme/groups").await;
    assert!(!bound.text.contains("outsiders"), "{}", bound.text);
    assert_eq!(api.events_by("api_token:reader").await, 0, "no change, no event");
}

/// The same refusal on every change the API offers, read from its own OpenAPI document, so a new handler cannot
/// forget it (the scope is enforced by the `Caller` extractor every handler takes), and each documents its 403.
#[tokio::test]
async fn a_read_only_token_is_refused_every_documented_change() {
    let api = Api::read_only().await;
    let doc = api.raw(Request::get("/api/v1/openapi.json").body(Body::empty()).unwrap()).await;
    let doc = doc.ok(StatusCode::OK).clone();
    let mut n_changes = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        let uri = path
            .replace("{username}", "alice")
            .replace("{name}", "acme")
            .replace("{group}", "staff")
            .replace("{attribute}", "mail");
        for (method, op) in item.as_object().unwrap() {
            let method = match method.as_str() {
                "post" => Method::POST,
                "put" => Method::PUT,
                "patch" => Method::PATCH,
                "delete" => Method::DELETE,
                _ => continue,
            };
            n_changes += 1;
            assert!(op["responses"]["403"].is_object(), "{method} {path} documents 403");
            let refused = api.call(method.clone(), &uri, Some(json!({}))).await;
            refused.problem(StatusCode::FORBIDDEN, "forbidden");
        }
    }
    assert!(n_changes > 20, "{n_changes}");
    assert_eq!(api.events_by("api_token:reader").await, 0);
}

#[tokio::test]
async fn unknown_routes_and_methods_are_problems() {
    let api = Api::new().await;
    api.get("/api/v1/nothing/here").await.problem(StatusCode::NOT_FOUND, "not-found");
    api.get("/api/v1").await.problem(StatusCode::NOT_FOUND, "not-found");
    let wrong = api.call(Method::PUT, "/api/v1/users", Some(json!({}))).await;
    wrong.problem(StatusCode::METHOD_NOT_ALLOWED, "method-not-allowed");
    assert!(wrong.allow.unwrap().contains("GET"));
    // Outside the API, pages stay HTML.
    assert!(api.app.get("/no-such-page", None).await.body.contains("<html"));
}

/// Malformed bodies: bad JSON syntax, wrong types, unknown fields, a missing or wrong content type and an
/// oversized body are each refused with their own problem, never a panic or a plain-text error.
#[tokio::test]
async fn malformed_bodies_are_problems() {
    let api = Api::new().await;
    let syntax = api.send_text(Method::POST, "/api/v1/users", "application/json", "{\"username\": ").await;
    syntax.problem(StatusCode::BAD_REQUEST, "bad-request");
    let types = api.call(Method::POST, "/api/v1/users", Some(json!({"username": 5, "email": "x@example.com"}))).await;
    types.problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    let unknown = api.call(Method::POST, "/api/v1/groups", Some(json!({"name": "g", "colour": "red"}))).await;
    assert!(unknown.problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid").contains("colour"));
    let text = api.send_text(Method::POST, "/api/v1/groups", "text/plain", "{\"name\": \"g\"}").await;
    text.problem(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type");
    let none = api.raw(api.request(Method::POST, "/api/v1/groups").body(Body::from("{}")).unwrap()).await;
    none.problem(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type");
    // Bodies up to 1 MiB are read (SP metadata travels inside JSON); beyond that, 413.
    let big = format!("{{\"name\": \"{}\"}}", "a".repeat(600 * 1024));
    let read = api.send_text(Method::POST, "/api/v1/groups", "application/json", &big).await;
    assert!(read.problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid").contains("group name"));
    let huge = format!("{{\"name\": \"{}\"}}", "a".repeat(2 * 1024 * 1024));
    let large = api.send_text(Method::POST, "/api/v1/groups", "application/json", &huge).await;
    large.problem(StatusCode::PAYLOAD_TOO_LARGE, "payload-too-large");
    let invalid =
        api.call(Method::POST, "/api/v1/users", Some(json!({"username": "dan", "email": "no-at-sign"}))).await;
    assert!(invalid.problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid").contains("email"));
    api.get("/api/v1/users?limit=lots").await.problem(StatusCode::BAD_REQUEST, "bad-request");
    api.get("/api/v1/users?cursor=%%%").await.problem(StatusCode::BAD_REQUEST, "bad-request");
    api.get("/api/v1/users?status=gone").await.problem(StatusCode::BAD_REQUEST, "bad-request");
}

/// The preferred language and the work address's parts: created, read, patched one at a time, checked (a language
/// that is not a tag, an address part with a control character), and described by the OpenAPI schemas.
#[tokio::test]
async fn users_carry_a_preferred_language_and_a_work_address() {
    let api = Api::new().await;
    let body = json!({"username": "ines", "email": "ines@example.com", "preferred_language": "pt-PT",
        "work_street": "Rua Augusta 27", "work_locality": "Lisbon", "work_region": "Lisboa",
        "work_postal_code": "1100-148", "work_country": "PT"});
    let created = api.call(Method::POST, "/api/v1/users", Some(body)).await;
    let user = created.ok(StatusCode::CREATED).clone();
    assert_eq!(user["preferred_language"], "pt-PT");
    assert_eq!(user["work_postal_code"], "1100-148");
    let patched = api.call(Method::PATCH, "/api/v1/users/ines", Some(json!({"work_locality": "Porto"}))).await;
    assert_eq!(patched.ok(StatusCode::OK)["work_locality"], "Porto");
    let read = api.get("/api/v1/users/ines").await;
    let read = read.ok(StatusCode::OK);
    assert_eq!((read["work_locality"].as_str(), read["work_street"].as_str()), (Some("Porto"), Some("Rua Augusta 27")));
    let bad_language = api.call(Method::PATCH, "/api/v1/users/ines", Some(json!({"preferred_language": "pt PT"})));
    assert!(bad_language.await.problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid").contains("language"));
    let bad_street = api.call(Method::PATCH, "/api/v1/users/ines", Some(json!({"work_street": "Rua\r\nX: y"})));
    assert!(bad_street.await.problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid").contains("work_street"));

    let doc = api.raw(Request::get("/api/v1/openapi.json").body(Body::empty()).unwrap()).await;
    let schemas = &doc.ok(StatusCode::OK)["components"]["schemas"];
    for schema in ["UserView", "NewUser", "UserPatch"] {
        for field in
            ["preferred_language", "work_street", "work_locality", "work_region", "work_postal_code", "work_country"]
        {
            assert!(schemas[schema]["properties"][field].is_object(), "{schema}.{field}");
        }
    }
}

#[tokio::test]
async fn manages_users() {
    let api = Api::new().await;
    let body = json!({"username": "dan", "email": "dan@example.com", "display_name": "Dan <i>", "password": "pw-dan-123-long"});
    let created = api.call(Method::POST, "/api/v1/users", Some(body.clone())).await;
    let user = created.ok(StatusCode::CREATED);
    assert_eq!(user["username"], "dan");
    assert_eq!(user["status"], "active");
    assert!(!created.text.contains("pw-dan-123-long") && !created.text.contains("password"), "no password comes back");
    api.call(Method::POST, "/api/v1/users", Some(body)).await.problem(StatusCode::CONFLICT, "conflict");

    let alice = api.get("/api/v1/users/alice").await;
    assert_eq!(alice.ok(StatusCode::OK)["groups"], json!(["staff"]));
    assert!(api.get("/api/v1/users/nobody").await.problem(StatusCode::NOT_FOUND, "not-found").contains("nobody"));

    let patched = api.call(Method::PATCH, "/api/v1/users/dan", Some(json!({"first_name": "Daniel"}))).await;
    assert_eq!(patched.ok(StatusCode::OK)["first_name"], "Daniel");
    assert_eq!(patched.json["email"], "dan@example.com", "fields not given are kept");
    api.call(Method::PATCH, "/api/v1/users/nobody", Some(json!({}))).await.problem(StatusCode::NOT_FOUND, "not-found");

    let suspended = api.call(Method::POST, "/api/v1/users/dan/suspend", None).await;
    assert_eq!(suspended.ok(StatusCode::OK)["status"], "suspended");
    let page = api.get("/api/v1/users?status=suspended").await;
    let names: Vec<&str> =
        page.ok(StatusCode::OK)["items"].as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap()).collect();
    assert_eq!(names, ["carol", "dan"]);
    let active = api.call(Method::POST, "/api/v1/users/dan/activate", None).await;
    assert_eq!(active.ok(StatusCode::OK)["status"], "active");
    api.call(Method::POST, "/api/v1/users/nobody/suspend", None).await.problem(StatusCode::NOT_FOUND, "not-found");

    let set = api.call(Method::PUT, "/api/v1/users/dan/password", Some(json!({"password": "new-secret-456"}))).await;
    assert_eq!(set.status, StatusCode::NO_CONTENT);
    assert!(app_login(&api.app, "dan", "new-secret-456").await);
    api.call(Method::PUT, "/api/v1/users/dan/password", Some(json!({"password": ""})))
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid");

    assert_eq!(api.call(Method::DELETE, "/api/v1/users/dan", None).await.status, StatusCode::NO_CONTENT);
    api.call(Method::DELETE, "/api/v1/users/dan", None).await.problem(StatusCode::NOT_FOUND, "not-found");

    // The changes are events with the token as actor, and no event carries the password.
    let events = api.get("/api/v1/events?user=dan&type=admin&limit=100").await;
    let items = events.ok(StatusCode::OK)["items"].as_array().unwrap().clone();
    assert!(items.iter().all(|e| e["actor"] == "api_token:ci"), "{items:?}");
    let names: Vec<&str> = items.iter().map(|e| e["name"].as_str().unwrap()).collect();
    for expected in
        ["admin_user_create", "admin_user_update", "admin_user_suspend", "admin_user_password", "admin_user_delete"]
    {
        assert!(names.contains(&expected), "{expected} in {names:?}");
    }
    assert!(!events.text.contains("new-secret-456") && !events.text.contains(&api.token));
}

/// A user whose guesses made their client wait is unlocked through the API (an event with the token as actor);
/// an unknown username is 404.
#[tokio::test]
async fn unlocks_a_user() {
    let api = Api::new().await;
    let client: Option<std::net::IpAddr> = None;
    for _ in 0..5 {
        let _ = sesame::services::login::sign_in(&api.app.ctx, "alice", "guess", client, Utc::now()).await;
    }
    assert!(!app_login(&api.app, "alice", PASSWORD).await, "waiting");
    let unlocked = api.call(Method::POST, "/api/v1/users/alice/unlock", None).await;
    assert_eq!(unlocked.ok(StatusCode::OK)["username"], "alice");
    assert!(app_login(&api.app, "alice", PASSWORD).await);
    api.call(Method::POST, "/api/v1/users/nobody/unlock", None).await.problem(StatusCode::NOT_FOUND, "not-found");
    let events = api.get("/api/v1/events?type=admin&limit=100").await;
    let items = events.ok(StatusCode::OK)["items"].as_array().unwrap().clone();
    assert!(items.iter().any(|e| e["name"] == "admin_user_unlock" && e["actor"] == "api_token:ci"), "{items:?}");
}

/// Without SMTP settings an invitation is refused with a problem that says so, and the user shows no invitation.
#[tokio::test]
async fn an_invitation_without_mail_settings_is_a_conflict() {
    let api = Api::new().await;
    api.call(Method::POST, "/api/v1/users/alice/invitation", None).await.problem(StatusCode::CONFLICT, "conflict");
    let alice = api.get("/api/v1/users/alice").await;
    assert!(alice.ok(StatusCode::OK).get("invitation").is_none());
}

async fn app_login(app: &TestApp, username: &str, password: &str) -> bool {
    app.try_login(username, password, "/").await.1.is_some()
}

/// Lists page with a cursor and a `next` link that keeps the filters.
#[tokio::test]
async fn lists_page_and_filter() {
    let api = Api::new().await;
    let first = api.get("/api/v1/users?limit=2").await;
    let page = first.ok(StatusCode::OK);
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    let next = page["next"].as_str().unwrap().to_owned();
    assert!(next.starts_with("/api/v1/users?") && next.contains("limit=2"), "{next}");
    let second = api.get(&next).await;
    let rest = second.ok(StatusCode::OK);
    assert_eq!(rest["items"][0]["username"], "carol");
    assert!(rest["next"].is_null() && rest["next_cursor"].is_null(), "the last page");

    let found = api.get("/api/v1/users?q=ALICE@").await;
    assert_eq!(found.ok(StatusCode::OK)["items"].as_array().unwrap().len(), 1);
    let none = api.get("/api/v1/users?q=%25").await;
    assert_eq!(none.ok(StatusCode::OK)["items"].as_array().unwrap().len(), 0, "% is literal");

    let groups = api.get("/api/v1/groups?q=sta").await;
    assert_eq!(groups.ok(StatusCode::OK)["items"][0]["name"], "staff");
    let apps = api.get("/api/v1/applications?q=crm&kind=saml").await;
    assert_eq!(apps.ok(StatusCode::OK)["items"][0]["name"], "acme");
    let bookmarks = api.get("/api/v1/applications?kind=bookmark").await;
    assert_eq!(bookmarks.ok(StatusCode::OK)["items"].as_array().unwrap().len(), 0);
    api.get("/api/v1/applications?kind=other").await.problem(StatusCode::BAD_REQUEST, "bad-request");
}

#[tokio::test]
async fn manages_groups_and_members() {
    let api = Api::new().await;
    let created = api.call(Method::POST, "/api/v1/groups", Some(json!({"name": "ops"}))).await;
    assert_eq!(created.ok(StatusCode::CREATED)["name"], "ops");
    api.call(Method::POST, "/api/v1/groups", Some(json!({"name": "ops"})))
        .await
        .problem(StatusCode::CONFLICT, "conflict");
    api.call(Method::POST, "/api/v1/groups", Some(json!({"name": " "})))
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid");

    let staff = api.get("/api/v1/groups/staff").await;
    assert_eq!(staff.ok(StatusCode::OK)["applications"], json!(["acme"]));
    api.get("/api/v1/groups/nope").await.problem(StatusCode::NOT_FOUND, "not-found");

    let add = api.call(Method::POST, "/api/v1/groups/ops/members", Some(json!({"username": "bob"}))).await;
    assert_eq!(add.status, StatusCode::NO_CONTENT);
    api.call(Method::POST, "/api/v1/groups/ops/members", Some(json!({"username": "bob"})))
        .await
        .problem(StatusCode::CONFLICT, "conflict");
    api.call(Method::POST, "/api/v1/groups/ops/members", Some(json!({"username": "nobody"})))
        .await
        .problem(StatusCode::NOT_FOUND, "not-found");
    api.call(Method::POST, "/api/v1/groups/nope/members", Some(json!({"username": "bob"})))
        .await
        .problem(StatusCode::NOT_FOUND, "not-found");
    api.call(Method::POST, "/api/v1/groups/ops/members", Some(json!({"user": "bob"})))
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    let members = api.get("/api/v1/groups/ops/members").await;
    assert_eq!(members.ok(StatusCode::OK)["items"], json!(["bob"]));
    let staff_members = api.get("/api/v1/groups/staff/members?limit=1").await;
    assert_eq!(staff_members.ok(StatusCode::OK)["items"], json!(["alice"]));
    let more = api.get(staff_members.json["next"].as_str().unwrap()).await;
    assert_eq!(more.ok(StatusCode::OK)["items"], json!(["carol"]));
    api.get("/api/v1/groups/nope/members").await.problem(StatusCode::NOT_FOUND, "not-found");

    assert_eq!(api.call(Method::DELETE, "/api/v1/groups/ops/members/bob", None).await.status, StatusCode::NO_CONTENT);
    api.call(Method::DELETE, "/api/v1/groups/ops/members/bob", None).await.problem(StatusCode::NOT_FOUND, "not-found");

    let renamed = api.call(Method::PATCH, "/api/v1/groups/ops", Some(json!({"name": "operations"}))).await;
    assert_eq!(renamed.ok(StatusCode::OK)["name"], "operations");
    api.call(Method::PATCH, "/api/v1/groups/operations", Some(json!({"name": "staff"})))
        .await
        .problem(StatusCode::CONFLICT, "conflict");
    api.call(Method::PATCH, "/api/v1/groups/nope", Some(json!({"name": "x"})))
        .await
        .problem(StatusCode::NOT_FOUND, "not-found");
    assert_eq!(api.call(Method::DELETE, "/api/v1/groups/operations", None).await.status, StatusCode::NO_CONTENT);
    api.call(Method::DELETE, "/api/v1/groups/operations", None).await.problem(StatusCode::NOT_FOUND, "not-found");

    let names = api.event_names("type=admin&limit=200").await;
    for expected in [
        "admin_group_create",
        "admin_group_add_member",
        "admin_group_remove_member",
        "admin_group_rename",
        "admin_group_delete",
    ] {
        assert!(names.iter().any(|n| n == expected), "{expected} in {names:?}");
    }
}

#[tokio::test]
async fn manages_applications() {
    let api = Api::new().await;
    let xml = sp_metadata(&api.app.sp_key, false);
    let body =
        json!({"name": "crm", "metadata_xml": xml, "display_label": "CRM", "settings_toml": "signing = \"both\"\n"});
    let created = api.call(Method::POST, "/api/v1/applications", Some(body.clone())).await;
    let app = created.ok(StatusCode::CREATED);
    assert_eq!(app["display_label"], "CRM");
    assert_eq!(app["idp_url"], format!("{BASE}/saml2/crm"));
    assert_eq!(app["sso"]["sp_entity_id"], SP_ENTITY);
    assert_eq!(app["sso"]["signing_mode"], "both");
    assert_eq!(app["sso"]["acs"][0]["url"], ACS);
    assert!(app["certificate"]["fingerprint"].as_str().unwrap().len() == 64);
    api.call(Method::POST, "/api/v1/applications", Some(body)).await.problem(StatusCode::CONFLICT, "conflict");
    let bad_name = json!({"name": "Bad/Name", "metadata_xml": xml});
    api.call(Method::POST, "/api/v1/applications", Some(bad_name))
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    let two = json!({"name": "two", "metadata_xml": xml, "bookmark_url": "https://example.com/"});
    api.call(Method::POST, "/api/v1/applications", Some(two))
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    let not_xml = json!({"name": "junk", "metadata_xml": "<x/>"});
    api.call(Method::POST, "/api/v1/applications", Some(not_xml))
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    let dtd =
        json!({"name": "junk", "metadata_xml": "<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]><x>&e;</x>"});
    api.call(Method::POST, "/api/v1/applications", Some(dtd))
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    let unreachable = json!({"name": "far", "metadata_url": "http://127.0.0.1:1/metadata.xml"});
    api.call(Method::POST, "/api/v1/applications", Some(unreachable))
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY, "metadata-unavailable");
    let file = json!({"name": "far", "metadata_url": "/etc/passwd"});
    api.call(Method::POST, "/api/v1/applications", Some(file))
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid");

    // Every SSO setting can be changed; attributes take constants and the group list.
    let patch = json!({
        "description": "Customer records",
        "show_in_portal": false,
        "name_id_format": "persistent",
        "signing_mode": "response",
        "default_relay_state": "/home",
        "sp_login_url": "https://sp.example.com/login",
        "attributes": [
            {"name": "mail", "property": "email"},
            {"name": "plan", "constant": "gold"},
            {"name": "groups", "groups": true, "enabled": false}
        ]
    });
    let patched = api.call(Method::PATCH, "/api/v1/applications/crm", Some(patch)).await;
    let app = patched.ok(StatusCode::OK);
    assert_eq!(app["description"], "Customer records");
    assert_eq!(app["show_in_portal"], false);
    assert_eq!(app["sso"]["name_id_format"], "persistent");
    assert_eq!(app["sso"]["signing_mode"], "response");
    assert_eq!(app["sso"]["default_relay_state"], "/home");
    assert_eq!(
        app["sso"]["attributes"][1],
        json!({"name": "plan", "name_format": "basic", "constant": "gold", "groups": false, "enabled": true, "jit": false})
    );
    assert_eq!(app["sso"]["attributes"][2]["groups"], true);
    for bad in [
        json!({"signing_mode": "sometimes"}),
        json!({"name_id_source": "shoe_size"}),
        json!({"sp_login_url": "javascript:alert(1)"}),
        json!({"attributes": [{"name": "x", "property": "email", "constant": "y"}]}),
        json!({"assertion_lifetime_secs": 5}),
    ] {
        api.call(Method::PATCH, "/api/v1/applications/crm", Some(bad))
            .await
            .problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    }
    api.call(Method::PATCH, "/api/v1/applications/nope", Some(json!({})))
        .await
        .problem(StatusCode::NOT_FOUND, "not-found");

    let switched =
        api.call(Method::PATCH, "/api/v1/applications/crm/attributes/plan", Some(json!({"enabled": false}))).await;
    assert_eq!(switched.ok(StatusCode::OK)["enabled"], false);
    let sourced = api
        .call(Method::PATCH, "/api/v1/applications/crm/attributes/plan", Some(json!({"property": "department"})))
        .await;
    assert_eq!(sourced.ok(StatusCode::OK)["property"], "department");
    api.call(Method::PATCH, "/api/v1/applications/crm/attributes/nope", Some(json!({"enabled": true})))
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid");

    // Groups: bind, list, conflict, unbind.
    assert_eq!(
        api.call(Method::PUT, "/api/v1/applications/crm/groups/staff", None).await.status,
        StatusCode::NO_CONTENT
    );
    api.call(Method::PUT, "/api/v1/applications/crm/groups/staff", None)
        .await
        .problem(StatusCode::CONFLICT, "conflict");
    api.call(Method::PUT, "/api/v1/applications/crm/groups/nope", None)
        .await
        .problem(StatusCode::NOT_FOUND, "not-found");
    api.call(Method::PUT, "/api/v1/applications/nope/groups/staff", None)
        .await
        .problem(StatusCode::NOT_FOUND, "not-found");
    assert_eq!(api.get("/api/v1/applications/crm/groups").await.ok(StatusCode::OK), &json!(["staff"]));
    assert_eq!(
        api.call(Method::DELETE, "/api/v1/applications/crm/groups/staff", None).await.status,
        StatusCode::NO_CONTENT
    );
    api.call(Method::DELETE, "/api/v1/applications/crm/groups/staff", None)
        .await
        .problem(StatusCode::NOT_FOUND, "not-found");

    // Certificates: the PEM and validity, and a rotation that the IdP's own download follows.
    let cert = api.get("/api/v1/applications/crm/certificate").await;
    let before = cert.ok(StatusCode::OK)["fingerprint"].as_str().unwrap().to_owned();
    assert!(cert.json["pem"].as_str().unwrap().starts_with("-----BEGIN CERTIFICATE-----"));
    assert_eq!(cert.json["expires_soon"], false);
    let rotated = api.call(Method::POST, "/api/v1/applications/crm/certificate/rotate", None).await;
    assert_ne!(rotated.ok(StatusCode::OK)["fingerprint"].as_str().unwrap(), before);
    let download = api.app.get("/saml2/crm/certificate.pem", None).await;
    assert_eq!(download.body.trim(), rotated.json["pem"].as_str().unwrap().trim());
    api.get("/api/v1/applications/nope/certificate").await.problem(StatusCode::NOT_FOUND, "not-found");

    // Metadata as the body: JSON is the wrong media type; XML creates, then updates.
    let wrong = api.send_text(Method::PUT, "/api/v1/applications/raw/metadata", "application/json", &xml).await;
    wrong.problem(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type");
    let made =
        api.send_text(Method::PUT, "/api/v1/applications/raw/metadata", "application/samlmetadata+xml", &xml).await;
    assert_eq!(made.ok(StatusCode::CREATED)["name"], "raw");
    let again =
        api.send_text(Method::PUT, "/api/v1/applications/raw/metadata", "application/xml; charset=utf-8", &xml).await;
    again.ok(StatusCode::OK);
    api.send_text(Method::PUT, "/api/v1/applications/raw/metadata", "application/xml", "<x/>")
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid");

    // Bookmarks: no SSO settings, no certificate.
    let bookmark = json!({"name": "wiki", "bookmark_url": "https://wiki.example.com/", "display_label": "Wiki"});
    let made = api.call(Method::POST, "/api/v1/applications", Some(bookmark)).await;
    assert_eq!(made.ok(StatusCode::CREATED)["kind"], "bookmark");
    assert!(made.json["sso"].is_null() && made.json["certificate"].is_null());
    api.call(Method::PATCH, "/api/v1/applications/wiki", Some(json!({"signing_mode": "both"})))
        .await
        .problem(StatusCode::CONFLICT, "conflict");
    let moved = api
        .call(Method::PATCH, "/api/v1/applications/wiki", Some(json!({"bookmark_url": "https://wiki2.example.com/"})))
        .await;
    assert_eq!(moved.ok(StatusCode::OK)["bookmark_url"], "https://wiki2.example.com/");
    api.call(Method::POST, "/api/v1/applications/wiki/certificate/rotate", None)
        .await
        .problem(StatusCode::CONFLICT, "conflict");
    api.send_text(Method::PUT, "/api/v1/applications/wiki/metadata", "application/xml", &xml)
        .await
        .problem(StatusCode::CONFLICT, "conflict");

    // From the catalog.
    let connectors = api.get("/api/v1/catalog?q=hoxhunt").await;
    assert_eq!(connectors.ok(StatusCode::OK)[0]["placeholders"][0]["name"], "YOUR_ORG_ID");
    let from_catalog =
        json!({"name": "hox", "connector": "hoxhunt", "values": {"YOUR_ORG_ID": "5f3c2a1b9d8e7f6a5b4c3d2e"}});
    let made = api.call(Method::POST, "/api/v1/applications", Some(from_catalog.clone())).await;
    assert_eq!(made.ok(StatusCode::CREATED)["sso"]["connector"], "hoxhunt");
    assert!(made.json["sso"]["attributes"].as_array().unwrap().iter().any(|a| a["jit"] == true));
    api.call(Method::POST, "/api/v1/applications", Some(from_catalog)).await.problem(StatusCode::CONFLICT, "conflict");
    let unfilled = json!({"name": "hox2", "connector": "hoxhunt"});
    api.call(Method::POST, "/api/v1/applications", Some(unfilled))
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    let unknown = json!({"name": "x", "connector": "nope"});
    assert_ne!(api.call(Method::POST, "/api/v1/applications", Some(unknown)).await.status, StatusCode::CREATED);

    let full = api.get("/api/v1/applications/acme").await;
    assert_eq!(full.ok(StatusCode::OK)["bound_groups"], json!(["staff"]));
    assert_eq!(full.json["sso"]["attributes"][3]["groups"], true);
    api.get("/api/v1/applications/nope").await.problem(StatusCode::NOT_FOUND, "not-found");

    assert_eq!(api.call(Method::DELETE, "/api/v1/applications/crm", None).await.status, StatusCode::NO_CONTENT);
    api.get("/api/v1/applications/crm").await.problem(StatusCode::NOT_FOUND, "not-found");
    api.call(Method::DELETE, "/api/v1/applications/crm", None).await.problem(StatusCode::NOT_FOUND, "not-found");
    assert_eq!(api.app.get("/saml2/crm/metadata", None).await.status, StatusCode::NOT_FOUND);

    let names = api.event_names("app=crm&limit=100").await;
    for expected in [
        "admin_app_create",
        "admin_app_update",
        "admin_app_bind",
        "admin_app_unbind",
        "admin_app_rotate_cert",
        "admin_app_delete",
    ] {
        assert!(names.iter().any(|n| n == expected), "{expected} in {names:?}");
    }
}

/// Identity management through the API: refusals are problems, and the token never comes back.
#[tokio::test]
async fn identity_management_refusals_are_problems() {
    let api = Api::new().await;
    let activate = json!({"base_url": "http://127.0.0.1:1/scim/v2", "token": "scim-secret-token"});
    let refused = api.call(Method::PUT, "/api/v1/applications/acme/idm", Some(activate.clone())).await;
    let detail = refused.problem(StatusCode::UNPROCESSABLE_ENTITY, "idm-refused");
    assert!(!detail.contains("scim-secret-token"));
    api.call(Method::PUT, "/api/v1/applications/nope/idm", Some(activate))
        .await
        .problem(StatusCode::NOT_FOUND, "not-found");
    api.call(Method::PUT, "/api/v1/applications/acme/idm", Some(json!({"base_url": "x"})))
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    api.call(Method::DELETE, "/api/v1/applications/acme/idm", None)
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY, "idm-refused");
    api.get("/api/v1/applications/acme/idm/import").await.problem(StatusCode::UNPROCESSABLE_ENTITY, "idm-refused");
    let import = api.call(Method::POST, "/api/v1/applications/acme/idm/import", Some(json!({"all_new": true}))).await;
    import.problem(StatusCode::UNPROCESSABLE_ENTITY, "idm-refused");
    api.call(Method::POST, "/api/v1/applications/acme/idm/import", Some(json!({})))
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    let events = api.get("/api/v1/events?app=acme&limit=100").await;
    assert!(!events.text.contains("scim-secret-token"));
}

#[tokio::test]
async fn filters_and_pages_events() {
    let api = Api::new().await;
    app_login(&api.app, "alice", "wrong").await;
    app_login(&api.app, "alice", PASSWORD).await;
    let failed = api.get("/api/v1/events?user=alice&success=false").await;
    let items = failed.ok(StatusCode::OK)["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["name"], "user_login_failed");
    assert_eq!(api.event_names("name=user_login&user=alice").await, ["user_login"]);
    let types = api.event_names("type=user&limit=100").await;
    assert!(types.iter().all(|n| n.starts_with("user_")) && !types.is_empty());
    let bound = api.event_names("app=acme&name=admin_app_bind").await;
    assert_eq!(bound, ["admin_app_bind"]);
    let future = (Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    assert!(api.event_names(&format!("since={}", urlencode(&future))).await.is_empty());
    assert!(!api.event_names(&format!("until={}", urlencode(&future))).await.is_empty());
    let past = (Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    assert!(api.event_names(&format!("until={}", urlencode(&past))).await.is_empty());

    // Pages of one event walk back through all of them, newest first, without repeats.
    let all = api.get("/api/v1/events?limit=500").await.ok(StatusCode::OK)["items"].as_array().unwrap().len();
    let mut seen = Vec::new();
    let mut next = Some("/api/v1/events?limit=1".to_owned());
    while let Some(url) = next {
        let page = api.get(&url).await;
        let body = page.ok(StatusCode::OK);
        seen.push(body["items"][0]["id"].as_i64().unwrap());
        next = body["next"].as_str().map(str::to_owned);
    }
    assert_eq!(seen.len(), all);
    let mut unique = seen.clone();
    unique.dedup();
    assert_eq!(unique, seen);

    api.get("/api/v1/events?name=no_such_event").await.problem(StatusCode::BAD_REQUEST, "bad-request");
    api.get("/api/v1/events?since=yesterday").await.problem(StatusCode::BAD_REQUEST, "bad-request");
    api.get("/api/v1/events?success=maybe").await.problem(StatusCode::BAD_REQUEST, "bad-request");
    api.get("/api/v1/events?cursor=bm90LWEta2V5").await.problem(StatusCode::BAD_REQUEST, "bad-request");
}

/// The OpenAPI document: every route with its method, the bearer scheme, and the problem responses.
#[tokio::test]
async fn serves_an_openapi_document_of_every_route() {
    let api = Api::new().await;
    let doc = api.raw(Request::get("/api/v1/openapi.json").body(Body::empty()).unwrap()).await;
    let doc = doc.ok(StatusCode::OK).clone();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
    assert_eq!(doc["security"], json!([{"bearer": []}]));
    assert!(doc["components"]["schemas"]["Problem"]["properties"]["type"].is_object());
    let expected = [
        ("get", "/api/v1/users"),
        ("post", "/api/v1/users"),
        ("get", "/api/v1/users/{username}"),
        ("patch", "/api/v1/users/{username}"),
        ("delete", "/api/v1/users/{username}"),
        ("post", "/api/v1/users/{username}/suspend"),
        ("post", "/api/v1/users/{username}/activate"),
        ("post", "/api/v1/users/{username}/unlock"),
        ("post", "/api/v1/users/{username}/invitation"),
        ("put", "/api/v1/users/{username}/password"),
        ("get", "/api/v1/users/{username}/mfa"),
        ("delete", "/api/v1/users/{username}/mfa"),
        ("get", "/api/v1/mfa/policy"),
        ("put", "/api/v1/mfa/policy"),
        ("get", "/api/v1/groups"),
        ("post", "/api/v1/groups"),
        ("get", "/api/v1/groups/{name}"),
        ("patch", "/api/v1/groups/{name}"),
        ("delete", "/api/v1/groups/{name}"),
        ("get", "/api/v1/groups/{name}/members"),
        ("post", "/api/v1/groups/{name}/members"),
        ("delete", "/api/v1/groups/{name}/members/{username}"),
        ("get", "/api/v1/applications"),
        ("post", "/api/v1/applications"),
        ("get", "/api/v1/applications/{name}"),
        ("patch", "/api/v1/applications/{name}"),
        ("delete", "/api/v1/applications/{name}"),
        ("put", "/api/v1/applications/{name}/metadata"),
        ("patch", "/api/v1/applications/{name}/attributes/{attribute}"),
        ("get", "/api/v1/applications/{name}/groups"),
        ("put", "/api/v1/applications/{name}/groups/{group}"),
        ("delete", "/api/v1/applications/{name}/groups/{group}"),
        ("get", "/api/v1/applications/{name}/certificate"),
        ("post", "/api/v1/applications/{name}/certificate/rotate"),
        ("get", "/api/v1/applications/{name}/certificates"),
        ("post", "/api/v1/applications/{name}/certificate/stage"),
        ("post", "/api/v1/applications/{name}/certificate/activate"),
        ("post", "/api/v1/applications/{name}/certificate/retire"),
        ("post", "/api/v1/applications/{name}/metadata/refresh"),
        ("post", "/api/v1/applications/{name}/metadata/held/approve"),
        ("post", "/api/v1/applications/{name}/metadata/held/reject"),
        ("put", "/api/v1/applications/{name}/logo"),
        ("delete", "/api/v1/applications/{name}/logo"),
        ("put", "/api/v1/applications/{name}/idm"),
        ("delete", "/api/v1/applications/{name}/idm"),
        ("get", "/api/v1/applications/{name}/idm/import"),
        ("post", "/api/v1/applications/{name}/idm/import"),
        ("get", "/api/v1/applications/{name}/idm/mapping"),
        ("patch", "/api/v1/applications/{name}/idm/mapping"),
        ("get", "/api/v1/applications/{name}/idm/imports"),
        ("post", "/api/v1/applications/{name}/idm/imports"),
        ("get", "/api/v1/catalog"),
        ("get", "/api/v1/events"),
        ("get", "/api/v1/openapi.json"),
    ];
    let paths = doc["paths"].as_object().unwrap();
    let mut documented = 0;
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            if !["get", "put", "post", "patch", "delete"].contains(&method.as_str()) {
                continue;
            }
            documented += 1;
            assert!(expected.contains(&(method.as_str(), path.as_str())), "undocumented in the test: {method} {path}");
            if path != "/api/v1/openapi.json" {
                let problem = &op["responses"]["401"]["content"]["application/problem+json"]["schema"]["$ref"];
                assert_eq!(problem, "#/components/schemas/Problem", "{method} {path}");
            }
            if op.get("requestBody").is_some() {
                assert!(op["responses"]["422"].is_object(), "{method} {path}");
            }
            if path.contains('{') {
                assert!(op["responses"]["404"].is_object(), "{method} {path}");
            }
        }
    }
    assert_eq!(documented, expected.len());
    // Refusals by the application's state, on operations without a body, are documented where they are sent: 422
    // (nothing staged or to retire, identity management not active) and 409 (a bookmark has no certificates).
    let state_refusals = [
        ("post", "/api/v1/applications/{name}/certificate/stage", "422"),
        ("post", "/api/v1/applications/{name}/certificate/retire", "422"),
        ("delete", "/api/v1/applications/{name}/idm", "422"),
        ("get", "/api/v1/applications/{name}/idm/import", "422"),
        ("get", "/api/v1/applications/{name}/certificate", "409"),
        ("get", "/api/v1/applications/{name}/certificates", "409"),
        ("post", "/api/v1/applications/{name}/certificate/rotate", "409"),
        ("post", "/api/v1/applications/{name}/certificate/stage", "409"),
        ("post", "/api/v1/applications/{name}/certificate/activate", "409"),
        ("post", "/api/v1/applications/{name}/certificate/retire", "409"),
        ("patch", "/api/v1/applications/{name}/attributes/{attribute}", "409"),
        ("post", "/api/v1/applications/{name}/metadata/refresh", "409"),
        ("post", "/api/v1/applications/{name}/metadata/held/approve", "422"),
    ];
    for (method, path, status) in state_refusals {
        let problem = &doc["paths"][path][method]["responses"][status]["content"]["application/problem+json"];
        assert_eq!(problem["schema"]["$ref"], "#/components/schemas/Problem", "{method} {path} {status}");
    }
    // The write-only secrets are marked so.
    assert_eq!(doc["components"]["schemas"]["IdmActivate"]["properties"]["token"]["writeOnly"], true);
}

/// Identity management end to end against a real SCIM server: activate (the token goes in and never comes
/// out), list and import the SP's users, deactivate.
#[tokio::test]
async fn activates_imports_and_deactivates_identity_management() {
    use common::scim::{ScimPeer, TOKEN};
    let api = Api::new().await;
    let scim = ScimPeer::start();
    scim.create_user("dave", "dave@example.com").await;
    let activate = json!({"base_url": scim.base_url(), "token": TOKEN, "manage_groups": true});
    let active = api.call(Method::PUT, "/api/v1/applications/acme/idm", Some(activate)).await;
    let idm = active.ok(StatusCode::OK);
    assert_eq!(idm["is_active"], true);
    assert_eq!(idm["manage_groups"], true);
    assert_eq!(idm["base_url"], scim.base_url());
    assert!(!active.text.contains(TOKEN));
    let app = api.get("/api/v1/applications/acme").await;
    assert_eq!(app.ok(StatusCode::OK)["idm"]["is_active"], true);
    assert!(!app.text.contains(TOKEN));

    let candidates = api.get("/api/v1/applications/acme/idm/import").await;
    let dave =
        candidates.ok(StatusCode::OK).as_array().unwrap().iter().find(|c| c["user_name"] == "dave").unwrap().clone();
    assert_eq!(dave["status"], "new");
    let imported =
        api.call(Method::POST, "/api/v1/applications/acme/idm/import", Some(json!({"users": ["dave"]}))).await;
    assert_eq!(imported.ok(StatusCode::OK)["imported"], json!(["dave"]));
    assert_eq!(api.get("/api/v1/users/dave").await.ok(StatusCode::OK)["email"], "dave@example.com");
    let again = api.call(Method::POST, "/api/v1/applications/acme/idm/import", Some(json!({"users": ["dave"]}))).await;
    assert_eq!(again.ok(StatusCode::OK)["skipped"][0]["username"], "dave");
    // An SP account whose address a directory user already has (in another case) is not imported: one NameID, two
    // people.
    scim.create_user("mallory", "DAVE@example.com").await;
    let twin =
        api.call(Method::POST, "/api/v1/applications/acme/idm/import", Some(json!({"users": ["mallory"]}))).await;
    let skipped = twin.ok(StatusCode::OK)["skipped"][0].clone();
    assert_eq!(skipped["username"], "mallory");
    assert!(skipped.to_string().contains("e-mail address DAVE@example.com is already used by user dave"), "{skipped}");

    // The attribute mapping: required entries stay, optional ones can be excluded and restored.
    let mapping = api.get("/api/v1/applications/acme/idm/mapping").await.ok(StatusCode::OK).clone();
    let rows = mapping.as_array().unwrap();
    assert!(rows.iter().any(|r| r["scim"] == "userName" && r["required"] == true));
    let change = |body| api.call(Method::PATCH, "/api/v1/applications/acme/idm/mapping", Some(body));
    change(json!({"exclude": ["userName"]})).await.problem(StatusCode::UNPROCESSABLE_ENTITY, "idm-refused");
    change(json!({"exclude": "title"})).await.problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    let excluded = change(json!({"exclude": ["title"]})).await.ok(StatusCode::OK).clone();
    assert!(excluded.as_array().unwrap().iter().any(|r| r["scim"] == "title" && r["excluded"] == true));
    let restored = change(json!({"restore_all": true})).await.ok(StatusCode::OK).clone();
    assert!(restored.as_array().unwrap().iter().all(|r| r["excluded"] == false));
    api.get("/api/v1/applications/nope/idm/mapping").await.problem(StatusCode::NOT_FOUND, "not-found");

    // A background import: 202 with its progress, which the listing then shows.
    scim.create_user("erin", "erin@example.com").await;
    let imports = "/api/v1/applications/acme/idm/imports";
    api.call(Method::POST, imports, Some(json!({}))).await.problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    let started =
        api.call(Method::POST, imports, Some(json!({"all_new": true}))).await.ok(StatusCode::ACCEPTED).clone();
    assert_eq!(started["state"], "listing");
    api.app.run_provisioning().await;
    let listed = api.get(imports).await.ok(StatusCode::OK).clone();
    assert_eq!(listed[0]["id"], started["id"]);
    assert_eq!((listed[0]["state"].as_str(), listed[0]["imported"].as_i64()), (Some("done"), Some(1)));
    assert_eq!(api.get("/api/v1/users/erin").await.ok(StatusCode::OK)["email"], "erin@example.com");

    assert_eq!(api.call(Method::DELETE, "/api/v1/applications/acme/idm", None).await.status, StatusCode::NO_CONTENT);
    let app = api.get("/api/v1/applications/acme").await;
    assert_eq!(app.ok(StatusCode::OK)["idm"]["is_active"], false);
    let events = api.get("/api/v1/events?app=acme&type=idm").await;
    let items = events.ok(StatusCode::OK)["items"].as_array().unwrap().clone();
    let names: Vec<&str> = items.iter().map(|e| e["name"].as_str().unwrap()).collect();
    let expected =
        ["idm_integration_delete", "idm_integration_update", "idm_integration_update", "idm_integration_activate"];
    assert_eq!(names, expected, "activation, two mapping changes, deactivation");
    assert!(items.iter().all(|e| e["actor"] == "api_token:ci"));
    assert!(!events.text.contains(TOKEN));
}

/// Rotation without downtime through the API: stage (two certificates published), activate (the staged one signs),
/// retire (one left); each step out of order is a problem. A metadata refresh reports what changed at the URL.
#[tokio::test]
async fn rotates_certificates_in_steps_and_refreshes_metadata() {
    let api = Api::new().await;
    let certs = "/api/v1/applications/acme/certificates";
    let first = api.get(certs).await.ok(StatusCode::OK).clone();
    assert_eq!(first.as_array().unwrap().len(), 1);
    let current = first[0]["fingerprint"].as_str().unwrap().to_owned();

    let activate = "/api/v1/applications/acme/certificate/activate";
    api.call(Method::POST, activate, Some(json!({}))).await.problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    let retire = "/api/v1/applications/acme/certificate/retire";
    api.call(Method::POST, retire, None).await.problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    let staged = api.call(Method::POST, "/api/v1/applications/acme/certificate/stage", None).await;
    let next = staged.ok(StatusCode::OK)["fingerprint"].as_str().unwrap().to_owned();
    let published: Vec<String> = api
        .get(certs)
        .await
        .ok(StatusCode::OK)
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["fingerprint"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(published, [current.clone(), next.clone()], "current first, then the staged one");
    api.call(Method::POST, activate, Some(json!({"at": "soon"})))
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    let later = api.call(Method::POST, activate, Some(json!({"at": "2999-01-01T00:00:00Z"}))).await;
    assert_eq!(later.ok(StatusCode::OK)["outcome"], "scheduled");
    let now = api.call(Method::POST, activate, Some(json!({}))).await;
    assert_eq!(
        (now.ok(StatusCode::OK)["outcome"].as_str(), now.json["fingerprint"].as_str()),
        (Some("activated"), Some(next.as_str()))
    );
    let retired = api.call(Method::POST, retire, None).await;
    assert_eq!(retired.ok(StatusCode::OK)["fingerprint"], current.as_str());
    let left = api.get(certs).await.ok(StatusCode::OK).clone();
    assert_eq!(left.as_array().unwrap().len(), 1);
    assert_eq!(left[0]["fingerprint"], next.as_str());
    api.get("/api/v1/applications/nope/certificates").await.problem(StatusCode::NOT_FOUND, "not-found");
    let names = api.event_names("app=acme&type=admin").await;
    for step in ["admin_app_stage_cert", "admin_app_activate_cert", "admin_app_retire_cert"] {
        assert!(names.iter().any(|n| n == step), "{step} in {names:?}");
    }

    // Metadata refresh: only for an application registered from a URL.
    let refresh = "/api/v1/applications/acme/metadata/refresh";
    api.call(Method::POST, refresh, None).await.problem(StatusCode::NOT_FOUND, "not-found");
    let document = std::sync::Arc::new(std::sync::Mutex::new(sp_metadata(&api.app.sp_key, false)));
    let served = document.clone();
    let router = axum::Router::new().route(
        "/md",
        axum::routing::get(move || {
            let served = served.clone();
            async move { served.lock().unwrap().clone() }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/md", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let created =
        api.call(Method::POST, "/api/v1/applications", Some(json!({"name": "web", "metadata_url": url}))).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let refresh = "/api/v1/applications/web/metadata/refresh";
    assert_eq!(api.call(Method::POST, refresh, None).await.ok(StatusCode::OK)["outcome"], "unchanged");
    let moved = document.lock().unwrap().replace("https://sp.example.com/acs2", "https://sp.example.com/acs-moved");
    *document.lock().unwrap() = moved;
    let changed = api.call(Method::POST, refresh, None).await;
    assert_eq!(changed.ok(StatusCode::OK)["outcome"], "changed", "{}", changed.text);
    assert!(changed.text.contains("acs-moved"), "{}", changed.text);
}

/// Assertion redirection through metadata, decided over the API: a refresh that moves the ACS URLs to a new host
/// is held; the application's metadata source shows the held URLs, and approve applies them, reject drops them.
/// Nothing held (or no metadata URL) is a 404, and a read-only token may not decide.
#[tokio::test]
async fn a_held_acs_change_is_shown_approved_and_rejected() {
    let api = Api::new().await;
    let approve = "/api/v1/applications/web/metadata/held/approve";
    let reject = "/api/v1/applications/web/metadata/held/reject";
    let document = std::sync::Arc::new(std::sync::Mutex::new(sp_metadata(&api.app.sp_key, false)));
    let served = document.clone();
    let router = axum::Router::new().route(
        "/md",
        axum::routing::get(move || {
            let served = served.clone();
            async move { served.lock().unwrap().clone() }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/md", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let created =
        api.call(Method::POST, "/api/v1/applications", Some(json!({"name": "web", "metadata_url": url}))).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    assert_eq!(created.json["sso"]["metadata_source"]["url"], url.as_str());
    assert_eq!(created.json["sso"]["metadata_source"]["held_acs"], json!([]));
    api.call(Method::POST, approve, None).await.problem(StatusCode::NOT_FOUND, "not-found");
    api.call(Method::POST, reject, None).await.problem(StatusCode::NOT_FOUND, "not-found");
    let no_source = "/api/v1/applications/acme/metadata/held/approve";
    api.call(Method::POST, no_source, None).await.problem(StatusCode::NOT_FOUND, "not-found");
    let unknown = "/api/v1/applications/nope/metadata/held/reject";
    api.call(Method::POST, unknown, None).await.problem(StatusCode::NOT_FOUND, "not-found");

    const MOVED: &str = "https://moved.example.net/acs";
    let moved = document.lock().unwrap().replace(ACS2, MOVED);
    *document.lock().unwrap() = moved;
    let refresh = "/api/v1/applications/web/metadata/refresh";
    let refreshed = api.call(Method::POST, refresh, None).await;
    assert!(refreshed.ok(StatusCode::OK)["details"].to_string().contains("held"), "{}", refreshed.text);
    let shown = api.get("/api/v1/applications/web").await.ok(StatusCode::OK).clone();
    assert_eq!(shown["sso"]["metadata_source"]["held_acs"], json!([ACS, MOVED]));
    let acs_urls = |app: &Value| -> Vec<String> {
        app["sso"]["acs"].as_array().unwrap().iter().map(|a| a["url"].as_str().unwrap().to_owned()).collect()
    };
    assert!(!acs_urls(&shown).contains(&MOVED.to_owned()), "held, not applied");

    let reader = tokens::create(&api.app.ctx, &Actor::Cli, "reader", Scope::ReadOnly, Utc::now()).await.unwrap();
    let request = Request::post(approve).header(header::AUTHORIZATION, format!("Bearer {reader}"));
    api.raw(request.body(Body::empty()).unwrap()).await.problem(StatusCode::FORBIDDEN, "forbidden");

    let approved = api.call(Method::POST, approve, None).await.ok(StatusCode::OK).clone();
    assert_eq!(acs_urls(&approved), [ACS, MOVED]);
    assert_eq!(approved["sso"]["metadata_source"]["held_acs"], json!([]));
    api.call(Method::POST, approve, None).await.problem(StatusCode::NOT_FOUND, "not-found");

    // A second move is held again, and rejected: the approved URLs stay.
    let again = document.lock().unwrap().replace(MOVED, "https://elsewhere.example.net/acs");
    *document.lock().unwrap() = again;
    api.call(Method::POST, refresh, None).await.ok(StatusCode::OK);
    let rejected = api.call(Method::POST, reject, None).await.ok(StatusCode::OK).clone();
    assert_eq!(acs_urls(&rejected), [ACS, MOVED]);
    assert_eq!(rejected["sso"]["metadata_source"]["held_acs"], json!([]));
    api.call(Method::POST, reject, None).await.problem(StatusCode::NOT_FOUND, "not-found");
    let details = api.get("/api/v1/events?app=web&limit=50").await.text;
    assert!(details.contains("held ACS change approved") && details.contains("held ACS change rejected"), "{details}");
}

/// The start of a PNG, a JPEG and a WebP file: what the logo check reads (the signature of each format).
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";
const JPEG: &[u8] = b"\xff\xd8\xff\xe0\0\x10JFIF\0\x01\x01\0\0\x01\0\x01\0\0\xff\xd9";
const WEBP: &[u8] = b"RIFF\x1a\0\0\0WEBPVP8L\x0d\0\0\0\x2f\0\0\0\x10\x07\x10\x11\x11\x88\x88\xfe\x07\0";

/// Portal tile logos through the API: the image is the raw body with its type; each of PNG, JPEG and WebP is
/// stored and shown on the application (`logo`), and served at its URL with that type. Script from our origin: an
/// SVG (declared as such: 415; declared as PNG: 422), an HTML page declared `image/png`, or bytes of another format
/// than declared are refused; over 256 KiB is a 413, within the API's body limit and beyond it. Nothing refused is
/// stored.
#[tokio::test]
async fn uploads_and_removes_a_portal_tile_logo() {
    let api = Api::new().await;
    let uri = "/api/v1/applications/acme/logo";
    let put = |content_type: &'static str, body: Vec<u8>| {
        let request = api.request(Method::PUT, uri).header(header::CONTENT_TYPE, content_type);
        api.raw(request.body(Body::from(body)).unwrap())
    };
    for (bytes, media_type) in [(PNG, "image/png"), (JPEG, "image/jpeg"), (WEBP, "image/webp")] {
        let stored = put(media_type, bytes.to_vec()).await;
        let view = stored.ok(StatusCode::OK).clone();
        assert_eq!(view["media_type"], media_type);
        assert_eq!(view["size"], bytes.len());
        let url = view["url"].as_str().unwrap().to_owned();
        assert!(url.starts_with("/logos/acme?v="), "{url}");
        let shown = api.get("/api/v1/applications/acme").await.ok(StatusCode::OK).clone();
        assert_eq!(shown["logo"], view);
        let served = api.app.router.clone().oneshot(Request::get(url.as_str()).body(Body::empty()).unwrap()).await;
        let served = served.unwrap();
        assert_eq!(served.headers()[header::CONTENT_TYPE], media_type);
        assert_eq!(served.into_body().collect().await.unwrap().to_bytes().as_ref(), bytes);
    }
    let stored = api.get("/api/v1/applications/acme").await.json["logo"].clone();

    let svg = b"<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>".to_vec();
    put("image/svg+xml", svg.clone()).await.problem(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type");
    let detail = put("image/png", svg).await.problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    assert!(detail.contains("SVG"), "{detail}");
    let html = b"<!DOCTYPE html><html><script>alert(1)</script></html>".to_vec();
    let detail = put("image/png", html).await.problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    assert!(detail.contains("HTML"), "{detail}");
    let detail = put("image/png", JPEG.to_vec()).await.problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    assert!(detail.contains("JPEG image, not image/png"), "{detail}");
    put("image/png", Vec::new()).await.problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    let mut large = PNG.to_vec();
    large.resize(256 * 1024 + 1, 0);
    let detail = put("image/png", large.clone()).await.problem(StatusCode::PAYLOAD_TOO_LARGE, "payload-too-large");
    assert!(detail.contains("at most 256 KiB"), "{detail}");
    large.resize(2 * 1024 * 1024, 0);
    put("image/png", large).await.problem(StatusCode::PAYLOAD_TOO_LARGE, "payload-too-large");
    let request = api.request(Method::PUT, uri);
    let untyped = api.raw(request.body(Body::from(PNG.to_vec())).unwrap()).await;
    untyped.problem(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type");
    assert_eq!(api.get("/api/v1/applications/acme").await.json["logo"], stored, "nothing refused was stored");

    let request = api.request(Method::PUT, "/api/v1/applications/nope/logo").header(header::CONTENT_TYPE, "image/png");
    api.raw(request.body(Body::from(PNG.to_vec())).unwrap()).await.problem(StatusCode::NOT_FOUND, "not-found");
    let reader = tokens::create(&api.app.ctx, &Actor::Cli, "reader", Scope::ReadOnly, Utc::now()).await.unwrap();
    let request = Request::put(uri)
        .header(header::AUTHORIZATION, format!("Bearer {reader}"))
        .header(header::CONTENT_TYPE, "image/png");
    api.raw(request.body(Body::from(PNG.to_vec())).unwrap()).await.problem(StatusCode::FORBIDDEN, "forbidden");

    assert_eq!(api.call(Method::DELETE, uri, None).await.status, StatusCode::NO_CONTENT);
    assert!(api.get("/api/v1/applications/acme").await.json["logo"].is_null());
    api.call(Method::DELETE, uri, None).await.problem(StatusCode::NOT_FOUND, "not-found");
    let names = api.event_names("app=acme&type=admin").await;
    assert!(names.iter().filter(|n| *n == "admin_app_update").count() >= 4, "{names:?}");
}

/// Encryption settings through the API: refused without an SP encryption certificate, an unknown algorithm is
/// refused, and with one (a KeyDescriptor for both uses) the settings are saved and shown.
#[tokio::test]
async fn encryption_settings_need_an_sp_encryption_certificate() {
    let api = Api::new().await;
    let patch = |body| api.call(Method::PATCH, "/api/v1/applications/acme", Some(body));
    patch(json!({"encrypt_assertions": true})).await.problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    patch(json!({"encryption_algorithm": "des"})).await.problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid");

    let both_uses =
        sp_metadata(&api.app.sp_key, false).replace(r#"<md:KeyDescriptor use="signing">"#, "<md:KeyDescriptor>");
    let put = api
        .send_text(Method::PUT, "/api/v1/applications/acme/metadata", "application/samlmetadata+xml", &both_uses)
        .await;
    assert!(put.status.is_success(), "{}", put.text);
    let saved =
        patch(json!({"encrypt_assertions": true, "encryption_algorithm": "aes256-cbc", "encrypt_name_id": true})).await;
    let sso = &saved.ok(StatusCode::OK)["sso"];
    assert_eq!(
        (sso["encrypt_assertions"].as_bool(), sso["encryption_algorithm"].as_str()),
        (Some(true), Some("aes256-cbc"))
    );
    assert_eq!(sso["encrypt_name_id"], true);
    assert_eq!(sso["sp_encryption_certificates"], 1);
}

/// Two people behind one NameID: e-mail is the default NameID, so a second user with an address already in the
/// directory (in any case) is refused by creation and by update, with a conflict that names the address.
#[tokio::test]
async fn refuses_a_second_user_with_the_same_email() {
    let api = Api::new().await;
    let body = json!({"username": "dan", "email": "ALICE@example.com"});
    let refused = api.call(Method::POST, "/api/v1/users", Some(body)).await.problem(StatusCode::CONFLICT, "conflict");
    assert!(refused.contains("ALICE@example.com"), "{refused}");
    let patch = json!({"email": "Alice@Example.com"});
    let refused =
        api.call(Method::PATCH, "/api/v1/users/bob", Some(patch)).await.problem(StatusCode::CONFLICT, "conflict");
    assert!(refused.contains("Alice@Example.com"), "{refused}");
    // Changing the case of one's own address is no conflict.
    let own = api.call(Method::PATCH, "/api/v1/users/alice", Some(json!({"email": "Alice@Example.com"}))).await;
    assert_eq!(own.ok(StatusCode::OK)["email"], "Alice@Example.com");
}

/// The API's side of the seeds' SCIM rules: a connector whose SP needs SSO for SCIM (OneTrust) is refused with a
/// documented 422 `idm-refused` while the application's SSO is off; the integration shows its reconciliation
/// interval, which the request may set; an import of more than 100 accounts answers 202 and runs in the background.
#[tokio::test]
async fn scim_needs_sso_where_the_sp_says_and_large_imports_go_to_the_background() {
    use common::scim::{ScimPeer, TOKEN};
    use sesame::services::apps::change::{update, AppChange};
    use sesame::services::apps::create::{apply_connector, CreateFromConnector};
    let api = Api::new().await;
    let scim = ScimPeer::start();
    let values = vec![("YOUR_SUBDOMAIN".to_owned(), "acme".to_owned())];
    let request = CreateFromConnector {
        name: "ot",
        connector: "onetrust",
        values: &values,
        sp_certificate_pem: None,
        display_label: None,
    };
    apply_connector(&api.app.ctx, &Actor::Cli, &request, Utc::now()).await.unwrap();
    let off = AppChange { is_active: Some(false), ..AppChange::default() };
    update(&api.app.ctx, &Actor::Cli, "ot", &off, Utc::now()).await.unwrap();
    let activate = json!({"base_url": scim.base_url(), "token": TOKEN});
    let refused = api.call(Method::PUT, "/api/v1/applications/ot/idm", Some(activate)).await;
    let detail = refused.problem(StatusCode::UNPROCESSABLE_ENTITY, "idm-refused");
    assert!(detail.contains("needs SSO to use SCIM"), "{detail}");
    let doc = api.get("/api/v1/openapi.json").await.ok(StatusCode::OK).clone();
    let put = &doc["paths"]["/api/v1/applications/{name}/idm"]["put"]["responses"]["422"];
    assert!(put["description"].as_str().unwrap().contains("SSO"), "{put}");
    let import = &doc["paths"]["/api/v1/applications/{name}/idm/import"]["post"]["responses"];
    assert_eq!(import["202"]["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/ImportView");

    let activate = json!({"base_url": scim.base_url(), "token": TOKEN, "reconcile_interval_secs": 1200});
    let active = api.call(Method::PUT, "/api/v1/applications/acme/idm", Some(activate)).await;
    assert_eq!(active.ok(StatusCode::OK)["reconcile_interval_secs"], 1200);
    let too_often = json!({"base_url": scim.base_url(), "token": TOKEN, "reconcile_interval_secs": 5});
    let refused = api.call(Method::PUT, "/api/v1/applications/acme/idm", Some(too_often)).await;
    assert!(refused.problem(StatusCode::UNPROCESSABLE_ENTITY, "idm-refused").contains("between"));

    for i in 0..101 {
        scim.create_user(&format!("sp-{i:03}"), &format!("sp-{i:03}@example.com")).await;
    }
    let import = "/api/v1/applications/acme/idm/import";
    let started = api.call(Method::POST, import, Some(json!({"all_new": true}))).await.ok(StatusCode::ACCEPTED).clone();
    assert_eq!(started["state"], "listing");
    api.app.run_provisioning().await;
    let listed = api.get("/api/v1/applications/acme/idm/imports").await.ok(StatusCode::OK).clone();
    assert_eq!((listed[0]["state"].as_str(), listed[0]["imported"].as_i64()), (Some("done"), Some(101)));
}

/// A user's factors through the API (never a secret), and a reset: the factors go, the user must enrol again,
/// the token is the event's actor; the MFA policy is read and replaced whole, an unknown group is 404.
#[tokio::test]
async fn lists_and_resets_a_users_mfa_and_sets_the_policy() {
    let api = Api::new().await;
    let (alice, _) = sesame::services::users::get_user(&api.app.ctx, "alice").await.unwrap();
    let sealed = sesame::services::mfa::start_totp(&api.app.ctx, alice.id).unwrap();
    let secret = sesame::services::totp::open_secret(
        &api.app.ctx,
        &sesame::store::sealed::USER_TOTP.binding(alice.id.0),
        &sealed,
    )
    .unwrap();
    let code = sesame::services::totp::totp_code(&secret, u64::try_from(Utc::now().timestamp()).unwrap());
    let actor = sesame::audit::Actor::User("alice".into());
    sesame::services::mfa::confirm_totp(&api.app.ctx, &actor, alice.id, "alice", &sealed, &code, Utc::now())
        .await
        .unwrap();

    let listed = api.get("/api/v1/users/alice/mfa").await;
    let body = listed.ok(StatusCode::OK).clone();
    let kinds: Vec<&str> = body["factors"].as_array().unwrap().iter().map(|f| f["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["totp", "recovery_codes"]);
    assert_eq!((body["required"].clone(), body["must_re_enrol"].clone()), (json!(false), json!(false)));
    assert!(!body.to_string().contains(&sealed), "no secret");

    let reset = api.call(Method::DELETE, "/api/v1/users/alice/mfa", None).await;
    assert_eq!(reset.status, StatusCode::NO_CONTENT);
    let after = api.get("/api/v1/users/alice/mfa").await;
    let after = after.ok(StatusCode::OK).clone();
    assert_eq!(after["factors"], json!([]));
    assert_eq!(after["must_re_enrol"], json!(true));
    api.call(Method::DELETE, "/api/v1/users/nobody/mfa", None).await.problem(StatusCode::NOT_FOUND, "not-found");
    let events = api.get("/api/v1/events?limit=100").await;
    let items = events.ok(StatusCode::OK)["items"].as_array().unwrap().clone();
    assert!(items.iter().any(|e| e["name"] == "user_mfa_reset" && e["actor"] == "api_token:ci"), "{items:?}");

    let policy = json!({"everyone": false, "groups": ["staff"]});
    let set = api.call(Method::PUT, "/api/v1/mfa/policy", Some(policy.clone())).await;
    assert_eq!(set.ok(StatusCode::OK), &policy);
    assert_eq!(api.get("/api/v1/mfa/policy").await.ok(StatusCode::OK), &policy);
    let cleared = json!({"everyone": true, "groups": []});
    assert_eq!(api.call(Method::PUT, "/api/v1/mfa/policy", Some(cleared.clone())).await.ok(StatusCode::OK), &cleared);
    let unknown = json!({"everyone": false, "groups": ["nobody"]});
    api.call(Method::PUT, "/api/v1/mfa/policy", Some(unknown)).await.problem(StatusCode::NOT_FOUND, "not-found");
    assert_eq!(api.get("/api/v1/mfa/policy").await.ok(StatusCode::OK), &cleared, "nothing half-written");
}
