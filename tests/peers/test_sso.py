"""Web Browser SSO against the real IdP, judged by pysaml2 as the SP (SAML Profiles §4.1)."""

from __future__ import annotations

import calendar
import time
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import requests
import saml2.time_util
from saml2.response import UnsolicitedResponse, VerificationError
from saml2.saml import NAMEID_FORMAT_EMAILADDRESS
from saml2.validate import ResponseLifetimeExceed

import samlxml
from conftest import DEFAULT_RELAY_STATE, Idp, User
from htmlforms import parse_page
from samlxml import NS
from sp import (
    BINDINGS,
    CLOCK_SLACK,
    OutgoingRequest,
    ResponseNotAccepted,
    SpInitiatedLogin,
    SpProfile,
    browser_login,
    consume,
    idp_entity_id,
    open_page,
    sp_initiated_login,
)

# Characters that must survive the round trip through the IdP and its auto-POST form untouched.
RELAY_STATE = "/after/login?tab=1&next=<b>\"quoted\"</b>"


def login(idp: Idp, sp: SpProfile, user: User, binding: str = "redirect", **kwargs) -> SpInitiatedLogin:
    return sp_initiated_login(idp.client(sp), idp.base_url, user.username, user.password, BINDINGS[binding], **kwargs)


def assert_signed_in(response, user: User, client) -> None:
    """The assertion pysaml2 accepted names `user` and carries the configured attributes, nothing else."""
    assert response.name_id.text == user.email
    assert response.name_id.format == NAMEID_FORMAT_EMAILADDRESS
    assert response.issuer() == idp_entity_id(client)
    released = {name: sorted(values) if name == "memberOf" else values for name, values in response.ava.items()}
    assert released == user.expected_attributes()


@pytest.mark.parametrize("binding", ["redirect", "post"])
def test_sp_initiated_login_is_accepted_by_pysaml2(idp, demo_sp, alice, binding):
    flow = login(idp, demo_sp, alice, binding, relay_state=RELAY_STATE)

    form = flow.landing.post_form()
    assert form.target(flow.landing.response.url) == demo_sp.acs_url
    assert flow.landing.relay_state == RELAY_STATE
    response = flow.accept()
    assert response.in_response_to == flow.request.request_id
    assert response.came_from == "/"
    assert_signed_in(response, alice, flow.client)


@pytest.mark.parametrize("binding", ["redirect", "post"])
def test_signed_authn_request_is_accepted_by_app_requiring_signatures(idp, signed_requests_sp, alice, binding):
    flow = login(idp, signed_requests_sp, alice, binding, relay_state="signed", sign=True)

    assert request_is_signed(flow.request)
    response = flow.accept()
    assert response.in_response_to == flow.request.request_id
    assert flow.landing.relay_state == "signed"
    assert_signed_in(response, alice, flow.client)


@pytest.mark.parametrize("binding", ["redirect", "post"])
def test_unsigned_authn_request_is_refused_by_app_requiring_signatures(idp, signed_requests_sp, alice, binding):
    flow = login(idp, signed_requests_sp, alice, binding, relay_state="unsigned", sign=False)

    assert not request_is_signed(flow.request)
    assert_refused_with_error_page(flow.landing)


@pytest.mark.parametrize("binding", ["redirect", "post"])
def test_authn_request_signed_with_unregistered_key_is_refused(idp, signed_requests_sp, alice, rogue_keys, binding):
    """Only the SP certificates registered for the app verify its requests; a key shipped in KeyInfo is ignored."""
    impostor = signed_requests_sp.but(keys=rogue_keys)
    flow = login(idp, impostor, alice, binding, sign=True)

    assert request_is_signed(flow.request)
    assert_refused_with_error_page(flow.landing)


def assert_refused_with_error_page(landing) -> None:
    assert landing.saml_form is None, "the IdP answered with a SAMLResponse form"
    assert all(not form.has("SAMLResponse") for form in landing.page.forms)
    assert 400 <= landing.response.status_code < 500, f"HTTP {landing.response.status_code}: {landing.page.text}"
    assert landing.response.headers.get("Content-Type", "").startswith("text/html")
    assert landing.page.text, "the error page says nothing"


def request_is_signed(request: OutgoingRequest) -> bool:
    """Whether the request pysaml2 sent carries an RSA-SHA256 signature, so the IdP has one to verify."""
    if request.form_fields is None:
        query = parse_qs(urlsplit(request.url).query)
        if "Signature" not in query:
            return False
        assert query["SigAlg"] == [samlxml.RSA_SHA256] and len(query["Signature"]) == 1, query
        return True
    root = samlxml.parse(samlxml.decode(dict(request.form_fields)["SAMLRequest"]))
    signatures = samlxml.signatures_of(root)
    assert all(sig.signature_method == samlxml.RSA_SHA256 for sig in signatures), signatures
    return len(signatures) == 1


