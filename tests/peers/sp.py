"""pysaml2 as the service provider, and a requests.Session as the user's browser.

The SP never runs an HTTP server: the tests play the browser, so the auto-submitting form the IdP returns is read
here and its SAMLResponse handed straight to pysaml2, exactly as the SP's ACS endpoint would receive it.
"""

from __future__ import annotations

import dataclasses
import datetime
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.client import Saml2Client
from saml2.config import SPConfig
from saml2.mdstore import MetaDataExtern
from saml2.metadata import create_metadata_string
from saml2.response import AuthnResponse
from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256

from htmlforms import Form, Page, parse_page
from samlxml import XMLSEC1

# Seconds of clock difference pysaml2 tolerates (its `accepted_time_diff`).
CLOCK_SLACK = 5

# What pysaml2 must insist on for each of the IdP's signing modes: (want_assertions_signed, want_response_signed).
WANTED_SIGNATURES = {"assertion": (True, False), "response": (False, True), "both": (True, True)}

BINDINGS = {"redirect": BINDING_HTTP_REDIRECT, "post": BINDING_HTTP_POST}


# ----------------------------------------------------------------------------------------------------------------
# SP keys and configuration


@dataclass(frozen=True)
class SpKeys:
    key_file: Path
    cert_file: Path
    cert_pem: str


def generate_sp_keys(directory: Path, common_name: str) -> SpKeys:
    """A fresh RSA-2048 key and a self-signed certificate for an SP, written as PEM files."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    key_file = directory / f"{common_name}.key.pem"
    cert_file = directory / f"{common_name}.cert.pem"
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    key_file.chmod(0o600)
    cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode("ascii")
    cert_file.write_text(cert_pem)
    return SpKeys(key_file=key_file, cert_file=cert_file, cert_pem=cert_pem)


@dataclass(frozen=True)
class SpProfile:
    """One SP as pysaml2 sees it: its identity, where it receives responses, what it insists on."""

    app: str  # the application name at the IdP
    entity_id: str
    acs_url: str
    signing: str = "assertion"  # which of the IdP's signing modes this SP wants (WANTED_SIGNATURES)
    keys: SpKeys | None = None  # set: the SP signs its AuthnRequests and says so in its metadata
    encryption_keys: SpKeys | None = None  # set: the SP publishes an encryption key and decrypts with it
    slo_url: str | None = None  # set: the SP has a SingleLogoutService (HTTP-POST and HTTP-Redirect) here
    allow_unsolicited: bool = False

    @property
    def signs_requests(self) -> bool:
        return self.keys is not None

    def but(self, **changes) -> SpProfile:
        return dataclasses.replace(self, **changes)


def sp_config(profile: SpProfile, idp_metadata_url: str | None) -> SPConfig:
    """pysaml2's configuration for `profile`, importing the IdP's metadata from its URL when one is given."""
    want_assertions, want_response = WANTED_SIGNATURES[profile.signing]
    endpoints = {"assertion_consumer_service": [(profile.acs_url, BINDING_HTTP_POST)]}
    if profile.slo_url is not None:
        endpoints["single_logout_service"] = [
            (profile.slo_url, BINDING_HTTP_POST),
            (profile.slo_url, BINDING_HTTP_REDIRECT),
        ]
    sp = {
        "endpoints": endpoints,
        # An SP that signs its AuthnRequests signs its LogoutRequests and LogoutResponses too.
        "logout_requests_signed": profile.signs_requests,
        "logout_responses_signed": profile.signs_requests,
        "allow_unsolicited": profile.allow_unsolicited,
        "authn_requests_signed": profile.signs_requests,
        "want_assertions_signed": want_assertions,
        "want_response_signed": want_response,
        "want_assertions_or_response_signed": True,
        "name_id_format": ["urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"],
    }
    conf = {
        "entityid": profile.entity_id,
        "service": {"sp": sp},
        "xmlsec_binary": XMLSEC1,
        "accepted_time_diff": CLOCK_SLACK,
        "allow_unknown_attributes": True,
        "signing_algorithm": SIG_RSA_SHA256,
        "digest_algorithm": DIGEST_SHA256,
        "delete_tmpfiles": True,
    }
    if profile.keys is not None:
        conf["key_file"] = str(profile.keys.key_file)
        conf["cert_file"] = str(profile.keys.cert_file)
    if profile.encryption_keys is not None:
        # Published as a KeyDescriptor use="encryption" in the SP's metadata, and used to decrypt assertions.
        conf["encryption_keypairs"] = [
            {"key_file": str(profile.encryption_keys.key_file), "cert_file": str(profile.encryption_keys.cert_file)}
        ]
    if idp_metadata_url is not None:
        # Our metadata is not signed, so pysaml2's remote loader has no signature to check and needs no cert;
        # the trust comes from fetching it from the IdP itself. The KeyDescriptor in it is what pysaml2 then
        # uses to verify every response.
        conf["metadata"] = {"remote": [{"url": idp_metadata_url}]}
    config = SPConfig()
    config.load(conf)
    return config


def sp_metadata_xml(profile: SpProfile) -> str:
    """The SP's own metadata as pysaml2 writes it (AuthnRequestsSigned and KeyDescriptor from the profile)."""
    xml = create_metadata_string(None, config=sp_config(profile, idp_metadata_url=None))
    return xml.decode("utf-8") if isinstance(xml, bytes) else xml


