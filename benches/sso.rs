//! SSO throughput: complete SAML round trips over loopback against a real `sesame serve`, with an IdP session
//! that is already signed in, compared with the machine's raw RSA-2048 signing rate (`openssl speed`).
//!
//! Run with `cargo bench --bench sso`. `SESAME_BENCH_SECS` sets the measured seconds per row (default 5, after a
//! 1 s warm-up). Rows: each flow (SP-initiated HTTP-Redirect with fresh request IDs, IdP-initiated launch) × each
//! signing mode (the default "assertion", and "both") × concurrency 1, 2, 4 and 8 (tokio tasks sharing one
//! keep-alive HTTP client). "cores" is the server's CPU time (utime + stime from /proc) over the measured wall
//! time; "sig/s/core" is responses/s × signatures per response ÷ cores; "ratio" compares that with
//! `openssl speed rsa2048` sign/s on one core. "client" is this benchmark process's own CPU use, which competes
//! with the server on small machines.

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use base64::Engine;
use reqwest::header::{CONTENT_TYPE, COOKIE, SET_COOKIE};
use reqwest::StatusCode;

const CONCURRENCY: [usize; 4] = [1, 2, 4, 8];
const WARM_UP: Duration = Duration::from_secs(1);
const DEFAULT_SECS: u64 = 5;
const USERNAME: &str = "alice";
const PASSWORD: &str = "bench-password-0123456789";
const ACS_URL: &str = "https://sp.bench.example/acs";
const SESSION_COOKIE: &str = "sesame_session";
/// Errors printed in full per row; the rest are only counted.
const ERRORS_SHOWN: usize = 3;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Flow {
    SpInitiated,
    IdpInitiated,
}

impl Flow {
    fn label(self) -> &'static str {
        match self {
            Self::SpInitiated => "sp-redirect",
            Self::IdpInitiated => "idp-initiated",
        }
    }
}

#[derive(Clone, Copy)]
struct Mode {
    /// The `signing` setting; "assertion" is the default and is left out of the settings file.
    signing: &'static str,
    app: &'static str,
    signatures: u32,
}

const MODES: [Mode; 2] = [
    Mode { signing: "assertion", app: "bench-assertion", signatures: 1 },
    Mode { signing: "both", app: "bench-both", signatures: 2 },
];

