//! Enveloped XML signatures (RSA-SHA256, exclusive c14n, SHA-256 digest) over XML that `saml::xml` wrote.
//!
//! Because the writer emits canonical XML, the digest is a hash of the element's bytes as we ship them (without
//! the signature, which the enveloped-signature transform removes), and `SignedInfo` is signed as the string we
//! build. The private key stays parsed in memory, so one response costs one RSA operation per signature.
//! `tests/` prove with xmlsec1 and pysaml2 that every response shape verifies.
//!
//! Invariant: a signed element is never re-parsed or re-serialised after signing; callers ship the returned bytes.

use openssl::hash::MessageDigest;
use openssl::sign::Signer;

use crate::saml::keys::SigningKey;
use crate::saml::xml::CanonicalWriter;
use crate::saml::Error;

pub const DSIG_NS: &str = "http://www.w3.org/2000/09/xmldsig#";
pub const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
pub const ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
pub const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
pub const SHA256: &str = "http://www.w3.org/2001/04/xmlenc#sha256";

/// Signs the canonical element `element` whose `ID` is `id`, inserting the `ds:Signature` at byte offset
/// `insert_at` (right after the element's `Issuer`, as SAML Core §5.4.1 and the schema order require).
pub fn sign_enveloped(element: &str, id: &str, insert_at: usize, key: &SigningKey) -> Result<String, Error> {
    let (Some(head), Some(tail)) = (element.get(..insert_at), element.get(insert_at..)) else {
        return Err(Error::InvalidField { field: "signature position" });
    };
    let digest = openssl::hash::hash(MessageDigest::sha256(), element.as_bytes()).map_err(Error::crypto("digest"))?;
    let digest = openssl::base64::encode_block(&digest);

    // The canonical form of SignedInfo as its own apex carries the ds namespace declaration (exc-c14n §3).
    let apex = signed_info(id, &digest, true);
    let mut signer = Signer::new(MessageDigest::sha256(), &key.key).map_err(Error::crypto("signer"))?;
    signer.update(apex.as_bytes()).map_err(Error::crypto("sign"))?;
    let signature = signer.sign_to_vec().map_err(Error::crypto("sign"))?;

    let mut w = CanonicalWriter::new();
    w.raw(head);
    w.open("ds:Signature", &[("ds", DSIG_NS)], &[]);
    w.raw(&signed_info(id, &digest, false));
    w.leaf("ds:SignatureValue", &[], &[], &openssl::base64::encode_block(&signature));
    w.open("ds:KeyInfo", &[], &[]);
    w.open("ds:X509Data", &[], &[]);
    w.leaf("ds:X509Certificate", &[], &[], &key.cert.to_base64());
    w.close("ds:X509Data");
    w.close("ds:KeyInfo");
    w.close("ds:Signature");
    w.raw(tail);
    Ok(w.finish())
}

fn signed_info(id: &str, digest: &str, as_apex: bool) -> String {
    let reference = format!("#{id}");
    let mut w = CanonicalWriter::new();
    let ns: &[(&str, &str)] = if as_apex { &[("ds", DSIG_NS)] } else { &[] };
    w.open("ds:SignedInfo", ns, &[]);
    w.empty("ds:CanonicalizationMethod", &[], &[("Algorithm", EXC_C14N)]);
    w.empty("ds:SignatureMethod", &[], &[("Algorithm", RSA_SHA256)]);
    w.open("ds:Reference", &[], &[("URI", &reference)]);
    w.open("ds:Transforms", &[], &[]);
    w.empty("ds:Transform", &[], &[("Algorithm", ENVELOPED)]);
    w.empty("ds:Transform", &[], &[("Algorithm", EXC_C14N)]);
    w.close("ds:Transforms");
    w.empty("ds:DigestMethod", &[], &[("Algorithm", SHA256)]);
    w.leaf("ds:DigestValue", &[], &[], digest);
    w.close("ds:Reference");
    w.close("ds:SignedInfo");
    w.finish()
}
