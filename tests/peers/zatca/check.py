#!/usr/bin/env python3
"""Independent checker for the ZATCA phase-2 documents Wasit writes (/work/briefs/zatca-contract.md,
tests/peers/zatca/README.md). Written from the contract and ZATCA's public documents only, never
from the Rust writer, so a misreading on one side shows up as a failure here.

usage: check.py [--xsd DIR] [--chain-complete] FILE.xml...

  --xsd DIR          the OASIS UBL 2.1 schema set (DIR/maindoc/UBL-Invoice-2.1.xsd); default
                     $WASIT_TEST_UBL_XSD
  --chain-complete   the files are the whole chain: it must start at ICV 1

Prints one JSON object: {"documents": N, "failures": [{"file", "rule", "detail"}],
"chain": {"first_icv", "last_icv"}}. Exit 0 without failures, 1 with, 2 on a usage error.
Needs only the standard library, lxml and cryptography.
"""

import argparse
import base64
import binascii
import datetime
import hashlib
import json
import os
import re
import sys
from decimal import Decimal, InvalidOperation
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from lxml import etree

NS = {
    "inv": "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2",
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
    "ext": "urn:oasis:names:specification:ubl:schema:xsd:CommonExtensionComponents-2",
    "ds": "http://www.w3.org/2000/09/xmldsig#",
    "xades": "http://uri.etsi.org/01903/v1.3.2#",
}
ROOT_NAMESPACES = {None: NS["inv"], "cac": NS["cac"], "cbc": NS["cbc"], "ext": NS["ext"]}
XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>'
# base64 of the hex SHA-256 of "0": the PIH of the first document, as ZATCA specifies.
FIRST_PIH = "NWZlY2ViNjZmZmM4NmYzOGQ5NTI3ODZjNmQ2OTZjNzljMmRiYzIzOWRkNGU5MWI0NjcyOWQ3M2EyN2ZiNTdlOQ=="
C14N11 = "http://www.w3.org/2006/12/xml-c14n11"
ECDSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
SHA256_DIGEST = "http://www.w3.org/2001/04/xmlenc#sha256"
STAMP = "ext:UBLExtensions"
INVOICE_DIGEST = f"{STAMP}//ds:Reference[@Id='invoiceSignedData']/ds:DigestValue"
PROPERTIES_DIGEST = f"{STAMP}//ds:Reference[@URI='#xadesSignedProperties']/ds:DigestValue"
SIGNATURE_VALUE = f"{STAMP}//ds:SignatureValue"
CERTIFICATE = f"{STAMP}//ds:KeyInfo/ds:X509Data/ds:X509Certificate"
SIGNED_PROPERTIES = f"{STAMP}//xades:SignedProperties"
QR = "cac:AdditionalDocumentReference[cbc:ID='QR']/cac:Attachment/cbc:EmbeddedDocumentBinaryObject"
PIH = "cac:AdditionalDocumentReference[cbc:ID='PIH']/cac:Attachment/cbc:EmbeddedDocumentBinaryObject"
ICV = "cac:AdditionalDocumentReference[cbc:ID='ICV']/cbc:UUID"
SUPPLIER = "cac:AccountingSupplierParty/cac:Party"
TOTALS = "cac:LegalMonetaryTotal"
AMOUNT = re.compile(r"^\d+\.\d{2}$")
UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
CATEGORY_PERCENT = {"S": "15.00", "O": "0.00"}
HALALA = Decimal("0.01")

# No entities, no DTD, no network: the documents are data from the code under test.
PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


class Missing(Exception):
    """A rule could not find what it checks; reported as that rule's failure."""


