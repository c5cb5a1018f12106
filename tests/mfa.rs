//! Second factors of portal users: TOTP and recovery codes at sign-in, step-up for applications and requests that
//! ask for MFA, the MFA policies (everyone, groups, applications), an administrator's reset, and the events.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use axum::http::StatusCode;
use chrono::Utc;
use common::*;
use sesame::audit::{Actor, EventFilter, EventName};
use sesame::services::totp::{open_secret, totp_code};
use sesame::services::{mfa, users};

const MFA: &str = "https://refeds.org/profile/mfa";
const PASSWORD_CLASS: &str = "urn:oasis:names:tc:SAML:2.0:ac:classes:Password";

/// A user's TOTP secret and the recovery codes of the first enrolment.
struct Enrolled {
    secret: Vec<u8>,
    codes: Vec<String>,
}

impl Enrolled {
    /// The code of the step `offset` steps from now (each step is accepted once, so tests walk forward).
    fn code(&self, offset: i64) -> String {
        let now = u64::try_from(Utc::now().timestamp() + offset * 30).unwrap();
        totp_code(&self.secret, now)
    }
}

/// Enrols TOTP for `username` through the service, as the account page does, with a code of the previous step
/// (so the current and next steps are left for the tests).
async fn enrol(app: &TestApp, username: &str) -> Enrolled {
    let (user, _) = users::get_user(&app.ctx, username).await.unwrap();
    let sealed = mfa::start_totp(&app.ctx, user.id).unwrap();
    let secret = open_secret(&app.ctx, &sesame::store::sealed::USER_TOTP.binding(user.id.0), &sealed).unwrap();
    let code = totp_code(&secret, u64::try_from(Utc::now().timestamp() - 30).unwrap());
    let actor = Actor::User(username.into());
    let codes =
        mfa::confirm_totp(&app.ctx, &actor, user.id, username, &sealed, &code, Utc::now()).await.unwrap().unwrap();
    Enrolled { secret, codes }
}

/// Posts the sign-in form; returns the reply and the session cookie (the new one when the id changed).
async fn password_step(app: &TestApp, username: &str, next: &str) -> (Reply, String) {
    let page = app.get("/login", None).await;
    let cookie = page.set_cookie.clone().unwrap();
    let token = page.input("csrf_token").unwrap();
    let fields = [("csrf_token", token.as_str()), ("username", username), ("password", PASSWORD), ("continue", next)];
    let reply = app.post_form("/login", &fields, Some(&cookie)).await;
    let cookie = reply.set_cookie.clone().unwrap_or(cookie);
    (reply, cookie)
}

