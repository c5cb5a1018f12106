"""The five catalog connectors against pysaml2: each is created with `sesame app create` from example placeholder
values, and pysaml2, configured with the entity ID and ACS URL that `sesame app show --json` reports, completes a
full SP-initiated login (Netskope and Zscaler sign their AuthnRequests with RSA-SHA256, with the SP certificate
given by --sp-cert). The SP never runs: the browser hands the auto-posted SAMLResponse to pysaml2, as in
test_sso.py.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass

import pytest

from conftest import APP_GROUPS, PASSWORD, Idp
from sp import BINDINGS, SpProfile, sp_initiated_login

# A user with the properties the JIT sets read (no phone: `user add` has no flag for it, so user.phone is unset
# and, like every empty value, not sent), in a group of her own that the catalog apps are bound to.
GRACE = dict(
    username="grace",
    email="grace@example.org",
    first_name="Grace",
    last_name="Hopper",
    display_name="Grace Hopper",
    department="Research",
    job_title="Rear Admiral",
)
GRACE_GROUP = "catalog-users"


@dataclass(frozen=True)
class Example:
    connector: str
    values: dict[str, str]
    signing: str  # the connector's signing mode, which pysaml2 must insist on
    signs_requests: bool
    # What pysaml2 must receive for GRACE: the connector's JIT set, nothing else.
    attributes: dict[str, list[str]]


EXAMPLES = [
    Example(
        "onetrust",
        {"YOUR_SUBDOMAIN": "acme"},
        "both",
        False,
        {"FirstName": ["Grace"], "LastName": ["Hopper"], "Email": ["grace@example.org"]},
    ),
    Example(
        "interact",
        {"YOUR_SUBDOMAIN": "acme.interactgo.com", "INTERACT_ENTITY_ID": "urn:interact:acme123456789"},
        "assertion",
        False,
        {},
    ),
    Example(
        "netskope",
        {
            "APPLICATION_INSTANCE_URL": "https://acme.goskope.com",
            "NETSKOPE_PROXY_ACS_URL": "https://acme.goskope.com/nsauth/saml2/http-post/acme/acs",
        },
        "assertion",
        True,
        {},
    ),
    Example(
        "hoxhunt",
        {"YOUR_ORG_ID": "5f3c2a1b9d8e7f6a5b4c3d2e"},
        "assertion",
        False,
        {
            "user.firstname": ["Grace"],
            "user.lastname": ["Hopper"],
            "user.department": ["Research"],
            "user.title": ["Rear Admiral"],
        },
    ),
    Example(
        "zscaler",
        {"ZSCALER_CLOUD_NAME": "zscalertwo.net"},
        "assertion",
        True,
        {"DisplayName": ["Grace Hopper"], "memberOf": [GRACE_GROUP], "Department": ["Research"]},
    ),
]
EXPECTED_URLS = {
    "onetrust": ("https://www.onetrust.com/saml2", "https://acme.onetrust.com/auth/consumerservice"),
    "interact": ("urn:interact:acme123456789", "https://acme.interactgo.com/Interact/Login/default.aspx"),
    "netskope": ("https://acme.goskope.com", "https://acme.goskope.com/nsauth/saml2/http-post/acme/acs"),
    "hoxhunt": (
        "https://app.hoxhunt.com/saml/consume/5f3c2a1b9d8e7f6a5b4c3d2e",
        "https://app.hoxhunt.com/saml/consume/5f3c2a1b9d8e7f6a5b4c3d2e",
    ),
    "zscaler": ("zscalertwo.net", "https://login.zscalertwo.net/sfc_sso"),
}
_serial = itertools.count()


@pytest.fixture(scope="module")
def grace(idp, cli):
    args = ["user", "add", GRACE["username"], "--email", GRACE["email"]]
    for flag in ("first_name", "last_name", "display_name", "department", "job_title"):
        args += [f"--{flag.replace('_', '-')}", GRACE[flag]]
    cli(*args, "--password-stdin", input=PASSWORD)
    cli("group", "add", GRACE_GROUP)
    cli("group", "add-member", GRACE_GROUP, GRACE["username"])
    return GRACE


def create_app(idp: Idp, example: Example, sp_keys) -> SpProfile:
    """`sesame app create` from the example's values, bound to the test groups; the SP as `app show` describes it."""
    app = f"{example.connector}-{next(_serial)}"
    args = ["app", "create", app, "--connector", example.connector]
    for name, value in example.values.items():
        args += ["--set", f"{name}={value}"]
    if example.signs_requests:
        args += ["--sp-cert", str(sp_keys.cert_file)]
    out = idp.cli(*args)
    assert f"created application {app} from connector {example.connector}" in out
    for group in (*APP_GROUPS, GRACE_GROUP):
        idp.cli("app", "bind", app, group)
    shown = idp.show_app(app)
    assert shown["connector"] == example.connector
    assert shown["require_signed_requests"] is example.signs_requests
    return SpProfile(
        app=app,
        entity_id=shown["sp_entity_id"],
        acs_url=shown["acs_urls"][0],
        signing=example.signing,
        keys=sp_keys if example.signs_requests else None,
    )


