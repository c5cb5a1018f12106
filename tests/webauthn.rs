//! Passkeys and security keys (issue 14) at the service level and through the router, with a software
//! authenticator (`common::authenticator`) that lets a test choose the origin and the signature counter.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use chrono::{Duration, Utc};
use common::authenticator::SoftKey;
use common::*;
use sesame::audit::{Actor, Event, EventFilter, EventName};
use sesame::services::error::ErrorKind;
use sesame::services::login::{self, IdpSession};
use sesame::services::webauthn::{self, Kind};
use sesame::services::{users, Error};

const LOCAL: &str = "http://localhost:8080";

async fn local_app() -> TestApp {
    TestApp::with("", |config| config.base_url = LOCAL.into()).await
}

async fn alice(app: &TestApp) -> IdpSession {
    login::sign_in(&app.ctx, "alice", PASSWORD, None, Utc::now()).await.unwrap()
}

/// Registers a credential of `kind` for the session's user with a new software key.
async fn enrol(app: &TestApp, session: &IdpSession, kind: Kind) -> SoftKey {
    let now = Utc::now();
    let ceremony = webauthn::start_registration(&app.ctx, session, kind, now).await.unwrap();
    let mut key = SoftKey::new("localhost");
    // A security key usually signs on touch alone (no PIN): user presence only.
    key.verifies_user = kind == Kind::Passkey;
    let response = key.register(&ceremony.options, LOCAL);
    let added =
        webauthn::finish_registration(&app.ctx, session, &ceremony.challenge, &response, "My key", now).await.unwrap();
    assert_eq!(added.kind, kind);
    key
}

async fn sign_in_with(app: &TestApp, key: &SoftKey, origin: &str, counter: u32) -> Result<IdpSession, Error> {
    let now = Utc::now();
    let ceremony = webauthn::start_sign_in(&app.ctx, now).await.unwrap();
    let response = key.assert(&ceremony.options, origin, counter);
    webauthn::finish_sign_in(&app.ctx, &ceremony.challenge, &response, now).await
}

async fn events(app: &TestApp, name: EventName) -> Vec<Event> {
    let filter = EventFilter { name: Some(name), limit: 100, ..Default::default() };
    sesame::services::events::list_events(&app.ctx, &filter).await.unwrap()
}

fn kind_of<T: std::fmt::Debug>(result: Result<T, Error>) -> ErrorKind {
    result.expect_err("refused").kind()
}

#[tokio::test]
async fn a_passkey_signs_in_alone_and_counts_as_multi_factor() {
    let app = local_app().await;
    let session = alice(&app).await;
    let key = enrol(&app, &session, Kind::Passkey).await;
    let listed = webauthn::list(&app.ctx, session.user_id).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].name.as_str(), listed[0].kind, listed[0].last_used_at), ("My key", Kind::Passkey, None));

    let signed_in = sign_in_with(&app, &key, LOCAL, 1).await.unwrap();
    assert_eq!(signed_in.username, "alice");
    assert!(signed_in.is_multi_factor(), "a passkey with user verification is two factors");
    assert!(webauthn::list(&app.ctx, session.user_id).await.unwrap()[0].last_used_at.is_some());

    let enrolled = events(&app, EventName::UserMfaEnrol).await;
    assert_eq!((enrolled.len(), enrolled[0].detail.as_str(), enrolled[0].target.as_str()), (1, "passkey", "My key"));
    assert_eq!(events(&app, EventName::UserMfaSuccess).await.len(), 1);
    let logins = events(&app, EventName::UserLogin).await;
    assert!(logins.iter().any(|e| e.detail == "passkey with user verification"), "{logins:?}");
}

