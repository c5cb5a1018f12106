//! XML Encryption (W3C xmlenc-core, xmlenc-core1) of assertions and NameIDs for the SP's encryption certificate
//! (SAML Core §2.2.4, §2.3.4): a fresh AES-256 key per element, transported with RSA-OAEP (MGF1 with SHA-1, the
//! `rsa-oaep-mgf1p` every SP supports), the data encrypted with AES-256-GCM, or AES-256-CBC for old SPs that ask.
//!
//! samael has no encryption (notes/rust-stack.md §1), so the `xenc:EncryptedData` is written here with the
//! canonical writer and openssl. The plaintext is an element this module's callers wrote canonically (and signed,
//! for an assertion), so after decryption the SP holds exactly the bytes that were signed.
//!
//! Randomness: the content key and IV come from openssl's CSPRNG (the one exception to `saml`'s "randomness only
//! from `new_id`"); nothing else here is non-deterministic.

use openssl::encrypt::Encrypter;
use openssl::rsa::Padding;
use openssl::symm::Cipher;

use crate::saml::keys::Certificate;
use crate::saml::sign::DSIG_NS;
use crate::saml::xml::CanonicalWriter;
use crate::saml::{DataEncryption, Error};

pub const XENC_NS: &str = "http://www.w3.org/2001/04/xmlenc#";
pub const ELEMENT: &str = "http://www.w3.org/2001/04/xmlenc#Element";
pub const AES256_GCM: &str = "http://www.w3.org/2009/xmlenc11#aes256-gcm";
pub const AES256_CBC: &str = "http://www.w3.org/2001/04/xmlenc#aes256-cbc";
pub const RSA_OAEP_MGF1P: &str = "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p";
pub const SHA1: &str = "http://www.w3.org/2000/09/xmldsig#sha1";

/// How to encrypt for one SP.
#[derive(Debug, Clone)]
pub struct Encryption {
    /// The SP's encryption certificate (from its metadata).
    pub cert: Certificate,
    pub data: DataEncryption,
    /// Encrypt the assertion (as `saml:EncryptedAssertion`).
    pub encrypts_assertion: bool,
    /// Encrypt the NameID (as `saml:EncryptedID`) inside the assertion.
    pub encrypts_name_id: bool,
}

impl DataEncryption {
    pub fn algorithm(self) -> &'static str {
        match self {
            Self::Aes256Gcm => AES256_GCM,
            Self::Aes256Cbc => AES256_CBC,
        }
    }
}

