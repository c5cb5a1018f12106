"""Multi-factor sign-in judged by pysaml2 as the SP: it asks for the REFEDS MFA profile with RequestedAuthnContext
(exact and minimum) and gets a Success response with that class after a TOTP code, and NoAuthnContext for a
user who has no second factor. The TOTP codes are computed here from the enrolment page's secret (RFC 6238 with
hmac), as an authenticator app would."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import struct
import time
from urllib.parse import urljoin

import pytest
import requests
from saml2.response import StatusNoAuthnContext
from saml2.samlp import RequestedAuthnContext
from saml2.saml import AuthnContextClassRef

from conftest import PASSWORD, Idp
from htmlforms import parse_page
from sp import BINDINGS, OutgoingRequest, consume, idp_entity_id, send

MFA = "https://refeds.org/profile/mfa"


def totp(secret_b32: str, at: float, step: int = 30) -> str:
    """RFC 6238 (HMAC-SHA-1, 6 digits) for the 30-second step containing `at`."""
    key = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    digest = hmac.new(key, struct.pack(">Q", int(at) // step), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 1_000_000:06d}"


def test_rfc_6238_vectors():
    # RFC 6238 Appendix B (SHA-1 seed "12345678901234567890"), last six digits.
    secret = base64.b32encode(b"12345678901234567890").decode()
    assert totp(secret, 59) == "287082"
    assert totp(secret, 1111111109) == "081804"


def asking_for_mfa(client, comparison: str) -> OutgoingRequest:
    requested = RequestedAuthnContext(
        authn_context_class_ref=[AuthnContextClassRef(text=MFA)], comparison=comparison
    )
    request_id, info = client.prepare_for_authenticate(
        entityid=idp_entity_id(client),
        binding=BINDINGS["redirect"],
        relay_state="",
        requested_authn_context=requested,
    )
    return OutgoingRequest(request_id, BINDINGS["redirect"], dict(info["headers"])["Location"], None)


def submit(session: requests.Session, response: requests.Response, field: str, **values) -> requests.Response:
    page = parse_page(response.text)
    form = page.form_with(field)
    assert form is not None, f"no form with {field} at {response.url}: {response.text[:600]!r}"
    return session.post(form.target(response.url), data=form.submission(**values), timeout=30)


def saml_response(response: requests.Response) -> str:
    form = parse_page(response.text).form_with("SAMLResponse")
    assert form is not None, f"no SAMLResponse at {response.url}: HTTP {response.status_code} {response.text[:600]!r}"
    return form.value("SAMLResponse")


@pytest.fixture(scope="module")
def mfa_user(idp: Idp):
    """A user in a bound group, with TOTP enrolled through the sign-in's enrolment step (after an administrator's
    reset, which asks for it); returns (username, base32 secret, the step time already used)."""
    idp.cli("user", "add", "mfa-ann", "--email", "ann@example.org", "--password-stdin", input=PASSWORD)
    idp.cli("group", "add-member", "staff", "mfa-ann")
    idp.cli("user", "mfa", "reset", "mfa-ann")
    session = requests.Session()
    page = session.get(idp.url("/login"), timeout=30)
    enrol = submit(session, page, "password", username="mfa-ann", password=PASSWORD)
    assert "/login/enrol" in enrol.url, enrol.url
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', enrol.text).group(1)
    assert f"secret={secret}" in enrol.text, "the otpauth:// URI carries the same secret"
    used_at = time.time()
    codes = submit(session, enrol, "code", code=totp(secret, used_at))
    assert codes.status_code == 200 and codes.text.count('<li><code class="select">') == 10, codes.text[:600]
    listed = idp.cli("user", "mfa", "list", "mfa-ann", "--json")
    assert '"kind":"totp"' in listed and "secret" not in listed.lower().replace("recovery", "")
    return "mfa-ann", secret, used_at


def test_refeds_mfa_exact_and_minimum_are_answered_after_totp(idp, demo_sp, mfa_user):
    username, secret, used_at = mfa_user
    client = idp.client(demo_sp)
    session = requests.Session()
    request = asking_for_mfa(client, "exact")
    login_page = send(session, request)
    factor = submit(session, login_page, "password", username=username, password=PASSWORD)
    assert "/login/factor" in factor.url, factor.url
    assert "SAMLResponse" not in factor.text, "nothing for the SP before the second factor"
    # The next step's code: the enrolment used the current one, and each step is accepted once.
    answered = submit(session, factor, "code", code=totp(secret, used_at + 30))
    response = consume(client, saml_response(answered), {request.request_id: "/"})
    assert response.authn_info()[0][0] == MFA
    assert response.name_id.text == "ann@example.org"

    # The same browser, now multi-factor: a request for at least MFA is answered at once.
    request = asking_for_mfa(client, "minimum")
    answered = send(session, request)
    response = consume(client, saml_response(answered), {request.request_id: "/"})
    assert response.authn_info()[0][0] == MFA


def test_a_user_without_a_factor_gets_no_authn_context(idp, demo_sp, alice):
    client = idp.client(demo_sp)
    session = requests.Session()
    request = asking_for_mfa(client, "exact")
    login_page = send(session, request)
    answered = submit(session, login_page, "password", username=alice.username, password=alice.password)
    with pytest.raises(StatusNoAuthnContext):
        consume(client, saml_response(answered), {request.request_id: "/"})
