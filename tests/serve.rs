//! `sesame serve` as a process: it waits for a database that is not up yet, gives up with a clear message when
//! it never comes, delivers provisioning jobs, and on SIGTERM finishes the requests in flight before it exits.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::scim::{ScimPeer, TOKEN};
use common::serve::{free_port, Serve};

/// A deploy that starts sesame before its database must not crash-loop silently: it says what it waits for,
/// without the password, and then why it gave up.
#[test]
fn gives_up_on_an_unreachable_database_after_the_wait_with_a_clear_message() {
    let port = free_port(); // nothing listens there
    let url = format!("postgres://sesame:s3cret-pw@127.0.0.1:{port}/sesame");
    let started = Instant::now();
    let mut server = Serve::spawn(&[("SESAME_DATABASE_URL", &url), ("SESAME_DATABASE_WAIT_SECS", "2")]);
    let status = server.wait_exit(Duration::from_secs(30));
    let log = server.log();
    assert_eq!(status.code(), Some(1), "{log}");
    assert!(started.elapsed() >= Duration::from_secs(2), "it waited: {log}");
    let masked = format!("postgres://sesame:****@127.0.0.1:{port}/sesame");
    let waiting = log.lines().filter(|l| l.contains(&format!("waiting for the database at {masked}: "))).count();
    assert!(waiting >= 2, "one line per attempt: {log}");
    assert!(log.contains("Connection refused"), "the reason is given: {log}");
    let last = log.lines().last().unwrap_or_default();
    assert!(last.starts_with("sesame: cannot open database") && last.contains("gave up after 2s"), "{log}");
    assert!(!log.contains("s3cret-pw"), "the password never reaches the log: {log}");
}

/// A wrong password is not something waiting fixes: serve fails at once.
#[test]
fn fails_at_once_when_the_database_refuses_for_good() {
    let Some(server_url) = common::postgres_server() else {
        eprintln!("skipped here: needs SESAME_TEST_DATABASE_URL (make test runs it on PostgreSQL)");
        return;
    };
    let mut url = url::Url::parse(&server_url).unwrap();
    url.set_password(Some("not-the-password")).unwrap();
    let started = Instant::now();
    let mut server = Serve::spawn(&[("SESAME_DATABASE_URL", url.as_str()), ("SESAME_DATABASE_WAIT_SECS", "60")]);
    let status = server.wait_exit(Duration::from_secs(20));
    let log = server.log();
    assert_eq!(status.code(), Some(1), "{log}");
    assert!(started.elapsed() < Duration::from_secs(20));
    assert!(!log.contains("waiting for the database"), "{log}");
    assert!(log.contains("password authentication failed"), "{log}");
}

