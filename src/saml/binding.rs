//! The HTTP-Redirect and HTTP-POST bindings for incoming requests (SAML Bindings §3.4, §3.5).
//!
//! The Redirect signature covers the query bytes exactly as the SP sent them (Bindings §3.4.4.1), so this module
//! works on the raw query string and never re-encodes it. samael's `UrlVerifier` is not used: it re-encodes the
//! query and panics on missing parameters (notes/rust-stack.md P3, P4).

use std::io::Read;

use base64::Engine;
use openssl::hash::MessageDigest;
use openssl::sign::Verifier;

use crate::saml::keys::Certificate;
use crate::saml::Error;

/// The largest SAMLRequest we accept in a query string or form field, before decoding.
pub const MAX_ENCODED: usize = 64 * 1024;
/// The largest XML document we accept after base64 and DEFLATE decoding.
pub const MAX_XML: usize = 64 * 1024;
/// The largest RelayState we accept. The Bindings spec asks senders for 80 bytes, but widely deployed SPs send
/// whole return URLs, so only far larger values are refused (notes/saml-security.md).
pub const MAX_RELAY_STATE: usize = 4 * 1024;

/// A request received by either binding, decoded to XML but not yet parsed.
#[derive(Debug)]
pub struct Received {
    pub xml: String,
    pub relay_state: Option<String>,
    /// Present when the Redirect binding carried `SigAlg` and `Signature`.
    pub redirect_signature: Option<RedirectSignature>,
}

#[derive(Debug)]
pub struct RedirectSignature {
    pub sig_alg: String,
    /// `SAMLRequest=…&RelayState=…&SigAlg=…` as it appeared in the query.
    pub signed_octets: String,
    pub signature: Vec<u8>,
}

/// The signature algorithms we accept on Redirect requests. SHA-1 only where an application allows it.
pub fn digest_for(sig_alg: &str, allow_sha1: bool) -> Result<MessageDigest, Error> {
    match sig_alg {
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256" | "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256" => {
            Ok(MessageDigest::sha256())
        }
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384" | "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384" => {
            Ok(MessageDigest::sha384())
        }
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512" | "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512" => {
            Ok(MessageDigest::sha512())
        }
        "http://www.w3.org/2000/09/xmldsig#rsa-sha1" if allow_sha1 => Ok(MessageDigest::sha1()),
        other => Err(Error::WeakAlgorithm { alg: other.chars().take(120).collect() }),
    }
}

/// Decodes an HTTP-Redirect request from the raw query string (without the leading `?`).
pub fn decode_redirect(raw_query: &str) -> Result<Received, Error> {
    decode_redirect_message(raw_query, "SAMLRequest")
}

/// `decode_redirect` for a message carried in `param`: `SAMLRequest`, or `SAMLResponse` (a LogoutResponse).
pub fn decode_redirect_message(raw_query: &str, param: &'static str) -> Result<Received, Error> {
    if raw_query.len() > MAX_ENCODED + MAX_RELAY_STATE * 3 + 8 * 1024 {
        return Err(Error::TooLarge { limit: MAX_ENCODED });
    }
    let mut saml_request = None;
    let mut relay_state = None;
    let mut sig_alg = None;
    let mut signature = None;
    for pair in raw_query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let slot = match key {
            k if k == param => &mut saml_request,
            "RelayState" => &mut relay_state,
            "SigAlg" => &mut sig_alg,
            "Signature" => &mut signature,
            _ => continue,
        };
        if slot.replace(value).is_some() {
            return Err(Error::RepeatedParameter { name: parameter_name(key) });
        }
    }
    let Some(raw_request) = saml_request else {
        return Err(Error::InvalidField {
            field: if param == "SAMLRequest" { "SAMLRequest parameter" } else { "SAMLResponse parameter" },
        });
    };
    if raw_request.len() > MAX_ENCODED {
        return Err(Error::TooLarge { limit: MAX_ENCODED });
    }
    let compressed = decode_base64(&percent_decode(raw_request, false)?)?;
    let xml = inflate(&compressed)?;
    let relay = relay_state.map(|r| percent_decode(r, true)).transpose()?;
    check_relay_state(relay.as_deref())?;

    let redirect_signature = match (sig_alg, signature) {
        (None, None) => None,
        (Some(_), None) => return Err(Error::IncompleteSignature { present: "SigAlg", missing: "Signature" }),
        (None, Some(_)) => return Err(Error::IncompleteSignature { present: "Signature", missing: "SigAlg" }),
        (Some(alg), Some(sig)) => {
            // Bindings §3.4.4.1: the octets are the parameters in this order, each as it was in the query.
            let mut signed_octets = format!("{param}={raw_request}");
            if let Some(r) = relay_state {
                signed_octets.push_str("&RelayState=");
                signed_octets.push_str(r);
            }
            signed_octets.push_str("&SigAlg=");
            signed_octets.push_str(alg);
            Some(RedirectSignature {
                sig_alg: percent_decode(alg, true)?,
                signed_octets,
                signature: decode_base64(&percent_decode(sig, false)?)?,
            })
        }
    };
    Ok(Received { xml, relay_state: relay, redirect_signature })
}

