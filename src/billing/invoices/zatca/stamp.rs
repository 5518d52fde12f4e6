//! The cryptographic stamp of ZATCA phase 2: the taxpayer's ECDSA key on secp256k1 and the
//! X.509 certificate ZATCA issued for it (the CSID). Each invoice carries a signature made
//! with the key, the certificate, and the certificate's issuer, serial, public key and
//! signature in the forms the XAdES block and the QR code use.
//!
//! The key and certificate are read from files named in configuration, never kept in the
//! repository; a development stamp (fresh key, self-signed certificate) stands in when
//! phase 2 is not enabled.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use base64::Engine;
use k256::ecdsa::signature::Signer;
use k256::ecdsa::{DerSignature, SigningKey, VerifyingKey};
use k256::elliptic_curve::Generate;
use k256::elliptic_curve::zeroize::Zeroizing;
use k256::pkcs8::{DecodePrivateKey, DecodePublicKey};
use x509_cert::Certificate;
use x509_cert::builder::profile::BuilderProfile;
use x509_cert::builder::{Builder, CertificateBuilder};
use x509_cert::certificate::TbsCertificate;
use x509_cert::der::asn1::{Any, ObjectIdentifier};
use x509_cert::der::{Decode, Encode, Tag, Tagged};
use x509_cert::ext::Extension;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::{SubjectPublicKeyInfoOwned, SubjectPublicKeyInfoRef};
use x509_cert::time::Validity;

/// An ECDSA secp256k1 signing key and its X.509 certificate, with what invoices quote of
/// the certificate worked out once, when the stamp is loaded.
#[derive(Clone)]
pub struct Stamp {
    key: SigningKey,
    certificate_der: Vec<u8>,
    issuer: String,
    serial: String,
    public_key_der: Vec<u8>,
    certificate_signature: Vec<u8>,
}

/// Names the issuer and serial only: the key stays out of logs.
impl std::fmt::Debug for Stamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stamp")
            .field("issuer", &self.issuer)
            .field("serial", &self.serial)
            .finish_non_exhaustive()
    }
}

impl Stamp {
    /// From a PKCS#8 or SEC1 PEM private key file and a PEM (or base64 DER, as ZATCA's CSID
    /// answer gives it: its binarySecurityToken is base64 of base64 of the DER) certificate
    /// file; refuses a key that does not match the certificate.
    ///
    /// Also read: a key file of base64 DER without PEM lines, as ZATCA's SDK keeps it, with
    /// or without the `EC PARAMETERS` block `openssl ecparam -genkey` writes first; a
    /// certificate file of raw DER.
    pub fn from_files(private_key: &Path, certificate: &Path) -> anyhow::Result<Stamp> {
        let key_file =
            Zeroizing::new(std::fs::read(private_key).with_context(|| {
                format!("reading the ZATCA private key {}", private_key.display())
            })?);
        let key = read_private_key(&key_file)
            .with_context(|| format!("the ZATCA private key {}", private_key.display()))?;
        let certificate_file = std::fs::read(certificate)
            .with_context(|| format!("reading the ZATCA certificate {}", certificate.display()))?;
        let certificate_der = read_certificate(&certificate_file)
            .with_context(|| format!("the ZATCA certificate {}", certificate.display()))?;
        Stamp::new(key, certificate_der).with_context(|| {
            format!(
                "the ZATCA stamp {} with {}",
                private_key.display(),
                certificate.display()
            )
        })
    }

