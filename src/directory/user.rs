//! Users and the properties an application can receive.

use crate::directory::{check_name, Invalid, UserId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserStatus {
    Active,
    Suspended,
}

impl UserStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Suspended => "suspended",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "active" => Some(Self::Active),
            "suspended" => Some(Self::Suspended),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Profile {
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub display_name: String,
    pub department: String,
    pub job_title: String,
    pub employee_type: String,
    pub company: String,
    pub employee_id: String,
    pub locale: String,
    pub phone: String,
    pub work_address: String,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct User {
    pub id: UserId,
    pub username: String,
    #[serde(flatten)]
    pub profile: Profile,
    pub status: UserStatus,
}

impl User {
    pub fn is_active(&self) -> bool {
        self.status == UserStatus::Active
    }

    /// The name shown to people: the display name, else first and last name, else the username.
    pub fn shown_name(&self) -> String {
        let p = &self.profile;
        if !p.display_name.is_empty() {
            return p.display_name.clone();
        }
        let full = format!("{} {}", p.first_name, p.last_name).trim().to_owned();
        if full.is_empty() {
            self.username.clone()
        } else {
            full
        }
    }

    pub fn property(&self, property: UserProperty) -> &str {
        let p = &self.profile;
        match property {
            UserProperty::Username => &self.username,
            UserProperty::Email => &p.email,
            UserProperty::FirstName => &p.first_name,
            UserProperty::LastName => &p.last_name,
            UserProperty::DisplayName => &p.display_name,
            UserProperty::Department => &p.department,
            UserProperty::JobTitle => &p.job_title,
            UserProperty::EmployeeType => &p.employee_type,
            UserProperty::Company => &p.company,
            UserProperty::EmployeeId => &p.employee_id,
            UserProperty::Locale => &p.locale,
            UserProperty::Phone => &p.phone,
            UserProperty::WorkAddress => &p.work_address,
        }
    }
}

/// A user property an application attribute or NameID can be sourced from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserProperty {
    Username,
    Email,
    FirstName,
    LastName,
    DisplayName,
    Department,
    JobTitle,
    EmployeeType,
    Company,
    EmployeeId,
    Locale,
    Phone,
    WorkAddress,
}

impl UserProperty {
    pub const ALL: [Self; 13] = [
        Self::Username,
        Self::Email,
        Self::FirstName,
        Self::LastName,
        Self::DisplayName,
        Self::Department,
        Self::JobTitle,
        Self::EmployeeType,
        Self::Company,
        Self::EmployeeId,
        Self::Locale,
        Self::Phone,
        Self::WorkAddress,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Username => "username",
            Self::Email => "email",
            Self::FirstName => "first_name",
            Self::LastName => "last_name",
            Self::DisplayName => "display_name",
            Self::Department => "department",
            Self::JobTitle => "job_title",
            Self::EmployeeType => "employee_type",
            Self::Company => "company",
            Self::EmployeeId => "employee_id",
            Self::Locale => "locale",
            Self::Phone => "phone",
            Self::WorkAddress => "work_address",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == value)
    }
}

/// Validates a new user's username and email.
pub fn check_user(username: &str, profile: &Profile) -> Result<(), Invalid> {
    check_name("username", username)?;
    if username.chars().any(char::is_whitespace) {
        return Err(Invalid::new("username", "must not contain white space"));
    }
    check_email(&profile.email)?;
    for (field, value) in [
        ("first_name", &profile.first_name),
        ("last_name", &profile.last_name),
        ("display_name", &profile.display_name),
    ] {
        if value.chars().count() > 256 || value.chars().any(char::is_control) {
            return Err(Invalid::new(field, "must be at most 256 characters without control characters"));
        }
    }
    Ok(())
}

/// A pragmatic check: one `@`, something on each side, no white space. Deliverability is the mail system's job.
pub fn check_email(email: &str) -> Result<(), Invalid> {
    let ok = match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty() && domain.contains('.') && !domain.contains('@') && !domain.starts_with('.')
        }
        None => false,
    };
    if !ok || email.chars().any(|c| c.is_whitespace() || c.is_control()) || email.len() > 254 {
        return Err(Invalid::new("email", format!("{email:?} is not an email address")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_emails() {
        assert!(check_email("a@example.com").is_ok());
        for bad in ["", "a", "a@b", "@example.com", "a b@example.com", "a@@example.com"] {
            assert!(check_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn shown_name_falls_back() {
        let mut u =
            User { id: UserId(1), username: "ada".into(), profile: Profile::default(), status: UserStatus::Active };
        assert_eq!(u.shown_name(), "ada");
        u.profile.first_name = "Ada".into();
        assert_eq!(u.shown_name(), "Ada");
        u.profile.display_name = "Countess".into();
        assert_eq!(u.shown_name(), "Countess");
    }
}