/// Decodes an HTTP-POST request from its form fields (already form-decoded by the web layer).
pub fn decode_post(saml_request: &str, relay_state: Option<String>) -> Result<Received, Error> {
    if saml_request.len() > MAX_ENCODED {
        return Err(Error::TooLarge { limit: MAX_ENCODED });
    }
    let bytes = decode_base64(saml_request)?;
    if bytes.len() > MAX_XML {
        return Err(Error::TooLarge { limit: MAX_XML });
    }
    let xml = String::from_utf8(bytes).map_err(|_| Error::NotUtf8)?;
    check_relay_state(relay_state.as_deref())?;
    Ok(Received { xml, relay_state, redirect_signature: None })
}

/// Encodes a message we send by HTTP-POST (Bindings §3.5.4): base64 of the exact bytes (signed bytes are never
/// re-serialised).
pub fn encode_post(xml: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(xml.as_bytes())
}

/// Encodes a message we send by HTTP-Redirect (Bindings §3.4.4): DEFLATE, base64, URL-encoding, and the
/// RSA-SHA256 signature over `param=…&RelayState=…&SigAlg=…` exactly as the query carries them. Returns the query
/// string (without `?`).
pub fn encode_redirect(
    param: &str,
    xml: &str,
    relay_state: Option<&str>,
    key: &crate::saml::keys::SigningKey,
) -> Result<String, Error> {
    use std::io::Write;
    let encode = |v: &[u8]| -> String { url::form_urlencoded::byte_serialize(v).collect() };
    let mut deflater = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    deflater.write_all(xml.as_bytes()).map_err(|_| Error::InvalidField { field: "DEFLATE" })?;
    let compressed = deflater.finish().map_err(|_| Error::InvalidField { field: "DEFLATE" })?;
    let mut query =
        format!("{param}={}", encode(base64::engine::general_purpose::STANDARD.encode(compressed).as_bytes()));
    if let Some(relay) = relay_state {
        query.push_str("&RelayState=");
        query.push_str(&encode(relay.as_bytes()));
    }
    query.push_str("&SigAlg=");
    query.push_str(&encode(crate::saml::sign::RSA_SHA256.as_bytes()));
    let mut signer = openssl::sign::Signer::new(MessageDigest::sha256(), &key.key).map_err(Error::crypto("signer"))?;
    signer.update(query.as_bytes()).map_err(Error::crypto("sign"))?;
    let signature = signer.sign_to_vec().map_err(Error::crypto("sign"))?;
    query.push_str("&Signature=");
    query.push_str(&encode(base64::engine::general_purpose::STANDARD.encode(signature).as_bytes()));
    Ok(query)
}

/// Checks a Redirect signature against each registered SP certificate; one match is enough.
pub fn verify_redirect_signature(
    sig: &RedirectSignature,
    certs: &[Certificate],
    allow_sha1: bool,
) -> Result<(), Error> {
    let digest = digest_for(&sig.sig_alg, allow_sha1)?;
    for cert in certs {
        let key = cert.public_key()?;
        let mut verifier = Verifier::new(digest, &key).map_err(Error::crypto("verifier"))?;
        verifier.update(sig.signed_octets.as_bytes()).map_err(Error::crypto("verify"))?;
        // An error from verify means a malformed signature for this key, which is a mismatch, not a crash.
        if verifier.verify(&sig.signature).unwrap_or(false) {
            return Ok(());
        }
    }
    Err(Error::BadSignature)
}

fn parameter_name(key: &str) -> &'static str {
    match key {
        "SAMLRequest" => "SAMLRequest",
        "SAMLResponse" => "SAMLResponse",
        "RelayState" => "RelayState",
        "SigAlg" => "SigAlg",
        _ => "Signature",
    }
}

fn check_relay_state(relay_state: Option<&str>) -> Result<(), Error> {
    match relay_state {
        Some(r) if r.len() > MAX_RELAY_STATE => Err(Error::TooLarge { limit: MAX_RELAY_STATE }),
        _ => Ok(()),
    }
}

/// Percent-decodes one query value. `plus_is_space` applies form encoding; base64 values never contain spaces, so
/// there a `+` is kept as the base64 character an encoder failed to escape.
fn percent_decode(raw: &str, plus_is_space: bool) -> Result<String, Error> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'%' => {
                // Two hex digits (RFC 3986 §2.1); `from_str_radix` alone would also take a sign, as in `%+1`.
                let hex = bytes
                    .get(i + 1..i + 3)
                    .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
                    .ok_or(Error::InvalidField { field: "query encoding" })?;
                let hex = std::str::from_utf8(hex).map_err(|_| Error::InvalidField { field: "query encoding" })?;
                let value = u8::from_str_radix(hex, 16).map_err(|_| Error::InvalidField { field: "query encoding" })?;
                out.push(value);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| Error::NotUtf8)
}

