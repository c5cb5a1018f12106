//! Signing in and out: the attacks on the IdP session that the sign-in form must refuse.

mod common;

use axum::http::StatusCode;
use common::*;
use sesame::audit::{Actor, EventFilter, EventName};

/// Login CSRF: a form posted from another site (no token, or another session's token) is refused.
#[tokio::test]
async fn refuses_sign_in_without_the_session_csrf_token() {
    let app = TestApp::new().await;
    let fields = [("username", "alice"), ("password", PASSWORD), ("continue", "/")];
    let no_token = app.post_form("/login", &fields, None).await;
    assert_ne!(no_token.status, StatusCode::SEE_OTHER, "a form without a token must not sign in");
    assert!(no_token.set_cookie.is_none() || !no_token.body.contains("applications"));

    let victim = app.get("/login", None).await;
    let attacker = app.get("/login", None).await;
    let attacker_token = attacker.input("csrf_token").unwrap();
    let with_token = [("csrf_token", attacker_token.as_str()), ("username", "alice"), ("password", PASSWORD)];
    let reply = app.post_form("/login", &with_token, victim.set_cookie.as_deref()).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "another session's token is refused");
}

/// Session fixation: the session id issued before sign-in is not the one that is signed in.
#[tokio::test]
async fn issues_a_new_session_id_at_sign_in() {
    let app = TestApp::new().await;
    let page = app.get("/login", None).await;
    let before = page.set_cookie.clone().unwrap();
    let token = page.input("csrf_token").unwrap();
    let fields = [("csrf_token", token.as_str()), ("username", "alice"), ("password", PASSWORD), ("continue", "/")];
    let reply = app.post_form("/login", &fields, Some(&before)).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    let after = reply.set_cookie.expect("a new cookie at sign-in");
    assert_ne!(before, after);
    let old = app.get("/", Some(&before)).await;
    assert_eq!(old.status, StatusCode::SEE_OTHER, "the pre-sign-in id is not signed in");
    assert_eq!(app.get("/", Some(&after)).await.status, StatusCode::OK);
}

/// Username enumeration: unknown users and wrong passwords get the same answer; events record which it was.
#[tokio::test]
async fn failed_sign_ins_look_the_same_and_are_recorded() {
    let app = TestApp::new().await;
    let (unknown, _) = app.try_login("nobody", PASSWORD, "/").await;
    let (wrong, _) = app.try_login("alice", "wrong password", "/").await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(unknown.body.contains("Invalid username or password"));
    assert!(wrong.body.contains("Invalid username or password"));
    let filter = EventFilter { name: Some(EventName::UserLoginFailed), limit: 10, ..Default::default() };
    let events = sesame::services::events::list_events(&app.ctx, &filter).await.unwrap();
    let details: Vec<&str> = events.iter().map(|e| e.detail.as_str()).collect();
    assert_eq!(details, ["wrong password", "unknown username"]);
}

/// Sign-out needs the CSRF token too, and ends the session.
#[tokio::test]
async fn sign_out_requires_the_token_and_ends_the_session() {
    let app = TestApp::new().await;
    let cookie = app.login("alice", PASSWORD).await;
    let forged = app.post_form("/logout", &[("csrf_token", "x")], Some(&cookie)).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let portal = app.get("/", Some(&cookie)).await;
    let token = portal.input("csrf_token").unwrap();
    let reply = app.post_form("/logout", &[("csrf_token", &token)], Some(&cookie)).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(app.get("/", Some(&cookie)).await.status, StatusCode::SEE_OTHER, "signed out");
}

#[tokio::test]
async fn pages_carry_security_headers() {
    let app = TestApp::new().await;
    let response = app
        .router
        .clone()
        .oneshot(axum::http::Request::get("/login").body(axum::body::Body::empty()).unwrap())
        .await
        .unwrap();
    let headers = response.headers();
    let csp = headers.get("content-security-policy").unwrap().to_str().unwrap();
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"));
    assert_eq!(headers.get("x-frame-options").unwrap(), "DENY");
    let cookie = headers.get("set-cookie").unwrap().to_str().unwrap().to_lowercase();
    assert!(cookie.contains("httponly") && cookie.contains("samesite=lax"), "{cookie}");
}

use tower::ServiceExt;