#[tokio::main]
async fn main() -> Result<()> {
    let secs = match std::env::var("SESAME_BENCH_SECS") {
        Ok(v) => v.trim().parse::<u64>().context("SESAME_BENCH_SECS must be a whole number of seconds")?.max(1),
        Err(_) => DEFAULT_SECS,
    };
    let measure = Duration::from_secs(secs);
    let clock_ticks = clock_ticks_per_second();

    let raw = openssl_sign_rate().context("openssl speed")?;
    println!("sesame SSO benchmark");
    println!("machine: {} cpus, {}", cpu_count(), cpu_model());
    println!("openssl speed -seconds 3 rsa2048: {raw:.1} sign/s (one core)");
    println!(
        "measured {secs} s per row after {} s warm-up; rows need status 200 and a SAMLResponse",
        WARM_UP.as_secs()
    );

    // The signing path alone, in this process on one thread: what samael's re-parse-the-key path reached 0.3 of.
    for mode in MODES {
        let per_sec = signing_path_rate(mode.signing, measure)?;
        let ratio = per_sec * f64::from(mode.signatures) / raw;
        println!("signing path, {:<9} one thread: {per_sec:>7.1} responses/s = {ratio:.2} of raw", mode.signing);
    }

    let server = Server::start().await?;
    let base = server.base_url.clone();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(64)
        .tcp_nodelay(true)
        .build()?;
    let cookie = login(&client, &base).await.context("signing in")?;

    // Fail fast if a flow does not work at all, before spending minutes on it.
    for mode in MODES {
        for flow in [Flow::SpInitiated, Flow::IdpInitiated] {
            round_trip(&client, &base, &cookie, mode.app, flow)
                .await
                .with_context(|| format!("first {} round trip for {}", flow.label(), mode.app))?;
        }
    }

    println!();
    println!(
        "{:<14} {:<10} {:>4} {:>9} {:>8} {:>8} {:>7} {:>6} {:>11} {:>6} {:>7}",
        "flow", "mode", "conc", "resp/s", "p50 ms", "p99 ms", "errors", "cores", "sig/s/core", "ratio", "client"
    );
    let mut best = [0.0_f64; MODES.len()];
    for (m, mode) in MODES.iter().enumerate() {
        for flow in [Flow::SpInitiated, Flow::IdpInitiated] {
            for &conc in &CONCURRENCY {
                let row = run_row(&client, &base, &cookie, *mode, flow, conc, measure, server.pid, clock_ticks).await?;
                let sig_per_core =
                    if row.cores > 0.0 { row.per_sec * f64::from(mode.signatures) / row.cores } else { 0.0 };
                let ratio = if raw > 0.0 { sig_per_core / raw } else { 0.0 };
                if let Some(b) = best.get_mut(m) {
                    *b = b.max(ratio);
                }
                println!(
                    "{:<14} {:<10} {:>4} {:>9.1} {:>8.2} {:>8.2} {:>7} {:>6.2} {:>11.1} {:>6.2} {:>7.2}",
                    flow.label(),
                    mode.signing,
                    conc,
                    row.per_sec,
                    row.p50_ms,
                    row.p99_ms,
                    row.errors,
                    row.cores,
                    sig_per_core,
                    ratio,
                    row.client_cores,
                );
                for e in &row.error_samples {
                    println!("    error: {e}");
                }
            }
        }
    }
    let mut summary = String::from("best ratio to openssl per core:");
    for (mode, b) in MODES.iter().zip(best) {
        let _ = write!(summary, " {}={b:.2}", mode.signing);
    }
    println!();
    println!("{summary} (target 0.8)");

    // Bulk import (issue 15: "10,000 rows import in seconds"), against the same server's database while it runs,
    // with adding users one `sesame user add` at a time as the baseline of the same run.
    const ONE_BY_ONE: usize = 50;
    const ROWS: usize = 10_000;
    let started = Instant::now();
    for i in 0..ONE_BY_ONE {
        let (name, email) = (format!("single{i:03}"), format!("single{i:03}@example.com"));
        server.cli(&["user", "add", &name, "--email", &email], None)?;
    }
    let single_per_sec = ONE_BY_ONE as f64 / started.elapsed().as_secs_f64();
    let mut csv = String::from("username,email,first_name,last_name,department,groups\n");
    for i in 0..ROWS {
        let _ = writeln!(csv, "user{i:05},user{i:05}@example.com,First{i},Last{i},Dept {},staff;everyone", i % 40);
    }
    let file = server.dir.path().join("users.csv");
    std::fs::write(&file, csv)?;
    let started = Instant::now();
    server.cli(&["user", "import", &path_str(&file)], None)?;
    let took = started.elapsed().as_secs_f64();
    let per_sec = ROWS as f64 / took;
    println!(
        "csv import: {ROWS} users in one transaction in {took:.2} s = {per_sec:.0} users/s; one `user add` at a time: \
         {single_per_sec:.1} users/s; ratio {:.0}",
        per_sec / single_per_sec
    );

    drop(client);
    drop(server);
    Ok(())
}

