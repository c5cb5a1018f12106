"""Staged signing-certificate rotation without downtime, as an SP that caches our metadata sees it.

The SP fetches the metadata once and never again: a response signed after activation must verify with the metadata
it fetched after the staging (which published the next certificate beside the current one), before the activation.
"""

from __future__ import annotations

import time

import pytest
import requests
from cryptography import x509
from saml2.sigver import SignatureError

import samlxml
from conftest import app_settings
from samlxml import NS
from sp import sp_initiated_login

# The key cache re-reads which certificate is current at most once a second (services::CURRENT_KEY_TTL), plus slack.
KEY_CACHE_TTL_S = 1.5


def login(idp, client, user):
    flow = sp_initiated_login(client, idp.base_url, user.username, user.password)
    response = flow.accept()
    assert response.name_id.text == user.email
    return flow


def signing_certificates(idp, app: str) -> list[str]:
    root = samlxml.parse(requests.get(idp.metadata_url(app), timeout=30).content)
    (descriptor,) = root.findall("md:IDPSSODescriptor", NS)
    keys = descriptor.findall("md:KeyDescriptor", NS)
    assert all(k.get("use") == "signing" for k in keys)
    return ["".join(k.find("ds:KeyInfo/ds:X509Data/ds:X509Certificate", NS).text.split()) for k in keys]


def downloaded_fingerprints(idp, app: str) -> list[str]:
    pem = requests.get(idp.certificate_url(app), timeout=30).content
    return [c.fingerprint(c.signature_hash_algorithm).hex() for c in x509.load_pem_x509_certificates(pem)]


def test_an_sp_caching_metadata_keeps_logging_in_through_stage_activate_and_retire(idp, alice):
    sp = idp.register(idp.profile("rotating"), **app_settings())
    cached_before_stage = idp.client(sp)
    login(idp, cached_before_stage, alice)
    (original,) = signing_certificates(idp, sp.app)

    idp.cli("app", "rotate-cert", sp.app, "--stage")
    staged = signing_certificates(idp, sp.app)
    assert len(staged) == 2 and staged[0] == original, "current first, then next"
    shown = idp.show_app(sp.app)
    assert [c["state"] for c in shown["certificates"]] == ["current", "next"]
    assert downloaded_fingerprints(idp, sp.app) == [c["fingerprint"] for c in shown["certificates"]]
    # The current certificate still signs: the SP that cached the metadata before staging is unaffected.
    login(idp, cached_before_stage, alice)
    cached_after_stage = idp.client(sp)
    login(idp, cached_after_stage, alice)

    idp.cli("app", "rotate-cert", sp.app, "--activate")
    time.sleep(KEY_CACHE_TTL_S)
    assert signing_certificates(idp, sp.app) == [staged[1], original]
    # Signed after the activation, verified with the metadata fetched before it.
    login(idp, cached_after_stage, alice)
    # The new key really signs: an SP that never saw the next certificate refuses the response.
    with pytest.raises(SignatureError):
        login(idp, cached_before_stage, alice)

    idp.cli("app", "rotate-cert", sp.app, "--retire")
    assert signing_certificates(idp, sp.app) == [staged[1]]
    login(idp, cached_after_stage, alice)
    shown = idp.show_app(sp.app)
    assert [c["state"] for c in shown["certificates"]] == ["current", "retired"]
    assert shown["cert_fingerprint"] == shown["certificates"][0]["fingerprint"]
    assert all(c["warning"] is None and c["expires_in_days"] > 60 for c in shown["certificates"])
