//! Incoming `samlp:AuthnRequest`: strict parsing, enveloped-signature verification and validation against the
//! application's registered SP (SAML Core §3.4, Profiles §4.1.4.1).
//!
//! Fields are read with roxmltree, a strict, namespace-aware parser with DTDs off, rather than samael's serde
//! structs, which accept any root element (notes/rust-stack.md P12). A signed POST request is verified by xmlsec
//! through samael's `PreDigest` reduction, and its fields are then read only from the bytes xmlsec digested, after
//! checking that the one signature references the root element (XML signature wrapping, notes/saml-security.md).
//!
//! Invariant: no field of a request is trusted before `validate` has checked issuer, ACS, signature and freshness.

use chrono::{DateTime, Duration, Utc};
use roxmltree::{Document, Node, ParsingOptions};
use samael::crypto::{AllowedSignatureAlgorithm, CertificateDer, CryptoProvider, ReduceMode};

use crate::saml::binding::MAX_XML;
use crate::saml::keys::Certificate;
use crate::saml::response::{status, ASSERTION_NS, PROTOCOL_NS};
use crate::saml::sign::{DSIG_NS, ENVELOPED, EXC_C14N};
use crate::saml::{Error, NameIdFormat};

pub const HTTP_POST: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";
pub const HTTP_REDIRECT: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";

/// Authentication context classes we can assert, weakest first.
pub mod authn_class {
    pub const UNSPECIFIED: &str = "urn:oasis:names:tc:SAML:2.0:ac:classes:unspecified";
    pub const PASSWORD: &str = "urn:oasis:names:tc:SAML:2.0:ac:classes:Password";
    pub const PASSWORD_PROTECTED_TRANSPORT: &str = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport";
    /// The REFEDS MFA profile: two independent factors were used (a passkey with user verification counts).
    pub const REFEDS_MFA: &str = "https://refeds.org/profile/mfa";
}

/// The fields of an AuthnRequest that the IdP acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthnRequest {
    pub id: String,
    pub issue_instant: DateTime<Utc>,
    pub issuer: String,
    pub destination: Option<String>,
    pub acs_url: Option<String>,
    pub acs_index: Option<u16>,
    pub protocol_binding: Option<String>,
    pub force_authn: bool,
    pub is_passive: bool,
    pub name_id_format: Option<String>,
    pub requested_authn_context: Option<RequestedAuthnContext>,
    /// Whether the request carried a signature that was verified against a registered SP certificate.
    pub is_signed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestedAuthnContext {
    pub comparison: String,
    pub class_refs: Vec<String>,
}

/// A registered ACS endpoint of the SP (from its metadata).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AcsEndpoint {
    pub url: String,
    pub binding: String,
    pub index: u16,
    pub is_default: bool,
}

/// What the application registered about its SP, and the IdP endpoint the request was sent to.
#[derive(Debug)]
pub struct SpPolicy<'a> {
    pub entity_id: &'a str,
    pub acs: &'a [AcsEndpoint],
    pub require_signed: bool,
    /// `{base}/saml2/{app}`: a Destination, when given, must name it (Bindings §3.4.5.2, §3.5.5.2).
    pub sso_url: &'a str,
    /// The application's configured NameID format, and the other formats an SP may ask for besides the opaque
    /// ones (`name_id_format_allowed`).
    pub name_id_format: NameIdFormat,
    pub allowed_name_id_formats: &'a [NameIdFormat],
}

/// The NameID formats the IdP metadata offers for an application: exactly those an SP may ask for, the configured
/// one first (toolkits such as python3-saml ask for the first one listed).
pub fn offered_name_id_formats(configured: NameIdFormat, allowed: &[NameIdFormat]) -> Vec<NameIdFormat> {
    let mut offered = vec![configured];
    for f in allowed.iter().copied().chain([NameIdFormat::Persistent, NameIdFormat::Transient]) {
        if !offered.contains(&f) {
            offered.push(f);
        }
    }
    offered
}

