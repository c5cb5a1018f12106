//! The SAML lifecycle after day one: staged certificate rotation, scheduled activation and expiry warnings.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use chrono::{Duration, Utc};
use common::TestApp;
use sesame::audit::{Actor, EventFilter, EventName};
use sesame::services::rotation::{self, Activation};
use sesame::services::{admin, Error};

/// The base64 certificates of the metadata's KeyDescriptors, in document order.
async fn published(app: &TestApp) -> Vec<String> {
    let xml = app.get("/saml2/acme/metadata", None).await.body;
    let doc = roxmltree::Document::parse(&xml).unwrap();
    doc.descendants()
        .filter(|n| n.tag_name().name() == "KeyDescriptor")
        .map(|k| {
            assert_eq!(k.attribute("use"), Some("signing"));
            let cert = k.descendants().find(|n| n.tag_name().name() == "X509Certificate").unwrap();
            cert.text().unwrap().to_owned()
        })
        .collect()
}

/// The certificate in the KeyInfo of the signature of an IdP-initiated response to alice.
async fn signing_cert(app: &TestApp, cookie: &str) -> String {
    // The key cache re-reads which certificate is current at most once a second.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let reply = app.get("/saml2/acme", Some(cookie)).await;
    let xml = reply.saml_response().expect("a SAML response");
    common::text_of(&xml, "X509Certificate").unwrap()
}

fn b64_of_pem(pem: &str) -> String {
    sesame::saml::keys::Certificate::from_pem(pem.as_bytes()).unwrap().to_base64()
}

async fn events(app: &TestApp, name: EventName) -> Vec<sesame::audit::Event> {
    let filter = EventFilter { name: Some(name), app: Some("acme".into()), limit: 100, ..EventFilter::default() };
    admin::list_events(&app.ctx, &filter).await.unwrap()
}

#[tokio::test]
async fn staged_rotation_publishes_next_then_switches_signing_then_retires() {
    let app = TestApp::new().await;
    let cookie = app.login("alice", common::PASSWORD).await;
    let now = Utc::now();
    let [original] = published(&app).await.try_into().unwrap();
    assert_eq!(signing_cert(&app, &cookie).await, original);

    let next = rotation::stage(&app.ctx, &Actor::Cli, "acme", now).await.unwrap();
    // Published after the current certificate (many SPs read only the first), which still signs.
    assert_eq!(published(&app).await, vec![original.clone(), next.to_base64()]);
    let pem = app.get("/saml2/acme/certificate.pem", None).await.body;
    let pems: Vec<&str> = pem.split_inclusive("-----END CERTIFICATE-----\n").collect();
    assert_eq!(pems.len(), 2, "{pem}");
    assert_eq!(b64_of_pem(pems[0]), original);
    assert_eq!(b64_of_pem(pems[1]), next.to_base64());
    assert_eq!(signing_cert(&app, &cookie).await, original);
    let shown = admin::show_app(&app.ctx, "acme", now).await.unwrap();
    let states: Vec<&str> = shown.certificates.iter().map(|c| c.state.as_str()).collect();
    assert_eq!(states, ["current", "next"]);

    let activated = rotation::activate(&app.ctx, &Actor::Cli, "acme", None, now).await.unwrap();
    assert!(matches!(activated, Activation::Activated { fingerprint } if fingerprint == next.fingerprint));
    assert_eq!(published(&app).await, vec![next.to_base64(), original.clone()]);
    assert_eq!(signing_cert(&app, &cookie).await, next.to_base64());
    let shown = admin::show_app(&app.ctx, "acme", now).await.unwrap();
    assert_eq!(shown.cert_fingerprint, next.fingerprint, "the existing keys describe the current certificate");

    rotation::retire(&app.ctx, &Actor::Cli, "acme", now).await.unwrap();
    assert_eq!(published(&app).await, vec![next.to_base64()]);
    assert_eq!(signing_cert(&app, &cookie).await, next.to_base64());

    for name in [EventName::AdminAppStageCert, EventName::AdminAppActivateCert, EventName::AdminAppRetireCert] {
        assert_eq!(events(&app, name).await.len(), 1, "{}", name.as_str());
    }
}

#[tokio::test]
async fn rotation_steps_out_of_order_are_refused_with_a_reason() {
    let app = TestApp::new().await;
    let now = Utc::now();
    let err = rotation::activate(&app.ctx, &Actor::Cli, "acme", None, now).await.unwrap_err();
    assert!(matches!(err, Error::Certificate { .. }) && err.to_string().contains("no certificate is staged"), "{err}");
    let err = rotation::retire(&app.ctx, &Actor::Cli, "acme", now).await.unwrap_err();
    assert!(err.to_string().contains("no previous certificate"), "{err}");
    rotation::stage(&app.ctx, &Actor::Cli, "acme", now).await.unwrap();
    let err = rotation::stage(&app.ctx, &Actor::Cli, "acme", now).await.unwrap_err();
    assert!(err.to_string().contains("already staged"), "{err}");
    let err = rotation::stage(&app.ctx, &Actor::Cli, "nope", now).await.unwrap_err();
    assert!(matches!(err, Error::UnknownApp { .. }), "{err}");
}