    /// A development stamp: a fresh key and a self-signed certificate whose subject and issuer
    /// are `CN=<VAT number>,O=<seller name>,C=SA`. For the demo and tests only: ZATCA accepts
    /// only what its CA signed, so it is never used when `zatca.enabled`.
    pub fn development(vat_number: &str, seller_name: &str) -> anyhow::Result<Stamp> {
        let key = new_key()?;
        let subject = name(&[
            (COUNTRY_NAME, Tag::PrintableString, "SA"),
            (ORGANIZATION_NAME, Tag::Utf8String, seller_name),
            (COMMON_NAME, Tag::Utf8String, vat_number),
        ])?;
        let mut serial = [0u8; 16];
        getrandom::fill(&mut serial).map_err(|e| anyhow!("no randomness: {e}"))?;
        // Positive and 16 bytes long: the high bit clear, the next one set.
        serial[0] = (serial[0] & 0x7f) | 0x40;
        let builder = CertificateBuilder::new(
            SelfSigned(subject),
            SerialNumber::new(&serial)?,
            Validity::from_now(DEVELOPMENT_VALIDITY)?,
            SubjectPublicKeyInfoOwned::from_key(key.verifying_key())?,
        )?;
        let certificate = builder
            .build::<_, DerSignature>(&key)
            .map_err(|e| anyhow!("signing the development certificate: {e}"))?;
        Stamp::new(key, certificate.to_der()?)
    }

    /// The key and the certificate, checked to belong together and read once.
    fn new(key: SigningKey, certificate_der: Vec<u8>) -> anyhow::Result<Stamp> {
        let certificate =
            Certificate::from_der(&certificate_der).context("not an X.509 certificate")?;
        let tbs = certificate.tbs_certificate();
        let public_key_der = tbs.subject_public_key_info().to_der()?;
        let certified = VerifyingKey::from_public_key_der(&public_key_der)
            .context("the certificate's key is not an EC key on secp256k1")?;
        if &certified != key.verifying_key() {
            bail!("the private key does not belong to the certificate");
        }
        let signature = certificate.signature();
        if signature.unused_bits() != 0 {
            bail!("the certificate's signature is not whole bytes");
        }
        Ok(Stamp {
            issuer: rfc4514(tbs.issuer())?,
            serial: serial_decimal(Any::from_der(&tbs.serial_number().to_der()?)?.value()),
            certificate_signature: signature.raw_bytes().to_vec(),
            public_key_der,
            certificate_der,
            key,
        })
    }

    /// The certificate, base64 DER: `ds:X509Certificate`, and the text its digest is taken of.
    pub fn certificate_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(&self.certificate_der)
    }

    /// The certificate's issuer as RFC 4514, exactly as Python's `cryptography` writes it
    /// (`cert.issuer.rfc4514_string()`): `ds:X509IssuerName`.
    pub fn issuer_rfc4514(&self) -> String {
        self.issuer.clone()
    }

    /// The certificate's serial number in decimal: `ds:X509SerialNumber`.
    pub fn serial_decimal(&self) -> String {
        self.serial.clone()
    }

    /// The certificate's SubjectPublicKeyInfo, DER: QR tag 8.
    pub fn public_key_der(&self) -> Vec<u8> {
        self.public_key_der.clone()
    }

    /// The certificate's signatureValue (its issuer's signature over it): QR tag 9.
    pub fn certificate_signature(&self) -> Vec<u8> {
        self.certificate_signature.clone()
    }

    /// ECDSA over SHA-256 of `message`, DER-encoded: `ds:SignatureValue` (of the 32 raw
    /// bytes of the invoice hash) and QR tag 7. Deterministic (RFC 6979).
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        let signature: DerSignature = self.key.sign(message);
        signature.as_bytes().to_vec()
    }
}

/// A fresh secp256k1 key from the system's random source.
pub(super) fn new_key() -> anyhow::Result<SigningKey> {
    SigningKey::try_generate().map_err(|e| anyhow!("no randomness for a key: {e}"))
}

/// Long enough for a demo database never to see it expire.
const DEVELOPMENT_VALIDITY: Duration = Duration::from_secs(10 * 366 * 24 * 60 * 60);

const COUNTRY_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.6");
const ORGANIZATION_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.10");
const COMMON_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.3");

