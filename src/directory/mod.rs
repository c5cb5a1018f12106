//! The directory: users, groups, applications, which groups are bound to which applications, the rule that
//! decides who may use an application, and the attribute values an application receives.
//!
//! Architecture Invariant: this module is pure data and rules. It knows no SAML XML, no HTTP and no SQL; the
//! services load rows through `store` and hand them here.

pub mod access;
pub mod application;
pub mod attributes;
pub mod logo;
pub mod password;
pub mod user;
pub mod user_csv;

pub use application::{AppKind, AppName, Application, AttributeMapping, AttributeSource};
pub use user::{User, UserProperty, UserStatus};

/// A row id. Separate types keep a user id from being passed where a group id belongs.
macro_rules! id_type {
    ($name:ident) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(UserId);
id_type!(GroupId);
id_type!(AppId);

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Group {
    pub id: GroupId,
    pub name: String,
    pub description: String,
}

/// A value that failed validation at the edge, named for the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} {problem}")]
pub struct Invalid {
    pub field: &'static str,
    pub problem: String,
}

impl Invalid {
    pub fn new(field: &'static str, problem: impl Into<String>) -> Self {
        Self { field, problem: problem.into() }
    }
}

/// Names of users and groups: printable, trimmed, at most 128 characters.
pub fn check_name(field: &'static str, value: &str) -> Result<(), Invalid> {
    if value.trim().is_empty() {
        return Err(Invalid::new(field, "must not be empty"));
    }
    if value.trim() != value {
        return Err(Invalid::new(field, "must not start or end with white space"));
    }
    if value.chars().count() > 128 {
        return Err(Invalid::new(field, "must be at most 128 characters"));
    }
    if value.chars().any(char::is_control) {
        return Err(Invalid::new(field, "must not contain control characters"));
    }
    Ok(())
}
