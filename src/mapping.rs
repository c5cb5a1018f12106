//! The SCIM mapping engine: which directory values become which SCIM attributes (RFC 7643 §4.1, and the enterprise
//! extension §4.3), the allowed values an SP accepts, and the drift comparison of a resource with what we would send.
//!
//! A mapping is data: a list of (SCIM attribute path, source, required, allowed values). A catalog connector gives
//! the table of its SP's article (`catalog::scim`); other applications use the default table the seed articles
//! share. An admin can exclude optional entries per application and restore them.
//!
//! Paths take four forms (RFC 7644 §3.10): `attr` or `attr.sub` (simple and complex attributes),
//! `attr[type eq "work"].sub` (one typed value of a multi-valued attribute; the first one written is primary), and
//! `urn:…:enterprise:2.0:User:attr` (an extension attribute). Empty values are left out, since an empty attribute is
//! not the same as an absent one to most SPs.
//!
//! Architecture Invariant: pure. It knows `directory` users and JSON values only: no IO, no store, no HTTP, no
//! catalog files; `catalog` describes a connector's table with these types and `provisioning` sends what this builds.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Map, Value};

use crate::directory::{User, UserProperty};

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENTERPRISE_SCHEMA: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// The directory value a SCIM attribute carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScimSource {
    Property(UserProperty),
    /// The account status, as SCIM's boolean `active`.
    Active,
    /// A group's name (group mappings only).
    GroupName,
}

impl ScimSource {
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "active" => Some(Self::Active),
            "group_name" => Some(Self::GroupName),
            other => UserProperty::parse(other).map(Self::Property),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Property(p) => p.as_str(),
            Self::Active => "active",
            Self::GroupName => "group_name",
        }
    }
}

/// One mapped attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingEntry {
    /// The SCIM attribute path, in RFC 7644 §3.10 notation.
    pub path: String,
    pub from: ScimSource,
    /// Required attributes cannot be excluded by an admin.
    pub required: bool,
    /// Values the SP accepts, in its spelling; another value is not sent. Empty: any value.
    pub allowed_values: Vec<String>,
}

impl MappingEntry {
    fn new(path: &str, property: UserProperty, required: bool) -> Self {
        Self { path: path.into(), from: ScimSource::Property(property), required, allowed_values: Vec::new() }
    }
}

/// The attributes sent for users of one application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserMapping {
    pub entries: Vec<MappingEntry>,
}

/// A user as the SP receives it, and the entries left out for this user, with why.
#[derive(Debug, Clone, PartialEq)]
pub struct MappedUser {
    pub resource: Value,
    pub skipped: Vec<(String, String)>,
}

impl Default for UserMapping {
    /// The table the seed articles share: userName, work email, names, display name, title, user type,
    /// department, organization and employee number.
    fn default() -> Self {
        let ext = |attr: &str| format!("{ENTERPRISE_SCHEMA}:{attr}");
        Self {
            entries: vec![
                MappingEntry::new("userName", UserProperty::Username, true),
                MappingEntry::new("emails[type eq \"work\"].value", UserProperty::Email, true),
                MappingEntry::new("name.givenName", UserProperty::FirstName, false),
                MappingEntry::new("name.familyName", UserProperty::LastName, false),
                MappingEntry::new("displayName", UserProperty::DisplayName, false),
                MappingEntry::new("title", UserProperty::JobTitle, false),
                MappingEntry::new("userType", UserProperty::EmployeeType, false),
                MappingEntry::new(&ext("department"), UserProperty::Department, false),
                MappingEntry::new(&ext("organization"), UserProperty::Company, false),
                MappingEntry::new(&ext("employeeNumber"), UserProperty::EmployeeId, false),
            ],
        }
    }
}

impl UserMapping {
    /// The mapping without the optional entries an admin excluded. Required entries stay whatever the list says.
    pub fn without(&self, excluded: &BTreeSet<String>) -> Self {
        let entries = self.entries.iter().filter(|e| e.required || !excluded.contains(&e.path)).cloned().collect();
        Self { entries }
    }

