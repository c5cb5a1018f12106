//! SAML metadata (SAML Metadata 2.0): the IdP's own, which SPs import, and SP metadata, which registers an app.
//!
//! The IdP metadata is written with the canonical writer, in schema order, because samael's writer drops
//! `WantAuthnRequestsSigned` and misorders elements (notes/rust-stack.md P7). SP metadata is read with samael's
//! structs after a strict check of the root element, since samael accepts any root (P12), and keys without a `use`
//! attribute count as signing keys (Metadata §2.4.1.1; samael's extractor ignores them, P8).

use chrono::{DateTime, Duration, Utc};
use roxmltree::{Document, ParsingOptions};
use samael::metadata::{EntityDescriptor, EntityDescriptorType, SpSsoDescriptor};

use crate::saml::authn_request::{AcsEndpoint, HTTP_POST, HTTP_REDIRECT};
use crate::saml::keys::Certificate;
use crate::saml::sign::DSIG_NS;
use crate::saml::xml::CanonicalWriter;
use crate::saml::{Error, NameIdFormat};

pub const METADATA_NS: &str = "urn:oasis:names:tc:SAML:2.0:metadata";
const PROTOCOL: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
/// SP metadata documents larger than this are refused (real ones are a few kilobytes; aggregates are not accepted).
pub const MAX_SP_METADATA: usize = 512 * 1024;

/// What the IdP publishes for one application.
#[derive(Debug)]
pub struct IdpMetadata<'a> {
    pub entity_id: &'a str,
    pub sso_url: &'a str,
    pub want_authn_requests_signed: bool,
    /// Signing certificates, the one in use first (many SPs read only the first KeyDescriptor).
    pub certificates: &'a [Certificate],
    pub name_id_formats: &'a [NameIdFormat],
    /// The single logout endpoint (Redirect and POST), when published.
    pub slo_url: Option<&'a str>,
}

/// An SP's SingleLogoutService endpoint (Metadata §2.4.2).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SloEndpoint {
    pub binding: String,
    pub location: String,
    /// Where LogoutResponses go, when not to `location`.
    pub response_location: Option<String>,
}

/// Renders the IdP's EntityDescriptor.
pub fn idp_metadata(m: &IdpMetadata<'_>) -> String {
    let mut w = CanonicalWriter::new();
    w.open("md:EntityDescriptor", &[("md", METADATA_NS)], &[("entityID", m.entity_id)]);
    let wants = if m.want_authn_requests_signed { "true" } else { "false" };
    w.open("md:IDPSSODescriptor", &[], &[("protocolSupportEnumeration", PROTOCOL), ("WantAuthnRequestsSigned", wants)]);
    for cert in m.certificates {
        w.open("md:KeyDescriptor", &[], &[("use", "signing")]);
        w.open("ds:KeyInfo", &[("ds", DSIG_NS)], &[]);
        w.open("ds:X509Data", &[], &[]);
        w.leaf("ds:X509Certificate", &[], &[], &cert.to_base64());
        w.close("ds:X509Data");
        w.close("ds:KeyInfo");
        w.close("md:KeyDescriptor");
    }
    // Schema order: KeyDescriptor, SingleLogoutService, NameIDFormat, SingleSignOnService.
    if let Some(slo) = m.slo_url {
        for binding in [HTTP_REDIRECT, HTTP_POST] {
            w.empty("md:SingleLogoutService", &[], &[("Binding", binding), ("Location", slo)]);
        }
    }
    for format in m.name_id_formats {
        w.leaf("md:NameIDFormat", &[], &[], format.urn());
    }
    for binding in [HTTP_REDIRECT, HTTP_POST] {
        w.empty("md:SingleSignOnService", &[], &[("Binding", binding), ("Location", m.sso_url)]);
    }
    w.close("md:IDPSSODescriptor");
    w.close("md:EntityDescriptor");
    w.finish()
}

/// An attribute the SP asks for in its `AttributeConsumingService` (Metadata §2.4.4.1).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RequestedAttribute {
    pub name: String,
    /// The NameFormat URN the SP names it in; absent means unspecified (SAML Core §2.7.3.1).
    pub name_format: Option<String>,
    pub friendly_name: Option<String>,
    pub is_required: bool,
}

