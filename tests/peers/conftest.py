"""Runs the real sesame binary on 127.0.0.1 and sets up its directory and applications through the admin CLI.

The server's log is attached to every failing test's report. A missing binary or peer is a setup error.
With SESAME_TEST_DATABASE_URL (a PostgreSQL server URL, as `make test` sets it through scripts/pg-temp.sh), the
server runs on a fresh database of that server instead of SQLite.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests

from samlxml import XMLSEC1
from sp import SpKeys, SpProfile, generate_sp_keys, make_client, sp_metadata_xml

ROOT = Path(__file__).resolve().parents[2]
SESAME_BIN = Path(os.environ.get("SESAME_BIN", ROOT / "target" / "debug" / "sesame"))
STARTUP_DEADLINE_S = 30.0
POSTGRES_SERVER = os.environ.get("SESAME_TEST_DATABASE_URL") or None
PASSWORD = "correct horse battery staple"

# The directory every test can rely on: users, their groups, and the group apps are bound to.
USERS = {
    "alice": dict(email="alice@example.org", first_name="Alice", last_name="Liddell", display_name="Alice Liddell"),
    # The display name tries to close the AttributeValue and open a new, signed Attribute (injection into XML).
    "tom": dict(
        email="tom@example.org",
        first_name="Tom",
        last_name="Cat",
        display_name='Tom & Jerry <b>x</b></saml2:AttributeValue><saml2:Attribute Name="role">',
    ),
    # In a group that no application is bound to, besides staff.
    "bob": dict(email="bob@example.org", first_name="Bob", last_name="Builder", display_name="Bob Builder"),
}
GROUPS = {"staff": ["alice", "tom", "bob"], "engineering": ["alice"], "ops": ["bob"]}
# Every test app is bound to these groups; alice's groups are all bound, bob's "ops" is not.
APP_GROUPS = ("staff", "engineering")

# The attribute release every test app gets (settings [[attributes]]).
ATTRIBUTES = [
    {"name": "mail", "property": "email"},
    {"name": "displayName", "property": "display_name"},
    {"name": "tier", "constant": "gold"},
    {"name": "memberOf", "groups": True},
]
DEFAULT_RELAY_STATE = "/home"


@dataclass(frozen=True)
class User:
    username: str
    email: str
    first_name: str
    last_name: str
    display_name: str
    groups: tuple[str, ...]
    password: str = PASSWORD

    def expected_attributes(self) -> dict[str, list[str]]:
        """What pysaml2 must report for ATTRIBUTES (memberOf sorted: it is a set)."""
        return {
            "mail": [self.email],
            "displayName": [self.display_name],
            "tier": ["gold"],
            "memberOf": sorted(self.groups),
        }


class CliError(AssertionError):
    def __init__(self, args: tuple[str, ...], proc: subprocess.CompletedProcess[str]):
        super().__init__(f"sesame {' '.join(args)} exited {proc.returncode}: {proc.stderr.strip()}")
        self.returncode = proc.returncode
        self.stderr = proc.stderr


def to_toml(settings: dict) -> str:
    """The small TOML subset the app settings need: scalars, then arrays of tables."""
    lines, tables = [], []
    for key, value in settings.items():
        if isinstance(value, list):
            tables.append((key, value))
        else:
            lines.append(f"{key} = {_toml_value(value)}")
    for key, rows in tables:
        for row in rows:
            lines += ["", f"[[{key}]]"] + [f"{k} = {_toml_value(v)}" for k, v in row.items()]
    return "\n".join(lines) + "\n"


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    raise TypeError(f"no TOML for {value!r}")


@dataclass
class Idp:
    """The running sesame server and its admin CLI."""

    base_url: str
    env: dict[str, str]
    workdir: Path
    log_file: Path
    sp_base_url: str
    apps: dict[str, SpProfile] = field(default_factory=dict)

    def cli(self, *args: str, input: str | None = None) -> str:
        """Run `sesame ARGS` against the server's database; returns stdout, raises CliError on failure."""
        proc = self.run_cli(*args, input=input)
        if proc.returncode != 0:
            raise CliError(args, proc)
        return proc.stdout

    def run_cli(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(SESAME_BIN), *args],
            env=self.env,
            cwd=self.workdir,
            input=input,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def url(self, path: str) -> str:
        return self.base_url + path

    def app_url(self, app: str) -> str:
        return self.url(f"/saml2/{app}")

    def metadata_url(self, app: str) -> str:
        return self.url(f"/saml2/{app}/metadata")

    def certificate_url(self, app: str) -> str:
        return self.url(f"/saml2/{app}/certificate.pem")

    def show_app(self, app: str) -> dict:
        return json.loads(self.cli("app", "show", app, "--json"))

    def register(self, profile: SpProfile, **settings) -> SpProfile:
        """Import the SP's pysaml2-written metadata as application `profile.app`, with settings, bound to APP_GROUPS."""
        directory = self.workdir / "sp" / profile.app
        directory.mkdir(parents=True, exist_ok=True)
        metadata_file = directory / "metadata.xml"
        metadata_file.write_text(sp_metadata_xml(profile))
        settings_file = directory / "settings.toml"
        settings_file.write_text(to_toml(settings))
        self.cli("app", "import", profile.app, "--metadata", str(metadata_file), "--settings", str(settings_file))
        for group in APP_GROUPS:
            self.cli("app", "bind", profile.app, group)
        self.apps[profile.app] = profile
        return profile

    def profile(self, app: str, *, signing: str = "assertion", keys: SpKeys | None = None) -> SpProfile:
        """An SP identity for `app`: entity ID and ACS on the (never contacted) SP origin."""
        return SpProfile(
            app=app,
            entity_id=f"{self.sp_base_url}/{app}/metadata",
            acs_url=f"{self.sp_base_url}/{app}/acs",
            signing=signing,
            keys=keys,
        )

    def client(self, profile: SpProfile):
        return make_client(profile, self.metadata_url(profile.app))

    def log_tail(self, n: int = 80) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-n:])
        except OSError as e:
            return f"(no log: {e})"