/// Whether an SP may ask for `requested` (NameIDPolicy/@Format) from an application configured with `configured`:
/// only if it reveals no more. Transient and persistent identifiers are opaque, so always; any other format
/// (e-mail, unspecified) only when it is the configured one or the admin allowed it for the application. Otherwise
/// an SP could obtain the e-mail address from an application the admin set to persistent.
pub fn name_id_format_allowed(requested: NameIdFormat, configured: NameIdFormat, allowed: &[NameIdFormat]) -> bool {
    matches!(requested, NameIdFormat::Transient | NameIdFormat::Persistent)
        || requested == configured
        || allowed.contains(&requested)
}

/// Freshness rules, from configuration.
#[derive(Debug, Clone, Copy)]
pub struct Freshness {
    pub now: DateTime<Utc>,
    pub clock_skew: Duration,
    pub max_age: Duration,
}

/// A request that passed every check: the ACS it resolved to is registered, so errors may now go to the SP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidRequest {
    pub id: String,
    pub acs_url: String,
    pub force_authn: bool,
    pub is_passive: bool,
    pub name_id_format: Option<NameIdFormat>,
    pub requested_authn_context: Option<RequestedAuthnContext>,
    pub issue_instant: DateTime<Utc>,
}

/// Why a request was refused. `Refused` errors get an HTML page only; `Status` errors, which arise after the ACS
/// was verified, may also be answered with a SAML error response to that ACS.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error(transparent)]
    Malformed(#[from] Error),
    #[error("the request was issued by {got}, but this application's SP is {expected}")]
    WrongIssuer { got: String, expected: String },
    #[error("the request names ACS URL {url}, which is not registered for this application")]
    UnknownAcsUrl { url: String },
    #[error("the request names ACS index {index}, which is not registered for this application")]
    UnknownAcsIndex { index: u16 },
    #[error("the request names both an ACS URL and an ACS index")]
    AmbiguousAcs,
    #[error("the application has no registered ACS endpoint that accepts HTTP-POST")]
    NoAcs,
    #[error("the request was sent to {got}, not to this endpoint")]
    WrongDestination { got: String },
    #[error("the request was issued at {issued}, outside the accepted time window")]
    Stale { issued: DateTime<Utc> },
    #[error("{message}")]
    Status { acs_url: String, second_code: &'static str, message: String },
}

/// Rejects what must never reach an XML parser: oversized input and document type declarations (XXE, entity
/// expansion; SAML Core §1.3 forbids DTDs in protocol messages).
pub fn precheck(xml: &str) -> Result<(), Error> {
    if xml.len() > MAX_XML {
        return Err(Error::TooLarge { limit: MAX_XML });
    }
    if xml.contains("<!DOCTYPE") || xml.contains("<!ENTITY") || xml.contains("<!doctype") {
        return Err(Error::Doctype);
    }
    Ok(())
}

/// Whether the root element carries an enveloped `ds:Signature`, which decides how the request is verified.
pub fn has_enveloped_signature(xml: &str) -> Result<bool, Error> {
    let doc = parse_document(xml)?;
    Ok(doc.root_element().children().any(|n| is(&n, DSIG_NS, "Signature")))
}

/// Verifies the enveloped signature of a POST-binding request against the registered certificates and returns the
/// canonical bytes that were signed, which are the only bytes the caller may read fields from.
pub fn verify_post_signature(xml: &str, certs: &[Certificate], allow_sha1: bool) -> Result<String, Error> {
    precheck(xml)?;
    verify_root_signature(xml, certs, allow_sha1, PROTOCOL_NS, "AuthnRequest")
}

/// Verifies the one enveloped signature of a document whose root must be `{ns}name` and returns the canonical
/// bytes xmlsec digested, the only bytes the caller may read from. The caller has size-checked the input and
/// refused DTDs. Shared by POST AuthnRequests, LogoutRequests and signed SP metadata.
pub fn verify_root_signature(
    xml: &str,
    certs: &[Certificate],
    allow_sha1: bool,
    ns: &str,
    name: &'static str,
) -> Result<String, Error> {
    let doc = parse_document(xml)?;
    let root = doc.root_element();
    let root_id = root.attribute("ID").ok_or(Error::InvalidField { field: "ID" })?;

    // Exactly one signature in the whole document, a child of the root, with one Reference to the root's ID.
    let signatures: Vec<Node<'_, '_>> = doc.descendants().filter(|n| is(n, DSIG_NS, "Signature")).collect();
    let [signature] = signatures.as_slice() else {
        return Err(Error::SignatureScope);
    };
    if signature.parent_element() != Some(root) {
        return Err(Error::SignatureScope);
    }
    let signed_info = child(signature, DSIG_NS, "SignedInfo").ok_or(Error::SignatureScope)?;
    let references: Vec<Node<'_, '_>> = signed_info.children().filter(|n| is(n, DSIG_NS, "Reference")).collect();
    let [reference] = references.as_slice() else {
        return Err(Error::SignatureScope);
    };
    if reference.attribute("URI") != Some(&format!("#{root_id}")) {
        return Err(Error::SignatureScope);
    }
    let sig_alg = child(&signed_info, DSIG_NS, "SignatureMethod").and_then(|n| n.attribute("Algorithm"));
    crate::saml::binding::digest_for(sig_alg.unwrap_or_default(), allow_sha1)?;
    let digest_alg = child(reference, DSIG_NS, "DigestMethod").and_then(|n| n.attribute("Algorithm"));
    check_digest(digest_alg.unwrap_or_default(), allow_sha1)?;
    let transforms = child(reference, DSIG_NS, "Transforms").ok_or(Error::SignatureScope)?;
    for transform in transforms.children().filter(Node::is_element) {
        match transform.attribute("Algorithm") {
            Some(ENVELOPED | EXC_C14N) => {}
            _ => return Err(Error::SignatureScope),
        }
    }
    if certs.is_empty() {
        return Err(Error::BadSignature);
    }

    let ders: Vec<CertificateDer> = certs.iter().map(|c| CertificateDer::from(c.der.clone())).collect();
    // samael's allow-list has no SHA-1 entry; our own check above already enforced the algorithm policy.
    let allowed = [
        AllowedSignatureAlgorithm::RsaSha256,
        AllowedSignatureAlgorithm::RsaSha384,
        AllowedSignatureAlgorithm::RsaSha512,
        AllowedSignatureAlgorithm::EcdsaSha256,
        AllowedSignatureAlgorithm::EcdsaSha384,
        AllowedSignatureAlgorithm::EcdsaSha512,
    ];
    let allowed = (!allow_sha1).then_some(&allowed[..]);
    let signed = samael::crypto::Crypto::reduce_xml_to_signed_with_allowed_algorithms(
        xml,
        &ders,
        ReduceMode::PreDigest,
        allowed,
    );
    // samael initialised xmlsec on its first call (which installs xmlsec's own printing callback); from now on
    // its messages go to tracing.
    crate::saml::xmlsec_errors::route_into_tracing();
    let signed = signed.map_err(|_| Error::BadSignature)?;

    // The digested bytes must be the root element itself, of the expected kind, with the same ID.
    let signed_doc = parse_document(&signed)?;
    let signed_root = signed_doc.root_element();
    if !is(&signed_root, ns, name) || signed_root.attribute("ID") != Some(root_id) {
        return Err(Error::SignatureScope);
    }
    Ok(signed)
}

/// Parses an AuthnRequest. `is_signed` records whether the caller verified a signature over exactly these bytes.
pub fn parse(xml: &str, is_signed: bool) -> Result<AuthnRequest, Error> {
    precheck(xml)?;
    let doc = parse_document(xml)?;
    let root = message_root(&doc, "AuthnRequest")?;
    let (id, issue_instant, issuer) = request_header(&root)?;
    if issuer.is_empty() {
        return Err(Error::InvalidField { field: "Issuer" });
    }
    let acs_index = match root.attribute("AssertionConsumerServiceIndex") {
        Some(v) => {
            Some(v.trim().parse::<u16>().map_err(|_| Error::InvalidField { field: "AssertionConsumerServiceIndex" })?)
        }
        None => None,
    };
    let policy = child(&root, PROTOCOL_NS, "NameIDPolicy");
    let requested_authn_context = match child(&root, PROTOCOL_NS, "RequestedAuthnContext") {
        Some(node) => {
            let mut class_refs = Vec::new();
            for n in node.children().filter(|n| is(n, ASSERTION_NS, "AuthnContextClassRef")) {
                class_refs.push(text_of(&n, "AuthnContextClassRef")?);
            }
            Some(RequestedAuthnContext {
                comparison: node.attribute("Comparison").unwrap_or("exact").to_owned(),
                class_refs,
            })
        }
        None => None,
    };
    Ok(AuthnRequest {
        id: id.to_owned(),
        issue_instant,
        issuer,
        destination: root.attribute("Destination").map(str::to_owned),
        acs_url: root.attribute("AssertionConsumerServiceURL").map(str::to_owned),
        acs_index,
        protocol_binding: root.attribute("ProtocolBinding").map(str::to_owned),
        force_authn: parse_bool(root.attribute("ForceAuthn"), "ForceAuthn")?,
        is_passive: parse_bool(root.attribute("IsPassive"), "IsPassive")?,
        name_id_format: policy.and_then(|p| p.attribute("Format")).map(str::to_owned),
        requested_authn_context,
        is_signed,
    })
}

/// Checks a parsed request against the application's SP. Replay is checked by the caller, which owns the cache.
pub fn validate(req: &AuthnRequest, sp: &SpPolicy<'_>, time: Freshness) -> Result<ValidRequest, RequestError> {
    if req.issuer != sp.entity_id {
        return Err(RequestError::WrongIssuer { got: req.issuer.clone(), expected: sp.entity_id.to_owned() });
    }
    if sp.require_signed && !req.is_signed {
        return Err(Error::UnsignedRequest.into());
    }
    if let Some(destination) = &req.destination {
        if !same_url(destination, sp.sso_url) {
            return Err(RequestError::WrongDestination { got: destination.clone() });
        }
    } else if req.is_signed {
        // Bindings §3.4.5.2 and §3.5.5.2: a signed request must say where it was sent.
        return Err(Error::InvalidField { field: "Destination" }.into());
    }
    let earliest = time.now - time.max_age - time.clock_skew;
    let latest = time.now + time.clock_skew;
    if req.issue_instant < earliest || req.issue_instant > latest {
        return Err(RequestError::Stale { issued: req.issue_instant });
    }
    let acs_url = resolve_acs(req, sp.acs)?;

    // From here on the ACS is registered, so the SP can be told what it asked for that we cannot do.
    let status = |second_code: &'static str, message: String| RequestError::Status {
        acs_url: acs_url.clone(),
        second_code,
        message,
    };
    if let Some(binding) = &req.protocol_binding {
        if binding != HTTP_POST {
            return Err(status(status::UNSUPPORTED_BINDING, format!("response binding {binding} is not supported")));
        }
    }
    let name_id_format = match req.name_id_format.as_deref() {
        None => None,
        Some(format) => match NameIdFormat::from_urn(format) {
            // SAML Core §3.4.1.1: unspecified leaves the choice to the IdP, which sends the configured format.
            Some(NameIdFormat::Unspecified) => None,
            Some(f) if name_id_format_allowed(f, sp.name_id_format, sp.allowed_name_id_formats) => Some(f),
            Some(_) => {
                let message = format!(
                    "NameID format {format} would reveal more than this application's {} format",
                    sp.name_id_format.as_str()
                );
                return Err(status(status::INVALID_NAMEID_POLICY, message));
            }
            None => {
                return Err(status(status::INVALID_NAMEID_POLICY, format!("NameID format {format} is not supported")))
            }
        },
    };
    Ok(ValidRequest {
        id: req.id.clone(),
        acs_url,
        force_authn: req.force_authn,
        is_passive: req.is_passive,
        name_id_format,
        requested_authn_context: req.requested_authn_context.clone(),
        issue_instant: req.issue_instant,
    })
}

