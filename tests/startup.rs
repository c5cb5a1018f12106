//! What `serve` does before it answers: registering `sp-metadata/`, creating keys, and importing by URL.

mod common;

use std::os::unix::fs::PermissionsExt;

use chrono::Utc;
use common::*;
use sesame::audit::Actor;
use sesame::saml::keys::SigningKey;
use sesame::services::{apps, certs};

#[tokio::test]
async fn registers_sp_metadata_dir_and_creates_sealed_private_keys() {
    let dir = tempfile::tempdir().unwrap();
    let config = test_config(dir.path(), BASE).await;
    let sp_key = SigningKey::generate("sp", Utc::now(), 1).unwrap();
    std::fs::create_dir_all(&config.sp_metadata_dir).unwrap();
    std::fs::write(config.sp_metadata_dir.join("crm.xml"), sp_metadata(&sp_key, true)).unwrap();
    std::fs::write(config.sp_metadata_dir.join("crm.toml"), "display_label = \"CRM\"\nsigning = \"response\"\n")
        .unwrap();
    std::fs::write(config.sp_metadata_dir.join("wiki.toml"), "bookmark_url = \"https://wiki.example.com/\"\n").unwrap();
    std::fs::write(config.sp_metadata_dir.join("broken.xml"), "<not-metadata/>").unwrap();
    let certs_dir = config.certs_dir.clone();

    let server = sesame::build(config.clone()).await.unwrap();
    let crm = apps::view::details(&server.ctx, "crm")
        .await
        .map(|d| sesame::cli::app_view::AppView::of(&d, Utc::now()))
        .unwrap();
    assert_eq!(crm.display_label, "CRM");
    assert_eq!(crm.signing, "response");
    assert!(crm.require_signed_requests, "AuthnRequestsSigned=\"true\" in the metadata");
    assert_eq!(
        apps::view::details(&server.ctx, "wiki")
            .await
            .map(|d| sesame::cli::app_view::AppView::of(&d, Utc::now()))
            .unwrap()
            .kind,
        sesame::directory::AppKind::Bookmark
    );
    assert!(
        apps::view::details(&server.ctx, "broken")
            .await
            .map(|d| sesame::cli::app_view::AppView::of(&d, Utc::now()))
            .is_err(),
        "a broken file is skipped"
    );

    // The key is sealed in the database (tests/keys.rs): no key file is written.
    assert_eq!(std::fs::read_dir(&certs_dir).unwrap().count(), 0, "nothing written under certs/");
    assert_eq!(std::fs::metadata(&certs_dir).unwrap().permissions().mode() & 0o777, 0o700);

    // A restart keeps the key: the certificate SPs imported stays valid.
    drop(server);
    let again = sesame::build(config).await.unwrap();
    let crm_again = apps::view::details(&again.ctx, "crm")
        .await
        .map(|d| sesame::cli::app_view::AppView::of(&d, Utc::now()))
        .unwrap();
    assert_eq!(crm_again.cert_fingerprint, crm.cert_fingerprint);
}

