//! SSO through the HTTP router: the flows that must work and every request that must be refused.
//! Each refusal test names the attack or fault it stops. pysaml2 checks the same flows from the SP side
//! (tests/peers).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use axum::http::StatusCode;
use chrono::{Duration, Utc};
use common::*;
use sesame::saml::keys::SigningKey;

/// A refused request gets an HTML page, and nothing is posted anywhere.
fn assert_refused(reply: &Reply, status: StatusCode, says: &str) {
    assert_eq!(reply.status, status, "body: {}", reply.body);
    assert!(reply.body.contains("<html"), "an HTML page for people");
    assert!(!reply.body.contains("SAMLResponse"), "no response is posted on a refusal");
    assert!(reply.body.to_lowercase().contains(&says.to_lowercase()), "page should say {says:?}: {}", reply.body);
}

async fn redirect(app: &TestApp, query: &str, cookie: Option<&str>) -> Reply {
    app.get(&format!("/saml2/acme?{query}"), cookie).await
}

#[tokio::test]
async fn sp_initiated_redirect_login_completes_after_sign_in() {
    let app = TestApp::new().await;
    let req = Req::default();
    let first =
        redirect(&app, &redirect_query(&req.xml(None), Some("https://sp.example.com/deep?x=1&y=2"), None), None).await;
    assert_eq!(first.status, StatusCode::SEE_OTHER);
    let login = first.location.unwrap();
    assert!(login.starts_with("/login?continue=%2Fsaml2%2Facme%2Fcontinue%2F"), "{login}");
    let next = url::form_urlencoded::parse(login.split_once('?').unwrap().1.as_bytes())
        .find(|(k, _)| k == "continue")
        .unwrap()
        .1
        .into_owned();
    assert!(!next.contains("SAMLRequest"), "the request stays server-side");

    let (signed_in, cookie) = app.try_login("alice", PASSWORD, &next).await;
    assert_eq!(signed_in.location.as_deref(), Some(next.as_str()));
    let page = app.get(&next, cookie.as_deref()).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_eq!(page.form_action().as_deref(), Some(ACS));
    assert_eq!(page.input("RelayState").as_deref(), Some("https://sp.example.com/deep?x=1&y=2"));
    let xml = page.saml_response().unwrap();
    assert!(xml.contains(&format!("InResponseTo=\"{}\"", req.id)));
    assert_eq!(text_of(&xml, "NameID").as_deref(), Some("alice@example.com"));
    assert_eq!(attribute_values(&xml, "memberOf"), ["staff"]);
    assert_eq!(attribute_values(&xml, "tier"), ["gold"]);

    // The parked request is answered once only.
    let again = app.get(&next, cookie.as_deref()).await;
    assert_refused(&again, StatusCode::BAD_REQUEST, "expired");
}

#[tokio::test]
async fn sp_initiated_post_binding_parks_the_request_and_answers_on_our_origin() {
    let app = TestApp::new().await;
    let cookie = app.login("alice", PASSWORD).await;
    let req = Req { acs_url: None, acs_index: Some(1), ..Req::default() };
    let posted =
        app.post_form("/saml2/acme", &[("SAMLRequest", &b64(&req.xml(None))), ("RelayState", "rs-1")], None).await;
    assert_eq!(posted.status, StatusCode::SEE_OTHER);
    let next = posted.location.unwrap();
    assert!(next.starts_with("/saml2/acme/continue/"));
    let page = app.get(&next, Some(&cookie)).await;
    assert_eq!(page.form_action().as_deref(), Some(ACS2), "ACS index 1");
    assert_eq!(page.input("RelayState").as_deref(), Some("rs-1"));
}

#[tokio::test]
async fn idp_initiated_launch_uses_default_acs_and_relay_state() {
    let app = TestApp::new().await;
    let anonymous = app.get("/saml2/acme", None).await;
    assert_eq!(anonymous.location.as_deref(), Some("/login?continue=%2Fsaml2%2Facme"));
    let cookie = app.login("alice", PASSWORD).await;
    let portal = app.get("/", Some(&cookie)).await;
    assert!(portal.body.contains("href=\"/saml2/acme\""), "the portal shows a tile for the app");
    let page = app.get("/saml2/acme", Some(&cookie)).await;
    assert_eq!(page.form_action().as_deref(), Some(ACS));
    assert_eq!(page.input("RelayState").as_deref(), Some("/welcome"));
    let xml = page.saml_response().unwrap();
    assert!(!xml.contains("InResponseTo"), "unsolicited responses answer no request");
}

/// Injection into signed output (notes P1): markup in a user property must arrive as text, not as elements.
#[tokio::test]
async fn attribute_values_with_markup_arrive_as_the_same_text() {
    let app = TestApp::new().await;
    let cookie = app.login("alice", PASSWORD).await;
    let xml = app.get("/saml2/acme", Some(&cookie)).await.saml_response().unwrap();
    assert_eq!(attribute_values(&xml, "displayName"), ["Alice <b>&</b> Co"]);
    assert_eq!(xml.matches("<saml:Attribute ").count(), 4, "no attribute was injected");
}

