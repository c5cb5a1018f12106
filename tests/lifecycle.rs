//! The SAML lifecycle after day one: staged certificate rotation, scheduled activation and expiry warnings.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use chrono::{Duration, Utc};
use common::TestApp;
use sesame::audit::{Actor, EventFilter, EventName};
use sesame::services::certs::{self, Activation};
use sesame::services::events;
use sesame::services::Error;

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
    events::list_events(&app.ctx, &filter).await.unwrap()
}

#[tokio::test]
async fn staged_rotation_publishes_next_then_switches_signing_then_retires() {
    let app = TestApp::new().await;
    let cookie = app.login("alice", common::PASSWORD).await;
    let now = Utc::now();
    let [original] = published(&app).await.try_into().unwrap();
    assert_eq!(signing_cert(&app, &cookie).await, original);

    let next = certs::stage(&app.ctx, &Actor::Cli, "acme", now).await.unwrap();
    // Published after the current certificate (many SPs read only the first), which still signs.
    assert_eq!(published(&app).await, vec![original.clone(), next.to_base64()]);
    let pem = app.get("/saml2/acme/certificate.pem", None).await.body;
    let pems: Vec<&str> = pem.split_inclusive("-----END CERTIFICATE-----\n").collect();
    assert_eq!(pems.len(), 2, "{pem}");
    assert_eq!(b64_of_pem(pems[0]), original);
    assert_eq!(b64_of_pem(pems[1]), next.to_base64());
    assert_eq!(signing_cert(&app, &cookie).await, original);
    let shown = sesame::cli::app_view::AppView::of(
        &sesame::services::apps::view::details(&app.ctx, "acme").await.unwrap(),
        now,
    );
    let states: Vec<&str> = shown.certificates.iter().map(|c| c.state.as_str()).collect();
    assert_eq!(states, ["current", "next"]);

    let activated = certs::activate(&app.ctx, &Actor::Cli, "acme", None, now).await.unwrap();
    assert!(matches!(activated, Activation::Activated { fingerprint } if fingerprint == next.fingerprint));
    assert_eq!(published(&app).await, vec![next.to_base64(), original.clone()]);
    assert_eq!(signing_cert(&app, &cookie).await, next.to_base64());
    let shown = sesame::cli::app_view::AppView::of(
        &sesame::services::apps::view::details(&app.ctx, "acme").await.unwrap(),
        now,
    );
    assert_eq!(shown.cert_fingerprint, next.fingerprint, "the existing keys describe the current certificate");

    certs::retire(&app.ctx, &Actor::Cli, "acme", now).await.unwrap();
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
    let err = certs::activate(&app.ctx, &Actor::Cli, "acme", None, now).await.unwrap_err();
    assert!(matches!(err, Error::Certificate { .. }) && err.to_string().contains("no certificate is staged"), "{err}");
    let err = certs::retire(&app.ctx, &Actor::Cli, "acme", now).await.unwrap_err();
    assert!(err.to_string().contains("no previous certificate"), "{err}");
    certs::stage(&app.ctx, &Actor::Cli, "acme", now).await.unwrap();
    let err = certs::stage(&app.ctx, &Actor::Cli, "acme", now).await.unwrap_err();
    assert!(err.to_string().contains("already staged"), "{err}");
    let err = certs::stage(&app.ctx, &Actor::Cli, "nope", now).await.unwrap_err();
    assert!(matches!(err, Error::UnknownApp { .. }), "{err}");
}

#[tokio::test]
async fn plain_rotation_replaces_the_certificate_at_once_for_scripts() {
    let app = TestApp::new().await;
    let staged = certs::stage(&app.ctx, &Actor::Cli, "acme", Utc::now()).await.unwrap();
    let cert = certs::rotate(&app.ctx, &Actor::Cli, "acme", Utc::now()).await.unwrap();
    // One published certificate, the new one: the old current and the unused staged one are retired.
    assert_ne!(cert.fingerprint, staged.fingerprint);
    assert_eq!(published(&app).await, vec![cert.to_base64()]);
    let shown = sesame::cli::app_view::AppView::of(
        &sesame::services::apps::view::details(&app.ctx, "acme").await.unwrap(),
        Utc::now(),
    );
    let states: Vec<&str> = shown.certificates.iter().map(|c| c.state.as_str()).collect();
    assert_eq!(states, ["current", "retired", "retired"]);
    assert_eq!(events(&app, EventName::AdminAppRotateCert).await.len(), 1);
}

#[tokio::test]
async fn scheduled_activation_is_applied_once_by_housekeeping() {
    let app = TestApp::new().await;
    let now = Utc::now();
    let next = certs::stage(&app.ctx, &Actor::Cli, "acme", now).await.unwrap();
    let at = now + Duration::hours(1);
    let scheduled = certs::activate(&app.ctx, &Actor::Cli, "acme", Some(at), now).await.unwrap();
    assert!(matches!(scheduled, Activation::Scheduled { .. }));
    let shown = sesame::cli::app_view::AppView::of(
        &sesame::services::apps::view::details(&app.ctx, "acme").await.unwrap(),
        now,
    );
    assert!(shown.certificates[1].activate_at.is_some());

    assert_eq!(certs::apply_scheduled(&app.ctx, now).await.unwrap(), 0, "not yet due");
    assert_eq!(published(&app).await[1], next.to_base64());
    let later = at + Duration::minutes(1);
    // Two replicas' housekeeping passes at once: exactly one activation.
    let (a, b) = tokio::join!(certs::apply_scheduled(&app.ctx, later), certs::apply_scheduled(&app.ctx, later));
    assert_eq!(a.unwrap() + b.unwrap(), 1);
    assert_eq!(published(&app).await[0], next.to_base64());
    assert_eq!(certs::apply_scheduled(&app.ctx, later).await.unwrap(), 0);
    let activations = events(&app, EventName::AdminAppActivateCert).await;
    assert_eq!(activations.len(), 2, "the scheduling and the activation");
    assert!(activations.iter().any(|e| e.actor == "system" && e.detail.contains("scheduled")));
}

#[tokio::test]
async fn expiry_warnings_are_given_once_per_threshold_across_restarts() {
    let app = TestApp::with("", |c| c.cert_validity_days = 20).await;
    let now = Utc::now();
    let shown = sesame::cli::app_view::AppView::of(
        &sesame::services::apps::view::details(&app.ctx, "acme").await.unwrap(),
        now,
    );
    let warning = shown.certificates[0].warning.clone().expect("a warning in app show");
    assert!(warning.contains("expires in 19 days") || warning.contains("expires in 20 days"), "{warning}");

    // 20 days left: the 30-day warning (the 60-day one is behind us and is not given late).
    assert_eq!(certs::warn_expiring(&app.ctx, now).await.unwrap(), 1);
    assert_eq!(certs::warn_expiring(&app.ctx, now).await.unwrap(), 0);
    let app = app.restart().await;
    assert_eq!(certs::warn_expiring(&app.ctx, now + Duration::days(2)).await.unwrap(), 0);
    assert_eq!(certs::warn_expiring(&app.ctx, now + Duration::days(14)).await.unwrap(), 1, "7 days left");
    assert_eq!(certs::warn_expiring(&app.ctx, now + Duration::days(19) + Duration::hours(12)).await.unwrap(), 1);
    assert_eq!(certs::warn_expiring(&app.ctx, now + Duration::days(19) + Duration::hours(13)).await.unwrap(), 0);
    let given = events(&app, EventName::CertExpiryWarning).await;
    assert_eq!(given.len(), 3);
    assert!(given.iter().all(|e| e.actor == "system" && e.detail.contains("current certificate")));

    // A retired certificate is not warned about.
    certs::stage(&app.ctx, &Actor::Cli, "acme", now).await.unwrap();
    certs::activate(&app.ctx, &Actor::Cli, "acme", None, now).await.unwrap();
    certs::retire(&app.ctx, &Actor::Cli, "acme", now).await.unwrap();
    let shown = sesame::cli::app_view::AppView::of(
        &sesame::services::apps::view::details(&app.ctx, "acme").await.unwrap(),
        now,
    );
    assert_eq!(shown.certificates.last().unwrap().state.as_str(), "retired");
    assert!(shown.certificates.last().unwrap().warning.is_none());
}

