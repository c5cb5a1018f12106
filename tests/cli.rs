//! The command line as DESIGN.md fixes it: commands, exit statuses and `--json` keys, against a running server
//! that shares the database (scripts outside the project rely on all of this).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use common::serve::Serve;

fn start() -> Serve {
    Serve::start()
}

impl Serve {
    fn ok(&self, args: &[&str], stdin: Option<&str>) -> String {
        let out = self.run(args, stdin);
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    /// A refused command: exit 1 and exactly one line on stderr.
    fn refused(&self, args: &[&str]) -> String {
        let out = self.run(args, None);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
        stderr
    }
}

fn sp_metadata() -> String {
    r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://sp.example.com/sp">
  <md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://sp.example.com/acs" index="0"/>
  </md:SPSSODescriptor>
</md:EntityDescriptor>"#
        .into()
}

#[test]
fn admin_commands_work_against_a_running_server() {
    let server = start();
    let metadata = server.dir.path().join("sp.xml");
    std::fs::write(&metadata, sp_metadata()).unwrap();
    let settings = server.dir.path().join("sp.toml");
    std::fs::write(&settings, "display_label = \"Demo\"\nsigning = \"both\"\n").unwrap();

    server.ok(
        &["user", "add", "alice", "--email", "alice@example.com", "--first-name", "Alice", "--password-stdin"],
        Some("pw-1234-alice\n"),
    );
    server.ok(&["group", "add", "staff"], None);
    server.ok(&["group", "add-member", "staff", "alice"], None);
    server.ok(
        &["app", "import", "demo", "--metadata", metadata.to_str().unwrap(), "--settings", settings.to_str().unwrap()],
        None,
    );
    server.ok(&["app", "bind", "demo", "staff"], None);

    let shown: serde_json::Value = serde_json::from_str(&server.ok(&["app", "show", "demo", "--json"], None)).unwrap();
    let idp_url = format!("{}/saml2/demo", server.base);
    assert_eq!(shown["idp_url"], idp_url.as_str());
    assert_eq!(shown["entity_id"], idp_url.as_str());
    assert_eq!(shown["metadata_url"], format!("{idp_url}/metadata").as_str());
    assert_eq!(shown["certificate_url"], format!("{idp_url}/certificate.pem").as_str());
    assert_eq!(shown["signing"], "both");
    assert_eq!(shown["bound_groups"][0], "staff");
    assert!(shown["cert_not_after"].as_str().unwrap().starts_with("20"));
    assert!(shown["cert_days_left"].as_i64().unwrap() > 1000);

    // The running server serves what the CLI just created.
    let pem = reqwest_get(&format!("{idp_url}/certificate.pem"));
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"));
    let before = shown["cert_fingerprint"].as_str().unwrap().to_owned();
    server.ok(&["app", "rotate-cert", "demo"], None);
    let rotated: serde_json::Value =
        serde_json::from_str(&server.ok(&["app", "show", "demo", "--json"], None)).unwrap();
    assert_ne!(rotated["cert_fingerprint"].as_str().unwrap(), before);
    assert_ne!(reqwest_get(&format!("{idp_url}/certificate.pem")), pem, "the server picked up the new certificate");

    server.ok(&["user", "suspend", "alice"], None);
    server.ok(&["group", "remove-member", "staff", "alice"], None);
    server.ok(&["app", "unbind", "demo", "staff"], None);
    server.ok(&["user", "delete", "alice"], None);

    let lines = server.ok(&["events", "--json"], None);
    let names: Vec<String> = lines
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["name"].as_str().unwrap().to_owned())
        .collect();
    for expected in ["admin_user_create", "admin_app_create", "admin_app_rotate_cert", "admin_user_delete"] {
        assert!(names.iter().any(|n| n == expected), "{expected} in {names:?}");
    }
    let filtered = server.ok(&["events", "--json", "--name", "admin_app_bind", "--app", "demo"], None);
    assert_eq!(filtered.lines().count(), 1);
}