#[tokio::test]
async fn plain_rotation_stages_and_activates_and_keeps_the_old_one_published_until_retired() {
    let app = TestApp::new().await;
    let [original] = published(&app).await.try_into().unwrap();
    let staged = rotation::stage(&app.ctx, &Actor::Cli, "acme", Utc::now()).await.unwrap();
    let cert = admin::rotate_cert(&app.ctx, &Actor::Cli, "acme", Utc::now()).await.unwrap();
    // The earlier staged certificate was never used and is dropped; the old current one follows the new one.
    assert_ne!(cert.fingerprint, staged.fingerprint);
    assert_eq!(published(&app).await, vec![cert.to_base64(), original]);
    assert_eq!(events(&app, EventName::AdminAppRotateCert).await.len(), 1);
}

#[tokio::test]
async fn scheduled_activation_is_applied_once_by_housekeeping() {
    let app = TestApp::new().await;
    let now = Utc::now();
    let next = rotation::stage(&app.ctx, &Actor::Cli, "acme", now).await.unwrap();
    let at = now + Duration::hours(1);
    let scheduled = rotation::activate(&app.ctx, &Actor::Cli, "acme", Some(at), now).await.unwrap();
    assert!(matches!(scheduled, Activation::Scheduled { .. }));
    let shown = admin::show_app(&app.ctx, "acme", now).await.unwrap();
    assert!(shown.certificates[1].activate_at.is_some());

    assert_eq!(rotation::apply_scheduled(&app.ctx, now).await.unwrap(), 0, "not yet due");
    assert_eq!(published(&app).await[1], next.to_base64());
    let later = at + Duration::minutes(1);
    // Two replicas' housekeeping passes at once: exactly one activation.
    let (a, b) = tokio::join!(rotation::apply_scheduled(&app.ctx, later), rotation::apply_scheduled(&app.ctx, later));
    assert_eq!(a.unwrap() + b.unwrap(), 1);
    assert_eq!(published(&app).await[0], next.to_base64());
    assert_eq!(rotation::apply_scheduled(&app.ctx, later).await.unwrap(), 0);
    let activations = events(&app, EventName::AdminAppActivateCert).await;
    assert_eq!(activations.len(), 2, "the scheduling and the activation");
    assert!(activations.iter().any(|e| e.actor == "system" && e.detail.contains("scheduled")));
}

#[tokio::test]
async fn expiry_warnings_are_given_once_per_threshold_across_restarts() {
    let app = TestApp::with("", |c| c.cert_validity_days = 20).await;
    let now = Utc::now();
    let shown = admin::show_app(&app.ctx, "acme", now).await.unwrap();
    let warning = shown.certificates[0].warning.clone().expect("a warning in app show");
    assert!(warning.contains("expires in 19 days") || warning.contains("expires in 20 days"), "{warning}");

    // 20 days left: the 30-day warning (the 60-day one is behind us and is not given late).
    assert_eq!(rotation::warn_expiring(&app.ctx, now).await.unwrap(), 1);
    assert_eq!(rotation::warn_expiring(&app.ctx, now).await.unwrap(), 0);
    let app = app.restart().await;
    assert_eq!(rotation::warn_expiring(&app.ctx, now + Duration::days(2)).await.unwrap(), 0);
    assert_eq!(rotation::warn_expiring(&app.ctx, now + Duration::days(14)).await.unwrap(), 1, "7 days left");
    assert_eq!(rotation::warn_expiring(&app.ctx, now + Duration::days(19) + Duration::hours(12)).await.unwrap(), 1);
    assert_eq!(rotation::warn_expiring(&app.ctx, now + Duration::days(19) + Duration::hours(13)).await.unwrap(), 0);
    let given = events(&app, EventName::CertExpiryWarning).await;
    assert_eq!(given.len(), 3);
    assert!(given.iter().all(|e| e.actor == "system" && e.detail.contains("current certificate")));

    // A retired certificate is not warned about.
    admin::rotate_cert(&app.ctx, &Actor::Cli, "acme", now).await.unwrap();
    rotation::retire(&app.ctx, &Actor::Cli, "acme", now).await.unwrap();
    let shown = admin::show_app(&app.ctx, "acme", now).await.unwrap();
    assert_eq!(shown.certificates.last().unwrap().state.as_str(), "retired");
    assert!(shown.certificates.last().unwrap().warning.is_none());
}
