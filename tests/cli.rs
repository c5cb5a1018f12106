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
    assert!(server.refused(&["app", "idm", "schedule", "nope", "--interval-secs", "600"]).contains("does not exist"));
    assert_eq!(
        server.run(&["app", "idm", "schedule", "nope"], None).status.code(),
        Some(2),
        "an interval or --default"
    );
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

/// Bulk import from CSV: a dry run lists each row's fate and changes nothing; a file with one bad row changes
/// nothing and names the row; a good file applies every row (users, their groups, new groups) in one go, and the
/// export writes the same columns back.
#[test]
fn users_import_from_csv_all_or_nothing_and_export_the_same_columns() {
    let server = start();
    server.ok(&["user", "add", "alice", "--email", "alice@example.com", "--department", "Sales"], None);
    let write = |name: &str, text: &str| {
        let path = server.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_owned()
    };
    let users = |server: &Serve| server.ok(&["user", "export"], None);
    let before = users(&server);

    let bad = write(
        "bad.csv",
        "username,email,first_name,groups\n\
         bob,bob@example.com,Bob,staff\n\
         carol,ALICE@example.com,Carol,\n\
         dave,dave@example.com,Dave,staff;ops\n",
    );
    let out = server.run(&["user", "import", &bad, "--dry-run"], None);
    assert_eq!(out.status.code(), Some(1), "a dry run with refused rows exits 1");
    let listed = String::from_utf8(out.stdout).unwrap();
    assert!(listed.contains("line 2 bob: create"), "{listed}");
    assert!(listed.contains("line 3 carol: refused: e-mail ALICE@example.com is already alice's"), "{listed}");
    assert!(listed.contains("line 4 dave: create"), "{listed}");
    assert!(listed.contains("new groups: staff, ops"), "{listed}");
    let refused = server.refused(&["user", "import", &bad]);
    assert!(refused.contains("nothing was imported: line 3 (carol)"), "{refused}");
    assert_eq!(users(&server), before, "neither the dry run nor the refused file changed anything");
    assert!(server.refused(&["group", "add-member", "staff", "alice"]).contains("staff"), "no group was created");

    let good = write(
        "good.csv",
        "username,email,first_name,groups\n\
         alice,alice@example.com,Alice,staff\n\
         bob,bob@example.com,Bob,staff\n\
         carol,carol@example.com,\"Carol, PhD\",ops;staff\n",
    );
    let report: serde_json::Value =
        serde_json::from_str(&server.ok(&["user", "import", &good, "--json"], None)).unwrap();
    assert_eq!(report["applied"], true);
    assert_eq!((report["created"].as_u64(), report["updated"].as_u64()), (Some(2), Some(1)));
    let exported = users(&server);
    let rows = exported.lines().collect::<Vec<_>>();
    assert!(rows[0].starts_with("username,email,first_name,last_name,"), "{exported}");
    assert!(rows[0].ends_with(",groups"), "{exported}");
    assert!(rows.iter().any(|r| r.starts_with("alice,alice@example.com,Alice,,,Sales,") && r.ends_with(",staff")));
    assert!(rows.iter().any(|r| r.starts_with("carol,carol@example.com,\"Carol, PhD\",") && r.ends_with(",ops;staff")));

    // What it exports, it imports again unchanged.
    let again = write("again.csv", &exported);
    let report: serde_json::Value =
        serde_json::from_str(&server.ok(&["user", "import", &again, "--json"], None)).unwrap();
    assert_eq!((report["unchanged"].as_u64(), report["updated"].as_u64()), (Some(3), Some(0)));
    assert_eq!(users(&server), exported);

    let events = server.ok(&["events", "--name", "admin_user_create", "--json"], None);
    assert_eq!(events.lines().filter(|l| l.contains("CSV import")).count(), 2);
}

