//! The certificates of the SSO tab: ours (signing, with the staged rotation: stage, activate now or at a time,
//! retire) and the SP's encryption certificates. Which certificate signs and when is `services::rotation`'s
//! business; this file shows the states and passes the admin's choice on.

use axum::extract::{Path, State};
use axum::response::Response;
use chrono::{DateTime, Utc};

use crate::saml::keys::CertState;
use crate::services::apps::view::AppDetails;
use crate::services::certs::{self, Activation};
use crate::web::console::apps::app_url;
use crate::web::console::{parse_utc, Console, Fields, FormFields};
use crate::web::error::PageError;
use crate::web::AppState;

/// A certificate this close to its end is flagged on the SSO tab.
const EXPIRY_WARNING_DAYS: i64 = 30;

/// A certificate as the SSO tab shows it: one of ours (with its rotation state) or one of the SP's.
pub struct CertificateInfo {
    /// `current`, `next`, `previous` (ours) or empty (the SP's).
    pub state: &'static str,
    pub subject: String,
    pub fingerprint: String,
    pub not_before: String,
    pub not_after: String,
    pub days_left: i64,
    pub is_expiring: bool,
    /// When housekeeping activates a staged certificate.
    pub activate_at: Option<String>,
}

impl CertificateInfo {
    fn new(
        state: &'static str,
        fingerprint: &str,
        validity: (DateTime<Utc>, DateTime<Utc>),
        now: DateTime<Utc>,
    ) -> Self {
        let (not_before, not_after) = validity;
        let days_left = (not_after - now).num_days();
        Self {
            state,
            subject: String::new(),
            fingerprint: fingerprint.to_owned(),
            not_before: utc(not_before),
            not_after: utc(not_after),
            days_left,
            is_expiring: days_left < EXPIRY_WARNING_DAYS,
            activate_at: None,
        }
    }

    /// Our published certificates (current, next, previous) and how many are retired, from the application's
    /// certificate history (empty unless the SSO tab is shown).
    pub fn published(d: &AppDetails, is_shown: bool, now: DateTime<Utc>) -> (Vec<Self>, usize) {
        let all = if is_shown { d.certificate_history.as_slice() } else { &[] };
        let n_retired = all.iter().filter(|c| c.state == CertState::Retired).count();
        let published = all
            .iter()
            .filter(|c| c.state != CertState::Retired)
            .map(|c| Self {
                activate_at: c.activate_at.map(utc),
                ..Self::new(c.state.as_str(), &c.fingerprint, (c.not_before, c.not_after), now)
            })
            .collect();
        (published, n_retired)
    }

    /// The SP's encryption certificates, from its metadata.
    pub fn of_sp(d: &AppDetails, now: DateTime<Utc>) -> Vec<Self> {
        d.sp_encryption_certificates
            .iter()
            .map(|c| Self {
                subject: c.subject.clone(),
                ..Self::new("", &c.fingerprint, (c.not_before, c.not_after), now)
            })
            .collect()
    }
}

fn utc(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// The start of a fingerprint, enough to tell certificates apart in a message.
fn short(fingerprint: &str) -> &str {
    fingerprint.get(..16).unwrap_or(fingerprint)
}

pub async fn rotate_certificate(
    State(state): State<AppState>,
    console: Console,
    Path(name): Path<String>,
    _f: Fields,
) -> Result<Response, PageError> {
    let result = certs::rotate(&state.ctx, &console.actor(), &name, Utc::now())
        .await
        .map(|_| "A new certificate signs from now on: give the SP the new metadata or certificate.".to_owned());
    console.done(result, &app_url(&name, "sso")).await
}

/// Rotation without downtime, step 1: a next certificate, published after the current one.
pub async fn stage_certificate(
    State(state): State<AppState>,
    console: Console,
    Path(name): Path<String>,
    _f: Fields,
) -> Result<Response, PageError> {
    let result = certs::stage(&state.ctx, &console.actor(), &name, Utc::now()).await.map(|cert| {
        format!(
            "Next certificate {} staged: it is published in the metadata after the current one. Activate it once \
             the SP has loaded the new metadata.",
            short(&cert.fingerprint)
        )
    });
    console.done(result, &app_url(&name, "sso")).await
}

/// Rotation step 2: the staged certificate signs from now on, or from the time given (a `datetime-local` value,
/// read as UTC, as the page says).
pub async fn activate_certificate(
    State(state): State<AppState>,
    console: Console,
    Path(name): Path<String>,
    f: Fields,
) -> Result<Response, PageError> {
    let back = app_url(&name, "sso");
    let at = match activation_time(&f) {
        Ok(at) => at,
        Err(text) => return console.refuse(&text, &back).await,
    };
    let result = certs::activate(&state.ctx, &console.actor(), &name, at, Utc::now()).await.map(activated);
    console.done(result, &back).await
}

/// The form's activation time: none (now), or a time; the refusal is the page's message.
fn activation_time(f: &FormFields) -> Result<Option<DateTime<Utc>>, String> {
    match f.optional("at") {
        None => Ok(None),
        Some(value) => match parse_utc(&value) {
            Some(at) => Ok(Some(at)),
            None => Err(format!("{value:?} is not a date and time (YYYY-MM-DDTHH:MM, UTC).")),
        },
    }
}

fn activated(activation: Activation) -> String {
    match activation {
        Activation::Activated { fingerprint } => format!(
            "Certificate {} signs from now on; the old one stays published as previous until you retire it.",
            short(&fingerprint)
        ),
        Activation::Scheduled { fingerprint, at } => {
            format!("Certificate {} will sign from {}.", short(&fingerprint), utc(at))
        }
    }
}

/// Rotation step 3: the previous certificate is no longer published.
pub async fn retire_certificate(
    State(state): State<AppState>,
    console: Console,
    Path(name): Path<String>,
    _f: Fields,
) -> Result<Response, PageError> {
    let result = certs::retire(&state.ctx, &console.actor(), &name, Utc::now())
        .await
        .map(|fingerprint| format!("Previous certificate {} retired: it is no longer published.", short(&fingerprint)));
    console.done(result, &app_url(&name, "sso")).await
}