class Document:
    """One parsed file and the lookups the rules share."""

    def __init__(self, name, raw):
        self.name = name
        self.raw = raw
        self.tree = etree.ElementTree(etree.fromstring(raw, PARSER))
        self.root = self.tree.getroot()

    def elements(self):
        return self.root.iter(etree.Element)

    def all(self, path, under=None):
        return (self.root if under is None else under).xpath(path, namespaces=NS)

    def one(self, path, under=None):
        found = self.all(path, under)
        if len(found) != 1:
            raise Missing(f"expected one {path}, found {len(found)}")
        return found[0]

    def text(self, path, under=None):
        return (self.one(path, under).text or "").strip()

    def text_or_none(self, path):
        try:
            return self.text(path)
        except Missing:
            return None

    def amount(self, path, under=None):
        try:
            return Decimal(self.text(path, under))
        except InvalidOperation:
            raise Missing(f"{path} is not a number") from None

    def certificate(self):
        try:
            return x509.load_der_x509_certificate(base64.b64decode(self.text(CERTIFICATE)))
        except (ValueError, binascii.Error) as error:
            raise Missing(f"X509Certificate does not decode: {error}") from None


# ---- the hashes, shared with stand_in.py ----


def hashed_form(raw):
    """C14N of the document without the stamp, the cac:Signature and the QR reference: the bytes
    the invoice hash covers. Each removed element takes its subtree only: its tail text stays, as
    with ZATCA's XPath-filter transforms (a compact document has none).

    C14N 1.0 (libxml2 through lxml) stands in for C14N 1.1: the two differ only in how xml:*
    attributes are inherited into a document subset, and the rule "c14n-1.1" fails any document
    that has one, so here they give the same bytes."""
    tree = etree.ElementTree(etree.fromstring(raw, PARSER))
    root = tree.getroot()
    drop = "ext:UBLExtensions | cac:Signature | cac:AdditionalDocumentReference[cbc:ID='QR']"
    for element in root.xpath(drop, namespaces=NS):
        detach_keeping_tail(element)
    return etree.tostring(tree, method="c14n", exclusive=False, with_comments=False)


def detach_keeping_tail(element):
    if element.tail:
        previous = element.getprevious()
        if previous is not None:
            previous.tail = (previous.tail or "") + element.tail
        else:
            parent = element.getparent()
            parent.text = (parent.text or "") + element.tail
    element.getparent().remove(element)


def invoice_hash(raw):
    """base64 of the raw SHA-256 of the hashed form (contract, "Invoice hash")."""
    return base64.b64encode(hashlib.sha256(hashed_form(raw)).digest()).decode()


def hex_digest_b64(data):
    """ZATCA's SDK form for the certificate and signed-properties digests: base64 of the lowercase
    hex of the SHA-256."""
    return base64.b64encode(hashlib.sha256(data).hexdigest().encode()).decode()


def signed_properties_form(doc):
    """Inclusive C14N of xades:SignedProperties as a node-set of the whole document: every
    namespace in scope rendered on the element, sorted.

    Confirmed by experiment (lxml 6.1.3, libxml2 2.14.6): etree.tostring(element, method="c14n")
    copies the in-scope declarations of the ancestors onto the subtree's apex before
    canonicalizing, which gives exactly that form (selftest.py pins it with a literal)."""
    element = doc.one(SIGNED_PROPERTIES)
    return etree.tostring(element, method="c14n", exclusive=False, with_comments=False)


# ---- rules over one document: each yields the details of its failures ----

RULES = []


def rule(name):
    def register(function):
        RULES.append((name, function))
        return function

    return register


@rule("declaration")
def check_declaration(doc):
    if not doc.raw.startswith(XML_DECLARATION):
        yield f"the file does not start with {XML_DECLARATION.decode()}"
    if doc.tree.docinfo.doctype:
        yield "the document has a DOCTYPE"


@rule("namespaces")
def check_namespaces(doc):
    if doc.root.tag != f"{{{NS['inv']}}}Invoice":
        yield f"root is {doc.root.tag}, expected Invoice"
    if dict(doc.root.nsmap) != ROOT_NAMESPACES:
        yield f"root declares {dict(doc.root.nsmap)}, expected exactly {ROOT_NAMESPACES}"


