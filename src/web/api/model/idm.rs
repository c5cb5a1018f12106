//! The bodies of an application's identity management endpoints: the integration, its activation, the SCIM
//! mapping and its changes, imports of the SP's accounts.

use secrecy::SecretString;
use utoipa::ToSchema;

use crate::services::apps::view::IdmState;
use crate::services::idm::{self, MappingRow};

#[derive(Debug, serde::Serialize, ToSchema)]
pub struct IdmView {
    pub base_url: String,
    pub manage_groups: bool,
    pub soft_delete: bool,
    pub is_active: bool,
    /// Seconds between reconciliations (the connector's, the admin's, or the configured default).
    pub reconcile_interval_secs: u64,
    /// When the next reconciliation is due.
    pub next_reconcile_at: chrono::DateTime<chrono::Utc>,
}

impl IdmView {
    pub fn of(i: IdmState) -> Self {
        Self {
            base_url: i.base_url,
            manage_groups: i.manage_groups,
            soft_delete: i.soft_delete,
            is_active: i.is_active,
            reconcile_interval_secs: i.reconcile_interval_secs,
            next_reconcile_at: i.next_reconcile_at,
        }
    }
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
    /// Seconds between reconciliations (60 to 2592000); left out, the integration's, else the connector's (Hoxhunt:
    /// 2400), else the configured default.
    #[serde(default)]
    #[schema(minimum = 60, maximum = 2592000)]
    pub reconcile_interval_secs: Option<u64>,
}

impl IdmActivate {
    pub fn activation(self) -> idm::Activation {
        idm::Activation {
            base_url: self.base_url,
            values: self.values.into_iter().collect(),
            token: SecretString::from(self.token),
            manage_groups: self.manage_groups,
            soft_delete: self.soft_delete,
            reconcile_interval_secs: self.reconcile_interval_secs,
        }
    }
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

impl MappingRowView {
    pub fn of(r: MappingRow) -> Self {
        Self {
            scim: r.scim,
            source: r.source,
            required: r.required,
            excluded: r.excluded,
            allowed_values: r.allowed_values,
        }
    }
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

impl ImportCandidate {
    pub fn of(c: idm::ImportCandidate) -> Self {
        Self {
            user_name: c.user.user_name,
            email: c.user.email,
            given_name: c.user.given_name,
            family_name: c.user.family_name,
            display_name: c.user.display_name,
            active: c.user.active,
            status: c.status.to_owned(),
        }
    }
}
