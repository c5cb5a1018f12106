//! The store on whichever backend the run uses (SQLite, or PostgreSQL with `SESAME_TEST_DATABASE_URL`): the
//! behaviour each query promises, including under concurrency, where the two engines lock differently.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use chrono::{Duration, Utc};
use sesame::audit::{Actor, Event, EventFilter, EventName};
use sesame::directory::application::SpSettings;
use sesame::directory::user::Profile;
use sesame::directory::{AppId, AppKind, AppName, UserId, UserStatus};
use sesame::store::apps::{self, AppRecord};
use sesame::store::{events, groups, sso, users, Db, Error};

struct Store {
    db: Db,
    _dir: tempfile::TempDir,
}

async fn store() -> Store {
    let dir = tempfile::tempdir().unwrap();
    let config = common::test_config(dir.path(), common::BASE).await;
    std::fs::create_dir_all(&config.data_dir).unwrap();
    let db = Db::connect(&config.database_url()).await.unwrap();
    Store { db, _dir: dir }
}

async fn user(db: &Db, name: &str) -> UserId {
    let profile = Profile { email: format!("{name}@example.com"), ..Profile::default() };
    users::insert_user(&mut db.conn().await.unwrap(), name, &profile, None, 0).await.unwrap()
}

async fn app(db: &Db, name: &str, show_in_portal: bool, is_active: bool) -> AppId {
    let sp = SpSettings::default();
    let record = AppRecord {
        display_label: name,
        description: "",
        show_in_portal,
        kind: AppKind::Saml,
        bookmark_url: None,
        is_active,
        sp: &sp,
    };
    apps::insert_app(&mut db.conn().await.unwrap(), &AppName::parse(name).unwrap(), &record, 0).await.unwrap()
}

#[tokio::test]
async fn replay_cache_admits_a_request_id_once_per_app_until_it_expires() {
    let s = store().await;
    let (a, b) = (app(&s.db, "a", true, true).await, app(&s.db, "b", true, true).await);
    let mut conn = s.db.conn().await.unwrap();
    assert!(sso::insert_seen_request(&mut conn, a, "id-1", 1_000, 5_000).await.unwrap());
    assert!(!sso::insert_seen_request(&mut conn, a, "id-1", 2_000, 6_000).await.unwrap(), "a replay");
    assert!(sso::insert_seen_request(&mut conn, b, "id-1", 2_000, 6_000).await.unwrap(), "another app's ID space");
    assert!(sso::insert_seen_request(&mut conn, a, "id-1", 5_001, 9_000).await.unwrap(), "an expired entry is reused");
    assert!(!sso::insert_seen_request(&mut conn, a, "id-1", 5_002, 9_000).await.unwrap());
    assert_eq!(sso::purge_expired(&mut conn, 8_000).await.unwrap(), 1, "b's entry expired at 6000");
}

/// Replay across replicas: the same request ID arriving at several processes at once is admitted exactly once.
#[tokio::test]
async fn concurrent_inserts_of_one_request_id_admit_exactly_one() {
    let s = store().await;
    let a = app(&s.db, "a", true, true).await;
    let now = Utc::now().timestamp_millis();
    let attempts = (0..8).map(|_| {
        let db = s.db.clone();
        tokio::spawn(async move {
            let mut conn = db.conn().await.unwrap();
            sso::insert_seen_request(&mut conn, a, "raced", now, now + 60_000).await.unwrap()
        })
    });
    let admitted = futures_count(attempts).await;
    assert_eq!(admitted, 1);
}

/// A parked request is answered once, even when two replicas resume it at the same moment.
#[tokio::test]
async fn a_parked_request_is_found_until_it_expires_and_consumed_once() {
    let s = store().await;
    let (a, b) = (app(&s.db, "a", true, true).await, app(&s.db, "b", true, true).await);
    let mut conn = s.db.conn().await.unwrap();
    sso::insert_pending(&mut conn, "handle", a, "{\"id\":1}", 1_000, 2_000).await.unwrap();
    assert_eq!(sso::find_pending(&mut conn, "handle", a, 2_000).await.unwrap().as_deref(), Some("{\"id\":1}"));
    assert_eq!(sso::find_pending(&mut conn, "handle", b, 1_500).await.unwrap(), None, "another app's handle");
    assert_eq!(sso::find_pending(&mut conn, "handle", a, 2_001).await.unwrap(), None, "expired");
    drop(conn);
    let attempts = (0..4).map(|_| {
        let db = s.db.clone();
        tokio::spawn(async move { sso::delete_pending(&mut db.conn().await.unwrap(), "handle").await.unwrap() })
    });
    assert_eq!(futures_count(attempts).await, 1);
}