#[test]
fn refusals_exit_1_with_one_line_and_usage_errors_exit_2() {
    let server = start();
    server.ok(&["group", "add", "staff"], None);
    assert!(server.refused(&["group", "add", "staff"]).contains("already exists"));
    assert!(server.refused(&["app", "bind", "nope", "staff"]).contains("does not exist"));
    assert!(server.refused(&["user", "add", "x", "--email", "not-an-email"]).contains("email"));
    assert!(server.refused(&["app", "import", "Bad/Name", "--metadata", "/nonexistent"]).contains("application name"));
    assert!(server.refused(&["app", "import", "demo", "--metadata", "/nonexistent.xml"]).contains("/nonexistent.xml"));
    assert!(server.refused(&["events", "--since", "yesterday"]).contains("--since"));
    assert!(server.refused(&["app", "idm", "mapping", "nope"]).contains("does not exist"));
    assert!(server.refused(&["app", "idm", "import", "nope", "--background"]).contains("--all-new"));
    let base = ["app", "idm", "activate", "nope", "--base-url", "https://scim.example.com/v2", "--token-stdin"];
    let out = server.run(&base, Some("a-token\n"));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));
    assert_eq!(server.run(&["frobnicate"], None).status.code(), Some(2));
    assert_eq!(server.run(&["user", "add", "x"], None).status.code(), Some(2), "--email is required");
}

/// `admin add` and `api-token create|list|revoke` as DESIGN.md fixes them: the token is printed once on stdout
/// and works against the running server until it is revoked; the first start created `admin` by itself.
#[test]
fn admin_and_api_token_commands() {
    let server = start();
    let first = server.run(&["admin", "add", "admin", "--password-stdin"], Some("another password\n"));
    assert_eq!(first.status.code(), Some(1), "created at first start");
    assert!(String::from_utf8_lossy(&first.stderr).contains("already exists"));
    server.ok(&["admin", "add", "ops", "--password-stdin"], Some("ops password 1\n"));
    let again = server.run(&["admin", "add", "ops", "--password-stdin"], Some("ops password 1\n"));
    assert_eq!(again.status.code(), Some(1));
    let short = server.run(&["admin", "add", "short", "--password-stdin"], Some("short\n"));
    assert!(String::from_utf8_lossy(&short.stderr).contains("at least 12"));
    let common = server.run(&["admin", "add", "common", "--password-stdin"], Some("Password1234\n"));
    assert!(String::from_utf8_lossy(&common.stderr).contains("most common passwords"));
    // Lifting sign-in waits: one command per realm, each an event.
    assert!(server.ok(&["admin", "unlock", "ops"], None).starts_with("unlocked administrator ops"));
    assert!(server.ok(&["user", "unlock", "ops"], None).starts_with("unlocked user ops"));
    assert!(server.refused(&["admin", "add", "weak", "--password-stdin"]).contains("no password"));
    let uri = server.ok(&["admin", "totp", "enable", "ops"], None);
    assert!(uri.starts_with("otpauth://totp/sesame:ops?secret="), "{uri}");
    assert!(server.refused(&["admin", "totp", "enable", "nobody"]).contains("does not exist"));

    let out = server.ok(&["api-token", "create", "deploy"], None);
    let token = out.trim();
    assert_eq!(out.lines().count(), 1, "only the token on stdout");
    assert!(token.starts_with("sesame_") && token.len() == 50, "{token}");
    assert!(server.refused(&["api-token", "create", "deploy"]).contains("already exists"));
    let users = format!("{}/api/v1/users", server.base);
    assert_eq!(bearer_get(&users, token), 200);
    let listed = server.ok(&["api-token", "list", "--json"], None);
    let row: serde_json::Value = serde_json::from_str(listed.lines().next().unwrap()).unwrap();
    assert_eq!(row["name"], "deploy");
    assert_eq!(row["created_by"], "cli");
    assert!(row["revoked_at"].is_null());
    assert!(!listed.contains(token), "the token is shown once");
    assert_eq!(row["scope"], "full");
    let reader = server.ok(&["api-token", "create", "report", "--read-only"], None);
    assert_eq!(reader.lines().count(), 1, "only the token on stdout");
    assert_eq!(bearer_get(&users, reader.trim()), 200);
    let table = server.ok(&["api-token", "list"], None);
    assert!(table.lines().any(|l| l.starts_with("report") && l.contains("read-only")), "{table}");
    server.ok(&["api-token", "revoke", "deploy"], None);
    assert_eq!(bearer_get(&users, token), 401, "RFC 6750 §3.1: a revoked token is invalid_token");
    assert!(server.refused(&["api-token", "revoke", "nope"]).contains("does not exist"));

    let events = server.ok(&["events", "--json", "--name", "admin_admin_create"], None);
    assert!(events.contains("\"actor\":\"system\""), "the first administrator: {events}");
    let all = server.ok(&["events", "--json"], None);
    assert!(!all.contains(token) && !all.contains("ops password"));
    assert!(!server.log().contains(token));
}

