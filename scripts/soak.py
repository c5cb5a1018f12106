#!/usr/bin/env python3
"""Soak test (not part of `make test`): two `sesame serve` replicas on one PostgreSQL database under a steady load
of complete SP-initiated logins for a set time, to show that nothing fails and memory stays flat.

Run it with the test peers' venv (scripts/peers-venv.sh), on a throw-away PostgreSQL:

    cargo build --release --bin sesame
    scripts/pg-temp.sh run .venv/bin/python scripts/soak.py --minutes 10

Without SESAME_TEST_DATABASE_URL (or --database-url, a PostgreSQL server URL) it uses the checkout's running
scripts/pg-temp.sh server, or starts one and stops it at the end. It creates a new database, starts two replicas
(release binary when built, else debug; --binary overrides) with one certs directory, registers a pysaml2 SP and 16
users, then runs `--concurrency` browsers (default 2 x cores), each in its own process so Python's lock does not
cap the load. Every login is a new browser: the SP's AuthnRequest (pysaml2, HTTP-Redirect), the login form, the
sign-in and the signed Response, each request sent to the other replica than the one before (no stickiness).
Every Response is checked for status Success, InResponseTo and a signature; every `--pysaml2-every`th (default 10)
is also validated completely by pysaml2 (xmlsec1 verifies the signature, audience, times, NameID). Validating every
Response with pysaml2 (`--pysaml2-every 1`) costs the client about as much CPU as the two servers spend, which
halves the load on two cores.

It prints a line per interval (each replica's RSS, the load average) and at the end the throughput, p50/p99 latency of a
whole login (the four HTTP requests, not the check), the error count with the first errors, and each replica's RSS
(VmRSS from /proc) idle before the load, after a warm-up (`--warmup`, 30 s: the argon2 working memory, one 19 MiB
buffer per core, and the pools fill once) and at the end. Exit status 1 on any error.
"""

from __future__ import annotations

import argparse
import base64
import multiprocessing
import os
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "peers"))

import requests  # noqa: E402 - after the path to the peers' helpers
from saml2 import BINDING_HTTP_REDIRECT  # noqa: E402

from htmlforms import parse_page  # noqa: E402
from sp import SpProfile, consume, create_authn_request, make_client, sp_metadata_xml  # noqa: E402

APP = "soak"
USERS = 16
PASSWORD = "soak test passphrase 4f1a"
SUCCESS = "urn:oasis:names:tc:SAML:2.0:status:Success"


@dataclass
class Replica:
    name: str
    base_url: str
    env: dict[str, str]
    log_file: Path
    proc: subprocess.Popen | None = None

    def rss_kib(self) -> int:
        """VmRSS of the process, in KiB (0 when it is gone)."""
        try:
            status = Path(f"/proc/{self.proc.pid}/status").read_text()
        except (OSError, AttributeError):
            return 0
        match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.M)
        return int(match.group(1)) if match else 0


@dataclass
class Result:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    first_errors: list[str] = field(default_factory=list)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def psql(url: str, sql: str) -> None:
    subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", url, "-c", sql], check=True, capture_output=True)


def cli(binary: Path, replica: Replica, *args: str, stdin: str | None = None) -> None:
    proc = subprocess.run([str(binary), *args], env=replica.env, input=stdin, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"sesame {' '.join(args)}: {proc.stderr.strip()}")


