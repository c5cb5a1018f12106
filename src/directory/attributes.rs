//! Attribute resolution: the values an application receives for a user, and the rules that keep JIT sets intact
//! when an admin edits attributes.
//!
//! Which attributes an application sends (`plan`): the admin's own list when it has one (settings file, console,
//! API or connector; a switched-off attribute counts, so an admin can send nothing; a connector's set counts even
//! when its article names none); otherwise the
//! RequestedAttributes of the SP's metadata that we can fill, by their Name and NameFormat; otherwise the default
//! set, under the `urn:oid:` names with NameFormat uri and the usual FriendlyNames, which SAML2int asks for and
//! Shibboleth SP, SimpleSAMLphp and mellon map out of the box (the OneLogin toolkits take any name).

use crate::directory::application::SpSettings;
use crate::directory::{AttributeMapping, AttributeSource, Invalid, User, UserProperty};
use crate::saml::metadata::RequestedAttribute;

/// A resolved attribute: the name the SP expects and its values. Empty single values are left out, since SPs
/// treat an empty value differently from a missing attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub name: String,
    pub name_format: String,
    pub friendly_name: Option<String>,
    pub values: Vec<String>,
}

/// Why an application sends the attributes it sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The admin's own list; it always wins.
    Configured,
    /// The RequestedAttributes of the SP's metadata.
    RequestedBySp,
    /// Nothing declared and nothing requested: the default set.
    DefaultSet,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Configured => "configured",
            Self::RequestedBySp => "requested by SP metadata",
            Self::DefaultSet => "default set",
        }
    }
}

/// What fills an attribute the IdP chose by itself (the default set or a RequestedAttribute).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filled {
    Property(UserProperty),
    /// eduPersonPrincipalName: `username@scope`, the scope being the host of the IdP's base URL.
    ScopedUsername,
}

impl Filled {
    pub fn describe(self) -> String {
        match self {
            Self::Property(p) => format!("property {}", p.as_str()),
            Self::ScopedUsername => "username@<base URL host>".to_owned(),
        }
    }
}

/// One attribute of an application that declares none: its name and name format (`basic`, `uri`,
/// `unspecified`), and what fills it; `None` for a RequestedAttribute we cannot fill, which is not sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub name: String,
    pub name_format: String,
    pub friendly_name: Option<String>,
    pub filled: Option<Filled>,
}

/// Which attributes an application sends, and why. For `Configured`, the application's own list is the plan
/// and `automatic` is empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub origin: Origin,
    pub automatic: Vec<Planned>,
}

const MAIL: &str = "urn:oid:0.9.2342.19200300.100.1.3";
const GIVEN_NAME: &str = "urn:oid:2.5.4.42";
const SN: &str = "urn:oid:2.5.4.4";
const DISPLAY_NAME: &str = "urn:oid:2.16.840.1.113730.3.1.241";
const UID: &str = "urn:oid:0.9.2342.19200300.100.1.1";
const EPPN: &str = "urn:oid:1.3.6.1.4.1.5923.1.1.1.6";
const NAME_FORMAT_URI: &str = "urn:oasis:names:tc:SAML:2.0:attrname-format:uri";
const NAME_FORMAT_BASIC: &str = "urn:oasis:names:tc:SAML:2.0:attrname-format:basic";
const NAME_FORMAT_UNSPECIFIED: &str = "urn:oasis:names:tc:SAML:2.0:attrname-format:unspecified";

/// The default set: e-mail, given name, surname, display name and username (SAML2int; the eduPerson and
/// inetOrgPerson OIDs, RFC 4519 and RFC 2798).
pub const DEFAULT_SET: [(&str, &str, UserProperty); 5] = [
    (MAIL, "mail", UserProperty::Email),
    (GIVEN_NAME, "givenName", UserProperty::FirstName),
    (SN, "sn", UserProperty::LastName),
    (DISPLAY_NAME, "displayName", UserProperty::DisplayName),
    (UID, "uid", UserProperty::Username),
];

