//! The first step of ZATCA onboarding (`wasit zatca onboard`): a private key for this EGS
//! unit (the invoicing solution, as ZATCA names it) and a certificate signing request
//! with the fields ZATCA's CA reads. The taxpayer sends the CSR, with a one-time password
//! from the Fatoora portal, to ZATCA's compliance CSID API; the certificate ZATCA answers
//! with and this key make the [`Stamp`](super::stamp::Stamp).
//!
//! The CSR has the shape ZATCA's SDK writes with OpenSSL: subject `C, OU, O, CN`; the
//! extensions certificateTemplateName (a PrintableString naming the environment) and
//! subjectAltName with one directoryName of SN (EGS serial), UID (VAT number), title
//! (invoice types), registeredAddress and businessCategory.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::{Context, anyhow, bail};
use base64::Engine;
use k256::ecdsa::{DerSignature, SigningKey};
use k256::pkcs8::LineEnding;
use uuid::Uuid;
use x509_cert::builder::{Builder, RequestBuilder};
use x509_cert::der::asn1::{ObjectIdentifier, PrintableStringRef};
use x509_cert::der::{EncodePem, Tag};
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::request::CertReq;

use super::stamp::{name, new_key};
use crate::config::InvoiceSettings;
use crate::domain::text;

/// Which of ZATCA's platforms the CSR is for: its CA issues a certificate only for a CSR
/// whose template name is that platform's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    /// The live platform (Fatoora portal, "core").
    Production,
    /// The simulation platform, to rehearse with real taxpayer data.
    Simulation,
    /// The developer portal, with ZATCA's test taxpayers.
    Sandbox,
}

impl Environment {
    fn template_name(self) -> &'static str {
        match self {
            Self::Production => "ZATCA-Code-Signing",
            Self::Simulation => "PREZATCA-Code-Signing",
            Self::Sandbox => "TSTZATCA-Code-Signing",
        }
    }

    /// Where ZATCA's e-invoicing API for this platform is.
    pub fn api_base(self) -> &'static str {
        match self {
            Self::Production => "https://gw-fatoora.zatca.gov.sa/e-invoicing/core",
            Self::Simulation => "https://gw-fatoora.zatca.gov.sa/e-invoicing/simulation",
            Self::Sandbox => "https://gw-fatoora.zatca.gov.sa/e-invoicing/developer-portal",
        }
    }
}

impl FromStr for Environment {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value {
            "production" => Ok(Self::Production),
            "simulation" => Ok(Self::Simulation),
            "sandbox" => Ok(Self::Sandbox),
            _ => Err("must be production, simulation or sandbox".into()),
        }
    }
}

/// What the command line gives instead of the configured seller; `None` keeps the default.
#[derive(Debug, Default)]
pub struct Overrides {
    pub vat_number: Option<String>,
    pub common_name: Option<String>,
    pub organization: Option<String>,
    pub organization_unit: Option<String>,
    pub address: Option<String>,
    pub business_category: Option<String>,
    pub invoice_types: Option<String>,
    pub egs_uuid: Option<Uuid>,
}

/// The CSR's fields, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsrFields {
    /// CN: names this EGS unit.
    pub common_name: String,
    /// O: the taxpayer.
    pub organization: String,
    /// OU: the branch (for a VAT group, the member's 10-digit TIN).
    pub organization_unit: String,
    /// UID: the 15-digit VAT registration number.
    pub vat_number: String,
    /// SN: `1-<solution>|2-<model or version>|3-<serial>`, this unit's identity at ZATCA.
    pub egs_serial: String,
    /// title: four digits T S C Z, 1 where the unit issues that kind: standard (B2B),
    /// simplified (B2C), and two ZATCA keeps for later. Wasit issues simplified only: 0100.
    pub invoice_types: String,
    /// registeredAddress: where the unit is.
    pub address: String,
    /// businessCategory: the industry it serves.
    pub business_category: String,
}

/// Wasit brokers bookings; the taxpayer may describe it otherwise with the flag.
const DEFAULT_BUSINESS_CATEGORY: &str = "Booking and reservation services";
const SIMPLIFIED_ONLY: &str = "0100";