/// Each expiry warning is mailed, once, to every administrator with an e-mail address, in the transaction that
/// gives the warning (queued in the outbox; `tests/peers/test_mail.py` shows the outbox reaching an SMTP server).
#[tokio::test]
async fn expiry_warnings_are_mailed_to_administrators_once_per_threshold() {
    let app = TestApp::with("", |c| {
        c.cert_validity_days = 20;
        c.smtp_url = Some("smtp://127.0.0.1:9".into());
        c.mail_from = Some("sso@example.com".into());
    })
    .await;
    let now = Utc::now();
    for (name, email) in [("ops", "ops@example.com"), ("sec", "sec@example.com"), ("quiet", "")] {
        sesame::services::admins::create_admin(&app.ctx, &Actor::Cli, name, "a long enough password".into(), now)
            .await
            .unwrap();
        sesame::services::admins::set_email(&app.ctx, &Actor::Cli, name, email, now).await.unwrap();
    }
    let pending = || async { sesame::services::mail::queue_status(&app.ctx).await.unwrap().pending };
    assert_eq!(pending().await, 0);
    assert_eq!(certs::warn_expiring(&app.ctx, now).await.unwrap(), 1);
    assert_eq!(pending().await, 2, "one mail per administrator with an address");
    assert_eq!(certs::warn_expiring(&app.ctx, now).await.unwrap(), 0);
    assert_eq!(pending().await, 2, "a threshold is mailed once");
    assert_eq!(certs::warn_expiring(&app.ctx, now + Duration::days(14)).await.unwrap(), 1, "7 days left");
    assert_eq!(pending().await, 4);
    // The outbox holds the mails sealed: nothing of their text rests readable in the database.
    let sealed: Vec<String> =
        sqlx::query_scalar("SELECT message_enc FROM mail_outbox").fetch_all(&app.ctx.db.pool).await.unwrap();
    assert_eq!(sealed.len(), 4);
    assert!(sealed.iter().all(|m| !m.contains("acme") && !m.contains("expires")), "{sealed:?}");
}

// ------------------------------------------------------------------------------------------------------------
// SP metadata refresh by URL

mod refresh {
    use std::sync::{Arc, Mutex};

    use axum::http::StatusCode;
    use chrono::{Duration, Utc};
    use sesame::audit::{Actor, EventName};
    use sesame::saml::authn_request::HTTP_POST;
    use sesame::saml::keys::SigningKey;
    use sesame::saml::metadata::METADATA_NS;
    use sesame::saml::response::PROTOCOL_NS;
    use sesame::saml::sign::{sign_enveloped, DSIG_NS};
    use sesame::saml::xml::CanonicalWriter;

    use sesame::services::apps::refresh::Outcome;

    use super::{common, events, TestApp};
    use common::{redirect_query, Req, ACS, ACS2, SP_ENTITY};

    const ACS3: &str = "https://sp.example.com/acs3";

