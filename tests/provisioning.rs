//! SCIM provisioning against a real SCIM server (scim2-server on 127.0.0.1, behind a bearer token): the seeds'
//! rules for users and groups, import, reconciliation, and an outage with a restart in the middle.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use chrono::Utc;
use common::scim::{ScimPeer, TOKEN};
use common::*;
use secrecy::SecretString;
use sesame::audit::{Actor, EventFilter, EventName};
use sesame::directory::user::Profile;
use sesame::services::idm;
use sesame::services::{apps, events, groups, users};
use sesame::store::jobs::JobKind;

fn activation(scim: &ScimPeer, manage_groups: bool, soft_delete: bool) -> idm::Activation {
    idm::Activation {
        soft_delete: Some(soft_delete),
        ..idm::Activation::new(scim.base_url(), SecretString::from(TOKEN), manage_groups)
    }
}

async fn activate(app: &TestApp, scim: &ScimPeer, manage_groups: bool, soft_delete: bool) {
    idm::activate(&app.ctx, &Actor::Cli, "acme", activation(scim, manage_groups, soft_delete), Utc::now())
        .await
        .unwrap();
    app.run_provisioning().await;
}

async fn events(app: &TestApp, name: EventName) -> Vec<sesame::audit::Event> {
    let filter = EventFilter { name: Some(name), limit: 1000, ..Default::default() };
    events::list_events(&app.ctx, &filter).await.unwrap()
}

async fn open_jobs(app: &TestApp) -> i64 {
    let mut conn = app.ctx.db.conn().await.unwrap();
    sesame::store::jobs::count_open(&mut conn).await.unwrap()
}

fn profile(email: &str, display: &str) -> Profile {
    Profile {
        email: email.into(),
        first_name: "Ada".into(),
        last_name: "Lovelace".into(),
        display_name: display.into(),
        department: "Engines".into(),
        job_title: "Analyst".into(),
        employee_type: "Internal".into(),
        company: "Babbage & Co".into(),
        employee_id: "E-1815".into(),
        ..Profile::default()
    }
}

#[tokio::test]
async fn activation_verifies_the_connection_and_seals_the_token() {
    let scim = ScimPeer::start();
    let app = TestApp::new().await;
    let wrong = idm::Activation { token: SecretString::from("wrong-token"), ..activation(&scim, false, false) };
    let err = idm::activate(&app.ctx, &Actor::Cli, "acme", wrong, Utc::now()).await.unwrap_err();
    assert!(err.to_string().contains("401"), "{err}");
    assert_eq!(open_jobs(&app).await, 0, "nothing is saved or started when the SP refuses");
    let failed = events(&app, EventName::IdmIntegrationActivate).await;
    assert!(failed.len() == 1 && !failed[0].success && failed[0].detail.contains("401"));

    activate(&app, &scim, false, false).await;
    let mut conn = app.ctx.db.conn().await.unwrap();
    let stored: (String,) =
        sqlx::query_as("SELECT token_enc FROM idm_integrations").fetch_one(&mut *conn).await.unwrap();
    assert!(!stored.0.contains(TOKEN), "the token is encrypted at rest");
    let all = events::list_events(&app.ctx, &EventFilter { limit: 1000, ..Default::default() }).await.unwrap();
    assert!(all.iter().all(|e| !e.detail.contains(TOKEN) && !e.target.contains(TOKEN)), "no token in events");

    // Changing the token of an active integration goes through deactivation (and logs a reauth).
    let other = idm::Activation { token: SecretString::from("another-token"), ..activation(&scim, false, false) };
    assert!(idm::activate(&app.ctx, &Actor::Cli, "acme", other, Utc::now()).await.is_err());
    idm::deactivate(&app.ctx, &Actor::Cli, "acme", Utc::now()).await.unwrap();
    assert_eq!(events(&app, EventName::IdmIntegrationDelete).await.len(), 1);
}

