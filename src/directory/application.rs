//! Applications: SAML service providers and bookmarks, and their SSO settings.

use crate::directory::{AppId, Invalid, UserProperty};
use crate::saml::authn_request::AcsEndpoint;
use crate::saml::metadata::{RequestedAttribute, SloEndpoint};
use crate::saml::{DataEncryption, NameIdFormat, SigningMode};

/// An application's immutable name: the `{app}` in `/saml2/{app}`, which every SP's configuration holds.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct AppName(String);

impl AppName {
    /// Lower-case ASCII letters, digits, `-` and `_`, starting with a letter or digit, at most 63 characters, so
    /// the name is safe in a URL path, a file name and a certificate's common name.
    pub fn parse(value: &str) -> Result<Self, Invalid> {
        let mut chars = value.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if !first_ok || !rest_ok || value.len() > 63 {
            return Err(Invalid::new(
                "application name",
                format!(
                    "{value:?} must be 1 to 63 lower-case letters, digits, '-' or '_', starting with a letter or digit"
                ),
            ));
        }
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for AppName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AppKind {
    Saml,
    Bookmark,
}

impl AppKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Saml => "saml",
            Self::Bookmark => "bookmark",
        }
    }
}

/// Where an attribute's value comes from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttributeSource {
    Property(UserProperty),
    Constant(String),
    /// The names of the user's groups that are bound to this application, one value each.
    Groups,
}

/// One SAML attribute an application receives.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AttributeMapping {
    pub name: String,
    /// `basic`, `uri` or `unspecified` (SAML Core §8.2).
    #[serde(default = "default_name_format")]
    pub name_format: String,
    pub source: AttributeSource,
    /// A switched-off attribute keeps its source but is not sent. Settings stored before this field existed
    /// load as switched on, which is what they meant.
    #[serde(default = "default_true")]
    pub is_enabled: bool,
    /// Part of a JIT set: the SP needs it to create the account at the first sign-in. Its SP-side name and name
    /// format are fixed and it cannot be removed; the admin may change its source or switch it off.
    #[serde(default)]
    pub is_jit: bool,
}

impl AttributeMapping {
    /// A switched-on, ordinary attribute in the `basic` name format.
    pub fn new(name: &str, source: AttributeSource) -> Self {
        Self { name: name.to_owned(), name_format: default_name_format(), source, is_enabled: true, is_jit: false }
    }
}

fn default_name_format() -> String {
    "basic".into()
}

fn default_true() -> bool {
    true
}

/// An application and its SSO settings.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Application {
    pub id: AppId,
    pub name: AppName,
    pub display_label: String,
    pub description: String,
    pub show_in_portal: bool,
    pub kind: AppKind,
    pub bookmark_url: Option<String>,
    /// Whether SSO is switched on ("Deactivate SSO" turns it off without losing settings).
    pub is_active: bool,
    pub sp: SpSettings,
}