@rule("compact")
def check_compact(doc):
    for element in doc.elements():
        if len(element) and element.text and not element.text.strip():
            yield f"whitespace text inside <{etree.QName(element).localname}>"
        if element is not doc.root and element.tail is not None and not element.tail.strip():
            yield f"whitespace text after <{etree.QName(element).localname}>"


@rule("c14n-1.1")
def check_no_xml_attributes(doc):
    xml_ns = "{http://www.w3.org/XML/1998/namespace}"
    for element in doc.elements():
        for name in element.attrib:
            if name.startswith(xml_ns):
                yield f"xml:{name[len(xml_ns) :]} on <{etree.QName(element).localname}>: C14N 1.0 and 1.1 may differ"


@rule("header")
def check_header(doc):
    if doc.text("cbc:ProfileID") != "reporting:1.0":
        yield f"ProfileID is {doc.text('cbc:ProfileID')!r}"
    if not doc.text("cbc:ID"):
        yield "cbc:ID (the invoice number) is empty"
    if not UUID.match(doc.text("cbc:UUID")):
        yield f"UUID {doc.text('cbc:UUID')!r} is not an RFC 4122 UUID"
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", doc.text("cbc:IssueDate")):
            raise ValueError
        datetime.date.fromisoformat(doc.text("cbc:IssueDate"))
    except ValueError:
        yield f"IssueDate {doc.text('cbc:IssueDate')!r} is not YYYY-MM-DD"
    try:
        if not re.fullmatch(r"\d{2}:\d{2}:\d{2}", doc.text("cbc:IssueTime")):
            raise ValueError
        datetime.time.fromisoformat(doc.text("cbc:IssueTime"))
    except ValueError:
        yield f"IssueTime {doc.text('cbc:IssueTime')!r} is not HH:MM:SS without a zone"
    if doc.one("cbc:InvoiceTypeCode").get("name") != "0200000":
        yield f"InvoiceTypeCode name is {doc.one('cbc:InvoiceTypeCode').get('name')!r}, expected 0200000"
    for code in ("cbc:DocumentCurrencyCode", "cbc:TaxCurrencyCode"):
        if doc.text(code) != "SAR":
            yield f"{code} is {doc.text(code)!r}"


@rule("type-code")
def check_type_code(doc):
    code = doc.text("cbc:InvoiceTypeCode")
    references = doc.all("cac:BillingReference/cac:InvoiceDocumentReference/cbc:ID")
    if code == "388":
        if doc.all("cac:BillingReference"):
            yield "an invoice (388) has a BillingReference"
    elif code == "381":
        if len(references) != 1 or not (references[0].text or "").strip():
            yield "a credit note (381) needs exactly one BillingReference/InvoiceDocumentReference/ID"
        if not doc.all("cac:PaymentMeans/cbc:InstructionNote") or not doc.text("cac:PaymentMeans/cbc:InstructionNote"):
            yield "a credit note (381) needs its reason in PaymentMeans/InstructionNote"
    else:
        yield f"InvoiceTypeCode is {code!r}, expected 388 or 381"
    if doc.text("cac:PaymentMeans/cbc:PaymentMeansCode") != "48":
        yield f"PaymentMeansCode is {doc.text('cac:PaymentMeans/cbc:PaymentMeansCode')!r}, expected 48"


