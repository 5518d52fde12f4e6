//! The phase-2 document of an invoice or credit note: UBL 2.1 with ZATCA's profile, its
//! invoice hash, the cryptographic stamp (XAdES, as ZATCA's security standard and SDK shape
//! it) and the phase-2 QR code. `docs/ZATCA.md` states every rule a verifier checks.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::stamp::Stamp;
use super::xml::Element;
use super::{FieldTooLong, tlv};
use crate::billing::invoices::{Seller, Series};
use crate::billing::money::ChargeLine;
use crate::domain::OFFICE_TIMEZONE;

const INVOICE: &str = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2";
const CAC: &str = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2";
const CBC: &str = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2";
const EXT: &str = "urn:oasis:names:specification:ubl:schema:xsd:CommonExtensionComponents-2";
const SIG: &str = "urn:oasis:names:specification:ubl:schema:xsd:CommonSignatureComponents-2";
const SAC: &str = "urn:oasis:names:specification:ubl:schema:xsd:SignatureAggregateComponents-2";
const SBC: &str = "urn:oasis:names:specification:ubl:schema:xsd:SignatureBasicComponents-2";
const DS: &str = "http://www.w3.org/2000/09/xmldsig#";
const XADES: &str = "http://uri.etsi.org/01903/v1.3.2#";
const SHA256_URI: &str = "http://www.w3.org/2001/04/xmlenc#sha256";
const C14N11: &str = "http://www.w3.org/2006/12/xml-c14n11";
const XPATH: &str = "http://www.w3.org/TR/1999/REC-xpath-19991116";

/// The previous-invoice hash of the first document: base64 of the hex SHA-256 of "0".
pub const FIRST_PIH: &str =
    "NWZlY2ViNjZmZmM4NmYzOGQ5NTI3ODZjNmQ2OTZjNzljMmRiYzIzOWRkNGU5MWI0NjcyOWQ3M2EyN2ZiNTdlOQ==";

/// Why a credit note was issued when nobody wrote a reason.
const DEFAULT_CREDIT_REASON: &str = "Refund of a booking or plan payment";

/// Everything a document says, decided before it is stamped.
pub struct Draft<'a> {
    pub series: Series,
    pub number: &'a str,
    pub uuid: Uuid,
    pub issued_at: DateTime<Utc>,
    pub seller: &'a Seller,
    pub buyer_name: &'a str,
    pub lines: &'a [ChargeLine],
    /// A credit note's invoice, by number.
    pub original_number: Option<&'a str>,
    /// A credit note's reason.
    pub reason: Option<&'a str>,
    /// The invoice counter value: gapless over every document of this device.
    pub icv: i64,
    /// The previous document's invoice hash.
    pub pih: &'a str,
}

/// A stamped document.
#[derive(Debug, Clone)]
pub struct Stamped {
    /// The whole document, as served.
    pub xml: String,
    /// Base64 of the SHA-256 of the canonical document without its stamp and QR.
    pub hash: String,
    /// The phase-2 QR payload (base64 TLV, tags 1 to 9).
    pub qr: String,
}

