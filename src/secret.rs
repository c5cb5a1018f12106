//! Encryption of secrets at rest (SCIM tokens, TOTP secrets, private signing keys): AES-256-GCM with a random
//! nonce, under the configured secret key, bound to where the value is stored.
//!
//! A sealed value is `v2:<key id>:<base64(nonce ‖ ciphertext ‖ tag)>`. The associated data names the key id and
//! the value's `Binding` (table, field, row), so a value copied to another row or column does not open.
//! The key id (8 hex characters of a hash of the key) says which key sealed it.
//!
//! The keys come from `SESAME_SECRET_KEY` (or `_FILE`), or `<data dir>/secret.key` (generated once, mode 0600):
//! one or more keys of 64 hex characters, separated by white space. The first seals; all of them open. A file is
//! read again when a value names a key this process does not hold, and before every seal, so a key rotated by
//! another process (`sesame secret-key rotate`) is learnt without a restart. Replicas must share the keys, as they
//! share the database.
//!
//! Values sealed before version 2 (no prefix, one fixed associated data) open only through `open_unbound`, which
//! the start-up migration uses to seal them again bound (`services::secrets`).

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use base64::Engine;
use openssl::symm::{decrypt_aead, encrypt_aead, Cipher};
use secrecy::{ExposeSecret, SecretBox, SecretString};

const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
/// The associated data of values sealed before bindings existed (version 1).
const UNBOUND_AAD: &[u8] = b"sesame secret v1";
const PREFIX: &str = "v2";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the secret key must be 64 hexadecimal characters (32 bytes), or several separated by white space")]
    BadKey,
    #[error("the secret key file {path} could not be {action}: {source}")]
    File {
        path: String,
        action: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("a stored secret could not be decrypted (wrong secret key, moved to another record, or altered)")]
    Decrypt,
    #[error("a stored secret was sealed under secret key {id}, which is not configured")]
    UnknownKey { id: String },
    #[error("the secret key is set directly (SESAME_SECRET_KEY or the settings file); to rotate it, keep it in a file (SESAME_SECRET_KEY_FILE or <data dir>/secret.key)")]
    NotAFile,
    #[error("the secret key file holds no second key to rotate to (add one as its second line, 64 hex characters)")]
    NoStagedKey,
    #[error("encryption failed")]
    Encrypt(#[source] openssl::error::ErrorStack),
}

/// Where a sealed value is stored: its table, its field and its row's key. The value opens only there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    table: &'static str,
    field: &'static str,
    row: String,
}

impl Binding {
    pub fn new(table: &'static str, field: &'static str, row: impl std::fmt::Display) -> Self {
        Self { table, field, row: row.to_string() }
    }

    fn aad(&self, key_id: &str) -> Vec<u8> {
        // NUL never occurs in table or field names; the row comes last, so no two bindings give the same bytes.
        format!("sesame sealed {PREFIX}\0{key_id}\0{}\0{}\0{}", self.table, self.field, self.row).into_bytes()
    }
}

/// One key with its id.
struct Key {
    id: String,
    bytes: SecretBox<[u8; 32]>,
}

impl Key {
    fn new(bytes: [u8; 32]) -> Self {
        let digest = openssl::sha::sha256(&[b"sesame secret key id\0".as_slice(), &bytes].concat());
        Self { id: hex::encode(&digest[..4]), bytes: SecretBox::new(Box::new(bytes)) }
    }
}

/// The keys that seal secrets at rest: the first seals, all of them open.
pub struct SecretKey {
    /// The file the keys were read from, read again to learn a rotation; `None` when set directly.
    file: Option<PathBuf>,
    keys: RwLock<Vec<Key>>,
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(..)")
    }
}

/// How a sealed value was sealed, without opening it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sealing {
    /// Before bindings (version 1): to be sealed again.
    Unbound,
    /// Version 2, under the key with this id.
    Key(String),
}

