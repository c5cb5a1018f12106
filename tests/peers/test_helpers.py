"""The suite's own helpers, checked without sesame: the form reader, the XML edits, and the pysaml2 SP side
(against IdP metadata that pysaml2 writes and a loopback HTTP server serves)."""

from __future__ import annotations

import threading
import tomllib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.config import IdPConfig
from saml2.metadata import create_metadata_string

import samlxml
from conftest import app_settings, to_toml
from htmlforms import parse_page
from samlxml import NS
from sp import SpProfile, create_authn_request, generate_sp_keys, make_client, sp_metadata_xml

LOGIN_PAGE = """<!doctype html><html><head><title>Sign in &amp; go</title><style>.x{}</style></head><body>
<p>Welcome &lt;back&gt;</p>
<form method="POST" action="/login?next=%2Fa&amp;b=1">
  <input type="hidden" name="csrf_token" value="a&amp;b&quot;c">
  <input name="username"><input type="password" name="password" value="">
  <input type="checkbox" name="remember" checked><input type="checkbox" name="spam">
  <input type="text" name="off" disabled value="x">
  <select name="lang"><option value="en">English</option><option value="de" selected>Deutsch</option></select>
  <textarea name="note">line &amp; more</textarea>
  <button type="submit" name="go" value="1">Sign in</button>
</form>
<form action="https://sp.example/acs" method="post"><input type="hidden" name="SAMLResponse" value="PD94"></form>
<a href="/saml2/demo">Demo</a><a href="/saml2/other?x=1&amp;y=2">Other</a>
<script>document.forms[1].submit()</script>
</body></html>"""


def test_form_reader_finds_every_control_with_unescaped_values():
    page = parse_page(LOGIN_PAGE)

    assert page.title == "Sign in & go"
    assert "Welcome <back>" in page.text and "submit()" not in page.text
    login = page.form_with("password")
    assert (login.method, login.action) == ("post", "/login?next=%2Fa&b=1")
    assert login.inputs == [
        ("csrf_token", 'a&b"c'),
        ("username", ""),
        ("password", ""),
        ("remember", "on"),
        ("lang", "de"),
        ("note", "line & more"),
    ]
    assert login.submission(username="u", password="p") == [
        ("csrf_token", 'a&b"c'),
        ("username", "u"),
        ("password", "p"),
        ("remember", "on"),
        ("lang", "de"),
        ("note", "line & more"),
        ("go", "1"),
    ]
    assert login.target("http://127.0.0.1:1/saml2/x?SAMLRequest=1") == "http://127.0.0.1:1/login?next=%2Fa&b=1"
    saml = page.form_with("SAMLResponse")
    assert (saml.action, saml.value("SAMLResponse"), saml.get("RelayState")) == ("https://sp.example/acs", "PD94", None)
    assert page.links == ["/saml2/demo", "/saml2/other?x=1&y=2"]
    assert page.form_with("nothing") is None


def test_settings_toml_is_read_back_as_written():
    settings = app_settings(signing="both", require_signed_requests=True, display_label='Q"uote\\d')

    assert tomllib.loads(to_toml(settings)) == settings


def test_xml_edits_change_exactly_one_thing():
    xml = b'<samlp:Response ID="r" Destination="https://x/acs" xmlns:samlp="p"><a Destination="keep">v</a></samlp:Response>'

    assert samlxml.drop_root_attribute(xml, "Destination") == (
        b'<samlp:Response ID="r" xmlns:samlp="p"><a Destination="keep">v</a></samlp:Response>'
    )
    assert samlxml.element_text_once(b"<s:NameID F='1'>a@b</s:NameID><v>a@b</v>", "NameID", "a@b") == b">a@b</s:NameID>"
    with pytest.raises(AssertionError):
        samlxml.replace_once(b"gold gold", b"gold", b"lead")


@pytest.fixture(scope="module")
def fake_idp_metadata_url(tmp_path_factory):
    """IdP metadata written by pysaml2, served over HTTP on a free loopback port."""
    keys = generate_sp_keys(tmp_path_factory.mktemp("fake-idp"), "fake-idp")
    conf = IdPConfig()
    sso = "http://127.0.0.1:1/saml2/fake"
    conf.load(
        {
            "entityid": "http://127.0.0.1:1/saml2/fake/metadata",
            "service": {"idp": {"endpoints": {"single_sign_on_service": [(sso, BINDING_HTTP_REDIRECT), (sso, BINDING_HTTP_POST)]}}},
            "key_file": str(keys.key_file),
            "cert_file": str(keys.cert_file),
            "xmlsec_binary": samlxml.XMLSEC1,
        }
    )
    body = create_metadata_string(None, config=conf)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "application/samlmetadata+xml")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/saml2/fake/metadata"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def signing_profile(tmp_path_factory) -> SpProfile:
    keys = generate_sp_keys(tmp_path_factory.mktemp("sp"), "helper-sp")
    return SpProfile(app="fake", entity_id="http://127.0.0.1:2/sp", acs_url="http://127.0.0.1:2/acs", keys=keys)


def test_sp_metadata_announces_signed_requests_and_the_signing_certificate(signing_profile):
    root = samlxml.parse(sp_metadata_xml(signing_profile).encode())

    (sp,) = root.findall("md:SPSSODescriptor", NS)
    assert sp.get("AuthnRequestsSigned") == "true"
    assert sp.get("WantAssertionsSigned") == "true"
    (acs,) = sp.findall("md:AssertionConsumerService", NS)
    assert (acs.get("Binding"), acs.get("Location")) == (BINDING_HTTP_POST, signing_profile.acs_url)
    (cert,) = sp.findall("md:KeyDescriptor[@use='signing']/ds:KeyInfo/ds:X509Data/ds:X509Certificate", NS)
    pem_body = "".join(signing_profile.keys.cert_pem.strip().splitlines()[1:-1])
    assert "".join(cert.text.split()) == pem_body
    unsigned = samlxml.parse(sp_metadata_xml(signing_profile.but(keys=None)).encode())
    assert unsigned.find("md:SPSSODescriptor", NS).get("AuthnRequestsSigned") == "false"
    assert unsigned.findall(".//md:KeyDescriptor", NS) == []


@pytest.mark.parametrize("binding", [BINDING_HTTP_REDIRECT, BINDING_HTTP_POST])
def test_sp_signs_authn_requests_with_rsa_sha256(fake_idp_metadata_url, signing_profile, binding):
    client = make_client(signing_profile, fake_idp_metadata_url)

    request = create_authn_request(client, binding, relay_state="r&s")
    assert urlsplit(request.url)._replace(query="").geturl() == "http://127.0.0.1:1/saml2/fake"
    if binding == BINDING_HTTP_REDIRECT:
        query = parse_qs(urlsplit(request.url).query)
        assert (query["SigAlg"], query["RelayState"]) == ([samlxml.RSA_SHA256], ["r&s"])
        assert request.form_fields is None
    else:
        fields = dict(request.form_fields)
        assert fields["RelayState"] == "r&s"
        root = samlxml.parse(samlxml.decode(fields["SAMLRequest"]))
        assert root.get("ID") == request.request_id
        (sig,) = samlxml.signatures_of(root)
        assert (sig.reference_uri, sig.signature_method, sig.digest_method) == (
            "#" + request.request_id,
            samlxml.RSA_SHA256,
            samlxml.SHA256,
        )
