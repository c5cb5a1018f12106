//! Attribute resolution: the values an application receives for a user, and the rules that keep JIT sets intact
//! when an admin edits attributes.

use crate::directory::{AttributeMapping, AttributeSource, Invalid, User};

/// A resolved attribute: the name the SP expects and its values. Empty single values are left out, since SPs
/// treat an empty value differently from a missing attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub name: String,
    pub name_format: String,
    pub values: Vec<String>,
}

/// Resolves `mappings` for `user`, whose groups bound to the application are named in `bound_group_names`.
/// Switched-off attributes are not sent.
pub fn resolve(mappings: &[AttributeMapping], user: &User, bound_group_names: &[String]) -> Vec<Resolved> {
    mappings
        .iter()
        .filter(|m| m.is_enabled)
        .filter_map(|m| {
            let values = match &m.source {
                AttributeSource::Property(p) => vec![user.property(*p).to_owned()],
                AttributeSource::Constant(c) => vec![c.clone()],
                AttributeSource::Groups => bound_group_names.to_vec(),
            };
            let values: Vec<String> = values.into_iter().filter(|v| !v.is_empty()).collect();
            (!values.is_empty()).then(|| Resolved { name: m.name.clone(), name_format: m.name_format.clone(), values })
        })
        .collect()
}

/// An admin's change to one attribute: a new source, switching it on or off, or both.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AttributeChange {
    pub source: Option<AttributeSource>,
    pub is_enabled: Option<bool>,
}

/// Applies `change` to the attribute named `name`. Any attribute may change its source or be switched off; none
/// may change its name here (a JIT attribute's name is what the SP creates accounts from).
pub fn change(mappings: &mut [AttributeMapping], name: &str, change: &AttributeChange) -> Result<(), Invalid> {
    let Some(mapping) = mappings.iter_mut().find(|m| m.name == name) else {
        return Err(Invalid::new("attribute", format!("{name:?} is not an attribute of this application")));
    };
    if let Some(source) = &change.source {
        mapping.source = source.clone();
    }
    if let Some(is_enabled) = change.is_enabled {
        mapping.is_enabled = is_enabled;
    }
    Ok(())
}

/// Replaces an application's attributes with `proposed` (a settings file's list) without breaking its JIT set:
/// a JIT attribute missing from `proposed` is kept as it was, and one that `proposed` names keeps its name format
/// and stays JIT while taking the proposed source and switch. Attributes that `proposed` marks JIT join the set
/// (how a custom application defines its own).
pub fn replace_keeping_jit(current: &[AttributeMapping], proposed: Vec<AttributeMapping>) -> Vec<AttributeMapping> {
    let mut result = proposed;
    for locked in current.iter().filter(|m| m.is_jit) {
        match result.iter_mut().find(|m| m.name == locked.name) {
            Some(m) => {
                m.is_jit = true;
                m.name_format.clone_from(&locked.name_format);
            }
            None => result.push(locked.clone()),
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::user::Profile;
    use crate::directory::{UserId, UserProperty, UserStatus};

    #[test]
    fn resolves_properties_constants_and_groups() {
        let user = User {
            id: UserId(1),
            username: "ada".into(),
            profile: Profile { email: "ada@example.com".into(), ..Profile::default() },
            status: UserStatus::Active,
        };
        let m = AttributeMapping::new;
        let mut off = m("off", AttributeSource::Constant("never sent".into()));
        off.is_enabled = false;
        let mappings = [
            m("mail", AttributeSource::Property(UserProperty::Email)),
            m("dept", AttributeSource::Property(UserProperty::Department)),
            m("tier", AttributeSource::Constant("gold".into())),
            off,
            m("groups", AttributeSource::Groups),
        ];
        let got = resolve(&mappings, &user, &["staff".into(), "eng".into()]);
        let names: Vec<&str> = got.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["mail", "tier", "groups"]);
        assert_eq!(got[2].values, ["staff", "eng"]);
    }

    fn jit(name: &str, property: UserProperty) -> AttributeMapping {
        AttributeMapping { is_jit: true, ..AttributeMapping::new(name, AttributeSource::Property(property)) }
    }

    #[test]
    fn jit_attributes_survive_a_settings_file_that_drops_or_renames_them() {
        let current = [jit("FirstName", UserProperty::FirstName), jit("LastName", UserProperty::LastName)];
        let mut renamed = AttributeMapping::new("GivenName", AttributeSource::Property(UserProperty::FirstName));
        renamed.is_jit = false;
        let mut last = AttributeMapping::new("LastName", AttributeSource::Constant("Doe".into()));
        last.is_enabled = false;
        last.name_format = "uri".into();
        let got = replace_keeping_jit(&current, vec![renamed, last]);
        let names: Vec<(&str, bool, bool)> = got.iter().map(|m| (m.name.as_str(), m.is_jit, m.is_enabled)).collect();
        assert_eq!(names, [("GivenName", false, true), ("LastName", true, false), ("FirstName", true, true)]);
        assert_eq!(got[1].source, AttributeSource::Constant("Doe".into()), "the admin may change the source");
        assert_eq!(got[1].name_format, "basic", "the SP-side name format of a JIT attribute is fixed");
    }

    #[test]
    fn changes_source_and_switch_but_not_unknown_attributes() {
        let mut attrs = [jit("FirstName", UserProperty::FirstName)];
        let to_constant =
            AttributeChange { source: Some(AttributeSource::Constant("Ada".into())), is_enabled: Some(false) };
        change(&mut attrs, "FirstName", &to_constant).unwrap();
        assert_eq!((attrs[0].source.clone(), attrs[0].is_enabled), (AttributeSource::Constant("Ada".into()), false));
        assert!(change(&mut attrs, "Nope", &AttributeChange::default()).is_err());
    }
}