/// Which attributes `sp` sends, and why.
pub fn plan(sp: &SpSettings) -> Plan {
    // A connector declares its vendor article's set, even an empty one (the SP reads only the NameID).
    if !sp.attributes.is_empty() || sp.connector.is_some() {
        return Plan { origin: Origin::Configured, automatic: Vec::new() };
    }
    if !sp.requested_attributes.is_empty() {
        return Plan {
            origin: Origin::RequestedBySp,
            automatic: sp.requested_attributes.iter().map(requested).collect(),
        };
    }
    let automatic = DEFAULT_SET
        .iter()
        .map(|(name, friendly, property)| Planned {
            name: (*name).to_owned(),
            name_format: "uri".to_owned(),
            friendly_name: Some((*friendly).to_owned()),
            filled: Some(Filled::Property(*property)),
        })
        .collect();
    Plan { origin: Origin::DefaultSet, automatic }
}

/// The attributes `sp` sends for `user`: its plan, resolved. `scope` is the eduPersonPrincipalName scope.
pub fn resolve_for(sp: &SpSettings, user: &User, bound_group_names: &[String], scope: &str) -> Vec<Resolved> {
    let plan = plan(sp);
    if plan.origin == Origin::Configured {
        return resolve(&sp.attributes, user, bound_group_names);
    }
    plan.automatic
        .into_iter()
        .filter_map(|p| {
            let value = match p.filled? {
                Filled::Property(property) => user.property(property).to_owned(),
                Filled::ScopedUsername if user.username.is_empty() || scope.is_empty() => String::new(),
                Filled::ScopedUsername => format!("{}@{scope}", user.username),
            };
            (!value.is_empty()).then(|| Resolved {
                name: p.name,
                name_format: p.name_format,
                friendly_name: p.friendly_name,
                values: vec![value],
            })
        })
        .collect()
}

/// A RequestedAttribute: filled when its Name (or, failing that, its FriendlyName) is one we know, in a NameFormat
/// we can write.
fn requested(r: &RequestedAttribute) -> Planned {
    let name_format = match r.name_format.as_deref() {
        // Metadata §2.4.4.1 and SAML Core §2.7.3.1: without NameFormat the format is unspecified.
        None | Some(NAME_FORMAT_UNSPECIFIED) => Some("unspecified"),
        Some(NAME_FORMAT_URI) => Some("uri"),
        Some(NAME_FORMAT_BASIC) => Some("basic"),
        Some(_) => None,
    };
    let filled = known(&r.name).or_else(|| r.friendly_name.as_deref().and_then(known));
    Planned {
        name: r.name.clone(),
        name_format: name_format.unwrap_or("unspecified").to_owned(),
        friendly_name: r.friendly_name.clone().filter(|f| !f.is_empty()),
        filled: filled.filter(|_| name_format.is_some()),
    }
}

