//! Single Logout messages (SAML Core §3.7, Profiles §4.4): incoming `samlp:LogoutRequest` and
//! `samlp:LogoutResponse` read strictly with roxmltree (samael's LogoutRequest loses its SessionIndex, notes P9),
//! and ours written with the canonical writer and signed like responses.
//!
//! Invariant: as for AuthnRequests, a signed POST message is verified first (`verify_root_signature`) and its
//! fields are read only from the bytes xmlsec digested.

use chrono::{DateTime, Utc};

use crate::saml::authn_request::{
    child, is, message_root, parse_document, precheck, request_header, same_url, text_of, Freshness,
};
use crate::saml::encrypt::{encrypted_data, Encryption};
use crate::saml::keys::SigningKey;
use crate::saml::response::{saml_time, NameId, ASSERTION_NS, PROTOCOL_NS};
use crate::saml::sign::sign_enveloped;
use crate::saml::xml::CanonicalWriter;
use crate::saml::Error;

/// Second-level status of a logout that did not reach every session participant (SAML Core §3.2.2.2).
pub const PARTIAL_LOGOUT: &str = "urn:oasis:names:tc:SAML:2.0:status:PartialLogout";
pub const UNKNOWN_PRINCIPAL: &str = "urn:oasis:names:tc:SAML:2.0:status:UnknownPrincipal";

/// A LogoutRequest from an SP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutRequest {
    pub id: String,
    pub issuer: String,
    pub issue_instant: DateTime<Utc>,
    pub destination: Option<String>,
    pub name_id: String,
    pub session_indexes: Vec<String>,
    /// Whether a signature over exactly these bytes was verified by the caller.
    pub is_signed: bool,
}

/// A LogoutResponse from an SP, answering one of our LogoutRequests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutResponse {
    pub issuer: String,
    pub in_response_to: String,
    pub destination: Option<String>,
    pub status: String,
    pub is_signed: bool,
}

pub fn parse_logout_request(xml: &str, is_signed: bool) -> Result<LogoutRequest, Error> {
    precheck(xml)?;
    let doc = parse_document(xml)?;
    let root = message_root(&doc, "LogoutRequest")?;
    let (id, issue_instant, issuer) = request_header(&root)?;
    // Only a plain NameID identifies the principal; BaseID and EncryptedID are not supported.
    let name_id = child(&root, ASSERTION_NS, "NameID").ok_or(Error::InvalidField { field: "NameID" })?;
    let name_id = text_of(&name_id, "NameID")?;
    let mut session_indexes = Vec::new();
    for n in root.children().filter(|n| is(n, PROTOCOL_NS, "SessionIndex")) {
        session_indexes.push(text_of(&n, "SessionIndex")?);
    }
    if issuer.is_empty() || name_id.is_empty() {
        return Err(Error::InvalidField { field: if issuer.is_empty() { "Issuer" } else { "NameID" } });
    }
    Ok(LogoutRequest {
        id: id.to_owned(),
        issuer,
        issue_instant,
        destination: root.attribute("Destination").map(str::to_owned),
        name_id,
        session_indexes,
        is_signed,
    })
}

pub fn parse_logout_response(xml: &str, is_signed: bool) -> Result<LogoutResponse, Error> {
    precheck(xml)?;
    let doc = parse_document(xml)?;
    let root = message_root(&doc, "LogoutResponse")?;
    let issuer = child(&root, ASSERTION_NS, "Issuer").ok_or(Error::InvalidField { field: "Issuer" })?;
    let status = child(&root, PROTOCOL_NS, "Status")
        .and_then(|s| child(&s, PROTOCOL_NS, "StatusCode"))
        .and_then(|c| c.attribute("Value"))
        .ok_or(Error::InvalidField { field: "StatusCode" })?;
    Ok(LogoutResponse {
        issuer: text_of(&issuer, "Issuer")?,
        in_response_to: root.attribute("InResponseTo").ok_or(Error::InvalidField { field: "InResponseTo" })?.to_owned(),
        destination: root.attribute("Destination").map(str::to_owned),
        status: status.to_owned(),
        is_signed,
    })
}

/// Why a LogoutRequest is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogoutError {
    #[error("the logout request was issued by {got}, but this application's SP is {expected}")]
    WrongIssuer { got: String, expected: String },
    #[error("the logout request must be signed, and it is not")]
    Unsigned,
    #[error("the logout request was sent to {got}, not to this endpoint")]
    WrongDestination { got: String },
    #[error("a signed logout request must name its Destination")]
    NoDestination,
    #[error("the logout request was issued at {issued}, outside the accepted time window")]
    Stale { issued: DateTime<Utc> },
}