def login(idp: Idp, profile: SpProfile, binding: str = "redirect"):
    flow = sp_initiated_login(idp.client(profile), idp.base_url, GRACE["username"], PASSWORD, BINDINGS[binding])
    assert flow.landing.post_form().target(flow.landing.response.url) == profile.acs_url
    return flow.accept()


def released(response) -> dict[str, list[str]]:
    return {name: sorted(values) for name, values in response.ava.items()}


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.connector for e in EXAMPLES])
def test_connector_app_logs_in_to_pysaml2_with_its_jit_set(idp, grace, sp_keys, example):
    profile = create_app(idp, example, sp_keys)
    assert (profile.entity_id, profile.acs_url) == EXPECTED_URLS[example.connector]

    for binding in ("redirect", "post"):
        response = login(idp, profile, binding)
        assert response.name_id.text == GRACE["email"]
        assert released(response) == example.attributes


@pytest.mark.parametrize(
    "example", [e for e in EXAMPLES if e.attributes], ids=[e.connector for e in EXAMPLES if e.attributes]
)
def test_switched_off_jit_attribute_is_not_sent_and_a_constant_replaces_a_source(idp, grace, sp_keys, example):
    profile = create_app(idp, example, sp_keys)
    off, changed, *_ = list(example.attributes)
    idp.cli("app", "attribute", profile.app, off, "--off")
    idp.cli("app", "attribute", profile.app, changed, "--constant", "fixed value")

    got = released(login(idp, profile))
    assert off not in got
    expected = {k: v for k, v in example.attributes.items() if k != off} | {changed: ["fixed value"]}
    assert got == expected

    idp.cli("app", "attribute", profile.app, off, "--on")
    assert off in released(login(idp, profile))


def test_signed_request_connectors_refuse_unsigned_requests(idp, grace, sp_keys):
    for example in (e for e in EXAMPLES if e.signs_requests):
        profile = create_app(idp, example, sp_keys)
        flow = sp_initiated_login(
            idp.client(profile), idp.base_url, GRACE["username"], PASSWORD, BINDINGS["redirect"], sign=False
        )
        assert flow.landing.saml_form is None, f"{example.connector} answered an unsigned request"
        assert 400 <= flow.landing.response.status_code < 500


def test_catalog_list_names_every_connector_and_its_placeholders(idp):
    lines = [json.loads(line) for line in idp.cli("catalog", "list", "--json").splitlines()]
    placeholders = {c["id"]: [p["name"] for p in c["placeholders"]] for c in lines}
    assert placeholders == {
        "hoxhunt": ["YOUR_ORG_ID"],
        "interact": ["YOUR_SUBDOMAIN", "INTERACT_ENTITY_ID"],
        "netskope": ["APPLICATION_INSTANCE_URL", "NETSKOPE_PROXY_ACS_URL"],
        "onetrust": ["YOUR_SUBDOMAIN"],
        "zscaler": ["ZSCALER_CLOUD_NAME"],
    }
    signed = {c["id"] for c in lines if c["sp_signs_requests"]}
    assert signed == {"netskope", "zscaler"}
    assert [c["id"] for c in map(json.loads, idp.cli("catalog", "list", "zscaler", "--json").splitlines())] == [
        "zscaler"
    ]


def test_unfilled_placeholders_exit_1_with_one_line_naming_them(idp):
    instance = "APPLICATION_INSTANCE_URL=https://a.goskope.com"
    proc = idp.run_cli("app", "create", "half", "--connector", "netskope", "--set", instance)
    assert proc.returncode == 1
    assert proc.stderr.strip().count("\n") == 0
    assert "NETSKOPE_PROXY_ACS_URL" in proc.stderr and "APPLICATION_INSTANCE_URL" not in proc.stderr
    assert idp.run_cli("app", "show", "half").returncode == 1, "nothing was created"
    usage = idp.run_cli("app", "create", "half", "--connector", "netskope", "--set", "NO_EQUALS_SIGN")
    assert usage.returncode == 2