/// The preferred language and the work address's parts are user properties an admin can release as attributes.
#[tokio::test]
async fn preferred_language_and_work_address_parts_can_be_released() {
    use sesame::audit::Actor;
    use sesame::directory::attributes::AttributeChange;
    use sesame::directory::{AttributeSource, UserProperty};
    use sesame::services::{apps::change::change_attribute, users};
    let app = TestApp::new().await;
    let now = Utc::now();
    let mut profile = users::find_user(&app.ctx, "alice").await.unwrap().profile;
    profile.preferred_language = "fr-CA".into();
    profile.work_country = "CA".into();
    users::update_user(&app.ctx, &Actor::Cli, "alice", profile, now).await.unwrap();
    for (name, property) in [("tier", UserProperty::WorkCountry), ("displayName", UserProperty::PreferredLanguage)] {
        let change = AttributeChange { source: Some(AttributeSource::Property(property)), is_enabled: None };
        change_attribute(&app.ctx, &Actor::Cli, "acme", name, &change, now).await.unwrap();
    }
    let cookie = app.login("alice", PASSWORD).await;
    let xml = app.get("/saml2/acme", Some(&cookie)).await.saml_response().unwrap();
    assert_eq!(attribute_values(&xml, "tier"), ["CA"]);
    assert_eq!(attribute_values(&xml, "displayName"), ["fr-CA"]);
}

#[tokio::test]
async fn unknown_application_gets_a_not_found_page() {
    let app = TestApp::new().await;
    let reply = app.get(&format!("/saml2/nope?{}", redirect_query(&Req::default().xml(None), None, None)), None).await;
    assert_refused(&reply, StatusCode::NOT_FOUND, "does not exist");
    let reply = app.get("/saml2/..%2Fetc", None).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
}

/// Impersonation of another SP: the Issuer must be the app's registered SP entity ID.
#[tokio::test]
async fn rejects_wrong_issuer() {
    let app = TestApp::new().await;
    let req = Req { issuer: "https://evil.example/sp".into(), ..Req::default() };
    assert_refused(
        &redirect(&app, &redirect_query(&req.xml(None), None, None), None).await,
        StatusCode::BAD_REQUEST,
        "issued by",
    );
}

/// Unbounded rows and forged log lines: an anonymous request's Issuer (tens of KiB, with a newline) went whole into
/// the refusal event's detail (and the log). The event keeps at most 256 characters of each field, with control
/// characters escaped and an ellipsis where it was cut.
#[tokio::test]
async fn a_huge_issuer_leaves_a_bounded_event() {
    let app = TestApp::new().await;
    let issuer = format!("https://evil.example/sp\nINFO forged line {}", "x".repeat(60 * 1024));
    let req = Req { issuer, ..Req::default() };
    let reply = redirect(&app, &redirect_query(&req.xml(None), None, None), None).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    let filter = sesame::audit::EventFilter { limit: 100, ..Default::default() };
    let events = sesame::services::events::list_events(&app.ctx, &filter).await.unwrap();
    let refused = events.iter().find(|e| e.detail.contains("evil.example")).expect("a refusal event");
    assert!(refused.detail.chars().count() <= 300, "{} characters", refused.detail.chars().count());
    assert!(refused.detail.ends_with('…') && !refused.detail.contains('\n'), "{}", refused.detail);
    for event in &events {
        for field in [&event.actor, &event.target, &event.app, &event.username, &event.detail] {
            assert!(field.chars().count() <= 300 && !field.contains('\n'), "{field}");
        }
    }
}

/// Open redirect / response theft: an unregistered ACS URL or index never receives a response.
#[tokio::test]
async fn rejects_unregistered_acs_url_and_index() {
    let app = TestApp::new().await;
    let cookie = app.login("alice", PASSWORD).await;
    let url = Req { acs_url: Some("https://evil.example/acs".into()), ..Req::default() };
    let reply = redirect(&app, &redirect_query(&url.xml(None), None, None), Some(&cookie)).await;
    assert_refused(&reply, StatusCode::BAD_REQUEST, "not registered");
    let index = Req { acs_url: None, acs_index: Some(9), ..Req::default() };
    let reply = redirect(&app, &redirect_query(&index.xml(None), None, None), Some(&cookie)).await;
    assert_refused(&reply, StatusCode::BAD_REQUEST, "index 9");
}

/// Unsigned or forged requests to an app whose SP must sign: refused over both bindings.
#[tokio::test]
async fn rejects_missing_or_bad_signature_when_required() {
    let app = TestApp::with_app_settings("require_signed_requests = true").await;
    let req = Req::default();
    let unsigned = redirect(&app, &redirect_query(&req.xml(None), None, None), None).await;
    assert_refused(&unsigned, StatusCode::BAD_REQUEST, "must be signed");

    let forger = SigningKey::generate("forger", Utc::now(), 1).unwrap();
    let forged = Req::default();
    let reply = redirect(&app, &redirect_query(&forged.xml(None), Some("r"), Some(&forger)), None).await;
    assert_refused(&reply, StatusCode::BAD_REQUEST, "not valid");

    let forged_post = Req::default().xml(Some(&forger));
    let reply = app.post_form("/saml2/acme", &[("SAMLRequest", &b64(&forged_post))], None).await;
    assert_refused(&reply, StatusCode::BAD_REQUEST, "not valid");

    let genuine = redirect(&app, &redirect_query(&Req::default().xml(None), Some("r"), Some(&app.sp_key)), None).await;
    assert_eq!(genuine.status, StatusCode::SEE_OTHER, "{}", genuine.body);
    let genuine_post = Req::default().xml(Some(&app.sp_key));
    let reply = app.post_form("/saml2/acme", &[("SAMLRequest", &b64(&genuine_post))], None).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
}

