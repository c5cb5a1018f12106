//! Private signing keys sealed in the database, and every sealed value bound to its record (issue 18, "Keys" and
//! finding 11): what a key file, a copied value and a rotated secret key can and cannot do.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use std::path::Path;

use chrono::Utc;
use common::*;
use secrecy::ExposeSecret;
use sesame::audit::Actor;
use sesame::saml::keys::SigningKey;
use sesame::services::{admins, certs, secrets};
use sesame::store::sealed::{ADMIN_TOTP, SCIM_TOKEN};

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return found };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_under(&path));
        } else {
            found.push(path);
        }
    }
    found
}

/// Whether any file under the data directory (the SQLite database, its WAL) holds `needle`.
fn data_dir_contains(config: &sesame::config::Config, needle: &[u8]) -> bool {
    files_under(&config.data_dir)
        .iter()
        .any(|f| std::fs::read(f).is_ok_and(|bytes| bytes.windows(needle.len()).any(|w| w == needle)))
}

async fn sql(app: &TestApp, statement: &str, binds: &[&str]) {
    let mut query = sqlx::query(statement);
    for b in binds {
        query = query.bind(*b);
    }
    query.execute(&app.ctx.db.pool).await.unwrap();
}

async fn sealed_of(app: &TestApp, select: &str, bind: &str) -> String {
    use sqlx::Row;
    let row = sqlx::query(select).bind(bind).fetch_one(&app.ctx.db.pool).await.unwrap();
    row.try_get(0).unwrap()
}

async fn current_fingerprint(app: &TestApp, name: &str) -> String {
    certs::certificates(&app.ctx, name).await.unwrap()[0].fingerprint.clone()
}

async fn signing_key(app: &TestApp, name: &str) -> Result<std::sync::Arc<SigningKey>, sesame::services::Error> {
    let mut conn = app.ctx.db.conn().await.unwrap();
    let application = sesame::services::apps::load_saml(&mut conn, name).await.unwrap();
    app.ctx.signing_key(&mut conn, &application).await
}

fn private_pem(key: &SigningKey) -> Vec<u8> {
    key.private_key_pem().unwrap()
}

/// After start-up with an application, and a staged rotation, no private key is a file and the database holds
/// none unencrypted; the key signs.
#[tokio::test]
async fn keys_live_sealed_in_the_database_not_in_files() {
    let app = TestApp::new().await;
    certs::stage(&app.ctx, &Actor::Cli, "acme", Utc::now()).await.unwrap();
    let app = app.restart().await;
    let config = (*app.ctx.config).clone();
    assert_eq!(files_under(&config.certs_dir), Vec::<std::path::PathBuf>::new(), "no key file is written");
    let key = signing_key(&app, "acme").await.unwrap();
    assert_eq!(key.cert.fingerprint, current_fingerprint(&app, "acme").await);
    let sealed =
        sealed_of(&app, "SELECT key_sealed FROM app_certs WHERE fingerprint = $1", &key.cert.fingerprint).await;
    assert!(sealed.starts_with("v2:"), "sealed with a key id");
    let plain = sealed_of(
        &app,
        "SELECT CAST(COUNT(*) AS TEXT) FROM app_certs WHERE key_sealed LIKE $1 OR cert_pem LIKE $1",
        "%PRIVATE KEY%",
    )
    .await;
    assert_eq!(plain, "0", "no row holds a key in the clear (either backend)");
    if postgres_server().is_none() {
        app.ctx.db.pool.close().await;
        assert!(!data_dir_contains(&config, b"PRIVATE KEY"), "no unencrypted key in the database file");
        assert!(!data_dir_contains(&config, &private_pem(&key)[40..80]), "nor its base64 body");
    }
}

