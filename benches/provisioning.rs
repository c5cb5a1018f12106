//! Provisioning throughput: sesame provisions N users (default 10,000), all members of one group bound to the
//! application, into a real SCIM server (scim2-server on 127.0.0.1, run by tests/peers/scim_server.py), and the same
//! SCIM server, started afresh, takes the same users and the same group from a plain client that only POSTs. Both
//! rows run in this process, one after the other, on this machine; the ratio compares them.
//!
//! Run with `make bench-provisioning` (or `cargo bench --bench provisioning` once `scripts/peers-venv.sh` has built
//! the venv). `SESAME_BENCH_USERS` sets N; `SESAME_BENCH_WORKERS` the provisioning workers (default: the server's
//! default). The plain client runs at that concurrency and at 4, and the best of the two is the baseline.
//!
//! The sesame row is timed from activation (connection check, the reconciliation that lists the SP's users and
//! enqueues one job per user) until the queue is empty; the directory is filled before, untimed. It runs on the
//! embedded SQLite, as `sesame serve` does by default, and records an event per SP call, as in production.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use chrono::Utc;
use secrecy::SecretString;
use serde_json::{json, Value};
use sesame::audit::Actor;
use sesame::config::Config;
use sesame::directory::user::Profile;
use sesame::directory::{User, UserId, UserStatus};
use sesame::mapping::UserMapping;
use sesame::services::idm;
use sesame::services::{apps, groups, users};
use tokio::sync::watch;

const TOKEN: &str = "bench-scim-token-8d2e";
const DEFAULT_USERS: usize = 10_000;
/// A baseline concurrency besides sesame's worker count.
const DIRECT_CONCURRENCY: usize = 4;
const GROUP: &str = "everyone";
const APP: &str = "bench";
const SP_METADATA: &str = r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://sp.bench.example">
  <md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://sp.bench.example/acs" index="0"/>
  </md:SPSSODescriptor>
</md:EntityDescriptor>"#;

fn main() -> Result<()> {
    let users = env_number("SESAME_BENCH_USERS", DEFAULT_USERS)?;
    let workers = env_number("SESAME_BENCH_WORKERS", Config::default().provisioning_workers as usize)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(run(users, workers))
}

fn env_number(name: &str, default: usize) -> Result<usize> {
    match std::env::var(name) {
        Ok(v) => v.parse().with_context(|| format!("{name} must be a number")),
        Err(_) => Ok(default),
    }
}

async fn run(users: usize, workers: usize) -> Result<()> {
    println!("provisioning benchmark: {users} users in one bound group, scim2-server on 127.0.0.1");
    println!("{} cores; {workers} provisioning workers", cores());
    let people: Vec<User> = (0..users).map(person).collect();

    // The baseline is the plain client's best rate: at sesame's worker count and at 4 concurrent requests (a
    // single-threaded SCIM server may do better with fewer), each run before and after sesame so that load from
    // elsewhere on the machine weighs on both sides alike.
    let mut concurrencies = vec![DIRECT_CONCURRENCY, workers];
    concurrencies.sort_unstable();
    concurrencies.dedup();
    let mut before = Vec::new();
    for &c in &concurrencies {
        let took = direct_creates(&people, c).await?;
        row(&format!("direct creates, {c} concurrent"), users, took, "");
        before.push(took);
    }
    let (through, requests) = through_sesame(&people, workers).await?;
    row(&format!("sesame, {workers} workers (SQLite)"), users, through, &format!("{requests} SP calls recorded"));
    let mut best = 0.0_f64;
    for (&c, first) in concurrencies.iter().zip(before) {
        let took = direct_creates(&people, c).await?;
        row(&format!("direct creates, {c} concurrent, again"), users, took, "");
        best = best.max(2.0 * users as f64 / (first + took).as_secs_f64());
    }
    let rate = users as f64 / through.as_secs_f64();
    println!("ratio {:.2} of the best mean direct rate, {best:.0} users/s (target 0.80)", rate / best);
    Ok(())
}

fn row(label: &str, users: usize, took: Duration, note: &str) {
    let rate = users as f64 / took.as_secs_f64();
    println!("{label:<32}{rate:>8.0} users/s {:>8.2} s   {note}", took.as_secs_f64());
}

/// A directory user with the properties the default mapping sends.
fn person(i: usize) -> User {
    User {
        id: UserId(i64::try_from(i).unwrap_or(0)),
        username: format!("user{i:05}"),
        profile: Profile {
            email: format!("user{i:05}@bench.example"),
            first_name: "Bench".into(),
            last_name: format!("User {i}"),
            display_name: format!("Bench User {i}"),
            department: "Load".into(),
            job_title: "Tester".into(),
            ..Profile::default()
        },
        status: UserStatus::Active,
    }
}