    /// What an SP's metadata says, written canonically so it can also be signed.
    #[derive(Clone)]
    struct Doc<'a> {
        entity: &'a str,
        keys: Vec<&'a SigningKey>,
        acs: Vec<&'a str>,
        authn_requests_signed: bool,
        valid_until: Option<String>,
        cache_duration: Option<&'a str>,
    }

    impl<'a> Doc<'a> {
        fn new(key: &'a SigningKey) -> Self {
            Self {
                entity: SP_ENTITY,
                keys: vec![key],
                acs: vec![ACS, ACS2],
                authn_requests_signed: false,
                valid_until: None,
                cache_duration: None,
            }
        }

        fn xml(&self, signed_by: Option<&SigningKey>) -> String {
            let mut attrs = vec![("ID", "_spmd"), ("entityID", self.entity)];
            if let Some(v) = &self.valid_until {
                attrs.push(("validUntil", v));
            }
            if let Some(c) = self.cache_duration {
                attrs.push(("cacheDuration", c));
            }
            let mut w = CanonicalWriter::new();
            w.open("md:EntityDescriptor", &[("md", METADATA_NS)], &attrs);
            let at = w.position();
            let signed = if self.authn_requests_signed { "true" } else { "false" };
            w.open(
                "md:SPSSODescriptor",
                &[],
                &[("AuthnRequestsSigned", signed), ("protocolSupportEnumeration", PROTOCOL_NS)],
            );
            for key in &self.keys {
                w.open("md:KeyDescriptor", &[], &[("use", "signing")]);
                w.open("ds:KeyInfo", &[("ds", DSIG_NS)], &[]);
                w.open("ds:X509Data", &[], &[]);
                w.leaf("ds:X509Certificate", &[], &[], &key.cert.to_base64());
                w.close("ds:X509Data");
                w.close("ds:KeyInfo");
                w.close("md:KeyDescriptor");
            }
            for (i, url) in self.acs.iter().enumerate() {
                let index = i.to_string();
                let default = if i == 0 { "true" } else { "false" };
                w.empty(
                    "md:AssertionConsumerService",
                    &[],
                    &[("Binding", HTTP_POST), ("Location", url), ("index", &index), ("isDefault", default)],
                );
            }
            w.close("md:SPSSODescriptor");
            w.close("md:EntityDescriptor");
            let xml = w.finish();
            match signed_by {
                Some(key) => sign_enveloped(&xml, "_spmd", at, key).unwrap(),
                None => xml,
            }
        }
    }

    /// The SP's metadata URL on loopback; the test changes what it answers.
    struct MetadataServer {
        url: String,
        answer: Arc<Mutex<(u16, String)>>,
        task: tokio::task::JoinHandle<()>,
    }

    impl MetadataServer {
        async fn start(document: String) -> Self {
            let answer = Arc::new(Mutex::new((200, document)));
            let shared = answer.clone();
            let router = axum::Router::new().route(
                "/sp/metadata",
                axum::routing::get(move || {
                    let shared = shared.clone();
                    async move {
                        let (status, body) = shared.lock().unwrap().clone();
                        (StatusCode::from_u16(status).unwrap(), body)
                    }
                }),
            );
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("http://{}/sp/metadata", listener.local_addr().unwrap());
            let task = tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
            Self { url, answer, task }
        }

        fn set(&self, status: u16, document: String) {
            *self.answer.lock().unwrap() = (status, document);
        }
    }

    async fn import_from(app: &TestApp, server: &MetadataServer, settings: Option<&str>) -> Result<(), String> {
        sesame::services::apps::create::import_app(&app.ctx, &Actor::Cli, "acme", &server.url, settings, Utc::now())
            .await
            .map(drop)
            .map_err(|e| e.to_string())
    }

    async fn refresh(app: &TestApp) -> Outcome {
        sesame::services::apps::refresh::refresh_now(&app.ctx, &Actor::Cli, "acme", Utc::now()).await.unwrap().outcome
    }

    async fn sp(app: &TestApp) -> sesame::directory::application::SpSettings {
        let mut conn = app.ctx.db.conn().await.unwrap();
        sesame::store::apps::get_app(&mut conn, "acme").await.unwrap().sp
    }

    /// A Redirect-binding request signed with `key`, for ACS `acs`: 303 to sign-in when accepted.
    async fn signed_request_status(app: &TestApp, key: &SigningKey, acs: &str) -> StatusCode {
        let req = Req { acs_url: Some(acs.into()), ..Req::default() };
        app.get(&format!("/saml2/acme?{}", redirect_query(&req.xml(None), None, Some(key))), None).await.status
    }

    #[tokio::test]
    async fn refresh_picks_up_a_new_acs_url_and_a_second_sp_certificate() {
        let app = TestApp::new().await;
        let server = MetadataServer::start(Doc::new(&app.sp_key).xml(None)).await;
        import_from(&app, &server, None).await.unwrap();
        let source = sesame::cli::app_view::AppView::of(
            &sesame::services::apps::view::details(&app.ctx, "acme").await.unwrap(),
            Utc::now(),
        )
        .sp_metadata_source
        .unwrap();
        assert_eq!(source.url, server.url);
        let rotated = SigningKey::generate("sp-next", Utc::now(), 2).unwrap();
        assert_eq!(signed_request_status(&app, &rotated, ACS).await, StatusCode::BAD_REQUEST, "not registered yet");

        let mut doc = Doc::new(&app.sp_key);
        doc.keys.push(&rotated);
        doc.acs.push(ACS3);
        doc.cache_duration = Some("PT6H");
        server.set(200, doc.xml(None));
        let now = Utc::now();
        let refreshed = sesame::services::apps::refresh::refresh_now(&app.ctx, &Actor::Cli, "acme", now).await.unwrap();
        let Outcome::Changed(changes) = &refreshed.outcome else { panic!("{:?}", refreshed.outcome) };
        assert!(changes.contains(&format!("ACS URL added: {ACS3}")), "{changes:?}");
        assert!(
            changes.contains(&format!("SP signing certificate added: {}", rotated.cert.fingerprint)),
            "{changes:?}"
        );
        assert_eq!(changes.len(), 2, "{changes:?}");
        assert_eq!(refreshed.next_refresh, now + Duration::hours(6), "cacheDuration is honoured");
        let recorded = events(&app, EventName::SpMetadataRefresh).await;
        assert_eq!(recorded.len(), 1);
        assert!(recorded[0].success && recorded[0].detail.contains(ACS3));

        // Both SP certificates are accepted at once, so the SP can rotate; the new ACS is registered.
        assert_eq!(signed_request_status(&app, &rotated, ACS3).await, StatusCode::SEE_OTHER);
        assert_eq!(signed_request_status(&app, &app.sp_key, ACS).await, StatusCode::SEE_OTHER);

        // Housekeeping refreshes only what is due; an unchanged document records nothing.
        assert!(sesame::services::apps::refresh::refresh_due(&app.ctx, now).await.unwrap().is_empty());
        let due = sesame::services::apps::refresh::refresh_due(&app.ctx, now + Duration::hours(7)).await.unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].outcome, Outcome::Unchanged);
        assert_eq!(events(&app, EventName::SpMetadataRefresh).await.len(), 1);
    }

    #[tokio::test]
    async fn failed_refreshes_keep_the_last_good_copy_and_record_an_event_each() {
        let app = TestApp::new().await;
        let mut doc = Doc::new(&app.sp_key);
        doc.authn_requests_signed = true;
        let server = MetadataServer::start(doc.xml(None)).await;
        import_from(&app, &server, None).await.unwrap();
        let good = sp(&app).await;
        assert!(good.require_signed_requests);

        let expired = Doc { valid_until: Some("2020-01-01T00:00:00Z".into()), acs: vec![ACS3], ..doc.clone() };
        let other_entity = Doc { entity: "https://evil.example.com/sp", acs: vec![ACS3], ..doc.clone() };
        let cases = [
            (500, "<x/>".to_owned(), "HTTP status 500"),
            (200, "<md:EntityDescriptor xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\"/>".into(), "invalid"),
            (200, "not xml at all".into(), "invalid"),
            (200, expired.xml(None), "validUntil"),
            (200, other_entity.xml(None), "describes entity https://evil.example.com/sp"),
        ];
        for (status, body, reason) in cases {
            server.set(status, body);
            let Outcome::Failed(why) = refresh(&app).await else { panic!("refresh of a bad document succeeded") };
            assert!(why.contains(reason), "{why} should mention {reason}");
            assert_eq!(sp(&app).await, good, "the last good copy stays in use");
        }
        let MetadataServer { task, .. } = server;
        task.abort();
        let _ = task.await;
        let Outcome::Failed(why) = refresh(&app).await else { panic!("an unreachable URL refreshed") };
        assert!(why.contains("fetching"), "{why}");
        assert_eq!(sp(&app).await, good);
        let failures = events(&app, EventName::SpMetadataRefresh).await;
        assert_eq!(failures.len(), 6);
        assert!(failures.iter().all(|e| !e.success && e.detail.contains("last good copy")));
        let source = sesame::cli::app_view::AppView::of(
            &sesame::services::apps::view::details(&app.ctx, "acme").await.unwrap(),
            Utc::now(),
        )
        .sp_metadata_source
        .unwrap();
        assert!(source.last_error.contains("fetching"), "{}", source.last_error);
    }

    #[tokio::test]
    async fn a_signed_requests_requirement_survives_a_refresh_that_no_longer_says_so() {
        let app = TestApp::new().await;
        let mut doc = Doc::new(&app.sp_key);
        doc.authn_requests_signed = true;
        let server = MetadataServer::start(doc.xml(None)).await;
        import_from(&app, &server, None).await.unwrap();
        doc.authn_requests_signed = false;
        doc.acs.push(ACS3);
        server.set(200, doc.xml(None));
        assert!(matches!(refresh(&app).await, Outcome::Changed(_)));
        let sp = sp(&app).await;
        assert!(sp.acs.iter().any(|a| a.url == ACS3), "the refresh was applied");
        assert!(sp.require_signed_requests, "signed requests stay required");
        let unsigned = Req { acs_url: Some(ACS3.into()), ..Req::default() };
        let reply = app.get(&format!("/saml2/acme?{}", redirect_query(&unsigned.xml(None), None, None)), None).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    }

    /// Metadata tampering in transit: once a metadata-signing certificate is configured, only documents it signed
    /// are accepted, on import and on every refresh.
    #[tokio::test]
    async fn metadata_must_be_signed_once_a_metadata_signing_certificate_is_configured() {
        let app = TestApp::new().await;
        let md_key = SigningKey::generate("sp-metadata", Utc::now(), 2).unwrap();
        let rogue = SigningKey::generate("rogue", Utc::now(), 2).unwrap();
        let settings = format!("metadata_signing_certificate = \"\"\"\n{}\"\"\"\n", md_key.cert.to_pem().unwrap());
        let mut doc = Doc::new(&app.sp_key);
        let server = MetadataServer::start(doc.xml(None)).await;
        let refused = import_from(&app, &server, Some(&settings)).await.unwrap_err();
        assert!(refused.contains("signature"), "{refused}");
        server.set(200, doc.xml(Some(&md_key)));
        import_from(&app, &server, Some(&settings)).await.unwrap();

        doc.acs.push(ACS3);
        for (body, what) in [(doc.xml(None), "unsigned"), (doc.xml(Some(&rogue)), "signed by another key")] {
            server.set(200, body);
            let Outcome::Failed(why) = refresh(&app).await else { panic!("a document {what} was accepted") };
            assert!(why.contains("signature"), "{why}");
        }
        assert!(!sp(&app).await.acs.iter().any(|a| a.url == ACS3));
        server.set(200, doc.xml(Some(&md_key)));
        assert!(matches!(refresh(&app).await, Outcome::Changed(_)));
        assert!(sp(&app).await.acs.iter().any(|a| a.url == ACS3));
    }

    /// Metadata tampering in transit: unsigned metadata read in clear from a remote host lets whoever sits on the
    /// path choose the ACS URLs. An http metadata URL is refused at registration (before any fetch) and at every
    /// refresh unless a metadata-signing certificate is set.
    #[tokio::test]
    async fn unsigned_metadata_over_http_from_a_remote_host_is_refused() {
        let app = TestApp::new().await;
        let remote = "http://sp.example.com/saml/metadata";
        let refused =
            sesame::services::apps::create::import_app(&app.ctx, &Actor::Cli, "other", remote, None, Utc::now())
                .await
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
        assert!(refused.contains("metadata URL uses http"), "{refused}");

        // An application registered from loopback whose source then points at a remote http host.
        let server = MetadataServer::start(Doc::new(&app.sp_key).xml(None)).await;
        import_from(&app, &server, None).await.unwrap();
        let id = sp_id(&app).await;
        let document = Doc::new(&app.sp_key).xml(None);
        let mut conn = app.ctx.db.conn().await.unwrap();
        sesame::store::metadata_sources::upsert_source(&mut conn, id, remote, &document, 0, 0).await.unwrap();
        drop(conn);
        let Outcome::Failed(why) = refresh(&app).await else { panic!("unsigned metadata over http was accepted") };
        assert!(why.contains("metadata URL uses http"), "{why}");
    }

    async fn sp_id(app: &TestApp) -> sesame::directory::AppId {
        let mut conn = app.ctx.db.conn().await.unwrap();
        sesame::store::apps::get_app(&mut conn, "acme").await.unwrap().id
    }

    /// Assertion redirection through metadata: a refreshed document (from a compromised metadata host, or anyone
    /// on the path) that moves the ACS URLs to another host would have every assertion posted there. Such a change
    /// is held for an administrator's approval while the document's other changes apply; a path change on the
    /// same host applies at once.
    #[tokio::test]
    async fn a_new_acs_host_waits_for_an_administrators_approval() {
        const EVIL: &str = "https://evil.example.net/acs";
        let app = TestApp::new().await;
        let server = MetadataServer::start(Doc::new(&app.sp_key).xml(None)).await;
        import_from(&app, &server, None).await.unwrap();
        let rotated = SigningKey::generate("sp-next", Utc::now(), 2).unwrap();
        let mut doc = Doc::new(&app.sp_key);
        doc.keys.push(&rotated);
        doc.acs = vec![EVIL, ACS3];
        server.set(200, doc.xml(None));
        let Outcome::Changed(changes) = refresh(&app).await else { panic!("the refresh failed") };
        assert!(changes.iter().any(|c| c.contains("held for an administrator's approval") && c.contains(EVIL)));
        let current = sp(&app).await;
        assert!(current.acs.iter().all(|a| a.url != EVIL && a.url != ACS3), "the ACS URLs are held");
        assert_eq!(current.signing_certificates.len(), 2, "the other changes apply");
        assert_eq!(signed_request_status(&app, &app.sp_key, EVIL).await, StatusCode::BAD_REQUEST);
        assert_eq!(signed_request_status(&app, &app.sp_key, ACS).await, StatusCode::SEE_OTHER);
        let held = events(&app, EventName::SpMetadataRefresh).await;
        assert_eq!(held.iter().filter(|e| !e.success && e.detail.contains(EVIL)).count(), 1, "{held:?}");
        let d = sesame::services::apps::view::details(&app.ctx, "acme").await.unwrap();
        assert_eq!(d.metadata_source.unwrap().held_acs, vec![EVIL.to_owned(), ACS3.to_owned()]);
        // The same document again records no second hold.
        refresh(&app).await;
        let again = events(&app, EventName::SpMetadataRefresh).await;
        assert_eq!(again.iter().filter(|e| !e.success).count(), 1);

        // The console's SSO tab shows the held URLs; approving (with the form's CSRF token) applies them.
        sesame::services::admins::create_admin(&app.ctx, &Actor::Cli, "root", ADMIN_PASSWORD.into(), Utc::now())
            .await
            .unwrap();
        let (cookie, token) = admin_session(&app).await;
        let page = app.get("/admin/apps/acme?tab=sso", Some(&cookie)).await.body;
        assert!(page.contains("id=\"held-acs\"") && page.contains(EVIL), "{page}");
        let forged = app.post_form("/admin/apps/acme/metadata/held", &[("action", "approve")], Some(&cookie)).await;
        assert!(forged.status.is_client_error(), "{}", forged.status);
        assert!(sp(&app).await.acs.iter().all(|a| a.url != EVIL), "no approval without the CSRF token");
        let fields = [("csrf_token", token.as_str()), ("action", "approve")];
        let reply = app.post_form("/admin/apps/acme/metadata/held", &fields, Some(&cookie)).await;
        assert_eq!(reply.location.as_deref(), Some("/admin/apps/acme?tab=sso"));
        assert!(sp(&app).await.acs.iter().any(|a| a.url == EVIL));
        assert_eq!(signed_request_status(&app, &app.sp_key, EVIL).await, StatusCode::SEE_OTHER);
        let page = app.get("/admin/apps/acme?tab=sso", Some(&cookie)).await.body;
        assert!(!page.contains("id=\"held-acs\""), "nothing is held any more");

        // A path change on a known host applies at once, with nothing held.
        doc.acs = vec![EVIL, "https://evil.example.net/acs/v2"];
        server.set(200, doc.xml(None));
        assert!(matches!(refresh(&app).await, Outcome::Changed(_)));
        assert!(sp(&app).await.acs.iter().any(|a| a.url == "https://evil.example.net/acs/v2"));
        let d = sesame::services::apps::view::details(&app.ctx, "acme").await.unwrap();
        assert!(d.metadata_source.unwrap().held_acs.is_empty());

        // A rejected hold leaves the ACS URLs as they are; a new port is a new host.
        doc.acs = vec!["https://evil.example.net:8443/acs"];
        server.set(200, doc.xml(None));
        refresh(&app).await;
        sesame::services::apps::refresh::reject_held(&app.ctx, &Actor::Cli, "acme", Utc::now()).await.unwrap();
        assert!(sp(&app).await.acs.iter().all(|a| !a.url.contains(":8443")));
        let d = sesame::services::apps::view::details(&app.ctx, "acme").await.unwrap();
        assert!(d.metadata_source.unwrap().held_acs.is_empty());
    }

    const ADMIN_PASSWORD: &str = "correct horse battery staple";

    /// An administrator's console cookie and CSRF token.
    async fn admin_session(app: &TestApp) -> (String, String) {
        let page = app.get("/admin/login", None).await;
        let cookie = page.set_cookie.clone().unwrap();
        let token = page.input("csrf_token").unwrap();
        let fields = [("csrf_token", token.as_str()), ("username", "root"), ("password", ADMIN_PASSWORD)];
        let reply = app.post_form("/admin/login", &fields, Some(&cookie)).await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER);
        let cookie = reply.set_cookie.unwrap_or(cookie);
        let token = app.get("/admin", Some(&cookie)).await.input("csrf_token").unwrap();
        (cookie, token)
    }
}

