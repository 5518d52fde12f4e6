#!/usr/bin/env python3
"""Proves check.py can pass and can fail: signs a small chain of documents per the contract with
a signer of its own, expects check.py to pass them, then expects each tampered copy to fail with
the rule that names the tampering. Also pins lxml's subtree C14N and drives stand_in.py once.

usage: selftest.py [--xsd DIR]      (default $WASIT_TEST_UBL_XSD; exit 0 when every case holds)

The signer shares no code with check.py: it writes each document as text already in canonical
form (sorted attributes, namespaces declared once, no empty-element tags), so the invoice hash
and the signed-properties digest are plain SHA-256 over strings it built, while check.py gets
them from lxml's C14N. Agreement means both readings of the contract meet. The private key lives
in memory only.
"""

import argparse
import base64
import datetime
import hashlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from lxml import etree

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import check  # noqa: E402  (check.py beside this file)

INV = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
CAC = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
CBC = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"
EXT = "urn:oasis:names:specification:ubl:schema:xsd:CommonExtensionComponents-2"
SIG = "urn:oasis:names:specification:ubl:schema:xsd:CommonSignatureComponents-2"
SAC = "urn:oasis:names:specification:ubl:schema:xsd:SignatureAggregateComponents-2"
SBC = "urn:oasis:names:specification:ubl:schema:xsd:SignatureBasicComponents-2"
DS = "http://www.w3.org/2000/09/xmldsig#"
XADES = "http://uri.etsi.org/01903/v1.3.2#"
ROOT_OPEN = f'<Invoice xmlns="{INV}" xmlns:cac="{CAC}" xmlns:cbc="{CBC}" xmlns:ext="{EXT}">'
# Every namespace in scope at xades:SignedProperties, default first, then by prefix: the
# node-set form the contract asks the signed-properties digest over.
SIGNED_PROPERTIES_NAMESPACES = (
    f'xmlns="{INV}" xmlns:cac="{CAC}" xmlns:cbc="{CBC}" xmlns:ds="{DS}" xmlns:ext="{EXT}" '
    f'xmlns:sac="{SAC}" xmlns:sbc="{SBC}" xmlns:sig="{SIG}" xmlns:xades="{XADES}"'
)
FIRST_PIH = base64.b64encode(hashlib.sha256(b"0").hexdigest().encode()).decode()
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
XPATH_FILTER = "http://www.w3.org/TR/1999/REC-xpath-19991116"
SELLER = {
    "name": "شركة واسط للحجوزات المحدودة",
    "vat": "399999999900003",
    "crn": "1010010000",
    "street": "طريق الملك فهد",
    "building": "2322",
    "district": "العليا",
    "city": "الرياض",
    "postal": "12211",
}


# ---- canonical-form text ----


def text(value):
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#xD;")


def attribute(value):
    for raw, escaped in (
        ("&", "&amp;"),
        ("<", "&lt;"),
        ('"', "&quot;"),
        ("\t", "&#x9;"),
        ("\n", "&#xA;"),
        ("\r", "&#xD;"),
    ):
        value = value.replace(raw, escaped)
    return value


def el(tag, *content, **attributes):
    """An element in canonical form; content is already-built children or, if a single str
    that is not markup, escaped text. Unprefixed attributes sort by name, as C14N does."""
    attrs = "".join(f' {name}="{attribute(value)}"' for name, value in sorted(attributes.items()))
    inner = "".join(content)
    return f"<{tag}{attrs}>{inner}</{tag}>"


def t(tag, value, **attributes):
    return el(tag, text(value), **attributes)


def sar(tag, amount):
    return t(tag, f"{amount:.2f}", currencyID="SAR")


# ---- the documents ----


@dataclass
class Line:
    name: str
    net: Decimal
    category: str  # S: our fee at 15 %; O: the provider's price, out of scope

    @property
    def vat(self):
        return (self.net * Decimal("0.15")).quantize(Decimal("0.01")) if self.category == "S" else Decimal("0.00")


@dataclass
class Spec:
    number: str
    icv: int
    pih: str
    buyer: str
    lines: list
    type_code: str = "388"
    original: str = None  # the invoice a credit note refunds
    reason: str = None
    issued: datetime.datetime = datetime.datetime(2026, 3, 1, 14, 5, 9)
    uuid: str = field(default_factory=lambda: str(uuid.uuid4()))
    # Test hooks: text put after TaxCurrencyCode (to break the schema), and a QR tag override.
    after_currency: str = ""
    qr_override: dict = field(default_factory=dict)