/// Tampering after signing: a signed POST request whose ACS was changed fails verification.
#[tokio::test]
async fn rejects_tampered_signed_post_request() {
    let app = TestApp::with_app_settings("require_signed_requests = true").await;
    let signed = Req::default().xml(Some(&app.sp_key)).replace(ACS, ACS2);
    let reply = app.post_form("/saml2/acme", &[("SAMLRequest", &b64(&signed))], None).await;
    assert_refused(&reply, StatusCode::BAD_REQUEST, "not valid");
}

/// Trusting the key inside the message (go-saml CVE-2023-48703): a request signed by an attacker, with the
/// attacker's certificate in KeyInfo, is refused; only registered certificates count.
#[tokio::test]
async fn ignores_certificates_carried_in_key_info() {
    let app = TestApp::with_app_settings("require_signed_requests = true").await;
    let attacker = SigningKey::generate("attacker", Utc::now(), 1).unwrap();
    let signed = Req::default().xml(Some(&attacker));
    assert!(signed.contains(&attacker.cert.to_base64()), "KeyInfo carries the attacker's certificate");
    let reply = app.post_form("/saml2/acme", &[("SAMLRequest", &b64(&signed))], None).await;
    assert_refused(&reply, StatusCode::BAD_REQUEST, "not valid");
}

/// XML signature wrapping (XSW, "On Breaking SAML"; notes P2): a genuinely signed request hidden inside an
/// unsigned root that names the attacker's ACS must not verify as that root.
#[tokio::test]
async fn rejects_wrapped_post_request() {
    let app = TestApp::with_app_settings("require_signed_requests = true").await;
    let genuine = Req::default().xml(Some(&app.sp_key));
    let wrapper = Req { acs_url: Some("https://evil.example/acs".into()), ..Req::default() }.xml(None);
    let wrapped = wrapper.replace(
        "</samlp:AuthnRequest>",
        &format!("<samlp:Extensions>{genuine}</samlp:Extensions></samlp:AuthnRequest>"),
    );
    let reply = app.post_form("/saml2/acme", &[("SAMLRequest", &b64(&wrapped))], None).await;
    assert_refused(&reply, StatusCode::BAD_REQUEST, "signed");

    // The same wrapper with the genuine signature moved up to the root, referencing the inner request.
    let signature_start = genuine.find("<ds:Signature").unwrap();
    let signature_end = genuine.find("</ds:Signature>").unwrap() + "</ds:Signature>".len();
    let signature = &genuine[signature_start..signature_end];
    let inner = format!("{}{}", &genuine[..signature_start], &genuine[signature_end..]);
    let moved = wrapper
        .replace("</saml:Issuer>", &format!("</saml:Issuer>{signature}<samlp:Extensions>{inner}</samlp:Extensions>"));
    let reply = app.post_form("/saml2/acme", &[("SAMLRequest", &b64(&moved))], None).await;
    assert_refused(&reply, StatusCode::BAD_REQUEST, "");
}

/// Redirect signatures cover the bytes as sent (Bindings §3.4.4.1; notes P3): an SP that percent-encodes in
/// lower case must still verify.
#[tokio::test]
async fn accepts_redirect_signature_over_lower_case_percent_encoding() {
    let app = TestApp::with_app_settings("require_signed_requests = true").await;
    let lower = |s: &str| {
        let mut out = String::new();
        let mut chars = s.chars();
        while let Some(c) = chars.next() {
            out.push(c);
            if c == '%' {
                out.extend(chars.by_ref().take(2).map(|h| h.to_ascii_lowercase()));
            }
        }
        out
    };
    let xml = Req::default().xml(None);
    let mut query = format!(
        "SAMLRequest={}&RelayState={}&SigAlg={}",
        lower(&urlencode(&deflate_b64(&xml))),
        lower(&urlencode("https://sp.example.com/a b")),
        lower(&urlencode(RSA_SHA256))
    );
    assert!(query.contains("%2f") || query.contains("%2b") || query.contains("%3a"), "the test uses lower case");
    let signature = sign_octets(&query, &app.sp_key);
    query.push_str(&format!("&Signature={}", lower(&urlencode(&signature))));
    let reply = redirect(&app, &query, None).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
}

/// A Redirect request with SigAlg but no Signature (samael panics here, notes P4) is refused with a page.
#[tokio::test]
async fn rejects_sig_alg_without_signature_without_panicking() {
    let app = TestApp::with_app_settings("require_signed_requests = true").await;
    let query = format!("{}&SigAlg={}", redirect_query(&Req::default().xml(None), None, None), urlencode(RSA_SHA256));
    assert_refused(&redirect(&app, &query, None).await, StatusCode::BAD_REQUEST, "not Signature");
}

/// A weak algorithm (SAMLStorm class): RSA-SHA1 is refused unless the app explicitly allows it.
#[tokio::test]
async fn rejects_sha1_redirect_signatures() {
    let app = TestApp::with_app_settings("require_signed_requests = true").await;
    let sha1 = "http://www.w3.org/2000/09/xmldsig#rsa-sha1";
    let mut query = format!("{}&SigAlg={}", redirect_query(&Req::default().xml(None), None, None), urlencode(sha1));
    let mut signer = openssl::sign::Signer::new(openssl::hash::MessageDigest::sha1(), &app.sp_key.key).unwrap();
    signer.update(query.as_bytes()).unwrap();
    let signature = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, signer.sign_to_vec().unwrap());
    query.push_str(&format!("&Signature={}", urlencode(&signature)));
    assert_refused(&redirect(&app, &query, None).await, StatusCode::BAD_REQUEST, "not accepted");
}