// ------------------------------------------------------------------------------------------------------------
// Encrypted assertions

mod encryption {
    use std::process::Command;

    use chrono::Utc;
    use sesame::audit::Actor;
    use sesame::saml::keys::SigningKey;

    use super::{common, TestApp};

    const ASSERTION_NODE: &str = "urn:oasis:names:tc:SAML:2.0:assertion:Assertion";

    /// The test SP's metadata with an encryption certificate beside its signing one.
    fn metadata_with_encryption(app: &TestApp, enc: &SigningKey) -> String {
        let key = format!(
            r#"<md:KeyDescriptor use="encryption"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:AssertionConsumerService"#,
            enc.cert.to_base64()
        );
        common::sp_metadata(&app.sp_key, false).replacen("<md:AssertionConsumerService", &key, 1)
    }

    async fn encrypted_response(settings: &str) -> (TestApp, SigningKey, String) {
        let app = TestApp::new().await;
        let enc = SigningKey::generate("sp-encryption", Utc::now(), 2).unwrap();
        let xml = metadata_with_encryption(&app, &enc);
        sesame::services::apps::create::import_app_xml(
            &app.ctx,
            &Actor::Cli,
            "acme",
            &xml,
            None,
            Some(settings),
            Utc::now(),
        )
        .await
        .unwrap();
        let cookie = app.login("alice", common::PASSWORD).await;
        let response = app.get("/saml2/acme", Some(&cookie)).await.saml_response().unwrap();
        (app, enc, response)
    }

    struct Files(tempfile::TempDir);

    impl Files {
        fn new() -> Self {
            Self(tempfile::tempdir().unwrap())
        }

        fn write(&self, name: &str, content: &[u8]) -> String {
            let path = self.0.path().join(name);
            std::fs::write(&path, content).unwrap();
            path.display().to_string()
        }
    }