/// What an SP's metadata tells us.
#[derive(Debug, Clone)]
pub struct SpMetadata {
    pub entity_id: String,
    pub acs: Vec<AcsEndpoint>,
    pub signing_certificates: Vec<Certificate>,
    pub encryption_certificates: Vec<Certificate>,
    pub name_id_formats: Vec<String>,
    pub authn_requests_signed: bool,
    pub want_assertions_signed: bool,
    /// SingleLogoutService endpoints with a binding we speak (HTTP-Redirect, HTTP-POST).
    pub single_logout: Vec<SloEndpoint>,
    pub valid_until: Option<DateTime<Utc>>,
    /// The document's `cacheDuration` (Metadata §1.2.3): how long a copy may be used before fetching it again.
    pub cache_duration: Option<Duration>,
    /// The attributes of the SP's default `AttributeConsumingService`, in document order.
    pub requested_attributes: Vec<RequestedAttribute>,
}

/// Verifies the enveloped signature of SP metadata (root `md:EntityDescriptor`) with the one certificate configured
/// for it, and returns the signed bytes, which are the only bytes to parse afterwards.
pub fn verify_sp_metadata_signature(xml: &str, cert: &Certificate) -> Result<String, Error> {
    if xml.len() > MAX_SP_METADATA {
        return Err(Error::TooLarge { limit: MAX_SP_METADATA });
    }
    if xml.contains("<!DOCTYPE") || xml.contains("<!ENTITY") || xml.contains("<!doctype") {
        return Err(Error::Doctype);
    }
    let xml = xml.trim_start_matches('\u{FEFF}');
    let xml =
        xml.strip_prefix("<?xml").and_then(|rest| rest.split_once("?>")).map_or(xml, |(_, body)| body.trim_start());
    crate::saml::authn_request::verify_root_signature(
        xml,
        std::slice::from_ref(cert),
        false,
        METADATA_NS,
        "EntityDescriptor",
    )
}

/// Parses an xs:duration such as `PT6H` or `P1DT12H` (XML Schema §3.2.6). Years count 365 days and months 30,
/// which is all a cache lifetime needs; negative or fractional-day values are refused.
pub fn parse_duration(value: &str) -> Option<Duration> {
    let rest = value.trim().strip_prefix('P')?;
    let (date, time) = match rest.split_once('T') {
        Some((d, t)) if !t.is_empty() => (d, Some(t)),
        Some(_) => return None,
        None => (rest, None),
    };
    let mut total = Duration::zero();
    let mut seen = false;
    let mut take = |part: &str, units: &[(char, i64)]| -> Option<()> {
        let mut number = String::new();
        for c in part.chars() {
            if c.is_ascii_digit() || (c == '.' && units.iter().any(|u| u.0 == 'S')) {
                number.push(c);
                continue;
            }
            let (_, secs) = units.iter().find(|u| u.0 == c)?;
            let value: f64 = number.parse().ok()?;
            // Whole seconds are enough; the float is bounded by the digits, and the product is checked below.
            let secs_total = value * (*secs as f64);
            if !(0.0..1e12).contains(&secs_total) {
                return None;
            }
            total = total.checked_add(&Duration::milliseconds((secs_total * 1000.0) as i64))?;
            number.clear();
            seen = true;
        }
        number.is_empty().then_some(())
    };
    take(date, &[('Y', 365 * 86_400), ('M', 30 * 86_400), ('D', 86_400)])?;
    if let Some(time) = time {
        take(time, &[('H', 3600), ('M', 60), ('S', 1)])?;
    }
    seen.then_some(total)
}

/// When to fetch SP metadata again: after `default`, or sooner when the document's `cacheDuration` or `validUntil`
/// says so, but never sooner than `min` nor later than `max` (a hostile document cannot make us poll constantly).
pub fn next_refresh(
    now: DateTime<Utc>,
    cache_duration: Option<Duration>,
    valid_until: Option<DateTime<Utc>>,
    default: Duration,
    min: Duration,
    max: Duration,
) -> DateTime<Utc> {
    let mut wait = default;
    if let Some(cache) = cache_duration {
        wait = wait.min(cache);
    }
    if let Some(until) = valid_until {
        wait = wait.min(until - now);
    }
    now + wait.max(min).min(max)
}