/// A name of one attribute per RDN, in the order given (DER order: the country first).
/// Built from parts rather than parsed from an RFC 4514 string, so a seller's name needs
/// no escaping.
pub(super) fn name(attributes: &[(ObjectIdentifier, Tag, &str)]) -> anyhow::Result<Name> {
    let rdns = attributes
        .iter()
        .map(|&(oid, tag, value)| {
            let value = Any::new(tag, value.as_bytes())?;
            x509_cert::name::RelativeDistinguishedName::try_from(vec![
                x509_cert::attr::AttributeTypeAndValue { oid, value },
            ])
        })
        .collect::<Result<Vec<_>, _>>()?;
    // `Name` is built only by decoding (or behind x509-cert's `hazmat` feature).
    let sequence = x509_cert::name::RdnSequence::from(rdns);
    Ok(Name::from_der(&sequence.to_der()?)?)
}

/// A self-signed certificate without extensions (an X.509 v1 certificate).
struct SelfSigned(Name);

impl BuilderProfile for SelfSigned {
    fn get_issuer(&self, subject: &Name) -> Name {
        subject.clone()
    }

    fn get_subject(&self) -> Name {
        self.0.clone()
    }

    fn build_extensions(
        &self,
        _spk: SubjectPublicKeyInfoRef<'_>,
        _issuer_spk: SubjectPublicKeyInfoRef<'_>,
        _tbs: &TbsCertificate,
    ) -> x509_cert::builder::Result<Vec<Extension>> {
        Ok(Vec::new())
    }
}

/// The key from PEM (PKCS#8 `PRIVATE KEY` or SEC1 `EC PRIVATE KEY`), base64 DER or DER.
fn read_private_key(file: &[u8]) -> anyhow::Result<SigningKey> {
    let text = std::str::from_utf8(file).ok();
    let secret = match text.filter(|text| text.contains("-----BEGIN ")) {
        Some(text) => {
            if text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") {
                bail!("is encrypted; store it unencrypted with mode 0600 instead");
            }
            if let Some(der) = pem_block(text, "PRIVATE KEY") {
                k256::SecretKey::from_pkcs8_der(&der?).context("not a PKCS#8 secp256k1 key")?
            } else if let Some(der) = pem_block(text, "EC PRIVATE KEY") {
                k256::SecretKey::from_sec1_der(&der?).context("not a SEC1 secp256k1 key")?
            } else {
                bail!("has no PRIVATE KEY or EC PRIVATE KEY block");
            }
        }
        None => {
            let der = match text {
                Some(text) if !file.starts_with(&[DER_SEQUENCE]) => base64_der(text).ok(),
                _ => Some(Zeroizing::new(file.to_vec())),
            };
            der.and_then(|der| k256::SecretKey::from_der(&der).ok())
                .ok_or_else(|| anyhow!("not a PEM, base64 DER or DER secp256k1 private key"))?
        }
    };
    Ok(SigningKey::from(secret))
}

/// The certificate's DER from PEM, DER, base64 DER, or ZATCA's binarySecurityToken
/// (base64 of the base64 DER).
fn read_certificate(file: &[u8]) -> anyhow::Result<Vec<u8>> {
    if file.starts_with(&[DER_SEQUENCE]) {
        return Ok(file.to_vec());
    }
    let text = std::str::from_utf8(file).context("neither DER nor text")?;
    if text.contains("-----BEGIN ") {
        let der = pem_block(text, "CERTIFICATE").ok_or_else(|| anyhow!("no CERTIFICATE block"))?;
        return Ok(der?.to_vec());
    }
    let decoded = base64_der(text)?;
    if decoded.starts_with(&[DER_SEQUENCE]) {
        return Ok(decoded.to_vec());
    }
    let inner = std::str::from_utf8(&decoded)
        .ok()
        .and_then(|text| base64_der(text).ok())
        .filter(|der| der.starts_with(&[DER_SEQUENCE]))
        .ok_or_else(|| anyhow!("not a PEM, DER, base64 DER or binarySecurityToken certificate"))?;
    Ok(inner.to_vec())
}

/// A DER document starts with a SEQUENCE.
const DER_SEQUENCE: u8 = 0x30;

