//! The admin console's sign-in and the sign-in throttling the portal shares: the attacks they must refuse.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, Request, StatusCode};
use chrono::Utc;
use common::*;
use sesame::audit::{Actor, EventFilter, EventName};
use sesame::services::admins;

const ADMIN_PASSWORD: &str = "admin password 123";

async fn with_admin() -> TestApp {
    let app = TestApp::new().await;
    admins::create_admin(&app.ctx, &Actor::Cli, "root", ADMIN_PASSWORD.into(), Utc::now()).await.unwrap();
    app
}

/// The admin sign-in form: its cookie and CSRF token.
async fn admin_form(app: &TestApp) -> (String, String) {
    let page = app.get("/admin/login", None).await;
    assert_eq!(page.status, StatusCode::OK);
    (page.set_cookie.clone().unwrap(), page.input("csrf_token").unwrap())
}

async fn admin_sign_in(app: &TestApp, username: &str, password: &str) -> (Reply, String) {
    let (cookie, token) = admin_form(app).await;
    let fields = [("csrf_token", token.as_str()), ("username", username), ("password", password)];
    let reply = app.post_form("/admin/login", &fields, Some(&cookie)).await;
    let cookie = reply.set_cookie.clone().unwrap_or(cookie);
    (reply, cookie)
}

async fn count(app: &TestApp, name: EventName) -> usize {
    let filter = EventFilter { name: Some(name), limit: 100, ..Default::default() };
    sesame::services::events::list_events(&app.ctx, &filter).await.unwrap().len()
}

#[tokio::test]
async fn an_administrator_signs_in_and_out() {
    let app = with_admin().await;
    assert_eq!(app.get("/admin", None).await.location.as_deref(), Some("/admin/login"));
    let (reply, cookie) = admin_sign_in(&app, "root", ADMIN_PASSWORD).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(reply.location.as_deref(), Some("/admin"));
    let home = app.get("/admin", Some(&cookie)).await;
    assert_eq!(home.status, StatusCode::OK);
    assert!(home.body.contains("Signed in as administrator <strong>root</strong>"));
    assert_eq!(count(&app, EventName::AdminLogin).await, 1);

    let forged = app.post_form("/admin/logout", &[("csrf_token", "x")], Some(&cookie)).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN, "sign-out needs the token");
    let token = home.input("csrf_token").unwrap();
    let out = app.post_form("/admin/logout", &[("csrf_token", &token)], Some(&cookie)).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    let after = out.set_cookie.unwrap_or(cookie.clone());
    assert_eq!(app.get("/admin", Some(&after)).await.status, StatusCode::SEE_OTHER);
    assert_eq!(app.get("/admin", Some(&cookie)).await.status, StatusCode::SEE_OTHER);
    assert_eq!(count(&app, EventName::AdminLogout).await, 1);
}

/// Privilege confusion: a portal user (even one named like an administrator) is not an administrator, and
/// portal credentials do not open the console.
#[tokio::test]
async fn portal_users_are_not_administrators() {
    let app = with_admin().await;
    let portal = app.login("alice", PASSWORD).await;
    assert_eq!(app.get("/admin", Some(&portal)).await.location.as_deref(), Some("/admin/login"));
    let (reply, _) = admin_sign_in(&app, "alice", PASSWORD).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert!(reply.body.contains("Invalid username or password"));
}

/// Login CSRF: an admin sign-in posted without the session's token, or with another session's, is refused.
#[tokio::test]
async fn refuses_admin_sign_in_without_the_csrf_token() {
    let app = with_admin().await;
    let fields = [("username", "root"), ("password", ADMIN_PASSWORD)];
    let bare = app.post_form("/admin/login", &fields, None).await;
    assert_eq!(bare.status, StatusCode::BAD_REQUEST, "no token field at all");
    let (victim, _) = admin_form(&app).await;
    let (_, attacker_token) = admin_form(&app).await;
    let forged = [("csrf_token", attacker_token.as_str()), ("username", "root"), ("password", ADMIN_PASSWORD)];
    let reply = app.post_form("/admin/login", &forged, Some(&victim)).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(count(&app, EventName::AdminLogin).await, 0);
}