/// What the IdP knows about the application's service provider.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct SpSettings {
    pub entity_id: String,
    pub acs: Vec<AcsEndpoint>,
    /// PEM certificates the SP signs its requests with; more than one during an SP's key rotation.
    pub signing_certificates: Vec<String>,
    pub encryption_certificates: Vec<String>,
    pub require_signed_requests: bool,
    pub allow_sha1: bool,
    /// The IdP entity ID this application sees; empty means the application's IdP URL.
    pub idp_entity_id: String,
    pub name_id_format: NameIdFormat,
    /// NameID formats an SP may ask for besides the configured one and the opaque ones (transient, persistent).
    pub allowed_name_id_formats: Vec<NameIdFormat>,
    /// The user property that fills every NameID format that takes one (e-mail, unspecified); `None`: e-mail.
    pub name_id_source: Option<UserProperty>,
    pub signing_mode: SigningMode,
    pub default_relay_state: String,
    pub sp_login_url: String,
    pub attributes: Vec<AttributeMapping>,
    /// The RequestedAttributes of the SP's metadata (refreshed with it); sent when `attributes` is empty.
    pub requested_attributes: Vec<RequestedAttribute>,
    pub assertion_lifetime_secs: u32,
    pub session_lifetime_secs: u32,
    /// Where the SP metadata came from, when it was imported from a URL.
    pub metadata_url: String,
    /// PEM certificate that must have signed the SP metadata (checked on import and on every refresh); empty: the
    /// metadata need not be signed.
    pub metadata_signing_certificate: String,
    /// Encrypt assertions for the SP's encryption certificate (from its metadata).
    pub encrypt_assertions: bool,
    /// The data encryption algorithm: AES-256-GCM unless the SP can only do CBC.
    pub data_encryption: DataEncryption,
    /// Encrypt the NameID inside the assertion (`saml:EncryptedID`).
    pub encrypt_name_id: bool,
    /// The SP's SingleLogoutService endpoints (from its metadata); logout reaches only SPs that have one.
    pub slo: Vec<SloEndpoint>,
    /// The catalog connector the application was created from, with the values its placeholders were filled
    /// with (never unfilled ones), so that a later `app create` can update it.
    pub connector: Option<ConnectorRef>,
    /// The portal tile's colour, an index into `TILE_HUES` (`None`: derived from the application's name).
    pub tile_hue: Option<u8>,
    /// The portal tile's image, an https URL; empty: the tile shows the label's initial.
    pub tile_image_url: String,
    /// Users of this application sign in with a second factor: a password-only session steps up (or enrols)
    /// before a response is sent.
    pub require_mfa: bool,
}

/// The names of the portal tile colours, in the stylesheet's order (`.hue-0` … `.hue-7`).
pub const TILE_HUES: [&str; 8] = ["blue", "violet", "pink", "red", "orange", "green", "teal", "sky"];

/// Checks the portal tile's look: a palette colour, and an image only from an https URL.
pub fn check_tile(hue: Option<u8>, image_url: &str) -> Result<(), Invalid> {
    if hue.is_some_and(|h| usize::from(h) >= TILE_HUES.len()) {
        return Err(Invalid::new("tile colour", "must be one of the palette's colours"));
    }
    if !image_url.is_empty() {
        match url::Url::parse(image_url) {
            Ok(u) if u.scheme() == "https" && u.host().is_some() => {}
            _ => return Err(Invalid::new("tile image URL", format!("{image_url:?} is not an absolute https URL"))),
        }
    }
    Ok(())
}

/// Which connector an application came from and how its placeholders were filled.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct ConnectorRef {
    pub id: String,
    pub values: std::collections::BTreeMap<String, String>,
}

impl Default for SpSettings {
    fn default() -> Self {
        Self {
            entity_id: String::new(),
            acs: Vec::new(),
            signing_certificates: Vec::new(),
            encryption_certificates: Vec::new(),
            require_signed_requests: false,
            allow_sha1: false,
            idp_entity_id: String::new(),
            name_id_format: NameIdFormat::Email,
            allowed_name_id_formats: Vec::new(),
            name_id_source: None,
            signing_mode: SigningMode::Assertion,
            default_relay_state: String::new(),
            sp_login_url: String::new(),
            attributes: Vec::new(),
            requested_attributes: Vec::new(),
            assertion_lifetime_secs: 300,
            session_lifetime_secs: 8 * 3600,
            metadata_url: String::new(),
            metadata_signing_certificate: String::new(),
            encrypt_assertions: false,
            data_encryption: DataEncryption::Aes256Gcm,
            encrypt_name_id: false,
            slo: Vec::new(),
            connector: None,
            tile_hue: None,
            tile_image_url: String::new(),
            require_mfa: false,
        }
    }
}

impl Application {
    pub fn is_saml(&self) -> bool {
        self.kind == AppKind::Saml
    }
}

