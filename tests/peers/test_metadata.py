"""The IdP metadata URL and the certificate download, as an SP admin (and a strict SP) reads them."""

from __future__ import annotations

import base64
import datetime
import re
from importlib.resources import files

import pytest
import requests
from cryptography import x509
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.data import schemas
from saml2.xml.schema import _create_xml_schema_validator

import samlxml
from samlxml import NS, q

# pysaml2's bundled SAML schemas (and its own resolver for their imports), rooted at the metadata schema.
METADATA_SCHEMA = _create_xml_schema_validator(str(files(schemas).joinpath("saml-schema-metadata-2.0.xsd")))

KNOWN_NAMEID_FORMATS = {
    "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
    "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified",
    "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
    "urn:oasis:names:tc:SAML:2.0:nameid-format:transient",
}


def fetch_metadata(idp, app: str):
    r = requests.get(idp.metadata_url(app), timeout=30)
    assert r.status_code == 200
    assert "xml" in r.headers.get("Content-Type", ""), r.headers.get("Content-Type")
    return r.content, samlxml.parse(r.content)


def idp_descriptor(root):
    assert root.tag == q("md:EntityDescriptor")
    assert root.get("entityID"), "EntityDescriptor without entityID"
    (descriptor,) = root.findall("md:IDPSSODescriptor", NS)
    assert "urn:oasis:names:tc:SAML:2.0:protocol" in descriptor.get("protocolSupportEnumeration", "").split()
    return descriptor


def download_certificate(idp, app: str) -> tuple[requests.Response, x509.Certificate]:
    r = requests.get(idp.certificate_url(app), timeout=30)
    assert r.status_code == 200
    return r, x509.load_pem_x509_certificate(r.content)


def test_metadata_offers_single_sign_on_over_redirect_and_post_at_the_app_url(idp, demo_sp):
    _, root = fetch_metadata(idp, demo_sp.app)
    descriptor = idp_descriptor(root)

    services = {s.get("Binding"): s.get("Location") for s in descriptor.findall("md:SingleSignOnService", NS)}
    app_url = f"{idp.base_url}/saml2/{demo_sp.app}"
    assert services == {BINDING_HTTP_REDIRECT: app_url, BINDING_HTTP_POST: app_url}
    formats = [f.text.strip() for f in descriptor.findall("md:NameIDFormat", NS)]
    assert formats, "no NameIDFormat"
    assert set(formats) <= KNOWN_NAMEID_FORMATS, formats
    assert "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress" in formats


@pytest.mark.parametrize(("fixture", "wanted"), [("demo_sp", "false"), ("signed_requests_sp", "true")])
def test_metadata_says_whether_authn_requests_must_be_signed(idp, request, fixture, wanted):
    sp = request.getfixturevalue(fixture)
    _, root = fetch_metadata(idp, sp.app)

    assert idp_descriptor(root).get("WantAuthnRequestsSigned") == wanted


def test_metadata_signing_key_is_the_downloadable_certificate(idp, demo_sp):
    _, root = fetch_metadata(idp, demo_sp.app)
    _, certificate = download_certificate(idp, demo_sp.app)

    descriptor = idp_descriptor(root)
    key_descriptors = descriptor.findall("md:KeyDescriptor", NS)
    signing = [k for k in key_descriptors if k.get("use") in ("signing", None)]
    assert signing, "no KeyDescriptor usable for signing"
    assert signing[0].get("use") == "signing"
    (der_b64,) = [c.text for c in signing[0].findall("ds:KeyInfo/ds:X509Data/ds:X509Certificate", NS)]
    published = x509.load_der_x509_certificate(base64.b64decode(re.sub(r"\s", "", der_b64)))
    # Many SPs read only the first KeyDescriptor: it must be the current certificate.
    assert published == certificate


def test_metadata_is_valid_against_the_saml_metadata_schema(idp, demo_sp):
    """Strict SPs schema-validate metadata; element order matters."""
    content, _ = fetch_metadata(idp, demo_sp.app)

    errors = [str(e) for e in METADATA_SCHEMA.iter_errors(content.decode("utf-8"))]
    assert errors == []


def test_certificate_downloads_as_certificate_pem_and_matches_app_show(idp, demo_sp):
    r, certificate = download_certificate(idp, demo_sp.app)

    disposition = r.headers.get("Content-Disposition", "")
    assert disposition.split(";")[0].strip() == "attachment", disposition
    assert re.search(r'filename="?certificate\.pem"?(;|$)', disposition), disposition
    now = datetime.datetime.now(datetime.timezone.utc)
    assert certificate.not_valid_before_utc <= now < certificate.not_valid_after_utc

    shown = idp.show_app(demo_sp.app)
    assert shown["certificate_url"] == idp.certificate_url(demo_sp.app)
    assert shown["metadata_url"] == idp.metadata_url(demo_sp.app)
    assert shown["idp_url"] == idp.app_url(demo_sp.app)
    assert parse_time(shown["cert_not_before"]) == certificate.not_valid_before_utc
    assert parse_time(shown["cert_not_after"]) == certificate.not_valid_after_utc


def parse_time(value: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(datetime.timezone.utc)


def test_pysaml2_imports_the_metadata_url_and_finds_the_idp(idp, demo_sp):
    _, root = fetch_metadata(idp, demo_sp.app)
    client = idp.client(demo_sp)

    (entity_id,) = client.metadata.identity_providers()
    assert entity_id == root.get("entityID")
    locations = {
        binding: client.metadata.single_sign_on_service(entity_id, binding)[0]["location"]
        for binding in (BINDING_HTTP_REDIRECT, BINDING_HTTP_POST)
    }
    assert locations == {b: idp.app_url(demo_sp.app) for b in (BINDING_HTTP_REDIRECT, BINDING_HTTP_POST)}