/// Server-side request forgery: without the setting, a Base URL on loopback is refused before any request.
#[tokio::test]
async fn refuses_private_targets_unless_allowed() {
    let scim = ScimPeer::start();
    let app = TestApp::with("", |c| c.scim_allow_private_targets = false).await;
    let err =
        idm::activate(&app.ctx, &Actor::Cli, "acme", activation(&scim, false, false), Utc::now()).await.unwrap_err();
    assert!(err.to_string().contains("https") || err.to_string().contains("private"), "{err}");
    assert!(scim.all("Users").await.is_empty());
}

#[tokio::test]
async fn creates_updates_deactivates_and_deletes_users() {
    let scim = ScimPeer::start();
    let app = TestApp::new().await;
    let now = Utc::now();
    users::update_user(&app.ctx, &Actor::Cli, "alice", profile("alice@example.com", "Alice L"), now).await.unwrap();
    activate(&app, &scim, false, false).await;

    // alice is in the bound group; carol is suspended; bob's group is not bound.
    let alice = scim.user("alice").await.expect("alice was created");
    assert_eq!(alice["active"], true);
    assert_eq!(alice["emails"][0]["value"], "alice@example.com");
    assert_eq!(alice["name"]["givenName"], "Ada");
    assert_eq!(alice["displayName"], "Alice L");
    assert_eq!(alice["userType"], "Internal");
    assert_eq!(alice["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["department"], "Engines");
    assert!(scim.user("carol").await.is_none() && scim.user("bob").await.is_none());
    assert_eq!(events(&app, EventName::UserCreateProvision).await.len(), 1);

    users::update_user(&app.ctx, &Actor::Cli, "alice", profile("alice@new.example.com", "Alice Lovelace"), now)
        .await
        .unwrap();
    app.run_provisioning().await;
    let alice = scim.user("alice").await.unwrap();
    assert_eq!(alice["displayName"], "Alice Lovelace");
    assert_eq!(alice["emails"][0]["value"], "alice@new.example.com");

    // Losing access (no bound group left) deactivates; regaining it reactivates the same account.
    groups::change_member(&app.ctx, &Actor::Cli, "staff", "alice", false, now).await.unwrap();
    app.run_provisioning().await;
    assert_eq!(scim.user("alice").await.unwrap()["active"], false);
    groups::change_member(&app.ctx, &Actor::Cli, "staff", "alice", true, now).await.unwrap();
    app.run_provisioning().await;
    let again = scim.user("alice").await.unwrap();
    assert_eq!(again["active"], true);
    assert_eq!(again["id"], alice["id"], "the same account, not a new one");

    users::suspend_user(&app.ctx, &Actor::Cli, "alice", now).await.unwrap();
    app.run_provisioning().await;
    assert_eq!(scim.user("alice").await.unwrap()["active"], false);
    assert!(!events(&app, EventName::UserDeprovision).await.is_empty());

    users::delete_user(&app.ctx, &Actor::Cli, "alice", now).await.unwrap();
    app.run_provisioning().await;
    assert!(scim.user("alice").await.is_none(), "deleted in the SP");
    assert_eq!(events(&app, EventName::UserDeleteProvision).await.len(), 1);
    assert_eq!(open_jobs(&app).await, 0);
    assert_eq!(scim.all("Users").await.len(), 0);
}

#[tokio::test]
async fn soft_delete_deactivates_deleted_users() {
    let scim = ScimPeer::start();
    let app = TestApp::new().await;
    activate(&app, &scim, false, true).await;
    users::delete_user(&app.ctx, &Actor::Cli, "alice", Utc::now()).await.unwrap();
    app.run_provisioning().await;
    let alice = scim.user("alice").await.expect("kept in the SP");
    assert_eq!(alice["active"], false);
}

#[tokio::test]
async fn existing_sp_account_is_found_and_linked_not_duplicated() {
    let scim = ScimPeer::start();
    let app = TestApp::new().await;
    let existing = scim.create_user("alice", "old@example.com").await;
    activate(&app, &scim, false, false).await;
    let users = scim.all("Users").await;
    assert_eq!(users.len(), 1, "found by userName, not created twice");
    assert_eq!(users[0]["id"], existing["id"]);
    assert_eq!(users[0]["emails"][0]["value"], "alice@example.com", "brought up to date");
}

#[tokio::test]
async fn groups_follow_the_seed_rules() {
    let scim = ScimPeer::start();
    let app = TestApp::new().await;
    let now = Utc::now();
    let actor = Actor::Cli;
    // A group in the SP already carries the name of one of ours: it is taken over, not duplicated.
    let existing = scim.create_group("engineering").await;
    groups::create_group(&app.ctx, &actor, "engineering", now).await.unwrap();
    groups::change_member(&app.ctx, &actor, "engineering", "bob", true, now).await.unwrap();
    apps::change::change_binding(&app.ctx, &actor, "acme", "engineering", true, now).await.unwrap();
    groups::create_group(&app.ctx, &actor, "empty", now).await.unwrap();
    apps::change::change_binding(&app.ctx, &actor, "acme", "empty", true, now).await.unwrap();
    activate(&app, &scim, true, false).await;

    assert_eq!(scim.member_names("staff").await, ["alice"], "carol is suspended");
    assert_eq!(scim.member_names("engineering").await, ["bob"]);
    assert_eq!(scim.group("engineering").await.unwrap()["id"], existing["id"], "taken over");
    assert!(scim.group("empty").await.is_none(), "empty groups are not created");
    assert_eq!(scim.all("Groups").await.len(), 2);

    // Membership changes and renames propagate.
    groups::change_member(&app.ctx, &actor, "engineering", "alice", true, now).await.unwrap();
    groups::rename_group(&app.ctx, &actor, "engineering", "platform", now).await.unwrap();
    app.run_provisioning().await;
    assert!(scim.group("engineering").await.is_none());
    assert_eq!(scim.member_names("platform").await, ["alice", "bob"]);

    // Unbinding stops the sync and leaves the SP group as it is; members without another bound group are
    // deactivated (bob), members with one stay active (alice, through staff).
    apps::change::change_binding(&app.ctx, &actor, "acme", "platform", false, now).await.unwrap();
    app.run_provisioning().await;
    assert_eq!(scim.member_names("platform").await, ["alice", "bob"], "left as-is");
    assert_eq!(scim.user("bob").await.unwrap()["active"], false);
    assert_eq!(scim.user("alice").await.unwrap()["active"], true);
    groups::change_member(&app.ctx, &actor, "platform", "alice", false, now).await.unwrap();
    app.run_provisioning().await;
    assert_eq!(scim.member_names("platform").await, ["alice", "bob"], "no longer synced");

    // Deleting a group deletes it in the SP; its members without another bound group are deactivated.
    groups::create_group(&app.ctx, &actor, "ops", now).await.unwrap();
    groups::change_member(&app.ctx, &actor, "ops", "bob", true, now).await.unwrap();
    apps::change::change_binding(&app.ctx, &actor, "acme", "ops", true, now).await.unwrap();
    app.run_provisioning().await;
    assert_eq!(scim.member_names("ops").await, ["bob"]);
    assert_eq!(scim.user("bob").await.unwrap()["active"], true, "reactivated through ops");
    groups::delete_group(&app.ctx, &actor, "ops", now).await.unwrap();
    app.run_provisioning().await;
    assert!(scim.group("ops").await.is_none());
    assert_eq!(scim.user("bob").await.unwrap()["active"], false);
    assert!(!events(&app, EventName::GroupDeleteProvision).await.is_empty());
    assert!(!events(&app, EventName::GroupCreateProvision).await.is_empty());
    assert_eq!(open_jobs(&app).await, 0);
}

#[tokio::test]
async fn disabling_group_management_leaves_groups_and_keeps_managing_users() {
    let scim = ScimPeer::start();
    let app = TestApp::new().await;
    let now = Utc::now();
    activate(&app, &scim, true, false).await;
    assert_eq!(scim.member_names("staff").await, ["alice"]);
    idm::deactivate(&app.ctx, &Actor::Cli, "acme", now).await.unwrap();
    activate(&app, &scim, false, false).await;
    groups::change_member(&app.ctx, &Actor::Cli, "staff", "bob", true, now).await.unwrap();
    app.run_provisioning().await;
    assert_eq!(scim.user("bob").await.unwrap()["active"], true, "users are still managed");
    assert_eq!(scim.member_names("staff").await, ["alice"], "groups are left as they are");
}

#[tokio::test]
async fn imports_sp_users_into_the_directory() {
    let scim = ScimPeer::start();
    let app = TestApp::new().await;
    scim.create_user("dave", "dave@example.com").await;
    scim.create_user("erin", "erin@example.com").await;
    activate(&app, &scim, false, false).await;
    let list = idm::list_import_candidates(&app.ctx, "acme").await.unwrap();
    let status = |name: &str| list.iter().find(|c| c.user.user_name == name).unwrap().status;
    assert_eq!((status("alice"), status("dave"), status("erin")), ("imported", "new", "new"));

    let (imported, _) =
        idm::import_users(&app.ctx, &Actor::Cli, "acme", Some(&["dave".into()]), Utc::now()).await.unwrap();
    assert_eq!(imported, ["dave"]);
    let dave = users::find_user(&app.ctx, "dave").await.unwrap();
    assert_eq!(dave.profile.email, "dave@example.com");
    assert_eq!(dave.profile.first_name, "Pre");
    let list = idm::list_import_candidates(&app.ctx, "acme").await.unwrap();
    assert_eq!(list.iter().filter(|c| c.status == "new").count(), 1, "only erin is still new");
}

/// An imported account brings its preferred language and its work address by part (the work one, not the home one
/// listed first); a language that is not a tag, or a control character in an address, skips the account.
#[tokio::test]
async fn import_maps_preferred_language_and_the_work_address() {
    let scim = ScimPeer::start();
    let app = TestApp::new().await;
    let account = |user_name: &str, language: &str, street: &str| {
        serde_json::json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": user_name,
            "emails": [{"value": format!("{user_name}@example.com"), "type": "work", "primary": true}],
            "preferredLanguage": language,
            "addresses": [
                {"type": "home", "streetAddress": "1 Home Lane", "locality": "Hometown", "country": "IE"},
                {"type": "work", "streetAddress": street, "locality": "Lisbon", "region": "Lisboa",
                 "postalCode": "1100-148", "country": "PT"}
            ],
            "active": true
        })
    };
    for (name, language, street) in
        [("fatima", "pt-PT", "Rua Augusta 27"), ("gil", "Portuguese", "Rua 1"), ("hugo", "pt", "Rua 2\u{1b}[31m")]
    {
        let (status, created) =
            scim.request(reqwest::Method::POST, "/Users", Some(account(name, language, street))).await;
        assert_eq!(status, 201, "{created}");
    }
    activate(&app, &scim, false, false).await;
    let names: Vec<String> = ["fatima", "gil", "hugo"].map(String::from).to_vec();
    let (imported, _) = idm::import_users(&app.ctx, &Actor::Cli, "acme", Some(&names), Utc::now()).await.unwrap();
    assert_eq!(imported, ["fatima"]);
    let p = users::find_user(&app.ctx, "fatima").await.unwrap().profile;
    assert_eq!(p.preferred_language, "pt-PT");
    assert_eq!(
        [&p.work_street, &p.work_locality, &p.work_region, &p.work_postal_code, &p.work_country],
        ["Rua Augusta 27", "Lisbon", "Lisboa", "1100-148", "PT"]
    );
    for skipped in ["gil", "hugo"] {
        assert!(users::find_user(&app.ctx, skipped).await.is_err(), "{skipped} is not imported");
    }
}

