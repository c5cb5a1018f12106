//! What `sesame app show` prints, as text or as one JSON object with stable snake_case keys: built from the one
//! lookup of an application that the console and the API show too (`services::apps::view::details`).

use chrono::{DateTime, Utc};

use crate::directory::AppKind;
use crate::saml::keys::CertState;
use crate::services::apps::change::describe;
use crate::services::apps::view::AppDetails;
use crate::services::certs::CertEntry;

/// What `sesame app show` prints.
#[derive(Debug, serde::Serialize)]
pub struct AppView {
    pub name: String,
    pub display_label: String,
    pub kind: AppKind,
    pub is_active: bool,
    pub idp_url: String,
    pub entity_id: String,
    pub metadata_url: String,
    pub certificate_url: String,
    pub cert_fingerprint: String,
    pub cert_not_before: String,
    pub cert_not_after: String,
    pub cert_days_left: i64,
    /// Every certificate with its state (current, next, previous, retired), validity and expiry warning.
    pub certificates: Vec<CertView>,
    /// For an application registered from a URL: where its SP metadata is refreshed from, and how that went.
    pub sp_metadata_source: Option<MetadataSourceView>,
    pub sp_entity_id: String,
    pub acs_urls: Vec<String>,
    /// The SP's single logout endpoints (from its metadata); logout reaches the SP only when there is one.
    pub slo_urls: Vec<String>,
    pub signing: String,
    pub nameid_format: String,
    pub require_signed_requests: bool,
    /// Users sign in with a second factor for this application.
    pub require_mfa: bool,
    pub sp_certificates: usize,
    pub encrypt_assertions: bool,
    /// `aes256-gcm` or `aes256-cbc`, with RSA-OAEP key transport.
    pub encryption_algorithm: String,
    pub encrypt_name_id: bool,
    pub sp_encryption_certificates: usize,
    pub bound_groups: Vec<String>,
    /// The catalog connector the application was created from, if any.
    pub connector: Option<String>,
    pub attributes: Vec<AttributeView>,
    /// The portal tile logo an administrator uploaded (console or API), if any.
    pub logo: Option<LogoView>,
}

/// An uploaded portal tile logo as `app show` prints it.
#[derive(Debug, serde::Serialize)]
pub struct LogoView {
    /// `image/png`, `image/jpeg` or `image/webp`, as read from the image's bytes.
    pub media_type: String,
    /// In bytes.
    pub size: usize,
    /// Where the server serves it (a path on the base URL).
    pub url: String,
}

/// The refresh state of SP metadata registered from a URL.
#[derive(Debug, serde::Serialize)]
pub struct MetadataSourceView {
    pub url: String,
    pub last_success_at: String,
    pub last_attempt_at: String,
    pub next_refresh_at: String,
    /// Why the last attempt failed (the last good copy stays in use); empty after a success.
    pub last_error: String,
    /// The ACS URLs of a refreshed document that moves them to a new host, held until `sesame app metadata
    /// approve|reject APP`; empty when nothing is held.
    pub held_acs: Vec<String>,
}

/// One attribute as `app show` prints it.
#[derive(Debug, serde::Serialize)]
pub struct AttributeView {
    pub name: String,
    pub source: String,
    pub enabled: bool,
    pub jit: bool,
}

/// One certificate as `sesame app show` prints it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CertView {
    pub fingerprint: String,
    pub state: CertState,
    pub not_before: String,
    pub not_after: String,
    pub expires_in_days: i64,
    /// Set when a warning threshold is reached (published certificates only), e.g. "expires in 5 days".
    pub warning: Option<String>,
    /// For a staged certificate whose activation is scheduled.
    pub activate_at: Option<String>,
}

impl CertView {
    fn of(c: &CertEntry, now: DateTime<Utc>) -> Self {
        Self {
            fingerprint: c.fingerprint.clone(),
            state: c.state,
            not_before: c.not_before.to_rfc3339(),
            not_after: c.not_after.to_rfc3339(),
            expires_in_days: c.expires_in_days(now),
            warning: c.warning(now),
            activate_at: c.activate_at.map(|at| at.to_rfc3339()),
        }
    }
}

