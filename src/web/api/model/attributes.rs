//! The bodies of an application's attributes: one attribute as returned and as sent in a settings change, and a
//! change to one attribute; with their conversions to and from the directory's attribute mappings.

use utoipa::ToSchema;

use crate::directory::attributes::AttributeChange;
use crate::directory::{AttributeMapping, AttributeSource};
use crate::services::Error;
use crate::web::api::problem::Problem;

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
            (Some(p), None, false) => AttributeSource::Property(crate::services::apps::sp_metadata::property(p)?),
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

impl AttributePatch {
    /// The change to make: a new source (a property or a constant, not both) and the switch.
    pub fn change(self) -> Result<AttributeChange, Problem> {
        let source = match (self.property, self.constant) {
            (Some(p), None) => Some(AttributeSource::Property(crate::services::apps::sp_metadata::property(&p)?)),
            (None, Some(c)) => Some(AttributeSource::Constant(c)),
            (None, None) => None,
            (Some(_), Some(_)) => return Err(Problem::invalid("give property or constant, not both")),
        };
        Ok(AttributeChange { source, is_enabled: self.enabled })
    }
}