/// Drift made in the SP behind our back is repaired by reconciliation.
#[tokio::test]
async fn reconciliation_repairs_changes_made_in_the_sp() {
    let scim = ScimPeer::start();
    let app = TestApp::new().await;
    let now = Utc::now();
    groups::change_member(&app.ctx, &Actor::Cli, "staff", "bob", true, now).await.unwrap();
    activate(&app, &scim, true, false).await;
    let alice = scim.user("alice").await.unwrap();
    let bob = scim.user("bob").await.unwrap();
    scim.patch_user(
        alice["id"].as_str().unwrap(),
        serde_json::json!([
            {"op": "replace", "path": "active", "value": false},
            {"op": "replace", "path": "displayName", "value": "Changed in the SP"}
        ]),
    )
    .await;
    let (status, _) =
        scim.request(reqwest::Method::DELETE, &format!("/Users/{}", bob["id"].as_str().unwrap()), None).await;
    assert_eq!(status, 204);

    let mut conn = app.ctx.db.conn().await.unwrap();
    let app_id = sesame::store::apps::get_app(&mut conn, "acme").await.unwrap().id;
    sesame::provisioning::enqueue_reconcile(&mut conn, app_id, Utc::now().timestamp_millis()).await.unwrap();
    drop(conn);
    app.run_provisioning().await;

    let alice = scim.user("alice").await.unwrap();
    assert_eq!(alice["active"], true);
    assert_eq!(alice["displayName"], "Alice <b>&</b> Co");
    assert!(scim.user("bob").await.is_some(), "recreated");
    assert_eq!(scim.member_names("staff").await, ["alice", "bob"]);
}