/// Reads SP metadata: an `md:EntityDescriptor`, or an `md:EntitiesDescriptor` holding exactly one SP.
pub fn parse_sp_metadata(xml: &str) -> Result<SpMetadata, Error> {
    if xml.len() > MAX_SP_METADATA {
        return Err(Error::TooLarge { limit: MAX_SP_METADATA });
    }
    if xml.contains("<!DOCTYPE") || xml.contains("<!ENTITY") {
        return Err(Error::Doctype);
    }
    let xml = xml.trim_start_matches('\u{FEFF}');
    let doc = Document::parse_with_options(xml, ParsingOptions { allow_dtd: false, nodes_limit: 100_000 })
        .map_err(|e| Error::MalformedXml { reason: e.to_string() })?;
    let root = doc.root_element();
    if root.tag_name().namespace() != Some(METADATA_NS)
        || !matches!(root.tag_name().name(), "EntityDescriptor" | "EntitiesDescriptor")
    {
        return Err(bad("the document is not SAML 2.0 metadata (expected md:EntityDescriptor)"));
    }
    let parsed: EntityDescriptorType = xml.parse().map_err(|e| bad(&format!("{e}")))?;
    let mut sps: Vec<(&EntityDescriptor, &SpSsoDescriptor)> = Vec::new();
    for entity in parsed.iter() {
        for sp in entity.sp_sso_descriptors.iter().flatten() {
            sps.push((entity, sp));
        }
    }
    let [(entity, sp)] = sps.as_slice() else {
        return Err(bad(&format!("expected one SPSSODescriptor, found {}", sps.len())));
    };
    let entity_id =
        entity.entity_id.clone().filter(|e| !e.trim().is_empty()).ok_or_else(|| bad("entityID is missing"))?;
    if !sp.protocol_support_enumeration.as_deref().unwrap_or_default().contains(PROTOCOL) {
        return Err(bad("the SPSSODescriptor does not support the SAML 2.0 protocol"));
    }

    let mut acs = Vec::new();
    for endpoint in &sp.assertion_consumer_services {
        let index = u16::try_from(endpoint.index).map_err(|_| bad("an ACS index is out of range"))?;
        check_endpoint_url(&endpoint.location)?;
        acs.push(AcsEndpoint {
            url: endpoint.location.clone(),
            binding: endpoint.binding.clone(),
            index,
            is_default: endpoint.is_default.unwrap_or(false),
        });
    }
    if !acs.iter().any(|a| a.binding == HTTP_POST) {
        return Err(bad("no AssertionConsumerService with the HTTP-POST binding"));
    }

    let mut signing_certificates = Vec::new();
    let mut encryption_certificates = Vec::new();
    for key in sp.key_descriptors.iter().flatten() {
        for b64 in key.key_info.x509_data.iter().flat_map(|d| d.certificates.iter()) {
            let cert = Certificate::from_base64(b64)?;
            // A KeyDescriptor without `use` serves both purposes (Metadata §2.4.1.1).
            match key.key_use.as_deref() {
                Some("signing") => push_unique(&mut signing_certificates, cert),
                Some("encryption") => push_unique(&mut encryption_certificates, cert),
                _ => {
                    push_unique(&mut signing_certificates, cert.clone());
                    push_unique(&mut encryption_certificates, cert);
                }
            }
        }
    }
    let mut single_logout = Vec::new();
    for e in sp.single_logout_services.iter().flatten().filter(|e| e.binding == HTTP_POST || e.binding == HTTP_REDIRECT)
    {
        check_endpoint_url(&e.location)?;
        if let Some(r) = &e.response_location {
            check_endpoint_url(r)?;
        }
        single_logout.push(SloEndpoint {
            binding: e.binding.clone(),
            location: e.location.clone(),
            response_location: e.response_location.clone(),
        });
    }
    Ok(SpMetadata {
        entity_id,
        acs,
        signing_certificates,
        encryption_certificates,
        name_id_formats: sp.name_id_formats.clone().unwrap_or_default(),
        authn_requests_signed: sp.authn_requests_signed.unwrap_or(false),
        want_assertions_signed: sp.want_assertions_signed.unwrap_or(false),
        single_logout,
        valid_until: entity.valid_until.or(sp.valid_until),
        cache_duration: entity.cache_duration.as_deref().and_then(parse_duration),
        requested_attributes: requested_attributes(&doc)?,
    })
}