def category_xml(code, percent, tag):
    exemption = ""
    if code == "O":
        exemption = t("cbc:TaxExemptionReasonCode", "VATEX-SA-OOS") + t(
            "cbc:TaxExemptionReason", "Collected on behalf of the provider (out of scope)"
        )
    return el(tag, t("cbc:ID", code), t("cbc:Percent", percent), exemption, el("cac:TaxScheme", t("cbc:ID", "VAT")))


def body(spec):
    """(head, rest): the parts of the document the invoice hash covers, in order; the QR
    reference and cac:Signature go between them, the stamp before them."""
    date, clock = spec.issued.strftime("%Y-%m-%d"), spec.issued.strftime("%H:%M:%S")
    billing = ""
    if spec.original:
        billing = el("cac:BillingReference", el("cac:InvoiceDocumentReference", t("cbc:ID", spec.original)))
    head = "".join(
        [
            t("cbc:ProfileID", "reporting:1.0"),
            t("cbc:ID", spec.number),
            t("cbc:UUID", spec.uuid),
            t("cbc:IssueDate", date),
            t("cbc:IssueTime", clock),
            t("cbc:InvoiceTypeCode", spec.type_code, name="0200000"),
            t("cbc:DocumentCurrencyCode", "SAR"),
            t("cbc:TaxCurrencyCode", "SAR"),
            spec.after_currency,
            billing,
            el("cac:AdditionalDocumentReference", t("cbc:ID", "ICV"), t("cbc:UUID", str(spec.icv))),
            el(
                "cac:AdditionalDocumentReference",
                t("cbc:ID", "PIH"),
                el("cac:Attachment", t("cbc:EmbeddedDocumentBinaryObject", spec.pih, mimeCode="text/plain")),
            ),
        ]
    )
    supplier = el(
        "cac:AccountingSupplierParty",
        el(
            "cac:Party",
            el("cac:PartyIdentification", t("cbc:ID", SELLER["crn"], schemeID="CRN")),
            el(
                "cac:PostalAddress",
                t("cbc:StreetName", SELLER["street"]),
                t("cbc:BuildingNumber", SELLER["building"]),
                t("cbc:CitySubdivisionName", SELLER["district"]),
                t("cbc:CityName", SELLER["city"]),
                t("cbc:PostalZone", SELLER["postal"]),
                el("cac:Country", t("cbc:IdentificationCode", "SA")),
            ),
            el("cac:PartyTaxScheme", t("cbc:CompanyID", SELLER["vat"]), el("cac:TaxScheme", t("cbc:ID", "VAT"))),
            el("cac:PartyLegalEntity", t("cbc:RegistrationName", SELLER["name"])),
        ),
    )
    customer = el(
        "cac:AccountingCustomerParty",
        el("cac:Party", el("cac:PartyLegalEntity", t("cbc:RegistrationName", spec.buyer))),
    )
    payment = el(
        "cac:PaymentMeans",
        t("cbc:PaymentMeansCode", "48"),
        t("cbc:InstructionNote", spec.reason) if spec.reason else "",
    )
    net = sum((line.net for line in spec.lines), Decimal("0.00"))
    vat = sum((line.vat for line in spec.lines), Decimal("0.00"))
    subtotals = []
    for code, percent in (("S", "15.00"), ("O", "0.00")):
        lines = [line for line in spec.lines if line.category == code]
        if lines:
            taxable = sum((line.net for line in lines), Decimal("0.00"))
            tax = sum((line.vat for line in lines), Decimal("0.00"))
            subtotals.append(
                el(
                    "cac:TaxSubtotal",
                    sar("cbc:TaxableAmount", taxable),
                    sar("cbc:TaxAmount", tax),
                    category_xml(code, percent, "cac:TaxCategory"),
                )
            )
    totals = el(
        "cac:LegalMonetaryTotal",
        sar("cbc:LineExtensionAmount", net),
        sar("cbc:TaxExclusiveAmount", net),
        sar("cbc:TaxInclusiveAmount", net + vat),
        sar("cbc:AllowanceTotalAmount", Decimal(0)),
        sar("cbc:PrepaidAmount", Decimal(0)),
        sar("cbc:PayableAmount", net + vat),
    )
    lines = [
        el(
            "cac:InvoiceLine",
            t("cbc:ID", str(number)),
            t("cbc:InvoicedQuantity", "1.00", unitCode="PCE"),
            sar("cbc:LineExtensionAmount", line.net),
            el("cac:TaxTotal", sar("cbc:TaxAmount", line.vat), sar("cbc:RoundingAmount", line.net + line.vat)),
            el(
                "cac:Item",
                t("cbc:Name", line.name),
                category_xml(line.category, "15.00" if line.category == "S" else "0.00", "cac:ClassifiedTaxCategory"),
            ),
            el("cac:Price", sar("cbc:PriceAmount", line.net)),
        )
        for number, line in enumerate(spec.lines, start=1)
    ]
    rest = "".join(
        [
            supplier,
            customer,
            payment,
            el("cac:TaxTotal", sar("cbc:TaxAmount", vat)),
            el("cac:TaxTotal", sar("cbc:TaxAmount", vat), *subtotals),
            totals,
            *lines,
        ]
    )
    return head, rest, net + vat, vat