/// Checks settings before they are stored.
pub fn check_settings(sp: &SpSettings) -> Result<(), Invalid> {
    if sp.entity_id.trim().is_empty() {
        return Err(Invalid::new("SP entity ID", "must not be empty"));
    }
    if sp.acs.is_empty() {
        return Err(Invalid::new("ACS URLs", "at least one is required"));
    }
    for acs in &sp.acs {
        check_http_url("ACS URL", &acs.url)?;
        // Assertions travel in the browser's POST: in clear over http, only where no network is on the path.
        if url::Url::parse(&acs.url).is_ok_and(|u| u.scheme() == "http" && !is_loopback(&u)) {
            return Err(Invalid::new(
                "ACS URL",
                format!("{:?} uses http, which is allowed only for loopback hosts: use https", acs.url),
            ));
        }
    }
    let mut names = std::collections::HashSet::new();
    for attribute in &sp.attributes {
        if attribute.name.trim().is_empty() || attribute.name.chars().any(char::is_control) {
            return Err(Invalid::new("attribute name", format!("{:?} is not a valid name", attribute.name)));
        }
        if !names.insert(attribute.name.as_str()) {
            return Err(Invalid::new("attribute name", format!("{:?} is used twice", attribute.name)));
        }
        if !matches!(attribute.name_format.as_str(), "basic" | "uri" | "unspecified") {
            return Err(Invalid::new("attribute name format", "must be basic, uri or unspecified"));
        }
    }
    if !(30..=3600).contains(&sp.assertion_lifetime_secs) {
        return Err(Invalid::new("assertion lifetime", "must be between 30 and 3600 seconds"));
    }
    if !(60..=7 * 86_400).contains(&sp.session_lifetime_secs) {
        return Err(Invalid::new("session lifetime", "must be between 60 seconds and 7 days"));
    }
    if !sp.sp_login_url.is_empty() {
        check_http_url("SP login URL", &sp.sp_login_url)?;
    }
    if (sp.encrypt_assertions || sp.encrypt_name_id) && sp.encryption_certificates.is_empty() {
        return Err(Invalid::new(
            "encryption",
            "the SP metadata has no encryption certificate (a KeyDescriptor with use=\"encryption\" or without use)",
        ));
    }
    Ok(())
}

/// Whether a URL's host is this machine (`localhost`, 127.0.0.0/8, ::1): no network between.
pub fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            d == "localhost" || d.ends_with(".localhost")
        }
        Some(url::Host::Ipv4(a)) => a.is_loopback(),
        Some(url::Host::Ipv6(a)) => a.is_loopback(),
        None => false,
    }
}

/// An absolute http(s) URL: anything else (javascript:, data:) must never become a link or a form action.
pub fn check_http_url(field: &'static str, value: &str) -> Result<(), Invalid> {
    match url::Url::parse(value) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(()),
        _ => Err(Invalid::new(field, format!("{value:?} is not an absolute http(s) URL"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiles_take_palette_colours_and_https_images() {
        assert!(check_tile(Some(7), "https://cdn.example.com/logo.png").is_ok());
        assert!(check_tile(None, "").is_ok());
        assert!(check_tile(Some(8), "").is_err());
        for bad in ["http://cdn.example.com/logo.png", "javascript:alert(1)", "data:image/png;base64,AA", "/logo.png"] {
            assert!(check_tile(None, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn app_names_are_url_safe() {
        assert!(AppName::parse("acme-crm_2").is_ok());
        for bad in ["", "Acme", "-a", "a/b", "a b", "..", "é", &"a".repeat(64)] {
            assert!(AppName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn refuses_script_urls() {
        assert!(check_http_url("x", "javascript:alert(1)").is_err());
        assert!(check_http_url("x", "/relative").is_err());
        assert!(check_http_url("x", "https://sp.example.com/acs").is_ok());
    }

    /// Assertion theft on the wire: an ACS URL over plain http to a remote host would send every assertion in
    /// clear across the network; http is accepted only for loopback hosts.
    #[test]
    fn http_acs_urls_only_for_loopback_hosts() {
        let with_acs = |url: &str| {
            let mut sp = SpSettings { entity_id: "https://sp.example.com".into(), ..SpSettings::default() };
            sp.acs = vec![AcsEndpoint { url: url.into(), binding: String::new(), index: 0, is_default: true }];
            check_settings(&sp)
        };
        for ok in
            ["https://sp.example.com/acs", "http://127.0.0.1:8080/acs", "http://localhost/acs", "http://[::1]/acs"]
        {
            assert!(with_acs(ok).is_ok(), "{ok}");
        }
        for bad in ["http://sp.example.com/acs", "http://10.0.0.5/acs", "http://localhost.evil.com/acs"] {
            assert!(with_acs(bad).is_err(), "{bad}");
        }
    }
}
