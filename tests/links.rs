//! Invitations and password reset links at the service level, with SMTP settings (mail is queued, not sent: no
//! worker runs here) and injected times.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use chrono::{Duration, Utc};
use common::TestApp;
use sesame::audit::Actor;
use sesame::directory::user::Profile;
use sesame::services::links::{self, Invitation};
use sesame::services::{mail, users, Error};

async fn with_mail() -> TestApp {
    TestApp::with("", |c| {
        c.smtp_url = Some("smtp://127.0.0.1:1".to_owned().into());
        c.mail_from = Some("sso@example.com".to_owned());
    })
    .await
}

async fn pending(app: &TestApp) -> i64 {
    mail::queue_status(&app.ctx).await.unwrap().pending
}

/// Unknown, suspended (carol) and active (alice) accounts: the same `Ok(())`, and only alice's link is queued;
/// a fourth request for the same account within the window queues nothing.
#[tokio::test]
async fn only_an_active_account_gets_a_reset_mail_and_at_most_three() {
    let app = with_mail().await;
    let now = Utc::now();
    links::request_reset(&app.ctx, "nobody@example.com", None, now).await.unwrap();
    links::request_reset(&app.ctx, "carol", None, now).await.unwrap();
    assert_eq!(pending(&app).await, 0);
    links::request_reset(&app.ctx, "ALICE@example.com", None, now).await.unwrap();
    assert_eq!(pending(&app).await, 1);
    for _ in 0..3 {
        links::request_reset(&app.ctx, "alice", None, now).await.unwrap();
    }
    assert_eq!(pending(&app).await, 3, "three per account in the window");
    // After the window, again.
    links::request_reset(&app.ctx, "alice", None, now + Duration::minutes(16)).await.unwrap();
    assert_eq!(pending(&app).await, 4);
}

/// The invitation state follows the injected time: sent until it expires, then expired; inviting again makes
/// a new one; a user with a password is refused.
#[tokio::test]
async fn an_invitation_expires_at_its_time_and_can_be_renewed() {
    let app = with_mail().await;
    // Whole milliseconds, as the database keeps them.
    let t0 = chrono::DateTime::from_timestamp_millis(Utc::now().timestamp_millis()).unwrap();
    let profile = Profile { email: "dan@example.com".into(), ..Profile::default() };
    users::create_user(&app.ctx, &Actor::Cli, "dan", profile, None, t0).await.unwrap();
    let expires = links::invite(&app.ctx, &Actor::Cli, "dan", t0).await.unwrap();
    assert_eq!(expires - t0, Duration::hours(72));
    let ctx = &app.ctx;
    let state = |at| async move { links::invitation(ctx, "dan", at).await.unwrap() };
    assert!(matches!(state(expires - Duration::seconds(1)).await, Some(Invitation::Sent { .. })));
    assert!(matches!(state(expires).await, Some(Invitation::Expired { .. })));
    let later = expires + Duration::hours(1);
    links::invite(&app.ctx, &Actor::Cli, "dan", later).await.unwrap();
    assert!(matches!(state(later).await, Some(Invitation::Sent { .. })));
    assert_eq!(pending(&app).await, 2);
    let refused = links::invite(&app.ctx, &Actor::Cli, "alice", t0).await.unwrap_err();
    assert!(matches!(refused, Error::CannotInvite { .. }), "{refused}");
    let refused = links::invite(&app.ctx, &Actor::Cli, "carol", t0).await.unwrap_err();
    assert!(refused.to_string().contains("suspended"), "{refused}");
}

/// A made-up token is refused, the same for both purposes, and changes nothing.
#[tokio::test]
async fn an_unknown_link_is_refused() {
    let app = with_mail().await;
    let now = Utc::now();
    let token = "A".repeat(43);
    assert!(matches!(links::check_invitation(&app.ctx, &token, now).await, Err(Error::LinkInvalid)));
    assert!(matches!(links::check_reset(&app.ctx, &token, now).await, Err(Error::LinkInvalid)));
    let long = "x".repeat(20);
    let done = links::complete_reset(&app.ctx, &token, long.clone(), &long, now).await;
    assert!(matches!(done, Err(Error::LinkInvalid)), "{done:?}");
}