@rule("references")
def check_references(doc):
    order = [(element.text or "").strip() for element in doc.all("cac:AdditionalDocumentReference/cbc:ID")]
    if order != ["ICV", "PIH", "QR"]:
        yield f"AdditionalDocumentReference IDs are {order}, expected ['ICV', 'PIH', 'QR']"
        return
    if not re.fullmatch(r"[1-9]\d*", doc.text(ICV)):
        yield f"ICV {doc.text(ICV)!r} is not a positive decimal integer"
    for name, path in (("PIH", PIH), ("QR", QR)):
        if doc.one(path).get("mimeCode") != "text/plain":
            yield f"the {name} attachment's mimeCode is {doc.one(path).get('mimeCode')!r}"
    if doc.text("cac:Signature/cbc:ID") != "urn:oasis:names:specification:ubl:signature:Invoice":
        yield f"cac:Signature/cbc:ID is {doc.text('cac:Signature/cbc:ID')!r}"
    if doc.text("cac:Signature/cbc:SignatureMethod") != "urn:oasis:names:specification:ubl:dsig:enveloped:xades":
        yield f"cac:Signature/cbc:SignatureMethod is {doc.text('cac:Signature/cbc:SignatureMethod')!r}"


@rule("parties")
def check_parties(doc):
    party = doc.one(SUPPLIER)
    if not doc.text("cac:PartyIdentification/cbc:ID[@schemeID='CRN']", party):
        yield "the supplier's PartyIdentification/ID[@schemeID='CRN'] is empty"
    for field in ("StreetName", "BuildingNumber", "CitySubdivisionName", "CityName", "PostalZone"):
        if not doc.text(f"cac:PostalAddress/cbc:{field}", party):
            yield f"the supplier's PostalAddress/{field} is empty"
    if doc.text("cac:PostalAddress/cac:Country/cbc:IdentificationCode", party) != "SA":
        yield "the supplier's country is not SA"
    if not doc.text("cac:PartyTaxScheme/cbc:CompanyID", party):
        yield "the supplier's VAT number (PartyTaxScheme/CompanyID) is empty"
    if doc.text("cac:PartyTaxScheme/cac:TaxScheme/cbc:ID", party) != "VAT":
        yield "the supplier's PartyTaxScheme/TaxScheme/ID is not VAT"
    if not doc.text("cac:PartyLegalEntity/cbc:RegistrationName", party):
        yield "the supplier's RegistrationName is empty"
    if not doc.text("cac:AccountingCustomerParty/cac:Party/cac:PartyLegalEntity/cbc:RegistrationName"):
        yield "the buyer's RegistrationName is empty"


@rule("amounts")
def check_amount_format(doc):
    for element in doc.root.iter(f"{{{NS['cbc']}}}*"):
        if not etree.QName(element).localname.endswith("Amount"):
            continue
        name = etree.QName(element).localname
        if element.get("currencyID") != "SAR":
            yield f"{name} has currencyID {element.get('currencyID')!r}"
        if not AMOUNT.match(element.text or ""):
            yield f"{name} {element.text!r} is not a non-negative amount with two decimals"


@rule("lines")
def check_lines(doc):
    lines = doc.all("cac:InvoiceLine")
    if not lines:
        yield "no InvoiceLine"
    for number, line in enumerate(lines, start=1):
        where = f"line {number}"
        if doc.text("cbc:ID", line) != str(number):
            yield f"{where} has ID {doc.text('cbc:ID', line)!r}"
        quantity = doc.one("cbc:InvoicedQuantity", line)
        if quantity.get("unitCode") != "PCE" or (quantity.text or "") != "1.00":
            yield f"{where}: InvoicedQuantity is {quantity.text!r} {quantity.get('unitCode')!r}, expected 1.00 PCE"
        net = doc.amount("cbc:LineExtensionAmount", line)
        vat = doc.amount("cac:TaxTotal/cbc:TaxAmount", line)
        if doc.amount("cac:TaxTotal/cbc:RoundingAmount", line) != net + vat:
            yield f"{where}: RoundingAmount is not net + VAT ({net} + {vat})"
        if doc.amount("cac:Price/cbc:PriceAmount", line) != net:
            yield f"{where}: PriceAmount is not the net amount {net}"
        if not doc.text("cac:Item/cbc:Name", line):
            yield f"{where}: the item has no name"
        category = doc.one("cac:Item/cac:ClassifiedTaxCategory", line)
        code = doc.text("cbc:ID", category)
        if CATEGORY_PERCENT.get(code) != doc.text("cbc:Percent", category):
            yield f"{where}: category {code!r} at {doc.text('cbc:Percent', category)!r} %"
        if doc.text("cac:TaxScheme/cbc:ID", category) != "VAT":
            yield f"{where}: ClassifiedTaxCategory/TaxScheme/ID is not VAT"
        if code == "O" and vat != 0:
            yield f"{where}: category O carries VAT {vat}"


