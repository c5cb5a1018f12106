//! Errors of the use cases, in domain words. `web` and `cli` decide what the outside sees.

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
    #[error("application {app} has no signing certificate")]
    NoSigningKey { app: String },
    #[error("application {app}: {reason}")]
    Certificate { app: String, reason: String },
    #[error("the SP metadata's signature does not verify with the configured metadata-signing certificate: {reason}")]
    MetadataSignature { reason: String },
    #[error(transparent)]
    Logout(#[from] crate::saml::logout::LogoutError),
    #[error("this logout is unknown or has expired")]
    LogoutExpired,
    #[error("the SP metadata could not be fetched from {url}: {reason}")]
    Fetch { url: String, reason: String },
    #[error("identity management for {app}: {reason}")]
    Idm { app: String, reason: String },
    #[error("settings file: {reason}")]
    Settings { reason: String },
    #[error(transparent)]
    Catalog(#[from] crate::catalog::Error),
    #[error("application {app} was not created from connector {connector}")]
    NotFromConnector { app: String, connector: String },
    #[error(transparent)]
    Saml(#[from] crate::saml::Error),
    #[error(transparent)]
    Store(#[from] crate::store::Error),
    #[error("background task failed: {0}")]
    Task(String),
    #[error("too many failed sign-ins; try again later")]
    Throttled,
    #[error("the API token is missing or not valid")]
    BadToken,
    #[error("API token {name} was revoked")]
    RevokedToken { name: String },
}

impl Error {
    /// Whether the fault is ours (a 5xx for HTTP callers) rather than the caller's.
    pub fn is_internal(&self) -> bool {
        match self {
            Self::Store(crate::store::Error::NotFound { .. } | crate::store::Error::Conflict { .. }) => false,
            Self::Store(_) | Self::Task(_) | Self::NoSigningKey { .. } => true,
            Self::Catalog(e) => matches!(e, crate::catalog::Error::BadEntry { .. }),
            Self::Saml(e) => matches!(e, crate::saml::Error::Crypto { .. } | crate::saml::Error::BadKey { .. }),
            _ => false,
        }
    }
}
