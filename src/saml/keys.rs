//! Signing keys and certificates: generation, PEM in and out, and what admins need to see (validity, fingerprint).
//!
//! No file IO here: `store::certs` decides where the bytes live.

use chrono::{DateTime, TimeZone, Utc};
use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private, Public};
use openssl::rsa::Rsa;
use openssl::x509::extension::{BasicConstraints, KeyUsage, SubjectKeyIdentifier};
use openssl::x509::{X509NameBuilder, X509};

use crate::saml::Error;

/// A private key with its certificate, parsed once and kept for the life of the process.
pub struct SigningKey {
    pub key: PKey<Private>,
    pub cert: Certificate,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey").field("cert", &self.cert.fingerprint).finish_non_exhaustive()
    }
}

/// An X.509 certificate with the facts we show and publish.
#[derive(Clone)]
pub struct Certificate {
    pub x509: X509,
    pub der: Vec<u8>,
    /// Lower-case hex SHA-256 of the DER encoding.
    pub fingerprint: String,
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
    pub subject: String,
}

impl std::fmt::Debug for Certificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Certificate")
            .field("subject", &self.subject)
            .field("fingerprint", &self.fingerprint)
            .field("not_after", &self.not_after)
            .finish()
    }
}

impl Certificate {
    pub fn from_x509(x509: X509) -> Result<Self, Error> {
        let der = x509.to_der().map_err(Error::crypto("encode certificate"))?;
        let (_, parsed) =
            x509_parser::parse_x509_certificate(&der).map_err(|e| Error::BadCertificate { reason: e.to_string() })?;
        let validity = parsed.validity();
        let not_before = timestamp(validity.not_before.timestamp())?;
        let not_after = timestamp(validity.not_after.timestamp())?;
        let subject = parsed.subject().to_string();
        let digest = openssl::hash::hash(MessageDigest::sha256(), &der).map_err(Error::crypto("hash certificate"))?;
        Ok(Self { x509, fingerprint: hex::encode(digest), der, not_before, not_after, subject })
    }

    pub fn from_pem(pem: &[u8]) -> Result<Self, Error> {
        let x509 = X509::from_pem(pem).map_err(|e| Error::BadCertificate { reason: e.to_string() })?;
        Self::from_x509(x509)
    }

    /// Parses the base64 body of a `ds:X509Certificate` element (white space allowed).
    pub fn from_base64(b64: &str) -> Result<Self, Error> {
        let cleaned: String = b64.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        let der =
            openssl::base64::decode_block(&cleaned).map_err(|e| Error::BadCertificate { reason: e.to_string() })?;
        let x509 = X509::from_der(&der).map_err(|e| Error::BadCertificate { reason: e.to_string() })?;
        Self::from_x509(x509)
    }

    pub fn to_pem(&self) -> Result<String, Error> {
        let pem = self.x509.to_pem().map_err(Error::crypto("encode certificate"))?;
        String::from_utf8(pem).map_err(|e| Error::BadCertificate { reason: e.to_string() })
    }

    /// The DER as one line of base64, as it goes into `ds:X509Certificate`.
    pub fn to_base64(&self) -> String {
        openssl::base64::encode_block(&self.der)
    }

    pub fn public_key(&self) -> Result<PKey<Public>, Error> {
        self.x509.public_key().map_err(Error::crypto("read certificate key"))
    }

    pub fn is_valid_at(&self, now: DateTime<Utc>) -> bool {
        self.not_before <= now && now <= self.not_after
    }
}

impl SigningKey {
    /// Generates an RSA-2048 key and a self-signed certificate valid for `days` from `now`.
    pub fn generate(common_name: &str, now: DateTime<Utc>, days: u32) -> Result<Self, Error> {
        let rsa = Rsa::generate(2048).map_err(Error::crypto("generate RSA key"))?;
        let key = PKey::from_rsa(rsa).map_err(Error::crypto("wrap RSA key"))?;

        let mut name = X509NameBuilder::new().map_err(Error::crypto("build name"))?;
        name.append_entry_by_text("O", "sesame").map_err(Error::crypto("build name"))?;
        // Common names longer than 64 characters are refused by X.509 (RFC 5280 ub-common-name).
        let cn: String = common_name.chars().take(64).collect();
        name.append_entry_by_text("CN", &cn).map_err(Error::crypto("build name"))?;
        let name = name.build();

        let mut serial = BigNum::new().map_err(Error::crypto("serial"))?;
        serial.rand(127, MsbOption::MAYBE_ZERO, false).map_err(Error::crypto("serial"))?;
        let serial = serial.to_asn1_integer().map_err(Error::crypto("serial"))?;
        let start = Asn1Time::from_unix(now.timestamp() - 60).map_err(Error::crypto("validity"))?;
        let end = Asn1Time::from_unix(now.timestamp() + i64::from(days) * 86_400).map_err(Error::crypto("validity"))?;

        let mut builder = X509::builder().map_err(Error::crypto("certificate builder"))?;
        builder.set_version(2).map_err(Error::crypto("certificate version"))?;
        builder.set_serial_number(&serial).map_err(Error::crypto("certificate serial"))?;
        builder.set_subject_name(&name).map_err(Error::crypto("certificate subject"))?;
        builder.set_issuer_name(&name).map_err(Error::crypto("certificate issuer"))?;
        builder.set_not_before(&start).map_err(Error::crypto("certificate validity"))?;
        builder.set_not_after(&end).map_err(Error::crypto("certificate validity"))?;
        builder.set_pubkey(&key).map_err(Error::crypto("certificate key"))?;
        let basic = BasicConstraints::new().build().map_err(Error::crypto("certificate extension"))?;
        builder.append_extension(basic).map_err(Error::crypto("certificate extension"))?;
        let usage = KeyUsage::new().digital_signature().build().map_err(Error::crypto("certificate extension"))?;
        builder.append_extension(usage).map_err(Error::crypto("certificate extension"))?;
        let ski = SubjectKeyIdentifier::new()
            .build(&builder.x509v3_context(None, None))
            .map_err(Error::crypto("certificate extension"))?;
        builder.append_extension(ski).map_err(Error::crypto("certificate extension"))?;
        builder.sign(&key, MessageDigest::sha256()).map_err(Error::crypto("sign certificate"))?;
        let cert = Certificate::from_x509(builder.build())?;
        Ok(Self { key, cert })
    }