/// A stolen or forgotten session outliving a password reset: once an administrator sets a user's password, every
/// IdP session the user signed in before it is over (the portal, and IdP-initiated SSO, send the browser to sign in
/// again), while a sign-in with the new password works.
#[tokio::test]
async fn setting_a_password_ends_the_sessions_signed_in_before() {
    let app = TestApp::new().await;
    let cookie = app.login("alice", PASSWORD).await;
    assert_eq!(app.get("/", Some(&cookie)).await.status, StatusCode::OK);
    assert_eq!(app.get("/saml2/acme", Some(&cookie)).await.status, StatusCode::OK, "an IdP-initiated response");

    let now = chrono::Utc::now();
    sesame::services::users::set_password(&app.ctx, &Actor::Cli, "alice", "a brand new one".into(), now).await.unwrap();
    let portal = app.get("/", Some(&cookie)).await;
    assert_eq!(portal.status, StatusCode::SEE_OTHER);
    assert!(portal.location.unwrap().starts_with("/login"));
    let launch = app.get("/saml2/acme", Some(&cookie)).await;
    assert!(launch.location.unwrap().starts_with("/login"), "no assertion for the old session");

    let fresh = app.login("alice", "a brand new one").await;
    assert_eq!(app.get("/", Some(&fresh)).await.status, StatusCode::OK);
}

/// Weak passwords (NIST SP 800-63B): a password shorter than `password_min_chars` (12 by default), longer than
/// 1024 bytes, or on the list of common passwords that guessing starts with is refused wherever one is set (a
/// user's by the CLI, API or console, an administrator's), with a message that says why.
#[tokio::test]
async fn weak_new_passwords_are_refused() {
    use sesame::directory::user::Profile;
    use sesame::services::{admins, users, Error};
    let app = TestApp::new().await;
    let now = chrono::Utc::now();
    let refusal = |result: Result<(), Error>| match result {
        Err(e @ Error::Invalid(_)) => e.to_string(),
        other => panic!("expected a refusal, got {other:?}"),
    };
    let short = users::set_password(&app.ctx, &Actor::Cli, "alice", "eleven char".into(), now).await;
    assert!(refusal(short).contains("password must be at least 12 characters"));
    let common = users::set_password(&app.ctx, &Actor::Cli, "alice", "1qaz2wsx3edc".into(), now).await;
    assert!(refusal(common).contains("one of the most common passwords"));
    let huge = users::set_password(&app.ctx, &Actor::Cli, "alice", "x".repeat(1025), now).await;
    assert!(refusal(huge).contains("at most 1024 bytes"));
    let profile = Profile { email: "dave@example.com".into(), ..Default::default() };
    let created = users::create_user(&app.ctx, &Actor::Cli, "dave", profile, Some("short one".into()), now).await;
    assert!(refusal(created.map(|_| ())).contains("at least 12 characters"));
    assert!(users::find_user(&app.ctx, "dave").await.is_err(), "nothing was created");
    let admin = admins::create_admin(&app.ctx, &Actor::Cli, "ops", "Password1234".into(), now).await;
    assert!(refusal(admin).contains("most common passwords"), "case does not hide a common password");
    assert!(app.try_login("alice", PASSWORD, "/").await.1.is_some(), "the old password still works");
}

/// The minimum is a setting, never below 8; a password set before a stricter rule keeps working.
#[tokio::test]
async fn the_minimum_length_is_a_setting() {
    use sesame::services::users;
    let app = TestApp::with("", |c| c.password_min_chars = 8).await;
    let now = chrono::Utc::now();
    users::set_password(&app.ctx, &Actor::Cli, "alice", "eight ch".into(), now).await.unwrap();
    // Another replica on the same database with a stricter rule.
    let mut config = (*app.ctx.config).clone();
    config.password_min_chars = 16;
    let strict = sesame::build(config).await.unwrap().ctx;
    let signed_in = sesame::services::login::sign_in(&strict, "alice", "eight ch", None, now).await;
    assert!(signed_in.is_ok(), "existing passwords keep working");
    let refused = users::set_password(&strict, &Actor::Cli, "alice", "fifteen chars!!".into(), now).await;
    assert!(refused.unwrap_err().to_string().contains("at least 16 characters"));
}