impl AppView {
    /// The view of an application at `now` (days left and expiry warnings depend on it).
    pub fn of(d: &AppDetails, now: DateTime<Utc>) -> Self {
        let app = &d.app;
        let current = d.certificates.first();
        let mut slo_urls: Vec<String> = app.sp.slo.iter().map(|e| e.location.clone()).collect();
        slo_urls.dedup();
        Self {
            name: app.name.to_string(),
            display_label: app.display_label.clone(),
            kind: app.kind,
            is_active: app.is_active,
            idp_url: d.idp_url.clone(),
            entity_id: d.idp_entity_id.clone(),
            metadata_url: d.metadata_url.clone(),
            certificate_url: d.certificate_url.clone(),
            cert_fingerprint: current.map(|c| c.fingerprint.clone()).unwrap_or_default(),
            cert_not_before: current.map(|c| c.not_before.to_rfc3339()).unwrap_or_default(),
            cert_not_after: current.map(|c| c.not_after.to_rfc3339()).unwrap_or_default(),
            cert_days_left: current.map(|c| (c.not_after - now).num_days()).unwrap_or_default(),
            certificates: d.certificate_history.iter().map(|c| CertView::of(c, now)).collect(),
            sp_metadata_source: d.metadata_source.as_ref().map(|m| MetadataSourceView {
                url: m.url.clone(),
                last_success_at: m.last_success_at.to_rfc3339(),
                last_attempt_at: m.last_attempt_at.to_rfc3339(),
                next_refresh_at: m.next_refresh_at.to_rfc3339(),
                last_error: m.last_error.clone(),
                held_acs: m.held_acs.clone(),
            }),
            sp_entity_id: app.sp.entity_id.clone(),
            acs_urls: app.sp.acs.iter().map(|a| a.url.clone()).collect(),
            slo_urls,
            signing: app.sp.signing_mode.as_str().to_owned(),
            nameid_format: app.sp.name_id_format.as_str().to_owned(),
            require_signed_requests: app.sp.require_signed_requests,
            require_mfa: app.sp.require_mfa,
            sp_certificates: app.sp.signing_certificates.len(),
            encrypt_assertions: app.sp.encrypt_assertions,
            encryption_algorithm: app.sp.data_encryption.as_str().to_owned(),
            encrypt_name_id: app.sp.encrypt_name_id,
            sp_encryption_certificates: app.sp.encryption_certificates.len(),
            bound_groups: d.bound_groups.clone(),
            connector: app.sp.connector.as_ref().map(|c| c.id.clone()),
            attributes: app
                .sp
                .attributes
                .iter()
                .map(|a| AttributeView {
                    name: a.name.clone(),
                    source: describe(&a.source),
                    enabled: a.is_enabled,
                    jit: a.is_jit,
                })
                .collect(),
            logo: d.logo.as_ref().map(|l| LogoView {
                media_type: l.image_type.media_type().to_owned(),
                size: l.size,
                url: l.url(app.name.as_str()),
            }),
        }
    }

    /// The text of `sesame app show`: one `key  value` line per setting, keys padded to one column.
    pub fn print(&self) {
        println!("name             {}", self.name);
        println!("label            {}", self.display_label);
        println!("idp_url          {}", self.idp_url);
        println!("entity_id        {}", self.entity_id);
        println!("metadata_url     {}", self.metadata_url);
        println!("certificate_url  {}", self.certificate_url);
        for c in &self.certificates {
            println!("{}", certificate_line(c));
        }
        println!("sp_entity_id     {}", self.sp_entity_id);
        println!("acs_urls         {}", self.acs_urls.join(" "));
        if !self.slo_urls.is_empty() {
            println!("slo_urls         {}", self.slo_urls.join(" "));
        }
        println!("signing          {}", self.signing);
        println!("nameid_format    {}", self.nameid_format);
        println!("signed_requests  {}", if self.require_signed_requests { "required" } else { "optional" });
        println!("second_factor    {}", if self.require_mfa { "required" } else { "as the user's policy says" });
        println!("encryption       {}", self.encryption());
        println!("bound_groups     {}", self.bound_groups.join(", "));
        if let Some(logo) = &self.logo {
            println!("logo             {}, {} bytes, {}", logo.media_type, logo.size, logo.url);
        }
        self.print_sources();
    }

    fn encryption(&self) -> String {
        match (self.encrypt_assertions, self.encrypt_name_id) {
            (false, false) => "off".to_owned(),
            (true, false) => format!("assertions, {} with rsa-oaep", self.encryption_algorithm),
            (false, true) => format!("nameid, {} with rsa-oaep", self.encryption_algorithm),
            (true, true) => format!("assertions and nameid, {} with rsa-oaep", self.encryption_algorithm),
        }
    }

    /// The end of `sesame app show`: where the SP metadata and the settings came from, and the attributes sent.
    fn print_sources(&self) {
        if let Some(m) = &self.sp_metadata_source {
            let error = if m.last_error.is_empty() { String::new() } else { format!(", last error: {}", m.last_error) };
            println!(
                "sp_metadata      {} (last refreshed {}, next {}{error})",
                m.url, m.last_success_at, m.next_refresh_at
            );
            if !m.held_acs.is_empty() {
                println!(
                    "held_acs         {} (a new ACS host: sesame app metadata approve|reject {})",
                    m.held_acs.join(" "),
                    self.name
                );
            }
        }
        if let Some(connector) = &self.connector {
            println!("connector        {connector}");
        }
        for a in &self.attributes {
            let flags = format!("{}{}", if a.enabled { "on" } else { "off" }, if a.jit { ", jit" } else { "" });
            println!("attribute        {} = {} ({flags})", a.name, a.source);
        }
    }
}

fn certificate_line(c: &CertView) -> String {
    let mut line = format!(
        "certificate      {} {} valid {} to {} ({} days left)",
        c.fingerprint.get(..16).unwrap_or_default(),
        c.state.as_str(),
        c.not_before,
        c.not_after,
        c.expires_in_days
    );
    if let Some(at) = &c.activate_at {
        line.push_str(&format!(", activates at {at}"));
    }
    if let Some(warning) = &c.warning {
        line.push_str(&format!(", WARNING: {warning}"));
    }
    line
}
