//! The bodies of an application's certificate endpoints: a certificate, an activation and a rotation step.

use chrono::{DateTime, Utc};
use utoipa::ToSchema;

use crate::saml::keys::Certificate;
use crate::services::certs::Activation;

#[derive(Debug, serde::Serialize, ToSchema)]
pub struct CertificateView {
    /// Lower-case hex SHA-256 of the DER certificate.
    pub fingerprint: String,
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
    pub days_left: i64,
    /// Expires within 30 days.
    pub expires_soon: bool,
    /// The certificate as PEM (on the certificate endpoints).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pem: Option<String>,
}

impl CertificateView {
    pub fn of(cert: &Certificate, now: DateTime<Utc>, with_pem: bool) -> Self {
        let days_left = (cert.not_after - now).num_days();
        Self {
            fingerprint: cert.fingerprint.clone(),
            not_before: cert.not_before,
            not_after: cert.not_after,
            days_left,
            expires_soon: days_left < 30,
            pem: if with_pem { cert.to_pem().ok() } else { None },
        }
    }
}

/// Activates the staged certificate now, or at `at`.
#[derive(Debug, Default, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CertificateActivate {
    /// When to switch signing (RFC 3339); left out or past: now.
    #[serde(default)]
    pub at: Option<DateTime<Utc>>,
}

/// A step of a certificate rotation: the certificate it concerns, and when it takes effect when scheduled.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct RotationStep {
    pub fingerprint: String,
    /// `staged`, `activated`, `scheduled` or `retired`.
    pub outcome: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at: Option<DateTime<Utc>>,
}

impl RotationStep {
    pub fn of(activation: Activation) -> Self {
        match activation {
            Activation::Activated { fingerprint } => Self { fingerprint, outcome: "activated".into(), at: None },
            Activation::Scheduled { fingerprint, at } => {
                Self { fingerprint, outcome: "scheduled".into(), at: Some(at) }
            }
        }
    }

    pub fn retired(fingerprint: String) -> Self {
        Self { fingerprint, outcome: "retired".into(), at: None }
    }
}
