//! `samlp:Response` and `saml:Assertion` for the Web Browser SSO profile (SAML Profiles §4.1.4.2), built with the
//! canonical writer and signed per the application's signing mode.
//!
//! samael's response builder is not used: it writes text unescaped, uses a SHA-1 digest and omits profile fields
//! (notes/rust-stack.md P1, P5).

use chrono::{DateTime, Utc};

use crate::saml::encrypt::{encrypted_data, Encryption};
use crate::saml::keys::SigningKey;
use crate::saml::sign::sign_enveloped;
use crate::saml::xml::CanonicalWriter;
use crate::saml::{Error, SigningMode};

pub const PROTOCOL_NS: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
pub const ASSERTION_NS: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
pub const BEARER: &str = "urn:oasis:names:tc:SAML:2.0:cm:bearer";

/// Top-level status codes (SAML Core §3.2.2.2).
pub mod status {
    pub const SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
    pub const REQUESTER: &str = "urn:oasis:names:tc:SAML:2.0:status:Requester";
    pub const RESPONDER: &str = "urn:oasis:names:tc:SAML:2.0:status:Responder";
    pub const VERSION_MISMATCH: &str = "urn:oasis:names:tc:SAML:2.0:status:VersionMismatch";
    pub const NO_PASSIVE: &str = "urn:oasis:names:tc:SAML:2.0:status:NoPassive";
    pub const INVALID_NAMEID_POLICY: &str = "urn:oasis:names:tc:SAML:2.0:status:InvalidNameIDPolicy";
    pub const NO_AUTHN_CONTEXT: &str = "urn:oasis:names:tc:SAML:2.0:status:NoAuthnContext";
    pub const REQUEST_DENIED: &str = "urn:oasis:names:tc:SAML:2.0:status:RequestDenied";
    pub const UNSUPPORTED_BINDING: &str = "urn:oasis:names:tc:SAML:2.0:status:UnsupportedBinding";
    pub const AUTHN_FAILED: &str = "urn:oasis:names:tc:SAML:2.0:status:AuthnFailed";
}

/// Attribute name formats (SAML Core §8.2).
pub mod name_format {
    pub const BASIC: &str = "urn:oasis:names:tc:SAML:2.0:attrname-format:basic";
    pub const URI: &str = "urn:oasis:names:tc:SAML:2.0:attrname-format:uri";
    pub const UNSPECIFIED: &str = "urn:oasis:names:tc:SAML:2.0:attrname-format:unspecified";
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameId {
    pub value: String,
    pub format: String,
    /// For persistent and transient identifiers: the IdP entity ID and the SP entity ID they are scoped to.
    pub name_qualifier: Option<String>,
    pub sp_name_qualifier: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    pub name: String,
    pub name_format: String,
    pub friendly_name: Option<String>,
    pub values: Vec<String>,
}

/// Everything that goes into one successful response. Times and ids are passed in, so output is deterministic.
#[derive(Debug)]
pub struct Assertion<'a> {
    pub response_id: &'a str,
    pub assertion_id: &'a str,
    pub issue_instant: DateTime<Utc>,
    pub issuer: &'a str,
    /// The ACS URL: the response's Destination and the bearer confirmation's Recipient.
    pub destination: &'a str,
    pub in_response_to: Option<&'a str>,
    pub audience: &'a str,
    pub name_id: &'a NameId,
    pub not_before: DateTime<Utc>,
    pub not_on_or_after: DateTime<Utc>,
    pub authn_instant: DateTime<Utc>,
    pub session_index: &'a str,
    pub session_not_on_or_after: DateTime<Utc>,
    pub authn_context_class: &'a str,
    pub attributes: &'a [Attribute],
}

/// An error response (SAML Core §3.2.2): no assertion, a status code with an optional second-level code.
#[derive(Debug)]
pub struct StatusResponse<'a> {
    pub response_id: &'a str,
    pub issue_instant: DateTime<Utc>,
    pub issuer: &'a str,
    pub destination: &'a str,
    pub in_response_to: Option<&'a str>,
    pub top_code: &'a str,
    pub second_code: Option<&'a str>,
    pub message: Option<&'a str>,
}

