//! The admin console's pages: who may see them, the CSRF token every form needs, the typed confirmation of
//! deletions, escaping, and that each page renders and each change is an event with the administrator as actor.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use axum::http::StatusCode;
use chrono::Utc;
use common::*;
use sesame::audit::{Actor, EventFilter, EventName};
use sesame::services::apps::{self, AppChange};
use sesame::services::{admin, admins};

const ADMIN_PASSWORD: &str = "admin password 123";

/// A signed-in administrator: the session cookie and the CSRF token of its forms.
struct Admin {
    cookie: String,
    token: String,
}

async fn with_admin() -> (TestApp, Admin) {
    let app = TestApp::new().await;
    admins::create_admin(&app.ctx, &Actor::Cli, "root", ADMIN_PASSWORD.into(), Utc::now()).await.unwrap();
    let page = app.get("/admin/login", None).await;
    let cookie = page.set_cookie.clone().unwrap();
    let token = page.input("csrf_token").unwrap();
    let fields = [("csrf_token", token.as_str()), ("username", "root"), ("password", ADMIN_PASSWORD)];
    let reply = app.post_form("/admin/login", &fields, Some(&cookie)).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    let cookie = reply.set_cookie.unwrap_or(cookie);
    let home = app.get("/admin", Some(&cookie)).await;
    assert_eq!(home.status, StatusCode::OK);
    let token = home.input("csrf_token").unwrap();
    (app, Admin { cookie, token })
}

/// Every page of the console, with the fixture's names (application `acme`, user `alice`, group `staff`).
const PAGES: [&str; 14] = [
    "/admin",
    "/admin?span=14d",
    "/admin/apps",
    "/admin/apps?q=acm",
    "/admin/apps/new",
    "/admin/apps/acme",
    "/admin/apps/acme?tab=sso",
    "/admin/apps/acme?tab=groups",
    "/admin/apps/acme?tab=idm",
    "/admin/users",
    "/admin/users/alice",
    "/admin/groups",
    "/admin/groups/staff",
    "/admin/events?type=admin&success=yes&since=2020-01-01T00:00",
];

/// Every form of the console, with fields that would succeed given the right token.
fn forms() -> Vec<(&'static str, Vec<(&'static str, &'static str)>)> {
    vec![
        ("/admin/apps/delete", vec![("app", "acme"), ("confirm", "1")]),
        (
            "/admin/apps/new",
            vec![("kind", "bookmark"), ("name", "wiki"), ("bookmark_url", "https://wiki.example.com/")],
        ),
        ("/admin/apps/acme/general", vec![("display_label", "Changed")]),
        ("/admin/apps/acme/sso", vec![("name_id_format", "email"), ("signing_mode", "both")]),
        ("/admin/apps/acme/attributes", vec![("action", "add"), ("attribute", "mail"), ("source", "email")]),
        ("/admin/apps/acme/groups", vec![("action", "bind"), ("group", "outsiders")]),
        ("/admin/apps/acme/activation", vec![("active", "no")]),
        ("/admin/apps/acme/certificate/rotate", vec![]),
        ("/admin/apps/acme/idm", vec![("action", "deactivate")]),
        ("/admin/users", vec![("username", "mallory"), ("email", "mallory@example.com")]),
        ("/admin/users/alice", vec![("email", "evil@example.com")]),
        ("/admin/users/alice/status", vec![("status", "suspended")]),
        ("/admin/users/alice/password", vec![("password", "chosen by the attacker")]),
        ("/admin/users/alice/delete", vec![("confirm", "alice")]),
        ("/admin/users/bob/groups", vec![("action", "add"), ("group", "staff")]),
        ("/admin/groups", vec![("name", "attackers")]),
        ("/admin/groups/staff/rename", vec![("new_name", "renamed")]),
        ("/admin/groups/staff/delete", vec![("confirm", "staff")]),
        ("/admin/groups/staff/members", vec![("action", "add"), ("username", "bob")]),
    ]
}

async fn admin_events(app: &TestApp) -> Vec<sesame::audit::Event> {
    let filter = EventFilter { name_prefix: Some("admin_".into()), limit: 500, ..Default::default() };
    admin::list_events(&app.ctx, &filter)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| !matches!(e.name, EventName::AdminLogin | EventName::AdminAdminCreate))
        .filter(|e| e.actor != "cli")
        .collect()
}

