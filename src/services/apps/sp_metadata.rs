//! SP metadata and settings files: reading them (a file, a URL or XML text), checking a metadata signature, and
//! merging them into an application's SSO settings.
//!
//! Importing never relaxes a requirement: once an application requires signed requests, a re-import whose
//! metadata no longer says `AuthnRequestsSigned="true"` keeps requiring them (notes/saml-security.md).

use std::time::Duration as StdDuration;

use crate::directory::application::{check_http_url, is_loopback, SpSettings};
use crate::directory::{AttributeMapping, AttributeSource, UserProperty};
use crate::provisioning::address;
use crate::saml::keys::Certificate;
use crate::saml::metadata::{parse_sp_metadata, verify_sp_metadata_signature, SpMetadata, MAX_SP_METADATA};
use crate::saml::{NameIdFormat, SigningMode};
use crate::services::error::FetchError;
use crate::services::Error;

/// The settings file beside `sp-metadata/<app>.xml`, or given to `sesame app import --settings`.
/// Every key is optional; on re-import, absent keys keep their current value.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsFile {
    pub display_label: Option<String>,
    pub description: Option<String>,
    pub show_in_portal: Option<bool>,
    /// Makes the application a bookmark: a portal tile that opens this URL, with no SAML.
    pub bookmark_url: Option<String>,
    pub nameid_format: Option<String>,
    pub nameid_source: Option<String>,
    /// NameID formats an SP may ask for besides `nameid_format` (transient and persistent are always allowed).
    pub allowed_nameid_formats: Option<Vec<String>>,
    pub signing: Option<String>,
    pub default_relay_state: Option<String>,
    pub sp_login_url: Option<String>,
    pub require_signed_requests: Option<bool>,
    pub allow_sha1: Option<bool>,
    pub idp_entity_id: Option<String>,
    pub assertion_lifetime_secs: Option<u32>,
    pub session_lifetime_secs: Option<u32>,
    /// PEM certificate the SP metadata must be signed with (import and every refresh); "" removes the requirement.
    pub metadata_signing_certificate: Option<String>,
    /// Encrypt assertions for the SP's encryption certificate.
    pub encrypt_assertions: Option<bool>,
    /// `aes256-gcm` (the default) or `aes256-cbc` for SPs that cannot do GCM.
    pub encryption_algorithm: Option<String>,
    /// Encrypt the NameID too.
    pub encrypt_name_id: Option<bool>,
    /// Users sign in with a second factor for this application (a password-only session steps up).
    pub require_mfa: Option<bool>,
    pub attributes: Option<Vec<AttributeEntry>>,
}

/// One attribute: exactly one of `property`, `constant` or `groups = true`; `enabled = false` keeps it without
/// sending it, `jit = true` makes it part of the application's JIT set (name fixed, never removed).
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttributeEntry {
    pub name: String,
    pub name_format: Option<String>,
    pub property: Option<String>,
    pub constant: Option<String>,
    pub groups: Option<bool>,
    pub enabled: Option<bool>,
    pub jit: Option<bool>,
}

impl SettingsFile {
    pub fn parse(text: &str) -> Result<Self, Error> {
        toml::from_str(text).map_err(|source| Error::SettingsSyntax { source })
    }
}

/// Reads metadata from a URL (http or https) or a file path.
pub async fn fetch_metadata(source: &str) -> Result<String, Error> {
    if source.starts_with("http://") || source.starts_with("https://") {
        fetch_url(source).await.map_err(|e| Error::Fetch { url: source.to_owned(), source: e })
    } else {
        let failed = |e: FetchError| Error::Fetch { url: source.to_owned(), source: e };
        let meta = tokio::fs::metadata(source).await.map_err(|e| failed(e.into()))?;
        if meta.len() > MAX_SP_METADATA as u64 {
            return Err(failed(FetchError::TooLarge { limit: MAX_SP_METADATA }));
        }
        tokio::fs::read_to_string(source).await.map_err(|e| failed(e.into()))
    }
}