def tlv(records):
    return base64.b64encode(b"".join(bytes([tag, len(value)]) + value for tag, value in records)).decode()


@dataclass
class Stamp:
    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate

    @classmethod
    def new(cls):
        key = ec.generate_private_key(ec.SECP256K1())
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "SA"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Wasit selftest"),
                x509.NameAttribute(NameOID.COMMON_NAME, "TST-399999999900003"),
            ]
        )
        now = datetime.datetime.now(datetime.timezone.utc)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .sign(key, hashes.SHA256())
        )
        return cls(key, certificate)

    def sign(self, spec):
        head, rest, inclusive, vat = body(spec)
        digest = hashlib.sha256((ROOT_OPEN + head + rest + "</Invoice>").encode()).digest()
        invoice_hash = base64.b64encode(digest).decode()
        signature = base64.b64encode(self.key.sign(digest, ec.ECDSA(hashes.SHA256()))).decode()
        certificate = base64.b64encode(self.certificate.public_bytes(serialization.Encoding.DER)).decode()
        properties = el(
            "xades:SignedSignatureProperties",
            t("xades:SigningTime", spec.issued.strftime("%Y-%m-%dT%H:%M:%S")),
            el(
                "xades:SigningCertificate",
                el(
                    "xades:Cert",
                    el(
                        "xades:CertDigest",
                        el("ds:DigestMethod", Algorithm=SHA256),
                        t(
                            "ds:DigestValue",
                            base64.b64encode(hashlib.sha256(certificate.encode()).hexdigest().encode()).decode(),
                        ),
                    ),
                    el(
                        "xades:IssuerSerial",
                        t("ds:X509IssuerName", self.certificate.issuer.rfc4514_string()),
                        t("ds:X509SerialNumber", str(self.certificate.serial_number)),
                    ),
                ),
            ),
        )
        standalone = (
            f'<xades:SignedProperties {SIGNED_PROPERTIES_NAMESPACES} Id="xadesSignedProperties">'
            f"{properties}</xades:SignedProperties>"
        )
        properties_digest = base64.b64encode(hashlib.sha256(standalone.encode()).hexdigest().encode()).decode()
        transforms = el(
            "ds:Transforms",
            *[
                el("ds:Transform", t("ds:XPath", f"not(//ancestor-or-self::{path})"), Algorithm=XPATH_FILTER)
                for path in ("ext:UBLExtensions", "cac:Signature", "cac:AdditionalDocumentReference[cbc:ID='QR']")
            ],
            el("ds:Transform", Algorithm="http://www.w3.org/2006/12/xml-c14n11"),
        )
        signed_info = el(
            "ds:SignedInfo",
            el("ds:CanonicalizationMethod", Algorithm="http://www.w3.org/2006/12/xml-c14n11"),
            el("ds:SignatureMethod", Algorithm="http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"),
            el(
                "ds:Reference",
                transforms,
                el("ds:DigestMethod", Algorithm=SHA256),
                t("ds:DigestValue", invoice_hash),
                Id="invoiceSignedData",
                URI="",
            ),
            el(
                "ds:Reference",
                el("ds:DigestMethod", Algorithm=SHA256),
                t("ds:DigestValue", properties_digest),
                Type="http://www.w3.org/2000/09/xmldsig#SignatureProperties",
                URI="#xadesSignedProperties",
            ),
        )
        stamp = el(
            "ext:UBLExtensions",
            el(
                "ext:UBLExtension",
                t("ext:ExtensionURI", "urn:oasis:names:specification:ubl:dsig:enveloped:xades"),
                el(
                    "ext:ExtensionContent",
                    f'<sig:UBLDocumentSignatures xmlns:sac="{SAC}" xmlns:sbc="{SBC}" xmlns:sig="{SIG}">'
                    + el(
                        "sac:SignatureInformation",
                        t("cbc:ID", "urn:oasis:names:specification:ubl:signature:1"),
                        t("sbc:ReferencedSignatureID", "urn:oasis:names:specification:ubl:signature:Invoice"),
                        f'<ds:Signature xmlns:ds="{DS}" Id="signature">'
                        + signed_info
                        + t("ds:SignatureValue", signature)
                        + el("ds:KeyInfo", el("ds:X509Data", t("ds:X509Certificate", certificate)))
                        + el(
                            "ds:Object",
                            f'<xades:QualifyingProperties xmlns:xades="{XADES}" Target="signature">'
                            + '<xades:SignedProperties Id="xadesSignedProperties">'
                            + f"{properties}</xades:SignedProperties>"
                            + "</xades:QualifyingProperties>",
                        )
                        + "</ds:Signature>",
                    )
                    + "</sig:UBLDocumentSignatures>",
                ),
            ),
        )
        public_key = self.certificate.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        records = {
            1: SELLER["name"].encode(),
            2: SELLER["vat"].encode(),
            3: spec.issued.strftime("%Y-%m-%dT%H:%M:%S").encode(),
            4: f"{inclusive:.2f}".encode(),
            5: f"{vat:.2f}".encode(),
            6: invoice_hash.encode(),
            7: signature.encode(),
            8: public_key,
            9: self.certificate.signature,
        }
        records.update(spec.qr_override)
        qr = el(
            "cac:AdditionalDocumentReference",
            t("cbc:ID", "QR"),
            el(
                "cac:Attachment",
                t("cbc:EmbeddedDocumentBinaryObject", tlv(sorted(records.items())), mimeCode="text/plain"),
            ),
        )
        signature_ref = el(
            "cac:Signature",
            t("cbc:ID", "urn:oasis:names:specification:ubl:signature:Invoice"),
            t("cbc:SignatureMethod", "urn:oasis:names:specification:ubl:dsig:enveloped:xades"),
        )
        document = (
            '<?xml version="1.0" encoding="UTF-8"?>'
            + ROOT_OPEN
            + stamp
            + head
            + qr
            + signature_ref
            + rest
            + "</Invoice>"
        )
        return document.encode(), invoice_hash