#[tokio::test]
async fn every_page_renders_for_an_administrator() {
    let (app, admin) = with_admin().await;
    for page in PAGES {
        let reply = app.get(page, Some(&admin.cookie)).await;
        assert_eq!(reply.status, StatusCode::OK, "{page}: {}", reply.body);
        assert!(reply.body.contains("Signed in as administrator <strong>root</strong>"), "{page}");
        assert!(!reply.body.contains("style=\""), "{page} has an inline style, which the CSP refuses");
        assert!(!reply.body.contains("<script>"), "{page} has an inline script, which the CSP refuses");
    }
    let sso = app.get("/admin/apps/acme?tab=sso", Some(&admin.cookie)).await;
    assert!(sso.body.contains(&format!("{BASE}/saml2/acme/metadata")), "the metadata URL is on the SSO tab");
    assert!(sso.body.contains("Download certificate"));
    assert!(sso.body.contains(SP_ENTITY) && sso.body.contains(ACS));
    let connector = app.get("/admin/apps/new?connector=netskope", Some(&admin.cookie)).await;
    assert_eq!(connector.status, StatusCode::OK);
    assert!(connector.body.contains("name=\"sp_certificate_pem\""), "Netskope asks for the SP certificate");
}

/// Unauthenticated access: every page and every form sends the browser to the sign-in page and changes nothing.
#[tokio::test]
async fn without_an_administrator_every_page_and_form_goes_to_the_sign_in_page() {
    let app = TestApp::new().await;
    for page in PAGES {
        let reply = app.get(page, None).await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{page}");
        assert_eq!(reply.location.as_deref(), Some("/admin/login"), "{page}");
    }
    for (path, fields) in forms() {
        let reply = app.post_form(path, &fields, None).await;
        assert_eq!(reply.location.as_deref(), Some("/admin/login"), "{path}");
    }
    assert!(admin_events(&app).await.is_empty());
}

/// Privilege confusion: a portal user's session, with a valid CSRF token of its own, opens no console page and
/// makes no console change.
#[tokio::test]
async fn a_portal_session_is_not_an_administrator() {
    let app = TestApp::new().await;
    let portal = app.login("alice", PASSWORD).await;
    let token = app.get("/", Some(&portal)).await.input("csrf_token").unwrap();
    for page in PAGES {
        assert_eq!(app.get(page, Some(&portal)).await.location.as_deref(), Some("/admin/login"), "{page}");
    }
    for (path, mut fields) in forms() {
        fields.push(("csrf_token", &token));
        let reply = app.post_form(path, &fields, Some(&portal)).await;
        assert_eq!(reply.location.as_deref(), Some("/admin/login"), "{path}");
    }
    assert!(admin_events(&app).await.is_empty());
}

/// Cross-site request forgery: each console form, sent by a signed-in administrator's browser without the
/// session's token or with another one, is refused with 403 and changes nothing.
#[tokio::test]
async fn every_console_form_refuses_a_missing_or_wrong_csrf_token() {
    let (app, admin) = with_admin().await;
    let other_token = "0".repeat(admin.token.len());
    for (path, fields) in forms() {
        let missing = app.post_form(path, &fields, Some(&admin.cookie)).await;
        assert_eq!(missing.status, StatusCode::FORBIDDEN, "{path} without a token");
        let mut wrong = fields.clone();
        wrong.push(("csrf_token", &other_token));
        let reply = app.post_form(path, &wrong, Some(&admin.cookie)).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{path} with a wrong token");
        assert!(reply.body.contains("Form expired"), "{path}");
    }
    assert!(admin_events(&app).await.is_empty(), "no change was made");
    let acme = apps::details(&app.ctx, "acme").await.unwrap();
    assert!(acme.app.is_active && acme.app.display_label != "Changed");
    assert!(admin::find_user(&app.ctx, "alice").await.unwrap().is_active());
}

