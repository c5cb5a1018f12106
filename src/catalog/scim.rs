//! The SCIM side of a connector as plain data (base URL template, user and group tables, what the SP supports), and
//! what its tables produce for a user or a group, built with the mapping engine (`crate::mapping`).
//!
//! Architecture Invariant: no HTTP and no knowledge of provisioning: `provisioning` reads these tables (through
//! `Scim::user_mapping`) and sends what they produce.

use serde_json::{json, Map, Value};

use crate::catalog::template::{Placeholder, Template};
use crate::directory::{User, UserProperty};
use crate::mapping::{is_supported_path, set_path, MappedUser, MappingEntry, ScimSource, UserMapping, GROUP_SCHEMA};

/// What a connector says about provisioning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scim {
    /// The SCIM Base URL with placeholders, when the article gives one (Hoxhunt's is pasted from the SP).
    pub base_url: Option<Template>,
    /// The article's example, verbatim, for people comparing with it.
    pub base_url_example: Option<String>,
    /// Placeholders only the base URL uses, filled when provisioning is activated.
    pub placeholders: Vec<Placeholder>,
    /// Whether SCIM needs SSO to be set up; `None` where the article does not say.
    pub sso_required: Option<bool>,
    /// How often the SP's article says provisioning cycles run, in seconds (Hoxhunt: 40 minutes), which becomes
    /// the integration's reconciliation interval; `None`: the configured default (`reconcile_interval_secs`).
    pub reconcile_interval_secs: Option<u64>,
    pub groups_supported: bool,
    /// Whether the SP keeps a removed user's data for a while instead of deleting it at once.
    pub soft_delete: bool,
    pub user: Vec<ScimAttribute>,
    pub group: Vec<ScimAttribute>,
    /// Attributes that must come from one property (an article's attribute consideration).
    pub same_source: Vec<SameSource>,
    pub source: String,
}

/// One row of an article's attribute table and what we send for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScimAttribute {
    /// The row as the article prints it: property, UI field, SCIM v2 mapping, the SP's name for it.
    pub row: Vec<String>,
    /// The SCIM attribute path we send, in RFC 7644 §3.10 notation.
    pub path: String,
    /// Where the value comes from; `None` when the directory cannot provide it (see `unavailable`).
    pub from: Option<ScimSource>,
    pub is_required: bool,
    /// Values the SP accepts; another value is not sent.
    pub allowed_values: Vec<String>,
    /// Why the row cannot be sent, for rows without a source.
    pub unavailable: Option<String>,
}

/// Attributes that must carry the same value (OneTrust: userName and email; Hoxhunt: userName and work email).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SameSource {
    pub paths: Vec<String>,
    pub property: UserProperty,
}

/// Maps `user` to the SCIM User resource the connector's table describes (`UserMapping::map`), and reports the
/// table's rows the directory cannot provide among the skipped ones.
pub fn map_user(scim: &Scim, user: &User) -> MappedUser {
    let mut mapped = scim.user_mapping().map(user, user.is_active());
    let unavailable = scim.user.iter().filter(|a| a.from.is_none());
    let reasons = unavailable.map(|a| (a.path.clone(), a.unavailable.clone().unwrap_or_else(|| "no source".into())));
    mapped.skipped.splice(0..0, reasons);
    mapped
}

impl Scim {
    /// The user mapping the provisioning module sends: the table's rows that have a source.
    pub fn user_mapping(&self) -> UserMapping {
        let entries = self
            .user
            .iter()
            .filter_map(|a| {
                a.from.map(|from| MappingEntry {
                    path: a.path.clone(),
                    from,
                    required: a.is_required,
                    allowed_values: a.allowed_values.clone(),
                })
            })
            .collect();
        UserMapping { entries }
    }
}

/// Maps a group (by name) to the SCIM Group resource the connector's group table describes.
pub fn map_group(scim: &Scim, name: &str) -> Value {
    let mut resource = Map::new();
    for attribute in &scim.group {
        if attribute.from == Some(ScimSource::GroupName) && !name.is_empty() {
            set_path(&mut resource, &attribute.path, Value::String(name.to_owned()));
        }
    }
    resource.insert("schemas".into(), json!([GROUP_SCHEMA]));
    Value::Object(resource)
}

/// Checks the data of a connector's SCIM part: paths we can write, sources where they belong, required rows that
/// can be sent, and attribute considerations that the mapping keeps.
pub fn check(scim: &Scim) -> Result<(), String> {
    for attribute in scim.user.iter().chain(&scim.group) {
        if !is_supported_path(&attribute.path) {
            return Err(format!("SCIM path {:?} is not supported", attribute.path));
        }
        if attribute.from.is_none() && attribute.unavailable.is_none() {
            return Err(format!("SCIM attribute {} needs a property or an `unavailable` reason", attribute.path));
        }
        if attribute.from.is_none() && attribute.is_required {
            return Err(format!("SCIM attribute {} is required but has no source", attribute.path));
        }
        if attribute.row.len() != 4 {
            return Err(format!("SCIM attribute {}: a table row has four cells", attribute.path));
        }
    }
    if scim.user.iter().any(|a| a.from == Some(ScimSource::GroupName)) {
        return Err("group_name is a group attribute, not a user attribute".into());
    }
    if scim.group.iter().any(|a| a.from.is_some_and(|f| f != ScimSource::GroupName)) {
        return Err("group attributes come from group_name".into());
    }
    if !scim.groups_supported && !scim.group.is_empty() {
        return Err("group attributes for an SP without groups".into());
    }
    for rule in &scim.same_source {
        for path in &rule.paths {
            let sources: Vec<_> = scim.user.iter().filter(|a| &a.path == path).map(|a| a.from).collect();
            if sources.is_empty() || sources.iter().any(|s| *s != Some(ScimSource::Property(rule.property))) {
                return Err(format!(
                    "{path} must come from {}, like {}",
                    rule.property.as_str(),
                    rule.paths.join(" and ")
                ));
            }
        }
    }
    Ok(())
}