def chain(stamp):
    """Invoices and a credit note in one chain: Arabic and Latin buyers, several lines, a zero
    fee line, a provider line out of scope. Returns [(spec, xml bytes, hash)]."""
    specs = [
        Spec(
            "INV-2026-000001",
            1,
            FIRST_PIH,
            "محمد عبدالله القحطاني",
            [Line("رسوم الحجز", Decimal("20.00"), "S"), Line("جلسة علاج طبيعي", Decimal("300.00"), "O")],
        ),
        Spec(
            "INV-2026-000002", 2, "", "Sarah O'Neil & Co <test>", [Line("Plan: clinic monthly", Decimal("199.00"), "S")]
        ),
        Spec(
            "INV-2026-000003",
            3,
            "",
            "نورة",
            [
                Line("Booking fee (waived)", Decimal("0.00"), "S"),
                Line("Consultation", Decimal("150.00"), "O"),
                Line("Follow-up", Decimal("0.00"), "O"),
            ],
        ),
        Spec(
            "CRN-2026-000001",
            4,
            "",
            "محمد عبدالله القحطاني",
            [Line("رسوم الحجز", Decimal("10.00"), "S"), Line("جلسة علاج طبيعي", Decimal("150.00"), "O")],
            type_code="381",
            original="INV-2026-000001",
            reason="إلغاء الحجز من العميل",
        ),
        Spec(
            "INV-2026-000004", 5, "", "Ahmed", [Line("Fee", Decimal("7.77"), "S"), Line("Fee 2", Decimal("3.33"), "S")]
        ),
    ]
    signed, previous = [], None
    for spec in specs:
        spec = replace(spec, pih=spec.pih or previous)
        document, digest = stamp.sign(spec)
        signed.append((spec, document, digest))
        previous = digest
    return signed