/// Submits the factor page with `field` = `value`; returns the reply and the (possibly new) cookie.
async fn factor_step(app: &TestApp, cookie: &str, next: &str, field: &str, value: &str) -> (Reply, String) {
    let page = app.get(&format!("/login/factor?continue={}", urlencode(next)), Some(cookie)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let token = page.input("csrf_token").unwrap();
    let fields = [("csrf_token", token.as_str()), ("continue", next), (field, value)];
    let reply = app.post_form("/login/factor", &fields, Some(cookie)).await;
    let cookie = reply.set_cookie.clone().unwrap_or_else(|| cookie.to_owned());
    (reply, cookie)
}

async fn events(app: &TestApp, name: EventName) -> Vec<sesame::audit::Event> {
    let filter = EventFilter { name: Some(name), limit: 50, ..Default::default() };
    sesame::services::events::list_events(&app.ctx, &filter).await.unwrap()
}

fn is_signed_in(reply: &Reply) -> bool {
    reply.status == StatusCode::OK
}

/// Second factor at sign-in: after the right password, a user with TOTP is not signed in until a current code is
/// given; a wrong code and a replayed code are refused with a clear message and recorded.
#[tokio::test]
async fn a_user_with_totp_signs_in_with_password_and_code_each_code_once() {
    let app = TestApp::new().await;
    let totp = enrol(&app, "alice").await;
    let (reply, cookie) = password_step(&app, "alice", "/").await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(reply.location.as_deref(), Some("/login/factor?continue=%2F"));
    assert!(!is_signed_in(&app.get("/", Some(&cookie)).await), "no IdP session before the factor");

    let (wrong, cookie) = factor_step(&app, &cookie, "/", "code", "000000").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.body.contains("This code is not right"), "{}", wrong.body);

    let code = totp.code(0);
    let (right, cookie) = factor_step(&app, &cookie, "/", "code", &code).await;
    assert_eq!(right.status, StatusCode::SEE_OTHER, "{}", right.body);
    assert!(is_signed_in(&app.get("/", Some(&cookie)).await));

    // The same code in another sign-in: refused (replay).
    let (_, other) = password_step(&app, "alice", "/").await;
    let (replayed, other) = factor_step(&app, &other, "/", "code", &code).await;
    assert_eq!(replayed.status, StatusCode::UNAUTHORIZED);
    assert!(replayed.body.contains("already used"), "{}", replayed.body);
    assert!(!is_signed_in(&app.get("/", Some(&other)).await));

    let failed = events(&app, EventName::UserMfaFailed).await;
    let reasons: Vec<&str> = failed.iter().map(|e| e.detail.as_str()).collect();
    assert_eq!(reasons, ["one-time code already used, sign-in", "wrong one-time code, sign-in"]);
    assert!(failed.iter().all(|e| !e.success && e.username == "alice"));
    assert_eq!(events(&app, EventName::UserMfaSuccess).await.len(), 1);
    assert_eq!(events(&app, EventName::UserMfaEnrol).await.len(), 1);
}

/// Recovery codes: each works once instead of the authenticator, and each use is an event.
#[tokio::test]
async fn a_recovery_code_signs_in_once() {
    let app = TestApp::new().await;
    let totp = enrol(&app, "alice").await;
    assert_eq!(totp.codes.len(), 10);
    let code = totp.codes[3].clone();
    let (_, cookie) = password_step(&app, "alice", "/").await;
    // Typed in lower case with spaces: the same code.
    let typed = code.replace('-', " ").to_lowercase();
    let (used, cookie) = factor_step(&app, &cookie, "/", "recovery_code", &typed).await;
    assert_eq!(used.status, StatusCode::SEE_OTHER, "{}", used.body);
    assert!(is_signed_in(&app.get("/", Some(&cookie)).await));

    let (_, again) = password_step(&app, "alice", "/").await;
    let (refused, again) = factor_step(&app, &again, "/", "recovery_code", &code).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert!(refused.body.contains("recovery code is wrong or was already used"), "{}", refused.body);
    assert!(!is_signed_in(&app.get("/", Some(&again)).await));

    let uses = events(&app, EventName::UserMfaRecoveryUse).await;
    let [use_event] = uses.as_slice() else { panic!("{uses:?}") };
    assert!(use_event.detail.contains("9 unused recovery codes left"), "{}", use_event.detail);
    let factors = mfa::list_factors(&app.ctx, "alice").await.unwrap();
    assert_eq!(factors.iter().map(|f| f.kind).collect::<Vec<_>>(), ["totp", "recovery_codes"]);
    assert!(factors[1].name.contains("9 of 10 unused"), "{}", factors[1].name);
}