/// An SP outage with an IdP restart in the middle loses nothing: every change arrives, exactly as made, once the
/// SP is back, and the events show the failures and the recovery.
#[tokio::test]
async fn outage_and_restart_lose_nothing() {
    let mut scim = ScimPeer::start();
    let app = TestApp::new().await;
    let now = Utc::now();
    let actor = Actor::Cli;
    activate(&app, &scim, true, false).await;
    assert_eq!(scim.member_names("staff").await, ["alice"]);

    scim.stop_listening();
    users::create_user(&app.ctx, &actor, "frank", profile("frank@example.com", "Frank"), None, now).await.unwrap();
    groups::change_member(&app.ctx, &actor, "staff", "frank", true, now).await.unwrap();
    users::update_user(&app.ctx, &actor, "alice", profile("alice@example.com", "Alice (outage)"), now).await.unwrap();
    groups::change_member(&app.ctx, &actor, "staff", "bob", true, now).await.unwrap();
    groups::change_member(&app.ctx, &actor, "staff", "bob", false, now).await.unwrap();
    assert!(app.run_provisioning().await > 0);
    let lookups = events(&app, EventName::UserLookupProvision).await;
    assert!(lookups.iter().any(|e| !e.success && e.username == "frank"), "the failed attempts are recorded");
    let updates = events(&app, EventName::UserUpdateProvision).await;
    assert!(updates.iter().any(|e| !e.success && e.username == "alice" && e.detail.contains("connect")));
    assert!(open_jobs(&app).await > 0, "the jobs wait for a retry");

    let app = app.restart().await;
    scim.listen_again();
    idm::retry_now(&app.ctx, "acme", Utc::now()).await.unwrap();
    app.run_provisioning().await;
    assert_eq!(open_jobs(&app).await, 0);

    let users = scim.all("Users").await;
    let mut names: Vec<&str> = users.iter().map(|u| u["userName"].as_str().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["alice", "frank"], "bob was added and removed while the SP was down: never created");
    assert_eq!(scim.user("alice").await.unwrap()["displayName"], "Alice (outage)");
    assert_eq!(scim.user("frank").await.unwrap()["emails"][0]["value"], "frank@example.com");
    assert_eq!(scim.member_names("staff").await, ["alice", "frank"]);
    let creates = events(&app, EventName::UserCreateProvision).await;
    assert!(creates.iter().any(|e| e.success && e.username == "frank"), "and the recovery");
}