#[tokio::test]
async fn persistent_ids_keep_their_first_value() {
    let s = store().await;
    let (a, b) = (app(&s.db, "a", true, true).await, app(&s.db, "b", true, true).await);
    let alice = user(&s.db, "alice").await;
    let attempts = (0..4).map(|i| {
        let db = s.db.clone();
        tokio::spawn(async move {
            sso::persistent_id(&mut db.conn().await.unwrap(), a, alice, &format!("candidate-{i}")).await.unwrap()
        })
    });
    let mut values = Vec::new();
    for attempt in attempts {
        values.push(attempt.await.unwrap());
    }
    values.dedup();
    assert_eq!(values.len(), 1, "every caller sees the one stored value: {values:?}");
    let mut conn = s.db.conn().await.unwrap();
    assert_eq!(sso::persistent_id(&mut conn, a, alice, "later").await.unwrap(), values[0]);
    assert_eq!(sso::persistent_id(&mut conn, b, alice, "for-b").await.unwrap(), "for-b");
}

#[tokio::test]
async fn unique_violations_are_conflicts_and_missing_rows_not_found() {
    let s = store().await;
    let alice = user(&s.db, "alice").await;
    let mut conn = s.db.conn().await.unwrap();
    let again = users::insert_user(&mut conn, "alice", &Profile::default(), None, 0).await;
    assert!(matches!(again, Err(Error::Conflict { what: "user" })), "{again:?}");
    let staff = groups::insert_group(&mut conn, "staff", "", 0).await.unwrap();
    assert!(matches!(groups::insert_group(&mut conn, "staff", "", 0).await, Err(Error::Conflict { .. })));
    groups::insert_member(&mut conn, staff, alice).await.unwrap();
    assert!(matches!(groups::insert_member(&mut conn, staff, alice).await, Err(Error::Conflict { .. })));
    drop(conn);
    app(&s.db, "crm", true, true).await;
    let mut conn = s.db.conn().await.unwrap();
    let sp = SpSettings::default();
    let record = AppRecord {
        display_label: "CRM",
        description: "",
        show_in_portal: true,
        kind: AppKind::Saml,
        bookmark_url: None,
        is_active: true,
        sp: &sp,
    };
    let dup = apps::insert_app(&mut conn, &AppName::parse("crm").unwrap(), &record, 0).await;
    assert!(matches!(dup, Err(Error::Conflict { what: "application" })), "{dup:?}");

    let nobody = UserId(alice.0 + 1000);
    let missing = users::update_status(&mut conn, nobody, UserStatus::Suspended, 0).await;
    assert!(matches!(missing, Err(Error::NotFound { what: "user" })), "{missing:?}");
    assert!(matches!(users::delete_user(&mut conn, nobody).await, Err(Error::NotFound { .. })));
    assert!(matches!(groups::delete_member(&mut conn, staff, nobody).await, Err(Error::NotFound { .. })));
    assert!(users::find_user_by_username(&mut conn, "nobody").await.unwrap().is_none());
}

/// Booleans are stored as integers on both backends and read back as the same values.
#[tokio::test]
async fn flags_and_optional_columns_round_trip() {
    let s = store().await;
    let hidden = app(&s.db, "hidden", false, true).await;
    let inactive = app(&s.db, "inactive", true, false).await;
    let shown = app(&s.db, "shown", true, true).await;
    let alice = user(&s.db, "alice").await;
    let mut conn = s.db.conn().await.unwrap();
    let staff = groups::insert_group(&mut conn, "staff", "", 0).await.unwrap();
    groups::insert_member(&mut conn, staff, alice).await.unwrap();
    for id in [hidden, inactive, shown] {
        apps::insert_binding(&mut conn, id, staff).await.unwrap();
    }
    let listed = apps::list_apps(&mut conn).await.unwrap();
    let flags: Vec<_> = listed.iter().map(|a| (a.name.to_string(), a.show_in_portal, a.is_active)).collect();
    assert_eq!(flags, [("hidden".into(), false, true), ("inactive".into(), true, false), ("shown".into(), true, true)]);
    assert!(listed.iter().all(|a| a.bookmark_url.is_none()));
    let portal = apps::list_portal_apps(&mut conn, alice).await.unwrap();
    assert_eq!(portal.iter().map(|a| a.id).collect::<Vec<_>>(), [shown]);
    let (found, password) = users::find_credentials(&mut conn, "alice").await.unwrap().unwrap();
    assert_eq!((found.id, password), (alice, None), "a NULL password hash reads as None");
    let (_, bound) = users::get_user_with_bound_groups(&mut conn, alice, shown).await.unwrap();
    assert_eq!(bound, ["staff"]);
    let other = user(&s.db, "bob").await;
    let (_, none) = users::get_user_with_bound_groups(&mut conn, other, shown).await.unwrap();
    assert!(none.is_empty(), "LEFT JOINs without a match give no group");
}