/// `user set-password` replaces a user's password from standard input (the old one stops working, the new one
/// signs in at the running server), and `user update` changes only the profile fields it is given.
#[test]
fn user_set_password_and_update() {
    let server = start();
    server.ok(&["user", "add", "carol", "--email", "carol@example.com", "--password-stdin"], Some("first secret\n"));
    assert_eq!(login_status(&server.base, "carol", "first secret"), 303);
    let out = server.ok(&["user", "set-password", "carol", "--password-stdin"], Some("second secret\n"));
    assert!(out.contains("carol"));
    assert_eq!(login_status(&server.base, "carol", "second secret"), 303);
    assert_ne!(login_status(&server.base, "carol", "first secret"), 303);
    let events = server.ok(&["events", "--json", "--name", "admin_user_password"], None);
    assert_eq!(events.lines().count(), 1);
    assert!(!events.contains("second secret"));

    let nobody = server.run(&["user", "set-password", "nobody", "--password-stdin"], Some("a long enough secret\n"));
    assert_eq!(nobody.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&nobody.stderr).trim_end().ends_with("does not exist"));
    assert!(server.refused(&["user", "set-password", "carol", "--password-stdin"]).contains("no password"));
    let empty = server.run(&["user", "set-password", "carol", "--password-stdin"], Some("\n"));
    assert_eq!(empty.status.code(), Some(1));
    assert_eq!(server.run(&["user", "set-password", "carol"], None).status.code(), Some(2), "--password-stdin");

    server.ok(&["user", "update", "carol", "--first-name", "Carol", "--department", "Finance"], None);
    server.ok(&["user", "update", "carol", "--display-name", "Carol C."], None);
    server.ok(&["user", "update", "carol", "--preferred-language", "nl-BE", "--work-locality", "Ghent"], None);
    server.ok(&["user", "update", "carol", "--work-street", "Korenmarkt 1", "--work-postal-code", "9000"], None);
    server.ok(&["user", "update", "carol", "--work-region", "East Flanders", "--work-country", "BE"], None);
    server.ok(
        &["user", "add", "dirk", "--email", "dirk@example.com", "--preferred-language", "de", "--work-country", "DE"],
        None,
    );
    let token = server.ok(&["api-token", "create", "reader", "--read-only"], None);
    let carol = bearer_json(&format!("{}/api/v1/users/carol", server.base), token.trim());
    assert_eq!(carol["first_name"], "Carol");
    assert_eq!(carol["department"], "Finance");
    assert_eq!(carol["display_name"], "Carol C.");
    assert_eq!(carol["email"], "carol@example.com", "untouched");
    assert_eq!(carol["preferred_language"], "nl-BE");
    let parts =
        ["work_street", "work_locality", "work_region", "work_postal_code", "work_country"].map(|f| carol[f].clone());
    assert_eq!(parts, ["Korenmarkt 1", "Ghent", "East Flanders", "9000", "BE"].map(serde_json::Value::from));
    let dirk = bearer_json(&format!("{}/api/v1/users/dirk", server.base), token.trim());
    assert_eq!((dirk["preferred_language"].as_str(), dirk["work_country"].as_str()), (Some("de"), Some("DE")));
    assert!(server.refused(&["user", "update", "carol", "--preferred-language", "Dutch!"]).contains("language"));
    assert!(server.refused(&["user", "update", "carol", "--email", "nope"]).contains("email"));
    assert_eq!(server.run(&["user", "update", "carol", "--no-such-field", "x"], None).status.code(), Some(2));
}