pub fn stamp(draft: &Draft<'_>, stamp: &Stamp) -> Result<Stamped, FieldTooLong> {
    let local = draft.issued_at.with_timezone(&OFFICE_TIMEZONE);
    let (date, time) = (
        local.format("%Y-%m-%d").to_string(),
        local.format("%H:%M:%S").to_string(),
    );
    let totals = Totals::of(draft.lines);

    // 1. The invoice hash, over the document without its stamp, its Signature and its QR.
    let unstamped = root(draft, &date, &time, &totals, None);
    let hash_bytes: [u8; 32] = Sha256::digest(unstamped.canonical().as_bytes()).into();
    let hash = B64.encode(hash_bytes);

    // 2. The stamp: ZATCA signs the 32 bytes of the invoice hash.
    let signature = B64.encode(stamp.sign(&hash_bytes));
    let certificate = stamp.certificate_base64();
    let signed_properties = signed_properties(&format!("{date}T{time}"), stamp, &certificate);
    // The reference digest covers the properties as a node-set of the stamped document:
    // every namespace in scope there is rendered on the apex element.
    let properties_digest = hex_base64(
        signed_properties
            .canonical_in(&[
                ("", INVOICE),
                ("cac", CAC),
                ("cbc", CBC),
                ("ext", EXT),
                ("sig", SIG),
                ("sac", SAC),
                ("sbc", SBC),
                ("ds", DS),
                ("xades", XADES),
            ])
            .as_bytes(),
    );

    // 3. The QR: phase 1's five fields, then the hash, the signature, the public key and the
    // certificate's own signature.
    let issued = format!("{date}T{time}");
    let (with_vat, vat) = (totals.with_vat_text(), totals.vat_text());
    let (public_key, certificate_signature) =
        (stamp.public_key_der(), stamp.certificate_signature());
    let qr = tlv(&[
        draft.seller.name_ar.as_bytes(),
        draft.seller.vat_number.as_bytes(),
        issued.as_bytes(),
        with_vat.as_bytes(),
        vat.as_bytes(),
        hash.as_bytes(),
        signature.as_bytes(),
        &public_key,
        &certificate_signature,
    ])?;

    let extensions = extensions(
        &hash,
        &properties_digest,
        &signature,
        &certificate,
        signed_properties,
    );
    let stamped = root(
        draft,
        &date,
        &time,
        &totals,
        Some((extensions, qr.as_str())),
    );
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{}",
        stamped.canonical()
    );
    Ok(Stamped { xml, hash, qr })
}

/// Base64 of the lowercase hex SHA-256: the digest form ZATCA's SDK writes for the
/// certificate and the signed properties.
fn hex_base64(bytes: &[u8]) -> String {
    let hex: String = Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    B64.encode(hex)
}

fn amount(value: Decimal) -> String {
    format!("{:.2}", value.round_dp(2))
}

fn money(name: &'static str, value: Decimal) -> Element {
    Element::text(name, amount(value)).attr("currencyID", "SAR")
}

/// The sums a document states, per VAT category and in all.
struct Totals {
    net: Decimal,
    vat: Decimal,
    /// (category, rate, taxable, vat), in the order categories first appear.
    categories: Vec<(Category, Decimal, Decimal, Decimal)>,
}

impl Totals {
    fn of(lines: &[ChargeLine]) -> Self {
        let mut categories: Vec<(Category, Decimal, Decimal, Decimal)> = Vec::new();
        for line in lines {
            let category = Category::of(line);
            match categories
                .iter_mut()
                .find(|(c, rate, _, _)| *c == category && *rate == line.vat_rate)
            {
                Some(entry) => {
                    entry.2 += line.net;
                    entry.3 += line.vat;
                }
                None => categories.push((category, line.vat_rate, line.net, line.vat)),
            }
        }
        Self {
            net: lines.iter().map(|l| l.net).sum(),
            vat: lines.iter().map(|l| l.vat).sum(),
            categories,
        }
    }

    fn with_vat_text(&self) -> String {
        amount(self.net + self.vat)
    }

    fn vat_text(&self) -> String {
        amount(self.vat)
    }
}

/// The VAT category of a line: standard rate on what the office sells; out of scope for a
/// provider's price the office collects on the provider's behalf.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Category {
    Standard,
    OutOfScope,
}

impl Category {
    fn of(line: &ChargeLine) -> Self {
        if line.vat_rate > Decimal::ZERO {
            Self::Standard
        } else {
            Self::OutOfScope
        }
    }

    fn element(self, name: &'static str, rate: Decimal) -> Element {
        let (id, percent) = match self {
            Self::Standard => ("S", rate * Decimal::ONE_HUNDRED),
            Self::OutOfScope => ("O", Decimal::ZERO),
        };
        let mut category = Element::new(name)
            .child(Element::text("cbc:ID", id))
            .child(Element::text("cbc:Percent", amount(percent)));
        if self == Self::OutOfScope {
            category = category
                .child(Element::text("cbc:TaxExemptionReasonCode", "VATEX-SA-OOS"))
                .child(Element::text(
                    "cbc:TaxExemptionReason",
                    "Collected on behalf of the provider; not subject to VAT",
                ));
        }
        category.child(vat_scheme())
    }
}