def app_settings(signing: str = "assertion", require_signed_requests: bool = False, **extra) -> dict:
    return {
        "display_label": "Peer test SP",
        "show_in_portal": True,
        "nameid_format": "email",
        "nameid_source": "email",
        "signing": signing,
        "default_relay_state": DEFAULT_RELAY_STATE,
        "require_signed_requests": require_signed_requests,
        **extra,
        "attributes": ATTRIBUTES,
    }


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def create_database() -> str | None:
    """A new, empty database on the test PostgreSQL server (its URL), or None when the tests run on SQLite."""
    if POSTGRES_SERVER is None:
        return None
    name = f"sesame_peers_{secrets.token_hex(8)}"
    proc = subprocess.run(
        ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", POSTGRES_SERVER, "-c", f"CREATE DATABASE {name}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"cannot create a database on the test PostgreSQL server: {proc.stderr.strip()}")
    return urlunsplit(urlsplit(POSTGRES_SERVER)._replace(path=f"/{name}"))


def check_peers() -> None:
    if not SESAME_BIN.is_file():
        raise RuntimeError(f"sesame binary not found at {SESAME_BIN} (set SESAME_BIN or build it first)")
    if not Path(XMLSEC1).is_file() or shutil.which(XMLSEC1) is None:
        raise RuntimeError(f"{XMLSEC1} is missing: run scripts/install-system-deps.sh --test")
    version = subprocess.run([XMLSEC1, "--version"], capture_output=True, text=True, check=True).stdout
    assert version.startswith("xmlsec1 "), f"unexpected xmlsec1 --version output: {version!r}"


# The servers running now, whose logs a failing test's report shows.
RUNNING: list[Idp] = []


@pytest.fixture(scope="session")
def sp_origin():
    """A loopback port reserved (bound, never listening) for the SPs' URLs, which no test ever connects to."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{s.getsockname()[1]}"


def server_env(workdir: Path, bind_port: int, base_url: str, database_url: str | None) -> dict[str, str]:
    """The environment of `sesame serve` and of the admin CLI beside it: data, certs and sp-metadata under
    `workdir`, and the database (SQLite in the data dir unless a URL is given)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SESAME_")}
    env.update(
        SESAME_BIND=f"127.0.0.1:{bind_port}",
        SESAME_BASE_URL=base_url,
        SESAME_DATA_DIR=str(workdir / "data"),
        SESAME_CERTS_DIR=str(workdir / "certs"),
        SESAME_SP_METADATA_DIR=str(workdir / "sp-metadata"),
    )
    if database_url is not None:
        env["SESAME_DATABASE_URL"] = database_url
    for d in ("data", "certs", "sp-metadata"):
        (workdir / d).mkdir(exist_ok=True)
    return env


def spawn_server(server: Idp) -> subprocess.Popen:
    """Starts `sesame serve` for `server` (its environment and log file), without waiting for it."""
    with open(server.log_file, "ab") as log:
        return subprocess.Popen(
            [str(SESAME_BIN), "serve"], env=server.env, cwd=server.workdir, stdout=log, stderr=subprocess.STDOUT
        )