/// Checks a LogoutRequest against the application's SP, as `authn_request::validate` checks AuthnRequests.
pub fn validate_logout_request(
    req: &LogoutRequest,
    sp_entity_id: &str,
    require_signed: bool,
    slo_url: &str,
    time: Freshness,
) -> Result<(), LogoutError> {
    if req.issuer != sp_entity_id {
        return Err(LogoutError::WrongIssuer { got: req.issuer.clone(), expected: sp_entity_id.to_owned() });
    }
    if require_signed && !req.is_signed {
        return Err(LogoutError::Unsigned);
    }
    match &req.destination {
        Some(d) if !same_url(d, slo_url) => return Err(LogoutError::WrongDestination { got: d.clone() }),
        None if req.is_signed => return Err(LogoutError::NoDestination),
        _ => {}
    }
    let earliest = time.now - time.max_age - time.clock_skew;
    if req.issue_instant < earliest || req.issue_instant > time.now + time.clock_skew {
        return Err(LogoutError::Stale { issued: req.issue_instant });
    }
    Ok(())
}

/// A LogoutRequest we send to an SP the session logged into.
#[derive(Debug)]
pub struct OutgoingLogoutRequest<'a> {
    pub id: &'a str,
    pub issue_instant: DateTime<Utc>,
    pub issuer: &'a str,
    pub destination: &'a str,
    pub name_id: &'a NameId,
    pub session_index: &'a str,
    pub not_on_or_after: DateTime<Utc>,
    /// The SP's encryption, when it asks for encrypted NameIDs: the NameID then travels as a `saml:EncryptedID`
    /// (SAML Core §3.7.1), as it does in our assertions, so the logout does not reveal what the SSO hid.
    pub encryption: Option<&'a Encryption>,
}

/// Builds our LogoutRequest; with `key`, signed with an enveloped signature (HTTP-POST binding).
pub fn build_logout_request(r: &OutgoingLogoutRequest<'_>, key: Option<&SigningKey>) -> Result<String, Error> {
    let instant = saml_time(r.issue_instant);
    let not_after = saml_time(r.not_on_or_after);
    let mut w = CanonicalWriter::new();
    w.open(
        "samlp:LogoutRequest",
        &[("samlp", PROTOCOL_NS)],
        &[
            ("ID", r.id),
            ("Version", "2.0"),
            ("IssueInstant", &instant),
            ("Destination", r.destination),
            ("NotOnOrAfter", &not_after),
        ],
    );
    w.leaf("saml:Issuer", &[("saml", ASSERTION_NS)], &[], r.issuer);
    let at = w.position();
    let mut attrs = vec![("Format", r.name_id.format.as_str())];
    if let Some(q) = &r.name_id.name_qualifier {
        attrs.push(("NameQualifier", q));
    }
    if let Some(q) = &r.name_id.sp_name_qualifier {
        attrs.push(("SPNameQualifier", q));
    }
    match r.encryption.filter(|e| e.encrypts_name_id) {
        // The NameID encrypted on its own declares its namespace, so it is a complete element when decrypted.
        Some(e) => {
            let mut plain = CanonicalWriter::new();
            plain.leaf("saml:NameID", &[("saml", ASSERTION_NS)], &attrs, &r.name_id.value);
            w.open("saml:EncryptedID", &[("saml", ASSERTION_NS)], &[]);
            w.raw(&encrypted_data(&plain.finish(), e)?);
            w.close("saml:EncryptedID");
        }
        None => w.leaf("saml:NameID", &[("saml", ASSERTION_NS)], &attrs, &r.name_id.value),
    }
    w.leaf("samlp:SessionIndex", &[], &[], r.session_index);
    w.close("samlp:LogoutRequest");
    let xml = w.finish();
    match key {
        Some(key) => sign_enveloped(&xml, r.id, at, key),
        None => Ok(xml),
    }
}

/// Our answer to an SP's LogoutRequest.
#[derive(Debug)]
pub struct OutgoingLogoutResponse<'a> {
    pub id: &'a str,
    pub issue_instant: DateTime<Utc>,
    pub issuer: &'a str,
    pub destination: &'a str,
    pub in_response_to: &'a str,
    pub top_code: &'a str,
    pub second_code: Option<&'a str>,
}