/// The same forms with the token do what they say, each with an event naming the administrator.
#[tokio::test]
async fn console_changes_are_events_of_the_administrator() {
    let (app, admin) = with_admin().await;
    post(
        &app,
        &admin,
        "/admin/users",
        vec![("username", "dave"), ("email", "dave@example.com"), ("password", "dave's password")],
    )
    .await;
    post(&app, &admin, "/admin/groups", vec![("name", "crm-users")]).await;
    post(&app, &admin, "/admin/groups/crm-users/members", vec![("action", "add"), ("username", "dave")]).await;
    post(&app, &admin, "/admin/apps/acme/groups", vec![("action", "bind"), ("group", "crm-users")]).await;
    post(
        &app,
        &admin,
        "/admin/apps/acme/attributes",
        vec![("action", "add"), ("attribute", "memberOf"), ("source", "groups")],
    )
    .await;
    post(
        &app,
        &admin,
        "/admin/apps/acme/sso",
        vec![("name_id_format", "persistent"), ("name_id_source", "username"), ("signing_mode", "both")],
    )
    .await;
    post(
        &app,
        &admin,
        "/admin/apps/new",
        vec![("kind", "bookmark"), ("name", "wiki"), ("bookmark_url", "https://wiki.example.com/")],
    )
    .await;
    let events = admin_events(&app).await;
    let names: Vec<_> = events.iter().map(|e| e.name).collect();
    for name in [
        EventName::AdminUserCreate,
        EventName::AdminGroupCreate,
        EventName::AdminGroupAddMember,
        EventName::AdminAppBind,
        EventName::AdminAppUpdate,
        EventName::AdminAppCreate,
    ] {
        assert!(names.contains(&name), "{name:?} in {names:?}");
    }
    assert!(events.iter().all(|e| e.actor == "admin:root"), "{events:?}");
    let acme = apps::details(&app.ctx, "acme").await.unwrap();
    assert!(acme.bound_groups.contains(&"crm-users".to_owned()));
    assert!(acme.app.sp.attributes.iter().any(|a| a.name == "memberOf"));
    assert_eq!(acme.app.sp.signing_mode.as_str(), "both");
    // The new member signs in and may use the application at once.
    let dave = app.login("dave", "dave's password").await;
    assert!(app.get("/", Some(&dave)).await.body.contains("href=\"/saml2/acme\""));
}

/// Posts a console form with the token and checks that the next page says it worked.
async fn post(app: &TestApp, admin: &Admin, path: &str, fields: Vec<(&str, &str)>) {
    let mut fields = fields;
    fields.push(("csrf_token", &admin.token));
    let reply = app.post_form(path, &fields, Some(&admin.cookie)).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{path}: {}", reply.body);
    let next = app.get(reply.location.as_deref().unwrap(), Some(&admin.cookie)).await;
    assert!(next.body.contains("class=\"flash flash-ok\""), "{path}: {}", next.body);
}

/// The General tab sets the portal tile's colour and image; the portal shows them (an image only from https).
#[tokio::test]
async fn the_general_tab_sets_the_portal_tile() {
    let (app, admin) = with_admin().await;
    let general = |hue: &'static str, image: &'static str| {
        vec![
            ("display_label", "Acme CRM"),
            ("description", "Customers"),
            ("show_in_portal", "on"),
            ("tile_hue", hue),
            ("tile_image_url", image),
        ]
    };
    post(&app, &admin, "/admin/apps/acme/general", general("5", "")).await;
    let alice = app.login("alice", PASSWORD).await;
    let portal = app.get("/", Some(&alice)).await.body;
    assert!(
        portal.contains("initial hue-5") && portal.contains("Acme CRM") && portal.contains("Customers"),
        "{portal}"
    );
    post(&app, &admin, "/admin/apps/acme/general", general("", "https://cdn.example.com/acme.png")).await;
    let portal = app.get("/", Some(&alice)).await.body;
    assert!(portal.contains("<img class=\"tile-img\" src=\"https://cdn.example.com/acme.png\""), "{portal}");
    let fields =
        [("csrf_token", admin.token.as_str()), ("display_label", "Acme"), ("tile_image_url", "javascript:alert(1)")];
    app.post_form("/admin/apps/acme/general", &fields, Some(&admin.cookie)).await;
    let page = app.get("/admin/apps/acme", Some(&admin.cookie)).await.body;
    assert!(page.contains("flash-error") && page.contains("https URL"), "{page}");
    assert_eq!(
        apps::details(&app.ctx, "acme").await.unwrap().app.sp.tile_image_url,
        "https://cdn.example.com/acme.png"
    );
}

