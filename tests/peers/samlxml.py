"""Reading and deliberately altering the SAML XML the IdP sends, independently of pysaml2.

Alterations work on the bytes, changing exactly one thing, so a test knows that the only difference between an
accepted and a rejected message is the one it made.
"""

from __future__ import annotations

import base64
import re
import subprocess
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

XMLSEC1 = "/usr/bin/xmlsec1"

NS = {
    "samlp": "urn:oasis:names:tc:SAML:2.0:protocol",
    "saml": "urn:oasis:names:tc:SAML:2.0:assertion",
    "md": "urn:oasis:names:tc:SAML:2.0:metadata",
    "ds": "http://www.w3.org/2000/09/xmldsig#",
}
RESPONSE_NODE = "urn:oasis:names:tc:SAML:2.0:protocol:Response"
ASSERTION_NODE = "urn:oasis:names:tc:SAML:2.0:assertion:Assertion"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"

# XPath expressions (for xmlsec1 --node-xpath) selecting the signature of the Response or of the Assertion.
RESPONSE_SIGNATURE_XPATH = "/*[local-name()='Response']/*[local-name()='Signature']"
ASSERTION_SIGNATURE_XPATH = "/*[local-name()='Response']/*[local-name()='Assertion']/*[local-name()='Signature']"


def decode(saml_response: str) -> bytes:
    """The XML of a SAMLResponse form value (HTTP-POST binding: base64, no DEFLATE)."""
    return base64.b64decode(saml_response, validate=False)


def encode(xml: bytes) -> str:
    return base64.b64encode(xml).decode("ascii")


def parse(xml: bytes) -> ET.Element:
    if b"<!DOCTYPE" in xml:
        raise AssertionError("the IdP sent XML with a DOCTYPE")
    return ET.fromstring(xml)


def q(name: str) -> str:
    """Clark notation for 'prefix:local' with the prefixes in NS."""
    prefix, local = name.split(":")
    return f"{{{NS[prefix]}}}{local}"


def the_assertion(response: ET.Element) -> ET.Element:
    assertions = response.findall("saml:Assertion", NS)
    assert len(assertions) == 1, f"expected one Assertion directly under Response, found {len(assertions)}"
    return assertions[0]


@dataclass(frozen=True)
class SignatureInfo:
    reference_uri: str
    signature_method: str
    digest_method: str
    c14n_method: str


def signatures_of(element: ET.Element) -> list[SignatureInfo]:
    """The enveloped signatures that are direct children of `element`."""
    found = []
    for sig in element.findall("ds:Signature", NS):
        signed_info = sig.find("ds:SignedInfo", NS)
        assert signed_info is not None, "ds:Signature without ds:SignedInfo"
        refs = signed_info.findall("ds:Reference", NS)
        assert len(refs) == 1, f"expected exactly one ds:Reference, found {len(refs)}"
        found.append(
            SignatureInfo(
                reference_uri=refs[0].get("URI", ""),
                signature_method=signed_info.find("ds:SignatureMethod", NS).get("Algorithm", ""),
                digest_method=refs[0].find("ds:DigestMethod", NS).get("Algorithm", ""),
                c14n_method=signed_info.find("ds:CanonicalizationMethod", NS).get("Algorithm", ""),
            )
        )
    return found


def count_signatures(element: ET.Element) -> int:
    return len(element.findall(".//ds:Signature", NS))


def replace_once(xml: bytes, old: bytes, new: bytes) -> bytes:
    """`xml` with the single occurrence of `old` replaced; an error unless `old` occurs exactly once."""
    n = xml.count(old)
    assert n == 1, f"expected {old!r} exactly once in the XML, found it {n} times"
    return xml.replace(old, new)


def element_text_once(xml: bytes, local_name: str, text: str) -> bytes:
    """The exact bytes `>text</prefix:local_name>` as they occur in `xml` (the text must be XML-escaped)."""
    pattern = re.compile(rb">" + re.escape(text.encode()) + rb"</(?:[A-Za-z0-9_.-]+:)?" + local_name.encode() + rb">")
    matches = pattern.findall(xml)
    assert len(matches) == 1, f"expected one <{local_name}> with text {text!r}, found {len(matches)}"
    return matches[0]


def drop_root_attribute(xml: bytes, attribute: str) -> bytes:
    """`xml` without `attribute` on the root element's start tag (and nowhere else)."""
    start = re.search(rb"<(?!\?)[^>]*>", xml)
    assert start is not None, "no root start tag"
    tag = start.group(0)
    new_tag, n = re.subn(rb"\s" + attribute.encode() + rb"=(\"[^\"]*\"|'[^']*')", b"", tag)
    assert n == 1, f"root start tag has no {attribute} attribute: {tag!r}"
    return xml[: start.start()] + new_tag + xml[start.end() :]


def xmlsec1_verify(
    xml_file: Path, cert_file: Path, id_attr_node: str, node_xpath: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `xmlsec1 --verify` with only the given certificate as the trusted key."""
    args = [XMLSEC1, "--verify", "--pubkey-cert-pem", str(cert_file), "--id-attr:ID", id_attr_node]
    if node_xpath:
        args += ["--node-xpath", node_xpath]
    args.append(str(xml_file))
    return subprocess.run(args, capture_output=True, text=True, timeout=30, check=False)
