//! The SAML core: decoding and validating AuthnRequests, building and signing Responses, metadata in and out,
//! the two bindings, keys and certificates.
//!
//! Architecture Invariant: this module is pure. It does no IO, reads no clock (times are passed in) and knows
//! nothing of HTTP frameworks or the database. Randomness comes only from `new_id` and, for encryption keys and
//! IVs, openssl's generator in `encrypt`.

pub mod authn_request;
pub mod binding;
pub mod encrypt;
pub mod error;
pub mod keys;
pub mod logout;
pub mod metadata;
pub mod response;
pub mod sign;
pub mod xml;
pub mod xmlsec_errors;

pub use error::Error;

/// Which elements of a response carry a signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SigningMode {
    #[default]
    Assertion,
    Response,
    Both,
}

impl SigningMode {
    pub fn signs_assertion(self) -> bool {
        matches!(self, Self::Assertion | Self::Both)
    }

    pub fn signs_response(self) -> bool {
        matches!(self, Self::Response | Self::Both)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Assertion => "assertion",
            Self::Response => "response",
            Self::Both => "both",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "assertion" => Some(Self::Assertion),
            "response" => Some(Self::Response),
            "both" => Some(Self::Both),
            _ => None,
        }
    }
}

/// The data encryption algorithm of encrypted assertions: AES-256-GCM, or AES-256-CBC for SPs that cannot do GCM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum DataEncryption {
    #[default]
    #[serde(rename = "aes256-gcm")]
    Aes256Gcm,
    #[serde(rename = "aes256-cbc")]
    Aes256Cbc,
}

impl DataEncryption {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Aes256Gcm => "aes256-gcm",
            Self::Aes256Cbc => "aes256-cbc",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [Self::Aes256Gcm, Self::Aes256Cbc].into_iter().find(|d| d.as_str() == value)
    }
}

/// NameID formats we can produce (SAML Core §8.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NameIdFormat {
    #[default]
    Email,
    Persistent,
    Transient,
    Unspecified,
}

impl NameIdFormat {
    pub const ALL: [Self; 4] = [Self::Email, Self::Persistent, Self::Transient, Self::Unspecified];

    pub fn urn(self) -> &'static str {
        match self {
            Self::Email => "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
            Self::Persistent => "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
            Self::Transient => "urn:oasis:names:tc:SAML:2.0:nameid-format:transient",
            Self::Unspecified => "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified",
        }
    }

    pub fn from_urn(urn: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.urn() == urn.trim())
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Persistent => "persistent",
            Self::Transient => "transient",
            Self::Unspecified => "unspecified",
        }
    }

    /// Accepts the short name or the full URN.
    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.as_str() == value).or_else(|| Self::from_urn(value))
    }
}

/// A fresh identifier for a SAML message, session index or pending request: an NCName with 160 random bits.
pub fn new_id() -> String {
    let bytes: [u8; 20] = rand::random();
    format!("_{}", hex::encode(bytes))
}

/// Proves at start-up that signatures are really checked (samael without `xmlsec` accepts anything, notes P6) and
/// that xmlsec accepts what our canonical signer produces: a signed request must verify and a tampered copy must not.
pub fn self_test(now: chrono::DateTime<chrono::Utc>) -> Result<(), Error> {
    use xml::CanonicalWriter;

    let key = keys::SigningKey::generate("sesame self-test", now, 1)?;
    let issue_instant = response::saml_time(now);
    let mut w = CanonicalWriter::new();
    w.open(
        "samlp:AuthnRequest",
        &[("samlp", response::PROTOCOL_NS)],
        &[("ID", "_selftest"), ("Version", "2.0"), ("IssueInstant", &issue_instant)],
    );
    w.leaf("saml:Issuer", &[("saml", response::ASSERTION_NS)], &[], "urn:sesame:self-test & <check>");
    let at = w.position();
    w.close("samlp:AuthnRequest");
    let signed = sign::sign_enveloped(&w.finish(), "_selftest", at, &key)?;
    let certs = [key.cert.clone()];
    authn_request::verify_post_signature(&signed, &certs, false)
        .map_err(|e| Error::Verifier { reason: format!("our own signature did not verify: {e}") })?;
    // The first verification initialised xmlsec, so its messages now go to tracing: the tampered copy fails on
    // purpose and must not print an alarming line to stderr.
    let tampered = signed.replace("self-test", "self-tesT");
    if authn_request::verify_post_signature(&tampered, &certs, false).is_ok() {
        return Err(Error::Verifier { reason: "a tampered document passed verification".into() });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn self_test_passes() {
        super::self_test(chrono::Utc::now()).unwrap();
    }
}
