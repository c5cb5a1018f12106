//! SCIM provisioning against a real SCIM server (scim2-server on 127.0.0.1, behind a bearer token): the seeds'
//! rules for users and groups, import, reconciliation, and an outage with a restart in the middle.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use chrono::Utc;
use common::scim::{ScimPeer, TOKEN, TOKEN2};
use common::*;
use secrecy::SecretString;
use sesame::audit::{Actor, EventFilter, EventName};
use sesame::directory::user::Profile;
use sesame::services::apps::change::AppChange;
use sesame::services::apps::create::{apply_connector, CreateFromConnector};
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

    idm::deactivate(&app.ctx, &Actor::Cli, "acme", Utc::now()).await.unwrap();
    assert_eq!(events(&app, EventName::IdmIntegrationDelete).await.len(), 1);
}

/// Changing the SCIM token is deactivate, update, reactivate: an attempt while active is refused and recorded as a
/// failed `idm_integration_reauth`; after deactivation the new token is verified, saved and recorded as a
/// successful one, and provisioning goes on with it.
#[tokio::test]
async fn changing_the_token_is_deactivate_then_reauth() {
    let scim = ScimPeer::start_with_second_token();
    let app = TestApp::new().await;
    activate(&app, &scim, false, false).await;
    let new_token = || idm::Activation { token: SecretString::from(TOKEN2), ..activation(&scim, false, false) };

    let err = idm::activate(&app.ctx, &Actor::Cli, "acme", new_token(), Utc::now()).await.unwrap_err();
    assert!(err.to_string().contains("deactivate the integration"), "{err}");
    let refused = events(&app, EventName::IdmIntegrationReauth).await;
    assert_eq!(refused.len(), 1, "the refused attempt is recorded");
    assert!(!refused[0].success && refused[0].detail.contains("deactivate"), "{:?}", refused[0]);
    assert!(!refused[0].detail.contains(TOKEN2) && !refused[0].target.contains(TOKEN2));

    idm::deactivate(&app.ctx, &Actor::Cli, "acme", Utc::now()).await.unwrap();
    idm::activate(&app.ctx, &Actor::Cli, "acme", new_token(), Utc::now()).await.unwrap();
    let reauth = events(&app, EventName::IdmIntegrationReauth).await;
    assert_eq!(reauth.iter().filter(|e| e.success).count(), 1, "{reauth:?}");
    assert_eq!(events(&app, EventName::IdmIntegrationActivate).await.len(), 1, "the first activation only");
    assert!(reauth.iter().all(|e| !e.detail.contains(TOKEN2)));

    groups::change_member(&app.ctx, &Actor::Cli, "staff", "bob", true, Utc::now()).await.unwrap();
    app.run_provisioning().await;
    assert!(scim.user("bob").await.is_some(), "provisioning goes on with the new token");
}