/// Replay of a captured request (Profiles §4.1.4.5) and stale requests outside the clock-skew window.
#[tokio::test]
async fn rejects_replayed_and_stale_requests() {
    let app = TestApp::new().await;
    let cookie = app.login("alice", PASSWORD).await;
    let query = redirect_query(&Req::default().xml(None), None, None);
    assert_eq!(redirect(&app, &query, Some(&cookie)).await.status, StatusCode::OK);
    assert_refused(&redirect(&app, &query, Some(&cookie)).await, StatusCode::BAD_REQUEST, "already used");

    let stale = Req { issue_instant: Utc::now() - Duration::minutes(30), ..Req::default() };
    let reply = redirect(&app, &redirect_query(&stale.xml(None), None, None), Some(&cookie)).await;
    assert_refused(&reply, StatusCode::BAD_REQUEST, "time window");
    let future = Req { issue_instant: Utc::now() + Duration::minutes(30), ..Req::default() };
    let reply = redirect(&app, &redirect_query(&future.xml(None), None, None), Some(&cookie)).await;
    assert_refused(&reply, StatusCode::BAD_REQUEST, "time window");
}

/// Malformed encodings, XML and DTDs (XXE, entity expansion) are refused before any parser trusts them.
#[tokio::test]
async fn rejects_malformed_and_hostile_encodings() {
    let app = TestApp::new().await;
    let bad_base64 = redirect(&app, "SAMLRequest=%%%%", None).await;
    assert_refused(&bad_base64, StatusCode::BAD_REQUEST, "");
    let not_base64 = redirect(&app, "SAMLRequest=!!!notbase64", None).await;
    assert_refused(&not_base64, StatusCode::BAD_REQUEST, "base64");
    let not_deflate =
        redirect(&app, &format!("SAMLRequest={}", urlencode(&b64("plain text, not deflated"))), None).await;
    assert_refused(&not_deflate, StatusCode::BAD_REQUEST, "inflated");
    let not_xml = redirect(&app, &format!("SAMLRequest={}", urlencode(&deflate_b64("<unclosed"))), None).await;
    assert_refused(&not_xml, StatusCode::BAD_REQUEST, "well-formed");
    let xxe = format!(
        "<!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>{}",
        Req::default().xml(None).replace(SP_ENTITY, "&x;")
    );
    let reply = redirect(&app, &format!("SAMLRequest={}", urlencode(&deflate_b64(&xxe))), None).await;
    assert_refused(&reply, StatusCode::BAD_REQUEST, "document type");
    let reply = app.post_form("/saml2/acme", &[("SAMLRequest", &b64(&xxe))], None).await;
    assert_refused(&reply, StatusCode::BAD_REQUEST, "document type");
    let not_request =
        "<samlp:LogoutRequest xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" ID=\"_a\" Version=\"2.0\"/>";
    let reply = redirect(&app, &format!("SAMLRequest={}", urlencode(&deflate_b64(not_request))), None).await;
    assert_refused(&reply, StatusCode::BAD_REQUEST, "AuthnRequest");
    let reply = app.post_form("/saml2/acme", &[("RelayState", "x")], None).await;
    assert_refused(&reply, StatusCode::BAD_REQUEST, "no SAMLRequest");
}

/// Resource exhaustion: oversized requests and decompression bombs are refused by size, not parsed.
#[tokio::test]
async fn rejects_oversized_input() {
    let app = TestApp::new().await;
    let padding = "x".repeat(200 * 1024);
    let huge = Req { issuer: padding.clone(), ..Req::default() }.xml(None);
    let reply = redirect(&app, &format!("SAMLRequest={}", urlencode(&deflate_b64(&huge))), None).await;
    assert_refused(&reply, StatusCode::PAYLOAD_TOO_LARGE, "larger than");
    let reply = app.post_form("/saml2/acme", &[("SAMLRequest", &b64(&huge[..100 * 1024]))], None).await;
    assert!(reply.status.is_client_error(), "{}", reply.status);
    let long_relay = redirect_query(&Req::default().xml(None), Some(&padding[..5000]), None);
    assert_refused(&redirect(&app, &long_relay, None).await, StatusCode::PAYLOAD_TOO_LARGE, "larger than");
}