/// Deleting applications asks how many: a wrong count (or none) deletes nothing.
#[tokio::test]
async fn deleting_applications_needs_the_typed_count() {
    let (app, admin) = with_admin().await;
    apps::create_bookmark(&app.ctx, &Actor::Cli, "wiki", "https://wiki.example.com/", None, None, Utc::now())
        .await
        .unwrap();
    for confirm in ["", "1", "3", "two"] {
        let fields = [("csrf_token", admin.token.as_str()), ("app", "acme"), ("app", "wiki"), ("confirm", confirm)];
        let reply = app.post_form("/admin/apps/delete", &fields, Some(&admin.cookie)).await;
        assert_eq!(reply.location.as_deref(), Some("/admin/apps"));
        let list = app.get("/admin/apps", Some(&admin.cookie)).await;
        assert!(list.body.contains("Nothing was deleted: type 2"), "{confirm:?}");
        assert!(apps::details(&app.ctx, "acme").await.is_ok() && apps::details(&app.ctx, "wiki").await.is_ok());
    }
    let fields = [("csrf_token", admin.token.as_str()), ("app", "acme"), ("app", "wiki"), ("confirm", "2")];
    app.post_form("/admin/apps/delete", &fields, Some(&admin.cookie)).await;
    assert!(apps::details(&app.ctx, "acme").await.is_err() && apps::details(&app.ctx, "wiki").await.is_err());
    let deleted = admin_events(&app).await.into_iter().filter(|e| e.name == EventName::AdminAppDelete).count();
    assert_eq!(deleted, 2);
}

/// Stored cross-site scripting: a display label, description and user name full of markup are shown as text
/// on every page that shows them, in the console and in the portal.
#[tokio::test]
async fn hostile_labels_are_escaped() {
    let (app, admin) = with_admin().await;
    let hostile = "<script>alert(1)</script><img src=x onerror=alert(2)>\"'&";
    let change = AppChange {
        display_label: Some(hostile.to_owned()),
        description: Some(hostile.to_owned()),
        ..AppChange::default()
    };
    apps::update(&app.ctx, &Actor::Cli, "acme", &change, Utc::now()).await.unwrap();
    let alice = app.login("alice", PASSWORD).await;
    for (page, cookie) in [
        ("/admin/apps", &admin.cookie),
        ("/admin/apps/acme", &admin.cookie),
        ("/admin/apps/acme?tab=groups", &admin.cookie),
        ("/", &alice),
    ] {
        let body = app.get(page, Some(cookie)).await.body;
        assert!(!body.contains("<script>alert") && !body.contains("<img src=x"), "{page}: {body}");
        assert!(body.contains("&#60;script&#62;alert(1)&#60;/script&#62;"), "{page} shows the label as text");
    }
    // The fixture's user display name holds markup too ("Alice <b>&</b> Co").
    let user = app.get("/admin/users", Some(&admin.cookie)).await.body;
    assert!(user.contains("Alice &#60;b&#62;&#38;&#60;/b&#62; Co"), "{user}");
}

/// "Deactivate SSO": the application refuses sign-ins with a page that says so, and its tile leaves the portal.
#[tokio::test]
async fn deactivated_sso_refuses_with_a_clear_page_and_hides_the_tile() {
    let (app, admin) = with_admin().await;
    let fields = [("csrf_token", admin.token.as_str()), ("active", "no")];
    app.post_form("/admin/apps/acme/activation", &fields, Some(&admin.cookie)).await;
    let alice = app.login("alice", PASSWORD).await;
    let refused = app.get("/saml2/acme", Some(&alice)).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(refused.body.contains("is deactivated"), "{}", refused.body);
    assert!(!app.get("/", Some(&alice)).await.body.contains("/saml2/acme"));
    let event = admin_events(&app).await.into_iter().find(|e| e.name == EventName::AdminAppUpdate).unwrap();
    assert_eq!(event.detail, "changed is_active");
    let fields = [("csrf_token", admin.token.as_str()), ("active", "yes")];
    app.post_form("/admin/apps/acme/activation", &fields, Some(&admin.cookie)).await;
    assert_eq!(app.get("/saml2/acme", Some(&alice)).await.status, StatusCode::OK);
}

/// A refused change (a taken name, an invalid value) comes back as a message on the page, not an error page.
#[tokio::test]
async fn refused_changes_are_shown_on_the_page() {
    let (app, admin) = with_admin().await;
    let fields = [("csrf_token", admin.token.as_str()), ("name", "staff")];
    let reply = app.post_form("/admin/groups", &fields, Some(&admin.cookie)).await;
    assert_eq!(reply.location.as_deref(), Some("/admin/groups"));
    let page = app.get("/admin/groups", Some(&admin.cookie)).await;
    assert!(page.body.contains("flash-error") && page.body.contains("already exists"), "{}", page.body);
    let fields =
        [("csrf_token", admin.token.as_str()), ("kind", "metadata"), ("name", "Not A Name"), ("metadata_xml", "<x/>")];
    app.post_form("/admin/apps/new", &fields, Some(&admin.cookie)).await;
    let page = app.get("/admin/apps/new", Some(&admin.cookie)).await;
    assert!(page.body.contains("flash-error"), "{}", page.body);
}