/// Replay: a challenge answered once cannot be answered again, on this replica or another.
#[tokio::test]
async fn a_challenge_is_used_once_on_any_replica() {
    let app = local_app().await;
    let key = enrol(&app, &alice(&app).await, Kind::Passkey).await;
    let now = Utc::now();
    let ceremony = webauthn::start_sign_in(&app.ctx, now).await.unwrap();
    let response = key.assert(&ceremony.options, LOCAL, 1);
    // Finished on another replica than the one that started it.
    let other = app.replica().await;
    webauthn::finish_sign_in(&other.ctx, &ceremony.challenge, &response, now).await.unwrap();
    let again = webauthn::finish_sign_in(&app.ctx, &ceremony.challenge, &response, now).await;
    assert!(matches!(again, Err(Error::CeremonyExpired)), "{again:?}");
    assert_eq!(kind_of(again), ErrorKind::Expired);
}

/// A ceremony started more than five minutes ago is refused, and one of another purpose is too.
#[tokio::test]
async fn an_expired_or_foreign_challenge_is_refused() {
    let app = local_app().await;
    let session = alice(&app).await;
    let key = enrol(&app, &session, Kind::Passkey).await;
    let now = Utc::now();
    let old = webauthn::start_sign_in(&app.ctx, now - Duration::minutes(6)).await.unwrap();
    let late = webauthn::finish_sign_in(&app.ctx, &old.challenge, &key.assert(&old.options, LOCAL, 1), now).await;
    assert!(matches!(late, Err(Error::CeremonyExpired)), "{late:?}");

    // A second-factor ceremony is not a sign-in ceremony.
    let second = webauthn::start_second_factor(&app.ctx, session.user_id, now).await.unwrap();
    let crossed =
        webauthn::finish_sign_in(&app.ctx, &second.challenge, &key.assert(&second.options, LOCAL, 1), now).await;
    assert!(matches!(crossed, Err(Error::CeremonyExpired)), "{crossed:?}");
    assert!(matches!(
        webauthn::finish_sign_in(&app.ctx, "no-such-challenge", "{}", now).await,
        Err(Error::CeremonyExpired)
    ));

    // Housekeeping forgets unfinished ceremonies once they expired.
    webauthn::start_sign_in(&app.ctx, now - Duration::minutes(6)).await.unwrap();
    assert_eq!(webauthn::purge_expired(&app.ctx, now).await.unwrap(), 1);
}

/// A cloned authenticator: a signature counter that does not move forward is refused and recorded as such.
#[tokio::test]
async fn a_counter_that_goes_backwards_is_refused_and_recorded() {
    let app = local_app().await;
    let key = enrol(&app, &alice(&app).await, Kind::Passkey).await;
    sign_in_with(&app, &key, LOCAL, 5).await.unwrap();
    for counter in [3, 5] {
        let refused = sign_in_with(&app, &key, LOCAL, counter).await;
        assert!(matches!(&refused, Err(Error::FactorRefused { reason }) if reason.contains("counter")), "{refused:?}");
    }
    let failures = events(&app, EventName::UserMfaFailed).await;
    assert_eq!(failures.len(), 2);
    for event in &failures {
        assert_eq!(event.username, "alice");
        assert!(!event.success);
        assert!(
            event.detail.contains("signature counter went backwards (possibly a cloned authenticator)"),
            "{event:?}"
        );
    }
    // The counter moves on from the stored value.
    sign_in_with(&app, &key, LOCAL, 6).await.unwrap();
}