/// The decoded body of the first `-----BEGIN {label}-----` block, if there is one.
fn pem_block(text: &str, label: &str) -> Option<anyhow::Result<Zeroizing<Vec<u8>>>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let body = &text[text.find(&begin)? + begin.len()..];
    let Some(stop) = body.find(&end) else {
        return Some(Err(anyhow!("the {label} block has no END line")));
    };
    let body = &body[..stop];
    // RFC 1421 headers (`Proc-Type: 4,ENCRYPTED`, `DEK-Info: ...`) come with encryption.
    if body.contains(':') {
        return Some(Err(anyhow!(
            "the {label} block is encrypted; store it unencrypted with mode 0600 instead"
        )));
    }
    Some(base64_der(body))
}

/// base64 (line breaks and spaces allowed) to bytes.
fn base64_der(text: &str) -> anyhow::Result<Zeroizing<Vec<u8>>> {
    let compact: Zeroizing<String> =
        Zeroizing::new(text.chars().filter(|c| !c.is_ascii_whitespace()).collect());
    base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .map(Zeroizing::new)
        .context("not base64")
}

/// The attribute names Python's `cryptography` writes; every other attribute is written as
/// its dotted OID.
const RFC4514_NAMES: [(ObjectIdentifier, &str); 9] = [
    (COMMON_NAME, "CN"),
    (ObjectIdentifier::new_unwrap("2.5.4.7"), "L"),
    (ObjectIdentifier::new_unwrap("2.5.4.8"), "ST"),
    (ORGANIZATION_NAME, "O"),
    (ObjectIdentifier::new_unwrap("2.5.4.11"), "OU"),
    (COUNTRY_NAME, "C"),
    (ObjectIdentifier::new_unwrap("2.5.4.9"), "STREET"),
    (
        ObjectIdentifier::new_unwrap("0.9.2342.19200300.100.1.25"),
        "DC",
    ),
    (
        ObjectIdentifier::new_unwrap("0.9.2342.19200300.100.1.1"),
        "UID",
    ),
];

/// A name as Python's `cryptography` writes it (`Name.rfc4514_string()`), which the checker
/// compares with `X509IssuerName` byte for byte: RDNs last to first joined by ",",
/// attributes in DER order joined by "+", its own escaping (not x509-cert's `Display`,
/// which differs for control characters, "=" and multi-byte strings).
pub(super) fn rfc4514(name: &Name) -> anyhow::Result<String> {
    let mut rdns = name
        .iter_rdn()
        .map(|rdn| {
            rdn.iter()
                .map(|attribute| {
                    let key = RFC4514_NAMES
                        .iter()
                        .find(|(oid, _)| *oid == attribute.oid)
                        .map_or_else(|| attribute.oid.to_string(), |(_, key)| (*key).to_owned());
                    Ok(format!("{key}={}", rfc4514_value(&attribute.value)?))
                })
                .collect::<anyhow::Result<Vec<_>>>()
                .map(|attributes| attributes.join("+"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    rdns.reverse();
    Ok(rdns.join(","))
}

/// One value, decoded as `cryptography` decodes it (BMPString as UTF-16, a BIT STRING as "#"
/// and the hex of its content, any other string type as UTF-8) and escaped as its `_escape_dn_value` does. (A
/// UniversalString never gets here: x509-cert does not read certificates that use one.)
fn rfc4514_value(value: &Any) -> anyhow::Result<String> {
    let bytes = value.value();
    let text = match value.tag() {
        // `cryptography` hands a BIT STRING over whole: its unused-bits octet too.
        Tag::BitString => return Ok(format!("#{}", hex(bytes))),
        Tag::BmpString => {
            let units: Vec<u16> = bytes
                .chunks(2)
                .map(|pair| match pair {
                    [high, low] => Ok(u16::from_be_bytes([*high, *low])),
                    _ => Err(anyhow!("a BMPString of an odd length")),
                })
                .collect::<anyhow::Result<_>>()?;
            String::from_utf16(&units).context("a BMPString that is not UTF-16")?
        }
        _ => std::str::from_utf8(bytes)
            .context("a name value that is not UTF-8")?
            .to_owned(),
    };
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' | '"' | '+' | ',' | ';' | '<' | '>' => {
                escaped.push('\\');
                escaped.push(c);
            }
            '\0' => escaped.push_str("\\00"),
            _ => escaped.push(c),
        }
    }
    if escaped.starts_with('#') || (escaped.starts_with(' ') && escaped.len() > 1) {
        escaped.insert(0, '\\');
    }
    if escaped.ends_with(' ') {
        escaped.pop();
        escaped.push_str("\\ ");
    }
    Ok(escaped)
}

pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A DER INTEGER's content (two's complement, big-endian) in decimal.
fn serial_decimal(content: &[u8]) -> String {
    let negative = content.first().is_some_and(|b| b & 0x80 != 0);
    let mut magnitude = content.to_vec();
    if negative {
        // Two's complement: invert and add one.
        for byte in &mut magnitude {
            *byte = !*byte;
        }
        for byte in magnitude.iter_mut().rev() {
            let (sum, carry) = byte.overflowing_add(1);
            *byte = sum;
            if !carry {
                break;
            }
        }
    }
    // Long division by ten, most significant byte first, until nothing is left.
    let mut digits = Vec::new();
    while magnitude.iter().any(|&b| b != 0) {
        let mut remainder = 0u16;
        for byte in &mut magnitude {
            let value = (remainder << 8) | u16::from(*byte);
            *byte = (value / 10) as u8;
            remainder = value % 10;
        }
        digits.push(b'0' + remainder as u8);
    }
    if digits.is_empty() {
        digits.push(b'0');
    }
    if negative {
        digits.push(b'-');
    }
    digits.reverse();
    String::from_utf8(digits).unwrap_or_default()
}