impl CsrFields {
    /// The configured seller's fields, each replaced by its override if given.
    pub fn new(seller: &InvoiceSettings, overrides: Overrides) -> anyhow::Result<CsrFields> {
        let vat_number = overrides
            .vat_number
            .unwrap_or_else(|| seller.vat_number.clone());
        check_vat_number(&vat_number)?;
        let field = |flag: &str, value: Option<String>, default: &str, max: usize| {
            text::name(value.as_deref().unwrap_or(default), max)
                .map_err(|reason| anyhow!("--{flag} {reason}"))
        };
        let invoice_types = overrides
            .invoice_types
            .unwrap_or_else(|| SIMPLIFIED_ONLY.to_owned());
        check_invoice_types(&invoice_types)?;
        let egs_uuid = overrides.egs_uuid.unwrap_or_else(Uuid::new_v4);
        Ok(CsrFields {
            // X.520 bounds CN, O and OU at 64 characters; OpenSSL and ZATCA's SDK hold to it.
            common_name: field(
                "common-name",
                overrides.common_name,
                &format!("Wasit-{vat_number}"),
                64,
            )?,
            organization: field(
                "organization",
                overrides.organization,
                &seller.seller_name_en,
                64,
            )?,
            organization_unit: field(
                "organization-unit",
                overrides.organization_unit,
                &seller.seller_name_en,
                64,
            )?,
            egs_serial: format!("1-Wasit|2-{}|3-{egs_uuid}", env!("CARGO_PKG_VERSION")),
            invoice_types,
            address: field("address", overrides.address, &seller.address_en, 128)?,
            business_category: field(
                "business-category",
                overrides.business_category,
                DEFAULT_BUSINESS_CATEGORY,
                128,
            )?,
            vat_number,
        })
    }
}

/// A Saudi VAT registration number: 15 digits, the first and the last 3.
fn check_vat_number(value: &str) -> anyhow::Result<()> {
    if value.len() != 15
        || !value.bytes().all(|b| b.is_ascii_digit())
        || !value.starts_with('3')
        || !value.ends_with('3')
    {
        bail!("--vat-number must be 15 digits that start and end with 3, not {value:?}");
    }
    Ok(())
}

fn check_invoice_types(value: &str) -> anyhow::Result<()> {
    let digits = value.as_bytes();
    if digits.len() != 4
        || !digits.iter().all(|b| matches!(b, b'0' | b'1'))
        || digits[..2] == *b"00"
    {
        bail!(
            "--invoice-types must be four digits of 0 and 1 with standard (1000), \
             simplified (0100) or both (1100), not {value:?}"
        );
    }
    Ok(())
}

const COUNTRY_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.6");
const ORGANIZATIONAL_UNIT_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.11");
const ORGANIZATION_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.10");
const COMMON_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.3");
/// "SN" in ZATCA's CSR configuration: X.520 surname, which ZATCA uses for the EGS serial.
const SURNAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.4");
const USER_ID: ObjectIdentifier = ObjectIdentifier::new_unwrap("0.9.2342.19200300.100.1.1");
const TITLE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.12");
const REGISTERED_ADDRESS: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.26");
const BUSINESS_CATEGORY: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.15");
/// Microsoft's certificateTemplateName extension, which ZATCA's CA reads.
const CERTIFICATE_TEMPLATE_NAME: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.311.20.2");

/// The CSR for `key`, signed with it (ECDSA with SHA-256).
pub fn request(
    key: &SigningKey,
    fields: &CsrFields,
    environment: Environment,
) -> anyhow::Result<CertReq> {
    let subject = name(&[
        (COUNTRY_NAME, Tag::PrintableString, "SA"),
        (
            ORGANIZATIONAL_UNIT_NAME,
            Tag::Utf8String,
            &fields.organization_unit,
        ),
        (ORGANIZATION_NAME, Tag::Utf8String, &fields.organization),
        (COMMON_NAME, Tag::Utf8String, &fields.common_name),
    ])?;
    let unit = name(&[
        (SURNAME, Tag::Utf8String, &fields.egs_serial),
        (USER_ID, Tag::Utf8String, &fields.vat_number),
        (TITLE, Tag::Utf8String, &fields.invoice_types),
        (REGISTERED_ADDRESS, Tag::Utf8String, &fields.address),
        (
            BUSINESS_CATEGORY,
            Tag::Utf8String,
            &fields.business_category,
        ),
    ])?;
    let mut builder = RequestBuilder::new(subject)?;
    builder.add_extension((
        CERTIFICATE_TEMPLATE_NAME,
        false,
        &PrintableStringRef::new(environment.template_name())?,
    ))?;
    builder.add_extension(&SubjectAltName(vec![GeneralName::DirectoryName(unit)]))?;
    builder
        .build::<_, DerSignature>(key)
        .map_err(|e| anyhow!("signing the CSR: {e}"))
}

