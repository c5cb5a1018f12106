//! The API's JSON bodies: what it returns and what it accepts, with their OpenAPI schemas. Request bodies refuse
//! unknown fields, so a misspelt setting is a 422 instead of being ignored.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use utoipa::{IntoParams, ToSchema};

use crate::audit::Event;
use crate::directory::user::Profile;
use crate::directory::{AttributeMapping, AttributeSource, Group, User};
use crate::saml::keys::Certificate;
use crate::services::apps::view::{AppDetails, IdmState};
use crate::services::{apps, Error};

/// A directory user.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct UserView {
    pub username: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub display_name: String,
    pub department: String,
    pub job_title: String,
    pub employee_type: String,
    pub company: String,
    pub employee_id: String,
    pub locale: String,
    pub phone: String,
    pub work_address: String,
    /// `active` or `suspended`.
    pub status: String,
    /// The user's groups (on a single user; lists leave it out).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<String>>,
}

impl UserView {
    pub fn of(user: User, groups: Option<Vec<String>>) -> Self {
        let p = user.profile;
        Self {
            username: user.username,
            email: p.email,
            first_name: p.first_name,
            last_name: p.last_name,
            display_name: p.display_name,
            department: p.department,
            job_title: p.job_title,
            employee_type: p.employee_type,
            company: p.company,
            employee_id: p.employee_id,
            locale: p.locale,
            phone: p.phone,
            work_address: p.work_address,
            status: user.status.as_str().to_owned(),
            groups,
        }
    }
}

/// A new user. Only `username` and `email` are required.
#[derive(Debug, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    pub username: String,
    pub email: String,
    #[serde(default)]
    pub first_name: String,
    #[serde(default)]
    pub last_name: String,
    #[serde(default)]
    pub display_name: String,
    #[serde(default)]
    pub department: String,
    #[serde(default)]
    pub job_title: String,
    #[serde(default)]
    pub employee_type: String,
    #[serde(default)]
    pub company: String,
    #[serde(default)]
    pub employee_id: String,
    #[serde(default)]
    pub locale: String,
    #[serde(default)]
    pub phone: String,
    #[serde(default)]
    pub work_address: String,
    /// The portal password; without one the user cannot sign in until one is set.
    #[schema(write_only)]
    pub password: Option<String>,
}

impl NewUser {
    pub fn profile(&self) -> Profile {
        Profile {
            email: self.email.clone(),
            first_name: self.first_name.clone(),
            last_name: self.last_name.clone(),
            display_name: self.display_name.clone(),
            department: self.department.clone(),
            job_title: self.job_title.clone(),
            employee_type: self.employee_type.clone(),
            company: self.company.clone(),
            employee_id: self.employee_id.clone(),
            locale: self.locale.clone(),
            phone: self.phone.clone(),
            work_address: self.work_address.clone(),
        }
    }
}

/// Profile fields to change; absent fields keep their value.
#[derive(Debug, Default, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub display_name: Option<String>,
    pub department: Option<String>,
    pub job_title: Option<String>,
    pub employee_type: Option<String>,
    pub company: Option<String>,
    pub employee_id: Option<String>,
    pub locale: Option<String>,
    pub phone: Option<String>,
    pub work_address: Option<String>,
}

impl UserPatch {
    pub fn apply(self, p: &mut Profile) {
        let set = |field: &mut String, value: Option<String>| {
            if let Some(v) = value {
                *field = v;
            }
        };
        set(&mut p.email, self.email);
        set(&mut p.first_name, self.first_name);
        set(&mut p.last_name, self.last_name);
        set(&mut p.display_name, self.display_name);
        set(&mut p.department, self.department);
        set(&mut p.job_title, self.job_title);
        set(&mut p.employee_type, self.employee_type);
        set(&mut p.company, self.company);
        set(&mut p.employee_id, self.employee_id);
        set(&mut p.locale, self.locale);
        set(&mut p.phone, self.phone);
        set(&mut p.work_address, self.work_address);
    }
}

#[derive(Debug, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordBody {
    #[schema(write_only)]
    pub password: String,
}

/// A group.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct GroupView {
    pub name: String,
    pub description: String,
    /// The applications the group is bound to (on a single group; lists leave it out).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub applications: Option<Vec<String>>,
}

impl GroupView {
    pub fn of(group: Group, applications: Option<Vec<String>>) -> Self {
        Self { name: group.name, description: group.description, applications }
    }
}

#[derive(Debug, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewGroup {
    pub name: String,
}

/// A group change: today, its name (SPs that manage the group follow).
#[derive(Debug, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupPatch {
    pub name: String,
}

#[derive(Debug, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberBody {
    pub username: String,
}

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
    /// The SP's single logout endpoints, from its metadata.
    pub slo_urls: Vec<String>,
    /// Where the SP metadata was imported from, when from a URL.
    pub sp_metadata_url: String,
    /// The catalog connector the application was created from.
    pub connector: Option<String>,
    pub attributes: Vec<AttributeBody>,
}