/// Suspended users and users outside every bound group get an access-denied page, never an assertion.
#[tokio::test]
async fn denies_suspended_users_and_users_without_a_bound_group() {
    let app = TestApp::new().await;
    let (reply, carol) = app.try_login("carol", PASSWORD, "/").await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "a suspended user cannot sign in");
    assert!(carol.is_none());

    let bob = app.login("bob", PASSWORD).await;
    let portal = app.get("/", Some(&bob)).await;
    assert!(!portal.body.contains("/saml2/acme"), "no tile for an app bob may not use");
    assert_refused(&app.get("/saml2/acme", Some(&bob)).await, StatusCode::FORBIDDEN, "do not have access");
    let reply = redirect(&app, &redirect_query(&Req::default().xml(None), None, None), Some(&bob)).await;
    assert_refused(&reply, StatusCode::FORBIDDEN, "do not have access");

    // Alice signs in, then is suspended: her session no longer yields assertions.
    let alice = app.login("alice", PASSWORD).await;
    sesame::services::users::suspend_user(&app.ctx, &sesame::audit::Actor::Cli, "alice", Utc::now()).await.unwrap();
    assert_refused(&app.get("/saml2/acme", Some(&alice)).await, StatusCode::FORBIDDEN, "do not have access");

    let events = sesame::services::events::list_events(
        &app.ctx,
        &sesame::audit::EventFilter {
            name: Some(sesame::audit::EventName::SsoDenied),
            limit: 10,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(events.len(), 3);
    assert!(events.iter().all(|e| !e.success && e.app == "acme"));
}

/// ForceAuthn: a signed-in user must enter the password again before the SP gets an assertion.
#[tokio::test]
async fn force_authn_requires_a_fresh_sign_in() {
    let app = TestApp::new().await;
    let cookie = app.login("alice", PASSWORD).await;
    let req = Req { force_authn: true, ..Req::default() };
    let reply = redirect(&app, &redirect_query(&req.xml(None), None, None), Some(&cookie)).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    let login = reply.location.unwrap();
    assert!(login.ends_with("&force=1"), "{login}");
    let next = login.trim_start_matches("/login?continue=").trim_end_matches("&force=1").replace("%2F", "/");
    let resumed = app.get(&next, Some(&cookie)).await;
    assert_eq!(resumed.status, StatusCode::SEE_OTHER, "the old session does not satisfy ForceAuthn");
    let login_page = app.get(&login, Some(&cookie)).await;
    assert_eq!(login_page.status, StatusCode::OK, "the sign-in form is shown although a session exists");

    let (_, fresh) = app.try_login("alice", PASSWORD, &next).await;
    let page = app.get(&next, fresh.as_deref()).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.saml_response().unwrap().contains(&req.id));
}

/// IsPassive without a session: the SP is told NoPassive (SAML Core §3.4.1) instead of seeing a login page.
#[tokio::test]
async fn is_passive_without_session_answers_no_passive() {
    let app = TestApp::new().await;
    let req = Req { is_passive: true, ..Req::default() };
    let reply = redirect(&app, &redirect_query(&req.xml(None), Some("rs"), None), None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.form_action().as_deref(), Some(ACS));
    let xml = reply.saml_response().unwrap();
    assert!(xml.contains("urn:oasis:names:tc:SAML:2.0:status:NoPassive"));
    assert!(xml.contains(&format!("InResponseTo=\"{}\"", req.id)));
    assert!(!xml.contains("Assertion"));
}

/// An unsupported NameID format gets InvalidNameIDPolicy; every format we publish is produced.
#[tokio::test]
async fn honours_name_id_formats() {
    let app = TestApp::new().await;
    let cookie = app.login("alice", PASSWORD).await;
    let ask = |format: &str| Req { name_id_format: Some(format.into()), ..Req::default() };
    let x509 = ask("urn:oasis:names:tc:SAML:1.1:nameid-format:X509SubjectName");
    let xml =
        redirect(&app, &redirect_query(&x509.xml(None), None, None), Some(&cookie)).await.saml_response().unwrap();
    assert!(xml.contains("status:InvalidNameIDPolicy"), "{xml}");

    let persistent = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent";
    let first = redirect(&app, &redirect_query(&ask(persistent).xml(None), None, None), Some(&cookie)).await;
    let second = redirect(&app, &redirect_query(&ask(persistent).xml(None), None, None), Some(&cookie)).await;
    let id = |r: &Reply| text_of(&r.saml_response().unwrap(), "NameID").unwrap();
    assert_eq!(id(&first), id(&second), "persistent identifiers are stable");
    assert!(!id(&first).contains("alice"), "persistent identifiers are opaque");

    let transient = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient";
    let a = redirect(&app, &redirect_query(&ask(transient).xml(None), None, None), Some(&cookie)).await;
    let b = redirect(&app, &redirect_query(&ask(transient).xml(None), None, None), Some(&cookie)).await;
    assert_ne!(id(&a), id(&b), "transient identifiers are fresh");
}

/// No input makes the server fail: random and mutated requests all get a 4xx answer, never a 5xx or a panic.
#[tokio::test]
async fn no_input_causes_a_server_error() {
    let app = TestApp::with_app_settings("require_signed_requests = true").await;
    let genuine = redirect_query(&Req::default().xml(None), Some("rs"), Some(&app.sp_key));
    let post = b64(&Req::default().xml(Some(&app.sp_key)));
    let mut seed: u64 = 0x5eed;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for round in 0..300 {
        let mut bytes = if round % 2 == 0 { genuine.clone().into_bytes() } else { post.clone().into_bytes() };
        for _ in 0..(1 + next() % 4) {
            let at = (next() as usize) % bytes.len();
            match next() % 3 {
                0 => bytes[at] = (next() % 256) as u8,
                1 => {
                    bytes.remove(at);
                }
                _ => bytes.insert(at, b"%&=+/<>\"'\0"[(next() % 10) as usize]),
            }
        }
        let mutated = String::from_utf8_lossy(&bytes).into_owned();
        let reply = if round % 2 == 0 {
            let query: String =
                mutated.chars().filter(|c| !c.is_whitespace() && *c != '#' && !c.is_control()).collect();
            let uri = format!("/saml2/acme?{query}");
            match axum::http::Uri::try_from(uri.as_str()) {
                Ok(_) => app.get(&uri, None).await,
                Err(_) => continue,
            }
        } else {
            app.post_form("/saml2/acme", &[("SAMLRequest", &mutated)], None).await
        };
        assert!(reply.status.is_client_error() || reply.status.is_redirection(), "round {round}: {}", reply.status);
    }
}

