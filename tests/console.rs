//! The admin console's pages: who may see them, the CSRF token every form needs, the typed confirmation of
//! deletions, escaping, and that each page renders and each change is an event with the administrator as actor;
//! API tokens shown once, and the administrator's own password and TOTP.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use chrono::Utc;
use common::*;
use sesame::audit::{Actor, EventFilter, EventName};
use sesame::saml::keys::{Certificate, SigningKey};
use sesame::services::apps;
use sesame::services::apps::change::AppChange;
use sesame::services::tokens::{self, Scope};
use sesame::services::{admins, certs};
use sesame::services::{events, users};

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
const PAGES: [&str; 16] = [
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
    "/admin/tokens",
    "/admin/account",
];

/// A form to post: its path and fields.
type Form = (&'static str, Vec<(&'static str, &'static str)>);

/// Every form of the console, with fields that would succeed given the right token.
fn forms() -> Vec<Form> {
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
        ("/admin/apps/acme/certificate/stage", vec![]),
        ("/admin/apps/acme/certificate/activate", vec![("at", "")]),
        ("/admin/apps/acme/certificate/retire", vec![]),
        ("/admin/apps/acme/encryption", vec![("encryption_algorithm", "aes256-cbc")]),
        ("/admin/apps/acme/metadata", vec![("metadata_xml", "<md:EntityDescriptor/>")]),
        ("/admin/apps/acme/idm", vec![("action", "deactivate"), ("confirm", "on")]),
        ("/admin/users", vec![("username", "mallory"), ("email", "mallory@example.com")]),
        ("/admin/users/alice", vec![("email", "evil@example.com")]),
        ("/admin/users/alice/status", vec![("status", "suspended")]),
        ("/admin/users/alice/password", vec![("password", "chosen by the attacker")]),
        ("/admin/users/alice/delete", vec![("confirm", "alice")]),
        ("/admin/users/bob/groups", vec![("action", "add"), ("group", "staff")]),
        ("/admin/users/alice/mfa/reset", vec![]),
        ("/admin/users/alice/invite", vec![]),
        ("/admin/mfa/policy", vec![("mfa_everyone", "on")]),
        ("/admin/groups", vec![("name", "attackers")]),
        ("/admin/groups/staff/rename", vec![("new_name", "renamed")]),
        ("/admin/groups/staff/delete", vec![("confirm", "staff")]),
        ("/admin/groups/staff/members", vec![("action", "add"), ("username", "bob")]),
        ("/admin/groups/outsiders/apps", vec![("action", "bind"), ("app", "acme")]),
        ("/admin/groups/staff/apps", vec![("action", "unbind"), ("app", "acme")]),
        ("/admin/tokens", vec![("name", "stolen")]),
        ("/admin/tokens/ci/revoke", vec![]),
        (
            "/admin/account/password",
            vec![
                ("current_password", ADMIN_PASSWORD),
                ("new_password", "chosen by the attacker"),
                ("new_password_again", "chosen by the attacker"),
            ],
        ),
        ("/admin/account/email", vec![("email", "attacker@example.com")]),
        ("/admin/account/totp", vec![]),
        ("/admin/account/totp/confirm", vec![("code", "123456")]),
        ("/admin/account/totp/cancel", vec![]),
        ("/admin/account/totp/disable", vec![("current_password", ADMIN_PASSWORD)]),
    ]
}

/// Every form with a file input, sent as `multipart/form-data` with a metadata file that would be accepted.
fn uploads(app: &TestApp) -> Vec<(Form, String)> {
    let xml = other_sp_metadata(app);
    vec![
        (("/admin/apps/new", vec![("kind", "metadata"), ("name", "uploaded")]), xml.clone()),
        (("/admin/apps/acme/metadata", vec![]), xml),
    ]
}

/// SP metadata of another SP than the fixture's (its own entity ID and ACS URL).
fn other_sp_metadata(app: &TestApp) -> String {
    sp_metadata(&app.sp_key, false)
        .replace(SP_ENTITY, "https://other.example.com/saml/metadata")
        .replace(ACS2, "https://other.example.com/saml/acs2")
        .replace(ACS, "https://other.example.com/saml/acs")
}

/// Posts `fields` and one file (`metadata_file`) as `multipart/form-data`, as a browser sends a file input.
async fn post_upload(app: &TestApp, uri: &str, fields: &[(&str, &str)], file: &[u8], cookie: Option<&str>) -> Reply {
    let boundary = "----sesame-test-boundary-7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"metadata_file\"; filename=\"sp-metadata.xml\"\r\n\
             Content-Type: text/xml\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(file);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let mut request =
        Request::post(uri).header(header::CONTENT_TYPE, format!("multipart/form-data; boundary={boundary}"));
    if let Some(c) = cookie {
        request = request.header(header::COOKIE, c);
    }
    app.send(request.body(Body::from(body)).unwrap()).await
}

async fn admin_events(app: &TestApp) -> Vec<sesame::audit::Event> {
    let filter = EventFilter { name_prefix: Some("admin_".into()), limit: 500, ..Default::default() };
    events::list_events(&app.ctx, &filter)
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
    for ((path, fields), file) in uploads(&app) {
        let reply = post_upload(&app, path, &fields, file.as_bytes(), None).await;
        assert_eq!(reply.location.as_deref(), Some("/admin/login"), "{path} (upload)");
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
    for ((path, mut fields), file) in uploads(&app) {
        fields.push(("csrf_token", &token));
        let reply = post_upload(&app, path, &fields, file.as_bytes(), Some(&portal)).await;
        assert_eq!(reply.location.as_deref(), Some("/admin/login"), "{path} (upload)");
    }
    assert!(admin_events(&app).await.is_empty());
}

/// Cross-site request forgery: each console form, sent by a signed-in administrator's browser without the
/// session's token or with another one, is refused with 403 and changes nothing.
#[tokio::test]
async fn every_console_form_refuses_a_missing_or_wrong_csrf_token() {
    let (app, admin) = with_admin().await;
    tokens::create(&app.ctx, &Actor::Cli, "ci", Scope::Full, Utc::now()).await.unwrap();
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
    // The multipart variant checks the token the same way, wherever the field is in the body.
    for ((path, fields), file) in uploads(&app) {
        let missing = post_upload(&app, path, &fields, file.as_bytes(), Some(&admin.cookie)).await;
        assert_eq!(missing.status, StatusCode::FORBIDDEN, "{path} upload without a token");
        let mut wrong = fields.clone();
        wrong.push(("csrf_token", &other_token));
        let reply = post_upload(&app, path, &wrong, file.as_bytes(), Some(&admin.cookie)).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{path} upload with a wrong token");
        assert!(reply.body.contains("Form expired"), "{path}");
    }
    assert!(admin_events(&app).await.is_empty(), "no change was made");
    assert!(apps::view::details(&app.ctx, "uploaded").await.is_err());
    assert_eq!(apps::view::details(&app.ctx, "acme").await.unwrap().app.sp.entity_id, SP_ENTITY);
    assert_eq!(certs::list_certificates(&app.ctx, "acme").await.unwrap().len(), 1);
    let acme = apps::view::details(&app.ctx, "acme").await.unwrap();
    assert!(acme.app.is_active && acme.app.display_label != "Changed");
    assert!(users::find_user(&app.ctx, "alice").await.unwrap().is_active());
    let tokens = tokens::list(&app.ctx).await.unwrap();
    assert!(tokens.len() == 1 && tokens.iter().all(|t| t.revoked_at.is_none()), "{tokens:?}");
    assert!(admins::sign_in(&app.ctx, "root", ADMIN_PASSWORD, None, Utc::now()).await.is_ok());
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
    let acme = apps::view::details(&app.ctx, "acme").await.unwrap();
    assert!(acme.bound_groups.contains(&"crm-users".to_owned()));
    assert!(acme.app.sp.attributes.iter().any(|a| a.name == "memberOf"));
    assert_eq!(acme.app.sp.signing_mode.as_str(), "both");
    // The new member signs in and may use the application at once.
    let dave = app.login("dave", "dave's password").await;
    assert!(app.get("/", Some(&dave)).await.body.contains("href=\"/saml2/acme\""));
}

/// Posts a console form with the token and checks that the next page says it worked.
/// Posts a change of the administrator's own credentials, which renews the session id: the cookie is updated.
async fn post_renewing(app: &TestApp, admin: &mut Admin, path: &str, fields: Vec<(&str, &str)>) {
    let mut fields = fields;
    fields.push(("csrf_token", &admin.token));
    let reply = app.post_form(path, &fields, Some(&admin.cookie)).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{path}: {}", reply.body);
    admin.cookie = reply.set_cookie.expect("a new session id after a credential change");
    let next = app.get(reply.location.as_deref().unwrap(), Some(&admin.cookie)).await;
    assert!(next.body.contains("class=\"flash flash-ok\""), "{path}: {}", next.body);
}

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
        apps::view::details(&app.ctx, "acme").await.unwrap().app.sp.tile_image_url,
        "https://cdn.example.com/acme.png"
    );
}

