"""The admin REST API against the real binary: its OpenAPI document validates (openapi-spec-validator), and real
responses, successes and problems alike, match the schemas the document gives for their operation and status."""

from __future__ import annotations

import copy
import http.server
import threading
from urllib.parse import quote

import pytest
import requests
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from conftest import free_port
from sp import sp_metadata_xml

PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def document(idp) -> dict:
    r = requests.get(idp.url("/api/v1/openapi.json"), timeout=30)
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/json")
    return r.json()


@pytest.fixture(scope="module")
def token(idp) -> str:
    out = idp.cli("api-token", "create", "peer-tests")
    token = out.strip()
    assert token.startswith("sesame_") and len(out.splitlines()) == 1
    return token


class Api:
    def __init__(self, idp, document: dict, token: str | None):
        self.idp = idp
        self.document = document
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.checked: list[tuple[str, str, int]] = []

    def call(self, method: str, template: str, status: int, path: str | None = None, **kwargs) -> requests.Response:
        """Sends METHOD to PATH (TEMPLATE with its names filled), expects STATUS, and validates the body against the
        schema the document gives for (TEMPLATE, METHOD, STATUS)."""
        headers = {**self.headers, **kwargs.pop("headers", {})}
        r = requests.request(method, self.idp.url(path or template), headers=headers, timeout=60, **kwargs)
        assert r.status_code == status, f"{method} {path or template}: {r.status_code} {r.text}"
        operation = self.document["paths"][template][method.lower()]
        documented = operation["responses"].get(str(status))
        assert documented is not None, f"{method} {template} does not document {status}"
        content = documented.get("content")
        if not content:
            assert not r.content, f"{method} {template} {status} documents no body but sent {r.text!r}"
        else:
            media = r.headers["Content-Type"].split(";")[0]
            assert media in content, f"{method} {template} {status}: {media} not in {list(content)}"
            schema = content[media]["schema"]
            validator(self.document, schema).validate(r.json())
        self.checked.append((method, template, status))
        return r


def validator(document: dict, schema: dict) -> Draft202012Validator:
    """A JSON Schema 2020-12 validator for SCHEMA, whose `#/components/...` references resolve in DOCUMENT."""
    doc = copy.deepcopy(document)
    doc["x-checked"] = schema
    registry = Registry().with_resource("urn:openapi", Resource.from_contents(doc, default_specification=DRAFT202012))
    return Draft202012Validator({"$ref": "urn:openapi#/x-checked"}, registry=registry)


@pytest.fixture(scope="module")
def api(idp, document, token) -> Api:
    return Api(idp, document, token)


@pytest.fixture(scope="module")
def metadata_url(idp):
    """The pysaml2 SP's metadata, served on loopback, as an SP publishes its metadata URL."""
    profile = idp.profile("apicrm")
    body = sp_metadata_xml(profile).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "application/samlmetadata+xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/metadata.xml", profile
    finally:
        server.shutdown()


def test_openapi_document_validates(document):
    validate(document)
    assert document["openapi"].startswith("3.1")
    assert document["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "sesame_<43 base64url characters>",
        "description": "An API token from `sesame api-token create NAME [--read-only]` or the console's API tokens page",
    }


