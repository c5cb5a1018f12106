//! Writes the fixture SP (fixture/sp-metadata.xml) and the seed corpus (corpus/<target>/), from the shapes the
//! tests send (tests/common: AuthnRequests, Redirect queries, SP metadata, settings; tests/common/scim.rs and the
//! SCIM RFC's examples for SCIM answers), signed with a fresh SP key whose certificate the fixture metadata
//! registers. The key is not kept: running this again replaces the fixture and every signed seed together.
//!
//! `cd fuzz && cargo run --example seeds` (from the repository's `fuzz/` directory).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::Path;

use base64::Engine;
use chrono::{Duration, Utc};
use sesame::fuzzing::{now, SLO_URL, SSO_URL};
use sesame::saml::binding::encode_redirect;
use sesame::saml::keys::SigningKey;
use sesame::saml::logout::{
    build_logout_request, build_logout_response, OutgoingLogoutRequest, OutgoingLogoutResponse,
};
use sesame::saml::metadata::METADATA_NS;
use sesame::saml::response::{saml_time, NameId, ASSERTION_NS, PROTOCOL_NS};
use sesame::saml::sign::sign_enveloped;
use sesame::saml::xml::CanonicalWriter;

const SP_ENTITY: &str = "https://sp.example.com/metadata";
const ACS: &str = "https://sp.example.com/acs";
const POST: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";
const REDIRECT: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";
const DSIG_NS: &str = "http://www.w3.org/2000/09/xmldsig#";
const EMAIL: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress";

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let key = SigningKey::generate("fuzz-sp", Utc::now(), 36_500).unwrap();
    let (metadata, at) = sp_metadata(&key, "_fuzz-sp-metadata");
    write(root, "fixture", "sp-metadata.xml", &metadata);

    // SP metadata: as registered, signed by the SP's key (the metadata signing certificate), and wrapped.
    write(root, "corpus/sp_metadata", "unsigned.xml", &metadata);
    write(root, "corpus/sp_metadata", "signed.xml", &sign_enveloped(&metadata, "_fuzz-sp-metadata", at, &key).unwrap());
    let entities = format!(
        r#"<md:EntitiesDescriptor xmlns:md="{METADATA_NS}" Name="federation">{}</md:EntitiesDescriptor>"#,
        minimal_metadata(&key).replace(&format!(r#" xmlns:md="{METADATA_NS}""#), "")
    );
    write(root, "corpus/sp_metadata", "entities.xml", &entities);
    write(root, "corpus/sp_metadata", "minimal.xml", &minimal_metadata(&key));

    // AuthnRequests by HTTP-POST: signed with every optional part, unsigned with an ACS index, and as the form field.
    let signed = authn_request("_req-signed", true, Some(&key));
    write(root, "corpus/post_authn_request", "signed.xml", &signed);
    write(root, "corpus/post_authn_request", "unsigned-index.xml", &authn_request("_req-index", false, None));
    write(root, "corpus/post_authn_request", "signed.b64", &b64(&signed));

    // Logout messages by HTTP-POST.
    let name_id = NameId {
        value: "alice@example.com".into(),
        format: EMAIL.into(),
        name_qualifier: None,
        sp_name_qualifier: None,
    };
    let logout_request = |id: &str, key: Option<&SigningKey>| {
        let r = OutgoingLogoutRequest {
            id,
            issue_instant: now(),
            issuer: SP_ENTITY,
            destination: SLO_URL,
            name_id: &name_id,
            session_index: "_session-1",
            not_on_or_after: now() + Duration::minutes(5),
            encryption: None,
        };
        build_logout_request(&r, key).unwrap()
    };
    let logout_response = |id: &str, second: Option<&str>, key: Option<&SigningKey>| {
        let r = OutgoingLogoutResponse {
            id,
            issue_instant: now(),
            issuer: SP_ENTITY,
            destination: SLO_URL,
            in_response_to: "_our-logout-request",
            top_code: "urn:oasis:names:tc:SAML:2.0:status:Success",
            second_code: second,
        };
        build_logout_response(&r, key).unwrap()
    };
    write(root, "corpus/logout", "request-signed.xml", &logout_request("_logout-signed", Some(&key)));
    write(root, "corpus/logout", "request-unsigned.xml", &logout_request("_logout-unsigned", None));
    write(root, "corpus/logout", "response-signed.xml", &logout_response("_lr-signed", None, Some(&key)));
    let partial = logout_response("_lr-partial", Some("urn:oasis:names:tc:SAML:2.0:status:PartialLogout"), None);
    write(root, "corpus/logout", "response-partial.xml", &partial);

    // HTTP-Redirect queries: signed (with RelayState), unsigned, logout messages both ways, and broken parameters.
    let plain = authn_request("_req-redirect", false, None);
    write(
        root,
        "corpus/redirect",
        "signed.txt",
        &encode_redirect("SAMLRequest", &plain, Some("/welcome"), &key).unwrap(),
    );
    write(root, "corpus/redirect", "unsigned.txt", &format!("SAMLRequest={}&RelayState=%2Fhome", deflated(&plain)));
    let logout = logout_request("_logout-redirect", None);
    write(root, "corpus/redirect", "logout-request.txt", &encode_redirect("SAMLRequest", &logout, None, &key).unwrap());
    let response = logout_response("_lr-redirect", None, None);
    write(
        root,
        "corpus/redirect",
        "logout-response.txt",
        &encode_redirect("SAMLResponse", &response, Some("r1"), &key).unwrap(),
    );
    let half =
        format!("SAMLRequest={}&SigAlg=http%3A%2F%2Fwww.w3.org%2F2000%2F09%2Fxmldsig%23rsa-sha1", deflated(&plain));
    write(root, "corpus/redirect", "sigalg-only.txt", &half);

    // SCIM answers: status byte (index into the target's table), Retry-After line, body.
    let user = r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"id":"2819c223","externalId":"alice","userName":"alice","name":{"givenName":"Alice","familyName":"Liddell"},"displayName":"Alice","emails":[{"value":"alice@example.com","type":"work","primary":true}],"addresses":[{"type":"work","streetAddress":"1 Main St","locality":"Town","region":"CA","postalCode":"90000","country":"US"}],"preferredLanguage":"en","active":true,"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"R&D","employeeNumber":"42"},"meta":{"resourceType":"User"}}"#;
    let list = format!(
        r#"{{"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],"totalResults":2,"startIndex":1,"itemsPerPage":2,"Resources":[{user},{{"id":"g1","displayName":"staff","members":[{{"value":"2819c223"}}]}}]}}"#
    );
    let scim = [
        ("list.bin", 0u8, "", list.as_str()),
        ("user-created.bin", 1, "", user),
        (
            "group.bin",
            0,
            "",
            r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"id":"g1","displayName":"staff","members":[{"value":"2819c223","display":"alice"}]}"#,
        ),
        (
            "conflict.bin",
            6,
            "",
            r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"scimType":"uniqueness","detail":"userName exists","status":"409"}"#,
        ),
        (
            "throttled.bin",
            7,
            "120",
            r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"detail":"slow down","status":"429"}"#,
        ),
        ("unavailable.bin", 9, "Wed, 21 Oct 2015 07:28:00 GMT", "<html>down</html>"),
        (
            "config.bin",
            0,
            "",
            r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],"patch":{"supported":true},"bulk":{"supported":false,"maxOperations":0,"maxPayloadSize":0},"filter":{"supported":true,"maxResults":200}}"#,
        ),
        ("empty.bin", 2, "", ""),
    ];
    for (name, status, retry_after, body) in scim {
        let mut bytes = vec![status];
        bytes.extend_from_slice(retry_after.as_bytes());
        bytes.push(b'\n');
        bytes.extend_from_slice(body.as_bytes());
        write_bytes(root, "corpus/scim_response", name, &bytes);
    }

    // Settings: an application's (tests/common SETTINGS and more keys) and the server's.
    write(root, "corpus/settings", "app.toml", APP_SETTINGS);
    write(root, "corpus/settings", "server.toml", SERVER_SETTINGS);
}