/// PostgreSQL that comes up after sesame (both started by the same deploy): serve waits, then serves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waits_for_a_database_that_comes_up_later() {
    let Some(server_url) = common::postgres_server() else {
        eprintln!("skipped here: needs SESAME_TEST_DATABASE_URL (make test runs it on PostgreSQL)");
        return;
    };
    let database = url::Url::parse(&common::create_database(&server_url).await).unwrap();
    let upstream = format!("{}:{}", database.host_str().unwrap(), database.port().unwrap());
    // The "database" port refuses connections until the test opens it, then forwards to the real server.
    let gate = free_port();
    let mut behind_gate = database.clone();
    behind_gate.set_port(Some(gate)).unwrap();
    let server = Serve::spawn(&[("SESAME_DATABASE_URL", behind_gate.as_str()), ("SESAME_DATABASE_WAIT_SECS", "60")]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !server.log().contains("waiting for the database") {
        assert!(Instant::now() < deadline, "no waiting line: {}", server.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", gate)).await.unwrap();
    let proxy = tokio::spawn(async move {
        loop {
            let (mut inbound, _) = listener.accept().await.unwrap();
            let upstream = upstream.clone();
            tokio::spawn(async move {
                let mut outbound = tokio::net::TcpStream::connect(upstream).await.unwrap();
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
            });
        }
    });
    let base = server.base.clone();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(reply) = reqwest::get(format!("{base}/healthz")).await {
            if reply.status() == 200 {
                break;
            }
        }
        assert!(Instant::now() < deadline, "not healthy: {}", server.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    proxy.abort();
}

/// A rolling restart must not cut a sign-in in half: a request already being handled when SIGTERM arrives gets
/// its answer, and then the process exits 0 after closing its database connections.
#[test]
fn sigterm_lets_the_request_in_flight_finish_then_exits_cleanly() {
    // tower_http's trace layer logs each request as its handling starts, which tells the test when to signal.
    let mut server = Serve::spawn(&[("SESAME_LOG", "info,tower_http=debug")]);
    server.wait_listening(Duration::from_secs(30));
    // A request whose body is still on its way: the handler is running and waiting for it.
    let body = "username=alice&password=x";
    let mut stream = TcpStream::connect(&server.bind).unwrap();
    write!(
        stream,
        "POST /login HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        server.bind,
        body.len()
    )
    .unwrap();
    stream.flush().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !server.log().contains("started processing request") {
        assert!(Instant::now() < deadline, "the request did not start: {}", server.log());
        std::thread::sleep(Duration::from_millis(20));
    }
    server.terminate();
    while !server.log().contains("shutting down") {
        assert!(Instant::now() < deadline, "SIGTERM not seen: {}", server.log());
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(server.child.try_wait().unwrap().is_none(), "it waits for the request in flight");
    stream.write_all(body.as_bytes()).unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 "), "the request got its answer: {reply:?}");
    assert!(!reply.starts_with("HTTP/1.1 5"), "{reply}");
    let status = server.wait_exit(Duration::from_secs(20));
    assert!(status.success(), "{}", server.log());
    assert!(server.log().contains("stopped"), "{}", server.log());
    assert!(TcpStream::connect(&server.bind).is_err(), "no longer listening");
}

/// The jobs a directory change enqueues are delivered by `serve` itself (its provisioning workers), with nothing
/// else running: an admin command on another process changes the directory, the server's workers push it to the
/// SP, and SIGTERM still stops the server cleanly.
#[test]
fn serve_delivers_the_provisioning_jobs_of_admin_commands() {
    // Synchronous: Serve::spawn creates the PostgreSQL database on a runtime of its own.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let scim = ScimPeer::start();
    let mut server = Serve::spawn(&[("SESAME_SCIM_ALLOW_PRIVATE_TARGETS", "true")]);
    server.wait_listening(Duration::from_secs(30));
    let cli = |args: &[&str], stdin: Option<&str>| {
        let out = server.run(args, stdin);
        assert!(out.status.success(), "sesame {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    cli(&["app", "create", "onetrust", "--connector", "onetrust", "--set", "YOUR_SUBDOMAIN=acme"], None);
    cli(&["group", "add", "staff"], None);
    cli(&["app", "bind", "onetrust", "staff"], None);
    let base_url = scim.base_url();
    cli(
        &["app", "idm", "activate", "onetrust", "--base-url", &base_url, "--token-stdin", "--manage-groups"],
        Some(TOKEN),
    );
    cli(&["user", "add", "alice", "--email", "alice@example.com", "--first-name", "Alice"], None);
    cli(&["group", "add-member", "staff", "alice"], None);
    let deadline = Instant::now() + Duration::from_secs(30);
    while runtime.block_on(scim.member_names_if_any("staff")) != ["alice@example.com"] {
        assert!(Instant::now() < deadline, "not provisioned by serve: {}", server.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(runtime.block_on(scim.user("alice@example.com")).is_some());
    server.terminate();
    let status = server.wait_exit(Duration::from_secs(30));
    assert!(status.success(), "{}", server.log());
}

/// A TCP gate in front of the test PostgreSQL: `open` forwards connections to it, `close` refuses new ones and
/// cuts every forwarded one, as a stopped server does.
struct Gate {
    port: u16,
    upstream: String,
    tasks: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Gate {
    fn open(&self) {
        let std_listener = std::net::TcpListener::bind(("127.0.0.1", self.port)).unwrap();
        std_listener.set_nonblocking(true).unwrap();
        let listener = tokio::net::TcpListener::from_std(std_listener).unwrap();
        let upstream = self.upstream.clone();
        let tasks = self.tasks.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let upstream = upstream.clone();
                let forward = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                tasks.lock().unwrap().push(forward);
            }
        });
        self.tasks.lock().unwrap().push(accept);
    }

    fn close(&self) {
        for task in self.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
    }
}

/// A database outage must not hang every browser: with PostgreSQL gone under a running server, `/login` waited
/// for the 30-second request timeout and ended in a 408. Now the pool gives up within seconds and the page says
/// the service is briefly unavailable (503), for SAML endpoints too; once the database is back, pages work again
/// at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_answers_503_at_once_and_recovers() {
    let Some(server_url) = common::postgres_server() else {
        eprintln!("skipped here: needs SESAME_TEST_DATABASE_URL (make test runs it on PostgreSQL)");
        return;
    };
    let database = url::Url::parse(&common::create_database(&server_url).await).unwrap();
    let gate = Gate {
        port: free_port(),
        upstream: format!("{}:{}", database.host_str().unwrap(), database.port().unwrap()),
        tasks: Default::default(),
    };
    gate.open();
    let mut behind_gate = database.clone();
    behind_gate.set_port(Some(gate.port)).unwrap();
    let server = Serve::spawn(&[("SESAME_DATABASE_URL", behind_gate.as_str())]);
    let base = server.base.clone();
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !client.get(format!("{base}/healthz")).send().await.is_ok_and(|r| r.status() == 200) {
        assert!(Instant::now() < deadline, "not healthy: {}", server.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let login = client.get(format!("{base}/login")).send().await.unwrap();
    assert_eq!(login.status(), 200);
    let cookie = login.headers().get("set-cookie").unwrap().to_str().unwrap().split(';').next().unwrap().to_owned();

    gate.close();
    for (path, cookie) in [
        ("/login", None),
        ("/login", Some(cookie.as_str())),
        ("/saml2/crm?SAMLRequest=x", None),
        ("/admin/login", None),
    ] {
        let started = Instant::now();
        let mut request = client.get(format!("{base}{path}")).timeout(Duration::from_secs(25));
        if let Some(c) = cookie {
            request = request.header("cookie", c);
        }
        let reply = request.send().await.unwrap();
        let elapsed = started.elapsed();
        let status = reply.status();
        let body = reply.text().await.unwrap();
        assert_eq!(status, 503, "{path} {cookie:?}: {body}\n{}", server.log());
        assert!(body.contains("briefly unavailable"), "{path}: {body}");
        assert!(elapsed < Duration::from_secs(10), "{path} took {elapsed:?}");
    }
    assert!(!server.log().contains("panicked"), "{}", server.log());

    gate.open();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let reply = client.get(format!("{base}/login")).send().await.unwrap();
        if reply.status() == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "no recovery: {}", server.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    gate.close();
}

/// Start-up prints nothing alarming: the self-test's tampered document fails verification on purpose, and
/// libxmlsec's message about it goes to tracing at debug level, not to stderr as a `func=xmlSec…` line.
#[test]
fn the_self_tests_expected_verification_failure_does_not_reach_stderr() {
    let server = Serve::start();
    assert!(!server.log().contains("func=xmlSec"), "{}", server.log());
    drop(server);

    let debug = Serve::spawn(&[("SESAME_LOG", "info,sesame::saml::xmlsec_errors=debug")]);
    debug.wait_listening(Duration::from_secs(30));
    let log = debug.log();
    assert!(!log.contains("func=xmlSec"), "{log}");
    assert!(log.contains("xmlsec: data and digest do not match"), "the message is in tracing at debug level: {log}");
}