/// Builds and signs complete responses (three attributes) for `duration` and returns responses per second.
fn signing_path_rate(signing: &str, duration: Duration) -> Result<f64> {
    use sesame::saml::response::{build_response, Assertion, Attribute, NameId};
    let mode = sesame::saml::SigningMode::parse(signing).context("signing mode")?;
    let now = chrono::Utc::now();
    let key = sesame::saml::keys::SigningKey::generate("bench", now, 1)?;
    let name_id = NameId {
        value: "alice@example.com".into(),
        format: sesame::saml::NameIdFormat::Email.urn().into(),
        name_qualifier: None,
        sp_name_qualifier: None,
    };
    let attributes: Vec<Attribute> = ["mail", "displayName", "memberOf"]
        .iter()
        .map(|n| Attribute {
            name: (*n).into(),
            name_format: sesame::saml::response::name_format::BASIC.into(),
            friendly_name: None,
            values: vec!["alice@example.com".into()],
        })
        .collect();
    let start = Instant::now();
    let mut n = 0_u64;
    while start.elapsed() < duration {
        let response_id = sesame::saml::new_id();
        let assertion_id = sesame::saml::new_id();
        let a = Assertion {
            response_id: &response_id,
            assertion_id: &assertion_id,
            issue_instant: now,
            issuer: "https://idp.example.com/saml2/bench",
            destination: "https://sp.bench.example/acs",
            in_response_to: Some("_request"),
            audience: "https://sp.bench.example/metadata",
            name_id: &name_id,
            not_before: now,
            not_on_or_after: now,
            authn_instant: now,
            session_index: "_session",
            session_not_on_or_after: now,
            authn_context_class: "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport",
            attributes: &attributes,
        };
        std::hint::black_box(build_response(&a, mode, &key)?);
        n += 1;
    }
    Ok(n as f64 / start.elapsed().as_secs_f64())
}

/// One measured row.
struct Row {
    per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
    errors: u64,
    error_samples: Vec<String>,
    cores: f64,
    client_cores: f64,
}

/// What one worker task saw.
#[derive(Default)]
struct Tally {
    latencies: Vec<Duration>,
    errors: u64,
    error_samples: Vec<String>,
}

#[allow(clippy::too_many_arguments)]
async fn run_row(
    client: &reqwest::Client,
    base: &str,
    cookie: &str,
    mode: Mode,
    flow: Flow,
    conc: usize,
    measure: Duration,
    server_pid: u32,
    clock_ticks: f64,
) -> Result<Row> {
    let start = Instant::now();
    let measure_from = start + WARM_UP;
    let measure_until = measure_from + measure;
    let cpu_before = tokio::spawn(async move {
        tokio::time::sleep_until(measure_from.into()).await;
        (Instant::now(), cpu_ticks(server_pid), cpu_ticks_self())
    });

    let mut tasks = Vec::with_capacity(conc);
    for _ in 0..conc {
        let client = client.clone();
        let base = base.to_owned();
        let cookie = cookie.to_owned();
        tasks.push(tokio::spawn(async move {
            let mut tally = Tally::default();
            loop {
                let began = Instant::now();
                if began >= measure_until {
                    break;
                }
                let outcome = round_trip(&client, &base, &cookie, mode.app, flow).await;
                if began < measure_from {
                    continue;
                }
                match outcome {
                    Ok(()) => tally.latencies.push(began.elapsed()),
                    Err(e) => {
                        tally.errors += 1;
                        if tally.error_samples.len() < ERRORS_SHOWN {
                            tally.error_samples.push(format!("{e:#}"));
                        }
                    }
                }
            }
            tally
        }));
    }
    let mut all = Tally::default();
    for task in tasks {
        let t = task.await?;
        all.latencies.extend(t.latencies);
        all.errors += t.errors;
        all.error_samples.extend(t.error_samples);
    }
    // Requests started before `measure_until` may end after it; the window ends when the last one does.
    let ended = Instant::now();
    let (cpu_after, self_after) = (cpu_ticks(server_pid)?, cpu_ticks_self()?);
    let (began, cpu_before, self_before) = cpu_before.await?;
    let (cpu_before, self_before) = (cpu_before?, self_before?);
    let wall = ended.duration_since(began).as_secs_f64();
    all.latencies.sort_unstable();
    all.error_samples.truncate(ERRORS_SHOWN);
    let seconds = |ticks: u64| ticks as f64 / clock_ticks / wall;
    Ok(Row {
        per_sec: all.latencies.len() as f64 / wall,
        p50_ms: percentile_ms(&all.latencies, 0.50),
        p99_ms: percentile_ms(&all.latencies, 0.99),
        errors: all.errors,
        error_samples: all.error_samples,
        cores: seconds(cpu_after.saturating_sub(cpu_before)),
        client_cores: seconds(self_after.saturating_sub(self_before)),
    })
}