const APP_SETTINGS: &str = r#"display_label = "Acme CRM"
default_relay_state = "/welcome"
nameid_format = "persistent"
allowed_nameid_formats = ["email", "unspecified"]
signing = "both"
require_signed_requests = true
encrypt_assertions = false
encryption_algorithm = "aes256-cbc"
assertion_lifetime_secs = 300
sp_login_url = "https://sp.example.com/login"
[[attributes]]
name = "mail"
property = "email"
[[attributes]]
name = "displayName"
property = "display_name"
jit = true
[[attributes]]
name = "tier"
constant = "gold"
enabled = false
[[attributes]]
name = "memberOf"
groups = true
name_format = "uri"
"#;

const SERVER_SETTINGS: &str = r#"base_url = "https://idp.example.com"
bind = "127.0.0.1:8080"
log_format = "json"
session_lifetime_secs = 28800
clock_skew_secs = 180
request_max_age_secs = 600
login_timeout_secs = 900
trusted_proxies = "10.0.0.0/8, ::1"
provisioning_workers = 2
metadata_refresh_min_secs = 300
metadata_refresh_secs = 86400
metadata_refresh_max_secs = 604800
password_min_chars = 12
event_retention_days = 400
"#;

/// SP metadata as tests/common writes it, with every part the parser reads; returns it with the position for an
/// enveloped signature (after the root's first child, as Metadata §2.3.1's schema orders Signature).
fn sp_metadata(key: &SigningKey, id: &str) -> (String, usize) {
    let cert = key.cert.to_base64();
    let mut w = CanonicalWriter::new();
    w.open(
        "md:EntityDescriptor",
        &[("md", METADATA_NS)],
        &[("ID", id), ("cacheDuration", "PT6H"), ("entityID", SP_ENTITY), ("validUntil", "2030-01-01T00:00:00Z")],
    );
    let at = w.position();
    w.open(
        "md:SPSSODescriptor",
        &[],
        &[
            ("AuthnRequestsSigned", "true"),
            ("WantAssertionsSigned", "true"),
            ("protocolSupportEnumeration", PROTOCOL_NS),
        ],
    );
    for usage in ["signing", "encryption"] {
        w.open("md:KeyDescriptor", &[], &[("use", usage)]);
        w.open("ds:KeyInfo", &[("ds", DSIG_NS)], &[]);
        w.open("ds:X509Data", &[], &[]);
        w.leaf("ds:X509Certificate", &[], &[], &cert);
        w.close("ds:X509Data");
        w.close("ds:KeyInfo");
        w.close("md:KeyDescriptor");
    }
    w.empty("md:SingleLogoutService", &[], &[("Binding", REDIRECT), ("Location", "https://sp.example.com/slo")]);
    w.empty(
        "md:SingleLogoutService",
        &[],
        &[
            ("Binding", POST),
            ("Location", "https://sp.example.com/slo"),
            ("ResponseLocation", "https://sp.example.com/slo/r"),
        ],
    );
    w.leaf("md:NameIDFormat", &[], &[], EMAIL);
    w.empty(
        "md:AssertionConsumerService",
        &[],
        &[("Binding", POST), ("Location", ACS), ("index", "0"), ("isDefault", "true")],
    );
    w.empty(
        "md:AssertionConsumerService",
        &[],
        &[("Binding", POST), ("Location", "https://sp.example.com/acs2"), ("index", "1")],
    );
    w.open("md:AttributeConsumingService", &[], &[("index", "0"), ("isDefault", "true")]);
    w.leaf("md:ServiceName", &[], &[("xml:lang", "en")], "Acme");
    w.empty(
        "md:RequestedAttribute",
        &[],
        &[
            ("Name", "urn:oid:0.9.2342.19200300.100.1.3"),
            ("NameFormat", "urn:oasis:names:tc:SAML:2.0:attrname-format:uri"),
            ("isRequired", "true"),
        ],
    );
    w.empty("md:RequestedAttribute", &[], &[("FriendlyName", "displayName"), ("Name", "displayName")]);
    w.close("md:AttributeConsumingService");
    w.close("md:SPSSODescriptor");
    w.close("md:EntityDescriptor");
    (w.finish(), at)
}