fn decode_base64(value: &str) -> Result<Vec<u8>, Error> {
    // Some SPs wrap base64 at 64 or 76 columns; line breaks and spaces carry no data.
    let cleaned: String = value.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    base64::engine::general_purpose::STANDARD.decode(cleaned).map_err(|_| Error::BadBase64)
}

/// Raw DEFLATE (RFC 1951) with a cap on the inflated size, so a small request cannot expand into a large one.
fn inflate(compressed: &[u8]) -> Result<String, Error> {
    let mut decoder = flate2::read::DeflateDecoder::new(compressed).take(MAX_XML as u64 + 1);
    let mut out = Vec::new();
    decoder.read_to_end(&mut out).map_err(|_| Error::BadDeflate)?;
    if out.len() > MAX_XML {
        return Err(Error::TooLarge { limit: MAX_XML });
    }
    String::from_utf8(out).map_err(|_| Error::NotUtf8)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn deflate_b64(xml: &str) -> String {
        let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(xml.as_bytes()).unwrap();
        base64::engine::general_purpose::STANDARD.encode(enc.finish().unwrap())
    }

    fn encode(value: &str) -> String {
        url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
    }

    #[test]
    fn decodes_request_and_relay_state() {
        let q = format!("SAMLRequest={}&RelayState={}", encode(&deflate_b64("<x/>")), encode("/a b?c=d&e"));
        let got = decode_redirect(&q).unwrap();
        assert_eq!(got.xml, "<x/>");
        assert_eq!(got.relay_state.as_deref(), Some("/a b?c=d&e"));
        assert!(got.redirect_signature.is_none());
    }

    /// Parameter pollution: a second SAMLRequest could be read by one component and verified by another.
    #[test]
    fn rejects_repeated_parameters() {
        let r = encode(&deflate_b64("<x/>"));
        let err = decode_redirect(&format!("SAMLRequest={r}&SAMLRequest={r}")).unwrap_err();
        assert!(matches!(err, Error::RepeatedParameter { name: "SAMLRequest" }));
    }

    /// samael's verifier panics here (notes/rust-stack.md P4); we answer with an error.
    #[test]
    fn rejects_sig_alg_without_signature() {
        let q = format!("SAMLRequest={}&SigAlg=x", encode(&deflate_b64("<x/>")));
        assert!(matches!(decode_redirect(&q), Err(Error::IncompleteSignature { missing: "Signature", .. })));
    }

    /// Decompression bomb: a few kilobytes that inflate to megabytes.
    #[test]
    fn caps_inflated_size() {
        let bomb = "a".repeat(MAX_XML * 20);
        let q = format!("SAMLRequest={}", encode(&deflate_b64(&bomb)));
        assert!(matches!(decode_redirect(&q), Err(Error::TooLarge { .. })));
    }

    #[test]
    fn rejects_malformed_encodings() {
        assert!(matches!(decode_redirect("SAMLRequest=%%%"), Err(Error::InvalidField { .. })));
        assert!(matches!(decode_redirect("SAMLRequest=!!!!"), Err(Error::BadBase64)));
        let not_deflate = base64::engine::general_purpose::STANDARD.encode([0xffu8; 32]);
        assert!(matches!(decode_redirect(&format!("SAMLRequest={}", encode(&not_deflate))), Err(Error::BadDeflate)));
        assert!(matches!(decode_redirect("RelayState=x"), Err(Error::InvalidField { .. })));
    }

    /// A percent escape is two hex digits: `%+1` or `%-0` is malformed, not a byte that a stricter decoder
    /// elsewhere (a proxy, the SP) would read differently.
    #[test]
    fn rejects_signed_percent_escapes() {
        let r = encode(&deflate_b64("<x/>"));
        for bad in ["%+1", "%-0", "%+f"] {
            let q = format!("SAMLRequest={r}&RelayState=a{bad}b");
            assert!(matches!(decode_redirect(&q), Err(Error::InvalidField { field: "query encoding" })), "{bad}");
        }
        assert_eq!(decode_redirect(&format!("SAMLRequest={r}&RelayState=a%2Fb")).unwrap().relay_state.unwrap(), "a/b");
    }

    #[test]
    fn keeps_signed_octets_as_sent() {
        let r = encode(&deflate_b64("<x/>")).replace("%2B", "%2b").replace("%2F", "%2f").replace("%3D", "%3d");
        let q = format!("SigAlg=alg%3a1&SAMLRequest={r}&Signature=AAAA&RelayState=r%2bs");
        let got = decode_redirect(&q).unwrap_or_else(|e| panic!("{e}"));
        let sig = got.redirect_signature.unwrap();
        assert_eq!(sig.signed_octets, format!("SAMLRequest={r}&RelayState=r%2bs&SigAlg=alg%3a1"));
        assert_eq!(sig.sig_alg, "alg:1");
    }
}