/// Picks the authentication context class to assert, or `None` when the request asks for one we cannot satisfy
/// (SAML Core §3.3.2.2.1). `ours` is the strongest class this login achieved.
pub fn choose_authn_context(requested: Option<&RequestedAuthnContext>, ours: &'static str) -> Option<&'static str> {
    let Some(requested) = requested else {
        return Some(ours);
    };
    let ours_rank = rank(ours).unwrap_or(0);
    let ranks: Vec<Option<usize>> = requested.class_refs.iter().map(|c| rank(c)).collect();
    match requested.comparison.as_str() {
        // The assertion must name one of the requested classes exactly; we can name any we meet or exceed.
        "exact" => ranks.iter().flatten().filter(|r| **r <= ours_rank).max().and_then(|r| class_at(*r)),
        "minimum" => ranks.iter().flatten().any(|r| *r <= ours_rank).then_some(ours),
        "better" => ranks.iter().flatten().any(|r| *r < ours_rank).then_some(ours),
        "maximum" => ranks.iter().flatten().filter(|r| **r <= ours_rank).max().and_then(|r| class_at(*r)),
        _ => None,
    }
}

const CLASSES: [&str; 4] = [
    authn_class::UNSPECIFIED,
    authn_class::PASSWORD,
    authn_class::PASSWORD_PROTECTED_TRANSPORT,
    authn_class::REFEDS_MFA,
];

fn rank(class: &str) -> Option<usize> {
    CLASSES.iter().position(|c| *c == class)
}

fn class_at(rank: usize) -> Option<&'static str> {
    CLASSES.get(rank).copied()
}