#[cfg(test)]
pub(super) mod tests {
    use std::path::PathBuf;

    use k256::ecdsa::signature::Verifier;
    use k256::pkcs8::{EncodePrivateKey, LineEnding};
    use sha2::{Digest, Sha256};
    use x509_cert::der::EncodePem;

    use super::*;

    const BASE64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;
    const VAT: &str = "310122393500003";
    /// Every character RFC 4514 escapes, an "=" it does not, and Arabic.
    const SELLER: &str = r#"مكتب وسيط, للخدمات+الإلكترونية="ذ.م.م" <الرياض>; فرع\1"#;

    /// A directory of its own under the system's temporary one, removed when dropped.
    pub(in crate::billing::invoices) struct Scratch(pub PathBuf);

    impl Scratch {
        pub fn new() -> Scratch {
            let dir = std::env::temp_dir().join(format!("wasit-zatca-{}", uuid::Uuid::new_v4()));
            std::fs::create_dir_all(&dir).unwrap();
            Scratch(dir)
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// The output of `script` run by the Python in WASIT_TEST_PYTHON (one with
    /// `cryptography`), or None, with a note, when it is not set.
    pub(in crate::billing::invoices) fn python(script: &str, args: &[String]) -> Option<String> {
        let Some(python) = std::env::var_os("WASIT_TEST_PYTHON") else {
            eprintln!(
                "WASIT_TEST_PYTHON is not set: the check with Python's cryptography is skipped"
            );
            return None;
        };
        let output = std::process::Command::new(python)
            .env("PYTHONIOENCODING", "utf-8")
            .arg("-c")
            .arg(script)
            .args(args)
            .output()
            .expect("running WASIT_TEST_PYTHON");
        assert!(
            output.status.success(),
            "Python failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        Some(String::from_utf8(output.stdout).unwrap())
    }

    fn verifies(stamp: &Stamp, message: &[u8], signature: &[u8]) -> bool {
        let key = VerifyingKey::from_public_key_der(&stamp.public_key_der()).unwrap();
        let signature = DerSignature::try_from(signature).unwrap();
        key.verify(message, &signature).is_ok()
    }

    fn certificate(stamp: &Stamp) -> Certificate {
        Certificate::from_der(&BASE64.decode(stamp.certificate_base64()).unwrap()).unwrap()
    }

    #[test]
    fn a_signature_verifies_with_the_key_in_the_certificate() {
        let stamp = Stamp::development(VAT, SELLER).unwrap();
        let hash = Sha256::digest(b"<Invoice/>");
        let signature = stamp.sign(&hash);
        assert!(verifies(&stamp, &hash, &signature));
        assert!(!verifies(&stamp, b"another invoice", &signature));

        let certificate = certificate(&stamp);
        let tbs = certificate.tbs_certificate();
        assert_eq!(
            tbs.subject_public_key_info().to_der().unwrap(),
            stamp.public_key_der()
        );
        // An uncompressed secp256k1 point in its SubjectPublicKeyInfo, as ZATCA's are.
        assert_eq!(stamp.public_key_der().len(), 88);
        // Self-signed: the certificate's signature is the stamp key's over the TBS part.
        assert!(verifies(
            &stamp,
            &tbs.to_der().unwrap(),
            &stamp.certificate_signature()
        ));
        assert_eq!(tbs.issuer(), tbs.subject());
    }

    #[test]
    fn writes_the_issuer_and_serial_as_pythons_cryptography_does() {
        let stamp = Stamp::development(VAT, SELLER).unwrap();
        // Python 3.11, cryptography 48.0.0: x509.Name([NameAttribute(COUNTRY_NAME, "SA"),
        // NameAttribute(ORGANIZATION_NAME, SELLER), NameAttribute(COMMON_NAME, VAT)])
        // .rfc4514_string()
        assert_eq!(
            stamp.issuer_rfc4514(),
            r#"CN=310122393500003,O=مكتب وسيط\, للخدمات\+الإلكترونية=\"ذ.م.م\" \<الرياض\>\; فرع\\1,C=SA"#
        );
        let serial = certificate(&stamp)
            .tbs_certificate()
            .serial_number()
            .as_bytes()
            .to_vec();
        let serial = u128::from_be_bytes(serial.try_into().unwrap());
        assert_eq!(stamp.serial_decimal(), serial.to_string());
    }

    /// Made with Python 3.11 and cryptography 48.0.0 (with a throwaway key): an issuer with
    /// DC, UID, an Arabic BMPString, a BIT STRING, an RDN of two attributes, attributes
    /// without a short name, a NUL, a leading "#", leading and trailing spaces.
    const PYTHON_MADE: &str = "MIIB+jCCAaCgAwIBAgIUf25dTDsqGQh/bl1MOyoZCH9uXUwwCgYIKoZIzj0EAwIwgfAxFTATBgoJkiaJk/IsZAEZFgVsb2NhbDETMBEGCgmSJomT8ixkARkWA2dvdjELMAkGA1UEBhMCU0ExRzBFBgNVBAoePgZHBkoGJgYpACAGJwZEBjIGQwYnBikALAAgBkgGJwZEBjYGMQZKBigGKQAgACsAIAYnBkQGLAZFBicGMQZDMRYwFAYDVQQLDA0geD15Ozx6PlwicSIgMSUwCwYDVQQMDAQwMTAwMBYGA1UEBRMPMS1XYXNpdCAyLTAuMS4wMQswCQYDVQQtAwIBqzEUMBIGCgmSJomT8ixkAQEMBCMzACAxCjAIBgNVBAMMASAwHhcNMjYwMTAxMDAwMDAwWhcNMjYwMTAyMDAwMDAwWjAMMQowCAYDVQQDDAF4MFYwEAYHKoZIzj0CAQYFK4EEAAoDQgAEn6YWk/DsccpRwBA4xSK79n0lBoKBo0gki/vzr8M4gszuvGKCBzMqSw3ihFLJrI3UParuJ4gkn4AcfzTfdMNEejAKBggqhkjOPQQDAgNIADBFAiEAo69TCBgFl6z9rg+0zCQjRu0NTSQ0uJig/bu7f+bblRgCIBZ9AI6LhnhX6W6753F69yeONApUfwlxe9cTZvm/l1/B";

    #[test]
    fn reads_any_issuer_and_serial_as_pythons_cryptography_does() {
        let certificate = Certificate::from_der(&BASE64.decode(PYTHON_MADE).unwrap()).unwrap();
        let tbs = certificate.tbs_certificate();
        // What that Python read back: cert.issuer.rfc4514_string(), cert.serial_number.
        assert_eq!(
            rfc4514(tbs.issuer()).unwrap(),
            r#"CN=\ ,UID=\#3\00\ ,2.5.4.45=#01ab,2.5.4.12=0100+2.5.4.5=1-Wasit 2-0.1.0,OU=\ x=y\;\<z\>\\\"q\"\ ,O=هيئة الزكاة\, والضريبة \+ الجمارك,C=SA,DC=gov,DC=local"#
        );
        let serial = Any::from_der(&tbs.serial_number().to_der().unwrap()).unwrap();
        assert_eq!(
            serial_decimal(serial.value()),
            "727503037249160563770311470070824083169800510796"
        );
    }

    #[test]
    fn a_serial_is_read_as_a_signed_integer() {
        assert_eq!(serial_decimal(&[0x00]), "0");
        assert_eq!(serial_decimal(&[0x00, 0xff]), "255");
        assert_eq!(serial_decimal(&[0x01, 0x00]), "256");
        assert_eq!(serial_decimal(&[0x7f, 0xff, 0xff, 0xff]), "2147483647");
        assert_eq!(serial_decimal(&[0xff]), "-1");
        assert_eq!(serial_decimal(&[0x80]), "-128");
        assert_eq!(serial_decimal(&[0xff, 0x00]), "-256");
    }

    /// The key as PKCS#8 PEM, as SEC1 PEM after the EC PARAMETERS block `openssl ecparam
    /// -genkey` writes, and as ZATCA's SDK keeps it (base64 SEC1 DER, no PEM lines).
    fn key_files(stamp: &Stamp) -> [(&'static str, String); 3] {
        let secret = k256::SecretKey::from(&stamp.key);
        [
            (
                "pkcs8.pem",
                secret.to_pkcs8_pem(LineEnding::LF).unwrap().to_string(),
            ),
            (
                "sec1.pem",
                format!(
                    "-----BEGIN EC PARAMETERS-----\nBgUrgQQACg==\n-----END EC PARAMETERS-----\n{}",
                    *secret.to_sec1_pem(LineEnding::LF).unwrap()
                ),
            ),
            ("sdk.pem", BASE64.encode(secret.to_sec1_der().unwrap())),
        ]
    }

    #[test]
    fn reads_the_key_and_certificate_in_each_form_they_come_in() {
        let stamp = Stamp::development(VAT, "Wasit").unwrap();
        let dir = Scratch::new();
        let der = BASE64.decode(stamp.certificate_base64()).unwrap();
        let certificates: [(&str, Vec<u8>); 4] = [
            (
                "certificate.pem",
                certificate(&stamp)
                    .to_pem(LineEnding::LF)
                    .unwrap()
                    .into_bytes(),
            ),
            ("certificate.b64", stamp.certificate_base64().into_bytes()),
            // The CSID answer's binarySecurityToken: base64 of the base64.
            (
                "binary-security-token.txt",
                BASE64.encode(stamp.certificate_base64()).into_bytes(),
            ),
            ("certificate.der", der),
        ];
        for (key_name, key) in key_files(&stamp) {
            std::fs::write(dir.0.join(key_name), key).unwrap();
            for (certificate_name, certificate) in &certificates {
                std::fs::write(dir.0.join(certificate_name), certificate).unwrap();
                let loaded =
                    Stamp::from_files(&dir.0.join(key_name), &dir.0.join(certificate_name))
                        .unwrap_or_else(|e| panic!("{key_name} with {certificate_name}: {e:#}"));
                assert_eq!(loaded.certificate_base64(), stamp.certificate_base64());
                assert_eq!(loaded.issuer_rfc4514(), stamp.issuer_rfc4514());
                assert_eq!(loaded.serial_decimal(), stamp.serial_decimal());
                assert!(verifies(&stamp, b"invoice", &loaded.sign(b"invoice")));
            }
        }
    }

    #[test]
    fn refuses_a_key_that_is_not_the_certificates() {
        let (ours, theirs) = (
            Stamp::development(VAT, "Wasit").unwrap(),
            Stamp::development(VAT, "Wasit").unwrap(),
        );
        let dir = Scratch::new();
        let [(_, key), ..] = key_files(&ours);
        std::fs::write(dir.0.join("key.pem"), key).unwrap();
        std::fs::write(dir.0.join("certificate.b64"), theirs.certificate_base64()).unwrap();
        let error =
            Stamp::from_files(&dir.0.join("key.pem"), &dir.0.join("certificate.b64")).unwrap_err();
        assert!(
            format!("{error:#}").contains("the private key does not belong to the certificate"),
            "{error:#}"
        );
    }

    #[test]
    fn refuses_an_encrypted_key_and_files_that_hold_neither() {
        let stamp = Stamp::development(VAT, "Wasit").unwrap();
        let dir = Scratch::new();
        let [(_, key), ..] = key_files(&stamp);
        std::fs::write(dir.0.join("key.pem"), &key).unwrap();
        std::fs::write(dir.0.join("certificate.b64"), stamp.certificate_base64()).unwrap();
        let files = [
            (
                "encrypted.pem",
                "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n",
                "is encrypted",
            ),
            (
                "legacy.pem",
                "-----BEGIN EC PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nMIIB\n-----END EC PRIVATE KEY-----\n",
                "is encrypted",
            ),
            ("text.pem", "not a key", "not a PEM, base64 DER or DER"),
        ];
        for (name, text, reason) in files {
            std::fs::write(dir.0.join(name), text).unwrap();
            let error =
                Stamp::from_files(&dir.0.join(name), &dir.0.join("certificate.b64")).unwrap_err();
            assert!(format!("{error:#}").contains(reason), "{name}: {error:#}");
        }
        std::fs::write(dir.0.join("key.b64"), BASE64.encode(key)).unwrap();
        let error = Stamp::from_files(&dir.0.join("key.pem"), &dir.0.join("key.b64")).unwrap_err();
        assert!(format!("{error:#}").contains("certificate"), "{error:#}");
    }

    /// Runs only with WASIT_TEST_PYTHON set to a Python that has `cryptography`.
    #[test]
    fn pythons_cryptography_reads_the_stamp_as_it_says() {
        let stamp = Stamp::development(VAT, SELLER).unwrap();
        let dir = Scratch::new();
        let certificate = dir.0.join("certificate.b64");
        std::fs::write(&certificate, stamp.certificate_base64()).unwrap();
        let hash = Sha256::digest(b"<Invoice/>");
        let script = r#"
import base64, sys
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
cert = x509.load_der_x509_certificate(base64.b64decode(open(sys.argv[1]).read()))
cert.public_key().verify(bytes.fromhex(sys.argv[2]), bytes.fromhex(sys.argv[3]), ec.ECDSA(hashes.SHA256()))
print(cert.issuer.rfc4514_string())
print(cert.serial_number)
print(cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo).hex())
print(cert.signature.hex())
"#;
        let args = [
            certificate.display().to_string(),
            hex(&stamp.sign(&hash)),
            hex(&hash),
        ];
        let Some(output) = python(script, &args) else {
            return;
        };
        assert_eq!(
            output.lines().collect::<Vec<_>>(),
            [
                stamp.issuer_rfc4514(),
                stamp.serial_decimal(),
                hex(&stamp.public_key_der()),
                hex(&stamp.certificate_signature()),
            ]
        );
    }
}
