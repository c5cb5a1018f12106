//! Encryption of secrets at rest (SCIM tokens): AES-256-GCM with a random nonce, under the configured key.
//!
//! The key comes from `SESAME_SECRET_KEY` (or `_FILE`): 64 hex characters. Without it, a key is generated once
//! into `<data dir>/secret.key` (mode 0600). Replicas must share the key, as they share the database.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use base64::Engine;
use openssl::symm::{decrypt_aead, encrypt_aead, Cipher};
use secrecy::{ExposeSecret, SecretBox, SecretString};

const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
/// Binds ciphertexts to their purpose, so a ciphertext cannot be moved to another field.
const AAD: &[u8] = b"sesame secret v1";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the secret key must be 64 hexadecimal characters (32 bytes)")]
    BadKey,
    #[error("the secret key file {path} could not be {action}: {source}")]
    File {
        path: String,
        action: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("a stored secret could not be decrypted (wrong secret key, or the value was altered)")]
    Decrypt,
    #[error("encryption failed")]
    Encrypt(#[source] openssl::error::ErrorStack),
}

/// The key that encrypts secrets at rest.
pub struct SecretKey(SecretBox<[u8; 32]>);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(..)")
    }
}

impl SecretKey {
    /// The configured key, or the one in `<data_dir>/secret.key`, generated on first use.
    pub fn load(configured: Option<&SecretString>, data_dir: &Path) -> Result<Self, Error> {
        if let Some(hex_key) = configured {
            return Self::from_hex(hex_key.expose_secret());
        }
        let path = data_dir.join("secret.key");
        match std::fs::read_to_string(&path) {
            Ok(text) => Self::from_hex(text.trim()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let bytes: [u8; 32] = rand::random();
                let file_error = |action, source| Error::File { path: path.display().to_string(), action, source };
                // create_new: two processes starting at once cannot overwrite each other's key.
                match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path) {
                    Ok(mut file) => {
                        file.write_all(hex::encode(bytes).as_bytes())
                            .and_then(|()| file.sync_all())
                            .map_err(|e| file_error("written", e))?;
                        Ok(Self(SecretBox::new(Box::new(bytes))))
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        let text = std::fs::read_to_string(&path).map_err(|e| file_error("read", e))?;
                        Self::from_hex(text.trim())
                    }
                    Err(e) => Err(file_error("created", e)),
                }
            }
            Err(e) => Err(Error::File { path: path.display().to_string(), action: "read", source: e }),
        }
    }

    pub fn from_hex(text: &str) -> Result<Self, Error> {
        let bytes = hex::decode(text.trim()).map_err(|_| Error::BadKey)?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| Error::BadKey)?;
        Ok(Self(SecretBox::new(Box::new(key))))
    }

    /// Encrypts `plain` to base64(nonce ‖ ciphertext ‖ tag).
    pub fn seal(&self, plain: &str) -> Result<String, Error> {
        let nonce: [u8; NONCE_LEN] = rand::random();
        let mut tag = [0u8; TAG_LEN];
        let ciphertext =
            encrypt_aead(Cipher::aes_256_gcm(), self.0.expose_secret(), Some(&nonce), AAD, plain.as_bytes(), &mut tag)
                .map_err(Error::Encrypt)?;
        let mut out = Vec::with_capacity(NONCE_LEN + ciphertext.len() + TAG_LEN);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        out.extend_from_slice(&tag);
        Ok(base64::engine::general_purpose::STANDARD.encode(out))
    }

    pub fn open(&self, sealed: &str) -> Result<SecretString, Error> {
        let bytes = base64::engine::general_purpose::STANDARD.decode(sealed).map_err(|_| Error::Decrypt)?;
        if bytes.len() < NONCE_LEN + TAG_LEN {
            return Err(Error::Decrypt);
        }
        let (nonce, rest) = bytes.split_at(NONCE_LEN);
        let (ciphertext, tag) = rest.split_at(rest.len() - TAG_LEN);
        let plain = decrypt_aead(Cipher::aes_256_gcm(), self.0.expose_secret(), Some(nonce), AAD, ciphertext, tag)
            .map_err(|_| Error::Decrypt)?;
        String::from_utf8(plain).map(SecretString::from).map_err(|_| Error::Decrypt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_and_opens_and_detects_tampering() {
        let key = SecretKey::from_hex(&"ab".repeat(32)).unwrap();
        let sealed = key.seal("scim-token-123").unwrap();
        assert!(!sealed.contains("scim-token"));
        assert_eq!(key.open(&sealed).unwrap().expose_secret(), "scim-token-123");
        assert_ne!(key.seal("scim-token-123").unwrap(), sealed, "a fresh nonce every time");
        let mut bytes = base64::engine::general_purpose::STANDARD.decode(&sealed).unwrap();
        bytes[14] ^= 1;
        let altered = base64::engine::general_purpose::STANDARD.encode(bytes);
        assert!(matches!(key.open(&altered), Err(Error::Decrypt)));
        let other = SecretKey::from_hex(&"cd".repeat(32)).unwrap();
        assert!(matches!(other.open(&sealed), Err(Error::Decrypt)));
    }

    #[test]
    fn generates_a_private_key_file_once() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let a = SecretKey::load(None, dir.path()).unwrap();
        let b = SecretKey::load(None, dir.path()).unwrap();
        assert_eq!(b.open(&a.seal("x").unwrap()).unwrap().expose_secret(), "x");
        let mode = std::fs::metadata(dir.path().join("secret.key")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
