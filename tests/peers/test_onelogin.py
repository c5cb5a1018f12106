"""OneLogin's python3-saml as the SP, with its defaults, as a new user would set it up: its own metadata imported
into sesame with no settings file, on the loopback base URL of `make run`.

python3-saml's defaults are stricter than pysaml2's in two ways that an IdP must meet out of the box: it asks for
PasswordProtectedTransport with comparison exact (`requestedAuthnContext`), and it refuses a response without an
AttributeStatement (`wantAttributeStatement`). Strict mode also checks Destination, Recipient, InResponseTo,
Audience and the signature against the IdP certificate of the metadata.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
import requests
from onelogin.saml2.auth import OneLogin_Saml2_Auth
from onelogin.saml2.idp_metadata_parser import OneLogin_Saml2_IdPMetadataParser
from onelogin.saml2.settings import OneLogin_Saml2_Settings

from conftest import APP_GROUPS, Idp, User
from sp import open_page

APP = "onelogin"
OID_MAIL = "urn:oid:0.9.2342.19200300.100.1.3"
OID_UID = "urn:oid:0.9.2342.19200300.100.1.1"
PPT = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"


def sp_part(sp_origin: str) -> dict:
    """python3-saml's SP settings: the SP on the (never contacted) SP origin, every security option at its default."""
    return {
        "strict": True,
        "debug": False,
        "sp": {
            "entityId": f"{sp_origin}/{APP}/metadata",
            "assertionConsumerService": {
                "url": f"{sp_origin}/{APP}/acs",
                "binding": "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST",
            },
            "NameIDFormat": "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified",
        },
    }


def request_data(acs_url: str, post: dict[str, str] | None = None) -> dict:
    """What a web framework tells python3-saml about the request at the ACS (its own URL is what Destination and
    Recipient are checked against)."""
    parts = urlsplit(acs_url)
    return {
        "https": "on" if parts.scheme == "https" else "off",
        "http_host": parts.netloc,
        "script_name": parts.path,
        "get_data": {},
        "post_data": post or {},
    }


@pytest.fixture(scope="module")
def onelogin_sp(idp: Idp, sp_origin: str) -> dict:
    """The application registered from python3-saml's own metadata, without a settings file, bound to the test
    groups; returns the SP's full settings, whose IdP half python3-saml reads from the application's metadata URL."""
    settings = sp_part(sp_origin)
    metadata = OneLogin_Saml2_Settings(settings, sp_validation_only=True).get_sp_metadata()
    directory = idp.workdir / "sp" / APP
    directory.mkdir(parents=True, exist_ok=True)
    metadata_file = directory / "metadata.xml"
    metadata_file.write_bytes(metadata if isinstance(metadata, bytes) else metadata.encode())
    idp.cli("app", "import", APP, "--metadata", str(metadata_file))
    for group in APP_GROUPS:
        idp.cli("app", "bind", APP, group)
    idp_metadata = requests.get(idp.metadata_url(APP), timeout=30).text
    return OneLogin_Saml2_IdPMetadataParser.merge_settings(settings, OneLogin_Saml2_IdPMetadataParser.parse(idp_metadata))


def assert_accepted(settings: dict, form_fields: dict[str, str], user: User, request_id: str | None) -> None:
    """python3-saml's ACS processes the posted response and finds nothing wrong."""
    acs_url = settings["sp"]["assertionConsumerService"]["url"]
    auth = OneLogin_Saml2_Auth(request_data(acs_url, form_fields), settings)
    auth.process_response(request_id=request_id)
    assert auth.get_errors() == [], auth.get_last_error_reason()
    assert auth.is_authenticated()
    attributes = auth.get_attributes()
    assert attributes[OID_MAIL] == [user.email], attributes
    assert attributes[OID_UID] == [user.username], attributes
    assert auth.get_friendlyname_attributes()["mail"] == [user.email]
    assert auth.get_nameid() == user.email


def test_the_defaults_ask_for_password_protected_transport(onelogin_sp):
    """The premise: python3-saml's defaults are the strict ones this file is about."""
    security = OneLogin_Saml2_Settings(onelogin_sp).get_security_data()
    assert security["requestedAuthnContext"] is True and security["requestedAuthnContextComparison"] == "exact"
    assert security["wantAttributeStatement"] is True


def test_sp_initiated_redirect_login_is_accepted_by_python3_saml(idp, onelogin_sp, alice):
    acs_url = onelogin_sp["sp"]["assertionConsumerService"]["url"]
    auth = OneLogin_Saml2_Auth(request_data(acs_url), onelogin_sp)
    login_url = auth.login(return_to="/after")
    assert PPT not in login_url  # the request is deflated; its context is checked on the way back
    landing = open_page(requests.Session(), login_url, alice.username, alice.password, idp.base_url)

    form = landing.post_form()
    assert form.target(landing.response.url) == acs_url
    assert landing.relay_state == "/after"
    fields = {"SAMLResponse": landing.saml_response, "RelayState": landing.relay_state}
    assert_accepted(onelogin_sp, fields, alice, auth.get_last_request_id())


def test_idp_initiated_login_is_accepted_by_python3_saml(idp, onelogin_sp, alice):
    landing = open_page(requests.Session(), idp.app_url(APP), alice.username, alice.password, idp.base_url)

    assert landing.post_form().target(landing.response.url) == onelogin_sp["sp"]["assertionConsumerService"]["url"]
    assert_accepted(onelogin_sp, {"SAMLResponse": landing.saml_response}, alice, None)