    /// The value that becomes `userName`, which identifies the user in the SP.
    pub fn user_name(&self, user: &User) -> String {
        self.entries
            .iter()
            .find(|e| e.path == "userName")
            .and_then(|e| match e.from {
                ScimSource::Property(p) => Some(user.property(p).to_owned()),
                _ => None,
            })
            .unwrap_or_else(|| user.username.clone())
    }

    /// Maps `user` to the SCIM User resource (without `id`); `active` is always sent, as given.
    pub fn map(&self, user: &User, active: bool) -> MappedUser {
        let mut resource = Map::new();
        let mut skipped = Vec::new();
        for entry in &self.entries {
            let value = match entry.from {
                ScimSource::Active => Value::Bool(active),
                ScimSource::GroupName => continue,
                ScimSource::Property(p) => {
                    let text = user.property(p);
                    if text.is_empty() {
                        continue;
                    }
                    match allowed(&entry.allowed_values, text) {
                        Some(v) => Value::String(v.to_owned()),
                        None => {
                            let reason = format!("{text:?} is not one of {}", entry.allowed_values.join(", "));
                            skipped.push((entry.path.clone(), reason));
                            continue;
                        }
                    }
                }
            };
            set_path(&mut resource, &entry.path, value);
        }
        resource.insert("active".into(), Value::Bool(active));
        let mut schemas = vec![Value::from(USER_SCHEMA)];
        if resource.contains_key(ENTERPRISE_SCHEMA) {
            schemas.push(Value::from(ENTERPRISE_SCHEMA));
        }
        resource.insert("schemas".into(), Value::Array(schemas));
        MappedUser { resource: Value::Object(resource), skipped }
    }

    /// The SCIM User resource for `user` (without `id`).
    pub fn to_resource(&self, user: &User, active: bool) -> Value {
        self.map(user, active).resource
    }

    /// Entries that have no value for `user` and may be removed from the SP's copy (RFC 7644 §3.5.2.2).
    pub fn empty_optional_paths<'a>(&'a self, user: &'a User) -> impl Iterator<Item = &'a str> + 'a {
        self.entries
            .iter()
            .filter(move |e| !e.required && matches!(e.from, ScimSource::Property(p) if user.property(p).is_empty()))
            .map(|e| e.path.as_str())
    }

    /// Whether the SP's copy of a user differs from what this mapping sends for `user`: a value that differs, or
    /// one the SP has where we send none.
    /// Entries whose value the SP does not allow are not compared: we send nothing for them, and removing the
    /// SP's value is not ours to do.
    pub fn differs(&self, user: &User, remote: &Value) -> bool {
        let MappedUser { resource: ours, skipped } = self.map(user, true);
        self.entries.iter().filter(|e| !skipped.iter().any(|(path, _)| *path == e.path)).any(|e| {
            let theirs = value_at(remote, &e.path).filter(|v| !v.is_null());
            match value_at(&ours, &e.path) {
                Some(mine) => theirs != Some(mine),
                None => theirs.is_some_and(|v| v.as_str() != Some("")),
            }
        })
    }
}

fn allowed<'a>(allowed: &'a [String], value: &'a str) -> Option<&'a str> {
    if allowed.is_empty() {
        return Some(value);
    }
    // The SP's spelling wins: "internal" is sent as "Internal".
    allowed.iter().find(|a| a.eq_ignore_ascii_case(value.trim())).map(String::as_str)
}

/// How a path is written into a resource.
enum Target<'a> {
    Top(&'a str),
    Nested(&'a str, &'a str),
    Typed { attribute: &'a str, kind: &'a str, sub: &'a str },
    Enterprise(&'a str),
}

fn parse_path(path: &str) -> Option<Target<'_>> {
    let is_name = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric());
    if let Some(sub) = path.strip_prefix(ENTERPRISE_SCHEMA).and_then(|rest| rest.strip_prefix(':')) {
        return is_name(sub).then_some(Target::Enterprise(sub));
    }
    if let Some((attribute, rest)) = path.split_once("[type eq \"") {
        let (kind, sub) = rest.split_once("\"].")?;
        return (is_name(attribute) && is_name(kind) && is_name(sub)).then_some(Target::Typed { attribute, kind, sub });
    }
    match path.split_once('.') {
        Some((outer, inner)) => (is_name(outer) && is_name(inner)).then_some(Target::Nested(outer, inner)),
        None => is_name(path).then_some(Target::Top(path)),
    }
}

