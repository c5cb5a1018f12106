//! TOTP (RFC 6238: HMAC-SHA-1, 6 digits, 30-second steps, one step of clock drift either way), shared by
//! administrators (`admins`) and directory users (`mfa`): secrets are 20 random bytes, sealed with the secret key
//! (`secret`) wherever they are kept (database or session), shown once for enrolment as an `otpauth://` URI (or a
//! QR code of it) and in base32; the callers store the last accepted step, so each code is accepted once.

use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;
use totp_rs::{Algorithm, TOTP};

use crate::secret::Binding;
use crate::services::{Ctx, Error};

/// The TOTP time step, in seconds (RFC 6238 §4: X = 30 by default).
pub const TOTP_STEP_SECS: u64 = 30;
/// The TOTP issuer shown by authenticator apps.
const TOTP_ISSUER: &str = "sesame";

/// A TOTP secret being enrolled, as the authenticator app takes it: the `otpauth://` URI (or a QR code of it) and
/// the secret in base32, for typing in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotpEnrolment {
    pub uri: String,
    pub secret: String,
}

/// A new random secret, sealed for the row it will be stored in (`binding`), for the caller to keep
/// (server-side) until a code confirms it.
pub fn new_sealed_secret(ctx: &Ctx, binding: &Binding) -> Result<String, Error> {
    let secret: [u8; 20] = rand::random();
    Ok(ctx.secret.seal(&hex::encode(secret), binding)?)
}

/// The URI and base32 secret of a sealed secret, to show while it is enrolled.
pub fn enrolment(ctx: &Ctx, account: &str, binding: &Binding, sealed: &str) -> Result<TotpEnrolment, Error> {
    let secret = open_secret(ctx, binding, sealed)?;
    Ok(TotpEnrolment { uri: otpauth_uri(account, &secret), secret: base32_encode(&secret) })
}

/// The step (Unix time / 30) whose code `code` is, for the sealed secret at `now` (one step of drift either way).
pub fn matching_sealed_step(
    ctx: &Ctx,
    binding: &Binding,
    sealed: &str,
    code: &str,
    now: DateTime<Utc>,
) -> Result<Option<i64>, Error> {
    let secret = open_secret(ctx, binding, sealed)?;
    Ok(matching_step(&secret, code.trim(), unix_secs(now)).map(|step| i64::try_from(step).unwrap_or(i64::MAX)))
}

/// The code for `secret` at Unix time `unix_secs` (RFC 6238 with SHA-1, 6 digits, 30-second steps).
pub fn totp_code(secret: &[u8], unix_secs: u64) -> String {
    TOTP::new_unchecked(Algorithm::SHA1, 6, 0, TOTP_STEP_SECS, secret.to_vec()).generate(unix_secs)
}

/// The `otpauth://` URI of Google Authenticator's Key Uri Format.
pub fn otpauth_uri(account: &str, secret: &[u8]) -> String {
    let encode = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>().replace('+', "%20");
    let secret = base32_encode(secret);
    format!(
        "otpauth://totp/{}:{}?secret={secret}&issuer={}&algorithm=SHA1&digits=6&period={TOTP_STEP_SECS}",
        encode(TOTP_ISSUER),
        encode(account),
        encode(TOTP_ISSUER)
    )
}

pub fn base32_encode(bytes: &[u8]) -> String {
    TOTP::new_unchecked(Algorithm::SHA1, 6, 0, TOTP_STEP_SECS, bytes.to_vec()).get_secret_base32()
}

/// The time step (Unix time / 30) among the previous, current and next one whose code is `code`.
pub fn matching_step(secret: &[u8], code: &str, unix_secs: u64) -> Option<u64> {
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let current = unix_secs / TOTP_STEP_SECS;
    let mut found = None;
    // Every candidate is computed and compared in constant time, so timing does not tell which step matched.
    for step in [current.saturating_sub(1), current, current + 1] {
        let expected = totp_code(secret, step * TOTP_STEP_SECS);
        if openssl::memcmp::eq(expected.as_bytes(), code.as_bytes()) && found.is_none() {
            found = Some(step);
        }
    }
    found
}

/// The raw secret of a sealed one, sealed for `binding`.
pub fn open_secret(ctx: &Ctx, binding: &Binding, sealed: &str) -> Result<Vec<u8>, Error> {
    let secret = ctx.secret.open(sealed, binding)?;
    hex::decode(secret.expose_secret()).map_err(|_| crate::secret::Error::Decrypt.into())
}

pub fn unix_secs(now: DateTime<Utc>) -> u64 {
    u64::try_from(now.timestamp()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B, SHA-1 rows (8 digits there; the same HOTP truncation gives our 6 as its last digits).
    #[test]
    fn matches_the_rfc_6238_test_vectors() {
        let secret = b"12345678901234567890";
        let vectors = [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ];
        for (time, expected) in vectors {
            let eight = TOTP::new_unchecked(Algorithm::SHA1, 8, 0, 30, secret.to_vec()).generate(time);
            assert_eq!(eight, expected, "T = {time}");
            assert_eq!(totp_code(secret, time), expected[2..], "T = {time}");
        }
    }

    #[test]
    fn accepts_one_step_of_drift_and_nothing_else() {
        let secret = b"12345678901234567890";
        let now = 1_111_111_111;
        let step = now / 30;
        assert_eq!(matching_step(secret, &totp_code(secret, now), now), Some(step));
        assert_eq!(matching_step(secret, &totp_code(secret, now - 30), now), Some(step - 1));
        assert_eq!(matching_step(secret, &totp_code(secret, now + 30), now), Some(step + 1));
        assert_eq!(matching_step(secret, &totp_code(secret, now - 60), now), None);
        assert_eq!(matching_step(secret, &totp_code(secret, now + 60), now), None);
        for bad in ["", "12345", "1234567", "abcdef", " 12345"] {
            assert_eq!(matching_step(secret, bad, now), None, "{bad:?}");
        }
    }

    #[test]
    fn writes_an_otpauth_uri() {
        let uri = otpauth_uri("ann lee", b"12345678901234567890");
        assert_eq!(
            uri,
            "otpauth://totp/sesame:ann%20lee?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=sesame&algorithm=SHA1\
             &digits=6&period=30"
        );
    }
}