/// Fetches SP metadata over http(s) with timeouts and a size cap that holds while reading (a server that sends
/// more than `MAX_SP_METADATA` bytes is cut off, whatever its Content-Length says). Metadata URLs are chosen by
/// admins, so loopback and private addresses are allowed (an SP's metadata is often served on an internal host),
/// but reserved ones never (`address::Policy::NotReserved`: link-local cloud metadata services, "this network",
/// multicast, …), neither in the URL, nor after a redirect, nor by resolution; no proxy from the environment.
pub async fn fetch_url(url: &str) -> Result<String, FetchError> {
    let policy = address::Policy::NotReserved;
    let parsed = url::Url::parse(url).map_err(|e| FetchError::Refused(format!("not a URL: {e}")))?;
    address::check_url(&parsed, policy).map_err(FetchError::Refused)?;
    let redirects = reqwest::redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() >= 3 {
            attempt.error("too many redirects")
        } else if attempt.previous().last().is_some_and(|from| is_downgrade(from, attempt.url())) {
            attempt.error("a redirect from https to http is never followed")
        } else if let Err(refused) = address::check_url(attempt.url(), policy) {
            attempt.error(refused)
        } else {
            attempt.follow()
        }
    });
    let client = reqwest::Client::builder()
        .connect_timeout(StdDuration::from_secs(5))
        .timeout(StdDuration::from_secs(20))
        .redirect(redirects)
        .no_proxy()
        .dns_resolver(policy.resolver())
        .user_agent(concat!("sesame/", env!("CARGO_PKG_VERSION")))
        .build()?;
    let mut response = client.get(parsed).send().await?;
    if !response.status().is_success() {
        return Err(FetchError::Status(response.status()));
    }
    let too_large = FetchError::TooLarge { limit: MAX_SP_METADATA };
    if response.content_length().is_some_and(|n| n > MAX_SP_METADATA as u64) {
        return Err(too_large);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > MAX_SP_METADATA {
            return Err(too_large);
        }
        body.extend_from_slice(&chunk);
    }
    String::from_utf8(body).map_err(|_| FetchError::NotUtf8)
}

/// Whether a redirect from `from` to `to` leaves https: never followed, so a metadata URL given as https is read
/// over TLS to the end.
pub fn is_downgrade(from: &url::Url, to: &url::Url) -> bool {
    from.scheme() == "https" && to.scheme() != "https"
}

/// Whether metadata may be read from `url` (at registration and on every refresh): over https, or over http
/// when the document must carry a signature by the application's metadata-signing certificate (`is_signed`) or
/// the host is loopback (no network between). Unsigned metadata read in clear would let whoever sits on the path
/// to the metadata host choose where assertions are posted.
pub fn check_metadata_url(url: &str, is_signed: bool) -> Result<(), String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("the metadata URL is not a URL: {e}"))?;
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if is_signed || is_loopback(&parsed) => Ok(()),
        "http" => Err("the metadata URL uses http: use https, or set a metadata signing certificate".into()),
        _ => Err("the metadata URL must be an http(s) URL".into()),
    }
}

/// Combines metadata, the settings file and (on re-import) the current settings into new settings.
pub fn merge(
    metadata: &SpMetadata,
    settings: &SettingsFile,
    current: Option<&SpSettings>,
    metadata_url: Option<&str>,
) -> Result<SpSettings, Error> {
    let mut sp = current.cloned().unwrap_or_default();
    sp.entity_id = metadata.entity_id.clone();
    sp.acs = metadata.acs.clone();
    sp.slo = metadata.single_logout.clone();
    sp.requested_attributes = metadata.requested_attributes.clone();
    sp.signing_certificates = metadata.signing_certificates.iter().map(|c| c.to_pem()).collect::<Result<_, _>>()?;
    sp.encryption_certificates =
        metadata.encryption_certificates.iter().map(|c| c.to_pem()).collect::<Result<_, _>>()?;
    if let Some(url) = metadata_url {
        sp.metadata_url = url.to_owned();
    }
    let was_required = current.is_some_and(|c| c.require_signed_requests);
    sp.require_signed_requests =
        was_required || metadata.authn_requests_signed || settings.require_signed_requests.unwrap_or(false);
    if current.is_none() {
        // A new application's NameID format follows what the SP lists first, if we can produce it.
        if let Some(format) = metadata.name_id_formats.iter().find_map(|f| NameIdFormat::from_urn(f)) {
            sp.name_id_format = format;
        }
        if metadata.want_assertions_signed {
            sp.signing_mode = SigningMode::Assertion;
        }
    }
    if let Some(v) = &settings.nameid_format {
        sp.name_id_format = NameIdFormat::parse(v).ok_or_else(|| invalid(format!("nameid_format {v:?} is unknown")))?;
    }
    if let Some(list) = &settings.allowed_nameid_formats {
        sp.allowed_name_id_formats = list
            .iter()
            .map(|v| NameIdFormat::parse(v).ok_or_else(|| invalid(format!("allowed_nameid_formats: {v:?} is unknown"))))
            .collect::<Result<_, _>>()?;
    }
    if let Some(v) = &settings.nameid_source {
        sp.name_id_source = Some(property(v)?);
    }
    if let Some(v) = &settings.signing {
        sp.signing_mode = SigningMode::parse(v)
            .ok_or_else(|| invalid(format!("signing {v:?} must be assertion, response or both")))?;
    }
    if let Some(v) = &settings.default_relay_state {
        sp.default_relay_state = v.clone();
    }
    if let Some(v) = &settings.sp_login_url {
        if !v.is_empty() {
            check_http_url("sp_login_url", v)?;
        }
        sp.sp_login_url = v.clone();
    }
    if let Some(v) = settings.allow_sha1 {
        sp.allow_sha1 = v;
    }
    if let Some(v) = &settings.idp_entity_id {
        sp.idp_entity_id = v.clone();
    }
    if let Some(v) = settings.assertion_lifetime_secs {
        sp.assertion_lifetime_secs = v;
    }
    if let Some(v) = settings.session_lifetime_secs {
        sp.session_lifetime_secs = v;
    }
    if let Some(v) = &settings.metadata_signing_certificate {
        if !v.trim().is_empty() {
            crate::saml::keys::Certificate::from_pem(v.as_bytes())
                .map_err(|e| invalid(format!("metadata_signing_certificate: {e}")))?;
        }
        sp.metadata_signing_certificate = v.trim().to_owned();
    }
    if let Some(v) = settings.encrypt_assertions {
        sp.encrypt_assertions = v;
    }
    if let Some(v) = &settings.encryption_algorithm {
        sp.data_encryption = crate::saml::DataEncryption::parse(v)
            .ok_or_else(|| invalid(format!("encryption_algorithm {v:?} must be aes256-gcm or aes256-cbc")))?;
    }
    if let Some(v) = settings.encrypt_name_id {
        sp.encrypt_name_id = v;
    }
    if let Some(v) = settings.require_mfa {
        sp.require_mfa = v;
    }
    if let Some(entries) = &settings.attributes {
        let proposed = entries.iter().map(attribute).collect::<Result<_, _>>()?;
        sp.attributes = crate::directory::attributes::replace_keeping_jit(&sp.attributes, proposed);
    }
    crate::directory::application::check_settings(&sp)?;
    Ok(sp)
}