fn vat_scheme() -> Element {
    Element::new("cac:TaxScheme").child(Element::text("cbc:ID", "VAT"))
}

fn document_reference(id: &str, attachment: &str) -> Element {
    Element::new("cac:AdditionalDocumentReference")
        .child(Element::text("cbc:ID", id))
        .child(
            Element::new("cac:Attachment").child(
                Element::text("cbc:EmbeddedDocumentBinaryObject", attachment)
                    .attr("mimeCode", "text/plain"),
            ),
        )
}

/// The whole document; `stamp` is the UBL extensions and the QR, absent for the hash.
fn root(
    draft: &Draft<'_>,
    date: &str,
    time: &str,
    totals: &Totals,
    stamp: Option<(Element, &str)>,
) -> Element {
    let credit = draft.series == Series::CreditNote;
    let mut invoice = Element::new("Invoice")
        .declare("", INVOICE)
        .declare("cac", CAC)
        .declare("cbc", CBC)
        .declare("ext", EXT);
    let (extensions, qr) = match stamp {
        Some((extensions, qr)) => (Some(extensions), Some(qr)),
        None => (None, None),
    };
    if let Some(extensions) = extensions {
        invoice = invoice.child(extensions);
    }
    invoice = invoice
        .child(Element::text("cbc:ProfileID", "reporting:1.0"))
        .child(Element::text("cbc:ID", draft.number))
        .child(Element::text("cbc:UUID", draft.uuid.to_string()))
        .child(Element::text("cbc:IssueDate", date))
        .child(Element::text("cbc:IssueTime", time))
        // 0200000: a simplified tax invoice (B2C), without third-party, nominal, export,
        // summary or self-billed flags.
        .child(
            Element::text("cbc:InvoiceTypeCode", if credit { "381" } else { "388" })
                .attr("name", "0200000"),
        )
        .child(Element::text("cbc:DocumentCurrencyCode", "SAR"))
        .child(Element::text("cbc:TaxCurrencyCode", "SAR"));
    if let Some(original) = draft.original_number {
        invoice = invoice.child(Element::new("cac:BillingReference").child(
            Element::new("cac:InvoiceDocumentReference").child(Element::text("cbc:ID", original)),
        ));
    }
    invoice = invoice
        .child(
            Element::new("cac:AdditionalDocumentReference")
                .child(Element::text("cbc:ID", "ICV"))
                .child(Element::text("cbc:UUID", draft.icv.to_string())),
        )
        .child(document_reference("PIH", draft.pih));
    if let Some(qr) = qr {
        invoice = invoice.child(document_reference("QR", qr)).child(
            Element::new("cac:Signature")
                .child(Element::text(
                    "cbc:ID",
                    "urn:oasis:names:specification:ubl:signature:Invoice",
                ))
                .child(Element::text(
                    "cbc:SignatureMethod",
                    "urn:oasis:names:specification:ubl:dsig:enveloped:xades",
                )),
        );
    }
    invoice = invoice
        .child(supplier(draft.seller))
        .child(customer(draft.buyer_name));
    let mut means =
        Element::new("cac:PaymentMeans").child(Element::text("cbc:PaymentMeansCode", "48"));
    if credit {
        let reason = draft
            .reason
            .filter(|r| !r.trim().is_empty())
            .unwrap_or(DEFAULT_CREDIT_REASON);
        means = means.child(Element::text("cbc:InstructionNote", reason));
    }
    invoice = invoice
        .child(means)
        .child(Element::new("cac:TaxTotal").child(money("cbc:TaxAmount", totals.vat)))
        .child(
            Element::new("cac:TaxTotal")
                .child(money("cbc:TaxAmount", totals.vat))
                .children(
                    totals
                        .categories
                        .iter()
                        .map(|(category, rate, taxable, vat)| {
                            Element::new("cac:TaxSubtotal")
                                .child(money("cbc:TaxableAmount", *taxable))
                                .child(money("cbc:TaxAmount", *vat))
                                .child(category.element("cac:TaxCategory", *rate))
                        }),
                ),
        )
        .child(
            Element::new("cac:LegalMonetaryTotal")
                .child(money("cbc:LineExtensionAmount", totals.net))
                .child(money("cbc:TaxExclusiveAmount", totals.net))
                .child(money("cbc:TaxInclusiveAmount", totals.net + totals.vat))
                .child(money("cbc:AllowanceTotalAmount", Decimal::ZERO))
                .child(money("cbc:PrepaidAmount", Decimal::ZERO))
                .child(money("cbc:PayableAmount", totals.net + totals.vat)),
        );
    invoice.children(draft.lines.iter().enumerate().map(|(i, line)| {
        Element::new("cac:InvoiceLine")
            .child(Element::text("cbc:ID", (i + 1).to_string()))
            .child(Element::text("cbc:InvoicedQuantity", "1.00").attr("unitCode", "PCE"))
            .child(money("cbc:LineExtensionAmount", line.net))
            .child(
                Element::new("cac:TaxTotal")
                    .child(money("cbc:TaxAmount", line.vat))
                    .child(money("cbc:RoundingAmount", line.gross())),
            )
            .child(
                Element::new("cac:Item")
                    .child(Element::text("cbc:Name", line_name(line)))
                    .child(Category::of(line).element("cac:ClassifiedTaxCategory", line.vat_rate)),
            )
            .child(Element::new("cac:Price").child(money("cbc:PriceAmount", line.net)))
    }))
}

