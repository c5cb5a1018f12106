//! Errors of the use cases, in domain words. Each has a `kind`, one exhaustive enum that every edge matches
//! without a fallback (the web page, the API's problem+json, the CLI), so a new variant fails to compile until
//! each edge decides what the outside sees. Causes are kept as `#[source]`, never turned into strings.

use crate::audit::{bounded, bounded_to, FIELD_MAX_CHARS};
use crate::directory::access::Denied;
use crate::directory::Invalid;
use crate::saml::authn_request::RequestError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("application {name} does not exist")]
    UnknownApp { name: String },
    #[error("application {name} is a bookmark, not a SAML application")]
    NotSaml { name: String },
    #[error("{what} {name} does not exist")]
    NotFound { what: &'static str, name: String },
    #[error("{what} {name} already exists")]
    Conflict { what: &'static str, name: String },
    #[error(transparent)]
    Invalid(#[from] Invalid),
    #[error("the SAML request was refused: {0}")]
    Request(#[from] RequestError),
    #[error("request ID {id} was already used (replay)")]
    ReplayedRequest { id: String },
    #[error("the sign-in for this request expired or was already completed; start again from the application")]
    PendingExpired,
    #[error("{user} may not use {app}: {reason}")]
    Denied { user: String, app: String, reason: Denied },
    #[error("invalid username or password")]
    BadCredentials,
    /// A second factor that did not prove anything: a wrong code, or one already used (`reason` says which, in
    /// words fit to show the user; the event has the same).
    #[error("{reason}")]
    BadFactor { reason: &'static str },
    #[error("application {app} has no signing certificate")]
    NoSigningKey { app: String },
    #[error(
        "application {app}: the private key of certificate {fingerprint} is not in the database; start a replica \
         that has its key file under the certs directory, which imports it"
    )]
    KeyNotImported { app: String, fingerprint: String },
    #[error("application {app}: {reason}")]
    Certificate { app: String, reason: String },
    #[error("the SP metadata's signature does not verify with the configured metadata-signing certificate: {source}")]
    MetadataSignature {
        #[source]
        source: crate::saml::Error,
    },
    #[error(transparent)]
    Logout(#[from] crate::saml::logout::LogoutError),
    #[error("this logout is unknown or has expired")]
    LogoutExpired,
    /// A logout run's page asked for by a browser other than the one that started the run, or for a run that
    /// does not exist (the same answer, so the page says nothing about other browsers' runs).
    #[error("this logout is unknown, has expired, or was started in another browser")]
    LogoutNotHere,
    #[error("the SP metadata could not be fetched from {url}: {source}")]
    Fetch {
        url: String,
        #[source]
        source: FetchError,
    },
    #[error("identity management for {app}: {reason}")]
    Idm { app: String, reason: String },
    #[error("settings file: {reason}")]
    Settings { reason: String },
    #[error("settings file: {}", source.message())]
    SettingsSyntax {
        #[source]
        source: toml::de::Error,
    },
    #[error(transparent)]
    Logo(#[from] crate::directory::logo::LogoError),
    #[error(transparent)]
    Catalog(#[from] crate::catalog::Error),
    #[error("application {app} was not created from connector {connector}")]
    NotFromConnector { app: String, connector: String },
    #[error(transparent)]
    Saml(#[from] crate::saml::Error),
    #[error(transparent)]
    Store(#[from] crate::store::Error),
    #[error(transparent)]
    Secret(#[from] crate::secret::Error),
    /// The mail settings cannot be used.
    #[error(transparent)]
    MailSettings(#[from] crate::mail::SettingsError),
    /// A mail could not be queued.
    #[error(transparent)]
    Mail(#[from] crate::mail::QueueError),
    #[error("mail is not configured: set SESAME_SMTP_URL and SESAME_MAIL_FROM (see the README)")]
    MailNotConfigured,
    /// A user who cannot be invited, and why.
    #[error("{username} cannot be invited: {reason}")]
    CannotInvite { username: String, reason: &'static str },
    /// An invitation or reset link that is unknown, used, replaced by a newer one, or expired.
    #[error("this link is not valid: it was used, replaced by a newer one, or has expired")]
    LinkInvalid,
    #[error("{address} is not an e-mail address")]
    BadAddress { address: String },
    #[error("the CSV file cannot be read: line {line}: {reason}")]
    Csv { line: u64, reason: String },
    #[error(
        "nothing was imported: line {line} ({username}): {reason} ({refused} row(s) refused; a dry run lists them)"
    )]
    ImportRefused { line: u64, username: String, reason: String, refused: usize },
    #[error("a mail could not be rendered")]
    Template(#[from] askama::Error),
    #[error("the provisioning worker could not start: {0}")]
    Provisioning(#[from] crate::provisioning::ProvisionError),
    #[error("a background task failed")]
    Join(#[from] tokio::task::JoinError),
    #[error("a value could not be encoded as JSON")]
    Json(#[from] serde_json::Error),
    #[error("password hashing failed: {0}")]
    Hash(argon2::password_hash::Error),
    #[error("the password hashing pool is closed")]
    HashPoolClosed(#[from] tokio::sync::AcquireError),
    #[error("a time could not be rounded")]
    Time(#[from] chrono::RoundingError),
    #[error("too many failed sign-ins; try again later")]
    Throttled,
    #[error("the API token is missing or not valid")]
    BadToken,
    #[error("API token {name} was revoked")]
    RevokedToken { name: String },
    #[error("passkeys and security keys are not available here: {reason}")]
    WebauthnUnavailable { reason: String },
    #[error("webauthn-rs failed: {0}")]
    Webauthn(#[from] webauthn_rs::prelude::WebauthnError),
    #[error("this passkey or security key request expired or was already used; start again")]
    CeremonyExpired,
    #[error("the passkey or security key was not accepted: {reason}")]
    FactorRefused { reason: String },
    #[error("sign in again to change your passkeys and security keys (the last sign-in is more than 5 minutes old)")]
    ReauthRequired,
}

/// Why SP metadata could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error(transparent)]
    Http(#[from] reqwest::Error),
    #[error("HTTP status {0}")]
    Status(reqwest::StatusCode),
    #[error(transparent)]
    File(#[from] std::io::Error),
    #[error("the document is larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("the document is not UTF-8")]
    NotUtf8,
    /// The address policy refused the URL (`provisioning::address`).
    #[error("{0}")]
    Refused(String),
}

/// What an error means for whoever asked: every edge maps each kind to what it shows, without a fallback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The thing named does not exist (an application, a user, a group, …).
    NotFound,
    /// The name is taken, or the thing is of another kind than the change needs.
    Conflict,
    /// A value the caller gave is invalid (a name, a setting, a settings file, a placeholder).
    Invalid,
    /// A SAML message from an SP was refused (malformed, unsigned, stale, replayed, from another issuer).
    Refused,
    /// The message is larger than we read.
    TooLarge,
    /// A sign-in or a logout run expired, or was already completed.
    Expired,
    /// The user may not use the application.
    Denied,
    /// The credentials (password, API token) are wrong, or the token was revoked.
    Unauthenticated,
    /// Too many failed attempts.
    Throttled,
    /// Another party we depend on failed (an SP's metadata host, a SCIM service).
    Upstream,
    /// The database cannot be reached for now (stopped, restarting, no connection free within the pool's short
    /// acquire timeout): the caller should try again in a moment. Nothing was changed.
    Unavailable,
    /// Our own failure: the database, a missing key, a bug. The caller sees a reference, the log the cause.
    Internal,
}

impl Error {
    /// The kind of this error, for the edges to map.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::UnknownApp { .. } | Self::NotFound { .. } | Self::LogoutNotHere => ErrorKind::NotFound,
            Self::Conflict { .. }
            | Self::NotSaml { .. }
            | Self::NotFromConnector { .. }
            | Self::MailNotConfigured
            | Self::CannotInvite { .. } => ErrorKind::Conflict,
            Self::Invalid(_)
            | Self::Certificate { .. }
            | Self::MetadataSignature { .. }
            | Self::Settings { .. }
            | Self::SettingsSyntax { .. }
            | Self::BadAddress { .. }
            | Self::Csv { .. }
            | Self::ImportRefused { .. }
            | Self::LinkInvalid
            | Self::WebauthnUnavailable { .. } => ErrorKind::Invalid,
            Self::Request(RequestError::Malformed(crate::saml::Error::TooLarge { .. }))
            | Self::Saml(crate::saml::Error::TooLarge { .. }) => ErrorKind::TooLarge,
            Self::Saml(crate::saml::Error::Crypto { .. } | crate::saml::Error::BadKey { .. }) => ErrorKind::Internal,
            Self::Request(_) | Self::ReplayedRequest { .. } | Self::Logout(_) | Self::Saml(_) => ErrorKind::Refused,
            Self::PendingExpired | Self::LogoutExpired | Self::CeremonyExpired => ErrorKind::Expired,
            Self::Denied { .. } => ErrorKind::Denied,
            Self::BadCredentials
            | Self::BadFactor { .. }
            | Self::BadToken
            | Self::RevokedToken { .. }
            | Self::FactorRefused { .. }
            | Self::ReauthRequired => ErrorKind::Unauthenticated,
            Self::Throttled => ErrorKind::Throttled,
            Self::Fetch { .. } | Self::Idm { .. } => ErrorKind::Upstream,
            Self::Logo(crate::directory::logo::LogoError::TooLarge { .. }) => ErrorKind::TooLarge,
            Self::Logo(_) => ErrorKind::Invalid,
            Self::Catalog(crate::catalog::Error::BadEntry { .. }) => ErrorKind::Internal,
            Self::Catalog(_) => ErrorKind::Invalid,
            Self::Store(crate::store::Error::NotFound { .. }) => ErrorKind::NotFound,
            Self::Store(crate::store::Error::Conflict { .. }) => ErrorKind::Conflict,
            Self::Store(e) if e.is_unreachable() => ErrorKind::Unavailable,
            Self::Secret(crate::secret::Error::NotAFile | crate::secret::Error::NoStagedKey) => ErrorKind::Invalid,
            Self::Store(_)
            | Self::NoSigningKey { .. }
            | Self::KeyNotImported { .. }
            | Self::Secret(_)
            | Self::MailSettings(_)
            | Self::Mail(_)
            | Self::Template(_)
            | Self::Provisioning(_)
            | Self::Join(_)
            | Self::Json(_)
            | Self::Hash(_)
            | Self::HashPoolClosed(_)
            | Self::Time(_)
            | Self::Webauthn(_) => ErrorKind::Internal,
        }
    }

    /// Whether the fault is ours (a 5xx for HTTP callers) rather than the caller's.
    pub fn is_internal(&self) -> bool {
        self.kind() == ErrorKind::Internal
    }
}

/// An error and each of its causes, for the log: `database error: database is locked`. A cause whose text the
/// message before it already contains is not repeated. Each message is bounded (`audit::bounded`: 256 characters,
/// control characters escaped), since messages quote what a client sent (an Issuer, a username), and so is the
/// whole line: no request can forge a log line or write an unbounded one.
pub fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = bounded(&e.to_string());
    let mut cause = e.source();
    while let Some(c) = cause {
        let more = bounded(&c.to_string());
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        cause = c.source();
    }
    bounded_to(&text, 4 * FIELD_MAX_CHARS)
}

/// Maps the store's NotFound and Conflict to errors that name the thing.
pub(crate) fn named(what: &'static str, name: &str) -> impl FnOnce(crate::store::Error) -> Error {
    let name = name.to_owned();
    move |e| match e {
        crate::store::Error::NotFound { .. } => Error::NotFound { what, name },
        crate::store::Error::Conflict { .. } => Error::Conflict { what, name },
        other => Error::Store(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Log forging: an error that quotes a client's input (an Issuer with a newline and 64 KiB of padding) was
    /// logged whole by `web::error::report`, so one request could write a fake log line of its own, or a huge one.
    #[test]
    fn logged_errors_are_bounded_and_escaped() {
        let issuer = format!("x\n2026-01-01T00:00:00Z ERROR forged{}", "y".repeat(65_536));
        let e = Error::Settings { reason: format!("issuer {issuer} is unknown") };
        let logged = with_causes(&e);
        assert!(!logged.contains('\n') && logged.contains("x\\n2026"), "{logged}");
        assert!(logged.ends_with('…') && logged.chars().count() <= FIELD_MAX_CHARS + 2, "{logged}");
    }
}