/// Encrypts the canonical element `plaintext` into an `xenc:EncryptedData` of type Element, with the content key
/// in an `xenc:EncryptedKey` inside its `ds:KeyInfo`.
pub fn encrypted_data(plaintext: &str, e: &Encryption) -> Result<String, Error> {
    let mut key = [0_u8; 32];
    openssl::rand::rand_bytes(&mut key).map_err(Error::crypto("content key"))?;
    let cipher_value = match e.data {
        // xmlenc-core1 §5.2.4: the IV (96 bits), then the ciphertext, then the 128-bit tag.
        DataEncryption::Aes256Gcm => {
            let mut iv = [0_u8; 12];
            openssl::rand::rand_bytes(&mut iv).map_err(Error::crypto("IV"))?;
            let mut tag = [0_u8; 16];
            let ct = openssl::symm::encrypt_aead(
                Cipher::aes_256_gcm(),
                &key,
                Some(&iv),
                &[],
                plaintext.as_bytes(),
                &mut tag,
            )
            .map_err(Error::crypto("AES-GCM"))?;
            [&iv[..], &ct, &tag].concat()
        }
        // xmlenc-core §5.2: the IV, then the ciphertext; PKCS#7 padding satisfies xmlenc's padding rule.
        DataEncryption::Aes256Cbc => {
            let mut iv = [0_u8; 16];
            openssl::rand::rand_bytes(&mut iv).map_err(Error::crypto("IV"))?;
            let ct = openssl::symm::encrypt(Cipher::aes_256_cbc(), &key, Some(&iv), plaintext.as_bytes())
                .map_err(Error::crypto("AES-CBC"))?;
            [&iv[..], &ct].concat()
        }
    };
    let public = e.cert.public_key()?;
    let mut encrypter = Encrypter::new(&public).map_err(Error::crypto("key transport"))?;
    encrypter.set_rsa_padding(Padding::PKCS1_OAEP).map_err(Error::crypto("key transport"))?;
    let mut wrapped = vec![0_u8; encrypter.encrypt_len(&key).map_err(Error::crypto("key transport"))?];
    let n = encrypter.encrypt(&key, &mut wrapped).map_err(Error::crypto("key transport"))?;
    wrapped.truncate(n);

    let mut w = CanonicalWriter::new();
    w.open("xenc:EncryptedData", &[("xenc", XENC_NS)], &[("Type", ELEMENT)]);
    w.empty("xenc:EncryptionMethod", &[], &[("Algorithm", e.data.algorithm())]);
    w.open("ds:KeyInfo", &[("ds", DSIG_NS)], &[]);
    w.open("xenc:EncryptedKey", &[], &[]);
    w.open("xenc:EncryptionMethod", &[], &[("Algorithm", RSA_OAEP_MGF1P)]);
    w.empty("ds:DigestMethod", &[], &[("Algorithm", SHA1)]);
    w.close("xenc:EncryptionMethod");
    w.open("xenc:CipherData", &[], &[]);
    w.leaf("xenc:CipherValue", &[], &[], &openssl::base64::encode_block(&wrapped));
    w.close("xenc:CipherData");
    w.close("xenc:EncryptedKey");
    w.close("ds:KeyInfo");
    w.open("xenc:CipherData", &[], &[]);
    w.leaf("xenc:CipherValue", &[], &[], &openssl::base64::encode_block(&cipher_value));
    w.close("xenc:CipherData");
    w.close("xenc:EncryptedData");
    Ok(w.finish())
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use openssl::encrypt::Decrypter;

    use super::*;
    use crate::saml::keys::SigningKey;

    fn cipher_values(xml: &str) -> Vec<Vec<u8>> {
        let doc = roxmltree::Document::parse(xml).unwrap();
        doc.descendants()
            .filter(|n| n.tag_name().name() == "CipherValue")
            .map(|n| openssl::base64::decode_block(n.text().unwrap()).unwrap())
            .collect()
    }

    fn decrypt(xml: &str, sp: &SigningKey, data: DataEncryption) -> String {
        let [wrapped, value] = cipher_values(xml).try_into().unwrap();
        let mut d = Decrypter::new(&sp.key).unwrap();
        d.set_rsa_padding(Padding::PKCS1_OAEP).unwrap();
        let mut key = vec![0; d.decrypt_len(&wrapped).unwrap()];
        let n = d.decrypt(&wrapped, &mut key).unwrap();
        key.truncate(n);
        let plain = match data {
            DataEncryption::Aes256Gcm => {
                let (iv, rest) = value.split_at(12);
                let (ct, tag) = rest.split_at(rest.len() - 16);
                openssl::symm::decrypt_aead(Cipher::aes_256_gcm(), &key, Some(iv), &[], ct, tag).unwrap()
            }
            DataEncryption::Aes256Cbc => {
                let (iv, ct) = value.split_at(16);
                openssl::symm::decrypt(Cipher::aes_256_cbc(), &key, Some(iv), ct).unwrap()
            }
        };
        String::from_utf8(plain).unwrap()
    }

    #[test]
    fn encrypts_for_the_sp_key_only_with_each_algorithm() {
        let sp = SigningKey::generate("sp", Utc::now(), 1).unwrap();
        let element = r#"<saml:NameID xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">a&amp;b</saml:NameID>"#;
        for data in [DataEncryption::Aes256Gcm, DataEncryption::Aes256Cbc] {
            let e = Encryption { cert: sp.cert.clone(), data, encrypts_assertion: true, encrypts_name_id: false };
            let xml = encrypted_data(element, &e).unwrap();
            assert!(xml.contains(data.algorithm()) && xml.contains(RSA_OAEP_MGF1P));
            assert!(!xml.contains("a&amp;b"));
            assert_eq!(decrypt(&xml, &sp, data), element);
            // A fresh key each time: the same plaintext never gives the same ciphertext.
            assert_ne!(cipher_values(&xml), cipher_values(&encrypted_data(element, &e).unwrap()));
        }
    }
}