/// Deleting applications asks how many: a wrong count (or none) deletes nothing.
#[tokio::test]
async fn deleting_applications_needs_the_typed_count() {
    let (app, admin) = with_admin().await;
    apps::create::create_bookmark(&app.ctx, &Actor::Cli, "wiki", "https://wiki.example.com/", None, None, Utc::now())
        .await
        .unwrap();
    for confirm in ["", "1", "3", "two"] {
        let fields = [("csrf_token", admin.token.as_str()), ("app", "acme"), ("app", "wiki"), ("confirm", confirm)];
        let reply = app.post_form("/admin/apps/delete", &fields, Some(&admin.cookie)).await;
        assert_eq!(reply.location.as_deref(), Some("/admin/apps"));
        let list = app.get("/admin/apps", Some(&admin.cookie)).await;
        assert!(list.body.contains("Nothing was deleted: type 2"), "{confirm:?}");
        assert!(
            apps::view::details(&app.ctx, "acme").await.is_ok() && apps::view::details(&app.ctx, "wiki").await.is_ok()
        );
    }
    let fields = [("csrf_token", admin.token.as_str()), ("app", "acme"), ("app", "wiki"), ("confirm", "2")];
    app.post_form("/admin/apps/delete", &fields, Some(&admin.cookie)).await;
    assert!(
        apps::view::details(&app.ctx, "acme").await.is_err() && apps::view::details(&app.ctx, "wiki").await.is_err()
    );
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
    apps::change::update(&app.ctx, &Actor::Cli, "acme", &change, Utc::now()).await.unwrap();
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

/// The user page shows the invitation state and its button; without SMTP settings an invitation is refused on the
/// page with the reason.
#[tokio::test]
async fn an_invitation_without_mail_is_refused_on_the_user_page() {
    let (app, admin) = with_admin().await;
    let page = app.get("/admin/users/alice", Some(&admin.cookie)).await;
    assert!(page.body.contains("Not invited.") && page.body.contains("/admin/users/alice/invite"), "{}", page.body);
    let reply =
        app.post_form("/admin/users/alice/invite", &[("csrf_token", admin.token.as_str())], Some(&admin.cookie)).await;
    assert_eq!(reply.location.as_deref(), Some("/admin/users/alice"));
    let page = app.get("/admin/users/alice", Some(&admin.cookie)).await;
    assert!(page.body.contains("flash-error") && page.body.contains("Mail is not configured"), "{}", page.body);
}

/// "+ Add New Application" with the SP's metadata as a file: the application has the file's entity ID and ACS.
#[tokio::test]
async fn an_uploaded_metadata_file_creates_the_application() {
    let (app, admin) = with_admin().await;
    let fields = [
        ("csrf_token", admin.token.as_str()),
        ("kind", "metadata"),
        ("name", "uploaded"),
        ("display_label", "Uploaded SP"),
        ("metadata_url", ""),
        ("metadata_xml", ""),
    ];
    let xml = other_sp_metadata(&app);
    let reply = post_upload(&app, "/admin/apps/new", &fields, xml.as_bytes(), Some(&admin.cookie)).await;
    assert_eq!(reply.location.as_deref(), Some("/admin/apps/uploaded?tab=sso"), "{}", reply.body);
    let page = app.get("/admin/apps/uploaded?tab=sso", Some(&admin.cookie)).await.body;
    assert!(page.contains("flash-ok") && page.contains("Application uploaded created."), "{page}");
    assert!(
        page.contains("https://other.example.com/saml/metadata") && page.contains("https://other.example.com/saml/acs")
    );
    let d = apps::view::details(&app.ctx, "uploaded").await.unwrap();
    assert_eq!(d.app.sp.entity_id, "https://other.example.com/saml/metadata");
    assert_eq!(d.app.sp.acs.first().unwrap().url, "https://other.example.com/saml/acs");
    assert_eq!(d.app.display_label, "Uploaded SP");
    assert!(d.app.sp.metadata_url.is_empty(), "a file is not registered for refresh");
    let created = admin_events(&app).await.into_iter().find(|e| e.name == EventName::AdminAppCreate).unwrap();
    assert_eq!(created.actor, "admin:root");
}

/// Oversized, binary and non-metadata files (and a file with pasted XML besides) come back as a message on the
/// form, never an error page, and create nothing.
#[tokio::test]
async fn unusable_metadata_files_are_refused_with_a_message() {
    let (app, admin) = with_admin().await;
    let fields = [("csrf_token", admin.token.as_str()), ("kind", "metadata"), ("name", "refused")];
    let oversized = format!("<!-- {} -->{}", "x".repeat(600 * 1024), other_sp_metadata(&app));
    let good = other_sp_metadata(&app);
    let both =
        [("csrf_token", admin.token.as_str()), ("kind", "metadata"), ("name", "refused"), ("metadata_xml", "<x/>")];
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a [u8], &'a str);
    let cases: [Case; 5] = [
        (&fields, oversized.as_bytes(), "at most 512 KiB"),
        (&fields, &[0x89, b'P', b'N', b'G', 0xff, 0xfe, 0x00], "is not a text file (UTF-8)"),
        (&fields, b"name,email\nalice,alice@example.com\n", "sp-metadata.xml was not imported: "),
        (&fields, b"<html><body>Not metadata</body></html>", "sp-metadata.xml was not imported: "),
        (&both, good.as_bytes(), "not both"),
    ];
    for (fields, file, message) in cases {
        let reply = post_upload(&app, "/admin/apps/new", fields, file, Some(&admin.cookie)).await;
        assert_eq!(reply.location.as_deref(), Some("/admin/apps/new"), "{message}: {}", reply.body);
        let page = app.get("/admin/apps/new", Some(&admin.cookie)).await.body;
        let text = flash_error(&page);
        assert!(text.contains(message), "{message}: {page}");
        assert!(page.contains("name=\"metadata_file\""), "the form is shown again");
    }
    // Past twice the cap the body is not read at all: a plain 413 page.
    let huge = vec![b'x'; 1024 * 1024 + 1];
    let reply = post_upload(&app, "/admin/apps/new", &fields, &huge, Some(&admin.cookie)).await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(reply.body.contains("at most 512 KiB"), "{}", reply.body);
    // A body that claims to be multipart but is not: a plain 400 page.
    let request = Request::post("/admin/apps/new")
        .header(header::CONTENT_TYPE, "multipart/form-data; boundary=nope")
        .header(header::COOKIE, &admin.cookie)
        .body(Body::from("csrf_token=x&kind=metadata"))
        .unwrap();
    assert_eq!(app.send(request).await.status, StatusCode::BAD_REQUEST);
    assert!(apps::view::details(&app.ctx, "refused").await.is_err());
    assert!(admin_events(&app).await.is_empty(), "nothing was created");
}

/// The SSO tab's metadata upload updates the application like a re-import: new entity ID and ACS, the settings
/// kept, and a requirement for signed requests never relaxed by a document that does not ask for it.
#[tokio::test]
async fn new_metadata_from_the_sso_tab_updates_the_application() {
    let (app, admin) = with_admin().await;
    let change = AppChange { require_signed_requests: Some(true), ..AppChange::default() };
    apps::change::update(&app.ctx, &Actor::Cli, "acme", &change, Utc::now()).await.unwrap();
    let fields = [("csrf_token", admin.token.as_str())];
    let xml = other_sp_metadata(&app);
    let reply = post_upload(&app, "/admin/apps/acme/metadata", &fields, xml.as_bytes(), Some(&admin.cookie)).await;
    assert_eq!(reply.location.as_deref(), Some("/admin/apps/acme?tab=sso"));
    let page = app.get("/admin/apps/acme?tab=sso", Some(&admin.cookie)).await.body;
    assert!(
        page.contains("flash-ok") && page.contains("entity ID https://other.example.com/saml/metadata, 2 ACS URLs"),
        "{page}"
    );
    let d = apps::view::details(&app.ctx, "acme").await.unwrap();
    assert_eq!(d.app.sp.entity_id, "https://other.example.com/saml/metadata");
    assert!(d.app.sp.require_signed_requests, "a re-import never relaxes signed requests");
    assert_eq!(d.app.display_label, "Acme CRM", "the settings stay");
    // The form updates only: an unknown application is not created by it.
    let reply = post_upload(&app, "/admin/apps/ghost/metadata", &fields, xml.as_bytes(), Some(&admin.cookie)).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert!(apps::view::details(&app.ctx, "ghost").await.is_err());
}

/// The text of the page's error message (empty when there is none).
fn flash_error(page: &str) -> String {
    let Some(start) = page.find("class=\"flash flash-error\"") else { return String::new() };
    let rest = &page[start..];
    let text = &rest[rest.find('>').unwrap() + 1..rest.find("</p>").unwrap()];
    unescape(text)
}

/// The fingerprints of the certificates the IdP metadata publishes, in document order.
async fn published(app: &TestApp) -> Vec<String> {
    let xml = app.get("/saml2/acme/metadata", None).await.body;
    xml.split("<ds:X509Certificate>")
        .skip(1)
        .map(|rest| Certificate::from_base64(rest.split('<').next().unwrap()).unwrap().fingerprint)
        .collect()
}

/// The states and fingerprints the console's SSO tab shows, in order.
async fn states(app: &TestApp) -> Vec<(String, String)> {
    certs::list_certificates(&app.ctx, "acme")
        .await
        .unwrap()
        .into_iter()
        .filter(|c| c.state.as_str() != "retired")
        .map(|c| (c.state.as_str().to_owned(), c.fingerprint))
        .collect()
}

/// Stage, activate (scheduled, then now) and retire through the console: the page shows each state, the
/// metadata publishes current, next, previous in that order, and each step is an event of the administrator.
#[tokio::test]
async fn staged_rotation_through_the_console_forms() {
    let (app, admin) = with_admin().await;
    let sso = "/admin/apps/acme?tab=sso";
    let first = states(&app).await.first().unwrap().1.clone();
    let page = app.get(sso, Some(&admin.cookie)).await.body;
    assert!(page.contains("Stage next certificate") && page.contains(&first) && !page.contains("Activate next"));
    assert!(page.contains("without downtime") && page.contains("Replace certificate now"));

    post(&app, &admin, "/admin/apps/acme/certificate/stage", vec![]).await;
    let staged = states(&app).await;
    assert_eq!(staged.iter().map(|(s, _)| s.as_str()).collect::<Vec<_>>(), ["current", "next"]);
    let next = staged[1].1.clone();
    assert_eq!(published(&app).await, [first.clone(), next.clone()], "current first, then next");
    let page = app.get(sso, Some(&admin.cookie)).await.body;
    assert!(page.contains(">next<") && page.contains(&next) && page.contains("Activate next"), "{page}");
    assert!(page.contains("type=\"datetime-local\"") && page.contains("(UTC"), "the time is read as UTC");

    // A time in the future schedules; a time that is no time is refused on the page.
    post(&app, &admin, "/admin/apps/acme/certificate/activate", vec![("at", "2099-01-02T03:04")]).await;
    let page = app.get(sso, Some(&admin.cookie)).await.body;
    assert!(page.contains("activates at 2099-01-02 03:04 UTC"), "{page}");
    assert_eq!(states(&app).await, staged);
    let fields = [("csrf_token", admin.token.as_str()), ("at", "next tuesday")];
    app.post_form("/admin/apps/acme/certificate/activate", &fields, Some(&admin.cookie)).await;
    let page = app.get(sso, Some(&admin.cookie)).await.body;
    assert!(page.contains("flash-error") && page.contains("is not a date and time"), "{page}");

    post(&app, &admin, "/admin/apps/acme/certificate/activate", vec![("at", "")]).await;
    assert_eq!(states(&app).await, [("current".to_owned(), next.clone()), ("previous".to_owned(), first.clone())]);
    assert_eq!(published(&app).await, [next.clone(), first.clone()], "the new current first, then previous");
    let page = app.get(sso, Some(&admin.cookie)).await.body;
    assert!(page.contains(">previous<") && page.contains("Retire previous"), "{page}");

    post(&app, &admin, "/admin/apps/acme/certificate/retire", vec![]).await;
    assert_eq!(states(&app).await, [("current".to_owned(), next.clone())]);
    assert_eq!(published(&app).await, std::slice::from_ref(&next));
    let page = app.get(sso, Some(&admin.cookie)).await.body;
    assert!(!page.contains(&first) && page.contains("1 retired certificate is no longer published"), "{page}");

    // Retiring again has nothing to retire: a message, not an error page.
    let fields = [("csrf_token", admin.token.as_str())];
    app.post_form("/admin/apps/acme/certificate/retire", &fields, Some(&admin.cookie)).await;
    assert!(app.get(sso, Some(&admin.cookie)).await.body.contains("no previous certificate to retire"));

    let steps: Vec<_> =
        admin_events(&app).await.into_iter().filter(|e| e.actor == "admin:root").map(|e| e.name).collect();
    for name in [EventName::AdminAppStageCert, EventName::AdminAppActivateCert, EventName::AdminAppRetireCert] {
        assert!(steps.contains(&name), "{name:?} in {steps:?}");
    }
}

/// Encryption needs the SP's encryption certificate: without one the service's refusal is the page's message;
/// once new metadata brings one, the page shows it and the settings are saved.
#[tokio::test]
async fn encryption_settings_need_an_sp_encryption_certificate() {
    let (app, admin) = with_admin().await;
    let sso = "/admin/apps/acme?tab=sso";
    let on = [
        ("csrf_token", admin.token.as_str()),
        ("encrypt_assertions", "on"),
        ("encryption_algorithm", "aes256-cbc"),
        ("encrypt_name_id", "on"),
    ];
    let reply = app.post_form("/admin/apps/acme/encryption", &on, Some(&admin.cookie)).await;
    assert_eq!(reply.location.as_deref(), Some(sso));
    let page = app.get(sso, Some(&admin.cookie)).await.body;
    assert!(page.contains("flash-error") && page.contains("encryption certificate"), "{page}");
    assert!(page.contains("has no encryption certificate"));
    assert!(!apps::view::details(&app.ctx, "acme").await.unwrap().app.sp.encrypt_assertions);

    let enc = SigningKey::generate("sp-encryption", Utc::now(), 2).unwrap();
    let key = format!(
        r#"<md:KeyDescriptor use="encryption"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:AssertionConsumerService"#,
        enc.cert.to_base64()
    );
    let xml = sp_metadata(&app.sp_key, false).replacen("<md:AssertionConsumerService", &key, 1);
    let fields = [("csrf_token", admin.token.as_str())];
    post_upload(&app, "/admin/apps/acme/metadata", &fields, xml.as_bytes(), Some(&admin.cookie)).await;
    let page = app.get(sso, Some(&admin.cookie)).await.body;
    assert!(
        page.contains("flash-ok") && page.contains("sp-encryption") && page.contains(&enc.cert.fingerprint),
        "{page}"
    );
    assert!(page.contains("expires in 1 day<"), "a certificate of 2 days is flagged: {page}");

    post(&app, &admin, "/admin/apps/acme/encryption", on[1..].to_vec()).await;
    let sp = apps::view::details(&app.ctx, "acme").await.unwrap().app.sp;
    assert!(sp.encrypt_assertions && sp.encrypt_name_id);
    assert_eq!(sp.data_encryption.as_str(), "aes256-cbc");
    let page = app.get(sso, Some(&admin.cookie)).await.body;
    assert!(page.contains("value=\"aes256-cbc\" selected"), "{page}");
}

/// The status and problem type of `GET /api/v1/users` with a bearer token (and of a POST, for the scope).
async fn api_status(app: &TestApp, method: &str, token: &str) -> (StatusCode, String) {
    let request = axum::http::Request::builder()
        .method(method)
        .uri(if method == "GET" { "/api/v1/users" } else { "/api/v1/groups" })
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(axum::body::Body::from(if method == "GET" { "" } else { r#"{"name": "from-the-api"}"# }))
        .unwrap();
    let reply = app.send(request).await;
    let kind = serde_json::from_str::<serde_json::Value>(&reply.body)
        .ok()
        .and_then(|v| v["type"].as_str().map(str::to_owned))
        .unwrap_or_default();
    (reply.status, kind)
}

/// Token disclosure: a token created in the console is in the answer to the form that created it and nowhere
/// else (no redirect, no URL, not on the list afterwards); it works against the API with its scope, and once
/// revoked in the console the API refuses it.
#[tokio::test]
async fn a_console_token_is_shown_once_works_and_can_be_revoked() {
    let (app, admin) = with_admin().await;
    let fields = [("csrf_token", admin.token.as_str()), ("name", "deploy")];
    let created = app.post_form("/admin/tokens", &fields, Some(&admin.cookie)).await;
    assert_eq!(created.status, StatusCode::OK, "the token is on the answer itself, not behind a redirect");
    assert!(created.location.is_none());
    let token = created.input("token").unwrap();
    assert!(token.starts_with("sesame_"), "{token}");
    assert!(created.body.contains("Copy this token now"), "{}", created.body);
    assert_eq!(api_status(&app, "GET", &token).await.0, StatusCode::OK);
    assert_eq!(api_status(&app, "POST", &token).await.0, StatusCode::CREATED, "a full token changes things");
    let list = app.get("/admin/tokens", Some(&admin.cookie)).await;
    assert!(list.body.contains("deploy") && !list.body.contains(&token), "never shown again");
    assert!(list.body.contains("admin:root"), "the creator is listed: {}", list.body);

    let fields = [("csrf_token", admin.token.as_str()), ("name", "report"), ("read_only", "on")];
    let reader = app.post_form("/admin/tokens", &fields, Some(&admin.cookie)).await.input("token").unwrap();
    assert_eq!(api_status(&app, "GET", &reader).await.0, StatusCode::OK);
    assert_eq!(api_status(&app, "POST", &reader).await, (StatusCode::FORBIDDEN, "urn:sesame:problem:forbidden".into()));
    assert!(app.get("/admin/tokens", Some(&admin.cookie)).await.body.contains("read-only"));

    let fields = [("csrf_token", admin.token.as_str())];
    let revoked = app.post_form("/admin/tokens/deploy/revoke", &fields, Some(&admin.cookie)).await;
    assert_eq!(revoked.location.as_deref(), Some("/admin/tokens"));
    let list = app.get("/admin/tokens", Some(&admin.cookie)).await;
    assert!(list.body.contains("flash-ok") && list.body.contains("revoked"), "{}", list.body);
    assert_eq!(
        api_status(&app, "GET", &token).await,
        (StatusCode::UNAUTHORIZED, "urn:sesame:problem:revoked-token".into())
    );
    assert_eq!(api_status(&app, "GET", &reader).await.0, StatusCode::OK, "only that one");

    let events = admin_events(&app).await;
    let created: Vec<_> = events.iter().filter(|e| e.name == EventName::AdminApiTokenCreate).collect();
    assert_eq!(created.len(), 2);
    assert!(created.iter().any(|e| e.target == "report" && e.detail == "scope read-only"), "{created:?}");
    assert!(events.iter().any(|e| e.name == EventName::AdminApiTokenRevoke && e.target == "deploy"));
    assert!(events.iter().all(|e| e.actor == "admin:root" || e.actor.starts_with("api_token:")), "{events:?}");
    assert!(events.iter().all(|e| !e.detail.contains(&token) && !e.target.contains(&token)));
}

/// Account takeover from an unattended session: changing the password needs the current one (and a wrong
/// one counts as a failed sign-in); the new one works at the next sign-in, the old one no longer does.
#[tokio::test]
async fn changing_the_password_needs_the_current_one() {
    let (app, mut admin) = with_admin().await;
    let change = |current: &'static str, new: &'static str, again: &'static str| {
        vec![("current_password", current), ("new_password", new), ("new_password_again", again)]
    };
    for (fields, says) in [
        (change("not my password", "a new passphrase", "a new passphrase"), "Current password is not right"),
        (change(ADMIN_PASSWORD, "a new passphrase", "another passphrase"), "do not match"),
        (change(ADMIN_PASSWORD, "short", "short"), "at least 12 characters"),
        (change(ADMIN_PASSWORD, "password1234", "password1234"), "most common passwords"),
    ] {
        let mut fields = fields;
        fields.push(("csrf_token", &admin.token));
        let reply = app.post_form("/admin/account/password", &fields, Some(&admin.cookie)).await;
        assert_eq!(reply.location.as_deref(), Some("/admin/account"));
        let page = app.get("/admin/account", Some(&admin.cookie)).await.body;
        assert!(page.contains("flash-error") && page.contains(says), "{says}: {page}");
        assert!(admins::sign_in(&app.ctx, "root", ADMIN_PASSWORD, None, Utc::now()).await.is_ok(), "unchanged");
    }
    let failed = events::list_events(
        &app.ctx,
        &EventFilter { name: Some(EventName::AdminLoginFailed), limit: 10, ..Default::default() },
    )
    .await
    .unwrap();
    assert_eq!(failed.len(), 1, "the wrong current password is a failed sign-in");

    let new = change(ADMIN_PASSWORD, "a new passphrase", "a new passphrase");
    post_renewing(&app, &mut admin, "/admin/account/password", new).await;
    assert!(admins::sign_in(&app.ctx, "root", "a new passphrase", None, Utc::now()).await.is_ok());
    assert!(admins::sign_in(&app.ctx, "root", ADMIN_PASSWORD, None, Utc::now()).await.is_err());
    let events = admin_events(&app).await;
    assert!(events.iter().any(|e| e.name == EventName::AdminAdminPassword && e.actor == "admin:root"));
}

/// The account page sets the address where the administrator gets notices by mail, says when mail is not
/// configured, refuses what is not an address, and records the change.
#[tokio::test]
async fn the_account_page_sets_the_notice_address() {
    let (app, admin) = with_admin().await;
    let page = app.get("/admin/account", Some(&admin.cookie)).await.body;
    assert!(page.contains("Mail is not configured on this server"), "{page}");
    post(&app, &admin, "/admin/account/email", vec![("email", "root@example.com")]).await;
    assert_eq!(admins::email(&app.ctx, "root").await.unwrap(), "root@example.com");
    let page = app.get("/admin/account", Some(&admin.cookie)).await.body;
    assert!(page.contains("value=\"root@example.com\""), "{page}");
    let fields = vec![("email", "not an address"), ("csrf_token", admin.token.as_str())];
    let reply = app.post_form("/admin/account/email", &fields, Some(&admin.cookie)).await;
    let next = app.get(reply.location.as_deref().unwrap(), Some(&admin.cookie)).await.body;
    assert!(next.contains("flash-error") && next.contains("is not an e-mail address"), "{next}");
    assert_eq!(admins::email(&app.ctx, "root").await.unwrap(), "root@example.com", "nothing changed");
    post(&app, &admin, "/admin/account/email", vec![("email", "")]).await;
    assert_eq!(admins::email(&app.ctx, "root").await.unwrap(), "");
    let events = admin_events(&app).await;
    assert_eq!(events.iter().filter(|e| e.name == EventName::AdminAdminUpdate).count(), 2);
}

/// Lock-out by a mistyped enrolment: TOTP is switched on only by a right code of the new secret, which waits in
/// the session (never in the form); then the next sign-in asks for a code, and the confirming code is not
/// accepted again. Turning it off needs the password.
#[tokio::test]
async fn totp_enrolment_needs_a_right_code_and_then_sign_in_asks_for_one() {
    let (app, mut admin) = with_admin().await;
    post(&app, &admin, "/admin/account/totp", vec![]).await;
    let page = app.get("/admin/account", Some(&admin.cookie)).await.body;
    let uri =
        unescape(page.split("value=\"").find(|v| v.starts_with("otpauth://")).unwrap().split('"').next().unwrap());
    assert!(uri.starts_with("otpauth://totp/sesame:root?secret="), "{uri}");
    let encoded = uri.split("secret=").nth(1).unwrap().split('&').next().unwrap().to_owned();
    assert!(page.contains(&format!("<code class=\"select secret\">{encoded}</code>")), "the secret as text");
    assert!(page.contains("<svg class=\"qr\""), "and as a QR code");
    assert!(!page.contains("type=\"hidden\" name=\"secret\"") && !page.contains("name=\"sealed\""));
    let secret = totp_rs::Secret::Encoded(encoded).to_bytes().unwrap();
    let now = u64::try_from(Utc::now().timestamp()).unwrap();
    let valid: Vec<String> =
        [now - 30, now, now + 30].iter().map(|t| sesame::services::totp::totp_code(&secret, *t)).collect();
    let wrong = ["000000", "111111", "222222", "333333"].into_iter().find(|c| !valid.iter().any(|v| v == c)).unwrap();

    let fields = [("csrf_token", admin.token.as_str()), ("code", wrong)];
    app.post_form("/admin/account/totp/confirm", &fields, Some(&admin.cookie)).await;
    let page = app.get("/admin/account", Some(&admin.cookie)).await.body;
    assert!(page.contains("flash-error") && page.contains("TOTP was not changed"), "{page}");
    assert!(!admins::account(&app.ctx, "root").await.unwrap().has_totp, "a wrong code leaves TOTP off");
    let (cookie, token) = admin_form(&app).await;
    let fields = [("csrf_token", token.as_str()), ("username", "root"), ("password", ADMIN_PASSWORD)];
    assert_eq!(app.post_form("/admin/login", &fields, Some(&cookie)).await.status, StatusCode::SEE_OTHER);

    let code = sesame::services::totp::totp_code(&secret, now);
    post_renewing(&app, &mut admin, "/admin/account/totp/confirm", vec![("code", &code)]).await;
    assert!(admins::account(&app.ctx, "root").await.unwrap().has_totp);
    let page = app.get("/admin/account", Some(&admin.cookie)).await.body;
    assert!(!page.contains("otpauth://"), "the secret is not shown again");
    let events = admin_events(&app).await;
    assert!(events.iter().any(|e| e.name == EventName::AdminTotpEnable && e.actor == "admin:root"));

    // The next sign-in asks for a code; the one that confirmed the enrolment is spent.
    let (cookie, token) = admin_form(&app).await;
    let fields = [("csrf_token", token.as_str()), ("username", "root"), ("password", ADMIN_PASSWORD)];
    let asked = app.post_form("/admin/login", &fields, Some(&cookie)).await;
    assert_eq!(asked.status, StatusCode::OK);
    assert!(asked.body.contains("name=\"code\""), "{}", asked.body);
    let cookie = asked.set_cookie.clone().unwrap_or(cookie);
    let token = asked.input("csrf_token").unwrap();
    let replay = app.post_form("/admin/login/totp", &[("csrf_token", &token), ("code", &code)], Some(&cookie)).await;
    assert_eq!(replay.status, StatusCode::UNAUTHORIZED);
    let token = replay.input("csrf_token").unwrap();
    let next = sesame::services::totp::totp_code(&secret, now + 30);
    let ok = app.post_form("/admin/login/totp", &[("csrf_token", &token), ("code", &next)], Some(&cookie)).await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);

    let fields = [("csrf_token", admin.token.as_str()), ("current_password", "not my password")];
    app.post_form("/admin/account/totp/disable", &fields, Some(&admin.cookie)).await;
    assert!(admins::account(&app.ctx, "root").await.unwrap().has_totp, "the password is required");
    post_renewing(&app, &mut admin, "/admin/account/totp/disable", vec![("current_password", ADMIN_PASSWORD)]).await;
    assert!(!admins::account(&app.ctx, "root").await.unwrap().has_totp);
    assert!(admin_events(&app).await.iter().any(|e| e.name == EventName::AdminTotpDisable));
}

/// The admin sign-in form: its cookie and CSRF token.
async fn admin_form(app: &TestApp) -> (String, String) {
    let page = app.get("/admin/login", None).await;
    (page.set_cookie.clone().unwrap(), page.input("csrf_token").unwrap())
}

/// A stolen or forgotten session outliving a credential change: once an administrator changes their password in
/// one session, every other session of theirs is sent to sign in again, while the one that made the change goes
/// on (under a new id). TOTP switched on from the command line does the same.
#[tokio::test]
async fn a_credential_change_signs_out_the_other_sessions() {
    let (app, mut admin) = with_admin().await;
    let (other_cookie, other_token) = admin_form(&app).await;
    let fields = [("csrf_token", other_token.as_str()), ("username", "root"), ("password", ADMIN_PASSWORD)];
    let reply = app.post_form("/admin/login", &fields, Some(&other_cookie)).await;
    let other = reply.set_cookie.unwrap_or(other_cookie);
    assert_eq!(app.get("/admin/users", Some(&other)).await.status, StatusCode::OK);

    let old_cookie = admin.cookie.clone();
    let change = vec![
        ("current_password", ADMIN_PASSWORD),
        ("new_password", "a new passphrase"),
        ("new_password_again", "a new passphrase"),
    ];
    post_renewing(&app, &mut admin, "/admin/account/password", change).await;
    assert_ne!(admin.cookie, old_cookie);
    assert_eq!(app.get("/admin/users", Some(&other)).await.location.as_deref(), Some("/admin/login"));
    let fields = [("csrf_token", other_token.as_str()), ("username", "mallory")];
    let forged = app.post_form("/admin/users", &fields, Some(&other)).await;
    assert_eq!(forged.location.as_deref(), Some("/admin/login"), "nor may it change anything");
    assert_eq!(app.get("/admin/users", Some(&old_cookie)).await.location.as_deref(), Some("/admin/login"));
    assert_eq!(app.get("/admin/users", Some(&admin.cookie)).await.status, StatusCode::OK, "this one goes on");

    let later = Utc::now() + chrono::Duration::seconds(1);
    admins::enable_totp(&app.ctx, &Actor::Cli, "root", later).await.unwrap();
    assert_eq!(app.get("/admin/users", Some(&admin.cookie)).await.location.as_deref(), Some("/admin/login"));
    assert!(app.get("/admin/login", Some(&admin.cookie)).await.body.contains("name=\"password\""));
}

/// Takeover of the second factor from an open session: anyone at an administrator's unlocked console (or with a
/// stolen session cookie) could start a new TOTP enrolment and confirm it with a code of the secret they had just
/// been shown, replacing the administrator's secret with their own. Renewing an active secret needs the current
/// password or a current code of the active secret; without either, no enrolment starts.
#[tokio::test]
async fn renewing_an_active_totp_secret_needs_the_password_or_a_code() {
    let (app, mut admin) = with_admin().await;
    // TOTP on, through the console: no proof is asked while none is active.
    post(&app, &admin, "/admin/account/totp", vec![]).await;
    let page = app.get("/admin/account", Some(&admin.cookie)).await.body;
    let uri =
        unescape(page.split("value=\"").find(|v| v.starts_with("otpauth://")).unwrap().split('"').next().unwrap());
    let encoded = uri.split("secret=").nth(1).unwrap().split('&').next().unwrap().to_owned();
    let secret = totp_rs::Secret::Encoded(encoded).to_bytes().unwrap();
    let now = u64::try_from(Utc::now().timestamp()).unwrap();
    post_renewing(
        &app,
        &mut admin,
        "/admin/account/totp/confirm",
        vec![("code", &sesame::services::totp::totp_code(&secret, now))],
    )
    .await;
    let page = app.get("/admin/account", Some(&admin.cookie)).await.body;
    assert!(page.contains("name=\"proof\""), "the renewal form asks for proof");

    let valid: Vec<String> =
        [now - 30, now, now + 30].iter().map(|t| sesame::services::totp::totp_code(&secret, *t)).collect();
    let wrong = ["000000", "111111", "222222", "333333"].into_iter().find(|c| !valid.iter().any(|v| v == c)).unwrap();
    for proof in [None, Some(""), Some("not my password"), Some(wrong)] {
        let mut fields = vec![("csrf_token", admin.token.as_str())];
        if let Some(p) = proof {
            fields.push(("proof", p));
        }
        let reply = app.post_form("/admin/account/totp", &fields, Some(&admin.cookie)).await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER);
        let page = app.get("/admin/account", Some(&admin.cookie)).await.body;
        assert!(page.contains("flash-error") && page.contains("TOTP was not changed"), "{proof:?}: {page}");
        assert!(!page.contains("otpauth://"), "{proof:?}: no enrolment started");
    }
    let failed = admin_events(&app).await;
    assert!(failed.iter().filter(|e| e.name == EventName::AdminLoginFailed).count() >= 3, "each counts as a failure");

    // The password starts an enrolment; so does a current code of the active secret.
    post(&app, &admin, "/admin/account/totp", vec![("proof", ADMIN_PASSWORD)]).await;
    assert!(app.get("/admin/account", Some(&admin.cookie)).await.body.contains("otpauth://"));
    post(&app, &admin, "/admin/account/totp/cancel", vec![]).await;
    let code = sesame::services::totp::totp_code(&secret, now + 30);
    post(&app, &admin, "/admin/account/totp", vec![("proof", &code)]).await;
    assert!(app.get("/admin/account", Some(&admin.cookie)).await.body.contains("otpauth://"));
    post(&app, &admin, "/admin/account/totp/cancel", vec![]).await;
    let replayed = [("csrf_token", admin.token.as_str()), ("proof", code.as_str())];
    app.post_form("/admin/account/totp", &replayed, Some(&admin.cookie)).await;
    assert!(!app.get("/admin/account", Some(&admin.cookie)).await.body.contains("otpauth://"), "a code works once");
}

/// The SSO tab says which attributes an application sends and why: its own list, the SP's RequestedAttributes,
/// or the default set.
#[tokio::test]
async fn the_sso_tab_shows_which_attributes_are_sent_and_why() {
    let (app, admin) = with_admin().await;
    let configured = app.get("/admin/apps/acme?tab=sso", Some(&admin.cookie)).await.body;
    assert!(configured.contains("Sent: <strong>configured</strong>"), "{configured}");

    let requested = r#"<md:AttributeConsumingService index="0"><md:ServiceName xml:lang="en">SP</md:ServiceName>
  <md:RequestedAttribute Name="urn:oid:1.3.6.1.4.1.5923.1.1.1.6" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:uri"/>
  <md:RequestedAttribute Name="urn:example:shoe-size"/>
</md:AttributeConsumingService></md:SPSSODescriptor>"#;
    for (name, services) in [("plain", "</md:SPSSODescriptor>"), ("requester", requested)] {
        let xml = other_sp_metadata(&app)
            .replace("https://other.example.com", &format!("https://{name}.example.com"))
            .replace("</md:SPSSODescriptor>", services);
        apps::create::import_app_xml(&app.ctx, &Actor::Cli, name, &xml, None, None, Utc::now()).await.unwrap();
    }
    let plain = app.get("/admin/apps/plain?tab=sso", Some(&admin.cookie)).await.body;
    assert!(plain.contains("Sent: <strong>default set</strong>"), "{plain}");
    assert!(plain.contains("<code>urn:oid:0.9.2342.19200300.100.1.3</code></td><td data-label=\"FriendlyName\">mail</td><td data-label=\"NameFormat\">uri</td>"), "{plain}");
    let page = app.get("/admin/apps/requester?tab=sso", Some(&admin.cookie)).await.body;
    assert!(page.contains("Sent: <strong>requested by SP metadata</strong>"), "{page}");
    assert!(page.contains("username@&#60;base URL host&#62;"), "{page}");
    assert!(page.contains("<code>urn:example:shoe-size</code>") && page.contains("not sent"), "{page}");
    assert!(page.contains("a name or NameFormat we do not know is not sent"), "{page}");
    assert!(configured.contains("an attribute not ticked \"sent\" is not sent"), "{configured}");
    for page in [&configured, &plain, &page] {
        assert!(page.contains("Empty values are never sent."), "{page}");
    }
}

/// The user page's profile form sets the preferred language and the work address by part, and shows them again;
/// a language that is not a tag is refused with a message and changes nothing.
#[tokio::test]
async fn the_user_page_sets_the_preferred_language_and_work_address() {
    let (app, admin) = with_admin().await;
    let profile = |language: &'static str| {
        vec![
            ("email", "alice@example.com"),
            ("preferred_language", language),
            ("work_street", "Karl Johans gate 1"),
            ("work_locality", "Oslo"),
            ("work_region", "Oslo"),
            ("work_postal_code", "0154"),
            ("work_country", "NO"),
        ]
    };
    post(&app, &admin, "/admin/users/alice", profile("nb-NO")).await;
    let p = sesame::services::users::find_user(&app.ctx, "alice").await.unwrap().profile;
    assert_eq!(p.preferred_language, "nb-NO");
    assert_eq!([p.work_street.as_str(), &p.work_postal_code, &p.work_country], ["Karl Johans gate 1", "0154", "NO"]);
    let page = app.get("/admin/users/alice", Some(&admin.cookie)).await.body;
    for (name, value) in [("preferred_language", "nb-NO"), ("work_postal_code", "0154"), ("work_country", "NO")] {
        assert!(page.contains(&format!("name=\"{name}\" type=\"text\" value=\"{value}\"")), "{name}: {page}");
    }

    let mut fields = profile("Norwegian, please");
    fields.push(("csrf_token", &admin.token));
    app.post_form("/admin/users/alice", &fields, Some(&admin.cookie)).await;
    let page = app.get("/admin/users/alice", Some(&admin.cookie)).await.body;
    assert!(page.contains("flash-error") && page.contains("language tag"), "{page}");
    let p = sesame::services::users::find_user(&app.ctx, "alice").await.unwrap().profile;
    assert_eq!(p.preferred_language, "nb-NO");
}

