"""A replica killed with SIGKILL in the middle of a burst of logins and provisioning jobs, on two replicas that
share one PostgreSQL database.

The fault: a process dies without any chance to clean up (a crash, the OOM killer, a lost host) while it holds
claimed provisioning jobs, has SCIM calls in flight and is serving logins. What must hold afterwards:

- the surviving replica completes every job once the dead one's leases expire (a short lease here,
  SESAME_PROVISIONING_LEASE_SECS), and none fails;
- the SCIM server received every account exactly once: a job re-run after the kill finds by `userName` what the dead
  replica had already created instead of creating it again (a duplicate create shows up in the server's request log
  as a second POST, and in a server without uniqueness checks as a second account), the final attributes are the
  last ones made, and the group holds exactly the expected members;
- every login that finished before the kill keeps its session: the survivor answers a new AuthnRequest at once with
  a Response pysaml2 accepts, also for sessions created on the dead replica; a login parked on the dead replica
  completes on the survivor; only a request in flight on the dead replica at the kill may fail (and starts again);
- the events show the provisioning outcomes.

The SCIM server is slowed down (`--delay-ms`), so jobs are in flight when the kill comes, and the kill waits until
the database shows more running jobs than the survivor has workers: the dead replica certainly held some.

These tests need PostgreSQL (SESAME_TEST_DATABASE_URL); `make test` runs the peer suite once with it.
"""

from __future__ import annotations

import json
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from saml2 import BINDING_HTTP_REDIRECT

from conftest import (
    APP_GROUPS,
    GROUPS,
    POSTGRES_SERVER,
    ROOT,
    RUNNING,
    USERS,
    Idp,
    User,
    app_settings,
    check_peers,
    create_database,
    directory_user,
    free_port,
    populate_directory,
    server_env,
    spawn_server,
    stop_server,
    to_toml,
    wait_healthy,
)
from sp import SpProfile, consume, create_authn_request, make_client, sp_metadata_xml
from test_replicas import on, saml_response_of, sign_in

APP = "faults"
LEASE_S = 5
WORKERS = 4  # per replica: more running jobs than this means the other replica holds some
SCIM_DELAY_MS = 250
SCIM_TOKEN = "fault-test-scim-token-9d1e"
BURST_GROUP = "burst"
EARLY_USERS = 48  # members of BURST_GROUP before it is bound: binding it enqueues all their jobs at once
LATE_USERS = 12  # created and added to the bound group during the burst
UPDATED_EVERY = 4  # every fourth user is changed again during the burst
LOGIN_THREADS = 4
LOGIN_PAUSE_S = 0.1
CLI_THREADS = 3
# Beyond the lease, what the survivor's four workers need for the backlog on a loaded two-core machine.
DRAIN_MARGIN_S = 60.0
KILL_DEADLINE_S = 90.0


@dataclass(frozen=True)
class BurstUser:
    """A member of BURST_GROUP: added before the group is bound (early) or during the burst (late), and for some
    changed again during the burst."""

    username: str
    late: bool
    updated: bool

    @property
    def email(self) -> str:
        return f"{self.username}@example.org"

    @property
    def display_name(self) -> str:
        return f"Burst {self.username} (moved)" if self.updated else f"Burst {self.username}"

    @property
    def title(self) -> str | None:
        return f"Engineer {self.username}" if self.updated else None

    def creation(self) -> list[tuple[str, ...]]:
        return [
            ("user", "add", self.username, "--email", self.email, "--first-name", "Burst", "--last-name",
             self.username, "--display-name", f"Burst {self.username}"),
            ("group", "add-member", BURST_GROUP, self.username),
        ]  # fmt: skip

    def burst(self) -> list[tuple[str, ...]]:
        """The user's part of the burst: creation for a late user, then the change."""
        commands = self.creation() if self.late else []
        if self.updated:
            commands.append(
                ("user", "update", self.username, "--display-name", self.display_name, "--job-title", self.title)
            )
        return commands


BURST = [
    BurstUser(f"burst{i:02d}", late=i >= EARLY_USERS, updated=i % UPDATED_EVERY == 0)
    for i in range(EARLY_USERS + LATE_USERS)
]