/// Whether the mapping engine can write `path`.
pub fn is_supported_path(path: &str) -> bool {
    parse_path(path).is_some()
}

/// Writes `value` at a mapping path (an unsupported path writes nothing; `is_supported_path` tells).
pub fn set_path(resource: &mut Map<String, Value>, path: &str, value: Value) {
    match parse_path(path) {
        Some(Target::Top(name)) => {
            resource.insert(name.to_owned(), value);
        }
        Some(Target::Nested(outer, inner)) => insert_in(resource, outer, inner, value),
        Some(Target::Enterprise(sub)) => insert_in(resource, ENTERPRISE_SCHEMA, sub, value),
        Some(Target::Typed { attribute, kind, sub }) => {
            let list = resource.entry(attribute.to_owned()).or_insert_with(|| Value::Array(Vec::new()));
            let Some(items) = list.as_array_mut() else { return };
            let position = items.iter().position(|i| i.get("type").and_then(Value::as_str) == Some(kind));
            let item = match position {
                Some(i) => items.get_mut(i),
                None => {
                    let mut fresh = Map::new();
                    fresh.insert("type".into(), Value::String(kind.to_owned()));
                    // RFC 7643 §2.4: at most one value of a multi-valued attribute is primary.
                    if items.is_empty() {
                        fresh.insert("primary".into(), Value::Bool(true));
                    }
                    items.push(Value::Object(fresh));
                    items.last_mut()
                }
            };
            if let Some(Value::Object(item)) = item {
                item.insert(sub.to_owned(), value);
            }
        }
        None => {}
    }
}

fn insert_in(resource: &mut Map<String, Value>, outer: &str, inner: &str, value: Value) {
    let entry = resource.entry(outer.to_owned()).or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(object) = entry {
        object.insert(inner.to_owned(), value);
    }
}

/// The value at a mapping path in a resource. For a typed value, an SP that dropped `type` is read through its
/// primary (or only) value.
pub fn value_at<'a>(resource: &'a Value, path: &str) -> Option<&'a Value> {
    match parse_path(path)? {
        Target::Top(name) => resource.get(name),
        Target::Nested(outer, inner) => resource.get(outer)?.get(inner),
        Target::Enterprise(sub) => resource.get(ENTERPRISE_SCHEMA)?.get(sub),
        Target::Typed { attribute, kind, sub } => {
            let items = resource.get(attribute)?.as_array()?;
            items
                .iter()
                .find(|i| i.get("type").and_then(Value::as_str) == Some(kind))
                .or_else(|| items.iter().find(|i| i.get("primary").and_then(Value::as_bool) == Some(true)))
                .or_else(|| if items.len() == 1 { items.first() } else { None })?
                .get(sub)
        }
    }
}

/// The attribute paths a resource carries, in mapping notation (`schemas`, `id` and `meta` left out).
pub fn attribute_paths(resource: &Value) -> BTreeSet<String> {
    let mut paths = BTreeSet::new();
    let Some(object) = resource.as_object() else { return paths };
    for (key, value) in object {
        match value {
            _ if matches!(key.as_str(), "schemas" | "id" | "meta") => {}
            Value::Object(inner) if key.starts_with("urn:") => {
                paths.extend(inner.keys().map(|k| format!("{key}:{k}")));
            }
            Value::Object(inner) => paths.extend(inner.keys().map(|k| format!("{key}.{k}"))),
            Value::Array(items) => {
                for item in items.iter().filter_map(Value::as_object) {
                    let kind = item.get("type").and_then(Value::as_str).unwrap_or_default();
                    for sub in item.keys().filter(|k| !matches!(k.as_str(), "type" | "primary")) {
                        paths.insert(format!("{key}[type eq \"{kind}\"].{sub}"));
                    }
                }
            }
            _ => {
                paths.insert(key.clone());
            }
        }
    }
    paths
}