/// 10,000 rows go in one transaction (the benchmark measures how long it takes).
#[test]
fn ten_thousand_rows_import_at_once() {
    let server = start();
    let mut text = String::from("username,email,department,groups\n");
    for i in 0..10_000 {
        text.push_str(&format!("user{i:05},user{i:05}@example.com,Dept {},everyone\n", i % 40));
    }
    let path = server.dir.path().join("big.csv");
    std::fs::write(&path, text).unwrap();
    let report: serde_json::Value =
        serde_json::from_str(&server.ok(&["user", "import", path.to_str().unwrap(), "--json"], None)).unwrap();
    assert_eq!(report["created"].as_u64(), Some(10_000));
    let exported = server.ok(&["user", "export"], None);
    assert_eq!(exported.lines().count(), 10_001);
    assert!(exported.lines().skip(1).all(|l| l.ends_with(",everyone")));
}

/// A metadata host on 127.0.0.1 that serves whatever document it was last given (one request per connection).
struct MetadataHost {
    url: String,
    document: std::sync::Arc<std::sync::Mutex<String>>,
}

impl MetadataHost {
    fn start(document: String) -> Self {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/md", listener.local_addr().unwrap());
        let document = std::sync::Arc::new(std::sync::Mutex::new(document));
        let served = document.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut request = Vec::new();
                let mut buf = [0_u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let body = served.lock().unwrap().clone();
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/samlmetadata+xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes()).and_then(|()| stream.write_all(body.as_bytes()));
            }
        });
        Self { url, document }
    }

    fn set(&self, document: String) {
        *self.document.lock().unwrap() = document;
    }
}

/// Assertion redirection through metadata, decided from the command line: a refresh that moves the ACS URLs to a
/// new host is held; `app show` lists the held URLs (text and `--json`), `app metadata approve` applies them and
/// `app metadata reject` drops them; with nothing held both are refused (exit 1, one line).
#[test]
fn a_held_acs_change_is_shown_approved_and_rejected() {
    let server = start();
    let host = MetadataHost::start(sp_metadata());
    server.ok(&["app", "import", "web", "--metadata", &host.url], None);
    server.refused(&["app", "metadata", "approve", "web"]);
    server.refused(&["app", "metadata", "reject", "web"]);
    server.refused(&["app", "metadata", "approve", "nope"]);

    const MOVED: &str = "https://moved.example.net/acs";
    host.set(sp_metadata().replace("https://sp.example.com/acs", MOVED));
    let refreshed = server.ok(&["app", "refresh-metadata", "web"], None);
    assert!(refreshed.contains("held"), "{refreshed}");
    let text = server.ok(&["app", "show", "web"], None);
    let held = text.lines().find(|l| l.starts_with("held_acs ")).unwrap_or_default();
    assert!(held.contains(MOVED) && held.contains("sesame app metadata approve|reject web"), "{text}");
    let shown: serde_json::Value = serde_json::from_str(&server.ok(&["app", "show", "web", "--json"], None)).unwrap();
    assert_eq!(shown["sp_metadata_source"]["held_acs"], serde_json::json!([MOVED]));
    assert_eq!(shown["acs_urls"], serde_json::json!(["https://sp.example.com/acs"]), "held, not applied");

    let approved = server.ok(&["app", "metadata", "approve", "web"], None);
    assert!(approved.contains(MOVED), "{approved}");
    let shown: serde_json::Value = serde_json::from_str(&server.ok(&["app", "show", "web", "--json"], None)).unwrap();
    assert_eq!(shown["acs_urls"], serde_json::json!([MOVED]));
    assert_eq!(shown["sp_metadata_source"]["held_acs"], serde_json::json!([]));
    assert!(!server.ok(&["app", "show", "web"], None).contains("held_acs"));
    server.refused(&["app", "metadata", "approve", "web"]);

    host.set(sp_metadata().replace("https://sp.example.com/acs", "https://elsewhere.example.net/acs"));
    server.ok(&["app", "refresh-metadata", "web"], None);
    server.ok(&["app", "metadata", "reject", "web"], None);
    let shown: serde_json::Value = serde_json::from_str(&server.ok(&["app", "show", "web", "--json"], None)).unwrap();
    assert_eq!(shown["acs_urls"], serde_json::json!([MOVED]), "rejected: the approved URL stays");
    assert_eq!(shown["sp_metadata_source"]["held_acs"], serde_json::json!([]));
    server.refused(&["app", "metadata", "reject", "web"]);
}