/// The RequestedAttributes of the SP's default AttributeConsumingService: the one marked `isDefault="true"`, else
/// the first (Metadata §2.4.4). The caller has checked that the document holds exactly one SPSSODescriptor.
fn requested_attributes(doc: &Document<'_>) -> Result<Vec<RequestedAttribute>, Error> {
    let is_md = |n: &roxmltree::Node<'_, '_>, name: &str| {
        n.is_element() && n.tag_name().namespace() == Some(METADATA_NS) && n.tag_name().name() == name
    };
    let Some(sp) = doc.descendants().find(|n| is_md(n, "SPSSODescriptor")) else {
        return Ok(Vec::new());
    };
    let services: Vec<roxmltree::Node<'_, '_>> =
        sp.children().filter(|n| is_md(n, "AttributeConsumingService")).collect();
    let Some(service) = services.iter().find(|n| n.attribute("isDefault") == Some("true")).or_else(|| services.first())
    else {
        return Ok(Vec::new());
    };
    let mut requested = Vec::new();
    for node in service.children().filter(|n| is_md(n, "RequestedAttribute")) {
        let name = node.attribute("Name").map(str::trim).filter(|n| !n.is_empty());
        let Some(name) = name.filter(|n| !n.chars().any(char::is_control)) else {
            return Err(bad("a RequestedAttribute has no valid Name"));
        };
        if requested.iter().any(|r: &RequestedAttribute| r.name == name) {
            continue;
        }
        requested.push(RequestedAttribute {
            name: name.to_owned(),
            name_format: node.attribute("NameFormat").map(|f| f.trim().to_owned()),
            friendly_name: node.attribute("FriendlyName").map(|f| f.trim().to_owned()),
            is_required: matches!(node.attribute("isRequired"), Some("true" | "1")),
        });
    }
    Ok(requested)
}

fn push_unique(list: &mut Vec<Certificate>, cert: Certificate) {
    if !list.iter().any(|c| c.fingerprint == cert.fingerprint) {
        list.push(cert);
    }
}

/// An ACS must be an absolute http(s) URL: we post assertions to it.
fn check_endpoint_url(location: &str) -> Result<(), Error> {
    match url::Url::parse(location.trim()) {
        Ok(u) if matches!(u.scheme(), "https" | "http") && u.host().is_some() && location.trim() == location => Ok(()),
        _ => Err(bad(&format!("endpoint location {location:?} is not an absolute http(s) URL"))),
    }
}