def test_idp_initiated_launch_from_portal_carries_default_relay_state(idp, demo_sp, alice):
    session = requests.Session()
    open_page(session, idp.url("/login"), alice.username, alice.password, idp.base_url)
    portal = session.get(idp.url("/"), timeout=30)
    assert portal.status_code == 200
    tiles = [urljoin(portal.url, href) for href in parse_page(portal.text).links]
    tile = [url for url in tiles if urlsplit(url).path == f"/saml2/{demo_sp.app}"]
    assert len(tile) == 1, f"portal links: {tiles}"

    landing = browser_login(session, session.get(tile[0], timeout=30), alice.username, alice.password, idp.base_url)

    assert landing.post_form().target(landing.response.url) == demo_sp.acs_url
    assert landing.relay_state == DEFAULT_RELAY_STATE
    unsolicited_ok = idp.client(demo_sp.but(allow_unsolicited=True))
    response = consume(unsolicited_ok, landing.saml_response, outstanding={})
    assert response.in_response_to is None
    assert_signed_in(response, alice, unsolicited_ok)
    # An SP that only takes answers to its own requests refuses it: nothing ties it to a request.
    with pytest.raises(UnsolicitedResponse):
        consume(idp.client(demo_sp), landing.saml_response, outstanding={"id-of-some-request": "/"})


def test_markup_in_attribute_value_arrives_as_text_without_injected_attribute(idp, demo_sp, tom):
    flow = login(idp, demo_sp, tom)

    response = flow.accept()
    assert response.ava["displayName"] == [tom.display_name]
    assert "role" not in response.ava
    assert_signed_in(response, tom, flow.client)
    assertion = samlxml.the_assertion(samlxml.parse(samlxml.decode(flow.landing.saml_response)))
    attributes = assertion.findall("saml:AttributeStatement/saml:Attribute", NS)
    assert sorted(a.get("Name") for a in attributes) == sorted(tom.expected_attributes())
    (display,) = [a for a in attributes if a.get("Name") == "displayName"]
    assert [v.text for v in display.findall("saml:AttributeValue", NS)] == [tom.display_name]


def test_member_of_lists_only_the_groups_bound_to_the_app(idp, demo_sp, bob):
    """`groups = true` releases the user's groups that are bound to this application (least disclosure): bob's
    `ops` group is bound to nothing, so this SP never learns of it."""
    flow = login(idp, demo_sp, bob)

    response = flow.accept()
    assert response.ava["memberOf"] == ["staff"]
    assert_signed_in(response, bob, flow.client)


# ---- the SP's checks have something to bite on: each response is accepted first, then refused for one reason


def test_response_is_refused_by_sp_with_other_entity_id(idp, demo_sp, alice):
    """Audience restriction (SAML Core §2.5.1.4): an assertion for one SP is useless to another."""
    flow = login(idp, demo_sp, alice)
    flow.accept()

    other = idp.client(demo_sp.but(entity_id=demo_sp.entity_id + "/other"))
    with pytest.raises(Exception, match="AudienceRestrictions conditions not satisfied"):
        flow.accept(client=other)


def test_response_to_another_request_id_is_refused(idp, demo_sp, alice):
    """InResponseTo must name a request the SP has outstanding (SAML Profiles §4.1.4.3)."""
    flow = login(idp, demo_sp, alice)
    flow.accept()

    with pytest.raises(UnsolicitedResponse):
        flow.accept(outstanding={"_not-the-request-we-sent": "/"})


def test_response_is_refused_by_sp_with_other_acs_url(idp, demo_sp, alice):
    """Destination on the Response and Recipient in the bearer confirmation name the ACS it was sent to."""
    flow = login(idp, demo_sp, alice)
    flow.accept()
    elsewhere = idp.client(demo_sp.but(acs_url=demo_sp.acs_url + "/other"))

    with pytest.raises(ResponseNotAccepted):
        flow.accept(client=elsewhere)

    # With the Response's Destination removed (the demo app signs only the Assertion, so the Response is not
    # covered by a signature), the signed Recipient alone still makes the other SP refuse.
    xml = samlxml.decode(flow.landing.saml_response)
    assert samlxml.signatures_of(samlxml.parse(xml)) == [], "demo app is expected to sign only the Assertion"
    without_destination = samlxml.encode(samlxml.drop_root_attribute(xml, "Destination"))
    outstanding = {flow.request.request_id: "/"}
    consume(flow.client, without_destination, outstanding)
    with pytest.raises(VerificationError, match="No valid recipient"):
        consume(elsewhere, without_destination, outstanding)


def test_response_is_refused_after_not_on_or_after(idp, demo_sp, alice, monkeypatch):
    """The bearer assertion expires (SAML Profiles §4.1.4.2): a late SP refuses it."""
    flow = login(idp, demo_sp, alice)
    expiry = earliest_not_on_or_after(samlxml.decode(flow.landing.saml_response))
    assert 0 < expiry - time.time() <= 3600, f"assertion lifetime {expiry - time.time():.0f}s"

    monkeypatch.setattr(saml2.time_util, "utc_now", lambda: expiry - 1)
    flow.accept()
    monkeypatch.setattr(saml2.time_util, "utc_now", lambda: expiry + CLOCK_SLACK + 1)
    with pytest.raises(ResponseLifetimeExceed):
        flow.accept()


def earliest_not_on_or_after(xml: bytes) -> int:
    assertion = samlxml.the_assertion(samlxml.parse(xml))
    limits = [
        el.get("NotOnOrAfter")
        for el in assertion.findall("saml:Conditions", NS)
        + assertion.findall("saml:Subject/saml:SubjectConfirmation/saml:SubjectConfirmationData", NS)
    ]
    assert len(limits) == 2 and all(limits), f"NotOnOrAfter on Conditions and SubjectConfirmationData: {limits}"
    return min(calendar.timegm(saml2.time_util.str_to_time(limit)) for limit in limits)