/// The plain client: POST every user (the resource sesame would send), then one group with every member.
async fn direct_creates(people: &[User], concurrency: usize) -> Result<Duration> {
    let server = ScimServer::start()?;
    let client = reqwest::Client::new();
    let base = server.base_url();
    let mapping = UserMapping::default();
    let bodies: Arc<Vec<String>> = Arc::new(people.iter().map(|u| mapping.to_resource(u, true).to_string()).collect());
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency.max(1) {
        let (client, base, bodies, next) = (client.clone(), base.clone(), bodies.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(body) = bodies.get(i) else { return Ok::<_, anyhow::Error>(ids) };
                let response = client
                    .post(format!("{base}/Users"))
                    .bearer_auth(TOKEN)
                    .header("content-type", "application/scim+json")
                    .body(body.clone())
                    .send()
                    .await?;
                if response.status().as_u16() != 201 {
                    bail!("direct create answered {}", response.status());
                }
                let created: Value = response.json().await?;
                ids.push(created.pointer("/id").and_then(Value::as_str).unwrap_or_default().to_owned());
            }
        }));
    }
    let mut members = Vec::new();
    for task in tasks {
        members.extend(task.await??.into_iter().map(|id| json!({"value": id})));
    }
    let group =
        json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": GROUP, "members": members});
    let response = client
        .post(format!("{base}/Groups"))
        .bearer_auth(TOKEN)
        .header("content-type", "application/scim+json")
        .body(group.to_string())
        .send()
        .await?;
    if response.status().as_u16() != 201 {
        bail!("direct group create answered {}", response.status());
    }
    let elapsed = started.elapsed();
    server.check(people.len()).await?;
    Ok(elapsed)
}

/// sesame: fill the directory, then time activation until every job is done. Returns the time and the number of
/// SCIM requests (events record one per SP call).
async fn through_sesame(people: &[User], workers: usize) -> Result<(Duration, usize)> {
    let server = ScimServer::start()?;
    let dir = tempfile::tempdir()?;
    let mut config = Config::for_tests(dir.path(), "http://127.0.0.1:9");
    config.provisioning_workers = u32::try_from(workers)?;
    let sesame = sesame::build(config).await?;
    let ctx = sesame.ctx;
    let actor = Actor::Cli;
    let now = Utc::now();
    apps::create::import_app_xml(&ctx, &actor, APP, SP_METADATA, None, None, now).await?;
    groups::create_group(&ctx, &actor, GROUP, now).await?;
    apps::change::change_binding(&ctx, &actor, APP, GROUP, true, now).await?;
    for user in people {
        users::create_user(&ctx, &actor, &user.username, user.profile.clone(), None, now).await?;
        groups::change_member(&ctx, &actor, GROUP, &user.username, true, now).await?;
    }

    let (stop, stopped) = watch::channel(false);
    let pool = tokio::spawn(ctx.worker.clone().run(workers, stopped));
    let started = Instant::now();
    let activation = idm::Activation::new(server.base_url(), SecretString::from(TOKEN), true);
    idm::activate(&ctx, &actor, APP, activation, Utc::now()).await?;
    loop {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let mut conn = ctx.db.conn().await?;
        if sesame::store::jobs::count_open(&mut conn).await? == 0 {
            break;
        }
        if started.elapsed() > Duration::from_secs(3600) {
            bail!("provisioning did not finish within an hour");
        }
    }
    let elapsed = started.elapsed();
    let _ = stop.send(true);
    pool.await?;
    server.check(people.len()).await?;
    let mut conn = ctx.db.conn().await?;
    let (requests,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM events WHERE name LIKE '%provision%'").fetch_one(&mut *conn).await?;
    Ok((elapsed, usize::try_from(requests)?))
}

/// scim2-server behind a bearer token, on a free loopback port.
struct ScimServer {
    child: Child,
    port: u16,
}

impl ScimServer {
    fn start() -> Result<Self> {
        let root = env!("CARGO_MANIFEST_DIR");
        let python = format!("{root}/.venv/bin/python");
        if !std::path::Path::new(&python).exists() {
            bail!("{python} is missing: run scripts/peers-venv.sh (make bench-provisioning does)");
        }
        let mut child = Command::new(python)
            .arg(format!("{root}/tests/peers/scim_server.py"))
            .args(["--bearer-token", TOKEN])
            .stdout(Stdio::piped())
            .spawn()?;
        let stdout = child.stdout.take().ok_or_else(|| anyhow!("no stdout"))?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let port = line.trim().strip_prefix("ready ").ok_or_else(|| anyhow!("scim server said {line:?}"))?.parse()?;
        Ok(Self { child, port })
    }

    fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}/v2", self.port)
    }

    /// Both rows must leave the same result: every user, and the group with every member.
    async fn check(&self, users: usize) -> Result<()> {
        let client = reqwest::Client::new();
        let get = |path: String| client.get(format!("{}{path}", self.base_url())).bearer_auth(TOKEN).send();
        let listed: Value = get("/Users?count=1".into()).await?.json().await?;
        let total = listed.pointer("/totalResults").and_then(Value::as_u64).unwrap_or_default();
        let groups: Value = get("/Groups?count=10".into()).await?.json().await?;
        let members = groups.pointer("/Resources/0/members").and_then(Value::as_array).map_or(0, Vec::len);
        if usize::try_from(total)? != users || members != users {
            bail!("the SCIM server holds {total} users and a group of {members}, not {users}");
        }
        Ok(())
    }
}

impl Drop for ScimServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}