def test_responses_match_the_document(idp, document, api, metadata_url):
    url, profile = metadata_url
    api.call("GET", "/api/v1/users", 200)
    api.call("GET", "/api/v1/users", 200, path="/api/v1/users?limit=1")
    api.call("GET", "/api/v1/users/{username}", 200, path="/api/v1/users/alice")
    api.call("GET", "/api/v1/users/{username}", 404, path="/api/v1/users/nobody")
    created = api.call("POST", "/api/v1/users", 201, json={"username": "apiuser", "email": "apiuser@example.org"})
    assert created.json()["status"] == "active"
    api.call("POST", "/api/v1/users", 409, json={"username": "apiuser", "email": "apiuser@example.org"})
    api.call("POST", "/api/v1/users", 422, json={"username": "x", "email": 3})
    api.call("POST", "/api/v1/users", 400, data="{", headers={"Content-Type": "application/json"})
    api.call("PATCH", "/api/v1/users/{username}", 200, path="/api/v1/users/apiuser", json={"first_name": "Api"})
    api.call("POST", "/api/v1/users/{username}/suspend", 200, path="/api/v1/users/apiuser/suspend")
    api.call("PUT", "/api/v1/users/{username}/password", 204, path="/api/v1/users/apiuser/password", json={"password": "pw-123456-long"})

    api.call("GET", "/api/v1/groups", 200)
    api.call("POST", "/api/v1/groups", 201, json={"name": "api-team"})
    api.call("POST", "/api/v1/groups", 409, json={"name": "api-team"})
    api.call("POST", "/api/v1/groups/{name}/members", 204, path="/api/v1/groups/api-team/members", json={"username": "alice"})
    api.call("GET", "/api/v1/groups/{name}/members", 200, path="/api/v1/groups/api-team/members")
    api.call("GET", "/api/v1/groups/{name}", 200, path="/api/v1/groups/api-team")

    # A custom SAML application from the pysaml2 SP's metadata URL, bound to a group.
    made = api.call("POST", "/api/v1/applications", 201, json={"name": profile.app, "metadata_url": url})
    assert made.json()["sso"]["sp_entity_id"] == profile.entity_id
    assert made.json()["sso"]["sp_metadata_url"] == url
    api.call("POST", "/api/v1/applications", 409, json={"name": profile.app, "metadata_url": url})
    app_path = f"/api/v1/applications/{profile.app}"
    api.call("PUT", "/api/v1/applications/{name}/groups/{group}", 204, path=f"{app_path}/groups/api-team")
    api.call("PUT", "/api/v1/applications/{name}/groups/{group}", 409, path=f"{app_path}/groups/api-team")
    shown = api.call("GET", "/api/v1/applications/{name}", 200, path=app_path).json()
    assert shown["bound_groups"] == ["api-team"]
    assert shown["idp_url"] == idp.app_url(profile.app)
    api.call("PATCH", "/api/v1/applications/{name}", 200, path=app_path, json={
        "signing_mode": "both",
        "attributes": [{"name": "mail", "property": "email"}, {"name": "tier", "constant": "gold"},
                       {"name": "memberOf", "groups": True}],
    })  # fmt: skip
    api.call("PATCH", "/api/v1/applications/{name}", 422, path=app_path, json={"signing_mode": "never"})
    cert = api.call("GET", "/api/v1/applications/{name}/certificate", 200, path=f"{app_path}/certificate").json()
    assert requests.get(idp.certificate_url(profile.app), timeout=30).text.strip() == cert["pem"].strip()
    api.call("GET", "/api/v1/applications", 200)
    api.call("GET", "/api/v1/applications/{name}", 404, path="/api/v1/applications/nope")
    api.call("GET", "/api/v1/catalog", 200)
    events = api.call("GET", "/api/v1/events", 200, path=f"/api/v1/events?app={quote(profile.app)}&type=admin").json()
    assert {e["name"] for e in events["items"]} >= {"admin_app_create", "admin_app_bind", "admin_app_update"}
    assert all(e["actor"] == "api_token:peer-tests" for e in events["items"])
    api.call("DELETE", "/api/v1/applications/{name}/groups/{group}", 204, path=f"{app_path}/groups/api-team")
    api.call("DELETE", "/api/v1/users/{username}", 204, path="/api/v1/users/apiuser")

    # Without a token: a 401 problem with the Bearer challenge, as documented.
    anonymous = Api(idp, document, None)
    r = anonymous.call("GET", "/api/v1/users", 401)
    assert r.headers["Content-Type"] == PROBLEM
    assert r.headers["WWW-Authenticate"].startswith("Bearer")

    # A read-only token reads, and its changes are the documented 403 problem with the insufficient_scope challenge;
    # once revoked, it is a 401 problem of type revoked-token (RFC 6750 §3.1).
    reader = Api(idp, document, idp.cli("api-token", "create", "peer-reader", "--read-only").strip())
    reader.call("GET", "/api/v1/users", 200)
    r = reader.call("POST", "/api/v1/groups", 403, json={"name": "from-a-reader"})
    assert r.json()["type"] == "urn:sesame:problem:forbidden"
    assert r.headers["WWW-Authenticate"] == 'Bearer realm="sesame", error="insufficient_scope"'
    idp.cli("api-token", "revoke", "peer-reader")
    r = reader.call("GET", "/api/v1/users", 401)
    assert r.json()["type"] == "urn:sesame:problem:revoked-token"
    assert 'error="invalid_token"' in r.headers["WWW-Authenticate"]
    assert len(api.checked) >= 30