# ---- the cases ----


class Case:
    """Writes a set of documents to a directory and runs the checker in-process on them."""

    def __init__(self, directory, schema):
        self.directory, self.schema, self.failed, self.count = directory, schema, [], 0

    def expect_none(self, name, problems):
        self.count += 1
        for problem in problems:
            self.fail(name, problem)

    def run(self, name, documents, complete=True):
        folder = self.directory / name
        folder.mkdir()
        paths = []
        for index, document in enumerate(documents):
            path = folder / f"{index:02d}.xml"
            path.write_bytes(document)
            paths.append(path)
        return check.run(paths, self.schema, complete)

    def expect_pass(self, name, documents, complete=True):
        self.count += 1
        report = self.run(name, documents, complete)
        if report["failures"]:
            self.fail(name, f"expected no failure, got {json.dumps(report['failures'], ensure_ascii=False, indent=1)}")

    def expect_fail(self, name, documents, rule, absent=(), complete=True):
        self.count += 1
        report = self.run(name, documents, complete)
        rules = {failure["rule"] for failure in report["failures"]}
        if rule not in rules:
            self.fail(name, f"expected rule {rule}, got {sorted(rules)}")
        for other in absent:
            if other in rules:
                self.fail(name, f"rule {other} failed too: {[f for f in report['failures'] if f['rule'] == other]}")

    def fail(self, name, detail):
        if name not in self.failed:
            self.failed.append(name)
        print(f"FAIL {name}: {detail}", file=sys.stderr)


def swap(document, old, new):
    assert document.count(old.encode()) >= 1, old
    return document.replace(old.encode(), new.encode(), 1)


def between(document, start, end):
    return document.split(start.encode(), 1)[1].split(end.encode(), 1)[0].decode()


def check_c14n_subtree():
    """What lxml renders for a subtree's inherited namespaces (check.signed_properties_form relies
    on it): all of them on the apex, sorted, none repeated below, no tail."""
    xml = (
        '<r xmlns="urn:d" xmlns:b="urn:b" xmlns:a="urn:a"><a:x xmlns:c="urn:c"><b:y Id="1" A="2">'
        "<a:z>t</a:z><c:w/></b:y>tail</a:x></r>"
    )
    subtree = etree.fromstring(xml).find(".//{urn:b}y")
    rendered = etree.tostring(subtree, method="c14n", exclusive=False, with_comments=False)
    expected = (
        b'<b:y xmlns="urn:d" xmlns:a="urn:a" xmlns:b="urn:b" xmlns:c="urn:c" A="2" Id="1"><a:z>t</a:z><c:w></c:w></b:y>'
    )
    if rendered != expected:
        return [f"lxml renders {rendered!r}, expected {expected!r}"]
    return []


def check_command(xsd, folder):
    """The command itself: JSON on stdout, exit 0 / 1 / 2."""
    problems = []
    files = sorted(str(path) for path in folder.iterdir())
    command = [sys.executable, str(HERE / "check.py"), "--xsd", xsd, "--chain-complete"]
    good = subprocess.run(command + files, capture_output=True, text=True)
    if good.returncode != 0 or json.loads(good.stdout) != {
        "documents": 5,
        "failures": [],
        "chain": {"first_icv": 1, "last_icv": 5},
    }:
        problems.append(f"on the good chain: exit {good.returncode}: {good.stdout}{good.stderr}")
    bad = subprocess.run(command + files[1:], capture_output=True, text=True)
    if bad.returncode != 1 or [f["rule"] for f in json.loads(bad.stdout)["failures"]] != ["chain-start"]:
        problems.append(f"on a chain without ICV 1: exit {bad.returncode}: {bad.stdout}{bad.stderr}")
    usage = subprocess.run(command, capture_output=True, text=True)
    if usage.returncode != 2:
        problems.append(f"without files: exit {usage.returncode}")
    return problems


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def post(url, body, headers):
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json", **headers}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        raw = error.read()
        return error.code, json.loads(raw) if raw.startswith(b"{") else raw.decode()