/// What `onboard` wrote.
#[derive(Debug)]
pub struct Onboarded {
    pub private_key: PathBuf,
    pub csr: PathBuf,
    /// The CSR as ZATCA's compliance CSID API takes it: base64 of the PEM text.
    pub csr_base64: String,
}

pub const PRIVATE_KEY_FILE: &str = "private-key.pem";
pub const CSR_FILE: &str = "csr.pem";

/// Makes a key and its CSR in `dir`: `private-key.pem` (SEC1 PEM, as ZATCA's SDK writes it;
/// mode 0600) and `csr.pem`. An existing key is kept unless `force`: a certificate may
/// already have been issued for it.
pub fn onboard(
    dir: &Path,
    fields: &CsrFields,
    environment: Environment,
    force: bool,
) -> anyhow::Result<Onboarded> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("creating {}", dir.display()))?;
    let key = new_key()?;
    let csr_pem = request(&key, fields, environment)?
        .to_pem(LineEnding::LF)
        .context("writing the CSR as PEM")?;
    let key_pem = k256::SecretKey::from(&key)
        .to_sec1_pem(LineEnding::LF)
        .map_err(|_| anyhow!("writing the private key as PEM"))?;
    let private_key = dir.join(PRIVATE_KEY_FILE);
    write_private_key(&private_key, key_pem.as_bytes(), force)?;
    let csr = dir.join(CSR_FILE);
    std::fs::write(&csr, &csr_pem).with_context(|| format!("writing {}", csr.display()))?;
    Ok(Onboarded {
        private_key,
        csr,
        csr_base64: base64::engine::general_purpose::STANDARD.encode(csr_pem),
    })
}