@rule("tax-categories")
def check_tax_categories(doc):
    seen = set()
    for subtotal in doc.all("cac:TaxTotal/cac:TaxSubtotal"):
        category = doc.one("cac:TaxCategory", subtotal)
        code = doc.text("cbc:ID", category)
        if code in seen:
            yield f"two TaxSubtotals for category {code!r}"
        seen.add(code)
        if CATEGORY_PERCENT.get(code) != doc.text("cbc:Percent", category):
            yield f"category {code!r} at {doc.text('cbc:Percent', category)!r} %"
        if doc.text("cac:TaxScheme/cbc:ID", category) != "VAT":
            yield f"category {code!r}: TaxScheme/ID is not VAT"
        reasons = doc.all("cbc:TaxExemptionReasonCode", category), doc.all("cbc:TaxExemptionReason", category)
        if code == "O":
            if doc.text("cbc:TaxExemptionReasonCode", category) != "VATEX-SA-OOS":
                yield "category O: TaxExemptionReasonCode is not VATEX-SA-OOS"
            if not doc.text("cbc:TaxExemptionReason", category):
                yield "category O: TaxExemptionReason is empty"
        elif any(reasons):
            yield f"category {code!r} has an exemption reason"
        lines = [
            line
            for line in doc.all("cac:InvoiceLine")
            if doc.text("cac:Item/cac:ClassifiedTaxCategory/cbc:ID", line) == code
        ]
        net = sum((doc.amount("cbc:LineExtensionAmount", line) for line in lines), Decimal("0.00"))
        if doc.amount("cbc:TaxableAmount", subtotal) != net:
            yield f"category {code!r}: TaxableAmount is not the sum of its lines ({net})"
    line_codes = {
        (code.text or "").strip() for code in doc.all("cac:InvoiceLine/cac:Item/cac:ClassifiedTaxCategory/cbc:ID")
    }
    if line_codes - seen:
        yield f"no TaxSubtotal for the lines' categories {sorted(line_codes - seen)}"


@rule("totals")
def check_totals(doc):
    tax_totals = doc.all("cac:TaxTotal")
    if (
        len(tax_totals) != 2
        or doc.all("cac:TaxSubtotal", tax_totals[0])
        or not doc.all("cac:TaxSubtotal", tax_totals[1])
    ):
        yield "expected two TaxTotals: TaxAmount alone, then TaxAmount with TaxSubtotals"
        return
    vat = doc.amount("cbc:TaxAmount", tax_totals[0])
    if doc.amount("cbc:TaxAmount", tax_totals[1]) != vat:
        yield "the two TaxTotal/TaxAmount differ"
    lines = sum((doc.amount("cbc:LineExtensionAmount", line) for line in doc.all("cac:InvoiceLine")), Decimal("0.00"))
    net = doc.amount(f"{TOTALS}/cbc:LineExtensionAmount")
    exclusive = doc.amount(f"{TOTALS}/cbc:TaxExclusiveAmount")
    inclusive = doc.amount(f"{TOTALS}/cbc:TaxInclusiveAmount")
    if not lines == net == exclusive:
        yield f"sum of lines {lines}, LineExtensionAmount {net}, TaxExclusiveAmount {exclusive} differ"
    if not inclusive == exclusive + vat == doc.amount(f"{TOTALS}/cbc:PayableAmount"):
        yield f"TaxInclusiveAmount {inclusive}, TaxExclusiveAmount + VAT {exclusive + vat}, PayableAmount differ"
    for zero in ("AllowanceTotalAmount", "PrepaidAmount"):
        if doc.amount(f"{TOTALS}/cbc:{zero}") != 0:
            yield f"{zero} is not 0.00"
    subtotals = doc.all("cac:TaxSubtotal", tax_totals[1])
    if sum((doc.amount("cbc:TaxAmount", s) for s in subtotals), Decimal("0.00")) != vat:
        yield f"the subtotals' TaxAmounts do not add up to the VAT total {vat}"
    for subtotal in subtotals:
        expected = doc.amount("cbc:TaxableAmount", subtotal) * doc.amount("cac:TaxCategory/cbc:Percent", subtotal) / 100
        if abs(doc.amount("cbc:TaxAmount", subtotal) - expected) > HALALA:
            code = doc.text("cac:TaxCategory/cbc:ID", subtotal)
            yield f"subtotal {code}: TaxAmount is not TaxableAmount x Percent (±0.01)"