/// Phishing: an answer made for another origin (a look-alike site relaying our challenge) is refused.
#[tokio::test]
async fn an_answer_from_another_origin_is_refused() {
    let app = local_app().await;
    let key = enrol(&app, &alice(&app).await, Kind::Passkey).await;
    let refused = sign_in_with(&app, &key, "http://evil.localhost:8080", 1).await;
    assert!(matches!(&refused, Err(Error::FactorRefused { reason }) if reason.contains("another site")), "{refused:?}");
    assert_eq!(kind_of(refused), ErrorKind::Unauthenticated);
    let failures = events(&app, EventName::UserMfaFailed).await;
    assert!(failures[0].detail.starts_with("passkey: "), "{failures:?}");

    // Registration checks the origin too.
    let session = alice(&app).await;
    let ceremony = webauthn::start_registration(&app.ctx, &session, Kind::Passkey, Utc::now()).await.unwrap();
    let response = SoftKey::new("localhost").register(&ceremony.options, "http://evil.localhost:8080");
    let refused =
        webauthn::finish_registration(&app.ctx, &session, &ceremony.challenge, &response, "x", Utc::now()).await;
    assert!(matches!(refused, Err(Error::FactorRefused { .. })), "{refused:?}");
    assert_eq!(webauthn::list(&app.ctx, session.user_id).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_suspended_user_cannot_sign_in_with_a_passkey() {
    let app = local_app().await;
    let key = enrol(&app, &alice(&app).await, Kind::Passkey).await;
    users::suspend_user(&app.ctx, &Actor::Cli, "alice", Utc::now()).await.unwrap();
    let refused = sign_in_with(&app, &key, LOCAL, 1).await;
    assert!(matches!(&refused, Err(Error::FactorRefused { reason }) if reason.contains("suspended")), "{refused:?}");
}

/// Adding and removing factors needs an authentication from the last five minutes.
#[tokio::test]
async fn changes_need_a_recent_sign_in() {
    let app = local_app().await;
    let mut session = alice(&app).await;
    enrol(&app, &session, Kind::SecurityKey).await;
    session.authn_instant_ms -= 6 * 60 * 1000;
    let stale = webauthn::start_registration(&app.ctx, &session, Kind::Passkey, Utc::now()).await;
    assert!(matches!(stale, Err(Error::ReauthRequired)), "{stale:?}");
    let id = webauthn::list(&app.ctx, session.user_id).await.unwrap()[0].id;
    assert!(matches!(webauthn::remove(&app.ctx, &session, id, Utc::now()).await, Err(Error::ReauthRequired)));
    // Renaming is harmless and allowed; removing with a fresh sign-in works and is recorded.
    webauthn::rename(&app.ctx, &session, id, "Blue key").await.unwrap();
    assert_eq!(webauthn::list(&app.ctx, session.user_id).await.unwrap()[0].name, "Blue key");
    let fresh = alice(&app).await;
    webauthn::remove(&app.ctx, &fresh, id, Utc::now()).await.unwrap();
    assert!(webauthn::list(&app.ctx, session.user_id).await.unwrap().is_empty());
    assert_eq!(events(&app, EventName::UserMfaRemove).await[0].target, "Blue key");
}

/// A security key is the second factor after the password; it is not a passkey and cannot sign in alone.
#[tokio::test]
async fn a_security_key_is_a_second_factor() {
    let app = local_app().await;
    let session = alice(&app).await;
    let key = enrol(&app, &session, Kind::SecurityKey).await;
    let now = Utc::now();
    let ceremony = webauthn::start_second_factor(&app.ctx, session.user_id, now).await.unwrap();
    let response = key.assert(&ceremony.options, LOCAL, 1);
    let user = webauthn::finish_second_factor(&app.ctx, &ceremony.challenge, &response, now).await.unwrap();
    assert_eq!(user, session.user_id);
    let success = events(&app, EventName::UserMfaSuccess).await;
    assert_eq!(success[0].detail, "security key");

    // Not a discoverable credential: the passwordless sign-in does not accept it.
    assert!(matches!(sign_in_with(&app, &key, LOCAL, 2).await, Err(Error::FactorRefused { .. })));
    // Bob, who has no key, cannot start one.
    let bob = login::sign_in(&app.ctx, "bob", PASSWORD, None, now).await.unwrap();
    assert_eq!(kind_of(webauthn::start_second_factor(&app.ctx, bob.user_id, now).await), ErrorKind::NotFound);
}

/// A key registered to another user does not answer for this one.
#[tokio::test]
async fn a_second_factor_must_be_the_users_own() {
    let app = local_app().await;
    let alice_key = enrol(&app, &alice(&app).await, Kind::SecurityKey).await;
    let bob = login::sign_in(&app.ctx, "bob", PASSWORD, None, Utc::now()).await.unwrap();
    enrol(&app, &bob, Kind::SecurityKey).await;
    let now = Utc::now();
    let ceremony = webauthn::start_second_factor(&app.ctx, bob.user_id, now).await.unwrap();
    let response = alice_key.assert(&ceremony.options, LOCAL, 1);
    let refused = webauthn::finish_second_factor(&app.ctx, &ceremony.challenge, &response, now).await;
    assert!(matches!(refused, Err(Error::FactorRefused { .. })), "{refused:?}");
    assert_eq!(events(&app, EventName::UserMfaFailed).await[0].username, "bob");
}

/// Guessing: failed second factors are counted per user in the database, so another replica refuses too.
#[tokio::test]
async fn failed_second_factors_are_throttled_across_replicas() {
    let app = local_app().await;
    let session = alice(&app).await;
    let key = enrol(&app, &session, Kind::SecurityKey).await;
    let now = Utc::now();
    let max = app.ctx.config.login_max_failures_per_user;
    for _ in 0..max {
        let ceremony = webauthn::start_second_factor(&app.ctx, session.user_id, now).await.unwrap();
        // Made for another site: refused, and counted.
        let response = key.assert(&ceremony.options, "http://evil.localhost:8080", 1);
        let refused = webauthn::finish_second_factor(&app.ctx, &ceremony.challenge, &response, now).await;
        assert!(matches!(refused, Err(Error::FactorRefused { .. })), "{refused:?}");
    }
    let other = app.replica().await;
    let throttled = webauthn::start_second_factor(&other.ctx, session.user_id, now).await;
    assert_eq!(kind_of(throttled), ErrorKind::Throttled);
    let failures = events(&app, EventName::UserMfaThrottled).await;
    let expected = format!("second factor throttled: {max} consecutive failures");
    assert!(failures[0].detail.starts_with(&expected), "{failures:?}");
}

/// Browsers refuse an IP address as the relying party ID and WebAuthn outside secure contexts: the sign-in page
/// says so instead of offering a button that cannot work.
#[tokio::test]
async fn webauthn_is_unavailable_on_an_ip_base_url() {
    let app = TestApp::with("", |config| config.base_url = "http://127.0.0.1:8080".into()).await;
    let page = app.get("/login", None).await;
    assert!(page.body.contains("refuse an IP address"), "{}", page.body);
    assert!(!page.body.contains("Sign in with a passkey"));
    let session = alice(&app).await;
    let refused = webauthn::start_registration(&app.ctx, &session, Kind::Passkey, Utc::now()).await;
    assert!(matches!(refused, Err(Error::WebauthnUnavailable { .. })), "{refused:?}");

    let local = local_app().await;
    assert!(local.get("/login", None).await.body.contains("Sign in with a passkey"));
}

/// CSRF: the ceremonies' JSON endpoints need the session's token in the x-csrf-token header.
#[tokio::test]
async fn the_ceremony_endpoints_check_the_csrf_token() {
    let app = local_app().await;
    let page = app.get("/login", None).await;
    let cookie = page.set_cookie.clone().unwrap();
    let token = page.input("csrf_token").unwrap();
    let start = |token: Option<&str>| {
        let mut request = Request::post("/login/passkey/start").header(header::COOKIE, &cookie);
        if let Some(t) = token {
            request = request.header("x-csrf-token", t);
        }
        request.body(Body::from("{}")).unwrap()
    };
    assert_eq!(app.send(start(None)).await.status, StatusCode::FORBIDDEN);
    assert_eq!(app.send(start(Some("forged"))).await.status, StatusCode::FORBIDDEN);
    let reply = app.send(start(Some(&token))).await;
    assert_eq!(reply.status, StatusCode::OK);
    let ceremony: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
    assert!(ceremony["challenge"].as_str().is_some_and(|c| c.len() == 64));
    assert_eq!(ceremony["options"]["publicKey"]["rpId"], "localhost");
    assert!(ceremony["options"].get("mediation").is_none_or(serde_json::Value::is_null), "{ceremony}");

    // The whole sign-in through the router: the session continues to the local target only.
    let key = enrol(&app, &alice(&app).await, Kind::Passkey).await;
    let credential: serde_json::Value = serde_json::from_str(&key.assert(&ceremony["options"], LOCAL, 1)).unwrap();
    let body = serde_json::json!({
        "challenge": ceremony["challenge"],
        "credential": credential,
        "continue": "//evil.example",
    });
    let finish = Request::post("/login/passkey/finish")
        .header(header::COOKIE, &cookie)
        .header("x-csrf-token", &token)
        .body(Body::from(body.to_string()))
        .unwrap();
    let reply = app.send(finish).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(serde_json::from_str::<serde_json::Value>(&reply.body).unwrap()["redirect"], "/");
    let signed_in = reply.set_cookie.expect("a new session id at sign-in");
    assert_ne!(signed_in, cookie, "no session fixation");
    assert_eq!(app.get("/account/passkeys", Some(&signed_in)).await.status, StatusCode::OK);
}

/// The registration page needs a signed-in user; its endpoints refuse a forged token before anything happens.
#[tokio::test]
async fn the_account_page_needs_a_session_and_a_token() {
    let app = local_app().await;
    let anonymous = app.get("/account/passkeys", None).await;
    assert_eq!(anonymous.status, StatusCode::SEE_OTHER);
    assert!(anonymous.location.unwrap().starts_with("/login?continue=%2Faccount%2Fpasskeys"));
    let cookie = app.login("alice", PASSWORD).await;
    let page = app.get("/account/passkeys", Some(&cookie)).await;
    assert!(page.body.contains("Add a passkey"), "{}", page.body);
    let forged = Request::post("/account/passkeys/register/start")
        .header(header::COOKIE, &cookie)
        .header("x-csrf-token", "forged")
        .body(Body::from(r#"{"kind":"passkey"}"#))
        .unwrap();
    assert_eq!(app.send(forged).await.status, StatusCode::FORBIDDEN);
}

const ADMIN: &str = "root";
const ADMIN_PASSWORD: &str = "console admin passphrase 1";

/// An administrator adds a security key on the console's account page and signs in to the console with the
/// password and the key, instead of a TOTP code; a cloned key (its counter going backwards) is refused and
/// recorded like a wrong code.
#[tokio::test]
async fn an_administrator_signs_in_to_the_console_with_a_security_key() {
    use sesame::services::admins::{self, SignIn};
    let app = local_app().await;
    let now = Utc::now();
    admins::create_admin(&app.ctx, &Actor::Cli, ADMIN, ADMIN_PASSWORD.into(), now).await.unwrap();
    let SignIn::Done(session) = admins::sign_in(&app.ctx, ADMIN, ADMIN_PASSWORD, None, now).await.unwrap() else {
        panic!("no second factor yet");
    };
    let stale = session.authn_instant_ms - 6 * 60 * 1000;
    let refused = webauthn::start_admin_registration(&app.ctx, ADMIN, stale, Kind::SecurityKey, now).await;
    assert!(matches!(refused, Err(Error::ReauthRequired)), "{refused:?}");
    let ceremony =
        webauthn::start_admin_registration(&app.ctx, ADMIN, session.authn_instant_ms, Kind::SecurityKey, now)
            .await
            .unwrap();
    let mut key = SoftKey::new("localhost");
    key.verifies_user = false;
    let response = key.register(&ceremony.options, LOCAL);
    let at = session.authn_instant_ms;
    webauthn::finish_admin_registration(&app.ctx, ADMIN, at, &ceremony.challenge, &response, "YubiKey", now)
        .await
        .unwrap();
    assert_eq!(webauthn::list_admin(&app.ctx, ADMIN).await.unwrap()[0].name, "YubiKey");
    // The administrator's key is theirs alone: it is no user's passkey.
    assert!(matches!(sign_in_with(&app, &key, LOCAL, 1).await, Err(Error::FactorRefused { .. })));

    // The console's sign-in now asks for the key, through the router as the browser does.
    let page = app.get("/admin/login", None).await;
    let cookie = page.set_cookie.clone().unwrap();
    let token = page.input("csrf_token").unwrap();
    let fields = [("csrf_token", token.as_str()), ("username", ADMIN), ("password", ADMIN_PASSWORD)];
    let step = app.post_form("/admin/login", &fields, Some(&cookie)).await;
    assert!(step.body.contains("Use a security key or passkey"), "{}", step.body);
    assert!(!step.body.contains("One-time code"), "no TOTP without a TOTP secret");
    let cookie = step.set_cookie.clone().unwrap_or(cookie);
    let token = step.body.split("data-csrf=\"").nth(1).and_then(|rest| rest.split('"').next()).unwrap().to_owned();
    let json = |uri: &str, body: String| {
        Request::post(uri)
            .header(header::COOKIE, &cookie)
            .header("x-csrf-token", &token)
            .body(Body::from(body))
            .unwrap()
    };
    let started = app.send(json("/admin/login/key/start", "{}".into())).await;
    assert_eq!(started.status, StatusCode::OK, "{}", started.body);
    let started: serde_json::Value = serde_json::from_str(&started.body).unwrap();
    let credential: serde_json::Value = serde_json::from_str(&key.assert(&started["options"], LOCAL, 3)).unwrap();
    let body = serde_json::json!({ "challenge": started["challenge"], "credential": credential });
    let finished = app.send(json("/admin/login/key/finish", body.to_string())).await;
    assert_eq!(finished.status, StatusCode::OK, "{}", finished.body);
    let console = finished.set_cookie.expect("a new session id at sign-in");
    assert_eq!(app.get("/admin/account", Some(&console)).await.status, StatusCode::OK);

    // A copy of the key, behind in its counter, is refused and recorded.
    let ceremony = webauthn::start_admin_factor(&app.ctx, ADMIN, now).await.unwrap();
    let cloned = key.assert(&ceremony.options, LOCAL, 2);
    let refused = admins::verify_key(&app.ctx, ADMIN, &ceremony.challenge, &cloned, None, now).await;
    assert!(matches!(refused, Err(Error::BadCredentials)), "{refused:?}");
    let failed = events(&app, EventName::AdminLoginFailed).await;
    assert!(failed[0].detail.contains("signature counter went backwards"), "{failed:?}");
}

/// A user whose only factor is a security key is asked for it after the password (no TOTP field), through the
/// router as the browser does; the session is then multi-factor and reaches the account page. Under a policy that
/// requires MFA, the key cannot be removed while it is the last factor, and an administrator's reset removes it.
#[tokio::test]
async fn a_security_key_alone_is_the_second_step_of_a_password_sign_in() {
    let app = local_app().await;
    let now = Utc::now();
    let session = alice(&app).await;
    let key = enrol(&app, &session, Kind::SecurityKey).await;

    let page = app.get("/login", None).await;
    let cookie = page.set_cookie.clone().unwrap();
    let token = page.input("csrf_token").unwrap();
    let fields =
        [("csrf_token", token.as_str()), ("username", "alice"), ("password", PASSWORD), ("continue", "/account")];
    let step = app.post_form("/login", &fields, Some(&cookie)).await;
    let cookie = step.set_cookie.clone().unwrap_or(cookie);
    let factor = app.get(step.location.as_deref().unwrap(), Some(&cookie)).await;
    assert!(factor.body.contains("Use a security key or passkey"), "{}", factor.body);
    assert!(!factor.body.contains("One-time code"), "no TOTP field without TOTP");
    assert_eq!(app.get("/account", Some(&cookie)).await.status, StatusCode::SEE_OTHER, "not signed in yet");
    let token = factor.input("csrf_token").unwrap();
    let json = |uri: &str, body: String| {
        Request::post(uri)
            .header(header::COOKIE, &cookie)
            .header("x-csrf-token", &token)
            .body(Body::from(body))
            .unwrap()
    };
    let started = app.send(json("/login/factor/key/start", "{}".into())).await;
    assert_eq!(started.status, StatusCode::OK, "{}", started.body);
    let ceremony: serde_json::Value = serde_json::from_str(&started.body).unwrap();
    let credential: serde_json::Value = serde_json::from_str(&key.assert(&ceremony["options"], LOCAL, 1)).unwrap();
    let body = serde_json::json!({ "challenge": ceremony["challenge"], "credential": credential });
    let finish = "/login/factor/key/finish?continue=%2Faccount";
    let done = app.send(json(finish, body.to_string())).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert_eq!(serde_json::from_str::<serde_json::Value>(&done.body).unwrap()["redirect"], "/account");
    let signed_in = done.set_cookie.expect("a new session id once signed in");
    let account = app.get("/account", Some(&signed_in)).await;
    assert_eq!(account.status, StatusCode::OK);
    assert!(account.body.contains("1 registered."), "{}", account.body);

    // The last factor stays while a policy requires one; a reset removes it (and the user enrols again).
    sesame::services::mfa::set_everyone(&app.ctx, &Actor::Cli, true, now).await.unwrap();
    let id = webauthn::list(&app.ctx, session.user_id).await.unwrap()[0].id;
    let refused = webauthn::remove(&app.ctx, &session, id, now).await;
    assert_eq!(kind_of(refused), ErrorKind::Invalid);
    assert_eq!(webauthn::list(&app.ctx, session.user_id).await.unwrap().len(), 1, "nothing removed");
    sesame::services::mfa::reset(&app.ctx, &Actor::Cli, "alice", now).await.unwrap();
    assert!(webauthn::list(&app.ctx, session.user_id).await.unwrap().is_empty());
    let status = sesame::services::mfa::status(&app.ctx, session.user_id).await.unwrap();
    assert!(!status.has_factor() && status.must_enrol());
}

/// A user whose first factor is a security key (not TOTP) gets ten recovery codes with it, shown once on the
/// passkeys page, and each signs in once in place of the key.
#[tokio::test]
async fn a_first_security_key_comes_with_recovery_codes_shown_once() {
    use sesame::services::mfa::{self, Proof};
    let app = local_app().await;
    let now = Utc::now();
    let session = alice(&app).await;
    // Through the router, as the browser adds it.
    let cookie = app.login("alice", PASSWORD).await;
    let page = app.get("/account/passkeys", Some(&cookie)).await;
    let token = page.body.split("data-csrf=\"").nth(1).and_then(|r| r.split('"').next()).unwrap().to_owned();
    let json = |uri: &str, body: String| {
        Request::post(uri)
            .header(header::COOKIE, &cookie)
            .header("x-csrf-token", &token)
            .body(Body::from(body))
            .unwrap()
    };
    let started = app.send(json("/account/passkeys/register/start", r#"{"kind":"security_key"}"#.into())).await;
    assert_eq!(started.status, StatusCode::OK, "{}", started.body);
    let ceremony: serde_json::Value = serde_json::from_str(&started.body).unwrap();
    let mut key = SoftKey::new("localhost");
    key.verifies_user = false;
    let credential: serde_json::Value = serde_json::from_str(&key.register(&ceremony["options"], LOCAL)).unwrap();
    let body = serde_json::json!({ "challenge": ceremony["challenge"], "credential": credential, "name": "YubiKey" });
    let added = app.send(json("/account/passkeys/register/finish", body.to_string())).await;
    assert_eq!(added.status, StatusCode::OK, "{}", added.body);

    let shown = app.get("/account/passkeys", Some(&cookie)).await.body;
    let codes: Vec<String> = shown
        .split("<code class=\"select\">")
        .skip(1)
        .filter_map(|rest| rest.split('<').next().map(str::to_owned))
        .collect();
    assert_eq!(codes.len(), 10, "{shown}");
    assert!(!app.get("/account/passkeys", Some(&cookie)).await.body.contains("Your recovery codes"), "shown once");
    let again = mfa::first_recovery_codes(&app.ctx, &Actor::Cli, session.user_id, "alice", now).await.unwrap();
    assert!(again.is_none(), "made only once");

    mfa::verify(&app.ctx, session.user_id, "alice", Proof::Recovery(&codes[0]), "sign-in", None, now).await.unwrap();
    let reused =
        mfa::verify(&app.ctx, session.user_id, "alice", Proof::Recovery(&codes[0]), "sign-in", None, now).await;
    assert!(matches!(reused, Err(Error::BadFactor { .. })), "{reused:?}");
}