def make_client(profile: SpProfile, idp_metadata_url: str) -> Saml2Client:
    """A pysaml2 SP that has loaded the IdP's metadata from `idp_metadata_url` over HTTP, and nothing else."""
    client = Saml2Client(config=sp_config(profile, idp_metadata_url))
    sources = client.metadata.metadata
    assert list(sources) == [idp_metadata_url], f"pysaml2 metadata sources: {list(sources)}"
    assert isinstance(sources[idp_metadata_url], MetaDataExtern)
    idps = client.metadata.identity_providers()
    assert len(idps) == 1, f"expected one IdP in {idp_metadata_url}, pysaml2 found {idps}"
    return client


def idp_entity_id(client: Saml2Client) -> str:
    (entity_id,) = client.metadata.identity_providers()
    return entity_id


# ----------------------------------------------------------------------------------------------------------------
# Sending AuthnRequests


@dataclass(frozen=True)
class OutgoingRequest:
    """An AuthnRequest as the SP hands it to the browser: a redirect URL, or a form to post."""

    request_id: str
    binding: str
    url: str
    form_fields: list[tuple[str, str]] | None  # None for HTTP-Redirect


def create_authn_request(
    client: Saml2Client, binding: str, relay_state: str, sign: bool | None = None
) -> OutgoingRequest:
    """pysaml2's AuthnRequest for the IdP over `binding`; signed (RSA-SHA256) when `sign`, default: as configured."""
    if sign is None:
        sign = bool(client.authn_requests_signed)
    request_id, info = client.prepare_for_authenticate(
        entityid=idp_entity_id(client),
        binding=binding,
        relay_state=relay_state,
        sign=sign,
        sigalg=SIG_RSA_SHA256 if sign else None,
        digest_alg=DIGEST_SHA256 if sign else None,
    )
    if binding == BINDING_HTTP_REDIRECT:
        headers = dict(info["headers"])
        return OutgoingRequest(request_id, binding, headers["Location"], None)
    page = parse_page(info["data"])
    (form,) = page.forms
    return OutgoingRequest(request_id, binding, form.action, form.submission())


def send(session: requests.Session, request: OutgoingRequest) -> requests.Response:
    """The browser follows the SP's redirect, or submits the SP's auto-posting form."""
    if request.form_fields is None:
        return session.get(request.url, timeout=30)
    return session.post(request.url, data=request.form_fields, timeout=30)


# ----------------------------------------------------------------------------------------------------------------
# The browser