    /// Loads a PKCS#8 (or traditional RSA) PEM private key and its certificate, and checks that they belong together.
    pub fn from_pem(key_pem: &[u8], cert_pem: &[u8]) -> Result<Self, Error> {
        let key = PKey::private_key_from_pem(key_pem).map_err(|e| Error::BadKey { reason: e.to_string() })?;
        let cert = Certificate::from_pem(cert_pem)?;
        let public = cert.public_key()?;
        if !key.public_eq(&public) {
            return Err(Error::BadKey { reason: "the private key does not match the certificate".into() });
        }
        Ok(Self { key, cert })
    }

    pub fn private_key_pem(&self) -> Result<Vec<u8>, Error> {
        self.key.private_key_to_pem_pkcs8().map_err(Error::crypto("encode private key"))
    }
}

/// Days before expiry at which admins are warned (log, event and `sesame app show`).
pub const EXPIRY_WARNING_DAYS: [i64; 4] = [60, 30, 7, 1];

/// The most urgent warning threshold (in days) that a certificate expiring at `not_after` has reached at `now`.
pub fn expiry_threshold(not_after: DateTime<Utc>, now: DateTime<Utc>) -> Option<i64> {
    EXPIRY_WARNING_DAYS.iter().rev().copied().find(|days| not_after - now <= chrono::Duration::days(*days))
}

fn timestamp(secs: i64) -> Result<DateTime<Utc>, Error> {
    Utc.timestamp_opt(secs, 0)
        .single()
        .ok_or_else(|| Error::BadCertificate { reason: format!("time {secs} is out of range") })
}

/// Where a certificate is in an application's rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CertState {
    /// Signs responses and is published first.
    Current,
    /// Published beside the current one so SPs can learn it before it signs (rotation).
    Next,
    /// Signed until the last activation; still published (after the others) until it is retired.
    Previous,
    /// No longer used or published.
    Retired,
}

impl CertState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Current => "current",
            Self::Next => "next",
            Self::Previous => "previous",
            Self::Retired => "retired",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "current" => Some(Self::Current),
            "next" => Some(Self::Next),
            "previous" => Some(Self::Previous),
            "retired" => Some(Self::Retired),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_key_round_trips_through_pem() {
        let now = Utc::now();
        let key = SigningKey::generate("acme", now, 30).unwrap();
        let back =
            SigningKey::from_pem(&key.private_key_pem().unwrap(), key.cert.to_pem().unwrap().as_bytes()).unwrap();
        assert_eq!(back.cert.fingerprint, key.cert.fingerprint);
        assert!(key.cert.is_valid_at(now));
        assert!(!key.cert.is_valid_at(now + chrono::Duration::days(31)));
        assert!(key.cert.subject.contains("CN=acme"));
    }

    #[test]
    fn expiry_thresholds_are_the_most_urgent_reached() {
        let now = Utc::now();
        let at = |days: i64, hours: i64| now + chrono::Duration::days(days) + chrono::Duration::hours(hours);
        assert_eq!(expiry_threshold(at(61, 0), now), None);
        assert_eq!(expiry_threshold(at(60, 0), now), Some(60));
        assert_eq!(expiry_threshold(at(30, 1), now), Some(60));
        assert_eq!(expiry_threshold(at(29, 0), now), Some(30));
        assert_eq!(expiry_threshold(at(6, 23), now), Some(7));
        assert_eq!(expiry_threshold(at(0, 5), now), Some(1));
        assert_eq!(expiry_threshold(at(-3, 0), now), Some(1));
    }

    #[test]
    fn refuses_a_key_that_does_not_match_the_certificate() {
        let now = Utc::now();
        let a = SigningKey::generate("a", now, 1).unwrap();
        let b = SigningKey::generate("b", now, 1).unwrap();
        let err = SigningKey::from_pem(&a.private_key_pem().unwrap(), b.cert.to_pem().unwrap().as_bytes()).unwrap_err();
        assert!(matches!(err, Error::BadKey { .. }));
    }
}