/// A connector whose SP needs SSO for SCIM (OneTrust, Zscaler): activation is refused while the application's SSO
/// is off, with nothing saved and no request to the SP; with SSO on it works, and SSO cannot then be switched off
/// while identity management is active.
#[tokio::test]
async fn an_sp_that_needs_sso_refuses_scim_without_it() {
    let scim = ScimPeer::start();
    let app = TestApp::new().await;
    let values = vec![("YOUR_SUBDOMAIN".to_owned(), "acme".to_owned())];
    let request = CreateFromConnector {
        name: "ot",
        connector: "onetrust",
        values: &values,
        sp_certificate_pem: None,
        display_label: None,
    };
    apply_connector(&app.ctx, &Actor::Cli, &request, Utc::now()).await.unwrap();
    let off = AppChange { is_active: Some(false), ..AppChange::default() };
    apps::change::update(&app.ctx, &Actor::Cli, "ot", &off, Utc::now()).await.unwrap();

    let err =
        idm::activate(&app.ctx, &Actor::Cli, "ot", activation(&scim, false, false), Utc::now()).await.unwrap_err();
    assert_eq!(err.to_string(), format!("identity management for ot: {}", idm::SSO_REQUIRED));
    assert_eq!(err.kind(), sesame::services::error::ErrorKind::Upstream, "an idm-refused problem on the API");
    assert!(apps::view::details(&app.ctx, "ot").await.unwrap().idm.is_none(), "nothing is saved");
    assert_eq!(open_jobs(&app).await, 0);

    let on = AppChange { is_active: Some(true), ..AppChange::default() };
    apps::change::update(&app.ctx, &Actor::Cli, "ot", &on, Utc::now()).await.unwrap();
    idm::activate(&app.ctx, &Actor::Cli, "ot", activation(&scim, false, false), Utc::now()).await.unwrap();
    let err = apps::change::update(&app.ctx, &Actor::Cli, "ot", &off, Utc::now()).await.unwrap_err();
    assert!(err.to_string().contains("needs SSO to use SCIM"), "{err}");
    assert!(apps::view::details(&app.ctx, "ot").await.unwrap().app.is_active, "SSO stays on");

    // Hoxhunt's article makes SSO optional: its SCIM works with SSO off.
    create_hoxhunt(&app).await;
    apps::change::update(&app.ctx, &Actor::Cli, "hox", &off, Utc::now()).await.unwrap();
    idm::activate(&app.ctx, &Actor::Cli, "hox", activation(&scim, false, true), Utc::now()).await.unwrap();
}

/// A Hoxhunt application `hox` (its SCIM userName is the e-mail) with `staff` bound.
async fn create_hoxhunt(app: &TestApp) {
    let values = vec![("YOUR_ORG_ID".to_owned(), "5f3c2a1b9d8e7f6a5b4c3d2e".to_owned())];
    let request = CreateFromConnector {
        name: "hox",
        connector: "hoxhunt",
        values: &values,
        sp_certificate_pem: None,
        display_label: None,
    };
    apply_connector(&app.ctx, &Actor::Cli, &request, Utc::now()).await.unwrap();
    apps::change::change_binding(&app.ctx, &Actor::Cli, "hox", "staff", true, Utc::now()).await.unwrap();
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

    let outcome = idm::import_users(&app.ctx, &Actor::Cli, "acme", Some(&["dave".into()]), Utc::now()).await.unwrap();
    let idm::ImportOutcome::Done { imported, .. } = outcome else { panic!("{outcome:?}") };
    assert_eq!(imported, ["dave"]);
    let dave = users::find_user(&app.ctx, "dave").await.unwrap();
    assert_eq!(dave.profile.email, "dave@example.com");
    assert_eq!(dave.profile.first_name, "Pre");
    let list = idm::list_import_candidates(&app.ctx, "acme").await.unwrap();
    assert_eq!(list.iter().filter(|c| c.status == "new").count(), 1, "only erin is still new");
}

