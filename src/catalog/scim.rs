//! The SCIM side of a connector as plain data (base URL template, user and group mappings, what the SP supports),
//! and the pure mapping from a directory user to the SCIM 2.0 attributes its table lists. No HTTP: the
//! provisioning module sends what this produces.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Map, Value};

use crate::catalog::template::Template;
use crate::catalog::Placeholder;
use crate::directory::{User, UserProperty};

/// The SCIM 2.0 core User schema and the enterprise extension (RFC 7643 §4.1, §4.3).
pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const ENTERPRISE_SCHEMA: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

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
}

/// Attributes that must carry the same value (OneTrust: userName and email; Hoxhunt: userName and work email).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SameSource {
    pub paths: Vec<String>,
    pub property: UserProperty,
}

/// A user as the SP would receive it, and the rows that were left out for this user, with why.
#[derive(Debug, Clone, PartialEq)]
pub struct MappedUser {
    pub resource: Value,
    pub skipped: Vec<(String, String)>,
}

/// Maps `user` to the SCIM User resource the connector's table describes. Empty values are left out (an empty
/// attribute is not the same as an absent one to most SPs); values an attribute does not allow are left out and
/// reported in `skipped`.
pub fn map_user(scim: &Scim, user: &User) -> MappedUser {
    let mut resource = Map::new();
    let mut skipped = Vec::new();
    let mut uses_enterprise = false;
    for attribute in &scim.user {
        let Some(from) = attribute.from else {
            let reason = attribute.unavailable.clone().unwrap_or_else(|| "no source".into());
            skipped.push((attribute.path.clone(), reason));
            continue;
        };
        let value = match from {
            ScimSource::Active => Value::Bool(user.is_active()),
            ScimSource::Property(p) => {
                let text = user.property(p);
                if text.is_empty() {
                    continue;
                }
                match allowed(&attribute.allowed_values, text) {
                    Some(v) => Value::String(v.to_owned()),
                    None => {
                        let reason = format!("{text:?} is not one of {}", attribute.allowed_values.join(", "));
                        skipped.push((attribute.path.clone(), reason));
                        continue;
                    }
                }
            }
            ScimSource::GroupName => continue,
        };
        uses_enterprise |= attribute.path.starts_with(ENTERPRISE_SCHEMA);
        set_path(&mut resource, &attribute.path, value);
    }
    let mut schemas = vec![Value::String(USER_SCHEMA.into())];
    if uses_enterprise {
        schemas.push(Value::String(ENTERPRISE_SCHEMA.into()));
    }
    resource.insert("schemas".into(), Value::Array(schemas));
    MappedUser { resource: Value::Object(resource), skipped }
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

/// The attribute paths a resource carries, in the notation the tables use (`schemas` left out).
pub fn attribute_paths(resource: &Value) -> BTreeSet<String> {
    let mut paths = BTreeSet::new();
    let Some(object) = resource.as_object() else { return paths };
    for (key, value) in object {
        match value {
            _ if key == "schemas" => {}
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

/// Checks the data of a connector's SCIM part: paths we can write, sources where they belong, required rows that
/// can be sent, and attribute considerations that the mapping keeps.
pub fn check(scim: &Scim) -> Result<(), String> {
    for attribute in scim.user.iter().chain(&scim.group) {
        parse_path(&attribute.path).ok_or_else(|| format!("SCIM path {:?} is not supported", attribute.path))?;
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

fn set_path(resource: &mut Map<String, Value>, path: &str, value: Value) {
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

/// The values a mapped user carries per path, for comparing attributes that must be equal.
pub fn values_by_path(resource: &Value) -> BTreeMap<String, Value> {
    let mut values = BTreeMap::new();
    for path in attribute_paths(resource) {
        if let Some(v) = value_at(resource, &path) {
            values.insert(path, v.clone());
        }
    }
    values
}

fn value_at<'a>(resource: &'a Value, path: &str) -> Option<&'a Value> {
    match parse_path(path)? {
        Target::Top(name) => resource.get(name),
        Target::Nested(outer, inner) => resource.get(outer)?.get(inner),
        Target::Enterprise(sub) => resource.get(ENTERPRISE_SCHEMA)?.get(sub),
        Target::Typed { attribute, kind, sub } => resource
            .get(attribute)?
            .as_array()?
            .iter()
            .find(|i| i.get("type").and_then(Value::as_str) == Some(kind))?
            .get(sub),
    }
}