/// Attribute mapping per application: an excluded optional attribute is no longer sent (the SP keeps what it had),
/// a required one cannot be excluded, and restoring the defaults sends it again.
#[tokio::test]
async fn optional_mapping_entries_can_be_excluded_and_restored() {
    let scim = ScimPeer::start();
    let app = TestApp::new().await;
    let now = Utc::now();
    users::update_user(&app.ctx, &Actor::Cli, "alice", profile("alice@example.com", "Alice L"), now).await.unwrap();
    activate(&app, &scim, false, false).await;
    assert_eq!(scim.user("alice").await.unwrap()["title"], "Analyst");

    let err = idm::change_mapping(&app.ctx, &Actor::Cli, "acme", &["userName".into()], Some(&[]), now).await;
    assert!(err.unwrap_err().to_string().contains("required"));
    let err = idm::change_mapping(&app.ctx, &Actor::Cli, "acme", &["nickName".into()], Some(&[]), now).await;
    assert!(err.unwrap_err().to_string().contains("not in the mapping"));
    idm::change_mapping(&app.ctx, &Actor::Cli, "acme", &["title".into()], Some(&[]), now).await.unwrap();
    let rows = idm::mapping(&app.ctx, "acme").await.unwrap();
    assert!(rows.iter().any(|r| r.scim == "title" && r.excluded));
    assert!(rows.iter().filter(|r| r.scim != "title").all(|r| !r.excluded));

    let mut changed = profile("alice@example.com", "Alice Lovelace");
    changed.job_title = "Engineer".into();
    users::update_user(&app.ctx, &Actor::Cli, "alice", changed, now).await.unwrap();
    app.run_provisioning().await;
    let alice = scim.user("alice").await.unwrap();
    assert_eq!(alice["displayName"], "Alice Lovelace");
    assert_eq!(alice["title"], "Analyst", "an excluded attribute is not sent");

    idm::change_mapping(&app.ctx, &Actor::Cli, "acme", &[], None, now).await.unwrap();
    app.run_provisioning().await;
    assert_eq!(scim.user("alice").await.unwrap()["title"], "Engineer", "restored: sent again at reconciliation");
    assert!(idm::mapping(&app.ctx, "acme").await.unwrap().iter().all(|r| !r.excluded));
}