/// Parses metadata text, the settings and merges them.
pub fn parse_and_merge(
    xml: &str,
    settings: &SettingsFile,
    current: Option<&SpSettings>,
    metadata_url: Option<&str>,
) -> Result<SpSettings, Error> {
    let metadata = parse_sp_metadata(xml)?;
    merge(&metadata, settings, current, metadata_url)
}

/// Parses metadata, after verifying its signature when the application has a metadata-signing certificate (then
/// only the signed bytes are read). Also used by imports.
pub fn checked_metadata(document: &str, sp: &SpSettings) -> Result<SpMetadata, Error> {
    if sp.metadata_signing_certificate.is_empty() {
        return Ok(parse_sp_metadata(document)?);
    }
    let cert = Certificate::from_pem(sp.metadata_signing_certificate.as_bytes())?;
    let signed = verify_sp_metadata_signature(document, &cert).map_err(|source| Error::MetadataSignature { source })?;
    Ok(parse_sp_metadata(&signed)?)
}

fn attribute(entry: &AttributeEntry) -> Result<AttributeMapping, Error> {
    let source = match (&entry.property, &entry.constant, entry.groups) {
        (Some(p), None, None | Some(false)) => AttributeSource::Property(property(p)?),
        (None, Some(c), None | Some(false)) => AttributeSource::Constant(c.clone()),
        (None, None, Some(true)) => AttributeSource::Groups,
        _ => {
            return Err(invalid(format!(
                "attribute {:?} needs exactly one of property, constant or groups = true",
                entry.name
            )))
        }
    };
    Ok(AttributeMapping {
        name: entry.name.clone(),
        name_format: entry.name_format.clone().unwrap_or_else(|| "basic".into()),
        source,
        is_enabled: entry.enabled.unwrap_or(true),
        is_jit: entry.jit.unwrap_or(false),
    })
}

pub(crate) fn property(name: &str) -> Result<UserProperty, Error> {
    UserProperty::parse(name).ok_or_else(|| {
        let known: Vec<&str> = UserProperty::ALL.iter().map(|p| p.as_str()).collect();
        invalid(format!("user property {name:?} is unknown (known: {})", known.join(", ")))
    })
}

fn invalid(reason: String) -> Error {
    Error::Settings { reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Downgrade on redirect: a metadata host (or whoever answers for it) redirecting an https fetch to http would
    /// hand the document to anyone on the path; such a redirect is never followed.
    #[test]
    fn redirects_from_https_to_http_are_downgrades() {
        let u = |s: &str| url::Url::parse(s).unwrap();
        assert!(is_downgrade(&u("https://sp.example.com/md"), &u("http://sp.example.com/md")));
        assert!(is_downgrade(&u("https://sp.example.com/md"), &u("http://127.0.0.1/md")));
        assert!(!is_downgrade(&u("https://sp.example.com/md"), &u("https://cdn.example.com/md")));
        assert!(!is_downgrade(&u("http://127.0.0.1/md"), &u("http://127.0.0.1/other")));
    }

    /// Metadata tampering in transit: unsigned metadata over http from a remote host is refused.
    #[test]
    fn http_metadata_urls_need_a_signature_or_loopback() {
        assert!(check_metadata_url("https://sp.example.com/md", false).is_ok());
        assert!(check_metadata_url("http://sp.example.com/md", true).is_ok());
        assert!(check_metadata_url("http://127.0.0.1:8080/md", false).is_ok());
        assert!(check_metadata_url("http://sp.example.com/md", false).is_err());
        assert!(check_metadata_url("ftp://sp.example.com/md", true).is_err());
    }
}