    /// `xmlsec1 --decrypt` of the first EncryptedData with `key`: the decrypted document, or xmlsec1's complaint.
    fn xmlsec1_decrypt(files: &Files, xml: &str, key: &SigningKey) -> Result<String, String> {
        let key = files.write("sp.key", &key.private_key_pem().unwrap());
        let input = files.write("in.xml", xml.as_bytes());
        let out = Command::new("xmlsec1").args(["--decrypt", "--privkey-pem", &key, &input]).output().unwrap();
        if out.status.success() {
            Ok(String::from_utf8(out.stdout).unwrap())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    async fn idp_certificate(app: &TestApp) -> String {
        app.get("/saml2/acme/certificate.pem", None).await.body
    }

    fn xmlsec1_verify_assertion(files: &Files, xml: &str, cert_pem: &str) -> bool {
        let cert = files.write("idp.pem", cert_pem.as_bytes());
        let input = files.write("decrypted.xml", xml.as_bytes());
        Command::new("xmlsec1")
            .args(["--verify", "--pubkey-cert-pem", &cert, "--id-attr:ID", ASSERTION_NODE, &input])
            .output()
            .unwrap()
            .status
            .success()
    }

    #[tokio::test]
    async fn assertions_are_signed_then_encrypted_with_gcm_by_default_and_cbc_when_asked() {
        for (algorithm, settings) in [
            ("http://www.w3.org/2009/xmlenc11#aes256-gcm", "encrypt_assertions = true"),
            (
                "http://www.w3.org/2001/04/xmlenc#aes256-cbc",
                "encrypt_assertions = true\nencryption_algorithm = \"aes256-cbc\"",
            ),
        ] {
            let (app, enc, xml) = encrypted_response(settings).await;
            assert!(xml.contains("<saml:EncryptedAssertion") && xml.contains(algorithm), "{xml}");
            assert!(xml.contains("http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"));
            assert!(!xml.contains("<saml:Assertion") && !xml.contains("alice@example.com"), "nothing in clear");
            let files = Files::new();
            let decrypted = xmlsec1_decrypt(&files, &xml, &enc).unwrap();
            assert!(decrypted.contains("alice@example.com"), "{decrypted}");
            assert!(
                xmlsec1_verify_assertion(&files, &decrypted, &idp_certificate(&app).await),
                "the decrypted assertion carries our signature"
            );
            // Encrypted to the SP's key only.
            let rogue = SigningKey::generate("rogue", Utc::now(), 1).unwrap();
            assert!(xmlsec1_decrypt(&files, &xml, &rogue).is_err());
        }
    }

    #[tokio::test]
    async fn the_name_id_can_be_encrypted_too() {
        let (_app, enc, xml) = encrypted_response("encrypt_assertions = true\nencrypt_name_id = true").await;
        let files = Files::new();
        let assertion = xmlsec1_decrypt(&files, &xml, &enc).unwrap();
        assert!(assertion.contains("<saml:EncryptedID>") && !assertion.contains("<saml:NameID"), "{assertion}");
        let name_id = xmlsec1_decrypt(&files, &assertion, &enc).unwrap();
        assert!(name_id.contains("alice@example.com</saml:NameID>"), "{name_id}");
    }

    /// NameID disclosure in single logout: for an application with `encrypt_name_id`, our LogoutRequest carries
    /// the NameID encrypted to the SP's encryption certificate (an EncryptedID), as the assertion did; the plain
    /// value never appears in it, and the SP's key decrypts it.
    #[tokio::test]
    async fn logout_requests_encrypt_the_name_id_too() {
        use base64::Engine;
        let app = TestApp::new().await;
        let enc = SigningKey::generate("sp-encryption", Utc::now(), 2).unwrap();
        let slo = r#"<md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://sp.example.com/slo"/>
    <md:AssertionConsumerService"#;
        let xml = metadata_with_encryption(&app, &enc).replacen("<md:AssertionConsumerService", slo, 1);
        sesame::services::apps::create::import_app_xml(
            &app.ctx,
            &Actor::Cli,
            "acme",
            &xml,
            None,
            Some("encrypt_name_id = true"),
            Utc::now(),
        )
        .await
        .unwrap();
        let cookie = app.login("alice", common::PASSWORD).await;
        assert!(app.get("/saml2/acme", Some(&cookie)).await.saml_response().is_some());
        let token = app.get("/", Some(&cookie)).await.input("csrf_token").unwrap();
        let run_url = app.post_form("/logout", &[("csrf_token", &token)], Some(&cookie)).await.location.unwrap();
        let frame = app.get(&format!("{run_url}/sp/acme"), Some(&cookie)).await;
        let value = frame.input("SAMLRequest").unwrap_or_else(|| panic!("{}", frame.body));
        let request = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(value).unwrap()).unwrap();
        assert!(!request.contains("alice@example.com") && !request.contains("<saml:NameID"), "{request}");
        assert!(request.contains("<saml:EncryptedID"), "{request}");
        let name_id = xmlsec1_decrypt(&Files::new(), &request, &enc).unwrap();
        assert!(name_id.contains("alice@example.com</saml:NameID>"), "{name_id}");
    }

    #[tokio::test]
    async fn encryption_without_an_sp_encryption_certificate_is_refused() {
        let app = TestApp::new().await;
        // The test SP's only key is a signing key: nothing to encrypt to.
        let xml = common::sp_metadata(&app.sp_key, false);
        let err = sesame::services::apps::create::import_app_xml(
            &app.ctx,
            &Actor::Cli,
            "acme",
            &xml,
            None,
            Some("encrypt_assertions = true"),
            Utc::now(),
        )
        .await
        .unwrap_err();
        assert!(err.to_string().contains("encryption certificate"), "{err}");
        let err = sesame::services::apps::create::import_app_xml(
            &app.ctx,
            &Actor::Cli,
            "acme",
            &xml,
            None,
            Some("encryption_algorithm = \"aes128-cbc\""),
            Utc::now(),
        )
        .await
        .unwrap_err();
        assert!(err.to_string().contains("aes256-gcm or aes256-cbc"), "{err}");
    }
}

// ------------------------------------------------------------------------------------------------------------
// Single logout

mod slo {
    use axum::http::StatusCode;
    use chrono::{Duration, Utc};
    use sesame::audit::{Actor, EventName};
    use sesame::saml::keys::SigningKey;
    use sesame::saml::logout::{
        build_logout_request, build_logout_response, OutgoingLogoutRequest, OutgoingLogoutResponse,
    };
    use sesame::saml::response::{status, NameId};

    use super::{common, events, TestApp};
    use common::{b64, redirect_query, Reply, SP_ENTITY};

    const SP_SLO: &str = "https://sp.example.com/slo";
    const EMAIL: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress";

    fn metadata_with_slo(key: &SigningKey, signed: bool) -> String {
        let slo = format!(
            r#"<md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="{SP_SLO}"/>
    <md:AssertionConsumerService"#
        );
        common::sp_metadata(key, signed).replacen("<md:AssertionConsumerService", &slo, 1)
    }

    async fn with_slo(app: &TestApp, name: &str, signed: bool, settings: &str) {
        let xml = metadata_with_slo(&app.sp_key, signed);
        sesame::services::apps::create::import_app_xml(
            &app.ctx,
            &Actor::Cli,
            name,
            &xml,
            None,
            Some(settings),
            Utc::now(),
        )
        .await
        .unwrap();
        if name != "acme" {
            sesame::services::apps::change::change_binding(&app.ctx, &Actor::Cli, name, "staff", true, Utc::now())
                .await
                .unwrap();
        }
    }

    fn logout_request(app: &str, id: &str, key: Option<&SigningKey>) -> String {
        logout_request_for_session(app, id, "", key)
    }

    /// A LogoutRequest naming alice and, unless empty, our `session_index`.
    fn logout_request_for_session(app: &str, id: &str, session_index: &str, key: Option<&SigningKey>) -> String {
        let name_id = NameId {
            value: "alice@example.com".into(),
            format: EMAIL.into(),
            name_qualifier: None,
            sp_name_qualifier: None,
        };
        let destination = format!("{}/saml2/{app}/slo", common::BASE);
        let now = Utc::now();
        let xml = build_logout_request(
            &OutgoingLogoutRequest {
                id,
                issue_instant: now,
                issuer: SP_ENTITY,
                destination: &destination,
                name_id: &name_id,
                session_index,
                not_on_or_after: now + Duration::minutes(5),
                encryption: None,
            },
            None,
        )
        .unwrap()
        .replace("<samlp:SessionIndex></samlp:SessionIndex>", "");
        match key {
            Some(key) => {
                let at = xml.find("</saml:Issuer>").unwrap() + "</saml:Issuer>".len();
                sesame::saml::sign::sign_enveloped(&xml, id, at, key).unwrap()
            }
            None => xml,
        }
    }

    fn form_field(reply: &Reply, name: &str) -> String {
        reply.input(name).unwrap_or_else(|| panic!("no {name} in {}", reply.body))
    }

    fn decoded(value: &str) -> String {
        use base64::Engine;
        String::from_utf8(base64::engine::general_purpose::STANDARD.decode(value).unwrap()).unwrap()
    }