/// Access is granted from either side, not only from the application's User Groups tab: the group page binds the
/// group to an application and unbinds it, and a user's page shows which groups give access to which application
/// and adds the user to a bound group. Each is the same change (and event) as the tab's, and applies at once.
#[tokio::test]
async fn access_is_granted_from_the_group_page_and_the_user_page() {
    let (app, admin) = with_admin().await;
    let portal_has_acme = |cookie: String| {
        let app = &app;
        async move { app.get("/", Some(&cookie)).await.body.contains("href=\"/saml2/acme\"") }
    };
    let bob = app.login("bob", PASSWORD).await;
    assert!(!portal_has_acme(bob.clone()).await);

    // The group page of an unbound group offers the application, binds it, then shows it with an unbind button.
    let page = app.get("/admin/groups/outsiders", Some(&admin.cookie)).await.body;
    assert!(page.contains("Bind to application") && page.contains("<option value=\"acme\">acme</option>"), "{page}");
    post(&app, &admin, "/admin/groups/outsiders/apps", vec![("action", "bind"), ("app", "acme")]).await;
    assert!(apps::view::details(&app.ctx, "acme").await.unwrap().bound_groups.contains(&"outsiders".to_owned()));
    assert!(portal_has_acme(bob.clone()).await, "bob is in outsiders, now bound");
    let page = app.get("/admin/groups/outsiders", Some(&admin.cookie)).await.body;
    assert!(page.contains("aria-label=\"Unbind from acme\""), "{page}");
    post(&app, &admin, "/admin/groups/outsiders/apps", vec![("action", "unbind"), ("app", "acme")]).await;
    assert!(!portal_has_acme(bob.clone()).await, "unbinding applies to the next page");
    let names: Vec<_> = admin_events(&app).await.iter().map(|e| (e.name, e.actor.clone())).collect();
    assert!(names.contains(&(EventName::AdminAppBind, "admin:root".into())), "{names:?}");
    assert!(names.contains(&(EventName::AdminAppUnbind, "admin:root".into())), "{names:?}");

    // A binding that cannot be made is refused with a message on the group page.
    let fields = [("csrf_token", admin.token.as_str()), ("action", "bind"), ("app", "nope")];
    let reply = app.post_form("/admin/groups/outsiders/apps", &fields, Some(&admin.cookie)).await;
    assert_eq!(reply.location.as_deref(), Some("/admin/groups/outsiders"));
    let page = app.get("/admin/groups/outsiders", Some(&admin.cookie)).await.body;
    assert!(page.contains("flash-error") && page.contains("does not exist"), "{page}");

    // Alice's page says acme is hers through staff; bob's offers staff as the way to acme and adds him to it.
    let page = app.get("/admin/users/alice", Some(&admin.cookie)).await.body;
    assert!(
        page.contains("Application access")
            && page.contains(">acme</a></td><td data-label=\"Through groups\">staff</td>"),
        "{page}"
    );
    let page = app.get("/admin/users/bob", Some(&admin.cookie)).await.body;
    assert!(page.contains("No group of this user is bound to an application."), "{page}");
    assert!(page.contains("<option value=\"staff\">staff: acme</option>"), "{page}");
    post(&app, &admin, "/admin/users/bob/groups", vec![("action", "add"), ("group", "staff")]).await;
    assert!(portal_has_acme(bob).await, "bob is in staff, bound to acme");
    let page = app.get("/admin/users/bob", Some(&admin.cookie)).await.body;
    assert!(page.contains("data-label=\"Through groups\">staff</td>"), "{page}");
}