const PPT: &str = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport";
const PASSWORD_CLASS: &str = "urn:oasis:names:tc:SAML:2.0:ac:classes:Password";

/// The OneLogin toolkits' default request: PasswordProtectedTransport, comparison exact.
fn asks_for_ppt(destination: &str) -> Req {
    Req {
        destination: Some(destination.to_owned()),
        authn_context: Some(("exact".into(), vec![PPT.into()])),
        ..Req::default()
    }
}

/// On a loopback base URL (W3C Secure Contexts: potentially trustworthy) the password never left the machine, so
/// the assertion says PasswordProtectedTransport and an SP that asks for it exactly is answered.
#[tokio::test]
async fn loopback_base_url_asserts_password_protected_transport() {
    for base in ["http://127.0.0.1:8080", "http://[::1]:8080", "http://localhost:8080"] {
        let app = TestApp::with("", |c| c.base_url = base.into()).await;
        let cookie = app.login("alice", PASSWORD).await;
        let req = asks_for_ppt(&format!("{base}/saml2/acme"));
        let reply = redirect(&app, &redirect_query(&req.xml(None), None, None), Some(&cookie)).await;
        let xml = reply.saml_response().unwrap();
        assert!(xml.contains("status:Success"), "{base}: {xml}");
        assert_eq!(text_of(&xml, "AuthnContextClassRef").as_deref(), Some(PPT), "{base}");
    }
}