/// A certificate made when keys were files: its key file is imported at start-up, sealed, and then no longer
/// read (the file can go); the certificate keeps signing with the same key.
#[tokio::test]
async fn key_files_of_old_certificates_are_imported_once() {
    let app = TestApp::new().await;
    let key = signing_key(&app, "acme").await.unwrap();
    let fingerprint = key.cert.fingerprint.clone();
    let certs_dir = app.ctx.config.certs_dir.clone();
    // What an older version left: the key as a file, nothing in the row.
    let file = sesame::store::certs::key_path(&certs_dir, "acme", &fingerprint);
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, private_pem(&key)).unwrap();
    sql(&app, "UPDATE app_certs SET key_sealed = NULL WHERE fingerprint = $1", &[&fingerprint]).await;

    let app = app.restart().await;
    let sealed = sealed_of(&app, "SELECT key_sealed FROM app_certs WHERE fingerprint = $1", &fingerprint).await;
    assert!(sealed.starts_with("v2:"));
    std::fs::remove_file(&file).unwrap();
    let app = app.restart().await;
    let again = signing_key(&app, "acme").await.unwrap();
    assert_eq!(again.cert.fingerprint, fingerprint);
    assert!(private_pem(&again) == private_pem(&key), "the same key signs");
}

/// Two replicas with their own certs folders, one database and one secret key: a key file that only one of them
/// has is imported by it, and then both sign with that key.
#[tokio::test]
async fn replicas_with_separate_certs_folders_sign_with_one_key() {
    let a = TestApp::new().await;
    let key = signing_key(&a, "acme").await.unwrap();
    let fingerprint = key.cert.fingerprint.clone();
    let file = sesame::store::certs::key_path(&a.ctx.config.certs_dir, "acme", &fingerprint);
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, private_pem(&key)).unwrap();
    sql(&a, "UPDATE app_certs SET key_sealed = NULL WHERE fingerprint = $1", &[&fingerprint]).await;

    let other = tempfile::tempdir().unwrap();
    let mut config_b = (*a.ctx.config).clone();
    config_b.certs_dir = other.path().join("certs");
    config_b.secret_key = Some(std::fs::read_to_string(a.ctx.config.data_dir.join("secret.key")).unwrap().into());
    config_b.data_dir = other.path().join("data");
    if config_b.database_url.is_none() {
        let db = a.ctx.config.data_dir.join("sesame.db");
        config_b.database_url = Some(format!("sqlite://{}", db.display()).into());
    }
    // B starts first: it has no key file, so the certificate has no key yet and B cannot sign.
    let b = a.replica_with(config_b.clone()).await;
    let refused = signing_key(&b, "acme").await.unwrap_err();
    assert!(refused.to_string().contains("not in the database"), "{refused}");
    assert_eq!(refused.kind(), sesame::services::error::ErrorKind::Internal, "our failure, not the user's");
    // A restarts and imports its file; B signs with the same key, without a file of its own.
    let a = a.restart().await;
    let b = b.replica_with(config_b.clone()).await;
    let key_a = signing_key(&a, "acme").await.unwrap();
    let key_b = signing_key(&b, "acme").await.unwrap();
    assert_eq!(key_a.cert.fingerprint, fingerprint);
    assert_eq!(key_b.cert.fingerprint, fingerprint);
    assert!(private_pem(&key_b) == private_pem(&key), "the same private key");
    assert!(files_under(&b.ctx.config.certs_dir).is_empty());

    // A key pair made later (a rotation on A) is straight in the database: B signs with it too.
    let rotated = certs::rotate(&a.ctx, &Actor::Cli, "acme", Utc::now()).await.unwrap();
    let b = b.replica_with(config_b).await;
    assert_eq!(signing_key(&b, "acme").await.unwrap().cert.fingerprint, rotated.fingerprint);
}