/// Posts a console form and returns the flash of the page it leads to: `(is_ok, text)`.
async fn post_flash(app: &TestApp, admin: &Admin, path: &str, fields: Vec<(&str, &str)>) -> (bool, String) {
    let mut fields = fields;
    fields.push(("csrf_token", &admin.token));
    let reply = app.post_form(path, &fields, Some(&admin.cookie)).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{path}: {}", reply.body);
    let next = app.get(reply.location.as_deref().unwrap(), Some(&admin.cookie)).await;
    let error = flash_error(&next.body);
    if error.is_empty() {
        assert!(next.body.contains("class=\"flash flash-ok\""), "{path}: {}", next.body);
        let start = next.body.find("class=\"flash flash-ok\"").unwrap();
        let rest = &next.body[start..];
        (true, unescape(&rest[rest.find('>').unwrap() + 1..rest.find("</p>").unwrap()]))
    } else {
        (false, error)
    }
}

fn scim_activation(scim: &common::scim::ScimPeer) -> sesame::services::idm::Activation {
    sesame::services::idm::Activation::new(scim.base_url(), secrecy::SecretString::from(common::scim::TOKEN), false)
}

/// The Identity Management tab: deactivation needs its confirmation box (a form field, not only a script), the
/// mapping's "Restore defaults" sends every attribute again, the reconciliation interval can be set, and the tab
/// explains the defaults.
#[tokio::test]
async fn idm_tab_confirms_deactivation_restores_defaults_and_sets_the_interval() {
    use sesame::services::idm;
    let scim = common::scim::ScimPeer::start();
    let (app, admin) = with_admin().await;
    idm::activate(&app.ctx, &Actor::Cli, "acme", scim_activation(&scim), Utc::now()).await.unwrap();
    let optional: Vec<String> = idm::mapping(&app.ctx, "acme")
        .await
        .unwrap()
        .into_iter()
        .filter(|r| !r.required)
        .map(|r| r.scim)
        .take(2)
        .collect();
    assert_eq!(optional.len(), 2);
    idm::change_mapping(&app.ctx, &Actor::Cli, "acme", &optional, Some(&[]), Utc::now()).await.unwrap();

    let tab = app.get("/admin/apps/acme?tab=idm", Some(&admin.cookie)).await.body;
    assert!(tab.contains("Restore defaults") && tab.contains("name=\"confirm\""), "{tab}");
    assert!(tab.contains("a full comparison (reconciliation) runs every 40 minutes"), "the defaults are explained");

    let (is_ok, text) = post_flash(&app, &admin, "/admin/apps/acme/idm", vec![("action", "restore_all")]).await;
    assert!(is_ok && text.contains("defaults"), "{text}");
    assert!(idm::mapping(&app.ctx, "acme").await.unwrap().iter().all(|r| !r.excluded), "every attribute is sent");

    let (is_ok, text) =
        post_flash(&app, &admin, "/admin/apps/acme/idm", vec![("action", "schedule"), ("interval_minutes", "15")])
            .await;
    assert!(is_ok && text.contains("15 minutes"), "{text}");
    let details = apps::view::details(&app.ctx, "acme").await.unwrap();
    assert_eq!(details.idm.unwrap().reconcile_interval_secs, 900);

    let (is_ok, text) = post_flash(&app, &admin, "/admin/apps/acme/idm", vec![("action", "deactivate")]).await;
    assert!(!is_ok && text.contains("confirm"), "{text}");
    assert!(apps::view::details(&app.ctx, "acme").await.unwrap().idm.unwrap().is_active, "still active");
    let (is_ok, _) =
        post_flash(&app, &admin, "/admin/apps/acme/idm", vec![("action", "deactivate"), ("confirm", "on")]).await;
    assert!(is_ok);
    assert!(!apps::view::details(&app.ctx, "acme").await.unwrap().idm.unwrap().is_active);
}