class Database:
    """psql against the replicas' database: the test's view of the job queue."""

    def __init__(self, url: str):
        self.url = url

    def rows(self, sql: str) -> list[list[str]]:
        proc = subprocess.run(
            ["psql", "-X", "-q", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1", self.url, "-c", sql],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert proc.returncode == 0, f"psql: {proc.stderr.strip()}"
        return [line.split("\t") for line in proc.stdout.splitlines() if line]

    def value(self, sql: str) -> int:
        ((value,),) = self.rows(sql)
        return int(value or 0)

    def queue(self) -> tuple[int, int, int, int]:
        """(jobs, running with a live lease, failed, highest attempts) in one query."""
        now = int(time.time() * 1000)
        ((jobs, running, failed, attempts),) = self.rows(
            "SELECT count(*), count(*) FILTER (WHERE state = 'running' AND locked_until >= "
            f"{now}), count(*) FILTER (WHERE state = 'failed'), coalesce(max(attempts), 0) FROM provisioning_jobs"
        )
        return int(jobs), int(running), int(failed), int(attempts)


@dataclass
class ScimPeer:
    """scim_server.py, slowed down, with its request log."""

    proc: subprocess.Popen
    port: int
    log_file: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v2"

    def requests_made(self) -> list[dict]:
        return [json.loads(line) for line in self.log_file.read_text().splitlines() if line]

    def repeated_creates(self) -> dict[str, int]:
        """userNames POSTed more than once: an account created again instead of found."""
        made = self.requests_made()
        posts = Counter(r["userName"] for r in made if r["method"] == "POST" and r["path"] == "/v2/Users")
        return {name: n for name, n in posts.items() if n > 1}

    def list(self, resource: str) -> list[dict]:
        reply = requests.get(
            f"{self.base_url}/{resource}",
            params={"count": 1000},
            headers={"Authorization": f"Bearer {SCIM_TOKEN}"},
            timeout=60,
        )
        assert reply.status_code == 200, reply.text
        body = reply.json()
        resources = body.get("Resources", [])
        assert body["totalResults"] == len(resources), "the listing must fit one page"
        return resources


def start_scim_server(directory: Path) -> ScimPeer:
    log_file = directory / "scim-requests.jsonl"
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "peers" / "scim_server.py"), "--bearer-token", SCIM_TOKEN,
         "--delay-ms", str(SCIM_DELAY_MS), "--log", str(log_file)],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    line = proc.stdout.readline() if proc.stdout else ""
    if not line.startswith("ready "):
        proc.kill()
        raise RuntimeError(f"scim_server.py said {line!r}")
    return ScimPeer(proc, int(line.split()[1]), log_file)


@dataclass
class Cluster:
    first: Idp
    second: Idp
    procs: list[subprocess.Popen]
    profile: SpProfile
    database: Database
    scim: ScimPeer

    def wait_for_empty_queue(self, deadline_s: float) -> None:
        deadline = time.monotonic() + deadline_s
        while time.monotonic() < deadline:
            jobs, _, failed, _ = self.database.queue()
            assert failed == 0, self.database.rows("SELECT kind, target_id, last_error FROM provisioning_jobs")
            if jobs == 0:
                return
            time.sleep(0.2)
        raise AssertionError(f"jobs still queued: {self.database.rows('SELECT * FROM provisioning_jobs')}")