/// Metadata import that disables checks (Keycloak CVE-2026-16443): a re-import whose metadata no longer asks for
/// signed requests leaves them required.
/// Exposure stopped: the data directory (database, secret key, their journals) was created with the umask's mode,
/// so other local users could list it and read whatever the umask left readable. It is 0700, like `certs/`.
#[tokio::test]
async fn the_data_directory_is_private() {
    let dir = tempfile::tempdir().unwrap();
    let config = test_config(dir.path(), BASE).await;
    let data_dir = config.data_dir.clone();
    std::fs::create_dir_all(&data_dir).unwrap();
    std::fs::set_permissions(&data_dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let _ctx = sesame::open(config).await.unwrap();
    assert_eq!(std::fs::metadata(&data_dir).unwrap().permissions().mode() & 0o777, 0o700);
}

#[tokio::test]
async fn reimport_never_relaxes_signed_requests() {
    let app = TestApp::new().await;
    app.import("acme", true, "").await;
    assert!(
        apps::view::details(&app.ctx, "acme")
            .await
            .map(|d| sesame::cli::app_view::AppView::of(&d, Utc::now()))
            .unwrap()
            .require_signed_requests
    );
    app.import("acme", false, "require_signed_requests = false").await;
    assert!(
        apps::view::details(&app.ctx, "acme")
            .await
            .map(|d| sesame::cli::app_view::AppView::of(&d, Utc::now()))
            .unwrap()
            .require_signed_requests
    );
}

#[tokio::test]
async fn imports_metadata_from_a_url() {
    let app = TestApp::new().await;
    let xml = sp_metadata(&app.sp_key, false).replace(SP_ENTITY, "https://other.example/sp");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/metadata", listener.local_addr().unwrap());
    let router = axum::Router::new().route("/metadata", axum::routing::get(move || async move { xml }));
    let served = tokio::spawn(async move { axum::serve(listener, router).await });
    let (imported, created) =
        apps::create::import_app(&app.ctx, &Actor::Cli, "other", &url, None, Utc::now()).await.unwrap();
    served.abort();
    assert!(created);
    assert_eq!(imported.sp.entity_id, "https://other.example/sp");
    assert_eq!(imported.sp.metadata_url, url);

    let missing =
        apps::create::import_app(&app.ctx, &Actor::Cli, "gone", "http://127.0.0.1:9/none", None, Utc::now()).await;
    assert!(matches!(missing, Err(sesame::services::Error::Fetch { .. })));
}

/// Server-side request forgery through metadata URLs: an administrator's (or a compromised metadata host's) URL may
/// point at the cloud metadata service (169.254.169.254), "this network", multicast or other reserved ranges, or
/// redirect there. Metadata may be served on loopback and private hosts, but never from those ranges.
#[tokio::test]
async fn metadata_fetches_never_reach_reserved_addresses() {
    use sesame::services::apps::sp_metadata::fetch_url;
    for bad in [
        "http://169.254.169.254/latest/meta-data/",
        "http://0.0.0.0:9/metadata",
        "http://[fe80::1]/metadata",
        "http://224.0.0.1/metadata",
        "http://198.18.0.1/metadata",
        "http://[64:ff9b::a9fe:a9fe]/metadata",
    ] {
        let err = fetch_url(bad).await.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("reserved address"), "{bad}: {err}");
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let router = axum::Router::new().route("/metadata", axum::routing::get(|| async { "<EntityDescriptor/>" })).route(
        "/moved",
        axum::routing::get(|| async { axum::response::Redirect::temporary("http://169.254.169.254/latest/") }),
    );
    let served = tokio::spawn(async move { axum::serve(listener, router).await });
    assert_eq!(fetch_url(&format!("{base}/metadata")).await.unwrap(), "<EntityDescriptor/>", "loopback is allowed");
    let redirected = fetch_url(&format!("{base}/moved")).await.err().map(|e| format!("{e:?}")).unwrap_or_default();
    assert!(redirected.contains("reserved address"), "{redirected}");
    served.abort();
}

#[tokio::test]
async fn bookmark_tiles_open_their_url() {
    let app = TestApp::new().await;
    let now = Utc::now();
    let settings = "display_label = \"Team wiki\"\nbookmark_url = \"https://wiki.example.com/start?a=1&b=2\"\n";
    apps::create::upsert_bookmark(&app.ctx, &Actor::Cli, "wiki", settings, now).await.unwrap();
    apps::change::change_binding(&app.ctx, &Actor::Cli, "wiki", "staff", true, now).await.unwrap();
    let cookie = app.login("alice", PASSWORD).await;
    let portal = app.get("/", Some(&cookie)).await;
    assert!(unescape(&portal.body).contains("href=\"https://wiki.example.com/start?a=1&b=2\""), "{}", portal.body);
    let bad =
        apps::create::upsert_bookmark(&app.ctx, &Actor::Cli, "evil", "bookmark_url = \"javascript:alert(1)\"", now)
            .await;
    assert!(bad.is_err(), "script URLs never become links");
}

/// Replicas and admins acting at once: concurrent rotations leave exactly one current certificate (the last
/// one), never two that both claim to sign.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_certificate_rotations_leave_one_current_certificate() {
    let app = TestApp::new().await;
    let rotations = (0..4).map(|_| {
        let ctx = app.ctx.clone();
        tokio::spawn(async move { certs::rotate(&ctx, &Actor::Cli, "acme", Utc::now()).await })
    });
    let mut rotated = Vec::new();
    for rotation in rotations.collect::<Vec<_>>() {
        rotated.push(rotation.await.unwrap().unwrap().fingerprint);
    }
    let mut conn = app.ctx.db.conn().await.unwrap();
    let acme = sesame::store::apps::get_app(&mut conn, "acme").await.unwrap();
    let published = sesame::store::certs::list_published_certs(&mut conn, acme.id).await.unwrap();
    assert_eq!(published.len(), 1, "{published:?}");
    assert!(rotated.contains(&published[0].fingerprint));
    assert_eq!(
        apps::view::details(&app.ctx, "acme")
            .await
            .map(|d| sesame::cli::app_view::AppView::of(&d, Utc::now()))
            .unwrap()
            .cert_fingerprint,
        published[0].fingerprint
    );
}