/// Netskope's SCIM Base URL needs a subdomain and a tenant ID that its SSO settings do not: the tab asks for them,
/// and what the admin types reaches the Base URL (a missing one is named, a malformed one refused, before any request).
/// An SP that needs SSO for SCIM says so on the tab, and the console refuses activation while SSO is off.
#[tokio::test]
async fn idm_tab_fills_the_connectors_base_url_placeholders() {
    use sesame::services::apps::create::{apply_connector, CreateFromConnector};
    let (app, admin) = with_admin().await;
    let values = vec![
        ("APPLICATION_INSTANCE_URL".to_owned(), "https://acme.goskope.com".to_owned()),
        ("NETSKOPE_PROXY_ACS_URL".to_owned(), "https://acme.goskope.com/nsauth/saml2/http-post/acme/acs".to_owned()),
    ];
    let request = CreateFromConnector {
        name: "ns",
        connector: "netskope",
        values: &values,
        sp_certificate_pem: None,
        display_label: None,
    };
    apply_connector(&app.ctx, &Actor::Cli, &request, Utc::now()).await.unwrap();
    let tab = app.get("/admin/apps/ns?tab=idm", Some(&admin.cookie)).await.body;
    assert!(tab.contains("name=\"value.SUBDOMAIN\"") && tab.contains("name=\"value.TENANT_ID\""), "{tab}");
    assert!(tab.contains("https://{SUBDOMAIN}.goskope.com/SCIM/V2/{TENANT_ID}"), "{tab}");

    let activate = |extra: Vec<(&'static str, &'static str)>| {
        let mut fields = vec![("action", "activate"), ("token", "t0ken"), ("value.SUBDOMAIN", "acme")];
        fields.extend(extra);
        fields
    };
    let (is_ok, text) = post_flash(&app, &admin, "/admin/apps/ns/idm", activate(vec![])).await;
    assert!(!is_ok && text.contains("needs a value for TENANT_ID"), "the subdomain was taken: {text}");
    let (is_ok, text) =
        post_flash(&app, &admin, "/admin/apps/ns/idm", activate(vec![("value.TENANT_ID", "12/34")])).await;
    assert!(!is_ok && text.contains("TENANT_ID:"), "{text}");
    assert!(apps::view::details(&app.ctx, "ns").await.unwrap().idm.is_none());

    let values = vec![("YOUR_SUBDOMAIN".to_owned(), "acme".to_owned())];
    let request = CreateFromConnector {
        name: "ot",
        connector: "onetrust",
        values: &values,
        sp_certificate_pem: None,
        display_label: None,
    };
    apply_connector(&app.ctx, &Actor::Cli, &request, Utc::now()).await.unwrap();
    let off = AppChange { is_active: Some(false), ..AppChange::default() };
    apps::change::update(&app.ctx, &Actor::Cli, "ot", &off, Utc::now()).await.unwrap();
    let tab = app.get("/admin/apps/ot?tab=idm", Some(&admin.cookie)).await.body;
    assert!(tab.contains("needs SSO to use SCIM"), "{tab}");
    let fields =
        vec![("action", "activate"), ("token", "t0ken"), ("base_url", "https://acme.onetrust.com/api/scim/v3")];
    let (is_ok, text) = post_flash(&app, &admin, "/admin/apps/ot/idm", fields).await;
    assert!(!is_ok && text.contains("needs SSO to use SCIM"), "{text}");
}

