"""The admin API against its own OpenAPI document, property-based: every operation of the document is called with
generated paths, queries and bodies (and a real API token), and every answer must be no server error, carry a status
the document gives for that operation, and match that status's schema.

The server is this module's own (the calls change and delete what they find, so they never touch the session's
shared server), seeded with a small directory, applications imported from SP metadata and a bookmark; the generated path
names hit those seeded names about half the time, so operations act on something real and not only answer 404.
Generation is derandomized and bounded, so a run is reproducible and takes well under two minutes.
"""

from __future__ import annotations

import hypothesis
import pytest
import requests
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from conftest import (
    RUNNING,
    Idp,
    app_settings,
    create_database,
    free_port,
    populate_directory,
    server_env,
    spawn_server,
    stop_server,
    wait_healthy,
)

# Generated cases per operation in the fuzzing phase (the examples and coverage phases add their own, bounded).
MAX_EXAMPLES = 50
# The seeded resources the generated path parameters pick from (half the time; random names otherwise).
SEEDED = {
    "path.name": ["demo", "other", "wiki", "staff", "engineering"],
    "path.username": ["alice", "bob", "tom"],
    "path.group": ["staff", "ops"],
    "path.attribute": ["mail", "displayName"],
}
# The operations that delete or rename what they name act on spare resources only, so the seeded ones stay for
# every other operation whatever order the operations run in.
SPARE = {
    "DELETE /api/v1/applications/{name}": {"path.name": ["spare"]},
    "DELETE /api/v1/groups/{name}": {"path.name": ["spare-group"]},
    "PATCH /api/v1/groups/{name}": {"path.name": ["spare-group"]},
    "DELETE /api/v1/users/{username}": {"path.username": ["carol"]},
}
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def api_server(tmp_path_factory, sp_origin):
    """A `sesame serve` of this module alone (on the suite's database kind), seeded: the users and groups of the
    shared server, applications imported from SP metadata, and spares for the operations that delete or rename."""
    workdir = tmp_path_factory.mktemp("sesame-api")
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    server = Idp(
        base_url=base_url,
        env=server_env(workdir, port, base_url, create_database()),
        workdir=workdir,
        log_file=workdir / "sesame.log",
        sp_base_url=sp_origin,
    )
    proc = spawn_server(server)
    try:
        wait_healthy(proc, server)
        RUNNING.append(server)
        populate_directory(server)
        server.register(server.profile("demo"), **app_settings())
        server.register(server.profile("other"), **app_settings(signing="response"))
        server.register(server.profile("spare"), **app_settings())
        server.cli("group", "add", "spare-group")
        server.cli("user", "add", "carol", "--email", "carol@example.org")
        yield server
    finally:
        if server in RUNNING:
            RUNNING.remove(server)
        stop_server(proc)


@pytest.fixture(scope="module")
def api_token(api_server) -> str:
    token = api_server.cli("api-token", "create", "property-tests").strip()
    assert token.startswith("sesame_")
    # A bookmark, which has no SSO settings, certificates or identity management to act on.
    bookmark = {"name": "wiki", "bookmark_url": "https://wiki.example.com/", "display_label": "Wiki"}
    r = requests.post(
        api_server.url("/api/v1/applications"), json=bookmark, headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    assert r.status_code == 201, r.text
    return token


@pytest.fixture(scope="module")
def api_schema(api_server):
    config = SchemathesisConfig.from_dict(
        {
            "seed": 1,
            "dictionaries": {
                **{key: {"values": values} for key, values in SEEDED.items()},
                **{f"{label} {key}": {"values": v} for label, spare in SPARE.items() for key, v in spare.items()},
            },
            "parameters": {key: {"dictionary": key, "probability": 0.5} for key in SEEDED},
            "operations": [
                {
                    "include-name": label,
                    "parameters": {key: {"dictionary": f"{label} {key}", "probability": 0.5} for key in spare},
                }
                for label, spare in SPARE.items()
            ],
        }
    )
    schema = schemathesis.openapi.from_url(api_server.url("/api/v1/openapi.json"), config=config, timeout=30)
    schema.config.update(base_url=api_server.base_url)
    return schema


schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.fixture(autouse=True)
def node_id_for_subtests(request):
    """The lazy schema renames the test node per operation through `_nodeid`, which pytest 9's nodes no longer
    have (their id is `nodeid`); give it the attribute it reads."""
    if not hasattr(request.node, "_nodeid"):
        request.node._nodeid = request.node.nodeid


@schema.parametrize()
@hypothesis.settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(hypothesis.HealthCheck),
)
def test_every_answer_is_documented(case, api_token):
    """A status the document does not give for the operation (an undocumented 422, say), a body that does not match
    the documented schema, or a 5xx fails the operation's case."""
    with requests.Session() as session:
        case.call_and_validate(
            session=session, headers={"Authorization": f"Bearer {api_token}"}, checks=CHECKS, timeout=30
        )
