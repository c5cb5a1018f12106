//! Attribute resolution: the values an application receives for a user.

use crate::directory::{AttributeMapping, AttributeSource, User};

/// A resolved attribute: the name the SP expects and its values. Empty single values are left out, since SPs
/// treat an empty value differently from a missing attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub name: String,
    pub name_format: String,
    pub values: Vec<String>,
}

/// Resolves `mappings` for `user`, whose groups bound to the application are named in `bound_group_names`.
pub fn resolve(mappings: &[AttributeMapping], user: &User, bound_group_names: &[String]) -> Vec<Resolved> {
    mappings
        .iter()
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
        let m = |name: &str, source| AttributeMapping { name: name.into(), name_format: "basic".into(), source };
        let mappings = [
            m("mail", AttributeSource::Property(UserProperty::Email)),
            m("dept", AttributeSource::Property(UserProperty::Department)),
            m("tier", AttributeSource::Constant("gold".into())),
            m("groups", AttributeSource::Groups),
        ];
        let got = resolve(&mappings, &user, &["staff".into(), "eng".into()]);
        let names: Vec<&str> = got.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["mail", "tier", "groups"]);
        assert_eq!(got[2].values, ["staff", "eng"]);
    }
}