/// Policy by group: a member of a group that requires MFA and has no factor is taken through enrolment right
/// after the password, before any IdP session exists (and so before any SSO response); afterwards the session is
/// multi-factor and the recovery codes are shown once.
#[tokio::test]
async fn group_policy_forces_enrolment_before_any_response() {
    let app = TestApp::new().await;
    mfa::set_group(&app.ctx, &Actor::Cli, "staff", true, Utc::now()).await.unwrap();
    let first = app.get(&format!("/saml2/acme?{}", redirect_query(&Req::default().xml(None), None, None)), None).await;
    let next = url::form_urlencoded::parse(first.location.unwrap().split_once('?').unwrap().1.as_bytes())
        .find(|(k, _)| k == "continue")
        .unwrap()
        .1
        .into_owned();
    let (reply, cookie) = password_step(&app, "alice", &next).await;
    assert_eq!(reply.location.unwrap(), format!("/login/enrol?continue={}", urlencode(&next)));
    let blocked = app.get(&next, Some(&cookie)).await;
    assert!(blocked.saml_response().is_none(), "no response before enrolment");
    assert_eq!(blocked.status, StatusCode::SEE_OTHER);
    assert!(blocked.location.unwrap().starts_with("/login?"));

    let page = app.get(&format!("/login/enrol?continue={}", urlencode(&next)), Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::OK);
    let secret_b32 = page.body.split("id=\"totp-secret\">").nth(1).unwrap().split('<').next().unwrap().to_owned();
    let secret = base32_decode(&secret_b32);
    assert!(page.body.contains("otpauth://totp/sesame:alice?secret="), "the URI is shown as text");
    assert!(page.body.contains("<svg class=\"qr\""), "and as a QR code");
    let token = page.input("csrf_token").unwrap();

    let wrong = [("csrf_token", token.as_str()), ("continue", next.as_str()), ("code", "123456")];
    let refused = app.post_form("/login/enrol", &wrong, Some(&cookie)).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(mfa::list_factors(&app.ctx, "alice").await.unwrap().is_empty(), "nothing enrolled by a wrong code");

    let code = totp_code(&secret, u64::try_from(Utc::now().timestamp()).unwrap());
    let fields = [("csrf_token", token.as_str()), ("continue", next.as_str()), ("code", code.as_str())];
    let done = app.post_form("/login/enrol", &fields, Some(&cookie)).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert_eq!(done.body.matches("<li><code class=\"select\">").count(), 10, "ten recovery codes shown once");
    let cookie = done.set_cookie.unwrap();
    let answered = app.get(&next, Some(&cookie)).await;
    let xml = answered.saml_response().expect("answered after enrolment");
    assert_eq!(text_of(&xml, "AuthnContextClassRef").as_deref(), Some(MFA));
}

/// Policy by application: `require_mfa = true` in the settings file steps up a password-only session (the user
/// has a factor), and the response then says REFEDS MFA; a user with no factor is taken through enrolment.
#[tokio::test]
async fn application_policy_steps_up_a_password_only_session() {
    let app = TestApp::with_app_settings("require_mfa = true").await;
    let cookie = app.login("alice", PASSWORD).await;
    // No factor yet: enrolment, not a response.
    let query = redirect_query(&Req::default().xml(None), None, None);
    let reply = app.get(&format!("/saml2/acme?{query}"), Some(&cookie)).await;
    assert!(reply.saml_response().is_none());
    assert!(reply.location.as_deref().unwrap().starts_with("/login/enrol?continue=%2Fsaml2%2Facme%2Fcontinue%2F"));

    let totp = enrol(&app, "alice").await;
    let query = redirect_query(&Req::default().xml(None), None, None);
    let reply = app.get(&format!("/saml2/acme?{query}"), Some(&cookie)).await;
    assert!(reply.saml_response().is_none());
    let location = reply.location.unwrap();
    assert!(location.starts_with("/login/factor?continue=%2Fsaml2%2Facme%2Fcontinue%2F"), "{location}");
    let next = location.split_once("continue=").unwrap().1.replace("%2F", "/");
    let (stepped, cookie) = factor_step(&app, &cookie, &next, "code", &totp.code(0)).await;
    assert_eq!(stepped.status, StatusCode::SEE_OTHER);
    let answered = app.get(&next, Some(&cookie)).await;
    let xml = answered.saml_response().unwrap();
    assert!(xml.contains("status:Success"));
    assert_eq!(text_of(&xml, "AuthnContextClassRef").as_deref(), Some(MFA));
    let step_ups = events(&app, EventName::UserMfaStepUp).await;
    assert_eq!(step_ups.len(), 1, "{step_ups:?}");

    // Another application without the policy keeps answering password-only sessions as before.
    let plain = TestApp::new().await;
    let cookie = plain.login("alice", PASSWORD).await;
    let reply = plain.get(&format!("/saml2/acme?{query}"), Some(&cookie)).await;
    assert_eq!(text_of(&reply.saml_response().unwrap(), "AuthnContextClassRef").as_deref(), Some(PASSWORD_CLASS));
}