/// A line's name in both languages, as printed.
fn line_name(line: &ChargeLine) -> String {
    if line.label_ar == line.label_en || line.label_en.is_empty() {
        line.label_ar.clone()
    } else {
        format!("{} / {}", line.label_ar, line.label_en)
    }
}

fn supplier(seller: &Seller) -> Element {
    Element::new("cac:AccountingSupplierParty").child(
        Element::new("cac:Party")
            .child(Element::new("cac:PartyIdentification").child(
                Element::text("cbc:ID", &seller.commercial_registration).attr("schemeID", "CRN"),
            ))
            .child(
                Element::new("cac:PostalAddress")
                    .child(Element::text("cbc:StreetName", &seller.street))
                    .child(Element::text("cbc:BuildingNumber", &seller.building_number))
                    .child(Element::text("cbc:CitySubdivisionName", &seller.district))
                    .child(Element::text("cbc:CityName", &seller.city))
                    .child(Element::text("cbc:PostalZone", &seller.postal_code))
                    .child(
                        Element::new("cac:Country")
                            .child(Element::text("cbc:IdentificationCode", "SA")),
                    ),
            )
            .child(
                Element::new("cac:PartyTaxScheme")
                    .child(Element::text("cbc:CompanyID", &seller.vat_number))
                    .child(vat_scheme()),
            )
            .child(
                Element::new("cac:PartyLegalEntity")
                    .child(Element::text("cbc:RegistrationName", &seller.name_ar)),
            ),
    )
}

/// A simplified invoice's buyer: a name when there is one (no VAT number: a person).
fn customer(buyer_name: &str) -> Element {
    let mut party = Element::new("cac:Party");
    if !buyer_name.trim().is_empty() {
        party = party.child(
            Element::new("cac:PartyLegalEntity")
                .child(Element::text("cbc:RegistrationName", buyer_name)),
        );
    }
    Element::new("cac:AccountingCustomerParty").child(party)
}

