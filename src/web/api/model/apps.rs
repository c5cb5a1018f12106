//! The bodies of `/api/v1/applications`: an application in a list and with every setting, its SSO settings
//! (attributes: `attributes`), a new application, a settings change, a metadata refresh, the list's page and filters.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use utoipa::{IntoParams, ToSchema};

use crate::saml::{DataEncryption, NameIdFormat, SigningMode};
use crate::services::apps::change::AppChange;
use crate::services::apps::create::MetadataSource;
use crate::services::apps::logo::LogoInfo;
use crate::services::apps::refresh::{Outcome, Refreshed};
use crate::services::apps::view::{AppDetails, MetadataSourceState};
use crate::web::api::model::attributes::AttributeBody;
use crate::web::api::model::certificates::CertificateView;
use crate::web::api::model::idm::IdmView;
use crate::web::api::problem::Problem;

/// An application in a list.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct AppSummary {
    pub name: String,
    pub display_label: String,
    pub description: String,
    /// `saml` or `bookmark`.
    pub kind: String,
    pub is_active: bool,
    pub show_in_portal: bool,
}

impl AppSummary {
    pub fn of(app: &crate::directory::Application) -> Self {
        Self {
            name: app.name.to_string(),
            display_label: app.display_label.clone(),
            description: app.description.clone(),
            kind: app.kind.as_str().to_owned(),
            is_active: app.is_active,
            show_in_portal: app.show_in_portal,
        }
    }
}

/// One application with every setting.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct AppView {
    pub name: String,
    pub display_label: String,
    pub description: String,
    /// `saml` or `bookmark`.
    pub kind: String,
    /// Whether SSO is on ("Deactivate SSO" turns it off and keeps the settings).
    pub is_active: bool,
    pub show_in_portal: bool,
    /// The URL a bookmark opens.
    pub bookmark_url: Option<String>,
    /// The IdP URL: SP-initiated requests arrive here, IdP-initiated logins start here. Fixed at creation.
    pub idp_url: String,
    pub idp_entity_id: String,
    pub metadata_url: String,
    pub certificate_url: String,
    pub bound_groups: Vec<String>,
    /// The current signing certificate (SAML applications).
    pub certificate: Option<CertificateView>,
    /// The SSO settings (SAML applications).
    pub sso: Option<SsoView>,
    /// Identity management (SCIM provisioning), when set up. The token is never returned.
    pub idm: Option<IdmView>,
    /// The portal tile logo an administrator uploaded (`PUT …/logo`), if any.
    pub logo: Option<LogoView>,
}

/// An uploaded portal tile logo.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct LogoView {
    /// `image/png`, `image/jpeg` or `image/webp`, as read from the image's bytes.
    pub media_type: String,
    /// In bytes.
    pub size: usize,
    /// Where it is served (a path on this server, versioned: it changes when the logo is replaced).
    pub url: String,
    pub updated_at: DateTime<Utc>,
}

impl LogoView {
    pub fn of(app: &str, logo: &LogoInfo) -> Self {
        Self {
            media_type: logo.image_type.media_type().to_owned(),
            size: logo.size,
            url: logo.url(app),
            updated_at: logo.updated_at,
        }
    }
}