@dataclass
class Landing:
    """Where the browser ended up: the auto-submitting SAML form, or some other page (an error, the portal)."""

    response: requests.Response
    page: Page
    visited: list[str]  # every URL the browser requested or was redirected to, in order

    @property
    def saml_form(self) -> Form | None:
        return self.page.form_with("SAMLResponse")

    def post_form(self) -> Form:
        form = self.saml_form
        assert form is not None, (
            f"expected the auto-submitting SAMLResponse form, got HTTP {self.response.status_code} "
            f"at {self.response.url}: {self.page.text[:800]!r}"
        )
        assert form.method == "post", f"SAMLResponse form method is {form.method!r}"
        return form

    @property
    def saml_response(self) -> str:
        return self.post_form().value("SAMLResponse")

    @property
    def relay_state(self) -> str | None:
        return self.post_form().get("RelayState")


def browser_login(
    session: requests.Session, response: requests.Response, username: str, password: str, idp_base: str
) -> Landing:
    """Continue a browser visit from `response`: sign in when the login form shows, until a page that is neither.

    Every page and redirect on the way must stay on the IdP's own origin: the only way out to the SP is the
    form the caller inspects.
    """
    visited: list[str] = []
    logged_in = False
    for _ in range(6):
        visited.extend([r.url for r in response.history] + [response.url])
        for url in visited:
            assert _origin(url) == _origin(idp_base), f"browser left the IdP's origin for {url} (path: {visited})"
        page = parse_page(response.text)
        login = page.form_with("password")
        if response.status_code >= 400 or page.form_with("SAMLResponse") is not None or login is None or logged_in:
            return Landing(response, page, visited)
        fields = login.submission(username=username, password=password)
        target = login.target(response.url)
        if login.method == "post":
            response = session.post(target, data=fields, timeout=30)
        else:
            response = session.get(target, params=fields, timeout=30)
        logged_in = True
    raise AssertionError(f"browser did not settle after 6 pages: {visited}")


def open_page(session: requests.Session, url: str, username: str, password: str, idp_base: str) -> Landing:
    return browser_login(session, session.get(url, timeout=30), username, password, idp_base)


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc


# ----------------------------------------------------------------------------------------------------------------
# Receiving the response


class ResponseNotAccepted(AssertionError):
    """pysaml2 returned without an error but also without a usable assertion (how it reports e.g. a wrong
    Destination)."""


# pysaml2 checks SubjectConfirmationData Recipient against its ACS URLs only when it is given conversation info.
CONVERSATION = {"remote_addr": "127.0.0.1"}


def consume(client: Saml2Client, saml_response: str, outstanding: dict[str, str] | None) -> AuthnResponse:
    """What the SP's ACS does with a posted SAMLResponse: pysaml2 validates it completely or this raises."""
    result = client.parse_authn_request_response(
        saml_response, BINDING_HTTP_POST, outstanding=outstanding or {}, conv_info=dict(CONVERSATION)
    )
    if result is None or result.assertion is None or result.name_id is None:
        raise ResponseNotAccepted(f"pysaml2 returned {result!r} without a validated assertion")
    return result


# ----------------------------------------------------------------------------------------------------------------
# Whole flows


@dataclass
class SpInitiatedLogin:
    client: Saml2Client
    request: OutgoingRequest
    landing: Landing

    def accept(self, client: Saml2Client | None = None, outstanding: dict[str, str] | None = None) -> AuthnResponse:
        """pysaml2's verdict on the response, by default at the SP that asked and with its request outstanding."""
        if outstanding is None:
            outstanding = {self.request.request_id: "/"}
        return consume(client or self.client, self.landing.saml_response, outstanding)


def sp_initiated_login(
    client: Saml2Client,
    idp_base: str,
    username: str,
    password: str,
    binding: str = BINDING_HTTP_REDIRECT,
    relay_state: str = "",
    sign: bool | None = None,
) -> SpInitiatedLogin:
    """A fresh browser asks the IdP to sign in at the SP's request, logs in, and stops at whatever comes back."""
    session = requests.Session()
    request = create_authn_request(client, binding, relay_state, sign)
    landing = browser_login(session, send(session, request), username, password, idp_base)
    return SpInitiatedLogin(client, request, landing)
