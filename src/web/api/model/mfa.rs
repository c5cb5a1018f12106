//! The bodies of `/api/v1/users/{username}/mfa` (a user's second factors, never their secrets) and
//! `/api/v1/mfa/policy` (who must use MFA).

use chrono::{DateTime, Utc};
use utoipa::ToSchema;

use crate::services::mfa::{Factor, Policy, Status};

/// A user's second factors and what the policy asks of them.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct UserMfaView {
    pub username: String,
    pub factors: Vec<FactorView>,
    /// A policy (everyone, or one of the user's groups) requires MFA of this user.
    pub required: bool,
    /// An administrator reset the user's factors: the user enrols again at the next sign-in.
    pub must_re_enrol: bool,
}

/// One factor: its kind and name, when it was created and last used. Never a secret.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct FactorView {
    /// `totp` or `recovery_codes`.
    pub kind: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

impl UserMfaView {
    pub fn of(username: String, factors: Vec<Factor>, status: Status) -> Self {
        let at = |ms: i64| DateTime::from_timestamp_millis(ms).unwrap_or_default();
        Self {
            username,
            factors: factors
                .into_iter()
                .map(|f| FactorView {
                    kind: f.kind.to_owned(),
                    name: f.name,
                    created_at: at(f.created_at_ms),
                    last_used_at: f.last_used_at_ms.map(at),
                })
                .collect(),
            required: status.is_required,
            must_re_enrol: status.must_re_enrol,
        }
    }
}

/// Who must sign in with a second factor (applications carry their own `require_mfa`).
#[derive(Debug, serde::Serialize, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MfaPolicyBody {
    /// Everyone must use MFA.
    pub everyone: bool,
    /// Members of these groups must use MFA (the whole list: groups left out no longer require it).
    pub groups: Vec<String>,
}

impl MfaPolicyBody {
    pub fn of(policy: Policy) -> Self {
        Self { everyone: policy.everyone, groups: policy.groups }
    }

    pub fn policy(self) -> Policy {
        Policy { everyone: self.everyone, groups: self.groups }
    }
}