/// An admin brings a key pair under certs/<app>/: a new application signs with it; an existing one gets it staged
/// (next), once.
#[tokio::test]
async fn a_brought_key_pair_is_imported_sealed() {
    let app = TestApp::new().await;
    let now = Utc::now();
    let certs_dir = app.ctx.config.certs_dir.clone();
    let brought = SigningKey::generate("brought", now, 30).unwrap();
    let place = |name: &str, key: &SigningKey| {
        let dir = certs_dir.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("key.pem"), key.private_key_pem().unwrap()).unwrap();
        std::fs::write(dir.join("cert.pem"), key.cert.to_pem().unwrap()).unwrap();
    };
    place("crm", &brought);
    app.import("crm", false, "").await;
    let key = signing_key(&app, "crm").await.unwrap();
    assert_eq!(key.cert.fingerprint, brought.cert.fingerprint, "a new application signs with the brought pair");

    let second = SigningKey::generate("second", now, 30).unwrap();
    place("acme", &second);
    let app = app.restart().await;
    let app = app.restart().await;
    let list = certs::list_certificates(&app.ctx, "acme").await.unwrap();
    let staged: Vec<_> = list.iter().filter(|c| c.state == sesame::saml::keys::CertState::Next).collect();
    assert_eq!(staged.len(), 1, "imported once, as the staged certificate");
    assert_eq!(staged[0].fingerprint, second.cert.fingerprint);

    // A key that does not match its certificate is refused with the folder named.
    let dir = certs_dir.join("wiki");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("key.pem"), brought.private_key_pem().unwrap()).unwrap();
    std::fs::write(dir.join("cert.pem"), second.cert.to_pem().unwrap()).unwrap();
    let xml = sp_metadata(&app.sp_key, false).replace("https://sp.example.com", "https://wiki.example.com");
    let refused = sesame::services::apps::create::import_app_xml(&app.ctx, &Actor::Cli, "wiki", &xml, None, None, now)
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("does not match"), "{refused}");
}

/// Finding 11: sealed values are bound to table, row and field; one copied to another record does not open.
#[tokio::test]
async fn a_sealed_value_moved_to_another_record_is_refused() {
    let app = TestApp::new().await;
    let now = Utc::now();
    for name in ["root", "ops"] {
        admins::create_admin(&app.ctx, &Actor::Cli, name, "a long admin password".into(), now).await.unwrap();
    }
    let uri = admins::enable_totp(&app.ctx, &Actor::Cli, "root", now).await.unwrap();
    admins::enable_totp(&app.ctx, &Actor::Cli, "ops", now).await.unwrap();
    let secret = uri.split("secret=").nth(1).unwrap().split('&').next().unwrap();
    let secret = totp_rs::Secret::Encoded(secret.to_owned()).to_bytes().unwrap();
    let root_sealed = sealed_of(&app, "SELECT totp_secret_enc FROM admins WHERE username = $1", "root").await;
    sql(&app, "UPDATE admins SET totp_secret_enc = $1 WHERE username = $2", &[&root_sealed, "ops"]).await;
    let unix = u64::try_from(now.timestamp()).unwrap();
    let refused =
        admins::verify_totp(&app.ctx, "ops", &sesame::services::totp::totp_code(&secret, unix), None, now).await;
    assert!(matches!(refused, Err(sesame::services::Error::Secret(_))), "{refused:?}");
    admins::verify_totp(&app.ctx, "root", &sesame::services::totp::totp_code(&secret, unix), None, now).await.unwrap();

    // A signing key copied to another application's certificate does not open either.
    app.import("crm", false, "").await;
    let acme = current_fingerprint(&app, "acme").await;
    let crm = current_fingerprint(&app, "crm").await;
    let acme_key = sealed_of(&app, "SELECT key_sealed FROM app_certs WHERE fingerprint = $1", &acme).await;
    sql(&app, "UPDATE app_certs SET key_sealed = $1 WHERE fingerprint = $2", &[&acme_key, &crm]).await;
    let app = app.restart().await;
    assert!(matches!(signing_key(&app, "crm").await, Err(sesame::services::Error::Secret(_))));
    assert!(signing_key(&app, "acme").await.is_ok());
}

