//! A software WebAuthn authenticator for the tests: a P-256 key, the "none" attestation, and the client data a
//! browser would send, built by hand (CBOR included), so a test chooses the origin, the flags and the signature
//! counter, which a real authenticator would not let it do.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use openssl::bn::{BigNum, BigNumContext};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::sign::Signer;
use serde_json::{json, Value};

/// User present, user verified, attested credential data included (WebAuthn §6.1).
const UP: u8 = 0x01;
const UV: u8 = 0x04;
const AT: u8 = 0x40;

pub struct SoftKey {
    key: PKey<Private>,
    pub credential_id: Vec<u8>,
    /// The user handle the relying party gave at registration (sent back by a discoverable credential).
    pub user_handle: Vec<u8>,
    rp_id: String,
    /// Whether the user is verified (a PIN or biometric) in what this key signs.
    pub verifies_user: bool,
}

impl SoftKey {
    pub fn new(rp_id: &str) -> Self {
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
        let key = PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap();
        let credential_id: [u8; 32] = rand::random();
        Self {
            key,
            credential_id: credential_id.to_vec(),
            user_handle: Vec::new(),
            rp_id: rp_id.into(),
            verifies_user: true,
        }
    }

    /// The browser's answer to `navigator.credentials.create(options)` made on `origin`.
    pub fn register(&mut self, options: &Value, origin: &str) -> String {
        let public_key = &options["publicKey"];
        self.user_handle = URL_SAFE_NO_PAD.decode(public_key["user"]["id"].as_str().unwrap()).unwrap();
        let challenge = public_key["challenge"].as_str().unwrap();
        let client_data = client_data("webauthn.create", challenge, origin);
        let mut auth_data = self.auth_data(UP | self.uv() | AT, 0);
        auth_data.extend_from_slice(&[0; 16]); // AAGUID: none.
        auth_data.extend_from_slice(&u16::try_from(self.credential_id.len()).unwrap().to_be_bytes());
        auth_data.extend_from_slice(&self.credential_id);
        auth_data.extend_from_slice(&self.cose_key());
        let mut attestation = map_head(3);
        attestation.extend(text("fmt"));
        attestation.extend(text("none"));
        attestation.extend(text("attStmt"));
        attestation.extend(map_head(0));
        attestation.extend(text("authData"));
        attestation.extend(bytes(&auth_data));
        let id = URL_SAFE_NO_PAD.encode(&self.credential_id);
        json!({
            "id": id,
            "rawId": id,
            "type": "public-key",
            "response": {
                "attestationObject": URL_SAFE_NO_PAD.encode(attestation),
                "clientDataJSON": URL_SAFE_NO_PAD.encode(client_data),
            },
            "extensions": {},
        })
        .to_string()
    }

    /// The browser's answer to `navigator.credentials.get(options)` made on `origin`, with this signature counter.
    pub fn assert(&self, options: &Value, origin: &str, counter: u32) -> String {
        let challenge = options["publicKey"]["challenge"].as_str().unwrap();
        let client_data = client_data("webauthn.get", challenge, origin);
        let auth_data = self.auth_data(UP | self.uv(), counter);
        let mut signed = auth_data.clone();
        signed.extend_from_slice(&openssl::sha::sha256(&client_data));
        let mut signer = Signer::new(MessageDigest::sha256(), &self.key).unwrap();
        signer.update(&signed).unwrap();
        let signature = signer.sign_to_vec().unwrap();
        let id = URL_SAFE_NO_PAD.encode(&self.credential_id);
        json!({
            "id": id,
            "rawId": id,
            "type": "public-key",
            "response": {
                "authenticatorData": URL_SAFE_NO_PAD.encode(auth_data),
                "clientDataJSON": URL_SAFE_NO_PAD.encode(client_data),
                "signature": URL_SAFE_NO_PAD.encode(signature),
                "userHandle": URL_SAFE_NO_PAD.encode(&self.user_handle),
            },
            "extensions": {},
        })
        .to_string()
    }

    fn uv(&self) -> u8 {
        if self.verifies_user {
            UV
        } else {
            0
        }
    }

    fn auth_data(&self, flags: u8, counter: u32) -> Vec<u8> {
        let mut data = openssl::sha::sha256(self.rp_id.as_bytes()).to_vec();
        data.push(flags);
        data.extend_from_slice(&counter.to_be_bytes());
        data
    }

    /// The public key as a COSE_Key (RFC 9052): EC2, ES256, P-256, x and y.
    fn cose_key(&self) -> Vec<u8> {
        let ec = self.key.ec_key().unwrap();
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
        let (mut x, mut y) = (BigNum::new().unwrap(), BigNum::new().unwrap());
        let mut ctx = BigNumContext::new().unwrap();
        ec.public_key().affine_coordinates(&group, &mut x, &mut y, &mut ctx).unwrap();
        let mut cose = map_head(5);
        cose.extend(int(1));
        cose.extend(int(2));
        cose.extend(int(3));
        cose.extend(int(-7));
        cose.extend(int(-1));
        cose.extend(int(1));
        cose.extend(int(-2));
        cose.extend(bytes(&x.to_vec_padded(32).unwrap()));
        cose.extend(int(-3));
        cose.extend(bytes(&y.to_vec_padded(32).unwrap()));
        cose
    }
}

fn client_data(kind: &str, challenge: &str, origin: &str) -> Vec<u8> {
    json!({ "type": kind, "challenge": challenge, "origin": origin, "crossOrigin": false }).to_string().into_bytes()
}

/// A CBOR head (RFC 8949 §3): major type and argument.
fn head(major: u8, n: u64) -> Vec<u8> {
    let m = major << 5;
    match n {
        0..=23 => vec![m | u8::try_from(n).unwrap()],
        24..=0xff => vec![m | 24, u8::try_from(n).unwrap()],
        0x100..=0xffff => {
            let mut v = vec![m | 25];
            v.extend_from_slice(&u16::try_from(n).unwrap().to_be_bytes());
            v
        }
        _ => {
            let mut v = vec![m | 26];
            v.extend_from_slice(&u32::try_from(n).unwrap().to_be_bytes());
            v
        }
    }
}

fn int(n: i64) -> Vec<u8> {
    if n >= 0 {
        head(0, n.unsigned_abs())
    } else {
        head(1, (-1 - n).unsigned_abs())
    }
}

fn bytes(b: &[u8]) -> Vec<u8> {
    let mut v = head(2, b.len() as u64);
    v.extend_from_slice(b);
    v
}

fn text(s: &str) -> Vec<u8> {
    let mut v = head(3, s.len() as u64);
    v.extend_from_slice(s.as_bytes());
    v
}

fn map_head(n: u64) -> Vec<u8> {
    head(5, n)
}