impl AppView {
    pub fn of(d: AppDetails, now: DateTime<Utc>) -> Self {
        let app = d.app;
        let metadata_source = d.metadata_source.map(MetadataSourceView::of);
        let sso = app.is_saml().then(|| {
            let sp = &app.sp;
            SsoView {
                sp_entity_id: sp.entity_id.clone(),
                acs: sp
                    .acs
                    .iter()
                    .map(|a| AcsView {
                        url: a.url.clone(),
                        binding: a.binding.clone(),
                        index: a.index,
                        is_default: a.is_default,
                    })
                    .collect(),
                sp_login_url: sp.sp_login_url.clone(),
                default_relay_state: sp.default_relay_state.clone(),
                name_id_format: sp.name_id_format.as_str().to_owned(),
                name_id_source: sp.name_id_source.map(|p| p.as_str().to_owned()),
                signing_mode: sp.signing_mode.as_str().to_owned(),
                require_signed_requests: sp.require_signed_requests,
                allow_sha1: sp.allow_sha1,
                assertion_lifetime_secs: sp.assertion_lifetime_secs,
                session_lifetime_secs: sp.session_lifetime_secs,
                sp_signing_certificates: sp.signing_certificates.len(),
                sp_encryption_certificates: sp.encryption_certificates.len(),
                encrypt_assertions: sp.encrypt_assertions,
                encryption_algorithm: sp.data_encryption.as_str().to_owned(),
                encrypt_name_id: sp.encrypt_name_id,
                require_mfa: sp.require_mfa,
                slo_urls: sp.slo.iter().map(|e| e.location.clone()).collect(),
                sp_metadata_url: sp.metadata_url.clone(),
                metadata_source,
                connector: sp.connector.as_ref().map(|c| c.id.clone()),
                attributes: sp.attributes.iter().map(AttributeBody::of).collect(),
            }
        });
        Self {
            name: app.name.to_string(),
            display_label: app.display_label.clone(),
            description: app.description.clone(),
            kind: app.kind.as_str().to_owned(),
            is_active: app.is_active,
            show_in_portal: app.show_in_portal,
            bookmark_url: app.bookmark_url.clone(),
            idp_url: d.idp_url,
            idp_entity_id: d.idp_entity_id,
            metadata_url: d.metadata_url,
            certificate_url: d.certificate_url,
            bound_groups: d.bound_groups,
            certificate: d.certificates.first().map(|c| CertificateView::of(c, now, false)),
            sso,
            idm: d.idm.map(IdmView::of),
            logo: d.logo.as_ref().map(|l| LogoView::of(app.name.as_str(), l)),
        }
    }
}

/// The SAML settings of an application.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct SsoView {
    pub sp_entity_id: String,
    pub acs: Vec<AcsView>,
    pub sp_login_url: String,
    pub default_relay_state: String,
    /// `email`, `persistent`, `transient` or `unspecified`.
    pub name_id_format: String,
    /// The user property the NameID is taken from; null for the format's default.
    pub name_id_source: Option<String>,
    /// `assertion`, `response` or `both`.
    pub signing_mode: String,
    pub require_signed_requests: bool,
    pub allow_sha1: bool,
    pub assertion_lifetime_secs: u32,
    pub session_lifetime_secs: u32,
    /// How many request-signing certificates the SP registered.
    pub sp_signing_certificates: usize,
    pub sp_encryption_certificates: usize,
    pub encrypt_assertions: bool,
    /// `aes256-gcm` or `aes256-cbc`, with RSA-OAEP key transport.
    pub encryption_algorithm: String,
    pub encrypt_name_id: bool,
    /// Users sign in with a second factor for this application (a password-only session steps up first).
    pub require_mfa: bool,
    /// The SP's single logout endpoints, from its metadata.
    pub slo_urls: Vec<String>,
    /// Where the SP metadata was imported from, when from a URL.
    pub sp_metadata_url: String,
    /// For an application registered from a metadata URL: how its refreshes went, and an ACS change held for an
    /// administrator's approval.
    pub metadata_source: Option<MetadataSourceView>,
    /// The catalog connector the application was created from.
    pub connector: Option<String>,
    pub attributes: Vec<AttributeBody>,
}

/// SP metadata registered from a URL: its refreshes, and a change of ACS host held for approval.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct MetadataSourceView {
    pub url: String,
    pub last_success_at: DateTime<Utc>,
    pub last_attempt_at: DateTime<Utc>,
    pub next_refresh_at: DateTime<Utc>,
    /// Why the last attempt failed (the last good copy stays in use); empty after a success.
    pub last_error: String,
    /// The ACS URLs of a refreshed document that moves them to a new host (scheme, host or port): assertions keep
    /// going to `acs` until an administrator approves (`POST …/metadata/held/approve`) or rejects it. Empty when
    /// nothing is held.
    pub held_acs: Vec<String>,
}