/// For an SP whose userName is the e-mail (Hoxhunt, OneTrust), an account provisioned from the directory is
/// `imported`, not `new`, and importing every new account creates no duplicate named by its e-mail; an account
/// suspended in the SP is marked so and never imported.
#[tokio::test]
async fn import_matches_the_user_name_the_mapping_sends() {
    let scim = ScimPeer::start();
    let app = TestApp::new().await;
    users::update_user(&app.ctx, &Actor::Cli, "alice", profile("alice@example.com", "Alice L"), Utc::now())
        .await
        .unwrap();
    create_hoxhunt(&app).await;
    idm::activate(&app.ctx, &Actor::Cli, "hox", activation(&scim, false, true), Utc::now()).await.unwrap();
    app.run_provisioning().await;
    assert!(scim.user("alice@example.com").await.is_some(), "Hoxhunt's userName is the e-mail");
    scim.create_user("dave@example.com", "dave@example.com").await;
    let sam = scim.create_user("sam@example.com", "sam@example.com").await;
    scim.patch_user(
        sam["id"].as_str().unwrap(),
        serde_json::json!([{"op": "replace", "path": "active", "value": false}]),
    )
    .await;

    let list = idm::list_import_candidates(&app.ctx, "hox").await.unwrap();
    let status = |name: &str| list.iter().find(|c| c.user.user_name == name).unwrap().status;
    assert_eq!(
        (status("alice@example.com"), status("dave@example.com"), status("sam@example.com")),
        ("imported", "new", "suspended")
    );

    let outcome = idm::import_users(&app.ctx, &Actor::Cli, "hox", None, Utc::now()).await.unwrap();
    let idm::ImportOutcome::Done { imported, .. } = outcome else { panic!("{outcome:?}") };
    assert_eq!(imported, ["dave@example.com"]);
    let chosen = ["alice@example.com".to_owned(), "sam@example.com".to_owned()];
    let outcome = idm::import_users(&app.ctx, &Actor::Cli, "hox", Some(&chosen), Utc::now()).await.unwrap();
    let idm::ImportOutcome::Done { imported, skipped } = outcome else { panic!("{outcome:?}") };
    assert!(imported.is_empty(), "{imported:?}");
    assert_eq!(
        skipped,
        [
            ("alice@example.com".to_owned(), "already in the directory as user alice".to_owned()),
            ("sam@example.com".to_owned(), "suspended in the service provider".to_owned())
        ]
    );
    assert!(users::find_user(&app.ctx, "alice@example.com").await.is_err(), "no duplicate of alice");
    assert!(users::find_user(&app.ctx, "sam@example.com").await.is_err(), "suspended accounts are not imported");
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
    let outcome = idm::import_users(&app.ctx, &Actor::Cli, "acme", Some(&names), Utc::now()).await.unwrap();
    let idm::ImportOutcome::Done { imported, .. } = outcome else { panic!("{outcome:?}") };
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
    // Activated an hour ago (the clock is the scheduler's caller's), so what the schedule enqueues is due now.
    let activated = now - chrono::Duration::hours(1);
    idm::activate(&app.ctx, &Actor::Cli, "acme", activation(&scim, true, false), activated).await.unwrap();
    app.run_provisioning().await;
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

    // The schedule, not a run queued by hand: the default interval (40 minutes) after activation.
    let due = activated + chrono::Duration::minutes(41);
    assert_eq!(idm::schedule_reconciliations(&app.ctx, due).await.unwrap(), 1);
    app.run_provisioning().await;

    let alice = scim.user("alice").await.unwrap();
    assert_eq!(alice["active"], true);
    assert_eq!(alice["displayName"], "Alice <b>&</b> Co");
    assert!(scim.user("bob").await.is_some(), "recreated");
    assert_eq!(scim.member_names("staff").await, ["alice", "bob"]);
}