/// SAML Core §3.4.1: an index, a URL, or neither (the SP's default endpoint). Only HTTP-POST endpoints can
/// receive our responses.
fn resolve_acs(req: &AuthnRequest, acs: &[AcsEndpoint]) -> Result<String, RequestError> {
    let post: Vec<&AcsEndpoint> = acs.iter().filter(|a| a.binding == HTTP_POST).collect();
    match (&req.acs_url, req.acs_index) {
        (Some(_), Some(_)) => Err(RequestError::AmbiguousAcs),
        (Some(url), None) => post
            .iter()
            .find(|a| a.url == *url)
            .map(|a| a.url.clone())
            .ok_or_else(|| RequestError::UnknownAcsUrl { url: url.clone() }),
        (None, Some(index)) => {
            post.iter().find(|a| a.index == index).map(|a| a.url.clone()).ok_or(RequestError::UnknownAcsIndex { index })
        }
        (None, None) => default_acs(acs).map(|a| a.url.clone()).ok_or(RequestError::NoAcs),
    }
}

/// The SP's default HTTP-POST endpoint (Metadata §2.2.3: `isDefault`, else the first one).
pub fn default_acs(acs: &[AcsEndpoint]) -> Option<&AcsEndpoint> {
    let mut post = acs.iter().filter(|a| a.binding == HTTP_POST);
    post.clone().find(|a| a.is_default).or_else(|| post.next())
}

