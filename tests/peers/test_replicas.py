"""Two `sesame serve` replicas on one PostgreSQL database and one secret key, as behind a load balancer, each
with its own certs directory, as on two hosts: private keys are sealed in the database, never files.

Both have the same public URL (a loopback port nobody listens on, standing for the load balancer); the browser
sends each request to the replica the test chooses, and pysaml2, which loaded the metadata from one replica,
judges responses signed by the other. Nothing that matters may live in only one process: the parked request,
the replay cache, the IdP session and its CSRF token, the directory, the signing certificate.

These tests need PostgreSQL (SESAME_TEST_DATABASE_URL); `make test` runs the peer suite once with it.
"""

from __future__ import annotations

import secrets
import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests
from saml2 import BINDING_HTTP_REDIRECT

from conftest import (
    POSTGRES_SERVER,
    RUNNING,
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
from htmlforms import parse_page
from sp import SpProfile, consume, create_authn_request, sp_metadata_xml

APP = "shared"
# The key cache re-reads which certificate is current at most this often (services::CURRENT_KEY_TTL), plus slack.
KEY_CACHE_TTL_S = 1.5


@dataclass
class Replicas:
    first: Idp
    second: Idp
    profile: SpProfile
    balancer_url: str  # the public URL both replicas are configured with

    def __iter__(self):
        return iter((self.first, self.second))


@pytest.fixture(scope="module")
def replicas(tmp_path_factory, sp_origin) -> Replicas:
    """Two replicas started at the same moment on an empty database, each registering the same
    `sp-metadata/shared.xml` from the shared directory: migrations, the session table and the import race."""
    if POSTGRES_SERVER is None:
        pytest.skip("several replicas need PostgreSQL: set SESAME_TEST_DATABASE_URL (make test does)")
    check_peers()
    shared = tmp_path_factory.mktemp("replicas")
    database_url = create_database()
    # One secret key for both (the same file on every host, or shared storage); certs folders of their own.
    secret_key_file = shared / "secret.key"
    secret_key_file.write_text(secrets.token_hex(32) + "\n")
    secret_key_file.chmod(0o600)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as balancer:
        balancer.bind(("127.0.0.1", 0))  # reserved, never listening: no request may go to it
        balancer_url = f"http://127.0.0.1:{balancer.getsockname()[1]}"
        servers, procs = [], []
        # Replicas share the secret key (README: one key file), so what one seals (SCIM tokens, TOTP secrets, signing
        # keys, a TOTP enrolment waiting in the session) the other opens.
        for name in ("replica1", "replica2"):
            workdir = shared / name
            workdir.mkdir()
            port = free_port()
            env = server_env(workdir, port, balancer_url, database_url)
            # One sp-metadata directory for both; certs/ stays the replica's own (server_env puts it in workdir).
            env.update(SESAME_SP_METADATA_DIR=str(shared / "sp-metadata"), SESAME_SECRET_KEY_FILE=str(secret_key_file))
            server = Idp(
                base_url=f"http://127.0.0.1:{port}",
                env=env,
                workdir=workdir,
                log_file=workdir / "sesame.log",
                sp_base_url=sp_origin,
            )
            servers.append(server)
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
            for group in ("staff", "engineering"):
                second.cli("app", "bind", APP, group)
            yield Replicas(first, second, profile, balancer_url)
        finally:
            for server in servers:
                if server in RUNNING:
                    RUNNING.remove(server)
            for proc in procs:
                stop_server(proc)


def on(replica: Idp, url: str) -> str:
    """`url` (on the public URL or relative) sent to `replica`, as the load balancer would."""
    parts = urlsplit(url)
    target = urlsplit(replica.base_url)
    return urlunsplit((target.scheme, target.netloc, parts.path, parts.query, ""))


def sign_in(session: requests.Session, replica: Idp, login_url: str, user: User) -> requests.Response:
    """Shows the login form at `login_url` on `replica`, submits it there, and returns the 303 that follows."""
    page = session.get(on(replica, login_url), timeout=30)
    assert page.status_code == 200, page.text
    form = parse_page(page.text).form_with("password")
    assert form is not None, page.text
    reply = session.post(
        on(replica, form.target(page.url)),
        data=form.submission(username=user.username, password=user.password),
        allow_redirects=False,
        timeout=30,
    )
    assert reply.status_code == 303, f"sign-in refused: HTTP {reply.status_code}: {reply.text[:400]}"
    return reply


def saml_response_of(reply: requests.Response) -> str:
    form = parse_page(reply.text).form_with("SAMLResponse")
    assert form is not None, f"HTTP {reply.status_code}: {reply.text[:800]}"
    return form.value("SAMLResponse")


def assert_refused(reply: requests.Response) -> None:
    assert 400 <= reply.status_code < 500, f"HTTP {reply.status_code}: {reply.text[:400]}"
    assert all(not form.has("SAMLResponse") for form in parse_page(reply.text).forms)


def test_both_replicas_registered_the_app_once_with_one_signing_certificate(replicas):
    shown = [replica.show_app(APP) for replica in replicas]
    assert shown[0] == shown[1]
    assert shown[0]["idp_url"] == f"{replicas.balancer_url}/saml2/{APP}"
    certs = [requests.get(replica.certificate_url(APP), timeout=30).text for replica in replicas]
    assert certs[0] == certs[1] and certs[0].count("BEGIN CERTIFICATE") == 1
    # Neither start-up failed to register the file the other registered at the same moment.
    for replica in replicas:
        assert "could not register" not in replica.log_file.read_text(), replica.log_tail()
        # The signing key is sealed in the database: no key file in either replica's certs folder.
        certs_dir = replica.workdir / "certs"
        assert [p for p in certs_dir.rglob("*") if p.is_file()] == [], replica.log_tail()


def test_login_parked_on_one_replica_completes_on_the_other_and_its_id_is_not_replayable(replicas):
    alice = directory_user("alice")
    first, second = replicas
    client = first.client(replicas.profile)
    request = create_authn_request(client, BINDING_HTTP_REDIRECT, relay_state="/deep/link")
    assert request.url.startswith(f"{replicas.balancer_url}/saml2/{APP}?"), request.url
    browser = requests.Session()

    parked = browser.get(on(first, request.url), allow_redirects=False, timeout=30)
    assert parked.status_code == 303, parked.text
    login_url = parked.headers["Location"]
    assert login_url.startswith("/login?continue="), login_url
    assert "SAMLRequest" not in login_url, "the request is parked in the database, not carried in the URL"

    signed_in = sign_in(browser, second, login_url, alice)
    answered = browser.get(on(second, signed_in.headers["Location"]), allow_redirects=False, timeout=30)
    response = consume(client, saml_response_of(answered), {request.request_id: "/"})
    assert response.in_response_to == request.request_id
    assert response.name_id.text == alice.email
    assert parse_page(answered.text).form_with("SAMLResponse").get("RelayState") == "/deep/link"

    # The same request replayed to the other replica, even by the signed-in browser, gets no response.
    assert_refused(browser.get(on(second, request.url), allow_redirects=False, timeout=30))
    assert_refused(requests.get(on(first, request.url), allow_redirects=False, timeout=30))


def test_a_session_started_on_one_replica_is_valid_on_the_other(replicas):
    """Sign in on the second replica (with the login form served by the first: the CSRF token lives in the
    shared session), then use the session on the first: portal and SSO without signing in again."""
    alice = directory_user("alice")
    first, second = replicas
    browser = requests.Session()
    page = browser.get(on(first, "/login"), timeout=30)
    form = parse_page(page.text).form_with("password")
    reply = browser.post(
        on(second, "/login"),
        data=form.submission(username=alice.username, password=alice.password),
        allow_redirects=False,
        timeout=30,
    )
    assert reply.status_code == 303, f"the second replica refused the first one's form: {reply.text[:400]}"

    portal = browser.get(on(first, "/"), allow_redirects=False, timeout=30)
    assert portal.status_code == 200, "the first replica knows the session"
    assert f"/saml2/{APP}" in parse_page(portal.text).links

    client = first.client(replicas.profile)
    request = create_authn_request(client, BINDING_HTTP_REDIRECT, relay_state="")
    answered = browser.get(on(first, request.url), allow_redirects=False, timeout=30)
    response = consume(client, saml_response_of(answered), {request.request_id: "/"})
    assert response.name_id.text == alice.email

    logout_form = parse_page(browser.get(on(first, "/"), timeout=30).text).form_with("csrf_token")
    assert logout_form is not None
    browser.post(on(second, logout_form.target("/")), data=logout_form.submission(), timeout=30)
    assert browser.get(on(first, "/"), allow_redirects=False, timeout=30).status_code == 303, "signed out on both"


@pytest.mark.parametrize("replica_index", [0, 1])
def test_a_user_created_by_the_cli_signs_in_through_either_replica(replicas, replica_index):
    first = replicas.first
    username = f"dave{replica_index}"
    first.cli("user", "add", username, "--email", f"{username}@example.org", "--password-stdin", input="pw-dave-1-long")
    first.cli("group", "add-member", "staff", username)
    replica = list(replicas)[replica_index]
    client = replica.client(replicas.profile)
    request = create_authn_request(client, BINDING_HTTP_REDIRECT, relay_state="")
    browser = requests.Session()
    parked = browser.get(on(replica, request.url), allow_redirects=False, timeout=30)
    dave = User(username, f"{username}@example.org", "", "", "", ("staff",), password="pw-dave-1-long")
    signed_in = sign_in(browser, replica, parked.headers["Location"], dave)
    answered = browser.get(on(replica, signed_in.headers["Location"]), allow_redirects=False, timeout=30)
    response = consume(client, saml_response_of(answered), {request.request_id: "/"})
    assert response.name_id.text == dave.email


def test_a_certificate_rotated_through_the_cli_signs_on_both_replicas(replicas):
    alice = directory_user("alice")
    first, second = replicas
    before = requests.get(first.certificate_url(APP), timeout=30).text
    first.cli("app", "rotate-cert", APP)
    after = [requests.get(replica.certificate_url(APP), timeout=30).text for replica in replicas]
    assert after[0] == after[1] != before
    time.sleep(KEY_CACHE_TTL_S)
    for replica in replicas:
        # pysaml2 knows only the new certificate, from the other replica's metadata.
        other = second if replica is first else first
        client = other.client(replicas.profile)
        request = create_authn_request(client, BINDING_HTTP_REDIRECT, relay_state="")
        browser = requests.Session()
        parked = browser.get(on(replica, request.url), allow_redirects=False, timeout=30)
        signed_in = sign_in(browser, replica, parked.headers["Location"], alice)
        answered = browser.get(on(replica, signed_in.headers["Location"]), allow_redirects=False, timeout=30)
        consume(client, saml_response_of(answered), {request.request_id: "/"})


def test_replicas_stop_cleanly_on_sigterm(replicas, tmp_path):
    """A third replica joins the running pair and is stopped as a deploy stops one: exit 0, nothing left over."""
    first = replicas.first
    port = free_port()
    env = dict(first.env, SESAME_BIND=f"127.0.0.1:{port}", SESAME_DATA_DIR=str(tmp_path / "data"))
    third = Idp(
        base_url=f"http://127.0.0.1:{port}",
        env=env,
        workdir=tmp_path,
        log_file=tmp_path / "sesame.log",
        sp_base_url=first.sp_base_url,
    )
    proc = spawn_server(third)
    try:
        wait_healthy(proc, third)
        assert requests.get(third.url("/healthz"), timeout=30).status_code == 200
        proc.terminate()
        assert proc.wait(timeout=20) == 0, third.log_tail()
        assert "stopped" in third.log_file.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    # The pair still serves.
    for replica in replicas:
        assert requests.get(replica.url("/healthz"), timeout=30).status_code == 200


def test_second_factor_failures_are_throttled_across_replicas(replicas):
    """Guessing TOTP codes with a stolen password, spreading the guesses over both replicas: the failures are
    counted in the shared database, so after the free ones even the right code waits (HTTP 429), on either
    replica."""
    from test_mfa import totp

    first, second = replicas
    username = "mfa-eve"
    first.cli("user", "add", username, "--email", "eve@example.org", "--password-stdin", input="pw-eve-1-long-enough")
    first.cli("group", "add-member", "staff", username)
    first.cli("user", "mfa", "reset", username)
    eve = User(username, "eve@example.org", "", "", "", ("staff",), password="pw-eve-1-long-enough")

    browser = requests.Session()
    enrol_at = sign_in(browser, first, "/login", eve).headers["Location"]
    assert enrol_at.startswith("/login/enrol"), enrol_at
    page = browser.get(on(second, enrol_at), timeout=30)
    secret = page.text.split('id="totp-secret">')[1].split("<")[0]
    used_at = time.time()
    form = parse_page(page.text).form_with("code")
    enrolled = browser.post(on(first, form.target(page.url)), data=form.submission(code=totp(secret, used_at)), timeout=30)
    assert enrolled.status_code == 200 and "recovery codes" in enrolled.text, enrolled.text[:400]

    def guess(replica: Idp, code: str) -> requests.Response:
        guesser = requests.Session()
        factor_at = sign_in(guesser, replica, "/login", eve).headers["Location"]
        assert factor_at.startswith("/login/factor"), factor_at
        page = guesser.get(on(replica, factor_at), timeout=30)
        form = parse_page(page.text).form_with("code")
        return guesser.post(
            on(replica, form.target(page.url)), data=form.submission(code=code), allow_redirects=False, timeout=30
        )

    for attempt in range(5):
        replica = (first, second)[attempt % 2]
        assert guess(replica, "000000").status_code == 401, f"attempt {attempt}"
    assert guess(second, totp(secret, used_at + 30)).status_code == 429, "the right code waits too"
    assert guess(first, totp(secret, used_at + 30)).status_code == 429
    events = first.cli("events", "--json", "--name", "user_mfa_throttled")
    assert username in events