/// Formats an xs:dateTime in UTC as SAML Core §1.3.3 requires.
pub fn saml_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Builds and signs a successful response, returning the exact bytes to base64 and post.
pub fn build_response(a: &Assertion<'_>, mode: SigningMode, key: &SigningKey) -> Result<String, Error> {
    build_response_encrypted(a, mode, key, None)
}

/// `build_response`, with the assertion encrypted for the SP when `encryption` is given: the assertion is signed
/// first (when the mode says so), the signed assertion is encrypted into a `saml:EncryptedAssertion`, and the
/// response around it is signed last (when the mode says so), as SAML Core §6.2 orders it.
pub fn build_response_encrypted(
    a: &Assertion<'_>,
    mode: SigningMode,
    key: &SigningKey,
    encryption: Option<&Encryption>,
) -> Result<String, Error> {
    let assertion = build_assertion(a, mode.signs_assertion().then_some(key), encryption)?;
    let assertion = match encryption.filter(|e| e.encrypts_assertion) {
        Some(e) => {
            let mut w = CanonicalWriter::new();
            w.open("saml:EncryptedAssertion", &[("saml", ASSERTION_NS)], &[]);
            w.raw(&encrypted_data(&assertion, e)?);
            w.close("saml:EncryptedAssertion");
            w.finish()
        }
        None => assertion,
    };
    let status = |w: &mut CanonicalWriter| {
        w.open("samlp:Status", &[], &[]);
        w.empty("samlp:StatusCode", &[], &[("Value", status::SUCCESS)]);
        w.close("samlp:Status");
        w.raw(&assertion);
    };
    let response = response_envelope(a.response_id, a.issue_instant, a.issuer, a.destination, a.in_response_to, status);
    if mode.signs_response() {
        sign_enveloped(&response.xml, a.response_id, response.signature_at, key)
    } else {
        Ok(response.xml)
    }
}

/// Builds a signed error response.
pub fn build_status_response(r: &StatusResponse<'_>, key: &SigningKey) -> Result<String, Error> {
    let body = |w: &mut CanonicalWriter| {
        w.open("samlp:Status", &[], &[]);
        w.open("samlp:StatusCode", &[], &[("Value", r.top_code)]);
        if let Some(second) = r.second_code {
            w.empty("samlp:StatusCode", &[], &[("Value", second)]);
        }
        w.close("samlp:StatusCode");
        if let Some(message) = r.message {
            w.leaf("samlp:StatusMessage", &[], &[], message);
        }
        w.close("samlp:Status");
    };
    let response = response_envelope(r.response_id, r.issue_instant, r.issuer, r.destination, r.in_response_to, body);
    sign_enveloped(&response.xml, r.response_id, response.signature_at, key)
}

struct Unsigned {
    xml: String,
    signature_at: usize,
}

fn response_envelope(
    id: &str,
    issue_instant: DateTime<Utc>,
    issuer: &str,
    destination: &str,
    in_response_to: Option<&str>,
    body: impl FnOnce(&mut CanonicalWriter),
) -> Unsigned {
    let instant = saml_time(issue_instant);
    let mut attrs =
        vec![("ID", id), ("Version", "2.0"), ("IssueInstant", instant.as_str()), ("Destination", destination)];
    if let Some(irt) = in_response_to {
        attrs.push(("InResponseTo", irt));
    }
    let mut w = CanonicalWriter::new();
    w.open("samlp:Response", &[("samlp", PROTOCOL_NS)], &attrs);
    // The saml namespace is declared on each element that needs it rather than on the Response, so that the
    // Assertion canonicalises to the same bytes on its own and inside the Response.
    w.leaf("saml:Issuer", &[("saml", ASSERTION_NS)], &[], issuer);
    let signature_at = w.position();
    body(&mut w);
    w.close("samlp:Response");
    Unsigned { xml: w.finish(), signature_at }
}