/// The attribute names we can fill: the standard OIDs, the common plain names and the claim URIs many SPs use.
fn known(name: &str) -> Option<Filled> {
    use UserProperty as P;
    let by_oid = match name {
        MAIL => Some(Filled::Property(P::Email)),
        GIVEN_NAME => Some(Filled::Property(P::FirstName)),
        SN => Some(Filled::Property(P::LastName)),
        DISPLAY_NAME => Some(Filled::Property(P::DisplayName)),
        UID => Some(Filled::Property(P::Username)),
        EPPN => Some(Filled::ScopedUsername),
        _ => None,
    };
    by_oid.or_else(|| {
        let claims = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/";
        let plain = name.strip_prefix(claims).unwrap_or(name).to_ascii_lowercase();
        match plain.as_str() {
            "mail" | "email" | "emailaddress" => Some(Filled::Property(P::Email)),
            "givenname" | "firstname" | "first_name" => Some(Filled::Property(P::FirstName)),
            "sn" | "surname" | "lastname" | "last_name" => Some(Filled::Property(P::LastName)),
            "displayname" | "display_name" => Some(Filled::Property(P::DisplayName)),
            "uid" | "username" => Some(Filled::Property(P::Username)),
            "edupersonprincipalname" | "eppn" => Some(Filled::ScopedUsername),
            _ => None,
        }
    })
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
            (!values.is_empty()).then(|| Resolved {
                name: m.name.clone(),
                name_format: m.name_format.clone(),
                friendly_name: None,
                values,
            })
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

    fn ada() -> User {
        User {
            id: UserId(1),
            username: "ada".into(),
            profile: Profile {
                email: "ada@example.com".into(),
                first_name: "Ada".into(),
                last_name: "Lovelace".into(),
                display_name: "Ada L.".into(),
                ..Profile::default()
            },
            status: UserStatus::Active,
        }
    }

    fn sent(got: &[Resolved]) -> Vec<(&str, &str, Option<&str>, &str)> {
        got.iter()
            .map(|r| (r.name.as_str(), r.name_format.as_str(), r.friendly_name.as_deref(), r.values[0].as_str()))
            .collect()
    }

    #[test]
    fn an_application_that_declares_nothing_sends_the_default_set() {
        let sp = SpSettings::default();
        assert_eq!(plan(&sp).origin, Origin::DefaultSet);
        assert_eq!(
            sent(&resolve_for(&sp, &ada(), &[], "idp.example.com")),
            [
                (MAIL, "uri", Some("mail"), "ada@example.com"),
                (GIVEN_NAME, "uri", Some("givenName"), "Ada"),
                (SN, "uri", Some("sn"), "Lovelace"),
                (DISPLAY_NAME, "uri", Some("displayName"), "Ada L."),
                (UID, "uri", Some("uid"), "ada"),
            ]
        );
    }

    #[test]
    fn requested_attributes_are_sent_by_their_name_and_name_format() {
        let ask = |name: &str, format: Option<&str>, friendly: Option<&str>| RequestedAttribute {
            name: name.into(),
            name_format: format.map(str::to_owned),
            friendly_name: friendly.map(str::to_owned),
            is_required: false,
        };
        let sp = SpSettings {
            requested_attributes: vec![
                ask(EPPN, Some(NAME_FORMAT_URI), Some("eduPersonPrincipalName")),
                ask("email", Some(NAME_FORMAT_BASIC), None),
                ask("http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname", None, None),
                ask("urn:example:shoe-size", Some(NAME_FORMAT_URI), None),
                ask("urn:example:nick", Some(NAME_FORMAT_URI), Some("displayName")),
                ask(UID, Some("urn:example:odd-format"), None),
            ],
            ..SpSettings::default()
        };
        let p = plan(&sp);
        assert_eq!(p.origin, Origin::RequestedBySp);
        assert_eq!(p.automatic[3].filled, None, "an attribute we do not know is not sent");
        assert_eq!(p.automatic[5].filled, None, "a name format we cannot write is not sent");
        assert_eq!(
            sent(&resolve_for(&sp, &ada(), &[], "idp.example.com")),
            [
                (EPPN, "uri", Some("eduPersonPrincipalName"), "ada@idp.example.com"),
                ("email", "basic", None, "ada@example.com"),
                ("http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname", "unspecified", None, "Lovelace"),
                ("urn:example:nick", "uri", Some("displayName"), "Ada L."),
            ]
        );
    }

    #[test]
    fn the_admins_list_wins_even_when_everything_in_it_is_switched_off() {
        let mut off = AttributeMapping::new("mail", AttributeSource::Property(UserProperty::Email));
        off.is_enabled = false;
        let requested =
            RequestedAttribute { name: MAIL.into(), name_format: None, friendly_name: None, is_required: true };
        let sp = SpSettings { attributes: vec![off], requested_attributes: vec![requested], ..SpSettings::default() };
        assert_eq!(plan(&sp).origin, Origin::Configured);
        assert!(resolve_for(&sp, &ada(), &[], "idp.example.com").is_empty());
        let connector = SpSettings {
            connector: Some(crate::directory::application::ConnectorRef::default()),
            ..SpSettings::default()
        };
        assert_eq!(plan(&connector).origin, Origin::Configured, "a connector's empty set is a declaration");
        assert!(resolve_for(&connector, &ada(), &[], "idp.example.com").is_empty());
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