/// The values a resource carries per path, for comparing attributes that must be equal.
pub fn values_by_path(resource: &Value) -> BTreeMap<String, Value> {
    attribute_paths(resource)
        .into_iter()
        .filter_map(|path| value_at(resource, &path).cloned().map(|v| (path, v)))
        .collect()
}

/// A SCIM Group resource with its name and members (SP ids).
pub fn group_resource(id: Option<&str>, display_name: &str, members: &[String]) -> Value {
    let members: Vec<Value> = members.iter().map(|m| json!({"value": m})).collect();
    let mut body = json!({"schemas": [GROUP_SCHEMA], "displayName": display_name, "members": members});
    if let (Some(id), Value::Object(map)) = (id, &mut body) {
        map.insert("id".into(), Value::from(id));
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::user::Profile;
    use crate::directory::{UserId, UserStatus};

    fn user() -> User {
        User {
            id: UserId(1),
            username: "ada".into(),
            profile: Profile {
                email: "ada@example.com".into(),
                first_name: "Ada".into(),
                last_name: "Lovelace".into(),
                department: "R&D".into(),
                employee_type: "internal".into(),
                ..Profile::default()
            },
            status: UserStatus::Active,
        }
    }

    #[test]
    fn builds_a_scim_user_from_the_default_mapping() {
        let resource = UserMapping::default().to_resource(&user(), true);
        assert_eq!(
            resource,
            json!({
                "schemas": [USER_SCHEMA, ENTERPRISE_SCHEMA],
                "userName": "ada",
                "emails": [{"type": "work", "primary": true, "value": "ada@example.com"}],
                "name": {"givenName": "Ada", "familyName": "Lovelace"},
                "userType": "internal",
                ENTERPRISE_SCHEMA: {"department": "R&D"},
                "active": true
            })
        );
        assert!(!UserMapping::default().differs(&user(), &resource));
    }

    #[test]
    fn excluded_optional_entries_are_not_sent_but_required_ones_stay() {
        let excluded: BTreeSet<String> = ["name.givenName".to_owned(), "userName".to_owned()].into();
        let mapping = UserMapping::default().without(&excluded);
        let resource = mapping.to_resource(&user(), true);
        assert!(value_at(&resource, "name.givenName").is_none());
        assert_eq!(value_at(&resource, "userName"), Some(&json!("ada")));
    }

    #[test]
    fn allowed_values_take_the_sps_spelling_or_are_skipped() {
        let mut mapping = UserMapping::default();
        for e in &mut mapping.entries {
            if e.path == "userType" {
                e.allowed_values = vec!["Internal".into(), "External".into()];
            }
        }
        assert_eq!(value_at(&mapping.to_resource(&user(), true), "userType"), Some(&json!("Internal")));
        let mut contractor = user();
        contractor.profile.employee_type = "contractor".into();
        let mapped = mapping.map(&contractor, true);
        assert!(value_at(&mapped.resource, "userType").is_none());
        assert_eq!(mapped.skipped.len(), 1);
        let mut remote = mapped.resource.clone();
        remote["userType"] = json!("External");
        assert!(!mapping.differs(&contractor, &remote), "a value we may not send is not drift");
    }

    #[test]
    fn drift_is_a_changed_value_or_a_value_we_no_longer_send() {
        let mapping = UserMapping::default();
        let mut remote = mapping.to_resource(&user(), true);
        remote["name"]["givenName"] = json!("Augusta");
        assert!(mapping.differs(&user(), &remote));
        let mut remote = mapping.to_resource(&user(), true);
        remote["title"] = json!("Countess");
        assert!(mapping.differs(&user(), &remote));
        // An SP that drops `type` from the one email it keeps still matches.
        let mut remote = mapping.to_resource(&user(), true);
        remote["emails"] = json!([{"value": "ada@example.com"}]);
        assert!(!mapping.differs(&user(), &remote));
    }
}