def check_stand_in(directory, signed):
    """The stand-in accepts a good report, rejects a wrong hash, follows a script."""
    problems, port = [], free_port()
    log = directory / "stand-in.jsonl"
    env = {**os.environ, "ZATCA_STAND_IN_TOKEN": "t", "ZATCA_STAND_IN_SECRET": "s"}
    server = subprocess.Popen(
        [sys.executable, str(HERE / "stand_in.py"), str(port), str(log)], env=env, stdin=subprocess.DEVNULL
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    return ["the stand-in did not start"]
                time.sleep(0.05)
        auth = {
            "Authorization": "Basic " + base64.b64encode(b"t:s").decode(),
            "Accept-Version": "V2",
            "Accept-Language": "en",
            "Clearance-Status": "0",
        }
        spec, document, digest = signed[0]
        good = {"invoiceHash": digest, "uuid": spec.uuid, "invoice": base64.b64encode(document).decode()}
        url = f"{base}/invoices/reporting/single"
        expectations = [
            ("good", good, auth, 200, "REPORTED"),
            ("again", good, auth, 409, "NOT_REPORTED"),
            (
                "wrong hash",
                {
                    **good,
                    "uuid": signed[1][0].uuid,
                    "invoiceHash": signed[1][2],
                    "invoice": base64.b64encode(signed[2][1]).decode(),
                },
                auth,
                400,
                "NOT_REPORTED",
            ),
            ("wrong secret", good, {**auth, "Authorization": "Basic " + base64.b64encode(b"t:x").decode()}, 401, None),
        ]
        for name, request, headers, status, reporting in expectations:
            answered, answer = post(url, request, headers)
            if answered != status or (reporting and answer.get("reportingStatus") != reporting):
                problems.append(f"{name}: answered {answered} {answer}")
        post(f"{base}/_stand_in/script", ["503", "warn", "reject"], {})
        spec, document, digest = signed[3]
        fresh = {"invoiceHash": digest, "uuid": spec.uuid, "invoice": base64.b64encode(document).decode()}
        answers = [post(url, fresh, auth)[0] for _ in range(4)]
        if answers != [503, 202, 400, 409]:
            problems.append(f"scripted answers {answers}, expected [503, 202, 400, 409]")
        with urllib.request.urlopen(f"{base}/_stand_in/received", timeout=10) as response:
            received = json.loads(response.read())
        if [call["status"] for call in received] != [200, 409, 400, 401, 503, 202, 400, 409]:
            problems.append(f"received {received}")
        if len(log.read_text().splitlines()) != 10:  # eight reports, the script, the list
            problems.append(f"the log has {len(log.read_text().splitlines())} lines")
    finally:
        server.terminate()
        server.wait(timeout=10)
    return problems


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--xsd", default=os.environ.get("WASIT_TEST_UBL_XSD"))
    args = parser.parse_args(argv)
    if not args.xsd or not (Path(args.xsd) / "maindoc" / "UBL-Invoice-2.1.xsd").is_file():
        parser.error("give the UBL 2.1 schema set with --xsd DIR or WASIT_TEST_UBL_XSD")
    started = time.monotonic()
    schema = check.load_schema(args.xsd)
    stamp, other = Stamp.new(), Stamp.new()
    signed = chain(stamp)
    documents = [document for _, document, _ in signed]
    with tempfile.TemporaryDirectory(prefix="wasit-zatca-selftest-") as tmp:
        case = Case(Path(tmp), schema)
        case.expect_none("lxml subtree C14N", check_c14n_subtree())

        case.expect_pass("good chain", documents)
        case.expect_pass("a window of the chain", documents[2:], complete=False)

        def with_doc(index, document):
            return documents[:index] + [document] + documents[index + 1 :]

        def resigned(index, **changes):
            return stamp.sign(replace(signed[index][0], **changes))[0]

        first_line_net = '<cbc:LineExtensionAmount currencyID="SAR">20.00</cbc:LineExtensionAmount>'
        changed_amount = with_doc(0, swap(documents[0], first_line_net, first_line_net.replace("20.00", "21.00")))
        case.expect_fail("changed amount: hash", changed_amount, "invoice-hash")
        case.expect_fail("changed amount: totals", changed_amount, "totals")
        changed_pih = with_doc(2, swap(documents[2], signed[1][2], signed[0][2]))
        case.expect_fail("changed PIH: chain", changed_pih, "chain-pih")
        case.expect_fail("changed PIH: hash", changed_pih, "invoice-hash")
        case.expect_fail(
            "re-signed with a wrong PIH",
            with_doc(2, resigned(2, pih=signed[0][2])),
            "chain-pih",
            absent=["invoice-hash", "signature"],
        )
        case.expect_fail(
            "first PIH not the hash of 0",
            with_doc(0, resigned(0, pih=signed[1][2])),
            "chain-pih",
            absent=["invoice-hash"],
        )
        theirs = between(documents[1], "<ds:SignatureValue>", "</ds:SignatureValue>")
        ours = between(documents[0], "<ds:SignatureValue>", "</ds:SignatureValue>")
        case.expect_fail(
            "swapped signature", with_doc(0, swap(documents[0], ours, theirs)), "signature", absent=["invoice-hash"]
        )
        foreign = other.sign(signed[1][0])[0]
        certificate = "<ds:X509Certificate>", "</ds:X509Certificate>"
        foreign = swap(foreign, between(foreign, *certificate), between(documents[1], *certificate))
        case.expect_fail("signed with another key", with_doc(1, foreign), "signature")
        case.expect_fail(
            "wrong QR tag",
            with_doc(1, resigned(1, qr_override={4: b"999.99"})),
            "qr",
            absent=["invoice-hash", "signature"],
        )
        case.expect_fail("QR tags out of order", with_doc(1, resigned(1, qr_override={10: b"x"})), "qr")
        case.expect_fail("gap in ICV", documents[:2] + documents[3:], "chain-gap")
        case.expect_fail(
            "fork: two documents with one ICV",
            documents
            + [
                resigned(4, number="INV-2026-000099", uuid=str(uuid.uuid4()), lines=[Line("Fee", Decimal("1.00"), "S")])
            ],
            "chain-fork",
        )
        case.expect_fail("chain not starting at 1", documents[1:], "chain-start")
        case.expect_fail(
            "schema violation",
            with_doc(1, resigned(1, after_currency=t("cbc:Note", "after the currency"))),
            "xsd",
            absent=["invoice-hash"],
        )
        case.expect_fail("credit note without its invoice", with_doc(3, resigned(3, original=None)), "type-code")
        case.expect_fail(
            "invoice with a BillingReference", with_doc(1, resigned(1, original="INV-2026-000001")), "type-code"
        )
        digest = between(documents[0], "<xades:CertDigest>", "</xades:CertDigest>")
        case.expect_fail(
            "changed certificate digest",
            with_doc(0, swap(documents[0], digest, digest.replace("<ds:DigestValue>", "<ds:DigestValue>A", 1))),
            "cert-digest",
        )
        case.expect_fail(
            "changed signing time",
            with_doc(
                0,
                swap(documents[0], "<xades:SigningTime>2026-03-01T14:05:09", "<xades:SigningTime>2026-03-01T14:05:10"),
            ),
            "signed-properties-digest",
        )
        case.expect_fail(
            "indented stamp",
            with_doc(0, swap(documents[0], "<ext:UBLExtension>", "\n  <ext:UBLExtension>")),
            "compact",
            absent=["invoice-hash"],
        )
        case.expect_fail("not well-formed", with_doc(0, documents[0][:-3]), "well-formed")
        case.expect_fail(
            "amount with three decimals", with_doc(1, swap(documents[1], ">199.00<", ">199.000<")), "amounts"
        )

        case.expect_none("the command", check_command(args.xsd, Path(tmp) / "good chain"))
        case.expect_none("the stand-in", check_stand_in(Path(tmp), signed))

    print(f"selftest took {time.monotonic() - started:.1f} s")
    print(f"selftest: {case.count - len(case.failed)} passed, {len(case.failed)} failed")
    return 1 if case.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