fn minimal_metadata(key: &SigningKey) -> String {
    format!(
        r#"<md:EntityDescriptor xmlns:md="{METADATA_NS}" entityID="{SP_ENTITY}"><md:SPSSODescriptor protocolSupportEnumeration="{PROTOCOL_NS}"><md:KeyDescriptor><ds:KeyInfo xmlns:ds="{DSIG_NS}"><ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor><md:AssertionConsumerService Binding="{POST}" Location="{ACS}" index="0"/></md:SPSSODescriptor></md:EntityDescriptor>"#,
        key.cert.to_base64()
    )
}

/// An AuthnRequest as tests/common `Req::xml` writes it: with `full`, an ACS URL, ForceAuthn, a NameIDPolicy and a
/// RequestedAuthnContext; without, an ACS index and nothing optional.
fn authn_request(id: &str, full: bool, key: Option<&SigningKey>) -> String {
    let instant = saml_time(now());
    let mut attrs = vec![("ID", id), ("Version", "2.0"), ("IssueInstant", instant.as_str()), ("Destination", SSO_URL)];
    if full {
        attrs.extend([("AssertionConsumerServiceURL", ACS), ("ForceAuthn", "true"), ("ProtocolBinding", POST)]);
    } else {
        attrs.extend([("AssertionConsumerServiceIndex", "1"), ("IsPassive", "false")]);
    }
    let mut w = CanonicalWriter::new();
    w.open("samlp:AuthnRequest", &[("samlp", PROTOCOL_NS)], &attrs);
    w.leaf("saml:Issuer", &[("saml", ASSERTION_NS)], &[], SP_ENTITY);
    let at = w.position();
    if full {
        w.empty("samlp:NameIDPolicy", &[], &[("AllowCreate", "true"), ("Format", EMAIL)]);
        w.open("samlp:RequestedAuthnContext", &[], &[("Comparison", "minimum")]);
        w.leaf(
            "saml:AuthnContextClassRef",
            &[("saml", ASSERTION_NS)],
            &[],
            "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport",
        );
        w.close("samlp:RequestedAuthnContext");
    }
    w.close("samlp:AuthnRequest");
    let xml = w.finish();
    match key {
        Some(key) => sign_enveloped(&xml, id, at, key).unwrap(),
        None => xml,
    }
}

fn deflated(xml: &str) -> String {
    let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(xml.as_bytes()).unwrap();
    url::form_urlencoded::byte_serialize(b64_bytes(&enc.finish().unwrap()).as_bytes()).collect()
}

fn b64(xml: &str) -> String {
    b64_bytes(xml.as_bytes())
}

fn b64_bytes(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn write(root: &Path, dir: &str, name: &str, text: &str) {
    write_bytes(root, dir, name, text.as_bytes());
}

fn write_bytes(root: &Path, dir: &str, name: &str, bytes: &[u8]) {
    let dir = root.join(dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), bytes).unwrap();
}
