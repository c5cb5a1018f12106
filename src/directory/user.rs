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
    /// The one-line work address (shown as is; SCIM's `formatted`).
    pub work_address: String,
    /// A language tag (RFC 5646, as SCIM's `preferredLanguage`: `en`, `en-GB`, `pt-BR`).
    pub preferred_language: String,
    /// The work address by part (SCIM's `addresses[type eq "work"]`, RFC 7643 §4.1.2).
    pub work_street: String,
    pub work_locality: String,
    pub work_region: String,
    pub work_postal_code: String,
    /// A country name or ISO 3166-1 code, as the SP's table asks.
    pub work_country: String,
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
            UserProperty::PreferredLanguage => &p.preferred_language,
            UserProperty::WorkStreet => &p.work_street,
            UserProperty::WorkLocality => &p.work_locality,
            UserProperty::WorkRegion => &p.work_region,
            UserProperty::WorkPostalCode => &p.work_postal_code,
            UserProperty::WorkCountry => &p.work_country,
        }
    }
}

impl Profile {
    /// The profile's field for `property`; `None` for the username, which is not part of the profile.
    pub fn field_mut(&mut self, property: UserProperty) -> Option<&mut String> {
        Some(match property {
            UserProperty::Username => return None,
            UserProperty::Email => &mut self.email,
            UserProperty::FirstName => &mut self.first_name,
            UserProperty::LastName => &mut self.last_name,
            UserProperty::DisplayName => &mut self.display_name,
            UserProperty::Department => &mut self.department,
            UserProperty::JobTitle => &mut self.job_title,
            UserProperty::EmployeeType => &mut self.employee_type,
            UserProperty::Company => &mut self.company,
            UserProperty::EmployeeId => &mut self.employee_id,
            UserProperty::Locale => &mut self.locale,
            UserProperty::Phone => &mut self.phone,
            UserProperty::WorkAddress => &mut self.work_address,
            UserProperty::PreferredLanguage => &mut self.preferred_language,
            UserProperty::WorkStreet => &mut self.work_street,
            UserProperty::WorkLocality => &mut self.work_locality,
            UserProperty::WorkRegion => &mut self.work_region,
            UserProperty::WorkPostalCode => &mut self.work_postal_code,
            UserProperty::WorkCountry => &mut self.work_country,
        })
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
    PreferredLanguage,
    WorkStreet,
    WorkLocality,
    WorkRegion,
    WorkPostalCode,
    WorkCountry,
}

impl UserProperty {
    pub const ALL: [Self; 19] = [
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
        Self::PreferredLanguage,
        Self::WorkStreet,
        Self::WorkLocality,
        Self::WorkRegion,
        Self::WorkPostalCode,
        Self::WorkCountry,
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
            Self::PreferredLanguage => "preferred_language",
            Self::WorkStreet => "work_street",
            Self::WorkLocality => "work_locality",
            Self::WorkRegion => "work_region",
            Self::WorkPostalCode => "work_postal_code",
            Self::WorkCountry => "work_country",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == value)
    }
}

/// Validates a user's username and profile: the email, every text property at most 256 characters without control
/// characters, and the preferred language as a language tag.
pub fn check_user(username: &str, profile: &Profile) -> Result<(), Invalid> {
    check_name("username", username)?;
    if username.chars().any(char::is_whitespace) {
        return Err(Invalid::new("username", "must not contain white space"));
    }
    check_email(&profile.email)?;
    let p = profile;
    for (field, value) in [
        ("first_name", &p.first_name),
        ("last_name", &p.last_name),
        ("display_name", &p.display_name),
        ("department", &p.department),
        ("job_title", &p.job_title),
        ("employee_type", &p.employee_type),
        ("company", &p.company),
        ("employee_id", &p.employee_id),
        ("locale", &p.locale),
        ("phone", &p.phone),
        ("work_address", &p.work_address),
        ("work_street", &p.work_street),
        ("work_locality", &p.work_locality),
        ("work_region", &p.work_region),
        ("work_postal_code", &p.work_postal_code),
        ("work_country", &p.work_country),
    ] {
        if value.chars().count() > 256 || value.chars().any(char::is_control) {
            return Err(Invalid::new(field, "must be at most 256 characters without control characters"));
        }
    }
    if !p.preferred_language.is_empty() && !is_language_tag(&p.preferred_language) {
        return Err(Invalid::new(
            "preferred_language",
            format!("{:?} is not a language tag such as en or en-GB", p.preferred_language),
        ));
    }
    Ok(())
}

/// A language tag in the shape of RFC 5646 (BCP 47): a primary language of 2 to 3 letters (or 4 to 8 when
/// registered), then subtags of 1 to 8 letters or digits, separated by hyphens; at most 35 characters. The shape is
/// what keeps odd values out of SCIM bodies and attributes; whether a subtag is registered is the SP's business.
pub fn is_language_tag(tag: &str) -> bool {
    let mut parts = tag.split('-');
    let Some(primary) = parts.next() else { return false };
    let is_primary = (2..=8).contains(&primary.len()) && primary.chars().all(|c| c.is_ascii_alphabetic());
    is_primary
        && tag.len() <= 35
        && parts.all(|part| (1..=8).contains(&part.len()) && part.chars().all(|c| c.is_ascii_alphanumeric()))
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
    fn language_tags_have_the_bcp47_shape() {
        for good in ["en", "en-GB", "pt-BR", "zh-Hant-TW", "sr-Latn", "de-CH-1996", "fil"] {
            assert!(is_language_tag(good), "{good}");
        }
        for bad in ["", "e", "en_GB", "en-", "-en", "en--GB", "en GB", "en-GB\n", "1en", "en-abcdefghi", "ü"] {
            assert!(!is_language_tag(bad), "{bad:?}");
        }
    }

    #[test]
    fn every_profile_text_is_bounded_and_the_language_is_a_tag() {
        let ok = Profile { email: "a@example.com".into(), ..Profile::default() };
        assert!(check_user("ada", &ok).is_ok());
        let with = |f: fn(&mut Profile)| {
            let mut p = ok.clone();
            f(&mut p);
            check_user("ada", &p)
        };
        assert!(with(|p| p.work_street = "1 Main St\r\nX-Injected: 1".into()).is_err());
        assert!(with(|p| p.work_country = "x".repeat(257)).is_err());
        assert!(with(|p| p.department = "a\u{7}".into()).is_err());
        assert!(with(|p| p.preferred_language = "English please".into()).is_err());
        assert!(with(|p| p.preferred_language = "en-GB".into()).is_ok());
        assert!(with(|p| p.work_postal_code = "SW1Y 4LE".into()).is_ok());
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