@rule("signed-info")
def check_signed_info(doc):
    algorithms = {
        f"{STAMP}//ds:SignedInfo/ds:CanonicalizationMethod": C14N11,
        f"{STAMP}//ds:SignedInfo/ds:SignatureMethod": ECDSA_SHA256,
        f"{STAMP}//ds:Reference[@Id='invoiceSignedData']/ds:DigestMethod": SHA256_DIGEST,
        f"{STAMP}//ds:Reference[@URI='#xadesSignedProperties']/ds:DigestMethod": SHA256_DIGEST,
        f"{STAMP}//xades:CertDigest/ds:DigestMethod": SHA256_DIGEST,
    }
    for path, algorithm in algorithms.items():
        if doc.one(path).get("Algorithm") != algorithm:
            yield f"{path} has Algorithm {doc.one(path).get('Algorithm')!r}, expected {algorithm}"


@rule("invoice-hash")
def check_invoice_hash(doc):
    written, computed = doc.text(INVOICE_DIGEST), invoice_hash(doc.raw)
    if written != computed:
        yield f"DigestValue {written} != recomputed {computed}"


@rule("certificate")
def check_certificate(doc):
    key = doc.certificate().public_key()
    curve = key.curve.name if isinstance(key, ec.EllipticCurvePublicKey) else type(key).__name__
    if curve != "secp256k1":
        yield f"the certificate's key is {curve}, expected EC secp256k1"


@rule("signature")
def check_signature(doc):
    """ECDSA-SHA256 over the 32 raw bytes of the written invoice hash (whether that hash is right
    is the rule invoice-hash)."""
    key = doc.certificate().public_key()
    try:
        signature = base64.b64decode(doc.text(SIGNATURE_VALUE), validate=True)
        digest = base64.b64decode(doc.text(INVOICE_DIGEST), validate=True)
        key.verify(signature, digest, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, binascii.Error, ValueError, AttributeError, TypeError) as error:
        yield f"SignatureValue does not verify with the certificate's key ({type(error).__name__})"


@rule("cert-digest")
def check_cert_digest(doc):
    expected = hex_digest_b64((doc.one(CERTIFICATE).text or "").encode())
    written = doc.text(f"{SIGNED_PROPERTIES}//xades:CertDigest/ds:DigestValue")
    if written != expected:
        yield f"CertDigest {written} != {expected}"


@rule("issuer-serial")
def check_issuer_serial(doc):
    certificate = doc.certificate()
    serial = f"{SIGNED_PROPERTIES}//xades:IssuerSerial"
    if doc.text(f"{serial}/ds:X509IssuerName") != certificate.issuer.rfc4514_string():
        yield f"X509IssuerName {doc.text(f'{serial}/ds:X509IssuerName')!r} != {certificate.issuer.rfc4514_string()!r}"
    if doc.text(f"{serial}/ds:X509SerialNumber") != str(certificate.serial_number):
        yield f"X509SerialNumber {doc.text(f'{serial}/ds:X509SerialNumber')!r} != {certificate.serial_number}"