/// Written with mode 0600 from the start. Without `force`, created only if absent (checked
/// by the create itself, so two runs cannot both win); with it, written beside and renamed
/// over, so a failure leaves the old key whole.
fn write_private_key(path: &Path, pem: &[u8], force: bool) -> anyhow::Result<()> {
    let target = if force {
        path.with_extension("pem.new")
    } else {
        path.to_owned()
    };
    if force {
        // A leftover of an interrupted run; a missing one is the usual case.
        let _ = std::fs::remove_file(&target);
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&target)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => anyhow!(
                "{} exists: a certificate may already be issued for it; \
                 pass --force to replace it",
                path.display()
            ),
            _ => anyhow!("creating {}: {e}", target.display()),
        })?;
    file.write_all(pem)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", target.display()))?;
    if force {
        std::fs::rename(&target, path).with_context(|| format!("replacing {}", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use k256::ecdsa::VerifyingKey;
    use k256::ecdsa::signature::Verifier;
    use k256::pkcs8::DecodePublicKey;
    use x509_cert::der::{Decode, DecodePem, Encode};
    use x509_cert::ext::Extension;

    use super::super::stamp::rfc4514;
    use super::super::stamp::tests::{Scratch, python};
    use super::*;

    const EGS_UUID: &str = "3264b1d8-126a-46f4-95f2-f3331f938d8c";
    const ECDSA_WITH_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
    const EXTENSION_REQUEST: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.14");

    fn seller() -> InvoiceSettings {
        InvoiceSettings {
            seller_name_ar: "مكتب وسيط للخدمات الإلكترونية".into(),
            seller_name_en: "Wasit E-Services Office".into(),
            vat_number: "310122393500003".into(),
            commercial_registration: "1010010000".into(),
            address_ar: "الرياض، المملكة العربية السعودية".into(),
            address_en: "Riyadh, Saudi Arabia".into(),
            street: "King Fahd Road".into(),
            building_number: "2121".into(),
            district: "Al Olaya".into(),
            city: "Riyadh".into(),
            postal_code: "12214".into(),
        }
    }

    fn fields() -> CsrFields {
        CsrFields::new(
            &seller(),
            Overrides {
                organization_unit: Some("فرع الرياض, 1".into()),
                egs_uuid: Some(EGS_UUID.parse().unwrap()),
                ..Overrides::default()
            },
        )
        .unwrap()
    }

    fn extensions(csr: &CertReq) -> Vec<Extension> {
        let attribute = csr
            .info
            .attributes
            .iter()
            .find(|attribute| attribute.oid == EXTENSION_REQUEST)
            .expect("an extension request");
        let [value] = attribute.values.as_slice() else {
            panic!("one extension request value");
        };
        value.decode_as::<Vec<Extension>>().unwrap()
    }

    #[test]
    fn the_csr_carries_zatcas_fields_and_its_signature_verifies() {
        let key = new_key().unwrap();
        let pem = request(&key, &fields(), Environment::Simulation)
            .unwrap()
            .to_pem(LineEnding::LF)
            .unwrap();
        let csr = CertReq::from_pem(pem).unwrap();

        assert_eq!(
            rfc4514(&csr.info.subject).unwrap(),
            r"CN=Wasit-310122393500003,O=Wasit E-Services Office,OU=فرع الرياض\, 1,C=SA"
        );
        let public_key = VerifyingKey::from_public_key_der(&csr.info.public_key.to_der().unwrap());
        assert_eq!(public_key.unwrap(), *key.verifying_key());
        assert_eq!(csr.algorithm.oid, ECDSA_WITH_SHA256);
        let signature = DerSignature::try_from(csr.signature.raw_bytes()).unwrap();
        let info = csr.info.to_der().unwrap();
        assert!(key.verifying_key().verify(&info, &signature).is_ok());

        let [template, alt_name] = extensions(&csr).try_into().unwrap();
        assert_eq!(template.extn_id, CERTIFICATE_TEMPLATE_NAME);
        assert!(!template.critical);
        // A PrintableString, as ZATCA's SDK configuration has OpenSSL write it.
        assert_eq!(
            template.extn_value.as_bytes(),
            b"\x13\x15PREZATCA-Code-Signing"
        );
        assert_eq!(alt_name.extn_id, ObjectIdentifier::new_unwrap("2.5.29.17"));
        assert!(!alt_name.critical);
        let alt_name = SubjectAltName::from_der(alt_name.extn_value.as_bytes()).unwrap();
        let [GeneralName::DirectoryName(unit)] = alt_name.0.as_slice() else {
            panic!("one directoryName: {alt_name:?}");
        };
        assert_eq!(
            rfc4514(unit).unwrap(),
            format!(
                r"2.5.4.15=Booking and reservation services,2.5.4.26=Riyadh\, Saudi Arabia,2.5.4.12=0100,UID=310122393500003,2.5.4.4=1-Wasit|2-{}|3-{EGS_UUID}",
                env!("CARGO_PKG_VERSION")
            )
        );
    }

    #[test]
    fn each_platform_has_its_template_name() {
        let key = new_key().unwrap();
        for (environment, name) in [
            ("production", "ZATCA-Code-Signing"),
            ("simulation", "PREZATCA-Code-Signing"),
            ("sandbox", "TSTZATCA-Code-Signing"),
        ] {
            let csr = request(&key, &fields(), environment.parse().unwrap()).unwrap();
            let [template, _] = extensions(&csr).try_into().unwrap();
            let value = PrintableStringRef::from_der(template.extn_value.as_bytes()).unwrap();
            assert_eq!(value.as_str(), name);
        }
        assert!("developer-portal".parse::<Environment>().is_err());
    }

    #[test]
    fn takes_overrides_and_refuses_what_zatca_would_not_certify() {
        let with = |overrides: Overrides| CsrFields::new(&seller(), overrides);
        let vat = |value: &str| {
            with(Overrides {
                vat_number: Some(value.into()),
                ..Overrides::default()
            })
        };
        let fields = vat("300000000000003").unwrap();
        assert_eq!(fields.vat_number, "300000000000003");
        assert_eq!(fields.common_name, "Wasit-300000000000003");
        assert_eq!(fields.invoice_types, "0100");
        for wrong in [
            "31012239350000",
            "3101223935000033",
            "210122393500003",
            "310122393500002",
            "31012239350000x",
            "٣١٠١٢٢٣٩٣٥٠٠٠٠٣",
        ] {
            let error = vat(wrong).unwrap_err().to_string();
            assert!(error.starts_with("--vat-number"), "{wrong}: {error}");
        }

        let types = |value: &str| {
            with(Overrides {
                invoice_types: Some(value.into()),
                ..Overrides::default()
            })
        };
        for right in ["0100", "1000", "1100", "1111"] {
            assert_eq!(types(right).unwrap().invoice_types, right);
        }
        for wrong in ["0000", "0010", "01000", "010", "01a0"] {
            let error = types(wrong).unwrap_err().to_string();
            assert!(error.starts_with("--invoice-types"), "{wrong}: {error}");
        }

        let error = with(Overrides {
            organization: Some("  ".into()),
            ..Overrides::default()
        })
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "--organization must be 1 to 64 characters"
        );
        let error = with(Overrides {
            address: Some("Riyadh\nKSA".into()),
            ..Overrides::default()
        })
        .unwrap_err();
        assert!(error.to_string().starts_with("--address must be one line"));
    }

    #[test]
    fn writes_the_key_secret_and_replaces_it_only_when_forced() {
        let scratch = Scratch::new();
        let dir = scratch.0.join("zatca");
        let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;

        let first = onboard(&dir, &fields(), Environment::Sandbox, false).unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&first.private_key), 0o600);
        let key_pem = std::fs::read_to_string(&first.private_key).unwrap();
        assert!(key_pem.starts_with("-----BEGIN EC PRIVATE KEY-----\n"));
        let csr_pem = std::fs::read_to_string(&first.csr).unwrap();
        assert_eq!(
            base64::engine::general_purpose::STANDARD
                .decode(&first.csr_base64)
                .unwrap(),
            csr_pem.as_bytes()
        );
        // The key in the file is the one the CSR asks a certificate for.
        let key = k256::SecretKey::from_sec1_pem(&key_pem).unwrap();
        let csr = CertReq::from_pem(&csr_pem).unwrap();
        assert_eq!(
            VerifyingKey::from_public_key_der(&csr.info.public_key.to_der().unwrap()).unwrap(),
            VerifyingKey::from(key.public_key())
        );

        let error = onboard(&dir, &fields(), Environment::Sandbox, false).unwrap_err();
        assert!(error.to_string().contains("pass --force"), "{error}");
        assert_eq!(
            std::fs::read_to_string(&first.private_key).unwrap(),
            key_pem
        );

        let forced = onboard(&dir, &fields(), Environment::Sandbox, true).unwrap();
        assert_ne!(
            std::fs::read_to_string(&forced.private_key).unwrap(),
            key_pem
        );
        assert_eq!(mode(&forced.private_key), 0o600);
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            2,
            "only the key and the CSR"
        );
    }

    /// Runs only with WASIT_TEST_PYTHON set to a Python that has `cryptography`.
    #[test]
    fn pythons_cryptography_reads_the_csr_as_zatca_would() {
        let scratch = Scratch::new();
        let written = onboard(&scratch.0, &fields(), Environment::Production, false).unwrap();
        let script = r#"
import sys
from cryptography import x509
csr = x509.load_pem_x509_csr(open(sys.argv[1], "rb").read())
assert csr.is_signature_valid
print(csr.public_key().curve.name)
print(csr.subject.rfc4514_string())
template, alt_name = csr.extensions
print(template.oid.dotted_string, template.critical, template.value.value.hex())
print(alt_name.critical, alt_name.value.get_values_for_type(x509.DirectoryName)[0].rfc4514_string())
"#;
        let Some(output) = python(script, &[written.csr.display().to_string()]) else {
            return;
        };
        assert_eq!(
            output.lines().collect::<Vec<_>>(),
            [
                "secp256k1".to_owned(),
                r"CN=Wasit-310122393500003,O=Wasit E-Services Office,OU=فرع الرياض\, 1,C=SA".into(),
                format!(
                    "1.3.6.1.4.1.311.20.2 False {}",
                    super::super::stamp::hex(b"\x13\x12ZATCA-Code-Signing")
                ),
                format!(
                    r"False 2.5.4.15=Booking and reservation services,2.5.4.26=Riyadh\, Saudi Arabia,2.5.4.12=0100,UID=310122393500003,2.5.4.4=1-Wasit|2-{}|3-{EGS_UUID}",
                    env!("CARGO_PKG_VERSION")
                ),
            ]
        );
    }
}