/// One complete round trip; `Ok` only for status 200 with a SAMLResponse form.
async fn round_trip(client: &reqwest::Client, base: &str, cookie: &str, app: &str, flow: Flow) -> Result<()> {
    let url = match flow {
        Flow::IdpInitiated => format!("{base}/saml2/{app}"),
        Flow::SpInitiated => {
            let query = authn_request_query(base, app)?;
            format!("{base}/saml2/{app}?{query}")
        }
    };
    let response = client.get(&url).header(COOKIE, cookie).send().await?;
    let status = response.status();
    let body = response.text().await?;
    if status != StatusCode::OK || !body.contains("name=\"SAMLResponse\"") {
        let snippet: String = body.chars().filter(|c| !c.is_control()).take(200).collect();
        bail!("{} {status}: {snippet}", flow.label());
    }
    Ok(())
}

/// `SAMLRequest=...` for the HTTP-Redirect binding: a fresh ID, raw DEFLATE, base64, URL-encoded.
fn authn_request_query(base: &str, app: &str) -> Result<String> {
    let id: [u8; 16] = rand::random();
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let xml = format!(
        "<samlp:AuthnRequest xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" \
         xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" ID=\"_{}\" Version=\"2.0\" IssueInstant=\"{now}\" \
         Destination=\"{base}/saml2/{app}\" AssertionConsumerServiceURL=\"{ACS_URL}\">\
         <saml:Issuer>{}</saml:Issuer></samlp:AuthnRequest>",
        hex::encode(id),
        entity_id(app),
    );
    let mut deflater = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    deflater.write_all(xml.as_bytes())?;
    let encoded = base64::engine::general_purpose::STANDARD.encode(deflater.finish()?);
    let escaped: String = url::form_urlencoded::byte_serialize(encoded.as_bytes()).collect();
    Ok(format!("SAMLRequest={escaped}"))
}

fn entity_id(app: &str) -> String {
    format!("https://sp.bench.example/{app}")
}

/// Signs in once: the GET sets the pre-login session cookie the CSRF token is tied to, the POST a new one.
async fn login(client: &reqwest::Client, base: &str) -> Result<String> {
    let page = client.get(format!("{base}/login")).send().await?;
    let first = session_cookie(page.headers()).ok_or_else(|| anyhow!("GET /login set no session cookie"))?;
    let html = page.text().await?;
    let csrf = hidden_value(&html, "csrf_token").ok_or_else(|| anyhow!("no csrf_token on the login page"))?;
    let body: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("csrf_token", &csrf)
        .append_pair("username", USERNAME)
        .append_pair("password", PASSWORD)
        .append_pair("continue", "/")
        .finish();
    let done = client
        .post(format!("{base}/login"))
        .header(COOKIE, &first)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await?;
    let status = done.status();
    if !status.is_redirection() {
        let text = done.text().await.unwrap_or_default();
        bail!("POST /login answered {status}: {}", text.chars().take(300).collect::<String>());
    }
    Ok(session_cookie(done.headers()).unwrap_or(first))
}

/// `name=value` of the session cookie set by a response, ready for a `Cookie` header.
fn session_cookie(headers: &reqwest::header::HeaderMap) -> Option<String> {
    headers.get_all(SET_COOKIE).iter().filter_map(|v| v.to_str().ok()).find_map(|v| {
        let pair = v.split(';').next()?.trim();
        pair.strip_prefix(SESSION_COOKIE)?.strip_prefix('=').map(|_| pair.to_owned())
    })
}