    #[tokio::test]
    async fn idp_metadata_publishes_the_single_logout_endpoint() {
        let app = TestApp::new().await;
        let xml = app.get("/saml2/acme/metadata", None).await.body;
        assert!(xml.contains(&format!(r#"Location="{}/saml2/acme/slo""#, common::BASE)), "{xml}");
    }

    #[tokio::test]
    async fn sp_initiated_logout_ends_the_idp_session_and_answers_the_sp_with_a_signed_response() {
        let app = TestApp::new().await;
        with_slo(&app, "acme", false, common::SETTINGS).await;
        let cookie = app.login("alice", common::PASSWORD).await;
        assert_eq!(app.get("/saml2/acme", Some(&cookie)).await.status, StatusCode::OK, "signed in to acme");

        let request = logout_request("acme", "_logout1", Some(&app.sp_key));
        let query = redirect_query(&request, Some("back"), Some(&app.sp_key));
        let reply = app.get(&format!("/saml2/acme/slo?{query}"), Some(&cookie)).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        assert_eq!(reply.form_action().as_deref(), Some(SP_SLO));
        assert_eq!(reply.input("RelayState").as_deref(), Some("back"));
        let response = decoded(&form_field(&reply, "SAMLResponse"));
        assert!(response.contains(r#"InResponseTo="_logout1""#) && response.contains(status::SUCCESS), "{response}");
        let idp_cert = app.get("/saml2/acme/certificate.pem", None).await.body;
        let idp_cert = sesame::saml::keys::Certificate::from_pem(idp_cert.as_bytes()).unwrap();
        sesame::saml::authn_request::verify_root_signature(
            &response,
            &[idp_cert],
            false,
            sesame::saml::response::PROTOCOL_NS,
            "LogoutResponse",
        )
        .expect("our LogoutResponse is signed");

        assert_eq!(app.get("/", Some(&cookie)).await.status, StatusCode::SEE_OTHER, "the IdP session ended");
        let replay = app.get(&format!("/saml2/acme/slo?{query}"), None).await;
        assert_eq!(replay.status, StatusCode::BAD_REQUEST, "a LogoutRequest is accepted once");
    }

    /// Forged logout (logout CSRF): an application that requires signed requests refuses an unsigned
    /// LogoutRequest, by either binding, and the session stays.
    #[tokio::test]
    async fn unsigned_logout_request_from_an_app_requiring_signatures_is_refused() {
        let app = TestApp::new().await;
        with_slo(&app, "acme", true, common::SETTINGS).await;
        let cookie = app.login("alice", common::PASSWORD).await;
        assert_eq!(app.get("/saml2/acme", Some(&cookie)).await.status, StatusCode::OK, "signed in to acme");
        let unsigned = logout_request("acme", "_forged1", None);
        let reply = app.get(&format!("/saml2/acme/slo?{}", redirect_query(&unsigned, None, None)), Some(&cookie)).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST);
        assert!(reply.body.contains("must be signed"), "{}", reply.body);
        let unsigned = logout_request("acme", "_forged2", None);
        let reply = app.post_form("/saml2/acme/slo", &[("SAMLRequest", &b64(&unsigned))], Some(&cookie)).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST);
        // Signed by a key the SP never registered: refused too.
        let rogue = SigningKey::generate("rogue", Utc::now(), 1).unwrap();
        let forged = logout_request("acme", "_forged3", Some(&rogue));
        let reply = app.post_form("/saml2/acme/slo", &[("SAMLRequest", &b64(&forged))], Some(&cookie)).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST);
        assert_eq!(app.get("/", Some(&cookie)).await.status, StatusCode::OK, "still signed in");
        let rejected = events(&app, EventName::SloRequestRejected).await;
        assert_eq!(rejected.len(), 3);
        // The POST binding with a valid signature is parked and answered on our origin.
        let signed = logout_request("acme", "_good1", Some(&app.sp_key));
        let parked = app.post_form("/saml2/acme/slo", &[("SAMLRequest", &b64(&signed))], None).await;
        assert_eq!(parked.status, StatusCode::SEE_OTHER);
        let reply = app.get(parked.location.as_deref().unwrap(), Some(&cookie)).await;
        assert_eq!(reply.form_action().as_deref(), Some(SP_SLO), "{}", reply.body);
        assert!(decoded(&form_field(&reply, "SAMLResponse")).contains(status::SUCCESS));
        assert_eq!(app.get("/", Some(&cookie)).await.status, StatusCode::SEE_OTHER);
    }

    /// No input to the logout endpoint causes a server error (hostile or broken LogoutRequests and responses).
    #[tokio::test]
    async fn no_logout_input_causes_a_server_error() {
        let app = TestApp::new().await;
        with_slo(&app, "acme", true, common::SETTINGS).await;
        let genuine = redirect_query(&logout_request("acme", "_fuzz", None), Some("rs"), Some(&app.sp_key));
        let post = b64(&logout_request("acme", "_fuzz2", Some(&app.sp_key)));
        let mut seed: u64 = 0x10_6047;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for round in 0..240 {
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
            let field = if round % 4 < 2 { "SAMLRequest" } else { "SAMLResponse" };
            let reply = if round % 2 == 0 {
                let query: String = mutated
                    .replacen("SAMLRequest", field, 1)
                    .chars()
                    .filter(|c| !c.is_whitespace() && *c != '#' && !c.is_control())
                    .collect();
                let uri = format!("/saml2/acme/slo?{query}");
                match axum::http::Uri::try_from(uri.as_str()) {
                    Ok(_) => app.get(&uri, None).await,
                    Err(_) => continue,
                }
            } else {
                app.post_form("/saml2/acme/slo", &[(field, &mutated)], None).await
            };
            assert!(!reply.status.is_server_error(), "round {round}: {} {}", reply.status, reply.body);
        }
    }

    /// Logging out someone else: a LogoutRequest that names another principal than this browser's session ends
    /// nothing and gets UnknownPrincipal.
    #[tokio::test]
    async fn a_logout_request_for_another_principal_signs_nobody_out() {
        let app = TestApp::new().await;
        with_slo(&app, "acme", false, common::SETTINGS).await;
        let cookie = app.login("bob", common::PASSWORD).await;
        // bob may not use acme, but holds an IdP session; the request names alice.
        let request = logout_request("acme", "_other1", Some(&app.sp_key));
        let reply = app
            .get(&format!("/saml2/acme/slo?{}", redirect_query(&request, None, Some(&app.sp_key))), Some(&cookie))
            .await;
        let response = decoded(&form_field(&reply, "SAMLResponse"));
        assert!(response.contains(sesame::saml::logout::UNKNOWN_PRINCIPAL), "{response}");
        assert_eq!(app.get("/", Some(&cookie)).await.status, StatusCode::OK, "bob is still signed in");
        let shown = sesame::cli::app_view::AppView::of(
            &sesame::services::apps::view::details(&app.ctx, "acme").await.unwrap(),
            Utc::now(),
        );
        assert_eq!(shown.slo_urls, [SP_SLO]);
    }

    #[tokio::test]
    async fn portal_logout_tells_every_sp_and_reports_the_one_that_did_not_confirm() {
        let app = TestApp::new().await;
        with_slo(&app, "acme", false, common::SETTINGS).await;
        with_slo(&app, "beta", false, "display_label = \"Beta\"").await;
        let cookie = app.login("alice", common::PASSWORD).await;
        for name in ["acme", "beta"] {
            assert_eq!(app.get(&format!("/saml2/{name}"), Some(&cookie)).await.status, StatusCode::OK);
        }
        let token = app.get("/", Some(&cookie)).await.input("csrf_token").unwrap();
        let reply = app.post_form("/logout", &[("csrf_token", &token)], Some(&cookie)).await;
        let run_url = reply.location.unwrap();
        assert!(run_url.starts_with("/logout/_"), "{run_url}");
        let page = app.get(&run_url, Some(&cookie)).await;
        assert!(page.body.contains(&format!(r#"src="{run_url}/sp/acme""#)), "{}", page.body);
        assert!(page.body.contains(&format!(r#"src="{run_url}/sp/beta""#)));
        assert_eq!(app.get("/", Some(&cookie)).await.status, StatusCode::SEE_OTHER, "signed out at the IdP");

        // acme's frame carries our signed LogoutRequest; acme answers. beta never does (it is down).
        let frame = app.get(&format!("{run_url}/sp/acme"), Some(&cookie)).await;
        assert_eq!(frame.form_action().as_deref(), Some(SP_SLO));
        let request = decoded(&form_field(&frame, "SAMLRequest"));
        assert!(request.contains("alice@example.com") && request.contains("<ds:Signature"), "{request}");
        let request_id =
            roxmltree::Document::parse(&request).unwrap().root_element().attribute("ID").unwrap().to_owned();
        let response = build_logout_response(
            &OutgoingLogoutResponse {
                id: "_lr_acme",
                issue_instant: Utc::now(),
                issuer: SP_ENTITY,
                destination: &format!("{}/saml2/acme/slo", common::BASE),
                in_response_to: &request_id,
                top_code: status::SUCCESS,
                second_code: None,
            },
            Some(&app.sp_key),
        )
        .unwrap();
        let relay = form_field(&frame, "RelayState");
        let answered =
            app.post_form("/saml2/acme/slo", &[("SAMLResponse", &b64(&response)), ("RelayState", &relay)], None).await;
        assert_eq!(answered.status, StatusCode::OK);
        assert!(answered.body.contains("Signed out of Acme CRM"), "{}", answered.body);
        let status = app.get(&format!("{run_url}/status"), Some(&cookie)).await.body;
        assert!(status.contains(r#""app":"acme","label":"Acme CRM","state":"done""#), "{status}");
        assert!(status.contains(r#""app":"beta","label":"Beta","state":"pending""#), "{status}");

        let done = app.post_form(&format!("{run_url}/finish"), &[], Some(&cookie)).await;
        assert_eq!(done.status, StatusCode::OK);
        assert!(done.body.contains("not everywhere"), "{}", done.body);
        let failed = done.body.split("logout-failed").nth(1).unwrap();
        assert!(failed.contains("Beta") && !failed.contains("Acme CRM"), "{}", done.body);
        let propagated = events(&app, EventName::SloPropagate).await;
        assert_eq!(propagated.len(), 1, "acme's");
        assert!(propagated[0].success);
        let all = events::list_events(
            &app.ctx,
            &sesame::audit::EventFilter { name: Some(EventName::SloPropagate), limit: 10, ..Default::default() },
        )
        .await
        .unwrap();
        assert!(all.iter().any(|e| e.app == "beta" && !e.success));
    }

    /// Signs alice in to acme and beta (both with an SLO endpoint), signs her out at the portal, and returns her
    /// browser's cookie and the run's page.
    async fn portal_run(app: &TestApp) -> (String, String) {
        with_slo(app, "acme", false, common::SETTINGS).await;
        with_slo(app, "beta", false, "display_label = \"Beta\"").await;
        let cookie = app.login("alice", common::PASSWORD).await;
        for name in ["acme", "beta"] {
            assert_eq!(app.get(&format!("/saml2/{name}"), Some(&cookie)).await.status, StatusCode::OK);
        }
        let token = app.get("/", Some(&cookie)).await.input("csrf_token").unwrap();
        let reply = app.post_form("/logout", &[("csrf_token", &token)], Some(&cookie)).await;
        let run_url = reply.location.unwrap();
        assert!(run_url.starts_with("/logout/_"), "{run_url}");
        (cookie, run_url)
    }

    fn request_id_of(frame: &Reply) -> String {
        let request = decoded(&form_field(frame, "SAMLRequest"));
        roxmltree::Document::parse(&request).unwrap().root_element().attribute("ID").unwrap().to_owned()
    }

    fn logout_response(app: &str, in_response_to: &str, key: Option<&SigningKey>) -> String {
        build_logout_response(
            &OutgoingLogoutResponse {
                id: &format!("_lr_{app}_{in_response_to}"),
                issue_instant: Utc::now(),
                issuer: SP_ENTITY,
                destination: &format!("{}/saml2/{app}/slo", common::BASE),
                in_response_to,
                top_code: status::SUCCESS,
                second_code: None,
            },
            key,
        )
        .unwrap()
    }

    /// Logout run hijack: an SP of the run used to receive the run id as its RelayState, and with it could list
    /// the user's other applications, fetch our signed LogoutRequest to another SP (with its NameID), and finish
    /// the run. Each SP now gets an opaque RelayState of its own, and the run's pages answer only the browser
    /// that started the run (any other gets the page of an unknown logout).
    #[tokio::test]
    async fn a_logout_run_answers_only_the_browser_that_started_it() {
        let app = TestApp::new().await;
        let (cookie, run_url) = portal_run(&app).await;
        let run_id = run_url.trim_start_matches("/logout/").to_owned();
        let frame = app.get(&format!("{run_url}/sp/acme"), Some(&cookie)).await;
        let relay = form_field(&frame, "RelayState");
        assert!(!relay.is_empty() && !relay.contains(&run_id) && !run_id.contains(&relay), "{relay} {run_id}");
        let beta_frame = app.get(&format!("{run_url}/sp/beta"), Some(&cookie)).await;
        assert_ne!(form_field(&beta_frame, "RelayState"), relay, "each SP has its own RelayState");

        // Another browser: one without a session, and one that started a logout of its own (so it has a secret).
        let other = app.login("bob", common::PASSWORD).await;
        let token = app.get("/", Some(&other)).await.input("csrf_token").unwrap();
        app.post_form("/logout", &[("csrf_token", &token)], Some(&other)).await;
        for foreign in [None, Some(other.as_str())] {
            for path in [run_url.clone(), format!("{run_url}/sp/beta"), format!("{run_url}/status")] {
                let reply = app.get(&path, foreign).await;
                assert_eq!(reply.status, StatusCode::NOT_FOUND, "{path}: {}", reply.body);
                assert!(!reply.body.contains("Beta") && !reply.body.contains("SAMLRequest"), "{}", reply.body);
            }
            let finish = app.post_form(&format!("{run_url}/finish"), &[], foreign).await;
            assert_eq!(finish.status, StatusCode::NOT_FOUND);
        }
        // The RelayState an SP holds is no run id, not even in the browser that started the run.
        assert_eq!(app.get(&format!("/logout/{relay}/status"), Some(&cookie)).await.status, StatusCode::NOT_FOUND);
        let status = app.get(&format!("{run_url}/status"), Some(&cookie)).await.body;
        assert!(status.contains(r#""app":"beta","label":"Beta","state":"pending""#), "the run is intact: {status}");
        let done = app.post_form(&format!("{run_url}/finish"), &[], Some(&cookie)).await;
        assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    }

    /// Forged confirmation for another SP: a LogoutResponse settles only the target whose request it answers and
    /// whose application sent it; acme answering beta's request ID (or with beta's RelayState) settles nothing.
    #[tokio::test]
    async fn a_logout_response_settles_only_its_own_target() {
        let app = TestApp::new().await;
        let (cookie, run_url) = portal_run(&app).await;
        let acme = app.get(&format!("{run_url}/sp/acme"), Some(&cookie)).await;
        let beta = app.get(&format!("{run_url}/sp/beta"), Some(&cookie)).await;
        let forged = logout_response("acme", &request_id_of(&beta), Some(&app.sp_key));
        let reply = app.post_form("/saml2/acme/slo", &[("SAMLResponse", &b64(&forged))], None).await;
        assert!(reply.status.is_client_error(), "{}", reply.body);
        let wrong_relay = logout_response("acme", &request_id_of(&acme), Some(&app.sp_key));
        let fields = [("SAMLResponse", b64(&wrong_relay)), ("RelayState", form_field(&beta, "RelayState"))];
        let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let reply = app.post_form("/saml2/acme/slo", &fields, None).await;
        assert!(reply.status.is_client_error(), "{}", reply.body);
        let status = app.get(&format!("{run_url}/status"), Some(&cookie)).await.body;
        assert!(status.contains(r#""app":"acme","label":"Acme CRM","state":"pending""#), "{status}");
        assert!(status.contains(r#""app":"beta","label":"Beta","state":"pending""#), "{status}");
    }

    /// Logout CSRF: an SP whose signing certificate we know must sign its LogoutRequests even when it does not
    /// sign AuthnRequests (SAML Profiles §4.4.3.1), so a cross-site GET or POST carrying an unsigned request ends
    /// nobody's session.
    #[tokio::test]
    async fn unsigned_logout_request_from_an_sp_with_a_signing_certificate_is_refused() {
        let app = TestApp::new().await;
        with_slo(&app, "acme", false, common::SETTINGS).await;
        let cookie = app.login("alice", common::PASSWORD).await;
        assert_eq!(app.get("/saml2/acme", Some(&cookie)).await.status, StatusCode::OK);
        let unsigned = logout_request("acme", "_csrf1", None);
        let reply = app.get(&format!("/saml2/acme/slo?{}", redirect_query(&unsigned, None, None)), Some(&cookie)).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
        assert!(reply.body.contains("must be signed"), "{}", reply.body);
        let unsigned = logout_request("acme", "_csrf2", None);
        let reply = app.post_form("/saml2/acme/slo", &[("SAMLRequest", &b64(&unsigned))], None).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
        assert_eq!(app.get("/", Some(&cookie)).await.status, StatusCode::OK, "still signed in");
    }

    /// Forged logout confirmation: an SP whose signing certificate we know must sign its LogoutResponses, so no
    /// one can mark it as logged out (and hide that the user is still signed in there).
    #[tokio::test]
    async fn unsigned_logout_response_from_an_sp_with_a_signing_certificate_settles_nothing() {
        let app = TestApp::new().await;
        let (cookie, run_url) = portal_run(&app).await;
        let frame = app.get(&format!("{run_url}/sp/acme"), Some(&cookie)).await;
        let unsigned = logout_response("acme", &request_id_of(&frame), None);
        let reply = app.post_form("/saml2/acme/slo", &[("SAMLResponse", &b64(&unsigned))], None).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
        let status = app.get(&format!("{run_url}/status"), Some(&cookie)).await.body;
        assert!(status.contains(r#""app":"acme","label":"Acme CRM","state":"pending""#), "{status}");
        let signed = logout_response("acme", &request_id_of(&frame), Some(&app.sp_key));
        let reply = app.post_form("/saml2/acme/slo", &[("SAMLResponse", &b64(&signed))], None).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        let status = app.get(&format!("{run_url}/status"), Some(&cookie)).await.body;
        assert!(status.contains(r#""app":"acme","label":"Acme CRM","state":"done""#), "{status}");
    }

    /// The SessionIndex of the assertion in an SSO reply.
    fn session_index_of(reply: &Reply) -> String {
        let xml = reply.saml_response().unwrap_or_else(|| panic!("no SAML response in {}", reply.body));
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let statement = doc.descendants().find(|n| n.tag_name().name() == "AuthnStatement").unwrap();
        statement.attribute("SessionIndex").unwrap().to_owned()
    }

    /// Deleting a user's participations from anywhere: without an IdP session in the browser (a cookie-less
    /// request), a LogoutRequest ends a participation only when it names our SessionIndex as well as the NameID;
    /// one without a SessionIndex, or with another, deletes nothing and gets UnknownPrincipal.
    #[tokio::test]
    async fn a_cookieless_logout_request_must_name_the_session_index() {
        let app = TestApp::new().await;
        with_slo(&app, "acme", false, common::SETTINGS).await;
        with_slo(&app, "beta", false, "display_label = \"Beta\"").await;
        let cookie = app.login("alice", common::PASSWORD).await;
        let index = session_index_of(&app.get("/saml2/acme", Some(&cookie)).await);
        assert_eq!(app.get("/saml2/beta", Some(&cookie)).await.status, StatusCode::OK);
        for (id, named) in [("_nosi", ""), ("_othersi", "_not_ours")] {
            let request = logout_request_for_session("acme", id, named, Some(&app.sp_key));
            let reply =
                app.get(&format!("/saml2/acme/slo?{}", redirect_query(&request, None, Some(&app.sp_key))), None).await;
            let response = decoded(&form_field(&reply, "SAMLResponse"));
            assert!(response.contains(sesame::saml::logout::UNKNOWN_PRINCIPAL), "{id}: {response}");
        }
        // Named properly, the participation ends: the portal's logout then has only beta to tell.
        let request = logout_request_for_session("acme", "_rightsi", &index, Some(&app.sp_key));
        let reply =
            app.get(&format!("/saml2/acme/slo?{}", redirect_query(&request, None, Some(&app.sp_key))), None).await;
        let response = decoded(&form_field(&reply, "SAMLResponse"));
        assert!(response.contains(status::SUCCESS) && !response.contains("UnknownPrincipal"), "{response}");
        let token = app.get("/", Some(&cookie)).await.input("csrf_token").unwrap();
        let run_url = app.post_form("/logout", &[("csrf_token", &token)], Some(&cookie)).await.location.unwrap();
        let page = app.get(&run_url, Some(&cookie)).await.body;
        assert!(
            page.contains(&format!("{run_url}/sp/beta")) && !page.contains(&format!("{run_url}/sp/acme")),
            "{page}"
        );
    }

    /// Signing the administrator out from an SP: single logout ends the portal user's IdP session only; an
    /// administrator signed in to the console in the same browser stays signed in (by the portal's sign-out and
    /// by an SP's LogoutRequest alike).
    #[tokio::test]
    async fn single_logout_leaves_a_console_session_in_the_same_browser() {
        let app = TestApp::new().await;
        with_slo(&app, "acme", false, common::SETTINGS).await;
        sesame::services::admins::create_admin(&app.ctx, &Actor::Cli, "root", "admin password 123".into(), Utc::now())
            .await
            .unwrap();
        for by_sp in [false, true] {
            let cookie = app.login("alice", common::PASSWORD).await;
            let page = app.get("/admin/login", Some(&cookie)).await;
            let token = page.input("csrf_token").unwrap();
            let fields = [("csrf_token", token.as_str()), ("username", "root"), ("password", "admin password 123")];
            let reply = app.post_form("/admin/login", &fields, Some(&cookie)).await;
            assert_eq!(reply.status, StatusCode::SEE_OTHER);
            let cookie = reply.set_cookie.unwrap_or(cookie);
            assert_eq!(app.get("/admin", Some(&cookie)).await.status, StatusCode::OK);
            assert_eq!(app.get("/saml2/acme", Some(&cookie)).await.status, StatusCode::OK, "alice in acme");
            if by_sp {
                let request = logout_request("acme", "_bysp", Some(&app.sp_key));
                let query = redirect_query(&request, None, Some(&app.sp_key));
                let reply = app.get(&format!("/saml2/acme/slo?{query}"), Some(&cookie)).await;
                assert!(decoded(&form_field(&reply, "SAMLResponse")).contains(status::SUCCESS), "{}", reply.body);
            } else {
                let token = app.get("/", Some(&cookie)).await.input("csrf_token").unwrap();
                let reply = app.post_form("/logout", &[("csrf_token", &token)], Some(&cookie)).await;
                assert_eq!(reply.status, StatusCode::SEE_OTHER);
            }
            assert_eq!(app.get("/", Some(&cookie)).await.status, StatusCode::SEE_OTHER, "alice is signed out");
            assert_eq!(app.get("/admin", Some(&cookie)).await.status, StatusCode::OK, "the console stays");
        }
    }

    /// Signs `username` in again in the browser holding `cookie` (the sign-in form with `force`); the new cookie.
    async fn sign_in_again(app: &TestApp, cookie: &str, username: &str) -> String {
        let page = app.get("/login?force=1", Some(cookie)).await;
        let token = page.input("csrf_token").unwrap();
        let fields = [
            ("csrf_token", token.as_str()),
            ("username", username),
            ("password", common::PASSWORD),
            ("continue", "/"),
            ("force", "1"),
        ];
        let reply = app.post_form("/login", &fields, Some(cookie)).await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
        reply.set_cookie.unwrap_or_else(|| cookie.to_owned())
    }

    /// Forgotten SP sessions: signing in again as the same user (ForceAuthn, or the sign-in page) keeps the
    /// session index, so single logout still reaches the SPs used before the new sign-in.
    #[tokio::test]
    async fn signing_in_again_as_the_same_user_keeps_the_session_index() {
        let app = TestApp::new().await;
        with_slo(&app, "acme", false, common::SETTINGS).await;
        with_slo(&app, "beta", false, "display_label = \"Beta\"").await;
        let cookie = app.login("alice", common::PASSWORD).await;
        let before = session_index_of(&app.get("/saml2/acme", Some(&cookie)).await);
        let cookie = sign_in_again(&app, &cookie, "alice").await;
        let after = session_index_of(&app.get("/saml2/beta", Some(&cookie)).await);
        assert_eq!(before, after);
        let token = app.get("/", Some(&cookie)).await.input("csrf_token").unwrap();
        let run_url = app.post_form("/logout", &[("csrf_token", &token)], Some(&cookie)).await.location.unwrap();
        let page = app.get(&run_url, Some(&cookie)).await.body;
        assert!(page.contains(&format!("{run_url}/sp/acme")) && page.contains(&format!("{run_url}/sp/beta")), "{page}");
    }

    /// Shared browser: when another user signs in on a browser holding alice's IdP session, alice's
    /// participations end first (with a `user_logout` event), so nothing of hers is left for the next person's
    /// logout to skip or for anyone to reuse.
    #[tokio::test]
    async fn another_user_signing_in_ends_the_previous_users_participations() {
        let app = TestApp::new().await;
        with_slo(&app, "acme", false, common::SETTINGS).await;
        let cookie = app.login("alice", common::PASSWORD).await;
        let index = session_index_of(&app.get("/saml2/acme", Some(&cookie)).await);
        let cookie = sign_in_again(&app, &cookie, "bob").await;
        assert_eq!(app.get("/", Some(&cookie)).await.status, StatusCode::OK, "bob is signed in");
        let logouts = sesame::services::events::list_events(
            &app.ctx,
            &sesame::audit::EventFilter { name: Some(EventName::UserLogout), limit: 10, ..Default::default() },
        )
        .await
        .unwrap();
        assert!(logouts.iter().any(|e| e.username == "alice" && e.detail.contains("bob")), "{logouts:?}");
        // alice's participation at acme is gone: acme naming it gets UnknownPrincipal.
        let request = logout_request_for_session("acme", "_after_bob", &index, Some(&app.sp_key));
        let reply =
            app.get(&format!("/saml2/acme/slo?{}", redirect_query(&request, None, Some(&app.sp_key))), None).await;
        let response = decoded(&form_field(&reply, "SAMLResponse"));
        assert!(response.contains(sesame::saml::logout::UNKNOWN_PRINCIPAL), "{response}");
    }
}

/// Unbounded growth: every anonymous refusal writes an event, and nothing ever deleted them. Events older than
/// `event_retention_days` (400 by default) are purged by housekeeping, at most 5 batches of 1000 rows per pass, so
/// a large backlog goes over several passes; recent events stay.
#[tokio::test]
async fn events_past_the_retention_period_are_purged_in_batches() {
    let app = TestApp::new().await;
    assert_eq!(app.ctx.config.event_retention_days, 400);
    let now = Utc::now();
    let old = now - Duration::days(401);
    {
        let mut tx = app.ctx.db.begin().await.unwrap();
        for i in 0..5200 {
            let event =
                sesame::audit::Event::new(old + Duration::seconds(i), EventName::SsoRequestRejected, &Actor::Anonymous)
                    .failed("old");
            sesame::store::events::insert_event(&mut tx, &event).await.unwrap();
        }
        let recent = sesame::audit::Event::new(now - Duration::days(399), EventName::UserLogin, &Actor::Anonymous)
            .detail("recent");
        sesame::store::events::insert_event(&mut tx, &recent).await.unwrap();
        tx.commit().await.unwrap();
    }
    let count = |detail: &'static str| {
        let ctx = app.ctx.clone();
        async move {
            let filter = EventFilter { limit: 10_000, ..EventFilter::default() };
            events::list_events(&ctx, &filter).await.unwrap().iter().filter(|e| e.detail == detail).count()
        }
    };
    assert_eq!(events::purge_expired(&app.ctx, now).await.unwrap(), 5000, "one pass deletes at most 5 batches");
    assert_eq!(count("old").await, 200);
    assert_eq!(events::purge_expired(&app.ctx, now).await.unwrap(), 200);
    assert_eq!(count("old").await, 0);
    assert_eq!(count("recent").await, 1, "an event within the retention period stays");
    assert_eq!(events::purge_expired(&app.ctx, now).await.unwrap(), 0);
}