@pytest.fixture
def cluster(tmp_path_factory, sp_origin) -> Cluster:
    """Two replicas on one new database with one certs directory and one secret key (the SCIM token is sealed
    with it), a short provisioning lease, and identity management (groups managed) for APP into a slow SCIM
    server; the directory of conftest already provisioned, and BURST_GROUP, empty and not bound yet."""
    if POSTGRES_SERVER is None:
        pytest.skip("several replicas need PostgreSQL: set SESAME_TEST_DATABASE_URL (make test does)")
    check_peers()
    shared = tmp_path_factory.mktemp("faults")
    database_url = create_database()
    assert database_url is not None
    scim = start_scim_server(shared)
    secret_key = secrets.token_hex(32)
    servers: list[Idp] = []
    procs: list[subprocess.Popen] = []
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as balancer:
        balancer.bind(("127.0.0.1", 0))  # reserved, never listening: no request may go to it
        balancer_url = f"http://127.0.0.1:{balancer.getsockname()[1]}"
        for name in ("replica1", "replica2"):
            workdir = shared / name
            workdir.mkdir()
            port = free_port()
            env = server_env(workdir, port, balancer_url, database_url)
            env.update(
                SESAME_CERTS_DIR=str(shared / "certs"),
                SESAME_SP_METADATA_DIR=str(shared / "sp-metadata"),
                SESAME_SECRET_KEY=secret_key,
                SESAME_SCIM_ALLOW_PRIVATE_TARGETS="true",
                SESAME_PROVISIONING_LEASE_SECS=str(LEASE_S),
                SESAME_PROVISIONING_WORKERS=str(WORKERS),
            )
            servers.append(
                Idp(
                    base_url=f"http://127.0.0.1:{port}",
                    env=env,
                    workdir=workdir,
                    log_file=workdir / "sesame.log",
                    sp_base_url=sp_origin,
                )
            )
        first, second = servers
        profile = first.profile(APP)
        metadata_dir = shared / "sp-metadata"
        metadata_dir.mkdir()
        (metadata_dir / f"{APP}.xml").write_text(sp_metadata_xml(profile))
        (metadata_dir / f"{APP}.toml").write_text(to_toml(app_settings()))
        try:
            procs = [spawn_server(server) for server in servers]
            for proc, server in zip(procs, servers):
                wait_healthy(proc, server)
                RUNNING.append(server)
            populate_directory(first)
            first.cli("group", "add", BURST_GROUP)
            for group in APP_GROUPS:
                first.cli("app", "bind", APP, group)
            first.cli(
                "app", "idm", "activate", APP, "--base-url", scim.base_url, "--token-stdin", "--manage-groups",
                input=SCIM_TOKEN,
            )  # fmt: skip
            cluster = Cluster(first, second, procs, profile, Database(database_url), scim)
            cluster.wait_for_empty_queue(60)
            yield cluster
        finally:
            for server in servers:
                if server in RUNNING:
                    RUNNING.remove(server)
            for proc in procs:
                if proc.poll() is None:
                    stop_server(proc)
            scim.proc.kill()
            scim.proc.wait(timeout=10)


@dataclass
class Login:
    """One SP-initiated login as a browser makes it, all on one replica."""

    user: User
    replica: int  # 0: the replica that is killed, 1: the survivor
    started: float
    finished: float | None = None
    session: requests.Session | None = None
    error: str | None = None


@dataclass
class Logins:
    """Browsers signing in over and over, spread over both replicas, until `stop` is set; after `killed` is set,
    new logins go to the survivor (the load balancer noticed)."""

    cluster: Cluster
    stop: threading.Event = field(default_factory=threading.Event)
    killed: threading.Event = field(default_factory=threading.Event)
    done: list[Login] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self, index: int) -> None:
        client = make_client(self.cluster.profile, self.cluster.second.metadata_url(APP))
        usernames = list(USERS)
        turn = index
        while not self.stop.is_set():
            turn += 1
            started = time.monotonic()  # before the flag is read: a login sent to the dead replica started before
            replica = 1 if self.killed.is_set() else turn % 2
            user = directory_user(usernames[turn % len(usernames)])
            login = Login(user, replica, started)
            try:
                login.session = self.log_in(client, replica, user)
                login.finished = time.monotonic()
            except (requests.RequestException, AssertionError) as e:
                login.error = f"{type(e).__name__}: {e}"
                login.finished = time.monotonic()
            with self.lock:
                self.done.append(login)
            time.sleep(LOGIN_PAUSE_S)

    def log_in(self, client, replica_index: int, user: User) -> requests.Session:
        replica = (self.cluster.first, self.cluster.second)[replica_index]
        request = create_authn_request(client, BINDING_HTTP_REDIRECT, relay_state="")
        browser = requests.Session()
        parked = browser.get(on(replica, request.url), allow_redirects=False, timeout=30)
        assert parked.status_code == 303, parked.text[:400]
        signed_in = sign_in(browser, replica, parked.headers["Location"], user)
        answered = browser.get(on(replica, signed_in.headers["Location"]), allow_redirects=False, timeout=30)
        response = consume(client, saml_response_of(answered), {request.request_id: "/"})
        assert response.name_id.text == user.email
        return browser

    def finished_on(self, replica: int, before: float) -> list[Login]:
        with self.lock:
            return [
                login
                for login in self.done
                if login.replica == replica and login.error is None and login.finished is not None
                and login.finished < before
            ]  # fmt: skip


def run_cli(replica: Idp, commands: list[tuple[str, ...]]) -> None:
    for args in commands:
        replica.cli(*args)