#[derive(Debug, serde::Serialize, ToSchema)]
pub struct AcsView {
    pub url: String,
    pub binding: String,
    pub index: u16,
    pub is_default: bool,
}

/// An attribute the application receives: exactly one of `property`, `constant` or `groups: true` gives its
/// value. `enabled: false` keeps it without sending it; `jit` attributes (the SP creates accounts from them)
/// keep their name and cannot be removed.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttributeBody {
    pub name: String,
    /// `basic`, `uri` or `unspecified`.
    #[serde(default = "basic")]
    pub name_format: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub property: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub constant: Option<String>,
    /// The names of the user's groups bound to the application, one value each.
    #[serde(default)]
    pub groups: bool,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub jit: bool,
}

fn basic() -> String {
    "basic".into()
}

fn yes() -> bool {
    true
}

impl AttributeBody {
    pub fn of(a: &AttributeMapping) -> Self {
        let (property, constant, groups) = match &a.source {
            AttributeSource::Property(p) => (Some(p.as_str().to_owned()), None, false),
            AttributeSource::Constant(c) => (None, Some(c.clone()), false),
            AttributeSource::Groups => (None, None, true),
        };
        Self {
            name: a.name.clone(),
            name_format: a.name_format.clone(),
            property,
            constant,
            groups,
            enabled: a.is_enabled,
            jit: a.is_jit,
        }
    }

    pub fn mapping(&self) -> Result<AttributeMapping, Error> {
        let source = match (&self.property, &self.constant, self.groups) {
            (Some(p), None, false) => AttributeSource::Property(apps::sp_metadata::property(p)?),
            (None, Some(c), false) => AttributeSource::Constant(c.clone()),
            (None, None, true) => AttributeSource::Groups,
            _ => {
                return Err(crate::directory::Invalid::new(
                    "attribute",
                    format!("{:?} needs exactly one of property, constant or groups: true", self.name),
                )
                .into())
            }
        };
        Ok(AttributeMapping {
            name: self.name.clone(),
            name_format: self.name_format.clone(),
            source,
            is_enabled: self.enabled,
            is_jit: self.jit,
        })
    }
}

/// A change to one attribute: switch it on or off, or give it a new source (a property or a constant).
#[derive(Debug, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttributePatch {
    pub enabled: Option<bool>,
    pub property: Option<String>,
    pub constant: Option<String>,
}

#[derive(Debug, serde::Serialize, ToSchema)]
pub struct CertificateView {
    /// Lower-case hex SHA-256 of the DER certificate.
    pub fingerprint: String,
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
    pub days_left: i64,
    /// Expires within 30 days.
    pub expires_soon: bool,
    /// The certificate as PEM (on the certificate endpoints).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pem: Option<String>,
}

impl CertificateView {
    pub fn of(cert: &Certificate, now: DateTime<Utc>, with_pem: bool) -> Self {
        let days_left = (cert.not_after - now).num_days();
        Self {
            fingerprint: cert.fingerprint.clone(),
            not_before: cert.not_before,
            not_after: cert.not_after,
            days_left,
            expires_soon: days_left < 30,
            pem: if with_pem { cert.to_pem().ok() } else { None },
        }
    }
}

/// Activates the staged certificate now, or at `at`.
#[derive(Debug, Default, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CertificateActivate {
    /// When to switch signing (RFC 3339); left out or past: now.
    #[serde(default)]
    pub at: Option<DateTime<Utc>>,
}

/// A step of a certificate rotation: the certificate it concerns, and when it takes effect when scheduled.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct RotationStep {
    pub fingerprint: String,
    /// `staged`, `activated`, `scheduled` or `retired`.
    pub outcome: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at: Option<DateTime<Utc>>,
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

#[derive(Debug, serde::Serialize, ToSchema)]
pub struct IdmView {
    pub base_url: String,
    pub manage_groups: bool,
    pub soft_delete: bool,
    pub is_active: bool,
}

impl IdmView {
    pub fn of(i: IdmState) -> Self {
        Self {
            base_url: i.base_url,
            manage_groups: i.manage_groups,
            soft_delete: i.soft_delete,
            is_active: i.is_active,
        }
    }
}

impl AppView {
    pub fn of(d: AppDetails, now: DateTime<Utc>) -> Self {
        let app = d.app;
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
                slo_urls: sp.slo.iter().map(|e| e.location.clone()).collect(),
                sp_metadata_url: sp.metadata_url.clone(),
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
        }
    }
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
}

/// Identity management (SCIM 2.0) activation. The token is verified against the SP, stored sealed, and never
/// returned.
#[derive(Debug, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IdmActivate {
    /// The SCIM Base URL; left out, the connector's Base URL filled with the application's values and `values`.
    #[serde(default)]
    pub base_url: Option<String>,
    /// Values for placeholders only the connector's SCIM Base URL uses.
    #[serde(default)]
    pub values: std::collections::BTreeMap<String, String>,
    #[schema(write_only)]
    pub token: String,
    #[serde(default)]
    pub manage_groups: bool,
    /// Deactivate deleted users instead of deleting them; left out, what the connector says (else false).
    #[serde(default)]
    pub soft_delete: Option<bool>,
}