/// RequestedAuthnContext for REFEDS MFA (exact and minimum): a user with a factor steps up and gets that class;
/// a user who cannot provide one gets NoAuthnContext (and the refusal is recorded); a passive request never steps
/// up.
#[tokio::test]
async fn requested_mfa_steps_up_or_gets_no_authn_context() {
    let app = TestApp::new().await;
    let asks = |comparison: &str, passive: bool| Req {
        authn_context: Some((comparison.into(), vec![MFA.into()])),
        is_passive: passive,
        ..Req::default()
    };
    let cookie = app.login("alice", PASSWORD).await;
    let reply = app
        .get(&format!("/saml2/acme?{}", redirect_query(&asks("exact", false).xml(None), None, None)), Some(&cookie))
        .await;
    let xml = reply.saml_response().expect("a status response, no step-up without a factor");
    assert!(xml.contains("status:NoAuthnContext"), "{xml}");
    assert_eq!(events(&app, EventName::SsoRequestRejected).await.len(), 1);

    let totp = enrol(&app, "alice").await;
    let passive = app
        .get(&format!("/saml2/acme?{}", redirect_query(&asks("exact", true).xml(None), None, None)), Some(&cookie))
        .await;
    assert!(passive.saml_response().unwrap().contains("status:NoPassive"));

    let query = redirect_query(&asks("exact", false).xml(None), None, None);
    let reply = app.get(&format!("/saml2/acme?{query}"), Some(&cookie)).await;
    let location = reply.location.unwrap();
    assert!(location.starts_with("/login/factor?"), "{location}");
    let next = location.split_once("continue=").unwrap().1.replace("%2F", "/");
    let (_, cookie) = factor_step(&app, &cookie, &next, "code", &totp.code(0)).await;
    let xml = app.get(&next, Some(&cookie)).await.saml_response().unwrap();
    assert!(xml.contains("status:Success"), "{xml}");
    assert_eq!(text_of(&xml, "AuthnContextClassRef").as_deref(), Some(MFA));

    // The session is multi-factor now: a request for at least MFA is answered at once.
    let query = redirect_query(&asks("minimum", false).xml(None), None, None);
    let xml = app.get(&format!("/saml2/acme?{query}"), Some(&cookie)).await.saml_response().unwrap();
    assert!(xml.contains("status:Success"), "{xml}");
    assert_eq!(text_of(&xml, "AuthnContextClassRef").as_deref(), Some(MFA));
}

/// Removing the last factor is refused while a policy requires MFA for the user; allowed without one.
#[tokio::test]
async fn removing_the_last_factor_is_refused_under_policy() {
    let app = TestApp::new().await;
    enrol(&app, "alice").await;
    let (alice, _) = users::get_user(&app.ctx, "alice").await.unwrap();
    let actor = Actor::User("alice".into());
    mfa::set_everyone(&app.ctx, &Actor::Cli, true, Utc::now()).await.unwrap();
    let refused = mfa::remove_totp(&app.ctx, &actor, alice.id, "alice", Utc::now()).await.unwrap_err();
    assert!(refused.to_string().contains("policy requires a second factor"), "{refused}");
    assert_eq!(mfa::list_factors(&app.ctx, "alice").await.unwrap().len(), 2);
    mfa::set_everyone(&app.ctx, &Actor::Cli, false, Utc::now()).await.unwrap();
    mfa::remove_totp(&app.ctx, &actor, alice.id, "alice", Utc::now()).await.unwrap();
    assert!(mfa::list_factors(&app.ctx, "alice").await.unwrap().is_empty(), "TOTP and recovery codes gone");
    assert_eq!(events(&app, EventName::UserMfaRemove).await.len(), 1);
    assert_eq!(events(&app, EventName::AdminMfaPolicy).await.len(), 2);
}