/// A rate-limited SP (429 Too Many Requests with `Retry-After: 7`): the job waits as long as the SP asked, not the
/// shorter first backoff (2–3 s), the failure is recorded with the SP's words, and nothing is lost.
#[tokio::test]
async fn a_rate_limit_is_honoured_with_retry_after() {
    let mut scim = ScimPeer::start();
    let app = TestApp::new().await;
    activate(&app, &scim, false, false).await;
    assert!(scim.user("alice").await.is_some());

    scim.throttle();
    let before = Utc::now().timestamp_millis();
    users::update_user(&app.ctx, &Actor::Cli, "alice", profile("alice@example.com", "Alice Throttled"), Utc::now())
        .await
        .unwrap();
    assert_eq!(app.run_provisioning().await, 1, "one attempt, then the job waits");
    let mut conn = app.ctx.db.conn().await.unwrap();
    let (not_before, attempts, error): (i64, i64, String) =
        sqlx::query_as("SELECT not_before, attempts, last_error FROM provisioning_jobs WHERE state = 'pending'")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
    drop(conn);
    let wait = not_before - before;
    assert!((7_000..9_000).contains(&wait), "waits the SP's 7 s, not the backoff: {wait} ms");
    assert_eq!(attempts, 1);
    assert!(error.contains("429") && error.contains("rate limit exceeded"), "{error}");
    let failed = events(&app, EventName::UserUpdateProvision).await;
    assert!(failed.iter().any(|e| !e.success && e.detail.contains("429")), "the attempt is an event");
    assert_eq!(app.run_provisioning().await, 0, "not retried before the SP's time");

    // Once due (retry_now stands in for waiting 7 s), the change arrives; the remaining throttled answers are
    // retried the same way until the SP accepts.
    for _ in 0..4 {
        idm::retry_now(&app.ctx, "acme", Utc::now()).await.unwrap();
        app.run_provisioning().await;
    }
    assert_eq!(scim.user("alice").await.unwrap()["displayName"], "Alice Throttled");
    assert_eq!(open_jobs(&app).await, 0);
}