impl SecretKey {
    /// The configured keys (`file` when they were read from `SESAME_SECRET_KEY_FILE`), or the ones in
    /// `<data_dir>/secret.key`, generated on first use.
    pub fn load(configured: Option<&SecretString>, file: Option<&Path>, data_dir: &Path) -> Result<Self, Error> {
        if let Some(path) = file {
            let keys = read_keys(path)?;
            return Ok(Self { file: Some(path.to_owned()), keys: RwLock::new(keys) });
        }
        if let Some(hex_key) = configured {
            return Self::from_hex(hex_key.expose_secret());
        }
        let path = data_dir.join("secret.key");
        let file_error = |action, source| Error::File { path: path.display().to_string(), action, source };
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(Self { keys: RwLock::new(parse_keys(&text)?), file: Some(path) }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let bytes: [u8; 32] = rand::random();
                // create_new: two processes starting at once cannot overwrite each other's key.
                match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path) {
                    Ok(mut file) => {
                        file.write_all(hex::encode(bytes).as_bytes())
                            .and_then(|()| file.sync_all())
                            .map_err(|e| file_error("written", e))?;
                        Ok(Self { keys: RwLock::new(vec![Key::new(bytes)]), file: Some(path) })
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        let keys = read_keys(&path)?;
                        Ok(Self { keys: RwLock::new(keys), file: Some(path) })
                    }
                    Err(e) => Err(file_error("created", e)),
                }
            }
            Err(e) => Err(file_error("read", e)),
        }
    }

    /// Keys given as text: one or more of 64 hex characters, separated by white space; the first seals.
    pub fn from_hex(text: &str) -> Result<Self, Error> {
        Ok(Self { file: None, keys: RwLock::new(parse_keys(text)?) })
    }

    /// The id of the key that seals.
    pub fn current_id(&self) -> String {
        self.keys.read().map(|k| k.first().map(|k| k.id.clone()).unwrap_or_default()).unwrap_or_default()
    }

    /// Encrypts `plain` for the place `at`. A key file is read first, so a rotation by another process is followed.
    pub fn seal(&self, plain: &str, at: &Binding) -> Result<String, Error> {
        self.reload()?;
        let keys = self.keys.read().map_err(|_| Error::BadKey)?;
        let key = keys.first().ok_or(Error::BadKey)?;
        let nonce: [u8; NONCE_LEN] = rand::random();
        let mut tag = [0u8; TAG_LEN];
        let aad = at.aad(&key.id);
        let ciphertext = encrypt_aead(
            Cipher::aes_256_gcm(),
            key.bytes.expose_secret(),
            Some(&nonce),
            &aad,
            plain.as_bytes(),
            &mut tag,
        )
        .map_err(Error::Encrypt)?;
        let mut out = Vec::with_capacity(NONCE_LEN + ciphertext.len() + TAG_LEN);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        out.extend_from_slice(&tag);
        Ok(format!("{PREFIX}:{}:{}", key.id, base64::engine::general_purpose::STANDARD.encode(out)))
    }

    /// Decrypts a value sealed for the place `at`; a value from anywhere else, or sealed before bindings, is refused.
    pub fn open(&self, sealed: &str, at: &Binding) -> Result<SecretString, Error> {
        let Some((key_id, body)) = split_v2(sealed) else {
            return Err(Error::Decrypt);
        };
        if !self.holds(key_id) {
            self.reload()?;
        }
        let keys = self.keys.read().map_err(|_| Error::BadKey)?;
        let key = keys.iter().find(|k| k.id == key_id).ok_or_else(|| Error::UnknownKey { id: key_id.to_owned() })?;
        decrypt(key, body, &at.aad(key_id))
    }

    /// Decrypts a value sealed before bindings existed (for the migration that seals it again, bound). Any key
    /// that is held may have sealed it.
    pub fn open_unbound(&self, sealed: &str) -> Result<SecretString, Error> {
        let keys = self.keys.read().map_err(|_| Error::BadKey)?;
        keys.iter().find_map(|key| decrypt(key, sealed, UNBOUND_AAD).ok()).ok_or(Error::Decrypt)
    }

    /// How `sealed` was sealed (`None`: not a sealed value at all).
    pub fn sealing(sealed: &str) -> Option<Sealing> {
        match split_v2(sealed) {
            Some((id, _)) => Some(Sealing::Key(id.to_owned())),
            None if !sealed.contains(':') => Some(Sealing::Unbound),
            None => None,
        }
    }

    /// Starts a rotation: a new key is written first into the key file, the current ones kept after it for
    /// opening. The new key is generated, or with `staged`, the second key of the file (one an operator placed
    /// there on every host beforehand, so every replica already opens what it seals). Returns the new key's id.
    pub fn add_new_key(&self, staged: bool) -> Result<String, Error> {
        let path = self.file.as_deref().ok_or(Error::NotAFile)?;
        self.reload()?;
        let mut keys = self.keys.write().map_err(|_| Error::BadKey)?;
        let new = if staged {
            if keys.len() < 2 {
                return Err(Error::NoStagedKey);
            }
            keys.remove(1)
        } else {
            Key::new(rand::random())
        };
        let id = new.id.clone();
        keys.insert(0, new);
        write_keys(path, &keys)?;
        Ok(id)
    }

    /// Ends a rotation: only the key that seals stays in the key file. Returns the ids of the keys dropped.
    pub fn drop_previous_keys(&self) -> Result<Vec<String>, Error> {
        let path = self.file.as_deref().ok_or(Error::NotAFile)?;
        self.reload()?;
        let mut keys = self.keys.write().map_err(|_| Error::BadKey)?;
        let keep = keys.len().min(1);
        let dropped = keys.split_off(keep);
        write_keys(path, &keys)?;
        Ok(dropped.into_iter().map(|k| k.id).collect())
    }

    fn holds(&self, key_id: &str) -> bool {
        self.keys.read().is_ok_and(|keys| keys.iter().any(|k| k.id == key_id))
    }

    /// Reads the key file again (nothing for keys set directly).
    fn reload(&self) -> Result<(), Error> {
        let Some(path) = &self.file else { return Ok(()) };
        let keys = read_keys(path)?;
        if let Ok(mut held) = self.keys.write() {
            *held = keys;
        }
        Ok(())
    }
}