/// A portal tile logo uploaded over the running server's API (the raw image as the body) is what `app show` then
/// lists; an SVG sent as a PNG is refused and changes nothing.
#[test]
fn app_show_lists_a_logo_uploaded_through_the_api() {
    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";
    let server = start();
    let metadata = server.dir.path().join("sp.xml");
    std::fs::write(&metadata, sp_metadata()).unwrap();
    server.ok(&["app", "import", "demo", "--metadata", metadata.to_str().unwrap()], None);
    let token = server.ok(&["api-token", "create", "uploader"], None).trim().to_owned();
    let url = format!("{}/api/v1/applications/demo/logo", server.base);
    let put = |body: &[u8]| -> u16 {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let request = reqwest::Client::new().put(&url).bearer_auth(&token).header("content-type", "image/png");
            request.body(body.to_vec()).send().await.unwrap().status().as_u16()
        })
    };
    assert_eq!(put(b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>"), 422);
    let shown: serde_json::Value = serde_json::from_str(&server.ok(&["app", "show", "demo", "--json"], None)).unwrap();
    assert!(shown["logo"].is_null(), "{shown}");
    assert_eq!(put(PNG), 200);
    let shown: serde_json::Value = serde_json::from_str(&server.ok(&["app", "show", "demo", "--json"], None)).unwrap();
    assert_eq!(shown["logo"]["media_type"], "image/png");
    assert_eq!(shown["logo"]["size"], PNG.len());
    let path = shown["logo"]["url"].as_str().unwrap().to_owned();
    assert!(path.starts_with("/logos/demo?v="), "{path}");
    assert!(server
        .ok(&["app", "show", "demo"], None)
        .contains(&format!("logo             image/png, {} bytes, {path}", PNG.len())));
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let served = runtime.block_on(async { reqwest::get(format!("{}{path}", server.base)).await.unwrap() });
    assert_eq!(served.headers()["content-type"], "image/png");
    assert_eq!(served.headers()["x-content-type-options"], "nosniff");
    assert_eq!(runtime.block_on(served.bytes()).unwrap().as_ref(), PNG);
}

/// `sesame user mfa list USERNAME [--json]` and `sesame user mfa reset USERNAME`: a user without factors lists
/// none, a reset is recorded with the CLI as its actor and asks for enrolment; an unknown user is refused.
#[test]
fn user_mfa_list_and_reset() {
    let server = start();
    server.ok(&["user", "add", "dora", "--email", "dora@example.com"], None);
    assert_eq!(server.ok(&["user", "mfa", "list", "dora", "--json"], None), "");
    assert_eq!(server.ok(&["user", "mfa", "list", "dora"], None), "");
    let reset = server.ok(&["user", "mfa", "reset", "dora"], None);
    assert!(reset.starts_with("reset the second factors of dora"), "{reset}");
    assert!(server.refused(&["user", "mfa", "reset", "nobody"]).contains("does not exist"));
    assert!(server.refused(&["user", "mfa", "list", "nobody"]).contains("does not exist"));
    let events = server.ok(&["events", "--json", "--name", "user_mfa_reset"], None);
    let event: serde_json::Value = serde_json::from_str(events.lines().next().unwrap()).unwrap();
    assert_eq!((event["name"].as_str(), event["target"].as_str()), (Some("user_mfa_reset"), Some("dora")));

    // An application's require_mfa, from its settings file, in `app show`.
    let metadata = server.dir.path().join("mfa-sp.xml");
    std::fs::write(&metadata, sp_metadata()).unwrap();
    let settings = server.dir.path().join("mfa-sp.toml");
    std::fs::write(&settings, "require_mfa = true\n").unwrap();
    let (metadata, settings) = (metadata.to_str().unwrap(), settings.to_str().unwrap());
    server.ok(&["app", "import", "strict", "--metadata", metadata, "--settings", settings], None);
    let shown: serde_json::Value =
        serde_json::from_str(&server.ok(&["app", "show", "strict", "--json"], None)).unwrap();
    assert_eq!(shown["require_mfa"], true);
    assert!(server.ok(&["app", "show", "strict"], None).contains("second_factor    required"));
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
