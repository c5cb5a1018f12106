//! The bodies of `/api/v1/users`: a user as returned, a new user, a profile change, a password, the list's page
//! and filters.

use utoipa::{IntoParams, ToSchema};

use crate::directory::user::Profile;
use crate::directory::User;

/// A directory user.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct UserView {
    pub username: String,
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
    /// A language tag (RFC 5646): `en`, `en-GB`.
    pub preferred_language: String,
    /// The work address by part (SCIM's `addresses[type eq "work"]`).
    pub work_street: String,
    pub work_locality: String,
    pub work_region: String,
    pub work_postal_code: String,
    pub work_country: String,
    /// `active` or `suspended`.
    pub status: String,
    /// The user's groups (on a single user; lists leave it out).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<String>>,
    /// The user's newest invitation (on a single user, when they were ever invited).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invitation: Option<InvitationView>,
}

/// Where a user's newest invitation stands.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct InvitationView {
    /// `sent` (the link is valid until `expires_at`), `accepted` or `expired`.
    pub state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sent_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accepted_at: Option<String>,
}

impl InvitationView {
    pub fn of(invitation: crate::services::links::Invitation) -> Self {
        use crate::services::links::Invitation;
        let t = |d: chrono::DateTime<chrono::Utc>| Some(d.to_rfc3339());
        let none = Self { state: String::new(), sent_at: None, expires_at: None, accepted_at: None };
        match invitation {
            Invitation::Sent { sent, expires } => {
                Self { state: "sent".into(), sent_at: t(sent), expires_at: t(expires), ..none }
            }
            Invitation::Accepted { accepted } => Self { state: "accepted".into(), accepted_at: t(accepted), ..none },
            Invitation::Expired { expires } => Self { state: "expired".into(), expires_at: t(expires), ..none },
        }
    }
}

impl UserView {
    pub fn of(user: User, groups: Option<Vec<String>>) -> Self {
        let p = user.profile;
        Self {
            username: user.username,
            email: p.email,
            first_name: p.first_name,
            last_name: p.last_name,
            display_name: p.display_name,
            department: p.department,
            job_title: p.job_title,
            employee_type: p.employee_type,
            company: p.company,
            employee_id: p.employee_id,
            locale: p.locale,
            phone: p.phone,
            work_address: p.work_address,
            preferred_language: p.preferred_language,
            work_street: p.work_street,
            work_locality: p.work_locality,
            work_region: p.work_region,
            work_postal_code: p.work_postal_code,
            work_country: p.work_country,
            status: user.status.as_str().to_owned(),
            groups,
            invitation: None,
        }
    }
}

/// A new user. Only `username` and `email` are required.
#[derive(Debug, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    pub username: String,
    pub email: String,
    #[serde(default)]
    pub first_name: String,
    #[serde(default)]
    pub last_name: String,
    #[serde(default)]
    pub display_name: String,
    #[serde(default)]
    pub department: String,
    #[serde(default)]
    pub job_title: String,
    #[serde(default)]
    pub employee_type: String,
    #[serde(default)]
    pub company: String,
    #[serde(default)]
    pub employee_id: String,
    #[serde(default)]
    pub locale: String,
    #[serde(default)]
    pub phone: String,
    #[serde(default)]
    pub work_address: String,
    /// A language tag (RFC 5646): `en`, `en-GB`.
    #[serde(default)]
    pub preferred_language: String,
    /// The work address by part (SCIM's `addresses[type eq "work"]`).
    #[serde(default)]
    pub work_street: String,
    #[serde(default)]
    pub work_locality: String,
    #[serde(default)]
    pub work_region: String,
    #[serde(default)]
    pub work_postal_code: String,
    #[serde(default)]
    pub work_country: String,
    /// The portal password; without one the user cannot sign in until one is set.
    #[schema(write_only)]
    pub password: Option<String>,
}

impl NewUser {
    pub fn profile(&self) -> Profile {
        Profile {
            email: self.email.clone(),
            first_name: self.first_name.clone(),
            last_name: self.last_name.clone(),
            display_name: self.display_name.clone(),
            department: self.department.clone(),
            job_title: self.job_title.clone(),
            employee_type: self.employee_type.clone(),
            company: self.company.clone(),
            employee_id: self.employee_id.clone(),
            locale: self.locale.clone(),
            phone: self.phone.clone(),
            work_address: self.work_address.clone(),
            preferred_language: self.preferred_language.clone(),
            work_street: self.work_street.clone(),
            work_locality: self.work_locality.clone(),
            work_region: self.work_region.clone(),
            work_postal_code: self.work_postal_code.clone(),
            work_country: self.work_country.clone(),
        }
    }
}

/// Profile fields to change; absent fields keep their value.
#[derive(Debug, Default, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub display_name: Option<String>,
    pub department: Option<String>,
    pub job_title: Option<String>,
    pub employee_type: Option<String>,
    pub company: Option<String>,
    pub employee_id: Option<String>,
    pub locale: Option<String>,
    pub phone: Option<String>,
    pub work_address: Option<String>,
    /// A language tag (RFC 5646): `en`, `en-GB`.
    pub preferred_language: Option<String>,
    /// The work address by part (SCIM's `addresses[type eq "work"]`).
    pub work_street: Option<String>,
    pub work_locality: Option<String>,
    pub work_region: Option<String>,
    pub work_postal_code: Option<String>,
    pub work_country: Option<String>,
}

impl UserPatch {
    pub fn apply(self, p: &mut Profile) {
        let set = |field: &mut String, value: Option<String>| {
            if let Some(v) = value {
                *field = v;
            }
        };
        set(&mut p.email, self.email);
        set(&mut p.first_name, self.first_name);
        set(&mut p.last_name, self.last_name);
        set(&mut p.display_name, self.display_name);
        set(&mut p.department, self.department);
        set(&mut p.job_title, self.job_title);
        set(&mut p.employee_type, self.employee_type);
        set(&mut p.company, self.company);
        set(&mut p.employee_id, self.employee_id);
        set(&mut p.locale, self.locale);
        set(&mut p.phone, self.phone);
        set(&mut p.work_address, self.work_address);
        set(&mut p.preferred_language, self.preferred_language);
        set(&mut p.work_street, self.work_street);
        set(&mut p.work_locality, self.work_locality);
        set(&mut p.work_region, self.work_region);
        set(&mut p.work_postal_code, self.work_postal_code);
        set(&mut p.work_country, self.work_country);
    }
}

#[derive(Debug, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordBody {
    #[schema(write_only)]
    pub password: String,
}

page_type!(UserPage, UserView, "A page of users, ordered by username.");

#[derive(Debug, Default, serde::Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserListQuery {
    pub limit: Option<u32>,
    pub cursor: Option<String>,
    /// Users whose username, email or display name contains this (case-insensitive).
    pub q: Option<String>,
    /// `active` or `suspended`.
    pub status: Option<String>,
}