/// Session fixation: the id issued before sign-in is not the one that is signed in.
#[tokio::test]
async fn issues_a_new_session_id_at_admin_sign_in() {
    let app = with_admin().await;
    let (before, token) = admin_form(&app).await;
    let fields = [("csrf_token", token.as_str()), ("username", "root"), ("password", ADMIN_PASSWORD)];
    let reply = app.post_form("/admin/login", &fields, Some(&before)).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    let after = reply.set_cookie.expect("a new session cookie");
    assert_ne!(before, after);
    assert_eq!(app.get("/admin", Some(&before)).await.status, StatusCode::SEE_OTHER, "the planted id is not signed in");
    assert_eq!(app.get("/admin", Some(&after)).await.status, StatusCode::OK);
}

/// A stolen password is not enough with TOTP on; a code is accepted once (replay), and a wrong one is refused.
#[tokio::test]
async fn totp_is_required_and_each_code_works_once() {
    let app = with_admin().await;
    let uri = admins::enable_totp(&app.ctx, &Actor::Cli, "root", Utc::now()).await.unwrap();
    assert!(uri.starts_with("otpauth://totp/sesame:root?secret="));
    let secret = uri.split("secret=").nth(1).unwrap().split('&').next().unwrap();
    let secret = totp_rs::Secret::Encoded(secret.to_owned()).to_bytes().unwrap();
    let now = u64::try_from(Utc::now().timestamp()).unwrap();

    let (reply, cookie) = admin_sign_in(&app, "root", ADMIN_PASSWORD).await;
    assert_eq!(reply.status, StatusCode::OK, "the password step asks for the code");
    assert!(reply.body.contains("name=\"code\""));
    assert_eq!(app.get("/admin", Some(&cookie)).await.status, StatusCode::SEE_OTHER, "not signed in yet");
    let token = reply.input("csrf_token").unwrap();
    let valid: Vec<String> =
        [now - 30, now, now + 30].iter().map(|t| sesame::services::totp::totp_code(&secret, *t)).collect();
    let bad = ["000000", "111111", "222222", "333333"].into_iter().find(|c| !valid.iter().any(|v| v == c)).unwrap();
    let wrong = app.post_form("/admin/login/totp", &[("csrf_token", &token), ("code", bad)], Some(&cookie)).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    let code = sesame::services::totp::totp_code(&secret, now);
    let token = wrong.input("csrf_token").unwrap();
    let ok = app.post_form("/admin/login/totp", &[("csrf_token", &token), ("code", &code)], Some(&cookie)).await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);
    let signed_in = ok.set_cookie.unwrap();
    assert_eq!(app.get("/admin", Some(&signed_in)).await.status, StatusCode::OK);

    // The same code again, in a new sign-in: refused.
    let (reply, cookie) = admin_sign_in(&app, "root", ADMIN_PASSWORD).await;
    let token = reply.input("csrf_token").unwrap();
    let replay = app.post_form("/admin/login/totp", &[("csrf_token", &token), ("code", &code)], Some(&cookie)).await;
    assert_eq!(replay.status, StatusCode::UNAUTHORIZED);
    let filter = EventFilter { name: Some(EventName::AdminLoginFailed), limit: 10, ..Default::default() };
    let events = sesame::services::events::list_events(&app.ctx, &filter).await.unwrap();
    assert_eq!(events.first().unwrap().detail, "one-time code already used");
    // Without the password step, the code form does nothing.
    let (fresh, fresh_token) = admin_form(&app).await;
    let next = sesame::services::totp::totp_code(&secret, now + 30);
    let skipped =
        app.post_form("/admin/login/totp", &[("csrf_token", &fresh_token), ("code", &next)], Some(&fresh)).await;
    assert_eq!(skipped.status, StatusCode::UNAUTHORIZED);
}

/// Password guessing: after 5 failures of a username from one client, the right password from that client is
/// refused too (429, the same sentence), on this replica and on another one sharing the database; the refusal is an
/// event.
#[tokio::test]
async fn throttles_portal_sign_in_across_replicas() {
    let app = TestApp::new().await;
    for _ in 0..5 {
        let (reply, _) = app.try_login("alice", "guess", "/").await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    }
    let (reply, session) = app.try_login("alice", PASSWORD, "/").await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(session.is_none());
    assert!(reply.body.contains("Invalid username or password"));

    let second = app.replica().await;
    let (reply, session) = second.try_login("alice", PASSWORD, "/").await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS, "the other replica sees the same counter");
    assert!(session.is_none());
    assert_eq!(count(&second, EventName::UserLoginThrottled).await, 2);
    // Other users are not affected.
    assert!(second.try_login("bob", PASSWORD, "/").await.1.is_some());
}