/// A database from before e-mail addresses were unique, holding two users with one address (in different case):
/// the migration must not fail on it, nothing is merged, the start-up check reports the set, and the address is
/// still refused to a new user (the first user of it keeps it in the index).
#[tokio::test]
async fn duplicate_emails_from_before_survive_the_migration_and_are_reported() {
    use sqlx::Executor;
    let dir = tempfile::tempdir().unwrap();
    let config = test_config(dir.path(), BASE).await;
    std::fs::create_dir_all(&config.data_dir).unwrap();
    let url = config.database_url();
    let backend = if url.starts_with("postgres") { "postgres" } else { "sqlite" };
    // The migrations before this one, applied as the previous version did.
    let old = dir.path().join("old-migrations");
    std::fs::create_dir_all(&old).unwrap();
    for entry in std::fs::read_dir(format!("migrations/{backend}")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        if name.as_str() < "0010" {
            std::fs::copy(&path, old.join(name)).unwrap();
        }
    }
    sqlx::any::install_default_drivers();
    let create = if backend == "sqlite" && !url.contains('?') { format!("{url}?mode=rwc") } else { url.clone() };
    let pool = sqlx::AnyPool::connect(&create).await.unwrap();
    sqlx::migrate::Migrator::new(old.as_path()).await.unwrap().run(&pool).await.unwrap();
    for (name, email) in [("ann", "Shared@Example.com"), ("ann2", "shared@example.com"), ("zed", "zed@example.com")] {
        let insert = format!(
            "INSERT INTO users (username, email, status, created_at, updated_at) VALUES ('{name}', '{email}', 'active', 0, 0)"
        );
        pool.execute(insert.as_str()).await.unwrap();
    }
    pool.close().await;

    let server = sesame::build(config).await.unwrap();
    let ctx = &server.ctx;
    assert_eq!(sesame::services::users::duplicate_emails(ctx).await.unwrap(), vec![vec!["ann", "ann2"]]);
    let profile = |email: &str| sesame::directory::user::Profile { email: email.into(), ..Default::default() };
    let now = Utc::now();
    let taken = sesame::services::users::create_user(ctx, &Actor::Cli, "new", profile("SHARED@example.com"), None, now);
    assert!(taken.await.unwrap_err().to_string().contains("SHARED@example.com already exists"));
    // The second holder can still be edited while it keeps the address, and leaves the set with a new one.
    sesame::services::users::update_user(ctx, &Actor::Cli, "ann2", profile("shared@example.com"), now).await.unwrap();
    sesame::services::users::update_user(ctx, &Actor::Cli, "ann2", profile("ann2@example.com"), now).await.unwrap();
    assert!(sesame::services::users::duplicate_emails(ctx).await.unwrap().is_empty());
    // ...and may not take it back.
    let back = sesame::services::users::update_user(ctx, &Actor::Cli, "ann2", profile("Shared@example.COM"), now);
    assert!(back.await.unwrap_err().to_string().contains("a user with e-mail address Shared@example.COM"));
}