def test_a_replica_killed_mid_burst_loses_no_job_no_account_and_no_finished_login(cluster):
    first, second = cluster.first, cluster.second
    database, scim = cluster.database, cluster.scim
    # The early users join BURST_GROUP while it is not bound yet: no jobs.
    with ThreadPoolExecutor(CLI_THREADS) as pool:
        for future in [pool.submit(run_cli, first, user.creation()) for user in BURST if not user.late]:
            future.result()
    assert database.queue()[0] == 0

    # A login parked on the replica that dies: its browser signs in after the kill, on the survivor.
    parking_client = make_client(cluster.profile, second.metadata_url(APP))
    parked_request = create_authn_request(parking_client, BINDING_HTTP_REDIRECT, relay_state="/after/kill")
    parked_browser = requests.Session()
    parked = parked_browser.get(on(first, parked_request.url), allow_redirects=False, timeout=30)
    assert parked.status_code == 303, parked.text

    logins = Logins(cluster)
    login_pool = ThreadPoolExecutor(LOGIN_THREADS)
    login_runs = [login_pool.submit(logins.run, i) for i in range(LOGIN_THREADS)]
    # The directory burst: binding the group enqueues a job per early member at once; meanwhile late users are
    # created and added, and some users changed, each user's commands in order, several users at once.
    second.cli("app", "bind", APP, BURST_GROUP)
    cli_pool = ThreadPoolExecutor(CLI_THREADS)
    burst = [cli_pool.submit(run_cli, second, user.burst()) for user in BURST if user.late or user.updated]
    try:
        # The kill lands when the dead replica certainly holds claimed jobs (more are running than the survivor
        # has workers) and has finished logins of its own.
        deadline = time.monotonic() + KILL_DEADLINE_S
        running_at_kill = 0
        while True:
            _, running, _, _ = database.queue()
            ready = running > WORKERS and len(logins.finished_on(0, time.monotonic())) >= 2
            if ready:
                running_at_kill = running
                break
            assert all(not f.done() or f.exception() is None for f in burst), [f.exception() for f in burst]
            assert time.monotonic() < deadline, (
                f"the kill could not be timed: {running} jobs running, "
                f"{len(logins.finished_on(0, time.monotonic()))} logins finished on replica 1"
            )
            time.sleep(0.05)
        logins.killed.set()
        cluster.procs[0].kill()
        killed_at = time.monotonic()
        cluster.procs[0].wait(timeout=10)
        RUNNING.remove(first)

        # (a) The survivor completes every job, the dead replica's after their lease expired. The queue is watched
        # while the burst goes on, so the second claim of a dead replica's job is seen (attempts 2: no SP call
        # fails here, so nothing else claims a job twice).
        reclaimed = False
        burst_done: float | None = None
        while True:
            jobs, _, failed, attempts = database.queue()
            assert failed == 0, (
                f"failed jobs: {database.rows('SELECT kind, target_id, last_error FROM provisioning_jobs')}; "
                f"accounts POSTed more than once: {scim.repeated_creates()}"
            )
            reclaimed = reclaimed or attempts >= 2
            if burst_done is None and all(future.done() for future in burst):
                for future in burst:
                    future.result()  # a refused admin command fails the test here
                burst_done = time.monotonic()
            if burst_done is not None and jobs == 0:
                break
            drain_deadline = max(killed_at, burst_done or time.monotonic()) + LEASE_S + DRAIN_MARGIN_S
            assert time.monotonic() < drain_deadline, (
                f"the survivor left {jobs} jobs after the lease + {DRAIN_MARGIN_S}s: "
                f"{database.rows('SELECT kind, target_id, state, attempts FROM provisioning_jobs')}"
            )
            time.sleep(0.1)
        drained_after = time.monotonic() - killed_at
        assert reclaimed, (
            f"no job was claimed a second time: the kill ({running_at_kill} running) did not land on a claimed job"
        )
    finally:
        logins.stop.set()
        for run in login_runs:
            run.result(timeout=120)
        login_pool.shutdown()
        cli_pool.shutdown(cancel_futures=True)

    # (b) Exactly once in the SCIM server.
    burst_by_name = {user.username: user for user in BURST}
    expected_names = {name for group in APP_GROUPS for name in GROUPS[group]} | set(burst_by_name)
    made = scim.requests_made()
    user_posts = Counter(r["userName"] for r in made if r["method"] == "POST" and r["path"] == "/v2/Users")
    assert scim.repeated_creates() == {}, "accounts created more than once (a re-run job created instead of finding)"
    assert set(user_posts) == expected_names, set(user_posts) ^ expected_names
    assert all(r["status"] == 201 for r in made if r["method"] == "POST"), [r for r in made if r["status"] >= 400]
    group_posts = Counter(r["displayName"] for r in made if r["method"] == "POST" and r["path"] == "/v2/Groups")
    assert group_posts == Counter([*APP_GROUPS, BURST_GROUP]), group_posts

    accounts = scim.list("Users")
    by_name = Counter(a["userName"] for a in accounts)
    assert {n: c for n, c in by_name.items() if c > 1} == {}, "duplicate accounts in the SCIM server"
    assert set(by_name) == expected_names
    ids = {a["id"]: a["userName"] for a in accounts}
    for account in accounts:
        user = burst_by_name.get(account["userName"])
        if user is None:
            continue
        assert account.get("active", True) is True, account
        assert account.get("displayName") == user.display_name, account
        assert account.get("title") == user.title, account
        assert account.get("name", {}).get("familyName") == user.username, account
        assert [e["value"] for e in account.get("emails", [])] == [user.email], account
    groups = {g["displayName"]: g for g in scim.list("Groups")}
    assert sorted(groups) == sorted({*APP_GROUPS, BURST_GROUP})
    members = {name: sorted(ids[m["value"]] for m in g.get("members", [])) for name, g in groups.items()}
    assert members[BURST_GROUP] == sorted(burst_by_name), members[BURST_GROUP]
    for group in APP_GROUPS:
        assert members[group] == sorted(GROUPS[group]), (group, members[group])

    # (c) Every login finished before the kill is still signed in, on the survivor; the parked one completes there.
    finished = logins.finished_on(0, killed_at) + logins.finished_on(1, killed_at)
    assert len(logins.finished_on(0, killed_at)) >= 2, "sessions created on the killed replica"
    client = make_client(cluster.profile, second.metadata_url(APP))
    for login in finished:
        request = create_authn_request(client, BINDING_HTTP_REDIRECT, relay_state="")
        assert login.session is not None
        answered = login.session.get(on(second, request.url), allow_redirects=False, timeout=30)
        assert answered.status_code == 200, (
            f"a login finished on replica {login.replica + 1} before the kill must not sign in again: "
            f"HTTP {answered.status_code} {answered.headers.get('Location')}"
        )
        response = consume(client, saml_response_of(answered), {request.request_id: "/"})
        assert response.name_id.text == login.user.email
    alice = directory_user("alice")
    signed_in = sign_in(parked_browser, second, parked.headers["Location"], alice)
    answered = parked_browser.get(on(second, signed_in.headers["Location"]), allow_redirects=False, timeout=30)
    response = consume(parking_client, saml_response_of(answered), {parked_request.request_id: "/"})
    assert response.name_id.text == alice.email
    # Only requests in flight on the dead replica at the kill failed, and logins after it succeeded.
    failed_logins = [login for login in logins.done if login.error is not None]
    for login in failed_logins:
        assert login.replica == 0 and login.started <= killed_at, (login.replica, login.error)
    after = [login for login in logins.done if login.started > killed_at]
    assert after and all(login.error is None for login in after), [login.error for login in after]

    # (d) The events show the outcomes: no failure, and every burst user created or taken over, the group too.
    listed = second.cli("events", "--app", APP, "--json", "--limit", "10000")
    events = [json.loads(line) for line in listed.splitlines()]
    provisioning = [e for e in events if e["name"].endswith("_provision")]
    assert [e for e in provisioning if not e["success"]] == [], "failed provisioning events"
    outcome = {e["target"] for e in provisioning if e["name"] in ("user_create_provision", "user_update_provision")}
    assert set(burst_by_name) <= outcome, set(burst_by_name) - outcome
    assert any(
        e["target"] == BURST_GROUP and e["name"] in ("group_create_provision", "group_update_provision")
        for e in provisioning
    )
    print(
        f"kill with {running_at_kill} jobs running; queue empty {drained_after:.1f}s after the kill; "
        f"{len(finished)} logins kept their sessions, {len(failed_logins)} in flight failed, {len(after)} after"
    )