/// Every filter is bound as a parameter, NULL when absent, and compared with the right type on both backends.
#[tokio::test]
async fn event_filters_combine_and_absent_ones_match_everything() {
    let s = store().await;
    let mut conn = s.db.conn().await.unwrap();
    let t0 = Utc::now();
    let events = [
        Event::new(t0, EventName::UserLogin, &Actor::Anonymous).user("alice"),
        Event::new(t0 + Duration::seconds(1), EventName::SsoLogin, &Actor::System).user("alice").app("crm"),
        Event::new(t0 + Duration::seconds(2), EventName::SsoDenied, &Actor::System).user("bob").app("crm").failed("no"),
        Event::new(t0 + Duration::seconds(3), EventName::UserLoginFailed, &Actor::Anonymous).user("bob").failed("pw"),
    ];
    for event in &events {
        events::insert_event(&mut conn, event).await.unwrap();
    }
    let list = |filter: EventFilter| {
        let db = s.db.clone();
        async move {
            let found = events::list_events(&mut db.conn().await.unwrap(), &filter).await.unwrap();
            found.into_iter().map(|e| e.name).collect::<Vec<_>>()
        }
    };
    let all = EventFilter { limit: 100, ..EventFilter::default() };
    assert_eq!(
        list(all.clone()).await,
        [EventName::UserLoginFailed, EventName::SsoDenied, EventName::SsoLogin, EventName::UserLogin],
        "newest first"
    );
    assert_eq!(list(EventFilter { app: Some("crm".into()), ..all.clone() }).await.len(), 2);
    assert_eq!(list(EventFilter { username: Some("bob".into()), success: Some(false), ..all.clone() }).await.len(), 2);
    assert_eq!(list(EventFilter { success: Some(true), ..all.clone() }).await.len(), 2);
    assert_eq!(list(EventFilter { name: Some(EventName::SsoLogin), ..all.clone() }).await, [EventName::SsoLogin]);
    let since = t0 + Duration::milliseconds(1500);
    assert_eq!(list(EventFilter { since: Some(since), ..all.clone() }).await.len(), 2);
    assert_eq!(list(EventFilter { limit: 1, ..all.clone() }).await, [EventName::UserLoginFailed]);
    let stored = events::list_events(&mut conn, &EventFilter { username: Some("bob".into()), ..all }).await.unwrap();
    assert_eq!(stored[0].detail, "pw");
    assert!(!stored[0].success);
    assert_eq!(stored[0].at.timestamp_millis(), events[3].at.timestamp_millis());
}

/// A transaction either commits everything or nothing: the row and its event go together.
#[tokio::test]
async fn a_rolled_back_transaction_leaves_nothing() {
    let s = store().await;
    let mut tx = s.db.begin().await.unwrap();
    users::insert_user(&mut tx, "ghost", &Profile::default(), None, 0).await.unwrap();
    events::insert_event(&mut tx, &Event::new(Utc::now(), EventName::AdminUserCreate, &Actor::Cli)).await.unwrap();
    tx.rollback().await.unwrap();
    let mut conn = s.db.conn().await.unwrap();
    assert!(users::find_user_by_username(&mut conn, "ghost").await.unwrap().is_none());
    let filter = EventFilter { limit: 10, ..EventFilter::default() };
    assert!(events::list_events(&mut conn, &filter).await.unwrap().is_empty());
}