/// Values sealed before they were bound (one fixed associated data) are sealed again, bound, at start-up, and
/// keep working.
#[tokio::test]
async fn values_sealed_before_bindings_are_sealed_again_at_start_up() {
    use base64::Engine;
    use openssl::symm::{encrypt_aead, Cipher};
    let app = TestApp::new().await;
    let now = Utc::now();
    admins::create_admin(&app.ctx, &Actor::Cli, "root", "a long admin password".into(), now).await.unwrap();
    let secret: [u8; 20] = rand::random();
    let key = hex::decode(std::fs::read_to_string(app.ctx.config.data_dir.join("secret.key")).unwrap().trim()).unwrap();
    let nonce: [u8; 12] = rand::random();
    let mut tag = [0u8; 16];
    let plain = hex::encode(secret);
    let ct = encrypt_aead(Cipher::aes_256_gcm(), &key, Some(&nonce), b"sesame secret v1", plain.as_bytes(), &mut tag)
        .unwrap();
    let old = base64::engine::general_purpose::STANDARD.encode([&nonce[..], &ct, &tag].concat());
    sql(&app, "UPDATE admins SET totp_secret_enc = $1 WHERE username = $2", &[&old, "root"]).await;

    let app = app.restart().await;
    let now_sealed = sealed_of(&app, "SELECT totp_secret_enc FROM admins WHERE username = $1", "root").await;
    assert!(now_sealed.starts_with("v2:"), "sealed again with a binding");
    let opened = app.ctx.secret.open(&now_sealed, &ADMIN_TOTP.binding("root")).unwrap();
    assert_eq!(opened.expose_secret(), plain);
    let unix = u64::try_from(now.timestamp()).unwrap();
    admins::verify_totp(&app.ctx, "root", &sesame::services::totp::totp_code(&secret, unix), None, now).await.unwrap();
}

/// `secret-key rotate` seals every value again under a new key while both open; after `drop-previous` the old key
/// is gone and a value sealed under it alone is refused. TOTP, the SCIM token and signing keep working throughout.
#[tokio::test]
async fn rotating_the_secret_key_keeps_every_secret_readable() {
    let app = TestApp::new().await;
    let now = Utc::now();
    admins::create_admin(&app.ctx, &Actor::Cli, "root", "a long admin password".into(), now).await.unwrap();
    let uri = admins::enable_totp(&app.ctx, &Actor::Cli, "root", now).await.unwrap();
    let secret = uri.split("secret=").nth(1).unwrap().split('&').next().unwrap();
    let secret = totp_rs::Secret::Encoded(secret.to_owned()).to_bytes().unwrap();
    let acme = sesame::services::apps::load_saml(&mut app.ctx.db.conn().await.unwrap(), "acme").await.unwrap();
    let token = app.ctx.secret.seal("scim-token-xyz", &SCIM_TOKEN.binding(acme.id.0)).unwrap();
    let integration = sesame::store::idm::Integration {
        app: acme.id,
        kind: "scim".into(),
        base_url: "http://127.0.0.1:9/scim/v2".into(),
        token_sealed: token,
        manage_groups: false,
        soft_delete: false,
        is_active: false,
        excluded_attributes: Default::default(),
        reconcile_interval_secs: 0,
        next_reconcile_at: 0,
    };
    sesame::store::idm::upsert_integration(&mut app.ctx.db.conn().await.unwrap(), &integration, 0).await.unwrap();
    let before_key = private_pem(&signing_key(&app, "acme").await.unwrap());
    let old_totp = sealed_of(&app, "SELECT totp_secret_enc FROM admins WHERE username = $1", "root").await;
    let old_id = app.ctx.secret.current_id();
    // Another process (a replica) that holds only the old key, reading the same key file.
    let replica = app.replica().await;

    let rotation = secrets::rotate(&app.ctx, &Actor::Cli, false, now).await.unwrap();
    assert_ne!(rotation.key_id, old_id);
    assert_eq!(rotation.resealed.resealed, 3, "the TOTP secret, the SCIM token and the signing key");
    assert!(rotation.resealed.unreadable.is_empty());
    let unix = u64::try_from(now.timestamp()).unwrap();
    // The replica learns the new key from the file when it meets a value sealed under it.
    admins::verify_totp(&replica.ctx, "root", &sesame::services::totp::totp_code(&secret, unix - 30), None, now)
        .await
        .unwrap();
    let found = sesame::store::idm::find_integration(&mut replica.ctx.db.conn().await.unwrap(), acme.id)
        .await
        .unwrap()
        .unwrap();
    assert!(found.token_sealed.starts_with(&format!("v2:{}:", rotation.key_id)));
    let opened = replica.ctx.secret.open(&found.token_sealed, &SCIM_TOKEN.binding(acme.id.0)).unwrap();
    assert_eq!(opened.expose_secret(), "scim-token-xyz");
    assert!(replica.ctx.worker.provisioner(&acme, &found).is_ok(), "the provisioner opens the token");

    let dropped = secrets::drop_previous(&app.ctx, &Actor::Cli, now).await.unwrap();
    assert_eq!(dropped, vec![old_id]);
    let app = app.restart().await;
    assert!(private_pem(&signing_key(&app, "acme").await.unwrap()) == before_key, "SSO still signs, same key");
    admins::verify_totp(&app.ctx, "root", &sesame::services::totp::totp_code(&secret, unix), None, now).await.unwrap();
    // A value sealed under the old key alone no longer opens.
    sql(&app, "UPDATE admins SET totp_secret_enc = $1 WHERE username = $2", &[&old_totp, "root"]).await;
    let refused =
        admins::verify_totp(&app.ctx, "root", &sesame::services::totp::totp_code(&secret, unix + 30), None, now).await;
    assert!(
        matches!(refused, Err(sesame::services::Error::Secret(sesame::secret::Error::UnknownKey { .. }))),
        "{refused:?}"
    );
}