/// The value of `<input ... name="NAME" value="...">`.
fn hidden_value(html: &str, name: &str) -> Option<String> {
    let at = html.find(&format!("name=\"{name}\""))?;
    let rest = html.get(at..)?;
    let value = rest.get(rest.find("value=\"")? + "value=\"".len()..)?;
    Some(value.get(..value.find('"')?)?.to_owned())
}

fn percentile_ms(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len());
    sorted.get(rank - 1).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

/// The server process with its temporary directories; stopped with SIGTERM when dropped.
struct Server {
    child: Option<Child>,
    pid: u32,
    base_url: String,
    env: Vec<(String, String)>,
    log: PathBuf,
    // Dropped after the child is stopped (fields drop after `Drop::drop`).
    dir: tempfile::TempDir,
}

impl Server {
    async fn start() -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let base_url = format!("http://127.0.0.1:{port}");
        let sub = |name: &str| -> Result<String> {
            let path = dir.path().join(name);
            std::fs::create_dir_all(&path)?;
            Ok(path.to_string_lossy().into_owned())
        };
        let env = vec![
            ("SESAME_BIND".to_owned(), format!("127.0.0.1:{port}")),
            ("SESAME_BASE_URL".to_owned(), base_url.clone()),
            ("SESAME_DATA_DIR".to_owned(), sub("data")?),
            ("SESAME_CERTS_DIR".to_owned(), sub("certs")?),
            ("SESAME_SP_METADATA_DIR".to_owned(), sub("sp-metadata")?),
        ];
        let log = dir.path().join("server.log");
        let log_file = std::fs::File::create(&log)?;
        let mut command = Command::new(env!("CARGO_BIN_EXE_sesame"));
        command.arg("serve").stdin(Stdio::null()).stdout(log_file.try_clone()?).stderr(log_file);
        for (k, v) in &env {
            command.env(k, v);
        }
        let child = command.spawn().context("starting sesame serve")?;
        let pid = child.id();
        let mut server = Self { child: Some(child), pid, base_url, env, log, dir };
        server.wait_healthy().await?;
        server.provision()?;
        Ok(server)
    }

    async fn wait_healthy(&mut self) -> Result<()> {
        let client = reqwest::Client::builder().timeout(Duration::from_secs(2)).build()?;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Some(status) = child.try_wait()? {
                    bail!("sesame serve exited with {status}:\n{}", self.log_tail());
                }
            }
            if let Ok(r) = client.get(format!("{}/healthz", self.base_url)).send().await {
                if r.status() == StatusCode::OK {
                    return Ok(());
                }
            }
            if Instant::now() >= deadline {
                bail!("sesame serve not healthy after 60 s:\n{}", self.log_tail());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The user, group and the two applications, through the admin CLI against the running server's database.
    fn provision(&self) -> Result<()> {
        self.cli(&["user", "add", USERNAME, "--email", "alice@example.com", "--password-stdin"], Some(PASSWORD))?;
        self.cli(&["group", "add", "staff"], None)?;
        self.cli(&["group", "add-member", "staff", USERNAME], None)?;
        for mode in MODES {
            let metadata = self.dir.path().join(format!("{}.xml", mode.app));
            std::fs::write(&metadata, sp_metadata(&entity_id(mode.app)))?;
            let settings = self.dir.path().join(format!("{}.toml", mode.app));
            let signing =
                if mode.signing == "assertion" { String::new() } else { format!("signing = \"{}\"\n", mode.signing) };
            std::fs::write(&settings, format!("{signing}[[attributes]]\nname = \"mail\"\nproperty = \"email\"\n"))?;
            self.cli(
                &["app", "import", mode.app, "--metadata", &path_str(&metadata), "--settings", &path_str(&settings)],
                None,
            )?;
            self.cli(&["app", "bind", mode.app, "staff"], None)?;
        }
        Ok(())
    }

    fn cli(&self, args: &[&str], stdin: Option<&str>) -> Result<()> {
        let mut command = Command::new(env!("CARGO_BIN_EXE_sesame"));
        command.args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        for (k, v) in &self.env {
            command.env(k, v);
        }
        let mut child = command.spawn().with_context(|| format!("sesame {}", args.join(" ")))?;
        if let Some(mut input) = child.stdin.take() {
            if let Some(text) = stdin {
                writeln!(input, "{text}")?;
            }
        }
        let out = child.wait_with_output()?;
        if !out.status.success() {
            bail!("sesame {} failed ({}): {}", args.join(" "), out.status, String::from_utf8_lossy(&out.stderr).trim());
        }
        Ok(())
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines.get(lines.len().saturating_sub(20)..).unwrap_or_default().join("\n")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        if matches!(child.try_wait(), Ok(Some(_))) {
            return;
        }
        let pid = self.pid.to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).stderr(Stdio::null()).status();
        // Wait for a graceful exit on a helper thread, so the wait has a deadline without polling.
        let (tx, rx) = mpsc::channel();
        let waiter = std::thread::spawn(move || {
            let _ = tx.send(child.wait());
        });
        if rx.recv_timeout(Duration::from_secs(10)).is_err() {
            eprintln!("sesame serve did not stop within 10 s of SIGTERM; killing it");
            let _ = Command::new("kill").args(["-KILL", &pid]).stderr(Stdio::null()).status();
        }
        let _ = waiter.join();
    }
}