/// Signs in at the running server's login form; the status of the form's answer (303 when signed in).
fn login_status(base: &str, username: &str, password: &str) -> u16 {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let page = client.get(format!("{base}/login")).send().await.unwrap();
        let cookie = page.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
        let html = page.text().await.unwrap();
        let marker = "name=\"csrf_token\" value=\"";
        let start = html.find(marker).unwrap() + marker.len();
        let token = &html[start..start + html[start..].find('"').unwrap()];
        let form = [("csrf_token", token), ("username", username), ("password", password), ("continue", "/")];
        let reply = client.post(format!("{base}/login")).header("cookie", cookie).form(&form).send().await.unwrap();
        reply.status().as_u16()
    })
}

/// The JSON body of a GET with a bearer token.
fn bearer_json(url: &str, token: &str) -> serde_json::Value {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let reply = reqwest::Client::new().get(url).bearer_auth(token).send().await.unwrap();
        assert_eq!(reply.status().as_u16(), 200, "{url}");
        reply.json().await.unwrap()
    })
}

/// The status of a GET with a bearer token.
fn bearer_get(url: &str, token: &str) -> u16 {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime
        .block_on(async { reqwest::Client::new().get(url).bearer_auth(token).send().await.unwrap().status().as_u16() })
}

/// A minimal HTTP GET over loopback, so the test needs no HTTP client configuration.
fn reqwest_get(url: &str) -> String {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async { reqwest::get(url).await.unwrap().text().await.unwrap() })
}

/// `app export-key` writes the current key pair for a backup; `secret-key rotate` and `drop-previous` rotate the
/// key that seals secrets, against a running server, and the key pair stays the same.
#[test]
fn export_key_and_secret_key_rotation() {
    let server = start();
    let metadata = server.dir.path().join("sp.xml");
    std::fs::write(&metadata, sp_metadata()).unwrap();
    server.ok(&["app", "import", "demo", "--metadata", metadata.to_str().unwrap()], None);

    let exported = server.ok(&["app", "export-key", "demo"], None);
    assert!(exported.starts_with("-----BEGIN PRIVATE KEY-----\n"), "{}", &exported[..40]);
    let (key, cert) = exported.split_once("-----END PRIVATE KEY-----\n").unwrap();
    let key =
        openssl::pkey::PKey::private_key_from_pem(format!("{key}-----END PRIVATE KEY-----\n").as_bytes()).unwrap();
    let published = reqwest_get(&format!("{}/saml2/demo/certificate.pem", server.base));
    assert_eq!(cert, published, "the certificate that is published");
    let x509 = openssl::x509::X509::from_pem(cert.as_bytes()).unwrap();
    assert!(key.public_eq(&x509.public_key().unwrap()), "the key of that certificate");

    let key_file = server.dir.path().join("data").join("secret.key");
    let out = server.ok(&["secret-key", "rotate"], None);
    assert!(out.contains("1 stored secret(s) sealed again"), "{out}");
    assert_eq!(std::fs::read_to_string(&key_file).unwrap().lines().count(), 2, "the new key and the previous one");
    let out = server.ok(&["secret-key", "drop-previous"], None);
    assert!(out.starts_with("dropped previous secret key(s) "), "{out}");
    assert_eq!(std::fs::read_to_string(&key_file).unwrap().lines().count(), 1);
    assert_eq!(server.ok(&["app", "export-key", "demo"], None), exported, "the same key pair, sealed anew");

    let names = server.ok(&["events", "--json"], None);
    for expected in ["admin_app_export_key", "secret_key_rotate"] {
        assert!(names.contains(&format!("\"name\":\"{expected}\"")), "{expected} in {names}");
    }
    assert!(!names.contains("PRIVATE KEY"));
    let certs = server.dir.path().join("certs");
    assert_eq!(std::fs::read_dir(&certs).unwrap().count(), 0, "serve and the CLI write no key file");
}