/// An administrator's reset removes every factor, ends the user's sessions, and makes the next sign-in enrol
/// again even without a policy.
#[tokio::test]
async fn a_reset_forces_re_enrolment_and_ends_sessions() {
    let app = TestApp::new().await;
    let totp = enrol(&app, "alice").await;
    let (_, cookie) = password_step(&app, "alice", "/").await;
    let (_, cookie) = factor_step(&app, &cookie, "/", "code", &totp.code(0)).await;
    assert!(is_signed_in(&app.get("/", Some(&cookie)).await));
    // A second later, so the session's millisecond is surely before the reset's.
    let later = Utc::now() + chrono::Duration::seconds(1);
    mfa::reset(&app.ctx, &Actor::Admin("root".into()), "alice", later).await.unwrap();
    assert!(!is_signed_in(&app.get("/", Some(&cookie)).await), "signed out everywhere");
    assert!(mfa::list_factors(&app.ctx, "alice").await.unwrap().is_empty());
    let (reply, _) = password_step(&app, "alice", "/").await;
    assert_eq!(reply.location.as_deref(), Some("/login/enrol?continue=%2F"));
    let resets = events(&app, EventName::UserMfaReset).await;
    let [reset] = resets.as_slice() else { panic!("{resets:?}") };
    assert_eq!((reset.actor.as_str(), reset.target.as_str()), ("admin:root", "alice"));
}

/// Guessing codes with a stolen password: second-factor failures are throttled per user and client, and the
/// count is shared by replicas (the database holds it), so spreading guesses over replicas does not help.
#[tokio::test]
async fn second_factor_failures_are_throttled_across_replicas() {
    let app = TestApp::new().await;
    let totp = enrol(&app, "alice").await;
    let other = app.replica().await;
    let max = app.ctx.config.login_max_failures_per_user;
    for i in 0..max {
        let replica = if i % 2 == 0 { &app } else { &other };
        let (_, cookie) = password_step(replica, "alice", "/").await;
        let (reply, _) = factor_step(replica, &cookie, "/", "code", "000000").await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    let (_, cookie) = password_step(&other, "alice", "/").await;
    let (throttled, cookie) = factor_step(&other, &cookie, "/", "code", &totp.code(0)).await;
    assert_eq!(throttled.status, StatusCode::TOO_MANY_REQUESTS, "even the right code waits");
    assert!(!is_signed_in(&other.get("/", Some(&cookie)).await));
    assert!(!events(&app, EventName::UserMfaThrottled).await.is_empty());

    // An administrator's unlock of the user lifts the wait on the second factor too.
    sesame::services::throttle::unlock(
        &app.ctx,
        &Actor::Cli,
        sesame::services::throttle::Realm::User,
        "alice",
        Utc::now(),
    )
    .await
    .unwrap();
    let (_, cookie) = password_step(&app, "alice", "/").await;
    let (unlocked, cookie) = factor_step(&app, &cookie, "/", "code", &totp.code(1)).await;
    assert_eq!(unlocked.status, StatusCode::SEE_OTHER, "{}", unlocked.body);
    assert!(is_signed_in(&app.get("/", Some(&cookie)).await));
}

/// ForceAuthn asks again for everything the application's policy needs: the password, then the factor; the
/// assertion's AuthnInstant is the time of that last authentication.
#[tokio::test]
async fn force_authn_asks_for_password_and_factor_again() {
    let app = TestApp::with_app_settings("require_mfa = true").await;
    let totp = enrol(&app, "alice").await;
    let (_, cookie) = password_step(&app, "alice", "/").await;
    let (_, cookie) = factor_step(&app, &cookie, "/", "code", &totp.code(0)).await;
    let query = redirect_query(&Req::default().xml(None), None, None);
    let plain = app.get(&format!("/saml2/acme?{query}"), Some(&cookie)).await;
    assert_eq!(text_of(&plain.saml_response().unwrap(), "AuthnContextClassRef").as_deref(), Some(MFA));

    let before = Utc::now();
    let forced = Req { force_authn: true, ..Req::default() };
    let reply = app.get(&format!("/saml2/acme?{}", redirect_query(&forced.xml(None), None, None)), Some(&cookie)).await;
    assert!(reply.saml_response().is_none(), "no answer from the old sign-in");
    let login = reply.location.unwrap();
    assert!(login.starts_with("/login?continue=") && login.ends_with("&force=1"), "{login}");
    let next = url::form_urlencoded::parse(login.split_once('?').unwrap().1.as_bytes())
        .find(|(k, _)| k == "continue")
        .unwrap()
        .1
        .into_owned();
    let page = app.get(&login, Some(&cookie)).await;
    let token = page.input("csrf_token").unwrap();
    let fields = [
        ("csrf_token", token.as_str()),
        ("username", "alice"),
        ("password", PASSWORD),
        ("continue", &next),
        ("force", "1"),
    ];
    let reply = app.post_form("/login", &fields, Some(&cookie)).await;
    assert!(reply.location.as_deref().unwrap().starts_with("/login/factor?"), "the factor again");
    let cookie = reply.set_cookie.unwrap_or(cookie);
    let (_, cookie) = factor_step(&app, &cookie, &next, "code", &totp.code(1)).await;
    let xml = app.get(&next, Some(&cookie)).await.saml_response().unwrap();
    assert_eq!(text_of(&xml, "AuthnContextClassRef").as_deref(), Some(MFA));
    let authn_instant = xml.split("AuthnInstant=\"").nth(1).unwrap().split('"').next().unwrap();
    let authn_instant: chrono::DateTime<Utc> = authn_instant.parse().unwrap();
    assert!(authn_instant >= before - chrono::Duration::seconds(1), "{authn_instant} is the new sign-in");
}

fn base32_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut bits = 0u64;
    let mut n = 0;
    let mut out = Vec::new();
    for c in text.trim_end_matches('=').bytes() {
        let v = ALPHABET.iter().position(|a| *a == c).unwrap() as u64;
        bits = (bits << 5) | v;
        n += 5;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
            bits &= (1 << n) - 1;
        }
    }
    out
}

