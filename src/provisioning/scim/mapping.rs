//! Which user properties become which SCIM attributes (RFC 7643 §4.1, and the enterprise extension §4.3).
//!
//! A mapping is data: a list of (SCIM attribute path, user property). The default follows the attribute tables
//! the seed articles share; a connector can give its own. Paths take three forms: `attr` or `attr.sub` (simple and
//! complex attributes), `attr[type eq "work"].sub` (a typed, multi-valued attribute, sent as the primary value),
//! and `urn:…:enterprise:2.0:User:attr` (an extension attribute). Empty properties are left out.

use serde_json::{json, Map, Value};

use crate::directory::{User, UserProperty};

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENTERPRISE_SCHEMA: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// One mapped attribute.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MappingEntry {
    pub scim: String,
    pub property: UserProperty,
    /// Required attributes cannot be excluded by an admin.
    #[serde(default)]
    pub required: bool,
}

/// The attributes sent for users.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UserMapping {
    pub entries: Vec<MappingEntry>,
}

impl Default for UserMapping {
    /// The table the seed articles share: userName, work email, names, display name, title, user type,
    /// department, organization and employee number.
    fn default() -> Self {
        let entry = |scim: &str, property, required| MappingEntry { scim: scim.into(), property, required };
        let ext = |attr: &str| format!("{ENTERPRISE_SCHEMA}:{attr}");
        Self {
            entries: vec![
                entry("userName", UserProperty::Username, true),
                entry("emails[type eq \"work\"].value", UserProperty::Email, true),
                entry("name.givenName", UserProperty::FirstName, false),
                entry("name.familyName", UserProperty::LastName, false),
                entry("displayName", UserProperty::DisplayName, false),
                entry("title", UserProperty::JobTitle, false),
                entry("userType", UserProperty::EmployeeType, false),
                entry(&ext("department"), UserProperty::Department, false),
                entry(&ext("organization"), UserProperty::Company, false),
                entry(&ext("employeeNumber"), UserProperty::EmployeeId, false),
            ],
        }
    }
}

impl UserMapping {
    /// The property that becomes `userName`, which identifies the user in the SP.
    pub fn user_name(&self, user: &User) -> String {
        self.entries
            .iter()
            .find(|e| e.scim == "userName")
            .map(|e| user.property(e.property).to_owned())
            .unwrap_or_else(|| user.username.clone())
    }

    /// The full SCIM User resource for `user` (without `id`), `active` as given.
    pub fn to_resource(&self, user: &User, active: bool) -> Value {
        let mut resource = Map::new();
        let mut schemas = vec![Value::from(USER_SCHEMA)];
        for entry in &self.entries {
            let value = user.property(entry.property);
            if value.is_empty() {
                continue;
            }
            if let Some(attr) = entry.scim.strip_prefix(&format!("{ENTERPRISE_SCHEMA}:")) {
                if !schemas.iter().any(|s| s == ENTERPRISE_SCHEMA) {
                    schemas.push(Value::from(ENTERPRISE_SCHEMA));
                }
                let ext = resource.entry(ENTERPRISE_SCHEMA).or_insert_with(|| json!({}));
                set_path(ext, attr, value);
            } else {
                set_path_in(&mut resource, &entry.scim, value);
            }
        }
        resource.insert("active".into(), Value::Bool(active));
        resource.insert("schemas".into(), Value::Array(schemas));
        Value::Object(resource)
    }
}

/// The value at a mapping path in a resource the SP returned, for drift comparison.
pub fn value_at<'a>(resource: &'a Value, path: &str) -> Option<&'a str> {
    if let Some(attr) = path.strip_prefix(&format!("{ENTERPRISE_SCHEMA}:")) {
        return value_at(resource.get(ENTERPRISE_SCHEMA)?, attr);
    }
    if let Some((attr, rest)) = path.split_once('[') {
        let (filter, sub) = rest.split_once("].")?;
        let wanted = filter.trim().strip_prefix("type eq ")?.trim_matches('"');
        let items = resource.get(attr)?.as_array()?;
        let item = items
            .iter()
            .find(|i| i.get("type").and_then(Value::as_str) == Some(wanted))
            .or_else(|| items.iter().find(|i| i.get("primary").and_then(Value::as_bool) == Some(true)))
            .or_else(|| items.first())?;
        return item.get(sub)?.as_str();
    }
    match path.split_once('.') {
        Some((attr, sub)) => resource.get(attr)?.get(sub)?.as_str(),
        None => resource.get(path)?.as_str(),
    }
}

fn set_path(target: &mut Value, path: &str, value: &str) {
    if let Value::Object(map) = target {
        set_path_in(map, path, value);
    }
}

fn set_path_in(map: &mut Map<String, Value>, path: &str, value: &str) {
    if let Some((attr, rest)) = path.split_once('[') {
        // attr[type eq "work"].sub: one typed, primary value of a multi-valued attribute.
        let Some((filter, sub)) = rest.split_once("].") else { return };
        let kind = filter.trim().strip_prefix("type eq ").map(|t| t.trim_matches('"').to_owned());
        let items = map.entry(attr).or_insert_with(|| Value::Array(Vec::new()));
        let Value::Array(items) = items else { return };
        let position = items.iter().position(|i| i.get("type").and_then(Value::as_str) == kind.as_deref());
        let item = match position.and_then(|p| items.get_mut(p)) {
            Some(item) => item,
            None => {
                let mut fresh = Map::new();
                if let Some(kind) = &kind {
                    fresh.insert("type".into(), Value::from(kind.as_str()));
                }
                fresh.insert("primary".into(), Value::Bool(items.is_empty()));
                items.push(Value::Object(fresh));
                let Some(last) = items.last_mut() else { return };
                last
            }
        };
        if let Value::Object(obj) = item {
            obj.insert(sub.into(), Value::from(value));
        }
        return;
    }
    match path.split_once('.') {
        Some((attr, sub)) => {
            let complex = map.entry(attr).or_insert_with(|| json!({}));
            if let Value::Object(obj) = complex {
                obj.insert(sub.into(), Value::from(value));
            }
        }
        None => {
            map.insert(path.into(), Value::from(value));
        }
    }
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
                ENTERPRISE_SCHEMA: {"department": "R&D"},
                "active": true
            })
        );
        for entry in &UserMapping::default().entries {
            let expected = user().property(entry.property).to_owned();
            assert_eq!(value_at(&resource, &entry.scim).unwrap_or_default(), expected, "{}", entry.scim);
        }
    }
}