/// One SCIM attribute an application sends for its users.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct MappingRowView {
    /// The SCIM attribute path (RFC 7644 §3.10).
    pub scim: String,
    /// The user property (or `active`) it comes from.
    pub source: String,
    /// Required by the SP: cannot be excluded.
    pub required: bool,
    pub excluded: bool,
    /// Values the SP accepts (empty: any).
    pub allowed_values: Vec<String>,
}

/// Excludes optional SCIM attributes or restores them.
#[derive(Debug, Default, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MappingChange {
    #[serde(default)]
    pub exclude: Vec<String>,
    #[serde(default)]
    pub restore: Vec<String>,
    /// Restore every excluded attribute.
    #[serde(default)]
    pub restore_all: bool,
}

/// A background import and its progress.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct ImportView {
    pub id: i64,
    /// `listing`, `importing`, `done` or `failed`.
    pub state: String,
    /// The userNames asked for; null: every account the directory lacks.
    pub selected: Option<Vec<String>>,
    pub total: i64,
    pub imported: i64,
    pub skipped: i64,
    pub last_error: String,
    pub actor: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

/// Which SP accounts to import: `users` by userName, or `all_new`.
#[derive(Debug, Default, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportRequest {
    #[serde(default)]
    pub users: Vec<String>,
    #[serde(default)]
    pub all_new: bool,
}

#[derive(Debug, serde::Serialize, ToSchema)]
pub struct ImportResult {
    pub imported: Vec<String>,
    pub skipped: Vec<Skipped>,
}

#[derive(Debug, serde::Serialize, ToSchema)]
pub struct Skipped {
    pub username: String,
    pub reason: String,
}

/// An account of the SP and whether the directory has it (`new` or `imported`).
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct ImportCandidate {
    pub user_name: String,
    pub email: String,
    pub given_name: String,
    pub family_name: String,
    pub display_name: String,
    pub active: bool,
    pub status: String,
}

/// A catalog connector.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct ConnectorView {
    pub id: String,
    pub name: String,
    pub description: String,
    /// The placeholders `values` must fill when creating an application from it.
    pub placeholders: Vec<PlaceholderView>,
    pub sp_signs_requests: bool,
    pub jit_attributes: Vec<String>,
}

#[derive(Debug, serde::Serialize, ToSchema)]
pub struct PlaceholderView {
    pub name: String,
    pub label: String,
    pub example: String,
}

/// One event of the audit log.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct EventView {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub name: String,
    pub actor: String,
    pub target: String,
    pub app: String,
    pub username: String,
    pub success: bool,
    pub detail: String,
}

impl EventView {
    pub fn of(e: Event) -> Self {
        Self {
            id: e.id.unwrap_or_default(),
            at: e.at,
            name: e.name.as_str().to_owned(),
            actor: e.actor,
            target: e.target,
            app: e.app,
            username: e.username,
            success: e.success,
            detail: e.detail,
        }
    }
}

macro_rules! page_type {
    ($name:ident, $item:ty, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug, serde::Serialize, ToSchema)]
        pub struct $name {
            pub items: Vec<$item>,
            /// Pass as `cursor` for the next page; null on the last page.
            pub next_cursor: Option<String>,
            /// The URL of the next page, with the same filters; null on the last page.
            pub next: Option<String>,
        }
    };
}

page_type!(UserPage, UserView, "A page of users, ordered by username.");
page_type!(GroupPage, GroupView, "A page of groups, ordered by name.");
page_type!(MemberPage, String, "A page of a group's members (usernames), ordered.");
page_type!(AppPage, AppSummary, "A page of applications, ordered by name.");
page_type!(EventPage, EventView, "A page of events, newest first.");

/// Paging of a list: `limit` items (default 50, at most 500) after `cursor`.
#[derive(Debug, Default, serde::Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Debug, Default, serde::Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserListQuery {
    pub limit: Option<u32>,
    pub cursor: Option<String>,
    /// Users whose username, email or display name contains this (case-insensitive).
    pub q: Option<String>,
    /// `active` or `suspended`.
    pub status: Option<String>,
}

#[derive(Debug, Default, serde::Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GroupListQuery {
    pub limit: Option<u32>,
    pub cursor: Option<String>,
    /// Groups whose name contains this (case-insensitive).
    pub q: Option<String>,
}

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

#[derive(Debug, Default, serde::Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventListQuery {
    pub limit: Option<u32>,
    pub cursor: Option<String>,
    /// An exact event name, e.g. `admin_user_create`.
    pub name: Option<String>,
    /// The type: the part of the name before its first `_` (`admin`, `user`, `sso`, `idm`, `group`).
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub app: Option<String>,
    pub user: Option<String>,
    /// Events at or after this time (RFC 3339).
    pub since: Option<String>,
    /// Events before this time (RFC 3339).
    pub until: Option<String>,
    pub success: Option<bool>,
}

#[derive(Debug, Default, serde::Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CatalogQuery {
    /// Connectors matching every word (case-insensitive).
    pub q: Option<String>,
}