def wait_healthy(replica: Replica) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if replica.proc.poll() is not None:
            raise SystemExit(f"{replica.name} exited: {replica.log_file.read_text()[-2000:]}")
        try:
            if requests.get(f"{replica.base_url}/healthz", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise SystemExit(f"{replica.name} not healthy after 60 s")


def on(replica_url: str, url: str) -> str:
    """`url` (on the public URL or relative) sent to the replica, as the balancer would."""
    parts, target = urlsplit(url), urlsplit(replica_url)
    return urlunsplit((target.scheme, target.netloc, parts.path, parts.query, ""))


def light_check(saml_response: str, request_id: str) -> None:
    xml = base64.b64decode(saml_response).decode("utf-8", "replace")
    assert f'InResponseTo="{request_id}"' in xml, "InResponseTo"
    assert f'Value="{SUCCESS}"' in xml, "status"
    assert "SignatureValue" in xml, "signature"


def browse(args) -> Result:
    """One browser process: complete logins until the deadline."""
    index, replicas, profile, metadata_url, deadline, pysaml2_every = args
    client = make_client(profile, metadata_url)
    result = Result()
    turn = index
    while time.time() < deadline:
        username = f"soak{turn % USERS:02d}"
        started = time.perf_counter()
        try:
            request = create_authn_request(client, BINDING_HTTP_REDIRECT, relay_state="")
            browser = requests.Session()
            hop = turn

            def replica_url() -> str:
                nonlocal hop
                hop += 1
                return replicas[hop % len(replicas)]

            parked = browser.get(on(replica_url(), request.url), allow_redirects=False, timeout=30)
            assert parked.status_code == 303, f"AuthnRequest: HTTP {parked.status_code}"
            page = browser.get(on(replica_url(), parked.headers["Location"]), timeout=30)
            form = parse_page(page.text).form_with("password")
            assert form is not None, f"login page: HTTP {page.status_code}"
            signed_in = browser.post(
                on(replica_url(), form.target(page.url)),
                data=form.submission(username=username, password=PASSWORD),
                allow_redirects=False,
                timeout=30,
            )
            assert signed_in.status_code == 303, f"sign-in: HTTP {signed_in.status_code}"
            answered = browser.get(on(replica_url(), signed_in.headers["Location"]), allow_redirects=False, timeout=30)
            elapsed = time.perf_counter() - started
            saml_form = parse_page(answered.text).form_with("SAMLResponse")
            assert saml_form is not None, f"response: HTTP {answered.status_code}"
            saml_response = saml_form.value("SAMLResponse")
            light_check(saml_response, request.request_id)
            if (turn - index) % pysaml2_every == 0:
                response = consume(client, saml_response, {request.request_id: "/"})
                assert response.name_id.text == f"{username}@example.org", "NameID"
            result.latencies.append(elapsed)
        except Exception as e:  # noqa: BLE001 - every failure is counted and the first ones shown
            result.errors += 1
            if len(result.first_errors) < 5:
                result.first_errors.append(f"{type(e).__name__}: {e}"[:300])
        turn += 1
    return result


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=2 * (os.cpu_count() or 1))
    parser.add_argument("--pysaml2-every", type=int, default=10, help="validate every Nth Response with pysaml2")
    parser.add_argument("--binary", type=Path, default=None)
    parser.add_argument("--database-url", default=os.environ.get("SESAME_TEST_DATABASE_URL"))
    parser.add_argument("--interval", type=float, default=60.0, help="seconds between progress lines")
    parser.add_argument(
        "--warmup", type=float, default=30.0, help="seconds of load after which RSS is sampled again (warm-up)"
    )
    args = parser.parse_args()

    binary = args.binary or next(
        (p for p in (ROOT / "target" / "release" / "sesame", ROOT / "target" / "debug" / "sesame") if p.is_file()),
        None,
    )
    if binary is None or not binary.is_file():
        raise SystemExit("no sesame binary: run cargo build --release --bin sesame (or pass --binary)")
    started_pg = False
    server_url = args.database_url
    pg_temp = str(ROOT / "scripts" / "pg-temp.sh")
    if not server_url:  # one already running for this checkout is used and left running
        running = subprocess.run([pg_temp, "url"], capture_output=True, text=True, check=False)
        server_url = running.stdout.strip() if running.returncode == 0 else ""
    if not server_url:
        server_url = subprocess.run(
            [pg_temp, "start"], check=True, capture_output=True, text=True
        ).stdout.strip()
        started_pg = True
    database = f"sesame_soak_{secrets.token_hex(6)}"
    psql(server_url, f"CREATE DATABASE {database}")
    database_url = urlunsplit(urlsplit(server_url)._replace(path=f"/{database}"))

    workdir = Path(tempfile.mkdtemp(prefix="sesame-soak-"))
    replicas: list[Replica] = []
    try:
        balancer = f"http://127.0.0.1:{free_port()}"  # the public URL; nobody listens there
        secret_key = secrets.token_hex(32)
        for name in ("replica1", "replica2"):
            port = free_port()
            (workdir / name / "data").mkdir(parents=True)
            env = {k: v for k, v in os.environ.items() if not k.startswith("SESAME_")}
            env.update(
                SESAME_BIND=f"127.0.0.1:{port}",
                SESAME_BASE_URL=balancer,
                SESAME_DATA_DIR=str(workdir / name / "data"),
                SESAME_CERTS_DIR=str(workdir / "certs"),
                SESAME_SP_METADATA_DIR=str(workdir / "sp-metadata"),
                SESAME_DATABASE_URL=database_url,
                SESAME_SECRET_KEY=secret_key,
                SESAME_LOG="warn",
            )
            replicas.append(Replica(name, f"http://127.0.0.1:{port}", env, workdir / name / "sesame.log"))
        sp_origin = f"http://127.0.0.1:{free_port()}"
        profile = SpProfile(app=APP, entity_id=f"{sp_origin}/{APP}/metadata", acs_url=f"{sp_origin}/{APP}/acs")
        (workdir / "sp-metadata").mkdir()
        (workdir / "sp-metadata" / f"{APP}.xml").write_text(sp_metadata_xml(profile))
        (workdir / "sp-metadata" / f"{APP}.toml").write_text('nameid_format = "email"\nnameid_source = "email"\n')
        for replica in replicas:
            with open(replica.log_file, "ab") as log:
                replica.proc = subprocess.Popen(
                    [str(binary), "serve"], env=replica.env, cwd=workdir, stdout=log, stderr=subprocess.STDOUT
                )
        for replica in replicas:
            wait_healthy(replica)
        first = replicas[0]
        cli(binary, first, "group", "add", "staff")
        cli(binary, first, "app", "bind", APP, "staff")
        for i in range(USERS):
            username = f"soak{i:02d}"
            cli(binary, first, "user", "add", username, "--email", f"{username}@example.org", "--password-stdin",
                stdin=PASSWORD)  # fmt: skip
            cli(binary, first, "group", "add-member", "staff", username)

        rss_start = [r.rss_kib() for r in replicas]
        shown = binary.relative_to(ROOT) if binary.is_relative_to(ROOT) else binary
        print(
            f"soak: {shown}, 2 replicas on PostgreSQL, {args.concurrency} concurrent logins for {args.minutes:g} min, "
            f"pysaml2 validates 1 in {max(1, args.pysaml2_every)}, "
            f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}",
            flush=True,
        )
        deadline = time.time() + args.minutes * 60
        urls = [r.base_url for r in replicas]
        metadata_url = f"{first.base_url}/saml2/{APP}/metadata"
        jobs = [(i, urls, profile, metadata_url, deadline, max(1, args.pysaml2_every)) for i in range(args.concurrency)]
        began = time.monotonic()
        with multiprocessing.get_context("fork").Pool(args.concurrency) as pool:
            pending = pool.map_async(browse, jobs)
            rss_warm: list[int] | None = None
            next_line = args.interval
            while not pending.ready():
                pending.wait(1.0)
                elapsed = time.monotonic() - began
                if rss_warm is None and elapsed >= args.warmup:
                    rss_warm = [r.rss_kib() for r in replicas]
                if elapsed >= next_line and not pending.ready():
                    next_line += args.interval
                    rss = ", ".join(f"{r.name} {r.rss_kib() / 1024:.1f} MiB" for r in replicas)
                    print(f"  {elapsed:6.0f} s  RSS {rss}  load average {os.getloadavg()[0]:.2f}", flush=True)
            results = pending.get()
        wall = time.monotonic() - began
        rss_end = [r.rss_kib() for r in replicas]

        latencies = [x for r in results for x in r.latencies]
        errors = sum(r.errors for r in results)
        print(f"logins: {len(latencies)} in {wall:.0f} s = {len(latencies) / wall:.1f}/s")
        print(
            f"latency of a whole login (4 requests): p50 {percentile(latencies, 50) * 1000:.1f} ms, "
            f"p99 {percentile(latencies, 99) * 1000:.1f} ms, mean {statistics.fmean(latencies) * 1000:.1f} ms"
            if latencies
            else "latency: no login completed"
        )
        print(f"errors: {errors}")
        for message in [m for r in results for m in r.first_errors][:5]:
            print(f"  {message}")
        for i, replica in enumerate(replicas):
            warm = f"{rss_warm[i] / 1024:.1f} MiB" if rss_warm else "n/a"
            print(
                f"RSS {replica.name}: start {rss_start[i] / 1024:.1f} MiB (idle), {warm} after the "
                f"{args.warmup:g} s warm-up, end {rss_end[i] / 1024:.1f} MiB"
            )
        exited = [r.name for r in replicas if r.proc.poll() is not None]
        if exited:
            print(f"exited during the run: {', '.join(exited)}")
        if errors or exited:
            sys.exit(1)
    finally:
        for replica in replicas:
            if replica.proc is not None and replica.proc.poll() is None:
                replica.proc.terminate()
                try:
                    replica.proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    replica.proc.kill()
        try:
            psql(server_url, f"DROP DATABASE IF EXISTS {database}")
        except subprocess.CalledProcessError:
            pass
        if started_pg:
            subprocess.run([pg_temp, "stop"], check=False, capture_output=True)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