fn bad(reason: &str) -> Error {
    Error::BadMetadata { reason: reason.to_owned() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::saml::keys::SigningKey;

    fn sp_xml(key_use: &str, cert: &str) -> String {
        format!(
            r#"<?xml version="1.0"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://sp.example.com/sp">
  <md:SPSSODescriptor AuthnRequestsSigned="true" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor {key_use}><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>{cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat>
    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://sp.example.com/acs" index="1"/>
    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://sp.example.com/acs2" index="2" isDefault="true"/>
  </md:SPSSODescriptor>
</md:EntityDescriptor>"#
        )
    }

    #[test]
    fn reads_sp_metadata_with_a_key_without_use() {
        let key = SigningKey::generate("sp", Utc::now(), 1).unwrap();
        let md = parse_sp_metadata(&sp_xml("", &key.cert.to_base64())).unwrap();
        assert_eq!(md.entity_id, "https://sp.example.com/sp");
        assert!(md.authn_requests_signed);
        assert_eq!(md.acs.len(), 2);
        assert_eq!(crate::saml::authn_request::default_acs(&md.acs).unwrap().url, "https://sp.example.com/acs2");
        assert_eq!(md.signing_certificates.len(), 1);
        assert_eq!(md.encryption_certificates.len(), 1);
        let md = parse_sp_metadata(&sp_xml(r#"use="encryption""#, &key.cert.to_base64())).unwrap();
        assert!(md.signing_certificates.is_empty());
    }

    #[test]
    fn reads_the_default_attribute_consuming_services_requested_attributes() {
        let key = SigningKey::generate("sp", Utc::now(), 1).unwrap();
        let services = r#"
    <md:AttributeConsumingService index="1"><md:ServiceName xml:lang="en">other</md:ServiceName>
      <md:RequestedAttribute Name="ignored"/></md:AttributeConsumingService>
    <md:AttributeConsumingService index="2" isDefault="true"><md:ServiceName xml:lang="en">sp</md:ServiceName>
      <md:RequestedAttribute Name="urn:oid:0.9.2342.19200300.100.1.3" FriendlyName="mail" isRequired="true"
        NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:uri"/>
      <md:RequestedAttribute Name="givenName"/>
    </md:AttributeConsumingService>
  </md:SPSSODescriptor>"#;
        let xml = sp_xml("", &key.cert.to_base64()).replace("\n  </md:SPSSODescriptor>", services);
        let md = parse_sp_metadata(&xml).unwrap();
        assert_eq!(
            md.requested_attributes,
            [
                RequestedAttribute {
                    name: "urn:oid:0.9.2342.19200300.100.1.3".into(),
                    name_format: Some("urn:oasis:names:tc:SAML:2.0:attrname-format:uri".into()),
                    friendly_name: Some("mail".into()),
                    is_required: true,
                },
                RequestedAttribute {
                    name: "givenName".into(),
                    name_format: None,
                    friendly_name: None,
                    is_required: false
                },
            ]
        );
        assert!(parse_sp_metadata(&sp_xml("", &key.cert.to_base64())).unwrap().requested_attributes.is_empty());
        let nameless = xml.replace(r#"<md:RequestedAttribute Name="givenName"/>"#, "<md:RequestedAttribute/>");
        assert!(matches!(parse_sp_metadata(&nameless), Err(Error::BadMetadata { .. })));
    }

    #[test]
    fn parses_cache_durations() {
        assert_eq!(parse_duration("PT6H"), Some(Duration::hours(6)));
        assert_eq!(parse_duration("P1DT12H"), Some(Duration::hours(36)));
        assert_eq!(parse_duration("P1Y"), Some(Duration::days(365)));
        assert_eq!(parse_duration("PT1M30.5S"), Some(Duration::milliseconds(90_500)));
        for bad in ["", "P", "PT", "6H", "P-1D", "PT1X", "P1H", "P99999999999999D"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn next_refresh_honours_cache_duration_and_valid_until_within_bounds() {
        let now = Utc::now();
        let (day, min, max) = (Duration::days(1), Duration::minutes(5), Duration::days(7));
        assert_eq!(next_refresh(now, None, None, day, min, max), now + day);
        assert_eq!(next_refresh(now, Some(Duration::hours(6)), None, day, min, max), now + Duration::hours(6));
        assert_eq!(next_refresh(now, None, Some(now + Duration::hours(2)), day, min, max), now + Duration::hours(2));
        assert_eq!(next_refresh(now, Some(Duration::seconds(1)), None, day, min, max), now + min);
        assert_eq!(next_refresh(now, None, None, Duration::days(30), min, max), now + max);
    }

    #[test]
    fn refuses_documents_that_are_not_metadata() {
        assert!(matches!(parse_sp_metadata("<x/>"), Err(Error::BadMetadata { .. })));
        assert!(matches!(parse_sp_metadata("<!DOCTYPE x><x/>"), Err(Error::Doctype)));
        let key = SigningKey::generate("sp", Utc::now(), 1).unwrap();
        let evil = sp_xml("", &key.cert.to_base64()).replace("https://sp.example.com/acs2", "javascript:alert(1)");
        assert!(matches!(parse_sp_metadata(&evil), Err(Error::BadMetadata { .. })));
    }

    #[test]
    fn idp_metadata_is_in_schema_order_and_escaped() {
        let key = SigningKey::generate("idp", Utc::now(), 1).unwrap();
        let xml = idp_metadata(&IdpMetadata {
            entity_id: "https://idp.example.com/saml2/a&b",
            sso_url: "https://idp.example.com/saml2/a&b",
            want_authn_requests_signed: true,
            certificates: &[key.cert],
            name_id_formats: &[NameIdFormat::Email],
            slo_url: Some("https://idp.example.com/saml2/a&b/slo"),
        });
        let key_at = xml.find("KeyDescriptor").unwrap();
        let format_at = xml.find("NameIDFormat").unwrap();
        let sso_at = xml.find("SingleSignOnService").unwrap();
        let slo_at = xml.find("SingleLogoutService").unwrap();
        assert!(key_at < slo_at && slo_at < format_at && format_at < sso_at);
        assert!(xml.contains(r#"WantAuthnRequestsSigned="true""#));
        assert!(xml.contains("a&amp;b"));
        roxmltree::Document::parse(&xml).unwrap();
    }
}