fn sp_metadata(entity_id: &str) -> String {
    format!(
        "<md:EntityDescriptor xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\" entityID=\"{entity_id}\">\
         <md:SPSSODescriptor protocolSupportEnumeration=\"urn:oasis:names:tc:SAML:2.0:protocol\">\
         <md:AssertionConsumerService Binding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST\" \
         Location=\"{ACS_URL}\" index=\"0\" isDefault=\"true\"/>\
         </md:SPSSODescriptor></md:EntityDescriptor>\n"
    )
}

fn path_str(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// `openssl speed -seconds 3 rsa2048` in one process: the sign/s column of the `rsa 2048 bits` line.
fn openssl_sign_rate() -> Result<f64> {
    let out = Command::new("openssl")
        .args(["speed", "-seconds", "3", "rsa2048"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .context("running openssl")?;
    if !out.status.success() {
        bail!("openssl speed failed with {}", out.status);
    }
    let text = String::from_utf8_lossy(&out.stdout);
    parse_openssl_speed(&text).ok_or_else(|| anyhow!("no rsa 2048 sign/s figure in openssl output:\n{text}"))
}

/// The header names the value columns (`sign verify [encrypt decrypt] sign/s verify/s ...`), the line has the
/// values after `rsa 2048 bits` in the same order.
fn parse_openssl_speed(text: &str) -> Option<f64> {
    let column = text.lines().find_map(|l| l.split_whitespace().position(|w| w == "sign/s"))?;
    let line = text.lines().find(|l| l.trim_start().starts_with("rsa") && l.contains("2048 bits"))?;
    let values = line.split("bits").nth(1)?;
    values.split_whitespace().nth(column)?.parse().ok()
}

/// utime + stime of a process in clock ticks.
fn cpu_ticks(pid: u32) -> Result<u64> {
    stat_ticks(&format!("/proc/{pid}/stat"))
}

fn cpu_ticks_self() -> Result<u64> {
    stat_ticks("/proc/self/stat")
}

fn stat_ticks(path: &str) -> Result<u64> {
    let stat = std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
    // The command name may contain spaces; fields after it start at field 3 (state), utime is 14 and stime 15.
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).ok_or_else(|| anyhow!("malformed {path}"))?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let field = |n: usize| -> Result<u64> {
        fields.get(n - 3).ok_or_else(|| anyhow!("short {path}"))?.parse::<u64>().context("stat field")
    };
    Ok(field(14)? + field(15)?)
}

fn clock_ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse::<f64>().ok())
        .filter(|t| *t > 0.0)
        .unwrap_or(100.0)
}

fn cpu_count() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned())
}