pub(crate) fn same_url(a: &str, b: &str) -> bool {
    match (url::Url::parse(a), url::Url::parse(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

fn check_digest(alg: &str, allow_sha1: bool) -> Result<(), Error> {
    match alg {
        "http://www.w3.org/2001/04/xmlenc#sha256"
        | "http://www.w3.org/2001/04/xmldsig-more#sha384"
        | "http://www.w3.org/2001/04/xmlenc#sha512" => Ok(()),
        "http://www.w3.org/2000/09/xmldsig#sha1" if allow_sha1 => Ok(()),
        other => Err(Error::WeakAlgorithm { alg: other.chars().take(120).collect() }),
    }
}

/// The root of a protocol message from an SP, after the checks every one starts with: the expected element in the
/// protocol namespace, SAML 2.0, and IDs unique in the document (signature wrapping relies on duplicates).
pub(crate) fn message_root<'a, 'i>(doc: &'a Document<'i>, expected: &'static str) -> Result<Node<'a, 'i>, Error> {
    let root = doc.root_element();
    if !is(&root, PROTOCOL_NS, expected) {
        return Err(Error::WrongMessage { expected });
    }
    if root.attribute("Version") != Some("2.0") {
        return Err(Error::InvalidField { field: "Version" });
    }
    check_unique_ids(doc)?;
    Ok(root)
}

/// A request's ID, IssueInstant and Issuer (AuthnRequest, LogoutRequest).
pub(crate) fn request_header(root: &Node<'_, '_>) -> Result<(String, DateTime<Utc>, String), Error> {
    let id = root.attribute("ID").filter(|id| is_valid_id(id)).ok_or(Error::InvalidField { field: "ID" })?;
    let issue_instant =
        root.attribute("IssueInstant").and_then(parse_time).ok_or(Error::InvalidField { field: "IssueInstant" })?;
    let issuer = child(root, ASSERTION_NS, "Issuer").ok_or(Error::InvalidField { field: "Issuer" })?;
    Ok((id.to_owned(), issue_instant, text_of(&issuer, "Issuer")?))
}

pub(crate) fn parse_document(xml: &str) -> Result<Document<'_>, Error> {
    let options = ParsingOptions { allow_dtd: false, nodes_limit: 10_000 };
    Document::parse_with_options(xml, options).map_err(|e| Error::MalformedXml { reason: e.to_string() })
}

pub(crate) fn is(node: &Node<'_, '_>, ns: &str, name: &str) -> bool {
    node.is_element() && node.tag_name().name() == name && node.tag_name().namespace() == Some(ns)
}

pub(crate) fn child<'a, 'i>(node: &Node<'a, 'i>, ns: &str, name: &str) -> Option<Node<'a, 'i>> {
    node.children().find(|n| is(n, ns, name))
}

/// The text of an element that may hold only text. A comment inside a value is refused: it is how comment
/// injection makes one parser read `admin@evil.com` where another reads `admin@evil.com.example.com`.
pub(crate) fn text_of(node: &Node<'_, '_>, field: &'static str) -> Result<String, Error> {
    let mut text = String::new();
    for c in node.children() {
        if !c.is_text() {
            return Err(Error::InvalidField { field });
        }
        text.push_str(c.text().unwrap_or_default());
    }
    Ok(text.trim().to_owned())
}

pub(crate) fn check_unique_ids(doc: &Document<'_>) -> Result<(), Error> {
    let mut seen = std::collections::HashSet::new();
    for id in doc.descendants().filter_map(|n| n.attribute("ID")) {
        if !seen.insert(id) {
            return Err(Error::InvalidField { field: "ID (duplicated)" });
        }
    }
    Ok(())
}

/// xs:ID is an NCName; we also cap its length, since it is stored in the replay cache.
pub(crate) fn is_valid_id(id: &str) -> bool {
    let mut chars = id.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_alphabetic() || c == '_');
    first_ok && id.len() <= 256 && chars.all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

fn parse_bool(value: Option<&str>, field: &'static str) -> Result<bool, Error> {
    match value.map(str::trim) {
        None | Some("false" | "0") => Ok(false),
        Some("true" | "1") => Ok(true),
        Some(_) => Err(Error::InvalidField { field }),
    }
}

pub(crate) fn parse_time(value: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(value.trim()).ok().map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SP: &str = "https://sp.example.com/metadata";

    fn request(extra_attrs: &str, body: &str) -> String {
        format!(
            r#"<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_abc" Version="2.0" IssueInstant="2026-11-23T10:00:00Z" {extra_attrs}><saml:Issuer>{SP}</saml:Issuer>{body}</samlp:AuthnRequest>"#
        )
    }

    fn acs() -> Vec<AcsEndpoint> {
        vec![
            AcsEndpoint {
                url: "https://sp.example.com/acs".into(),
                binding: HTTP_POST.into(),
                index: 0,
                is_default: false,
            },
            AcsEndpoint {
                url: "https://sp.example.com/acs2".into(),
                binding: HTTP_POST.into(),
                index: 3,
                is_default: true,
            },
        ]
    }

    fn check(xml: &str) -> Result<ValidRequest, RequestError> {
        let req = parse(xml, false)?;
        let acs = acs();
        let sp = SpPolicy {
            entity_id: SP,
            acs: &acs,
            require_signed: false,
            sso_url: "https://idp.example.com/saml2/app",
            name_id_format: NameIdFormat::Email,
            allowed_name_id_formats: &[],
        };
        let now = DateTime::parse_from_rfc3339("2026-11-23T10:01:00Z").unwrap().with_timezone(&Utc);
        validate(&req, &sp, Freshness { now, clock_skew: Duration::seconds(180), max_age: Duration::seconds(300) })
    }

    #[test]
    fn reads_the_fields_of_a_request() {
        let xml = request(
            r#"ForceAuthn="true" AssertionConsumerServiceURL="https://sp.example.com/acs""#,
            r#"<samlp:NameIDPolicy Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent" AllowCreate="true"/>"#,
        );
        let req = parse(&xml, false).unwrap();
        assert_eq!(req.id, "_abc");
        assert_eq!(req.issuer, SP);
        assert!(req.force_authn && !req.is_passive);
        let valid = check(&xml).unwrap();
        assert_eq!(valid.acs_url, "https://sp.example.com/acs");
        assert_eq!(valid.name_id_format, Some(NameIdFormat::Persistent));
    }

    #[test]
    fn picks_the_default_acs_then_the_indexed_one() {
        assert_eq!(check(&request("", "")).unwrap().acs_url, "https://sp.example.com/acs2");
        let by_index = request(r#"AssertionConsumerServiceIndex="0""#, "");
        assert_eq!(check(&by_index).unwrap().acs_url, "https://sp.example.com/acs");
    }

    /// Open redirect: a response must never go to an ACS the SP did not register.
    #[test]
    fn rejects_unregistered_acs_url_and_index() {
        let url = request(r#"AssertionConsumerServiceURL="https://evil.example/acs""#, "");
        assert!(matches!(check(&url), Err(RequestError::UnknownAcsUrl { .. })));
        let index = request(r#"AssertionConsumerServiceIndex="7""#, "");
        assert!(matches!(check(&index), Err(RequestError::UnknownAcsIndex { index: 7 })));
    }

    #[test]
    fn rejects_wrong_issuer_and_destination() {
        let xml = request("", "").replace(SP, "https://other.example");
        assert!(matches!(check(&xml), Err(RequestError::WrongIssuer { .. })));
        let xml = request(r#"Destination="https://idp.example.com/saml2/other""#, "");
        assert!(matches!(check(&xml), Err(RequestError::WrongDestination { .. })));
    }

    #[test]
    fn rejects_stale_and_future_requests() {
        let old = request("", "").replace("2026-11-23T10:00:00Z", "2026-11-23T09:50:00Z");
        assert!(matches!(check(&old), Err(RequestError::Stale { .. })));
        let future = request("", "").replace("2026-11-23T10:00:00Z", "2026-11-23T10:10:00Z");
        assert!(matches!(check(&future), Err(RequestError::Stale { .. })));
    }

    /// Parser differential: a second element with the same ID is how wrapping attacks hide content.
    #[test]
    fn rejects_duplicate_ids_and_wrong_roots() {
        let dup = request("", r#"<samlp:Extensions><x ID="_abc"/></samlp:Extensions>"#);
        assert!(matches!(parse(&dup, false), Err(Error::InvalidField { .. })));
        let wrong =
            r#"<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_a" Version="2.0"/>"#;
        assert!(matches!(parse(wrong, false), Err(Error::WrongMessage { .. })));
        let no_ns = r#"<AuthnRequest ID="_a" Version="2.0" IssueInstant="2026-11-23T10:00:00Z"/>"#;
        assert!(matches!(parse(no_ns, false), Err(Error::WrongMessage { .. })));
    }

    /// Comment injection (CVE-2017-11427 class): a comment splitting the Issuer is refused, not read two ways.
    #[test]
    fn rejects_comments_inside_fields() {
        let xml = request("", "").replace(SP, "https://sp.example.com<!-- x -->/metadata");
        assert!(matches!(parse(&xml, false), Err(Error::InvalidField { field: "Issuer" })));
    }

    /// XXE and entity expansion: a DTD never reaches a parser.
    #[test]
    fn rejects_doctype() {
        let xml = format!("<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>{}", request("", ""));
        assert!(matches!(parse(&xml, false), Err(Error::Doctype)));
    }

    #[test]
    fn answers_unsupported_policies_with_a_status() {
        let xml =
            request("", r#"<samlp:NameIDPolicy Format="urn:oasis:names:tc:SAML:1.1:nameid-format:X509SubjectName"/>"#);
        match check(&xml) {
            Err(RequestError::Status { second_code, .. }) => assert_eq!(second_code, status::INVALID_NAMEID_POLICY),
            other => panic!("{other:?}"),
        }
        let xml = request(r#"ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact""#, "");
        assert!(matches!(check(&xml), Err(RequestError::Status { second_code: status::UNSUPPORTED_BINDING, .. })));
    }

    #[test]
    fn an_sp_may_ask_only_for_a_name_id_format_that_reveals_no_more() {
        use NameIdFormat::{Email, Persistent, Transient, Unspecified};
        for configured in NameIdFormat::ALL {
            assert!(
                name_id_format_allowed(Transient, configured, &[])
                    && name_id_format_allowed(Persistent, configured, &[])
            );
            assert!(name_id_format_allowed(configured, configured, &[]));
        }
        assert!(!name_id_format_allowed(Email, Persistent, &[]), "no e-mail from an application set to persistent");
        assert!(!name_id_format_allowed(Email, Transient, &[]));
        assert!(!name_id_format_allowed(Unspecified, Email, &[]));
        assert!(name_id_format_allowed(Email, Persistent, &[Email]), "unless the admin allows it");
        for configured in NameIdFormat::ALL {
            for allowed in [&[][..], &[Email], &[Unspecified, Email]] {
                let offered = offered_name_id_formats(configured, allowed);
                assert_eq!(offered.first(), Some(&configured));
                for f in NameIdFormat::ALL {
                    assert_eq!(offered.contains(&f), name_id_format_allowed(f, configured, allowed), "{f:?}");
                }
            }
        }
    }

    #[test]
    fn chooses_authn_context() {
        let ppt = authn_class::PASSWORD_PROTECTED_TRANSPORT;
        let req = |cmp: &str, refs: &[&str]| RequestedAuthnContext {
            comparison: cmp.into(),
            class_refs: refs.iter().map(|s| s.to_string()).collect(),
        };
        assert_eq!(choose_authn_context(None, ppt), Some(ppt));
        assert_eq!(
            choose_authn_context(Some(&req("exact", &[authn_class::PASSWORD])), ppt),
            Some(authn_class::PASSWORD)
        );
        assert_eq!(choose_authn_context(Some(&req("exact", &["urn:mfa"])), ppt), None);
        assert_eq!(choose_authn_context(Some(&req("minimum", &[ppt])), authn_class::PASSWORD), None);
        assert_eq!(choose_authn_context(Some(&req("minimum", &[authn_class::PASSWORD])), ppt), Some(ppt));
        let mfa = authn_class::REFEDS_MFA;
        assert_eq!(choose_authn_context(Some(&req("exact", &[mfa])), ppt), None);
        assert_eq!(choose_authn_context(Some(&req("minimum", &[mfa])), ppt), None);
        assert_eq!(choose_authn_context(Some(&req("exact", &[mfa])), mfa), Some(mfa));
        assert_eq!(choose_authn_context(Some(&req("minimum", &[mfa])), mfa), Some(mfa));
        assert_eq!(choose_authn_context(Some(&req("minimum", &[ppt])), mfa), Some(mfa));
        assert_eq!(choose_authn_context(Some(&req("better", &[ppt])), mfa), Some(mfa));
        assert_eq!(choose_authn_context(Some(&req("maximum", &[ppt])), mfa), Some(ppt));
    }
}