/// A key given directly (not in a file) cannot be rotated: the refusal says what to do.
#[tokio::test]
async fn a_secret_key_set_directly_is_not_rotated() {
    let app = TestApp::with("", |c| c.secret_key = Some("ab".repeat(32).into())).await;
    let refused = secrets::rotate(&app.ctx, &Actor::Cli, false, Utc::now()).await.unwrap_err();
    assert!(refused.to_string().contains("SESAME_SECRET_KEY_FILE"), "{refused}");
}

/// A TOTP secret being enrolled waits sealed in the console session; one sealed before the upgrade (or under a
/// dropped key) no longer opens, and the administrator is asked to start again rather than shown a server error.
#[tokio::test]
async fn an_enrolment_that_no_longer_opens_is_asked_again() {
    let app = TestApp::new().await;
    let now = Utc::now();
    admins::create_admin(&app.ctx, &Actor::Cli, "root", "a long admin password".into(), now).await.unwrap();
    let pending = admins::new_totp_secret(&app.ctx, "root").unwrap();
    assert!(admins::totp_enrolment(&app.ctx, "root", &pending).is_ok());
    let other_admins = admins::totp_enrolment(&app.ctx, "ops", &pending).unwrap_err();
    assert_eq!(other_admins.kind(), sesame::services::error::ErrorKind::Invalid, "bound to root");
    let unbound = "bm90IGEgc2VhbGVkIHZhbHVlIGF0IGFsbCBidXQgbG9uZyBlbm91Z2g="; // the shape of a value before bindings
    let refused = admins::confirm_totp(&app.ctx, &Actor::Cli, "root", unbound, "123456", now).await.unwrap_err();
    assert_eq!(refused.kind(), sesame::services::error::ErrorKind::Invalid);
    assert!(refused.to_string().contains("start setting up TOTP again"), "{refused}");
}

/// Two replicas that import at the same moment, both with the old key file: the key is imported once (the
/// application is locked and only a row without a key takes one), and both sign with it.
#[tokio::test]
async fn replicas_importing_together_import_a_key_file_once() {
    let app = TestApp::new().await;
    let key = signing_key(&app, "acme").await.unwrap();
    let fingerprint = key.cert.fingerprint.clone();
    let config = (*app.ctx.config).clone();
    let (a, b) = (sesame::build(config.clone()).await.unwrap(), sesame::build(config).await.unwrap());
    let file = sesame::store::certs::key_path(&app.ctx.config.certs_dir, "acme", &fingerprint);
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, private_pem(&key)).unwrap();
    sql(&app, "UPDATE app_certs SET key_sealed = NULL WHERE fingerprint = $1", &[&fingerprint]).await;

    let now = Utc::now();
    let (from_a, from_b) = tokio::join!(certs::import_key_files(&a.ctx, now), certs::import_key_files(&b.ctx, now));
    assert_eq!(from_a.unwrap() + from_b.unwrap(), 1, "imported once");
    for server in [&a, &b] {
        let mut conn = server.ctx.db.conn().await.unwrap();
        let acme = sesame::services::apps::load_saml(&mut conn, "acme").await.unwrap();
        let signing = server.ctx.signing_key(&mut conn, &acme).await.unwrap();
        assert!(private_pem(&signing) == private_pem(&key), "both sign with the imported key");
    }
}
