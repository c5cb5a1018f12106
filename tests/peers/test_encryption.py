"""Encrypted assertions, as pysaml2 (with xmlsec1) decrypts them: AES-256-GCM by default, AES-256-CBC where an app
asks for it, RSA-OAEP key transport to the encryption certificate of the SP's metadata, optionally the NameID too."""

from __future__ import annotations

import pytest

import samlxml
from conftest import app_settings
from samlxml import NS
from sp import ResponseNotAccepted, SpKeys, generate_sp_keys, sp_initiated_login

GCM = "http://www.w3.org/2009/xmlenc11#aes256-gcm"
CBC = "http://www.w3.org/2001/04/xmlenc#aes256-cbc"
RSA_OAEP = "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"


@pytest.fixture(scope="module")
def encryption_keys(tmp_path_factory) -> SpKeys:
    return generate_sp_keys(tmp_path_factory.mktemp("sp-encryption"), "peer-sp-encryption")


@pytest.fixture(scope="module")
def encrypting_sp(idp, encryption_keys):
    """`encrypting_sp(algorithm, signing, encrypt_name_id)`: an app that encrypts to the SP's encryption key."""

    def get(algorithm: str, signing: str = "assertion", encrypt_name_id: bool = False):
        app = f"enc-{algorithm}-{signing}{'-nameid' if encrypt_name_id else ''}"
        if app not in idp.apps:
            settings = app_settings(
                signing=signing,
                encrypt_assertions=True,
                encryption_algorithm=algorithm,
                encrypt_name_id=encrypt_name_id,
            )
            idp.register(idp.profile(app, signing=signing).but(encryption_keys=encryption_keys), **settings)
        return idp.apps[app]

    return get


def encrypted_data_algorithm(root) -> str:
    (encrypted,) = root.findall("saml:EncryptedAssertion", NS)
    method = encrypted.find("{http://www.w3.org/2001/04/xmlenc#}EncryptedData/{http://www.w3.org/2001/04/xmlenc#}EncryptionMethod")
    return method.get("Algorithm")


@pytest.mark.parametrize(
    ("algorithm", "signing", "uri"),
    [("aes256-gcm", "assertion", GCM), ("aes256-cbc", "assertion", CBC), ("aes256-gcm", "both", GCM)],
)
def test_pysaml2_decrypts_our_encrypted_assertions(idp, encrypting_sp, alice, algorithm, signing, uri):
    sp = encrypting_sp(algorithm, signing)
    flow = sp_initiated_login(idp.client(sp), idp.base_url, alice.username, alice.password)
    xml = samlxml.decode(flow.landing.saml_response)
    root = samlxml.parse(xml)
    assert root.findall("saml:Assertion", NS) == [], "no assertion in clear"
    assert encrypted_data_algorithm(root) == uri
    assert RSA_OAEP.encode() in xml
    assert alice.email.encode() not in xml

    response = flow.accept()
    assert response.name_id.text == alice.email
    assert response.ava["mail"] == [alice.email]


def test_pysaml2_decrypts_an_encrypted_name_id(idp, encrypting_sp, alice):
    sp = encrypting_sp("aes256-gcm", encrypt_name_id=True)
    flow = sp_initiated_login(idp.client(sp), idp.base_url, alice.username, alice.password)

    response = flow.accept()
    assert response.name_id.text == alice.email


def test_an_assertion_encrypted_to_another_key_does_not_decrypt(idp, encrypting_sp, alice, rogue_keys):
    sp = encrypting_sp("aes256-gcm")
    flow = sp_initiated_login(idp.client(sp), idp.base_url, alice.username, alice.password)
    # The same SP, but holding a key the IdP did not encrypt to.
    wrong_key = idp.client(sp.but(encryption_keys=rogue_keys))

    # pysaml2 logs xmlsec1's "failed to decrypt" and returns no assertion.
    with pytest.raises(ResponseNotAccepted):
        flow.accept(client=wrong_key)
    # The only difference was the key: the SP holding the right one accepts the same response.
    assert flow.accept().name_id.text == alice.email