impl MetadataSourceView {
    fn of(m: MetadataSourceState) -> Self {
        Self {
            url: m.url,
            last_success_at: m.last_success_at,
            last_attempt_at: m.last_attempt_at,
            next_refresh_at: m.next_refresh_at,
            last_error: m.last_error,
            held_acs: m.held_acs,
        }
    }
}

#[derive(Debug, serde::Serialize, ToSchema)]
pub struct AcsView {
    pub url: String,
    pub binding: String,
    pub index: u16,
    pub is_default: bool,
}

/// A new application: give exactly one of `metadata_xml`, `metadata_url` (a custom SAML application from its
/// SP's metadata), `connector` (from the catalog, with its placeholder `values`) or `bookmark_url`.
#[derive(Debug, Default, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewApp {
    /// Lower-case letters, digits, `-` and `_`; fixed once created (it is in the IdP URL).
    pub name: String,
    pub metadata_xml: Option<String>,
    pub metadata_url: Option<String>,
    /// A settings file (TOML, as `sp-metadata/<app>.toml`) applied with the metadata.
    pub settings_toml: Option<String>,
    pub connector: Option<String>,
    #[serde(default)]
    pub values: BTreeMap<String, String>,
    /// The SP's request-signing certificate (PEM), for connectors whose SP signs its requests.
    pub sp_certificate_pem: Option<String>,
    pub bookmark_url: Option<String>,
    pub display_label: Option<String>,
    pub description: Option<String>,
}

/// Where a new application comes from, as a `NewApp` says.
pub enum NewAppSource<'a> {
    Connector(&'a str),
    Bookmark(&'a str),
    Metadata(MetadataSource),
}

impl NewApp {
    /// The one source the body gives; none or several is a 422.
    pub fn source(&self) -> Result<NewAppSource<'_>, Problem> {
        let given = [
            self.metadata_xml.is_some(),
            self.metadata_url.is_some(),
            self.connector.is_some(),
            self.bookmark_url.is_some(),
        ];
        if given.iter().filter(|g| **g).count() != 1 {
            return Err(Problem::invalid("give exactly one of metadata_xml, metadata_url, connector or bookmark_url"));
        }
        if let Some(connector) = &self.connector {
            return Ok(NewAppSource::Connector(connector));
        }
        if let Some(url) = &self.bookmark_url {
            return Ok(NewAppSource::Bookmark(url));
        }
        match (&self.metadata_xml, &self.metadata_url) {
            (Some(xml), _) => Ok(NewAppSource::Metadata(MetadataSource::Xml(xml.clone()))),
            (None, Some(url)) => Ok(NewAppSource::Metadata(MetadataSource::Url(url.clone()))),
            (None, None) => Err(Problem::invalid("no metadata given")),
        }
    }

    /// The connector's placeholder values, as the service takes them.
    pub fn values(&self) -> Vec<(String, String)> {
        self.values.clone().into_iter().collect()
    }
}

/// Settings to change; absent fields keep their value.
#[derive(Debug, Default, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppPatch {
    pub display_label: Option<String>,
    pub description: Option<String>,
    pub show_in_portal: Option<bool>,
    /// False deactivates SSO, keeping every setting.
    pub is_active: Option<bool>,
    /// Bookmark applications only.
    pub bookmark_url: Option<String>,
    /// `email`, `persistent`, `transient` or `unspecified`.
    pub name_id_format: Option<String>,
    /// A user property; an empty string goes back to the format's default.
    pub name_id_source: Option<String>,
    /// `assertion`, `response` or `both`.
    pub signing_mode: Option<String>,
    pub default_relay_state: Option<String>,
    pub sp_login_url: Option<String>,
    pub require_signed_requests: Option<bool>,
    pub assertion_lifetime_secs: Option<u32>,
    pub session_lifetime_secs: Option<u32>,
    /// The whole attribute list; JIT attributes left out are kept.
    pub attributes: Option<Vec<AttributeBody>>,
    /// Encrypt assertions to the SP's encryption certificate (refused when its metadata has none).
    pub encrypt_assertions: Option<bool>,
    /// `aes256-gcm` (the default) or `aes256-cbc` for an SP that cannot do GCM.
    pub encryption_algorithm: Option<String>,
    /// Encrypt the NameID too.
    pub encrypt_name_id: Option<bool>,
    /// Users sign in with a second factor for this application.
    pub require_mfa: Option<bool>,
}

