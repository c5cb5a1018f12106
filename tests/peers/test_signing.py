"""Response and Assertion signatures: where they are, that pysaml2 and xmlsec1 verify them, that tampering breaks them.

Each app signs in one mode (settings `signing`): assertion, response or both.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from saml2.sigver import SignatureError

import samlxml
from samlxml import ASSERTION_NODE, ASSERTION_SIGNATURE_XPATH, RESPONSE_NODE, RESPONSE_SIGNATURE_XPATH
from sp import SpInitiatedLogin, consume, sp_initiated_login

MODES = ["assertion", "response", "both"]
# Signatures that are direct children of (Response, Assertion) in each mode.
PLACEMENT = {"assertion": (0, 1), "response": (1, 0), "both": (1, 1)}


def login_to(idp, sp, user) -> SpInitiatedLogin:
    return sp_initiated_login(idp.client(sp), idp.base_url, user.username, user.password)


@pytest.fixture(scope="module")
def signed_by_mode(idp, signing_mode_sp, alice) -> dict[str, SpInitiatedLogin]:
    """One SP-initiated login per signing mode, each accepted by a pysaml2 SP wanting exactly that mode."""
    return {mode: login_to(idp, signing_mode_sp(mode), alice) for mode in MODES}


@pytest.fixture(scope="module")
def idp_certificate(idp, signing_mode_sp, tmp_path_factory) -> dict[str, Path]:
    """Each mode app's certificate as an SP admin gets it: downloaded from /saml2/{app}/certificate.pem."""
    directory = tmp_path_factory.mktemp("idp-certs")
    files = {}
    for mode in MODES:
        r = requests.get(idp.certificate_url(signing_mode_sp(mode).app), timeout=30)
        assert r.status_code == 200
        files[mode] = directory / f"{mode}.pem"
        files[mode].write_bytes(r.content)
    return files


@pytest.mark.parametrize("mode", MODES)
def test_pysaml2_wanting_exactly_the_apps_signing_mode_accepts(signed_by_mode, alice, mode):
    flow = signed_by_mode[mode]

    response = flow.accept()
    assert response.name_id.text == alice.email
    assert response.in_response_to == flow.request.request_id


@pytest.mark.parametrize("mode", MODES)
def test_signatures_sit_on_response_and_assertion_as_the_mode_says(signed_by_mode, mode):
    root = samlxml.parse(samlxml.decode(signed_by_mode[mode].landing.saml_response))
    assertion = samlxml.the_assertion(root)

    on_response, on_assertion = samlxml.signatures_of(root), samlxml.signatures_of(assertion)
    assert (len(on_response), len(on_assertion)) == PLACEMENT[mode]
    assert samlxml.count_signatures(root) == sum(PLACEMENT[mode])
    for element, signatures in ((root, on_response), (assertion, on_assertion)):
        for sig in signatures:
            assert sig.reference_uri == "#" + element.get("ID")
            assert (sig.signature_method, sig.digest_method, sig.c14n_method) == (
                samlxml.RSA_SHA256,
                samlxml.SHA256,
                samlxml.EXC_C14N,
            )


@pytest.mark.parametrize(
    ("mode", "sp_wants", "missing"),
    [("assertion", "response", "Signature missing for response"), ("response", "assertion", "Signature missing for assertion")],
)
def test_pysaml2_wanting_a_signature_the_mode_omits_refuses(idp, signing_mode_sp, signed_by_mode, mode, sp_wants, missing):
    flow = signed_by_mode[mode]
    strict = idp.client(signing_mode_sp(mode).but(signing=sp_wants))

    with pytest.raises(SignatureError, match=missing):
        flow.accept(client=strict)


def tamper(xml: bytes, what: str, email: str) -> bytes:
    """Change one signed value in the assertion, leaving every other byte as the IdP signed it."""
    if what == "nameid":
        original = samlxml.element_text_once(xml, "NameID", email)
        return samlxml.replace_once(xml, original, original.replace(email.encode(), b"mallory@example.org"))
    original = samlxml.element_text_once(xml, "AttributeValue", "gold")
    return samlxml.replace_once(xml, original, original.replace(b"gold", b"platinum"))


@pytest.mark.parametrize("what", ["nameid", "attribute"])
@pytest.mark.parametrize("mode", MODES)
def test_pysaml2_rejects_assertion_altered_after_signing(signed_by_mode, alice, mode, what):
    """Signature verification is real: an edited NameID or attribute value no longer verifies."""
    flow = signed_by_mode[mode]
    xml = samlxml.decode(flow.landing.saml_response)
    outstanding = {flow.request.request_id: "/"}
    assert consume(flow.client, samlxml.encode(xml), outstanding).name_id.text == alice.email

    with pytest.raises(SignatureError):
        consume(flow.client, samlxml.encode(tamper(xml, what, alice.email)), outstanding)


# Which signature to check in each mode: (label, --id-attr node, --node-xpath or None for the first signature).
XMLSEC_CHECKS = [
    ("assertion", "assertion", ASSERTION_NODE, None),
    ("response", "response", RESPONSE_NODE, None),
    ("both", "response", RESPONSE_NODE, RESPONSE_SIGNATURE_XPATH),
    ("both", "assertion", ASSERTION_NODE, ASSERTION_SIGNATURE_XPATH),
]


@pytest.mark.parametrize(("mode", "signed", "id_node", "xpath"), XMLSEC_CHECKS, ids=[f"{c[0]}-{c[1]}" for c in XMLSEC_CHECKS])
def test_xmlsec1_verifies_signature_with_downloaded_certificate(
    signed_by_mode, idp_certificate, sp_keys, alice, tmp_path, mode, signed, id_node, xpath
):
    xml = samlxml.decode(signed_by_mode[mode].landing.saml_response)
    genuine, altered = tmp_path / "response.xml", tmp_path / "tampered.xml"
    genuine.write_bytes(xml)
    altered.write_bytes(tamper(xml, "nameid", alice.email))

    ok = samlxml.xmlsec1_verify(genuine, idp_certificate[mode], id_node, xpath)
    assert ok.returncode == 0, ok.stderr
    assert "OK" in ok.stderr.splitlines()
    bad = samlxml.xmlsec1_verify(altered, idp_certificate[mode], id_node, xpath)
    assert bad.returncode != 0 and "FAIL" in bad.stderr.splitlines(), bad.stderr
    # Only the app's own key verifies it: any other certificate fails.
    foreign = samlxml.xmlsec1_verify(genuine, sp_keys.cert_file, id_node, xpath)
    assert foreign.returncode != 0, foreign.stderr