#[tokio::test]
async fn throttles_admin_sign_in() {
    let app = with_admin().await;
    for _ in 0..5 {
        assert_eq!(admin_sign_in(&app, "root", "guess").await.0.status, StatusCode::UNAUTHORIZED);
    }
    let (reply, cookie) = admin_sign_in(&app, "root", ADMIN_PASSWORD).await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(reply.body.contains("Invalid username or password"));
    assert_eq!(app.get("/admin", Some(&cookie)).await.status, StatusCode::SEE_OTHER);
    assert_eq!(count(&app, EventName::AdminLoginThrottled).await, 1);
    // Admin failures are counted apart from the portal's.
    assert!(app.try_login("alice", PASSWORD, "/").await.1.is_some());
}

/// Spraying one password over many usernames from one address: the address runs out of attempts.
#[tokio::test]
async fn throttles_by_client_address() {
    let app = TestApp::with("", |c| c.login_max_failures_per_ip = 3).await;
    let peer: SocketAddr = "203.0.113.9:4711".parse().unwrap();
    let other: SocketAddr = "198.51.100.2:4711".parse().unwrap();
    let attempt = |username: &'static str, password: &'static str, from: SocketAddr| {
        let app = &app;
        async move {
            let page = app.get("/login", None).await;
            let cookie = page.set_cookie.clone().unwrap();
            let token = page.input("csrf_token").unwrap();
            let body: String = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs([("csrf_token", token.as_str()), ("username", username), ("password", password)])
                .finish();
            let mut request = Request::post("/login")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .header(header::COOKIE, cookie)
                // Not a trusted proxy: the header must not change the address counted.
                .header("x-forwarded-for", "192.0.2.1")
                .body(Body::from(body))
                .unwrap();
            request.extensions_mut().insert(ConnectInfo(from));
            app.send(request).await.status
        }
    };
    for username in ["alice", "bob", "nobody"] {
        assert_eq!(attempt(username, "guess", peer).await, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(attempt("carol", PASSWORD, peer).await, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(attempt("alice", PASSWORD, peer).await, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(attempt("alice", PASSWORD, other).await, StatusCode::SEE_OTHER, "another address signs in");
    let filter = EventFilter { name: Some(EventName::UserLoginThrottled), limit: 10, ..Default::default() };
    let events = sesame::services::events::list_events(&app.ctx, &filter).await.unwrap();
    assert!(events.iter().all(|e| e.detail.contains("203.0.113.9")), "{events:?}");
}

/// Sending a request from `from` (a socket peer, as axum's `ConnectInfo` gives it) to the portal's sign-in.
async fn login_from(app: &TestApp, username: &str, password: &str, from: &str) -> StatusCode {
    let page = app.get("/login", None).await;
    let cookie = page.set_cookie.clone().unwrap();
    let token = page.input("csrf_token").unwrap();
    let body: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([("csrf_token", token.as_str()), ("username", username), ("password", password)])
        .finish();
    let mut request = Request::post("/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::COOKIE, cookie)
        .body(Body::from(body))
        .unwrap();
    request.extensions_mut().insert(ConnectInfo(SocketAddr::new(from.parse().unwrap(), 4711)));
    app.send(request).await.status
}

/// Account lockout as denial of service: anyone who keeps guessing a username (the first administrator is always
/// `admin`) must not lock its owner out. The guesser's client waits; the owner's right password from another
/// client signs in, on the portal and on the console.
#[tokio::test]
async fn guesses_from_one_client_do_not_lock_the_owner_out() {
    let app = with_admin().await;
    for _ in 0..8 {
        login_from(&app, "alice", "guess", "203.0.113.9").await;
    }
    assert_eq!(login_from(&app, "alice", PASSWORD, "203.0.113.9").await, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(login_from(&app, "alice", PASSWORD, "198.51.100.2").await, StatusCode::SEE_OTHER);

    let attacker: Option<std::net::IpAddr> = Some("203.0.113.9".parse().unwrap());
    let owner: Option<std::net::IpAddr> = Some("198.51.100.2".parse().unwrap());
    for _ in 0..8 {
        let _ = admins::sign_in(&app.ctx, "root", "guess", attacker, Utc::now()).await;
    }
    let refused = admins::sign_in(&app.ctx, "root", ADMIN_PASSWORD, attacker, Utc::now()).await;
    assert!(matches!(refused, Err(sesame::services::Error::Throttled)), "{refused:?}");
    assert!(admins::sign_in(&app.ctx, "root", ADMIN_PASSWORD, owner, Utc::now()).await.is_ok());
}

/// Password guessing at leisure: a client's wait after its free failures starts at 30 s and doubles with each
/// further failure (capped at the window); a success clears it.
#[tokio::test]
async fn backoff_grows_with_consecutive_failures() {
    let app = TestApp::new().await;
    let client: Option<std::net::IpAddr> = Some("203.0.113.9".parse().unwrap());
    let sign_in = |password: &'static str, at: chrono::DateTime<Utc>| {
        let ctx = app.ctx.clone();
        async move { sesame::services::login::sign_in(&ctx, "alice", password, client, at).await }
    };
    let start = Utc::now();
    for _ in 0..5 {
        assert!(matches!(sign_in("guess", start).await, Err(sesame::services::Error::BadCredentials)));
    }
    let secs = |s: i64| start + chrono::Duration::seconds(s);
    assert!(matches!(sign_in(PASSWORD, secs(29)).await, Err(sesame::services::Error::Throttled)));
    // After 30 s, one more guess; the next wait is 60 s.
    assert!(matches!(sign_in("guess", secs(31)).await, Err(sesame::services::Error::BadCredentials)));
    assert!(matches!(sign_in(PASSWORD, secs(31 + 59)).await, Err(sesame::services::Error::Throttled)));
    assert!(sign_in(PASSWORD, secs(31 + 61)).await.is_ok());
    // The success cleared the count: five new free failures.
    for _ in 0..5 {
        assert!(matches!(sign_in("guess", secs(100)).await, Err(sesame::services::Error::BadCredentials)));
    }
}

/// An administrator lifts a backoff at once (`sesame user unlock`), recorded as an event.
#[tokio::test]
async fn an_administrator_unlocks_a_user() {
    let app = TestApp::new().await;
    for _ in 0..5 {
        login_from(&app, "alice", "guess", "203.0.113.9").await;
    }
    assert_eq!(login_from(&app, "alice", PASSWORD, "203.0.113.9").await, StatusCode::TOO_MANY_REQUESTS);
    let n = sesame::services::throttle::unlock(
        &app.ctx,
        &Actor::Cli,
        sesame::services::throttle::Realm::User,
        "alice",
        Utc::now(),
    )
    .await
    .unwrap();
    assert_eq!(n, 1);
    assert_eq!(login_from(&app, "alice", PASSWORD, "203.0.113.9").await, StatusCode::SEE_OTHER);
    assert_eq!(count(&app, EventName::AdminUserUnlock).await, 1);
}

/// Password spraying from IPv6: one host holds a whole /64, so addresses in it are counted as one client.
#[tokio::test]
async fn ipv6_clients_are_counted_per_64() {
    let app = TestApp::with("", |c| c.login_max_failures_per_ip = 3).await;
    for (username, from) in [("alice", "2001:db8:1:2::1"), ("bob", "2001:db8:1:2::2"), ("nobody", "2001:db8:1:2::3")] {
        assert_eq!(login_from(&app, username, "guess", from).await, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(login_from(&app, "bob", PASSWORD, "2001:db8:1:2:ffff::9").await, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(login_from(&app, "bob", PASSWORD, "2001:db8:1:3::9").await, StatusCode::SEE_OTHER);
}

/// Housekeeping forgets counters whose window is over.
#[tokio::test]
async fn expired_counters_are_purged() {
    let app = TestApp::new().await;
    app.try_login("alice", "guess", "/").await;
    let later = Utc::now() + chrono::Duration::seconds(i64::try_from(app.ctx.config.login_window_secs).unwrap() + 1);
    assert_eq!(sesame::services::throttle::purge_expired(&app.ctx, Utc::now()).await.unwrap(), 0);
    assert_eq!(sesame::services::throttle::purge_expired(&app.ctx, later).await.unwrap(), 1);
}