/// Each integration is reconciled on its own interval, driven through the scheduler with an injected clock: Hoxhunt
/// every 40 minutes (its article), another application on the configured default (here an hour), and an interval
/// the admin sets takes over from then on. A reconciliation the schedule enqueues repairs drift.
#[tokio::test]
async fn reconciliation_runs_on_each_integrations_own_interval() {
    let scim = ScimPeer::start();
    let app = TestApp::with("", |c| c.reconcile_interval_secs = 3600).await;
    users::update_user(&app.ctx, &Actor::Cli, "alice", profile("alice@example.com", "Alice L"), Utc::now())
        .await
        .unwrap();
    create_hoxhunt(&app).await;
    // The clock starts two hours ago, so every job the schedule enqueues is due for the workers now.
    let t0 = Utc::now() - chrono::Duration::hours(2);
    let at = |minutes: i64| t0 + chrono::Duration::minutes(minutes);
    idm::activate(&app.ctx, &Actor::Cli, "hox", activation(&scim, false, true), t0).await.unwrap();
    idm::activate(&app.ctx, &Actor::Cli, "acme", activation(&scim, false, false), t0).await.unwrap();
    app.run_provisioning().await;
    let ctx = &app.ctx;
    let interval = |name: &'static str| async move {
        apps::view::details(ctx, name).await.unwrap().idm.unwrap().reconcile_interval_secs
    };
    assert_eq!((interval("hox").await, interval("acme").await), (2400, 3600));

    // Drift in Hoxhunt's copy of alice, which only a reconciliation of hox repairs.
    let alice = scim.user("alice@example.com").await.unwrap();
    scim.patch_user(
        alice["id"].as_str().unwrap(),
        serde_json::json!([{"op": "replace", "path": "active", "value": false}]),
    )
    .await;
    let schedule = |minutes: i64| async move { idm::schedule_reconciliations(ctx, at(minutes)).await.unwrap() };
    assert_eq!(schedule(39).await, 0, "nothing is due before 40 minutes");
    assert_eq!(open_jobs(&app).await, 0);
    assert_eq!(schedule(40).await, 1, "hox is due at 40 minutes");
    assert_eq!(schedule(40).await, 0, "and is scheduled once");
    app.run_provisioning().await;
    assert_eq!(scim.user("alice@example.com").await.unwrap()["active"], true, "the reconciliation repaired it");
    assert_eq!(schedule(59).await, 0);
    assert_eq!(schedule(60).await, 1, "acme is due at the configured hour");
    assert_eq!(schedule(80).await, 1, "hox again, 40 minutes after its last");
    app.run_provisioning().await;

    // The admin sets acme to 10 minutes: from then on.
    assert_eq!(idm::change_schedule(&app.ctx, &Actor::Cli, "acme", Some(600), at(85)).await.unwrap(), 600);
    assert_eq!(schedule(94).await, 0);
    assert_eq!(schedule(95).await, 1, "acme, 10 minutes after the change");
    let err = idm::change_schedule(&app.ctx, &Actor::Cli, "acme", Some(10), at(96)).await.unwrap_err();
    assert!(err.to_string().contains("between"), "{err}");
    app.run_provisioning().await;
    assert_eq!(open_jobs(&app).await, 0);
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

/// An import of more than 100 accounts runs in the background by itself, in batches, with its progress recorded:
/// every SP account the directory lacks becomes a user (with an event), the ones it has and the suspended ones are
/// skipped.
#[tokio::test]
async fn a_large_import_runs_in_the_background_with_progress() {
    let scim = ScimPeer::start();
    let app = TestApp::new().await;
    activate(&app, &scim, false, false).await; // alice is provisioned, so the SP has her too.
    for i in 0..450 {
        scim.create_user(&format!("sp-user-{i:03}"), &format!("sp-user-{i:03}@example.com")).await;
    }
    let sam = scim.create_user("sam", "sam@example.com").await;
    scim.patch_user(
        sam["id"].as_str().unwrap(),
        serde_json::json!([{"op": "replace", "path": "active", "value": false}]),
    )
    .await;
    let outcome = idm::import_users(&app.ctx, &Actor::Cli, "acme", None, Utc::now()).await.unwrap();
    let idm::ImportOutcome::Background(id) = outcome else { panic!("450 new accounts import in the background") };
    let listed = idm::imports(&app.ctx, "acme").await.unwrap();
    assert_eq!((listed[0].id, listed[0].state.as_str(), listed[0].imported), (id, "listing", 0));

    app.run_provisioning().await;
    let done = &idm::imports(&app.ctx, "acme").await.unwrap()[0];
    assert_eq!(done.state, "done");
    assert_eq!((done.total, done.imported, done.skipped), (452, 450, 2), "alice and the suspended sam are skipped");
    assert!(users::find_user(&app.ctx, "sam").await.is_err());
    // Naming more than 100 accounts goes to the background too; the ones imported above are skipped there.
    let names: Vec<String> = (0..101).map(|i| format!("sp-user-{i:03}")).collect();
    let outcome = idm::import_users(&app.ctx, &Actor::Cli, "acme", Some(&names), Utc::now()).await.unwrap();
    let idm::ImportOutcome::Background(second) = outcome else { panic!("101 named accounts: {outcome:?}") };
    app.run_provisioning().await;
    let again = &idm::imports(&app.ctx, "acme").await.unwrap()[0];
    assert_eq!((again.id, again.state.as_str(), again.imported, again.skipped), (second, "done", 0, 101));
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