/// The import page lists the SP's accounts as New or Imported, filters to New only, and imports the accounts the
/// admin ticks, and only those.
#[tokio::test]
async fn import_page_picks_accounts_from_the_new_and_imported_lists() {
    use sesame::services::idm;
    let scim = common::scim::ScimPeer::start();
    let (app, admin) = with_admin().await;
    idm::activate(&app.ctx, &Actor::Cli, "acme", scim_activation(&scim), Utc::now()).await.unwrap();
    app.run_provisioning().await;
    scim.create_user("dave", "dave@example.com").await;
    scim.create_user("erin", "erin@example.com").await;

    let all = app.get("/admin/apps/acme/idm/import", Some(&admin.cookie)).await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.body);
    assert!(all.body.contains("value=\"alice\"") && all.body.contains("Imported"), "{}", all.body);
    assert!(all.body.contains("value=\"dave\"") && all.body.contains("value=\"erin\""));
    let new_only = app.get("/admin/apps/acme/idm/import?show=new", Some(&admin.cookie)).await.body;
    assert!(!new_only.contains("value=\"alice\"") && new_only.contains("value=\"dave\""), "{new_only}");

    let (is_ok, text) = post_flash(&app, &admin, "/admin/apps/acme/idm", vec![("action", "import_selected")]).await;
    assert!(!is_ok && text.contains("Choose at least one"), "{text}");
    let (is_ok, text) =
        post_flash(&app, &admin, "/admin/apps/acme/idm", vec![("action", "import_selected"), ("user", "dave")]).await;
    assert!(is_ok && text.starts_with("1 imported (dave)"), "{text}");
    assert!(users::find_user(&app.ctx, "dave").await.is_ok());
    assert!(users::find_user(&app.ctx, "erin").await.is_err(), "erin was not ticked");

    // Anonymous visitors are sent to sign in.
    let anonymous = app.get("/admin/apps/acme/idm/import", None).await;
    assert_eq!(anonymous.location.as_deref(), Some("/admin/login"));
}

