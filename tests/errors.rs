//! Errors with one shape: an internal failure is a page (for people) or a problem (for the API) that quotes the
//! request's `x-request-id` as its reference, and one log line, written inside the request's span, carries the
//! same id, so an administrator finds the cause from what the user reports.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use chrono::Utc;
use common::TestApp;
use http_body_util::BodyExt;
use sesame::audit::Actor;
use sesame::saml::keys::CertState;
use sesame::services::tokens::{self, Scope};
use sesame::store::certs;
use tower::ServiceExt;

/// A log sink the test reads back.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// Retires every certificate of `acme`, so anything that must sign or publish one fails on our side (a 5xx).
async fn break_certificates(app: &TestApp) {
    let mut conn = app.ctx.db.conn().await.unwrap();
    let acme = sesame::store::apps::get_app(&mut conn, "acme").await.unwrap();
    for cert in certs::list_certs(&mut conn, acme.id).await.unwrap() {
        certs::update_state_of(&mut conn, acme.id, &cert.fingerprint, CertState::Retired).await.unwrap();
    }
}

/// Sends a request and returns its status, its `x-request-id` and its body.
async fn send(app: &TestApp, request: Request<Body>) -> (StatusCode, String, String) {
    let response = app.router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let id = response.headers().get("x-request-id").unwrap().to_str().unwrap().to_owned();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, id, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn internal_errors_quote_the_request_id_that_their_one_log_line_carries() {
    let logs = Captured::default();
    let subscriber = tracing_subscriber::fmt().with_writer(logs.clone()).with_ansi(false).finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let app = TestApp::new().await;
    let token = tokens::create(&app.ctx, &Actor::Cli, "ci", Scope::Full, Utc::now()).await.unwrap();
    break_certificates(&app).await;

    let page = Request::get("/saml2/acme/certificate.pem").body(Body::empty()).unwrap();
    let (status, page_id, html) = send(&app, page).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(page_id.len(), 16, "a request id: {page_id}");
    assert!(html.contains(&page_id), "the page quotes the request id as its reference: {html}");

    let api = Request::get("/api/v1/applications/acme/certificate")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    let (status, api_id, problem) = send(&app, api).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    let problem: serde_json::Value = serde_json::from_str(&problem).unwrap();
    assert_eq!(problem["type"], "urn:sesame:problem:internal");
    assert!(problem["detail"].as_str().unwrap().contains(&api_id), "the problem quotes the request id: {problem}");
    assert_ne!(page_id, api_id);

    let logs = logs.text();
    for id in [&page_id, &api_id] {
        let lines: Vec<&str> = logs.lines().filter(|l| l.contains(id.as_str())).collect();
        let failures: Vec<&&str> = lines.iter().filter(|l| l.contains("request failed")).collect();
        assert_eq!(failures.len(), 1, "one log line for the failure of request {id}, in its span: {logs}");
        assert!(failures[0].contains("has no signing certificate"), "the log gets the cause: {}", failures[0]);
        assert!(!html.contains("has no signing certificate"), "the page does not show the cause");
    }
}

#[tokio::test]
async fn refusals_are_logged_once_without_being_called_failures() {
    let logs = Captured::default();
    let subscriber = tracing_subscriber::fmt().with_writer(logs.clone()).with_ansi(false).finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let app = TestApp::new().await;
    let (status, id, html) = send(&app, Request::get("/saml2/nosuchapp/metadata").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(html.contains(&id), "the page quotes the request id");
    let logs = logs.text();
    let lines: Vec<&str> = logs.lines().filter(|l| l.contains(id.as_str()) && l.contains("request refused")).collect();
    assert_eq!(lines.len(), 1, "{logs}");
    assert!(!logs.contains("request failed"), "a refusal is not our failure: {logs}");
}