fn split_v2(sealed: &str) -> Option<(&str, &str)> {
    let rest = sealed.strip_prefix(PREFIX)?.strip_prefix(':')?;
    rest.split_once(':')
}

fn decrypt(key: &Key, body: &str, aad: &[u8]) -> Result<SecretString, Error> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(body).map_err(|_| Error::Decrypt)?;
    if bytes.len() < NONCE_LEN + TAG_LEN {
        return Err(Error::Decrypt);
    }
    let (nonce, rest) = bytes.split_at(NONCE_LEN);
    let (ciphertext, tag) = rest.split_at(rest.len() - TAG_LEN);
    let plain = decrypt_aead(Cipher::aes_256_gcm(), key.bytes.expose_secret(), Some(nonce), aad, ciphertext, tag)
        .map_err(|_| Error::Decrypt)?;
    String::from_utf8(plain).map(SecretString::from).map_err(|_| Error::Decrypt)
}

fn parse_keys(text: &str) -> Result<Vec<Key>, Error> {
    let keys = text
        .split_whitespace()
        .map(|word| {
            let bytes = hex::decode(word).map_err(|_| Error::BadKey)?;
            Ok(Key::new(bytes.try_into().map_err(|_| Error::BadKey)?))
        })
        .collect::<Result<Vec<_>, Error>>()?;
    if keys.is_empty() {
        return Err(Error::BadKey);
    }
    Ok(keys)
}

fn read_keys(path: &Path) -> Result<Vec<Key>, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::File {
        path: path.display().to_string(),
        action: "read",
        source,
    })?;
    parse_keys(&text)
}