/// Changes that read before they write (a name checked, then the row inserted) all commit when they run at
/// once: on SQLite a deferred transaction whose snapshot went stale fails at its first write with
/// `SQLITE_BUSY` (no busy wait can help it), so `Db::begin` takes the write lock first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_read_then_write_transactions_all_commit() {
    let s = store().await;
    let tasks = (0..12).map(|i| {
        let db = s.db.clone();
        tokio::spawn(async move {
            let mut tx = db.begin().await.unwrap();
            let before = users::list_users(&mut tx).await.unwrap().len();
            tokio::task::yield_now().await;
            let name = format!("user{i}");
            let profile = Profile { email: format!("{name}@example.com"), ..Profile::default() };
            users::insert_user(&mut tx, &name, &profile, None, 0).await.unwrap();
            events::insert_event(&mut tx, &Event::new(Utc::now(), EventName::AdminUserCreate, &Actor::Cli))
                .await
                .unwrap();
            tx.commit().await.unwrap();
            before < 12
        })
    });
    assert_eq!(futures_count(tasks).await, 12);
    assert_eq!(users::list_users(&mut s.db.conn().await.unwrap()).await.unwrap().len(), 12);
}

/// How many of the spawned checks returned true.
async fn futures_count(tasks: impl Iterator<Item = tokio::task::JoinHandle<bool>>) -> usize {
    let handles: Vec<_> = tasks.collect();
    let mut count = 0;
    for handle in handles {
        count += usize::from(handle.await.unwrap());
    }
    count
}

/// A mailed link (invitation, reset) works once, only before it expires, and a new one of the same purpose
/// replaces the unused earlier one; the purposes are separate.
#[tokio::test]
async fn user_links_work_once_until_they_expire_and_a_new_one_replaces_the_old() {
    use sesame::store::links;
    let s = store().await;
    let id = user(&s.db, "ivy").await.0;
    let mut conn = s.db.conn().await.unwrap();
    links::replace(&mut conn, id, "invite", "h1", 1_000, 5_000).await.unwrap();
    assert_eq!(links::find_valid(&mut conn, "invite", "h1", 4_999).await.unwrap(), Some(id));
    // Expired at its time, and a link of another purpose does not answer for it.
    assert_eq!(links::find_valid(&mut conn, "invite", "h1", 5_000).await.unwrap(), None);
    assert_eq!(links::consume(&mut conn, "invite", "h1", 5_000).await.unwrap(), None);
    assert_eq!(links::consume(&mut conn, "reset", "h1", 2_000).await.unwrap(), None);
    // Re-inviting revokes h1 although it has not expired.
    links::replace(&mut conn, id, "invite", "h2", 2_000, 9_000).await.unwrap();
    assert_eq!(links::consume(&mut conn, "invite", "h1", 3_000).await.unwrap(), None);
    assert_eq!(links::consume(&mut conn, "invite", "h2", 3_000).await.unwrap(), Some(id));
    assert_eq!(links::consume(&mut conn, "invite", "h2", 3_001).await.unwrap(), None, "used twice");
    let latest = links::latest(&mut conn, id, "invite").await.unwrap().unwrap();
    assert_eq!((latest.used_at, latest.expires_at), (Some(3_000), 9_000));
    assert_eq!(links::count_since(&mut conn, id, "invite", 0).await.unwrap(), 2);
    assert_eq!(links::count_since(&mut conn, id, "invite", 1_000).await.unwrap(), 1);
}

/// Two requests that use the same link at once: exactly one gets the user.
#[tokio::test]
async fn a_user_link_is_used_once_under_concurrency() {
    use sesame::store::links;
    let s = store().await;
    let id = user(&s.db, "jay").await.0;
    links::replace(&mut s.db.conn().await.unwrap(), id, "reset", "hc", 0, 10_000).await.unwrap();
    let attempt = |db: Db| async move {
        let mut tx = db.begin().await.unwrap();
        let got = links::consume(&mut tx, "reset", "hc", 1).await;
        let got = match got {
            Ok(v) => v,
            // PostgreSQL may serialise the loser; SQLite may report it busy: either way it did not use the link.
            Err(_) => return None,
        };
        tx.commit().await.ok().and(got)
    };
    let (a, b) = tokio::join!(attempt(s.db.clone()), attempt(s.db.clone()));
    assert_eq!([a, b].iter().filter(|r| r.is_some()).count(), 1, "{a:?} {b:?}");
}