/// A user job hinted `absent` (the SP's listing lacked the account) creates without a lookup; if the account
/// appeared in the SP meanwhile, the SP's 409 leads to a lookup and a take-over, never to a duplicate.
#[tokio::test]
async fn an_account_created_in_the_sp_after_the_listing_is_taken_over() {
    let scim = ScimPeer::start();
    let app = TestApp::new().await;
    activate(&app, &scim, false, false).await;
    let now = Utc::now();
    let dave = users::create_user(&app.ctx, &Actor::Cli, "dave", profile("dave@example.com", "Dave"), None, now)
        .await
        .unwrap();
    let existing = scim.create_user("dave", "dave@old.example.com").await;
    {
        let mut conn = app.ctx.db.conn().await.unwrap();
        let acme = sesame::store::apps::find_app(&mut conn, "acme").await.unwrap().unwrap();
        sqlx::query(
            "INSERT INTO group_members (group_id, user_id) SELECT id, $1 FROM user_groups WHERE name = 'staff'",
        )
        .bind(dave.id.0)
        .execute(&mut *conn)
        .await
        .unwrap();
        let hint = sesame::store::jobs::HINT_ABSENT;
        sesame::store::jobs::enqueue_with_hint(&mut conn, acme.id, JobKind::User, dave.id.0, hint, 0).await.unwrap();
    }
    app.run_provisioning().await;
    let accounts: Vec<_> = scim.all("Users").await.into_iter().filter(|u| u["userName"] == "dave").collect();
    assert_eq!(accounts.len(), 1, "no duplicate: {accounts:?}");
    assert_eq!(accounts[0]["id"], existing["id"], "the SP's account was taken over");
    assert_eq!(accounts[0]["emails"][0]["value"], "dave@example.com", "and brought up to date");
}

/// A large import runs in the background in batches, with its progress recorded: every SP account the directory
/// lacks becomes a user (with an event), the ones it has are skipped.
#[tokio::test]
async fn a_large_import_runs_in_the_background_with_progress() {
    let scim = ScimPeer::start();
    let app = TestApp::new().await;
    activate(&app, &scim, false, false).await; // alice is provisioned, so the SP has her too.
    for i in 0..450 {
        scim.create_user(&format!("sp-user-{i:03}"), &format!("sp-user-{i:03}@example.com")).await;
    }
    let id = idm::start_import(&app.ctx, &Actor::Cli, "acme", None, Utc::now()).await.unwrap();
    let listed = idm::imports(&app.ctx, "acme").await.unwrap();
    assert_eq!((listed[0].id, listed[0].state.as_str(), listed[0].imported), (id, "listing", 0));

    app.run_provisioning().await;
    let done = &idm::imports(&app.ctx, "acme").await.unwrap()[0];
    assert_eq!(done.state, "done");
    assert_eq!((done.total, done.imported, done.skipped), (451, 450, 1), "alice is skipped");
    assert!(users::find_user(&app.ctx, "sp-user-449").await.is_ok());
    assert_eq!(events(&app, EventName::UserImport).await.len(), 450);
    assert_eq!(open_jobs(&app).await, 0);
}

/// `secret-key rotate`: the SCIM token, sealed again under the new key, still authenticates to the SCIM server,
/// in this process and after a restart; after `drop-previous` too.
#[tokio::test]
async fn the_scim_token_works_across_a_secret_key_rotation() {
    let scim = ScimPeer::start();
    let app = TestApp::new().await;
    let now = Utc::now();
    activate(&app, &scim, false, false).await;
    assert!(scim.user("alice").await.is_some());
    let before: (String,) = sqlx::query_as("SELECT token_enc FROM idm_integrations")
        .fetch_one(&mut *app.ctx.db.conn().await.unwrap())
        .await
        .unwrap();

    sesame::services::secrets::rotate(&app.ctx, &Actor::Cli, false, now).await.unwrap();
    let after: (String,) = sqlx::query_as("SELECT token_enc FROM idm_integrations")
        .fetch_one(&mut *app.ctx.db.conn().await.unwrap())
        .await
        .unwrap();
    assert_ne!(after.0, before.0, "sealed again");
    users::update_user(&app.ctx, &Actor::Cli, "alice", profile("alice@rotated.example.com", "Alice R"), now)
        .await
        .unwrap();
    app.run_provisioning().await;
    assert_eq!(scim.user("alice").await.unwrap()["displayName"], "Alice R");

    sesame::services::secrets::drop_previous(&app.ctx, &Actor::Cli, now).await.unwrap();
    let app = app.restart().await;
    users::update_user(&app.ctx, &Actor::Cli, "alice", profile("alice@dropped.example.com", "Alice D"), now)
        .await
        .unwrap();
    app.run_provisioning().await;
    assert_eq!(scim.user("alice").await.unwrap()["displayName"], "Alice D");
    assert!(events(&app, EventName::UserUpdateProvision).await.iter().all(|e| e.success));
}