/// Builds our LogoutResponse; with `key`, signed with an enveloped signature (HTTP-POST binding).
pub fn build_logout_response(r: &OutgoingLogoutResponse<'_>, key: Option<&SigningKey>) -> Result<String, Error> {
    let instant = saml_time(r.issue_instant);
    let mut w = CanonicalWriter::new();
    w.open(
        "samlp:LogoutResponse",
        &[("samlp", PROTOCOL_NS)],
        &[
            ("ID", r.id),
            ("Version", "2.0"),
            ("IssueInstant", &instant),
            ("Destination", r.destination),
            ("InResponseTo", r.in_response_to),
        ],
    );
    w.leaf("saml:Issuer", &[("saml", ASSERTION_NS)], &[], r.issuer);
    let at = w.position();
    w.open("samlp:Status", &[], &[]);
    w.open("samlp:StatusCode", &[], &[("Value", r.top_code)]);
    if let Some(second) = r.second_code {
        w.empty("samlp:StatusCode", &[], &[("Value", second)]);
    }
    w.close("samlp:StatusCode");
    w.close("samlp:Status");
    w.close("samlp:LogoutResponse");
    let xml = w.finish();
    match key {
        Some(key) => sign_enveloped(&xml, r.id, at, key),
        None => Ok(xml),
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;
    use crate::saml::authn_request::verify_root_signature;
    use crate::saml::response::status;

    fn name_id() -> NameId {
        NameId {
            value: "alice@example.com".into(),
            format: "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress".into(),
            name_qualifier: None,
            sp_name_qualifier: None,
        }
    }

    #[test]
    fn our_logout_request_round_trips_through_the_parser_and_verifies() {
        let key = SigningKey::generate("idp", Utc::now(), 1).unwrap();
        let now = Utc::now();
        let n = name_id();
        let xml = build_logout_request(
            &OutgoingLogoutRequest {
                id: "_lr1",
                issue_instant: now,
                issuer: "https://idp/saml2/a",
                destination: "https://sp/slo",
                name_id: &n,
                session_index: "_s1",
                not_on_or_after: now + Duration::minutes(5),
                encryption: None,
            },
            Some(&key),
        )
        .unwrap();
        let signed =
            verify_root_signature(&xml, std::slice::from_ref(&key.cert), false, PROTOCOL_NS, "LogoutRequest").unwrap();
        let parsed = parse_logout_request(&signed, true).unwrap();
        assert_eq!(parsed.name_id, "alice@example.com");
        assert_eq!(parsed.session_indexes, ["_s1"]);
        let time = Freshness { now, clock_skew: Duration::minutes(3), max_age: Duration::minutes(5) };
        assert_eq!(validate_logout_request(&parsed, "https://idp/saml2/a", true, "https://sp/slo", time), Ok(()));
        let unsigned = LogoutRequest { is_signed: false, ..parsed.clone() };
        assert_eq!(
            validate_logout_request(&unsigned, "https://idp/saml2/a", true, "https://sp/slo", time),
            Err(LogoutError::Unsigned)
        );
        assert!(matches!(
            validate_logout_request(&parsed, "https://other", false, "https://sp/slo", time),
            Err(LogoutError::WrongIssuer { .. })
        ));
    }

    /// NameID disclosure: for an SP that asks for encrypted NameIDs, our LogoutRequest carries an EncryptedID
    /// (signed like the rest), never the plain value.
    #[test]
    fn our_logout_request_encrypts_the_name_id_when_the_sp_asks() {
        let key = SigningKey::generate("idp", Utc::now(), 1).unwrap();
        let sp = SigningKey::generate("sp-enc", Utc::now(), 2).unwrap();
        let now = Utc::now();
        let n = name_id();
        let encryption = Encryption {
            cert: sp.cert.clone(),
            data: crate::saml::DataEncryption::Aes256Gcm,
            encrypts_assertion: false,
            encrypts_name_id: true,
        };
        let request = OutgoingLogoutRequest {
            id: "_lr2",
            issue_instant: now,
            issuer: "https://idp/saml2/a",
            destination: "https://sp/slo",
            name_id: &n,
            session_index: "_s2",
            not_on_or_after: now + Duration::minutes(5),
            encryption: Some(&encryption),
        };
        let xml = build_logout_request(&request, Some(&key)).unwrap();
        assert!(!xml.contains("alice@example.com") && !xml.contains("<saml:NameID"), "{xml}");
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let encrypted = doc.root_element().children().find(|c| c.has_tag_name((ASSERTION_NS, "EncryptedID")));
        assert!(encrypted.is_some_and(|e| e.descendants().any(|d| d.tag_name().name() == "EncryptedData")), "{xml}");
        verify_root_signature(&xml, std::slice::from_ref(&key.cert), false, PROTOCOL_NS, "LogoutRequest").unwrap();
        // Asked for encrypted assertions only, the NameID stays plain.
        let assertions_only = Encryption { encrypts_assertion: true, encrypts_name_id: false, ..encryption.clone() };
        let plain = OutgoingLogoutRequest { encryption: Some(&assertions_only), ..request };
        assert!(build_logout_request(&plain, None).unwrap().contains(">alice@example.com</saml:NameID>"));
    }

    #[test]
    fn reads_a_logout_response_status() {
        let xml = build_logout_response(
            &OutgoingLogoutResponse {
                id: "_r1",
                issue_instant: Utc::now(),
                issuer: "https://sp",
                destination: "https://idp/slo",
                in_response_to: "_lr1",
                top_code: status::SUCCESS,
                second_code: Some(PARTIAL_LOGOUT),
            },
            None,
        )
        .unwrap();
        let parsed = parse_logout_response(&xml, false).unwrap();
        assert_eq!((parsed.in_response_to.as_str(), parsed.status.as_str()), ("_lr1", status::SUCCESS));
        assert!(matches!(parse_logout_request(&xml, false), Err(Error::WrongMessage { .. })));
    }
}