/// The console: the user page lists the factors (never the secret) and resets them; the users page sets the
/// policy for everyone and for chosen groups; the SSO tab's checkbox sets `require_mfa`. Each is an event of the
/// administrator.
#[tokio::test]
async fn the_console_lists_and_resets_factors_and_sets_the_policies() {
    let app = TestApp::new().await;
    sesame::services::admins::create_admin(&app.ctx, &Actor::Cli, "root", "admin password 123".into(), Utc::now())
        .await
        .unwrap();
    let page = app.get("/admin/login", None).await;
    let cookie = page.set_cookie.clone().unwrap();
    let token = page.input("csrf_token").unwrap();
    let fields = [("csrf_token", token.as_str()), ("username", "root"), ("password", "admin password 123")];
    let cookie = app.post_form("/admin/login", &fields, Some(&cookie)).await.set_cookie.unwrap_or(cookie);
    let token = app.get("/admin", Some(&cookie)).await.input("csrf_token").unwrap();
    enrol(&app, "alice").await;

    let user = app.get("/admin/users/alice", Some(&cookie)).await;
    assert!(user.body.contains("Authenticator app (TOTP)") && user.body.contains("10 of 10 unused"), "{}", user.body);
    let reset = app.post_form("/admin/users/alice/mfa/reset", &[("csrf_token", &token)], Some(&cookie)).await;
    assert_eq!(reset.status, StatusCode::SEE_OTHER);
    assert!(mfa::list_factors(&app.ctx, "alice").await.unwrap().is_empty());
    let user = app.get("/admin/users/alice", Some(&cookie)).await;
    assert!(user.body.contains("enrols again at the next sign-in"), "{}", user.body);

    let fields = [("csrf_token", token.as_str()), ("mfa_group", "staff")];
    assert_eq!(app.post_form("/admin/mfa/policy", &fields, Some(&cookie)).await.status, StatusCode::SEE_OTHER);
    let policy = mfa::policy(&app.ctx).await.unwrap();
    assert_eq!((policy.everyone, policy.groups), (false, vec!["staff".to_owned()]));
    let users = app.get("/admin/users", Some(&cookie)).await;
    assert!(users.body.contains(r#"name="mfa_group" value="staff" checked"#), "{}", users.body);

    let sso = [
        ("csrf_token", token.as_str()),
        ("name_id_format", "email"),
        ("signing_mode", "assertion"),
        ("require_mfa", "on"),
    ];
    assert_eq!(app.post_form("/admin/apps/acme/sso", &sso, Some(&cookie)).await.status, StatusCode::SEE_OTHER);
    let tab = app.get("/admin/apps/acme?tab=sso", Some(&cookie)).await;
    assert!(tab.body.contains(r#"name="require_mfa" checked"#), "{}", tab.body);

    let admin_events: Vec<_> = events(&app, EventName::AdminMfaPolicy).await;
    assert_eq!(admin_events.len(), 1);
    assert_eq!(admin_events[0].actor, "admin:root");
    let resets = events(&app, EventName::UserMfaReset).await;
    assert_eq!(resets[0].actor, "admin:root");
}

/// `/account`: reached only when signed in; TOTP enrolled with a code computed from the page's secret (recovery
/// codes shown once, the session multi-factor); removal refused under a policy; a password change needs the
/// current password and ends the other sessions only; "sign out everywhere" ends them all. Every form needs the
/// session's CSRF token.
#[tokio::test]
async fn the_account_page_enrols_removes_changes_the_password_and_signs_out_everywhere() {
    let app = TestApp::new().await;
    assert_eq!(app.get("/account", None).await.location.as_deref(), Some("/login?continue=%2Faccount"));
    let cookie = app.login("alice", PASSWORD).await;
    let other = app.login("alice", PASSWORD).await;
    let page = app.get("/account", Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::OK);
    let token = page.input("csrf_token").unwrap();
    let forged = app.post_form("/account/totp", &[("csrf_token", "forged")], Some(&cookie)).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN, "cross-site request forgery");

    // Enrolment: the secret waits in the session until a code of it is given.
    let started = app.post_form("/account/totp", &[("csrf_token", &token)], Some(&cookie)).await;
    assert_eq!(started.status, StatusCode::SEE_OTHER);
    let page = app.get("/account", Some(&cookie)).await;
    let secret_b32 = page.body.split("id=\"totp-secret\">").nth(1).unwrap().split('<').next().unwrap().to_owned();
    let secret = base32_decode(&secret_b32);
    let wrong =
        app.post_form("/account/totp/confirm", &[("csrf_token", &token), ("code", "000000")], Some(&cookie)).await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST);
    let code = totp_code(&secret, u64::try_from(Utc::now().timestamp()).unwrap());
    let done = app.post_form("/account/totp/confirm", &[("csrf_token", &token), ("code", &code)], Some(&cookie)).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert_eq!(done.body.matches("<li><code class=\"select\">").count(), 10);
    let cookie = done.set_cookie.unwrap();
    let page = app.get("/account", Some(&cookie)).await;
    assert!(page.body.contains("with a second factor") && page.body.contains("10 unused recovery codes"));
    let token = page.input("csrf_token").unwrap();

    // New recovery codes replace the old ones.
    let old = mfa::list_factors(&app.ctx, "alice").await.unwrap();
    let codes = app.post_form("/account/recovery-codes", &[("csrf_token", &token)], Some(&cookie)).await;
    assert_eq!(codes.status, StatusCode::OK);
    assert_eq!(codes.body.matches("<li><code class=\"select\">").count(), 10);
    assert_eq!(events(&app, EventName::UserMfaRecoveryRegenerate).await.len(), 1);
    assert_eq!(old.len(), 2);

    // Removing the last factor under a policy: refused, with the reason on the page.
    mfa::set_everyone(&app.ctx, &Actor::Cli, true, Utc::now()).await.unwrap();
    let refused = app.post_form("/account/totp/remove", &[("csrf_token", &token)], Some(&cookie)).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(refused.body.contains("policy requires a second factor"), "{}", refused.body);
    mfa::set_everyone(&app.ctx, &Actor::Cli, false, Utc::now()).await.unwrap();
    let removed = app.post_form("/account/totp/remove", &[("csrf_token", &token)], Some(&cookie)).await;
    assert_eq!(removed.location.as_deref(), Some("/account?done=totp-removed"));

    // The sessions: the other browser signed in to acme, and the page lists it beside this one.
    let query = redirect_query(&Req::default().xml(None), None, None);
    assert!(app.get(&format!("/saml2/acme?{query}"), Some(&other)).await.saml_response().is_some());
    let page = app.get("/account", Some(&cookie)).await;
    let sessions = page.body.split("id=\"session-list\"").nth(1).unwrap().split("</table>").next().unwrap();
    assert!(sessions.contains("This browser") && sessions.contains("Another browser"), "{sessions}");
    assert!(sessions.contains("Acme CRM"), "{sessions}");

    // The password: the current one is required; the other session ends, this one stays.
    let change = |current: &'static str| {
        [
            ("csrf_token", token.clone()),
            ("current_password", current.to_owned()),
            ("new_password", "a brand new passphrase".to_owned()),
            ("new_password_again", "a brand new passphrase".to_owned()),
        ]
    };
    let wrong = change("not my password");
    let wrong: Vec<(&str, &str)> = wrong.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let wrong = app.post_form("/account/password", &wrong, Some(&cookie)).await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST);
    assert!(wrong.body.contains("current password is not right"), "{}", wrong.body);
    let right = change(PASSWORD);
    let right: Vec<(&str, &str)> = right.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let changed = app.post_form("/account/password", &right, Some(&cookie)).await;
    assert_eq!(changed.location.as_deref(), Some("/account?done=password"), "{}", changed.body);
    let cookie = changed.set_cookie.unwrap();
    assert!(is_signed_in(&app.get("/", Some(&cookie)).await), "this session stays");
    assert!(!is_signed_in(&app.get("/", Some(&other)).await), "the other session ended");
    let page = app.get("/account", Some(&cookie)).await;
    assert!(!page.body.contains("Another browser"), "ended sessions are not listed");
    assert_eq!(events(&app, EventName::UserPasswordChange).await.len(), 1);

    // Sign out everywhere: this session too.
    let token = app.get("/account", Some(&cookie)).await.input("csrf_token").unwrap();
    let out = app.post_form("/account/sign-out-everywhere", &[("csrf_token", &token)], Some(&cookie)).await;
    assert_eq!(out.location.as_deref(), Some("/login"));
    let cookie = out.set_cookie.unwrap_or(cookie);
    assert!(!is_signed_in(&app.get("/", Some(&cookie)).await));
    assert_eq!(events(&app, EventName::UserLogoutEverywhere).await.len(), 1);
}