fn build_assertion(
    a: &Assertion<'_>,
    key: Option<&SigningKey>,
    encryption: Option<&Encryption>,
) -> Result<String, Error> {
    let issue_instant = saml_time(a.issue_instant);
    let not_before = saml_time(a.not_before);
    let not_on_or_after = saml_time(a.not_on_or_after);
    let mut w = CanonicalWriter::new();
    w.open(
        "saml:Assertion",
        &[("saml", ASSERTION_NS)],
        &[("ID", a.assertion_id), ("Version", "2.0"), ("IssueInstant", &issue_instant)],
    );
    w.leaf("saml:Issuer", &[], &[], a.issuer);
    let signature_at = w.position();

    w.open("saml:Subject", &[], &[]);
    let mut name_attrs = vec![("Format", a.name_id.format.as_str())];
    if let Some(q) = &a.name_id.name_qualifier {
        name_attrs.push(("NameQualifier", q));
    }
    if let Some(q) = &a.name_id.sp_name_qualifier {
        name_attrs.push(("SPNameQualifier", q));
    }
    match encryption.filter(|e| e.encrypts_name_id) {
        // The NameID encrypted on its own declares its namespace, so it is a complete element when decrypted.
        Some(e) => {
            let mut plain = CanonicalWriter::new();
            plain.leaf("saml:NameID", &[("saml", ASSERTION_NS)], &name_attrs, &a.name_id.value);
            w.open("saml:EncryptedID", &[], &[]);
            w.raw(&encrypted_data(&plain.finish(), e)?);
            w.close("saml:EncryptedID");
        }
        None => w.leaf("saml:NameID", &[], &name_attrs, &a.name_id.value),
    }
    w.open("saml:SubjectConfirmation", &[], &[("Method", BEARER)]);
    // Bearer confirmation data carries no NotBefore (SAML Profiles §4.1.4.2).
    let mut confirmation = vec![("NotOnOrAfter", not_on_or_after.as_str()), ("Recipient", a.destination)];
    if let Some(irt) = a.in_response_to {
        confirmation.push(("InResponseTo", irt));
    }
    w.empty("saml:SubjectConfirmationData", &[], &confirmation);
    w.close("saml:SubjectConfirmation");
    w.close("saml:Subject");

    w.open("saml:Conditions", &[], &[("NotBefore", &not_before), ("NotOnOrAfter", &not_on_or_after)]);
    w.open("saml:AudienceRestriction", &[], &[]);
    w.leaf("saml:Audience", &[], &[], a.audience);
    w.close("saml:AudienceRestriction");
    w.close("saml:Conditions");

    let authn_instant = saml_time(a.authn_instant);
    let session_end = saml_time(a.session_not_on_or_after);
    w.open(
        "saml:AuthnStatement",
        &[],
        &[("AuthnInstant", &authn_instant), ("SessionIndex", a.session_index), ("SessionNotOnOrAfter", &session_end)],
    );
    w.open("saml:AuthnContext", &[], &[]);
    w.leaf("saml:AuthnContextClassRef", &[], &[], a.authn_context_class);
    w.close("saml:AuthnContext");
    w.close("saml:AuthnStatement");

    // An AttributeStatement must hold at least one Attribute (SAML Core §2.7.3), so it is left out when empty.
    if !a.attributes.is_empty() {
        w.open("saml:AttributeStatement", &[], &[]);
        for attribute in a.attributes {
            let mut attrs = vec![("Name", attribute.name.as_str()), ("NameFormat", attribute.name_format.as_str())];
            if let Some(friendly) = &attribute.friendly_name {
                attrs.push(("FriendlyName", friendly));
            }
            w.open("saml:Attribute", &[], &attrs);
            for value in &attribute.values {
                w.leaf("saml:AttributeValue", &[], &[], value);
            }
            w.close("saml:Attribute");
        }
        w.close("saml:AttributeStatement");
    }
    w.close("saml:Assertion");
    let xml = w.finish();
    match key {
        Some(key) => sign_enveloped(&xml, a.assertion_id, signature_at, key),
        None => Ok(xml),
    }
}