fn signed_properties(signing_time: &str, stamp: &Stamp, certificate: &str) -> Element {
    Element::new("xades:SignedProperties")
        .attr("Id", "xadesSignedProperties")
        .child(
            Element::new("xades:SignedSignatureProperties")
                .child(Element::text("xades:SigningTime", signing_time))
                .child(
                    Element::new("xades:SigningCertificate").child(
                        Element::new("xades:Cert")
                            .child(
                                Element::new("xades:CertDigest")
                                    .child(
                                        Element::new("ds:DigestMethod")
                                            .attr("Algorithm", SHA256_URI),
                                    )
                                    .child(Element::text(
                                        "ds:DigestValue",
                                        hex_base64(certificate.as_bytes()),
                                    )),
                            )
                            .child(
                                Element::new("xades:IssuerSerial")
                                    .child(Element::text(
                                        "ds:X509IssuerName",
                                        stamp.issuer_rfc4514(),
                                    ))
                                    .child(Element::text(
                                        "ds:X509SerialNumber",
                                        stamp.serial_decimal(),
                                    )),
                            ),
                    ),
                ),
        )
}

fn transform(xpath: &str) -> Element {
    Element::new("ds:Transform")
        .attr("Algorithm", XPATH)
        .child(Element::text("ds:XPath", xpath))
}

fn extensions(
    hash: &str,
    properties_digest: &str,
    signature: &str,
    certificate: &str,
    signed_properties: Element,
) -> Element {
    let signed_info = Element::new("ds:SignedInfo")
        .child(Element::new("ds:CanonicalizationMethod").attr("Algorithm", C14N11))
        .child(Element::new("ds:SignatureMethod").attr(
            "Algorithm",
            "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
        ))
        .child(
            Element::new("ds:Reference")
                .attr("Id", "invoiceSignedData")
                .attr("URI", "")
                .child(
                    Element::new("ds:Transforms")
                        .child(transform("not(//ancestor-or-self::ext:UBLExtensions)"))
                        .child(transform("not(//ancestor-or-self::cac:Signature)"))
                        .child(transform(
                            "not(//ancestor-or-self::cac:AdditionalDocumentReference[cbc:ID='QR'])",
                        ))
                        .child(Element::new("ds:Transform").attr("Algorithm", C14N11)),
                )
                .child(Element::new("ds:DigestMethod").attr("Algorithm", SHA256_URI))
                .child(Element::text("ds:DigestValue", hash)),
        )
        .child(
            Element::new("ds:Reference")
                .attr(
                    "Type",
                    "http://www.w3.org/2000/09/xmldsig#SignatureProperties",
                )
                .attr("URI", "#xadesSignedProperties")
                .child(Element::new("ds:DigestMethod").attr("Algorithm", SHA256_URI))
                .child(Element::text("ds:DigestValue", properties_digest)),
        );
    let signature = Element::new("ds:Signature")
        .declare("ds", DS)
        .attr("Id", "signature")
        .child(signed_info)
        .child(Element::text("ds:SignatureValue", signature))
        .child(Element::new("ds:KeyInfo").child(
            Element::new("ds:X509Data").child(Element::text("ds:X509Certificate", certificate)),
        ))
        .child(
            Element::new("ds:Object").child(
                Element::new("xades:QualifyingProperties")
                    .declare("xades", XADES)
                    .attr("Target", "signature")
                    .child(signed_properties),
            ),
        );
    Element::new("ext:UBLExtensions").child(
        Element::new("ext:UBLExtension")
            .child(Element::text(
                "ext:ExtensionURI",
                "urn:oasis:names:specification:ubl:dsig:enveloped:xades",
            ))
            .child(
                Element::new("ext:ExtensionContent").child(
                    Element::new("sig:UBLDocumentSignatures")
                        .declare("sig", SIG)
                        .declare("sac", SAC)
                        .declare("sbc", SBC)
                        .child(
                            Element::new("sac:SignatureInformation")
                                .child(Element::text(
                                    "cbc:ID",
                                    "urn:oasis:names:specification:ubl:signature:1",
                                ))
                                .child(Element::text(
                                    "sbc:ReferencedSignatureID",
                                    "urn:oasis:names:specification:ubl:signature:Invoice",
                                ))
                                .child(signature),
                        ),
                ),
            ),
    )
}