def stop_server(proc: subprocess.Popen) -> None:
    """SIGTERM, as a service manager stops it; SIGKILL only when it does not exit in time."""
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


@pytest.fixture(scope="session")
def idp(tmp_path_factory, sp_origin) -> Idp:
    """`sesame serve` on a free loopback port, with its own data, certs and sp-metadata directories."""
    check_peers()
    workdir = tmp_path_factory.mktemp("sesame")
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = server_env(workdir, port, base_url, create_database())
    server = Idp(base_url=base_url, env=env, workdir=workdir, log_file=workdir / "sesame.log", sp_base_url=sp_origin)
    proc = spawn_server(server)
    try:
        wait_healthy(proc, server)
        RUNNING.append(server)
        populate_directory(server)
        yield server
    finally:
        if server in RUNNING:
            RUNNING.remove(server)
        stop_server(proc)


def wait_healthy(proc: subprocess.Popen, server: Idp) -> None:
    deadline = time.monotonic() + STARTUP_DEADLINE_S
    last = "no answer yet"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"sesame serve exited with {proc.returncode} during start-up:\n{server.log_tail()}")
        try:
            r = requests.get(server.url("/healthz"), timeout=2)
            if r.status_code == 200:
                return
            last = f"HTTP {r.status_code}"
        except requests.RequestException as e:
            last = str(e)
        time.sleep(0.1)
    raise RuntimeError(f"sesame serve not healthy after {STARTUP_DEADLINE_S}s ({last}):\n{server.log_tail()}")


def populate_directory(server: Idp) -> None:
    for username, props in USERS.items():
        server.cli(
            "user", "add", username,
            "--email", props["email"],
            "--first-name", props["first_name"],
            "--last-name", props["last_name"],
            "--display-name", props["display_name"],
            "--password-stdin",
            input=PASSWORD,
        )  # fmt: skip
    for group, members in GROUPS.items():
        server.cli("group", "add", group)
        for username in members:
            server.cli("group", "add-member", group, username)


def directory_user(username: str) -> User:
    # memberOf releases only the user's groups that are bound to the application (least disclosure).
    groups = tuple(sorted(g for g, members in GROUPS.items() if username in members and g in APP_GROUPS))
    return User(username=username, groups=groups, **USERS[username])


@pytest.fixture(scope="session")
def alice(idp) -> User:
    return directory_user("alice")


@pytest.fixture(scope="session")
def tom(idp) -> User:
    return directory_user("tom")


@pytest.fixture(scope="session")
def bob(idp) -> User:
    return directory_user("bob")


@pytest.fixture(scope="session")
def cli(idp):
    """`cli(*args, input=None)`: the admin CLI against the running server; raises with stderr on failure."""
    return idp.cli


@pytest.fixture(scope="session")
def sp_keys(tmp_path_factory) -> SpKeys:
    """The signing key pair of the SPs that sign their AuthnRequests (RSA 2048, self-signed)."""
    return generate_sp_keys(tmp_path_factory.mktemp("sp-keys"), "peer-sp")


@pytest.fixture(scope="session")
def rogue_keys(tmp_path_factory) -> SpKeys:
    """A key pair no application has registered."""
    return generate_sp_keys(tmp_path_factory.mktemp("rogue-keys"), "rogue-sp")


@pytest.fixture(scope="session")
def demo_sp(idp) -> SpProfile:
    """An ordinary SP: unsigned requests, assertion signed."""
    return idp.register(idp.profile("demo"), **app_settings())


@pytest.fixture(scope="session")
def signed_requests_sp(idp, sp_keys) -> SpProfile:
    """An SP whose metadata says AuthnRequestsSigned and carries its certificate; the app requires signatures."""
    return idp.register(idp.profile("signedreq", keys=sp_keys), **app_settings(require_signed_requests=True))


@pytest.fixture(scope="session")
def signing_mode_sp(idp):
    """`signing_mode_sp(mode)`: an app whose responses are signed in `mode` (assertion | response | both)."""

    def get(mode: str) -> SpProfile:
        app = f"sign-{mode}"
        if app not in idp.apps:
            idp.register(idp.profile(app, signing=mode), **app_settings(signing=mode))
        return idp.apps[app]

    return get


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for server in RUNNING:
            report.sections.append((f"sesame serve log at {server.base_url} (last lines)", server.log_tail()))