/// Replaces the key file atomically (a temporary file beside it, mode 0600, renamed over it): a replica reading
/// it meanwhile sees the old keys or the new ones, never half a file.
fn write_keys(path: &Path, keys: &[Key]) -> Result<(), Error> {
    let file_error = |action, source| Error::File { path: path.display().to_string(), action, source };
    let text: String = keys.iter().map(|k| hex::encode(k.bytes.expose_secret()) + "\n").collect();
    let tmp = path.with_extension("key.new");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| file_error("written", e))?;
    file.write_all(text.as_bytes()).and_then(|()| file.sync_all()).map_err(|e| file_error("written", e))?;
    std::fs::rename(&tmp, path).map_err(|e| file_error("replaced", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(row: &str) -> Binding {
        Binding::new("admins", "totp_secret_enc", row)
    }

    #[test]
    fn seals_and_opens_and_detects_tampering() {
        let key = SecretKey::from_hex(&"ab".repeat(32)).unwrap();
        let sealed = key.seal("scim-token-123", &at("1")).unwrap();
        assert!(!sealed.contains("scim-token"));
        assert!(sealed.starts_with(&format!("v2:{}:", key.current_id())));
        assert_eq!(key.open(&sealed, &at("1")).unwrap().expose_secret(), "scim-token-123");
        assert_ne!(key.seal("scim-token-123", &at("1")).unwrap(), sealed, "a fresh nonce every time");
        let (head, body) = sealed.rsplit_once(':').unwrap();
        let mut bytes = base64::engine::general_purpose::STANDARD.decode(body).unwrap();
        bytes[14] ^= 1;
        let altered = format!("{head}:{}", base64::engine::general_purpose::STANDARD.encode(bytes));
        assert!(matches!(key.open(&altered, &at("1")), Err(Error::Decrypt)));
        let other = SecretKey::from_hex(&"cd".repeat(32)).unwrap();
        assert!(matches!(other.open(&sealed, &at("1")), Err(Error::UnknownKey { .. })));
    }

    #[test]
    fn a_value_opens_only_where_it_was_sealed() {
        let key = SecretKey::from_hex(&"ab".repeat(32)).unwrap();
        let sealed = key.seal("secret", &at("alice")).unwrap();
        assert!(matches!(key.open(&sealed, &at("bob")), Err(Error::Decrypt)), "another row");
        let other_field = Binding::new("admins", "password", "alice");
        assert!(matches!(key.open(&sealed, &other_field), Err(Error::Decrypt)), "another field");
        let other_table = Binding::new("users", "totp_secret_enc", "alice");
        assert!(matches!(key.open(&sealed, &other_table), Err(Error::Decrypt)), "another table");
    }

    #[test]
    fn unbound_values_open_only_for_their_migration() {
        let key = SecretKey::from_hex(&"ab".repeat(32)).unwrap();
        let nonce = [7u8; NONCE_LEN];
        let mut tag = [0u8; TAG_LEN];
        let bytes = key.keys.read().unwrap()[0].bytes.expose_secret().to_owned();
        let ct = encrypt_aead(Cipher::aes_256_gcm(), &bytes, Some(&nonce), UNBOUND_AAD, b"old", &mut tag).unwrap();
        let old = base64::engine::general_purpose::STANDARD.encode([&nonce[..], &ct, &tag].concat());
        assert_eq!(SecretKey::sealing(&old), Some(Sealing::Unbound));
        assert!(matches!(key.open(&old, &at("1")), Err(Error::Decrypt)));
        assert_eq!(key.open_unbound(&old).unwrap().expose_secret(), "old");
    }

    #[test]
    fn every_key_opens_and_the_first_seals() {
        let old = SecretKey::from_hex(&"ab".repeat(32)).unwrap();
        let sealed = old.seal("x", &at("1")).unwrap();
        let both = SecretKey::from_hex(&format!("{}\n{}", "cd".repeat(32), "ab".repeat(32))).unwrap();
        assert_eq!(both.open(&sealed, &at("1")).unwrap().expose_secret(), "x");
        let resealed = both.seal("x", &at("1")).unwrap();
        assert_eq!(SecretKey::sealing(&resealed), Some(Sealing::Key(both.current_id())));
        assert_ne!(both.current_id(), old.current_id());
        assert!(matches!(old.open(&resealed, &at("1")), Err(Error::UnknownKey { .. })));
    }

    #[test]
    fn generates_a_private_key_file_once_and_follows_its_rotation() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let a = SecretKey::load(None, None, dir.path()).unwrap();
        let b = SecretKey::load(None, None, dir.path()).unwrap();
        assert_eq!(b.open(&a.seal("x", &at("1")).unwrap(), &at("1")).unwrap().expose_secret(), "x");
        let mode = std::fs::metadata(dir.path().join("secret.key")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let before = a.seal("y", &at("1")).unwrap();
        let new_id = a.add_new_key(false).unwrap();
        let after = a.seal("y", &at("1")).unwrap();
        assert_eq!(SecretKey::sealing(&after), Some(Sealing::Key(new_id.clone())));
        // b learns the new key from the file when it meets a value sealed under it.
        assert_eq!(b.open(&after, &at("1")).unwrap().expose_secret(), "y");
        assert_eq!(b.open(&before, &at("1")).unwrap().expose_secret(), "y");
        a.drop_previous_keys().unwrap();
        let c = SecretKey::load(None, None, dir.path()).unwrap();
        assert!(matches!(c.add_new_key(true), Err(Error::NoStagedKey)), "no second key to promote");
        assert!(matches!(c.open(&before, &at("1")), Err(Error::UnknownKey { .. })), "the old key is gone");
        assert_eq!(c.current_id(), new_id);
        let mode = std::fs::metadata(dir.path().join("secret.key")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn a_staged_second_key_is_promoted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys");
        std::fs::write(&path, format!("{}\n{}\n", "ab".repeat(32), "cd".repeat(32))).unwrap();
        let keys = SecretKey::load(None, Some(&path), dir.path()).unwrap();
        let staged = SecretKey::from_hex(&"cd".repeat(32)).unwrap().current_id();
        let old = keys.current_id();
        assert_eq!(keys.add_new_key(true).unwrap(), staged);
        assert_eq!(keys.current_id(), staged);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, format!("{}\n{}\n", "cd".repeat(32), "ab".repeat(32)), "the old key kept second");
        assert_ne!(old, staged);
    }
}