@rule("signing-time")
def check_signing_time(doc):
    issued = f"{doc.text('cbc:IssueDate')}T{doc.text('cbc:IssueTime')}"
    if doc.text(f"{SIGNED_PROPERTIES}//xades:SigningTime") != issued:
        yield f"SigningTime {doc.text(f'{SIGNED_PROPERTIES}//xades:SigningTime')!r} != issue time {issued!r}"


@rule("signed-properties-digest")
def check_signed_properties_digest(doc):
    expected = hex_digest_b64(signed_properties_form(doc))
    if doc.text(PROPERTIES_DIGEST) != expected:
        yield f"DigestValue {doc.text(PROPERTIES_DIGEST)} != recomputed {expected}"


def decode_tlv(data):
    records, at = [], 0
    while at < len(data):
        if at + 2 > len(data) or at + 2 + data[at + 1] > len(data):
            raise Missing(f"the QR's TLV is cut short at byte {at}")
        tag, length = data[at], data[at + 1]
        records.append((tag, data[at + 2 : at + 2 + length]))
        at += 2 + length
    return records


@rule("qr")
def check_qr(doc):
    try:
        records = decode_tlv(base64.b64decode(doc.text(QR), validate=True))
    except binascii.Error as error:
        raise Missing(f"the QR is not base64: {error}") from None
    tags = [tag for tag, _ in records]
    if tags != list(range(1, 10)):
        yield f"QR tags are {tags}, expected 1..9 in order"
    certificate = doc.certificate()
    supplier = doc.one(SUPPLIER)
    expected = {
        1: doc.text("cac:PartyLegalEntity/cbc:RegistrationName", supplier).encode(),
        2: doc.text("cac:PartyTaxScheme/cbc:CompanyID", supplier).encode(),
        3: f"{doc.text('cbc:IssueDate')}T{doc.text('cbc:IssueTime')}".encode(),
        4: doc.text(f"{TOTALS}/cbc:TaxInclusiveAmount").encode(),
        5: doc.text("cac:TaxTotal[not(cac:TaxSubtotal)]/cbc:TaxAmount").encode(),
        6: doc.text(INVOICE_DIGEST).encode(),
        7: doc.text(SIGNATURE_VALUE).encode(),
        8: certificate.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        9: certificate.signature,
    }
    for tag, value in records:
        if tag in expected and value != expected[tag]:
            yield f"tag {tag} is {shown(value)}, expected {shown(expected[tag])}"


def shown(value):
    try:
        return repr(value.decode())
    except UnicodeDecodeError:
        return value.hex()


def check_schema(doc, schema):
    if not schema.validate(doc.tree):
        for error in schema.error_log:
            yield f"{error.path}: {error.message}"


def check_document(doc, schema):
    """All the rules over one document (the schema too, unless schema is None): a list of
    (rule, detail). A rule that meets something it cannot read fails with what it met."""
    rules = RULES if schema is None else [("xsd", lambda doc: check_schema(doc, schema)), *RULES]
    failures = []
    for name, function in rules:
        try:
            for detail in function(doc):
                failures.append((name, detail))
        except Missing as missing:
            failures.append((name, str(missing)))
        except Exception as error:  # bad input must fail its rule, never end the run
            failures.append((name, f"{type(error).__name__}: {error}"))
    return failures


# ---- the chain over all documents ----


