//! Everything that can go wrong in the SAML core, in protocol words.
//!
//! Each variant knows the SAML status it maps to (`status`), so `services` can answer an SP whose ACS is verified.

/// A failure of the SAML core.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the SAML message is larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("the SAML message is not valid base64")]
    BadBase64,
    #[error("the SAML message could not be inflated (HTTP-Redirect binding requires raw DEFLATE)")]
    BadDeflate,
    #[error("the SAML message is not UTF-8")]
    NotUtf8,
    #[error("the SAML message contains a document type declaration, which SAML forbids")]
    Doctype,
    #[error("the SAML message is not well-formed XML: {reason}")]
    MalformedXml { reason: String },
    #[error("the SAML message is not a SAML 2.0 {expected}")]
    WrongMessage { expected: &'static str },
    #[error("the {field} of the SAML message is missing or invalid")]
    InvalidField { field: &'static str },
    #[error("query parameter {name} appears more than once")]
    RepeatedParameter { name: &'static str },
    #[error("the request carries {present} but not {missing}")]
    IncompleteSignature { present: &'static str, missing: &'static str },
    #[error("signature algorithm {alg} is not accepted")]
    WeakAlgorithm { alg: String },
    #[error("the request signature is not valid for any registered SP certificate")]
    BadSignature,
    #[error("the request must be signed, and it is not")]
    UnsignedRequest,
    #[error("the signature does not cover the whole request")]
    SignatureScope,
    #[error("a certificate could not be read: {reason}")]
    BadCertificate { reason: String },
    #[error("a private key could not be read: {reason}")]
    BadKey { reason: String },
    #[error("the SP metadata is not usable: {reason}")]
    BadMetadata { reason: String },
    #[error("cryptographic operation failed: {what}")]
    Crypto {
        what: &'static str,
        #[source]
        source: openssl::error::ErrorStack,
    },
    #[error("signature verification failed to run: {reason}")]
    Verifier { reason: String },
}

impl Error {
    /// Maps an openssl failure to `Crypto` with a description of what was being done.
    pub fn crypto(what: &'static str) -> impl FnOnce(openssl::error::ErrorStack) -> Self {
        move |source| Self::Crypto { what, source }
    }
}