/// A session older than five minutes must prove itself again before a sensitive change: a wrong password or code
/// is refused and counted; the password or a current code is accepted.
#[tokio::test]
async fn sensitive_changes_of_an_old_session_need_a_fresh_proof() {
    let app = TestApp::new().await;
    let totp = enrol(&app, "alice").await;
    let (alice, _) = users::get_user(&app.ctx, "alice").await.unwrap();
    let now = Utc::now();
    let mut old = sesame::services::login::new_session(&alice, now - chrono::Duration::minutes(6));
    assert!(!sesame::services::account::is_recent(&old, now));
    old.mfa_instant_ms = Some((now - chrono::Duration::minutes(4)).timestamp_millis());
    assert!(sesame::services::account::is_recent(&old, now), "a factor 4 minutes ago counts");
    old.mfa_instant_ms = None;
    let reauth = |proof: String| {
        let old = old.clone();
        let ctx = app.ctx.clone();
        async move { sesame::services::account::reauthenticate(&ctx, &old, &proof, None, Utc::now()).await }
    };
    assert!(reauth("wrong password".into()).await.is_err());
    assert!(reauth("000000".into()).await.is_err());
    assert!(reauth(PASSWORD.into()).await.is_ok());
    assert!(reauth(totp.code(0)).await.is_ok());
    assert!(reauth(totp.code(0)).await.is_err(), "a code once");
}