/// The start of a PNG, a JPEG and a WebP file: what the logo check reads (the signature of each format).
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";
const JPEG: &[u8] = b"\xff\xd8\xff\xe0\0\x10JFIF\0\x01\x01\0\0\x01\0\x01\0\0\xff\xd9";
const WEBP: &[u8] = b"RIFF\x1a\0\0\0WEBPVP8L\x0d\0\0\0\x2f\0\0\0\x10\x07\x10\x11\x11\x88\x88\xfe\x07\0";

/// Posts `fields` and a file input `logo` (named `file_name`, declared as `content_type`) as a browser sends it.
async fn post_logo(app: &TestApp, fields: &[(&str, &str)], file: (&str, &str, &[u8]), cookie: &str) -> Reply {
    let (file_name, content_type, bytes) = file;
    let boundary = "----sesame-test-boundary-logo0123456789";
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"logo\"; filename=\"{file_name}\"\r\n\
             Content-Type: {content_type}\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let request = Request::post("/admin/apps/acme/logo")
        .header(header::CONTENT_TYPE, format!("multipart/form-data; boundary={boundary}"))
        .header(header::COOKIE, cookie);
    app.send(request.body(Body::from(body)).unwrap()).await
}

/// The logo as served: status, headers and bytes.
async fn served_logo(
    app: &TestApp,
    uri: &str,
    if_none_match: Option<&str>,
) -> (StatusCode, header::HeaderMap, Vec<u8>) {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let mut request = Request::get(uri);
    if let Some(etag) = if_none_match {
        request = request.header(header::IF_NONE_MATCH, etag);
    }
    let response = app.router.clone().oneshot(request.body(Body::empty()).unwrap()).await.unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    (status, headers, response.into_body().collect().await.unwrap().to_bytes().to_vec())
}