def check_chain(docs, complete):
    """ICV gapless and unique, each PIH the previous document's invoice hash. docs: parsed
    Documents whose rules already ran. Returns (failures as (file, rule, detail), first, last)."""
    failures, entries = [], []
    for doc in docs:
        try:
            entries.append((int(doc.text(ICV)), doc.text(PIH), invoice_hash(doc.raw), doc))
        except (Missing, ValueError):
            continue  # the rule "references" has reported it
    if not entries:
        return failures, None, None
    entries.sort(key=lambda entry: entry[0])
    by_icv, by_pih = {}, {}
    for icv, pih, _, doc in entries:
        if icv in by_icv:
            failures.append((doc.name, "chain-fork", f"ICV {icv} also in {by_icv[icv].name}"))
        by_icv.setdefault(icv, doc)
        if pih in by_pih:
            failures.append((doc.name, "chain-fork", f"same PIH as {by_pih[pih].name}"))
        by_pih.setdefault(pih, doc)
    hashes = {icv: digest for icv, _, digest, _ in entries}
    icvs = sorted(by_icv)
    for before, after in zip(icvs, icvs[1:]):
        if after != before + 1:
            failures.append((by_icv[after].name, "chain-gap", f"ICV {before} is followed by {after}"))
    for icv, pih, _, doc in entries:
        if icv == 1 and pih != FIRST_PIH:
            failures.append((doc.name, "chain-pih", f"ICV 1 has PIH {pih}, expected the hash of '0'"))
        elif icv - 1 in hashes and pih != hashes[icv - 1]:
            failures.append((doc.name, "chain-pih", f"PIH {pih} != hash of ICV {icv - 1} {hashes[icv - 1]}"))
    if complete and icvs[0] != 1:
        failures.append((by_icv[icvs[0]].name, "chain-start", f"the chain starts at ICV {icvs[0]}, not 1"))
    for field, path in (("UUID", "cbc:UUID"), ("number", "cbc:ID")):
        seen = {}
        for _, _, _, doc in entries:
            value = doc.text_or_none(path)
            if value is None:
                continue
            if value in seen:
                failures.append((doc.name, "unique", f"{field} {value} also in {seen[value]}"))
            seen.setdefault(value, doc.name)
    return failures, icvs[0], icvs[-1]


def load_schema(directory):
    main = Path(directory) / "maindoc" / "UBL-Invoice-2.1.xsd"
    return etree.XMLSchema(etree.parse(str(main)))


def run(paths, schema, complete):
    """The report for a set of files (what the command prints)."""
    failures, docs = [], []
    for path in paths:
        raw = Path(path).read_bytes()
        try:
            doc = Document(str(path), raw)
        except etree.XMLSyntaxError as error:
            failures.append({"file": str(path), "rule": "well-formed", "detail": str(error)})
            continue
        docs.append(doc)
        failures.extend(
            {"file": str(path), "rule": name, "detail": detail} for name, detail in check_document(doc, schema)
        )
    chain_failures, first, last = check_chain(docs, complete)
    failures.extend({"file": name, "rule": rule_name, "detail": detail} for name, rule_name, detail in chain_failures)
    return {"documents": len(paths), "failures": failures, "chain": {"first_icv": first, "last_icv": last}}


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="+", metavar="FILE.xml")
    parser.add_argument("--xsd", default=os.environ.get("WASIT_TEST_UBL_XSD"))
    parser.add_argument("--chain-complete", action="store_true")
    args = parser.parse_args(argv)
    if not args.xsd or not (Path(args.xsd) / "maindoc" / "UBL-Invoice-2.1.xsd").is_file():
        parser.error(
            "give the UBL 2.1 schema set with --xsd DIR or WASIT_TEST_UBL_XSD (DIR/maindoc/UBL-Invoice-2.1.xsd)"
        )
    unreadable = [path for path in args.files if not Path(path).is_file()]
    if unreadable:
        parser.error(f"no such file: {', '.join(unreadable)}")
    report = run(args.files, load_schema(args.xsd), args.chain_complete)
    json.dump(report, sys.stdout, ensure_ascii=False, indent=1)
    sys.stdout.write("\n")
    return 1 if report["failures"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