impl AppPatch {
    /// The settings change, with every value checked that the service takes typed; a bad one is a 422.
    pub fn change(self) -> Result<AppChange, Problem> {
        Ok(AppChange {
            display_label: self.display_label,
            description: self.description,
            show_in_portal: self.show_in_portal,
            is_active: self.is_active,
            bookmark_url: self.bookmark_url,
            name_id_format: match self.name_id_format.as_deref() {
                Some(v) => Some(NameIdFormat::parse(v).ok_or_else(|| {
                    Problem::invalid(format!(
                        "name_id_format {v:?} must be email, persistent, transient or unspecified"
                    ))
                })?),
                None => None,
            },
            name_id_source: match self.name_id_source.as_deref() {
                Some("") => Some(None),
                Some(v) => Some(Some(crate::services::apps::sp_metadata::property(v)?)),
                None => None,
            },
            signing_mode: match self.signing_mode.as_deref() {
                Some(v) => Some(SigningMode::parse(v).ok_or_else(|| {
                    Problem::invalid(format!("signing_mode {v:?} must be assertion, response or both"))
                })?),
                None => None,
            },
            default_relay_state: self.default_relay_state,
            sp_login_url: self.sp_login_url,
            require_signed_requests: self.require_signed_requests,
            assertion_lifetime_secs: self.assertion_lifetime_secs,
            session_lifetime_secs: self.session_lifetime_secs,
            attributes: match self.attributes {
                Some(list) => Some(list.iter().map(AttributeBody::mapping).collect::<Result<_, _>>()?),
                None => None,
            },
            encrypt_assertions: self.encrypt_assertions,
            data_encryption: match self.encryption_algorithm.as_deref() {
                Some(v) => Some(DataEncryption::parse(v).ok_or_else(|| {
                    Problem::invalid(format!("encryption_algorithm {v:?} must be aes256-gcm or aes256-cbc"))
                })?),
                None => None,
            },
            encrypt_name_id: self.encrypt_name_id,
            require_mfa: self.require_mfa,
            ..AppChange::default()
        })
    }
}

/// The outcome of fetching an application's SP metadata again from its URL.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct RefreshView {
    /// `changed`, `unchanged` or `failed` (the last good copy stays in use).
    pub outcome: String,
    /// What changed, or why it failed.
    pub details: Vec<String>,
    pub next_refresh: DateTime<Utc>,
}

impl RefreshView {
    pub fn of(refreshed: Refreshed) -> Self {
        let (outcome, details) = match refreshed.outcome {
            Outcome::Changed(changes) => ("changed", changes),
            Outcome::Unchanged => ("unchanged", Vec::new()),
            Outcome::Failed(why) => ("failed", vec![why]),
        };
        Self { outcome: outcome.into(), details, next_refresh: refreshed.next_refresh }
    }
}

page_type!(AppPage, AppSummary, "A page of applications, ordered by name.");

#[derive(Debug, Default, serde::Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AppListQuery {
    pub limit: Option<u32>,
    pub cursor: Option<String>,
    /// Applications whose name, label or description contains this (case-insensitive).
    pub q: Option<String>,
    /// `saml` or `bookmark`.
    pub kind: Option<String>,
}