/// Portal tile logos from the console's General tab: a PNG, a JPEG or a WebP upload is stored and served with the
/// type its bytes show, and replaces the one before; the tab and the portal tile show it; remove takes it away.
/// Script from our origin: an SVG, or an HTML page named `logo.png` and declared `image/png`, is refused with a
/// message and nothing stored, as is a file over 256 KiB; a forged upload (no token) is refused before anything.
#[tokio::test]
async fn uploads_replaces_and_removes_a_portal_tile_logo() {
    let (app, admin) = with_admin().await;
    let general = "/admin/apps/acme?tab=general";
    let logo = || async { apps::view::details(&app.ctx, "acme").await.unwrap().logo };

    let forged = post_logo(&app, &[], ("logo.png", "image/png", PNG), &admin.cookie).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let wrong = "0".repeat(admin.token.len());
    let forged = post_logo(&app, &[("csrf_token", &wrong)], ("logo.png", "image/png", PNG), &admin.cookie).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(logo().await.is_none(), "nothing stored without the token");

    let token = [("csrf_token", admin.token.as_str())];
    for (file_name, bytes, media_type) in
        [("a.png", PNG, "image/png"), ("b.jpg", JPEG, "image/jpeg"), ("c.webp", WEBP, "image/webp")]
    {
        // The declared type is the browser's guess; the bytes decide.
        let reply = post_logo(&app, &token, (file_name, "application/octet-stream", bytes), &admin.cookie).await;
        assert_eq!(reply.location.as_deref(), Some(general), "{file_name}");
        let page = app.get(general, Some(&admin.cookie)).await.body;
        assert!(page.contains("Logo saved"), "{file_name}: {page}");
        let stored = logo().await.unwrap();
        assert_eq!(stored.image_type.media_type(), media_type);
        let url = format!("/logos/acme?v={}", stored.version);
        assert!(page.contains(&url), "the tab shows the logo: {page}");
        let (status, headers, body) = served_logo(&app, &url, None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, bytes, "{file_name}");
        assert_eq!(headers[header::CONTENT_TYPE], media_type);
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    }
    let webp = logo().await.unwrap();
    let events = admin_events(&app).await;
    assert_eq!(events.iter().filter(|e| e.detail.contains("portal tile logo set")).count(), 3, "{events:?}");

    let svg = b"<svg xmlns=\"http://www.w3.org/2000/svg\" onload=\"alert(document.cookie)\"/>";
    let html = b"<!DOCTYPE html><html><script>alert(document.cookie)</script></html>";
    let mut large = PNG.to_vec();
    large.resize(256 * 1024 + 1, 0);
    let refused: [(&str, &str, &[u8], &str); 3] = [
        ("logo.svg", "image/svg+xml", svg, "it looks like SVG"),
        ("logo.png", "image/png", html, "it looks like HTML"),
        ("big.png", "image/png", &large, "at most 256 KiB"),
    ];
    for (file_name, content_type, bytes, why) in refused {
        let reply = post_logo(&app, &token, (file_name, content_type, bytes), &admin.cookie).await;
        assert_eq!(reply.location.as_deref(), Some(general), "{file_name}");
        let page = app.get(general, Some(&admin.cookie)).await.body;
        assert!(page.contains("flash-error") && page.contains(why), "{file_name}: {page}");
        assert_eq!(logo().await, Some(webp.clone()), "{file_name}: the logo before stays");
    }
    let none = post_logo(&app, &token, ("", "application/octet-stream", b""), &admin.cookie).await;
    assert_eq!(none.location.as_deref(), Some(general));
    assert!(app.get(general, Some(&admin.cookie)).await.body.contains("Choose a PNG, JPEG or WebP image"));

    // The portal tile shows the uploaded logo, before the image URL the settings name.
    let change = AppChange { tile_image_url: Some("https://cdn.example.com/logo.png".into()), ..AppChange::default() };
    apps::change::update(&app.ctx, &Actor::Cli, "acme", &change, Utc::now()).await.unwrap();
    let alice = app.login("alice", PASSWORD).await;
    let portal = app.get("/", Some(&alice)).await.body;
    assert!(portal.contains(&format!("src=\"/logos/acme?v={}\"", webp.version)), "{portal}");
    assert!(!portal.contains("cdn.example.com"), "{portal}");

    let remove = [("csrf_token", admin.token.as_str()), ("action", "remove")];
    let reply = app.post_form("/admin/apps/acme/logo", &remove, Some(&admin.cookie)).await;
    assert_eq!(reply.location.as_deref(), Some(general));
    assert!(app.get(general, Some(&admin.cookie)).await.body.contains("Logo removed"));
    assert!(logo().await.is_none());
    assert_eq!(served_logo(&app, "/logos/acme", None).await.0, StatusCode::NOT_FOUND);
    let portal = app.get("/", Some(&alice)).await.body;
    assert!(portal.contains("cdn.example.com") && !portal.contains("/logos/acme"), "{portal}");
    let again = app.post_form("/admin/apps/acme/logo", &remove, Some(&admin.cookie)).await;
    assert_eq!(again.location.as_deref(), Some(general));
    assert!(app.get(general, Some(&admin.cookie)).await.body.contains("flash-error"));
}

/// The served image: its own type, `nosniff`, a Content-Security-Policy under which a browser that renders it as a
/// document runs nothing (sandbox), same-origin resource policy, and caching by version: a year for the versioned
/// URL our pages link, revalidation (ETag, 304) for any other. Replicas serve the same logo; it goes with its
/// application.
#[tokio::test]
async fn a_logo_is_served_with_its_type_a_strict_policy_and_cache_headers() {
    let (app, _admin) = with_admin().await;
    let stored = apps::logo::set_logo(&app.ctx, &Actor::Cli, "acme", JPEG, None, Utc::now()).await.unwrap();
    let etag = format!("\"{}\"", stored.version);
    let (status, headers, body) = served_logo(&app, &format!("/logos/acme?v={}", stored.version), None).await;
    assert_eq!((status, body.as_slice()), (StatusCode::OK, JPEG));
    assert_eq!(headers[header::CONTENT_TYPE], "image/jpeg");
    assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(csp.contains("default-src 'none'") && csp.contains("sandbox"), "{csp}");
    assert_eq!(headers["cross-origin-resource-policy"], "same-origin");
    assert_eq!(headers[header::CACHE_CONTROL], "public, max-age=31536000, immutable");
    assert_eq!(headers[header::ETAG], etag.as_str());

    let (status, headers, _) = served_logo(&app, "/logos/acme?v=stale", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CACHE_CONTROL], "public, no-cache");
    let (status, headers, body) = served_logo(&app, "/logos/acme", Some(&etag)).await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    assert!(body.is_empty());
    assert_eq!(headers[header::ETAG], etag.as_str());

    // A replaced logo has a new version, so the old ETag no longer matches.
    let replaced = apps::logo::set_logo(&app.ctx, &Actor::Cli, "acme", PNG, None, Utc::now()).await.unwrap();
    assert_ne!(replaced.version, stored.version);
    let (status, headers, body) = served_logo(&app, "/logos/acme", Some(&etag)).await;
    assert_eq!((status, body.as_slice()), (StatusCode::OK, PNG));
    assert_eq!(headers[header::CONTENT_TYPE], "image/png");
    for missing in ["/logos/nope", "/logos/..%2Fadmin"] {
        assert_eq!(served_logo(&app, missing, None).await.0, StatusCode::NOT_FOUND, "{missing}");
    }

    // The logo is in the database: another replica serves the same bytes.
    let replica = app.replica().await;
    let (status, headers, body) = served_logo(&replica, "/logos/acme", None).await;
    assert_eq!((status, body.as_slice()), (StatusCode::OK, PNG));
    assert_eq!(headers[header::ETAG], format!("\"{}\"", replaced.version).as_str());
    // Deleting the application deletes its logo.
    apps::change::delete(&app.ctx, &Actor::Cli, "acme", Utc::now()).await.unwrap();
    let mut conn = app.ctx.db.conn().await.unwrap();
    assert!(sesame::store::logos::list_logo_versions(&mut conn).await.unwrap().is_empty());
    drop(conn);
    assert_eq!(served_logo(&replica, "/logos/acme", None).await.0, StatusCode::NOT_FOUND);
}

/// The SSO tab states the NameID format rule as it applies to the application: the format sent when the SP names
/// none, whether the NameID source is used, and exactly the formats an SP may ask for (the configured one, those a
/// settings file allows, and the opaque persistent and transient), as the IdP metadata offers them.
#[tokio::test]
async fn the_sso_tab_explains_the_nameid_format_rule() {
    let (app, admin) = with_admin().await;
    let rule = |page: &str| {
        let start = page.find("id=\"nameid-rule\"").unwrap_or_else(|| panic!("no NameID rule: {page}"));
        page[start..start + page[start..].find("</p>").unwrap()].to_owned()
    };
    let email = AppChange { name_id_format: Some(sesame::saml::NameIdFormat::Email), ..AppChange::default() };
    apps::change::update(&app.ctx, &Actor::Cli, "acme", &email, Utc::now()).await.unwrap();
    let text = rule(&app.get("/admin/apps/acme?tab=sso", Some(&admin.cookie)).await.body);
    assert!(text.contains("<strong>email</strong> when the SP asks for no format"), "{text}");
    assert!(text.contains("It carries the NameID source"), "{text}");
    assert!(text.contains("<code>email</code>, <code>persistent</code>, <code>transient</code>;"), "{text}");
    assert!(text.contains("<code>InvalidNameIDPolicy</code>"), "{text}");

    let persistent = AppChange { name_id_format: Some(sesame::saml::NameIdFormat::Persistent), ..AppChange::default() };
    apps::change::update(&app.ctx, &Actor::Cli, "acme", &persistent, Utc::now()).await.unwrap();
    let text = rule(&app.get("/admin/apps/acme?tab=sso", Some(&admin.cookie)).await.body);
    assert!(text.contains("identifier is opaque, so the NameID source is not used"), "{text}");
    assert!(text.contains("reveals no more: <code>persistent</code>, <code>transient</code>;"), "{text}");
    assert!(!text.contains("<code>email</code>"), "an SP may not ask for the e-mail: {text}");

    let xml = other_sp_metadata(&app);
    let settings = "nameid_format = \"transient\"\nallowed_nameid_formats = [\"email\"]\n";
    apps::create::import_app_xml(&app.ctx, &Actor::Cli, "allowing", &xml, None, Some(settings), Utc::now())
        .await
        .unwrap();
    let text = rule(&app.get("/admin/apps/allowing?tab=sso", Some(&admin.cookie)).await.body);
    assert!(text.contains("<code>transient</code>, <code>email</code>, <code>persistent</code>;"), "{text}");
}