/// Transport honesty: on a plain-http, non-loopback base URL the password crossed a network in clear, so we assert
/// Password, refuse a request for PasswordProtectedTransport with NoAuthnContext, and record which classes were
/// asked for and which one the sign-in achieved.
#[tokio::test]
async fn plain_http_asserts_password_and_records_a_refused_authn_context() {
    let app = TestApp::new().await;
    let cookie = app.login("alice", PASSWORD).await;
    let plain = redirect(&app, &redirect_query(&Req::default().xml(None), None, None), Some(&cookie)).await;
    assert_eq!(text_of(&plain.saml_response().unwrap(), "AuthnContextClassRef").as_deref(), Some(PASSWORD_CLASS));

    let req = asks_for_ppt(&app.sso_url());
    let reply = redirect(&app, &redirect_query(&req.xml(None), None, None), Some(&cookie)).await;
    let xml = reply.saml_response().unwrap();
    assert!(xml.contains("status:NoAuthnContext"), "{xml}");
    assert!(!xml.contains("Assertion"));
    let events = sesame::services::events::list_events(
        &app.ctx,
        &sesame::audit::EventFilter {
            name: Some(sesame::audit::EventName::SsoRequestRejected),
            limit: 10,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let [event] = events.as_slice() else { panic!("one refusal event: {events:?}") };
    assert!(!event.success && event.app == "acme" && event.username == "alice", "{event:?}");
    assert!(event.detail.contains("exact") && event.detail.contains(PPT), "{}", event.detail);
    assert!(event.detail.contains(&format!("achieved {PASSWORD_CLASS}")), "{}", event.detail);
}

const OID_MAIL: &str = "urn:oid:0.9.2342.19200300.100.1.3";
const OID_UID: &str = "urn:oid:0.9.2342.19200300.100.1.1";
const OID_EPPN: &str = "urn:oid:1.3.6.1.4.1.5923.1.1.1.6";
const URI_FORMAT: &str = "urn:oasis:names:tc:SAML:2.0:attrname-format:uri";
const BASIC_FORMAT: &str = "urn:oasis:names:tc:SAML:2.0:attrname-format:basic";

/// Registers application `name` from SP metadata of its own (another entity ID) with `services` in its
/// SPSSODescriptor, with `settings` as its settings file (`None`: no file), bound to `staff`.
async fn import_other(app: &TestApp, name: &str, services: &str, settings: Option<&str>) {
    let xml = sp_metadata(&app.sp_key, false)
        .replace(SP_ENTITY, &format!("https://{name}.example.com/metadata"))
        .replace("</md:SPSSODescriptor>", &format!("{services}</md:SPSSODescriptor>"));
    let actor = sesame::audit::Actor::Cli;
    sesame::services::apps::create::import_app_xml(&app.ctx, &actor, name, &xml, None, settings, Utc::now())
        .await
        .unwrap();
    sesame::services::apps::change::change_binding(&app.ctx, &actor, name, "staff", true, Utc::now()).await.unwrap();
}

/// Every attribute of a response: (Name, NameFormat, FriendlyName, values).
fn sent_attributes(xml: &str) -> Vec<(String, String, Option<String>, Vec<String>)> {
    let doc = roxmltree::Document::parse(xml).unwrap();
    doc.descendants()
        .filter(|n| n.tag_name().name() == "Attribute")
        .map(|n| {
            let values = n.children().filter(|c| c.is_element()).map(|c| c.text().unwrap_or_default().to_owned());
            (
                n.attribute("Name").unwrap().to_owned(),
                n.attribute("NameFormat").unwrap().to_owned(),
                n.attribute("FriendlyName").map(str::to_owned),
                values.collect(),
            )
        })
        .collect()
}

const REQUESTED: &str = r#"<md:AttributeConsumingService index="0"><md:ServiceName xml:lang="en">SP</md:ServiceName>
  <md:RequestedAttribute Name="urn:oid:1.3.6.1.4.1.5923.1.1.1.6" FriendlyName="eduPersonPrincipalName" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:uri" isRequired="true"/>
  <md:RequestedAttribute Name="mail" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:basic"/>
  <md:RequestedAttribute Name="urn:example:shoe-size" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:uri"/>
</md:AttributeConsumingService>"#;

/// An application registered from metadata that lists RequestedAttributes, without a settings file, sends exactly
/// those it can fill, each by the Name and NameFormat the SP asked for (eduPersonPrincipalName scoped to the base
/// URL's host); an attribute it cannot fill is not invented.
#[tokio::test]
async fn sends_the_sp_metadatas_requested_attributes_when_none_are_configured() {
    let app = TestApp::new().await;
    import_other(&app, "requester", REQUESTED, None).await;
    let cookie = app.login("alice", PASSWORD).await;
    let xml = app.get("/saml2/requester", Some(&cookie)).await.saml_response().unwrap();
    assert_eq!(
        sent_attributes(&xml),
        [
            (
                OID_EPPN.to_owned(),
                URI_FORMAT.to_owned(),
                Some("eduPersonPrincipalName".to_owned()),
                vec!["alice@idp.test".to_owned()]
            ),
            ("mail".to_owned(), BASIC_FORMAT.to_owned(), None, vec!["alice@example.com".to_owned()]),
        ]
    );
}

/// An application that declares no attributes and whose SP requests none sends the default set under the urn:oid
/// names (NameFormat uri, with FriendlyNames), so toolkits that require an AttributeStatement (python3-saml) and
/// SPs that ask for a transient NameID (mellon, SimpleSAMLphp) still learn who the user is.
#[tokio::test]
async fn sends_the_default_set_when_nothing_is_declared_or_requested() {
    let app = TestApp::new().await;
    import_other(&app, "plain", "", None).await;
    let cookie = app.login("alice", PASSWORD).await;
    let xml = app.get("/saml2/plain", Some(&cookie)).await.saml_response().unwrap();
    let got: Vec<(String, String, Option<String>)> =
        sent_attributes(&xml).into_iter().map(|(n, f, fr, _)| (n, f, fr)).collect();
    let want = [
        (OID_MAIL, "mail"),
        ("urn:oid:2.5.4.42", "givenName"),
        ("urn:oid:2.5.4.4", "sn"),
        ("urn:oid:2.16.840.1.113730.3.1.241", "displayName"),
        (OID_UID, "uid"),
    ];
    // alice has no first or last name, so those two are left out (an empty value is not a value).
    let want: Vec<(String, String, Option<String>)> = want
        .iter()
        .filter(|(_, f)| !matches!(*f, "givenName" | "sn"))
        .map(|(n, f)| ((*n).to_owned(), URI_FORMAT.to_owned(), Some((*f).to_owned())))
        .collect();
    assert_eq!(got, want);
    assert_eq!(attribute_values(&xml, OID_MAIL), ["alice@example.com"]);
    assert_eq!(attribute_values(&xml, OID_UID), ["alice"]);
}

/// The admin's own list wins over the SP's RequestedAttributes and the default set.
#[tokio::test]
async fn configured_attributes_replace_requested_and_default_ones() {
    let app = TestApp::new().await;
    let settings = "[[attributes]]\nname = \"role\"\nconstant = \"member\"\n";
    import_other(&app, "configured", REQUESTED, Some(settings)).await;
    let cookie = app.login("alice", PASSWORD).await;
    let xml = app.get("/saml2/configured", Some(&cookie)).await.saml_response().unwrap();
    assert_eq!(sent_attributes(&xml), [("role".to_owned(), BASIC_FORMAT.to_owned(), None, vec!["member".to_owned()])]);
}

const EMAIL_FORMAT: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress";
const PERSISTENT_FORMAT: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent";
const TRANSIENT_FORMAT: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient";

/// A request for application `acme` (as configured by `extra`) asking for NameID `format`, answered for alice.
async fn name_id_answer(extra: &str, format: &str) -> String {
    let app = TestApp::with_app_settings(extra).await;
    let cookie = app.login("alice", PASSWORD).await;
    let req = Req { name_id_format: Some(format.into()), ..Req::default() };
    redirect(&app, &redirect_query(&req.xml(None), None, None), Some(&cookie)).await.saml_response().unwrap()
}

/// Disclosure by NameIDPolicy: an SP must not obtain the e-mail address from an application the admin set to an
/// opaque persistent identifier by asking for the emailAddress format; it gets InvalidNameIDPolicy.
#[tokio::test]
async fn refuses_a_name_id_format_that_reveals_more_than_the_configured_one() {
    let xml = name_id_answer("nameid_format = \"persistent\"", EMAIL_FORMAT).await;
    assert!(xml.contains("status:InvalidNameIDPolicy"), "{xml}");
    assert!(!xml.contains("alice@example.com") && !xml.contains("Assertion"), "{xml}");
    let xml = name_id_answer("nameid_format = \"transient\"", EMAIL_FORMAT).await;
    assert!(xml.contains("status:InvalidNameIDPolicy"), "{xml}");
}

/// Opaque formats are always allowed; another format only when the admin allows it for the application.
#[tokio::test]
async fn allows_opaque_formats_always_and_others_when_allowed() {
    for format in [TRANSIENT_FORMAT, PERSISTENT_FORMAT] {
        let xml = name_id_answer("nameid_format = \"email\"", format).await;
        assert!(xml.contains("status:Success"), "{xml}");
        assert!(!text_of(&xml, "NameID").unwrap().contains("alice"), "{format} is opaque");
    }
    let allowed = "nameid_format = \"persistent\"\nallowed_nameid_formats = [\"email\"]";
    let xml = name_id_answer(allowed, EMAIL_FORMAT).await;
    assert_eq!(text_of(&xml, "NameID").as_deref(), Some("alice@example.com"));
}

/// The configured NameID source fills the e-mail format too (it used to send the e-mail whatever the source).
#[tokio::test]
async fn the_name_id_source_applies_to_every_format_that_takes_one() {
    for format in [EMAIL_FORMAT, "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"] {
        let xml = name_id_answer("nameid_format = \"email\"\nnameid_source = \"username\"", format).await;
        assert_eq!(text_of(&xml, "NameID").as_deref(), Some("alice"), "{format}: {xml}");
    }
    let xml = name_id_answer("nameid_format = \"unspecified\"\nnameid_source = \"display_name\"", EMAIL_FORMAT).await;
    assert!(xml.contains("status:InvalidNameIDPolicy"), "e-mail is not the configured format: {xml}");
}

/// SAML2int SPs (mod_auth_mellon, SimpleSAMLphp) ask for a transient NameID; with defaults they still learn the
/// user's e-mail and username from the default attribute set.
#[tokio::test]
async fn a_transient_name_id_still_comes_with_mail_and_uid_by_default() {
    let app = TestApp::new().await;
    import_other(&app, "mellon", "", None).await;
    let cookie = app.login("alice", PASSWORD).await;
    let req = Req {
        issuer: "https://mellon.example.com/metadata".into(),
        destination: Some(format!("{BASE}/saml2/mellon")),
        name_id_format: Some(TRANSIENT_FORMAT.into()),
        ..Req::default()
    };
    let xml = app.get(&format!("/saml2/mellon?{}", redirect_query(&req.xml(None), None, None)), Some(&cookie)).await;
    let xml = xml.saml_response().unwrap();
    assert!(!text_of(&xml, "NameID").unwrap().contains("alice"), "{xml}");
    assert_eq!(attribute_values(&xml, OID_MAIL), ["alice@example.com"]);
    assert_eq!(attribute_values(&xml, OID_UID), ["alice"]);
}

/// The IdP metadata offers exactly the NameID formats an SP may ask for, the configured one first (python3-saml
/// asks for the first one listed).
#[tokio::test]
async fn idp_metadata_offers_the_name_id_formats_an_sp_may_ask_for() {
    let app = TestApp::with_app_settings("nameid_format = \"persistent\"").await;
    let xml = app.get("/saml2/acme/metadata", None).await.body;
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let formats: Vec<&str> =
        doc.descendants().filter(|n| n.tag_name().name() == "NameIDFormat").filter_map(|n| n.text()).collect();
    assert_eq!(formats, [PERSISTENT_FORMAT, TRANSIENT_FORMAT]);
}

/// An anonymous Redirect-binding request from `peer`, with a fresh request ID and the session cookie if any.
async fn from_address(app: &TestApp, peer: &str, cookie: Option<&str>) -> axum::response::Response {
    let query = redirect_query(&Req::default().xml(None), None, None);
    let peer: std::net::SocketAddr = peer.parse().unwrap();
    let mut request =
        axum::http::Request::get(format!("/saml2/acme?{query}")).extension(axum::extract::ConnectInfo(peer));
    if let Some(c) = cookie {
        request = request.header(axum::http::header::COOKIE, c);
    }
    tower::ServiceExt::oneshot(app.router.clone(), request.body(axum::body::Body::empty()).unwrap()).await.unwrap()
}

/// Resource exhaustion by anonymous SAML requests: each one is verified and parked (a database write), and may
/// make the server sign a status response. A flood from one address is slowed with 429 and Retry-After after a
/// burst no browser reaches, before any of that work; another address, and a signed-in browser at the flooding
/// address, still pass.
#[tokio::test]
async fn a_flood_of_anonymous_requests_from_one_address_is_slowed() {
    let app = TestApp::new().await;
    let flooder = "203.0.113.7:40000";
    let mut passed = 0;
    let slowed = loop {
        let reply = from_address(&app, flooder, None).await;
        if reply.status() != StatusCode::SEE_OTHER {
            break reply;
        }
        passed += 1;
        assert!(passed < 200, "a flood of {passed} requests was never slowed");
    };
    assert!(passed >= 30, "the burst lets {passed} requests through");
    assert_eq!(slowed.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after = slowed.headers().get("retry-after").and_then(|v| v.to_str().ok()).unwrap_or_default();
    assert!(retry_after.parse::<u64>().is_ok_and(|s| (1..=2).contains(&s)), "Retry-After: {retry_after:?}");
    // Another address, IPv4 or IPv6, has its own bucket.
    assert_eq!(from_address(&app, "[2001:db8::1]:1", None).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(from_address(&app, "203.0.113.8:40000", None).await.status(), StatusCode::SEE_OTHER);
    // A signed-in browser at the flooding address is not counted: it gets its response.
    let cookie = app.login("alice", PASSWORD).await;
    for _ in 0..40 {
        let signed_in = from_address(&app, flooder, Some(&cookie)).await;
        assert_eq!(signed_in.status(), StatusCode::OK);
    }
}
