#!/usr/bin/env python3
"""A stand-in for ZATCA's reporting API (there is no ZATCA sandbox reachable from the test
machines), answering as the developer portal documents POST /invoices/reporting/single.

usage: stand_in.py PORT LOG

  POST /invoices/reporting/single   headers Accept-Version: V2, Accept-Language, Clearance-Status: 0,
                                    Authorization: Basic base64(binarySecurityToken:secret);
                                    body {"invoiceHash", "uuid", "invoice": base64 XML}
  POST /_stand_in/script            the outcomes of the next reports: a JSON list of "ok" (validate),
                                    "warn" (validate; 202 with a warning when valid), "reject" (400),
                                    or an error status such as "503"; or {"uuid": U, "outcomes": [...]}
                                    for the reports of that invoice only (parallel tests). Afterwards:
                                    validate.
  GET  /_stand_in/received          every report so far: time, uuid, invoiceHash, status answered
  POST /_stand_in/reset             forget the reports, the scripts and what was reported

Validation recomputes the invoice hash and reads the UUID with check.py's functions and runs its
per-document rules (the UBL schema too when WASIT_TEST_UBL_XSD is set): any failure answers 400
NOT_REPORTED with the failures as errorMessages. An invoice already REPORTED answers 409, as ZATCA
does. The credentials are ZATCA_STAND_IN_TOKEN / ZATCA_STAND_IN_SECRET (default wasit-test-token /
wasit-test-secret). LOG gets one JSON line per request, never the credentials.
"""

import base64
import binascii
import datetime
import hmac
import json
import os
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import check  # noqa: E402  (check.py beside this file)

TOKEN = os.environ.get("ZATCA_STAND_IN_TOKEN", "wasit-test-token")
SECRET = os.environ.get("ZATCA_STAND_IN_SECRET", "wasit-test-secret")
SCRIPTED = {"ok", "warn", "reject"}

# The messages and codes ZATCA's documentation shows for these cases.
XSD_VALID = {
    "type": "INFO",
    "code": "XSD_ZATCA_VALID",
    "category": "XSD validation",
    "message": "Complied with UBL 2.1 standards in line with ZATCA specifications",
    "status": "PASS",
}
LATE_WARNING = {
    "type": "WARNING",
    "code": "BR-KSA-98",
    "category": "KSA",
    "message": "[BR-KSA-98] - The simplified invoice should be submitted within 24 hours of issuing the invoice.",
    "status": "WARNING",
}
SCRIPTED_ERROR = {
    "type": "ERROR",
    "code": "BR-KSA-37",
    "category": "KSA",
    "message": "The seller address building number must contain 4 digits.",
    "status": "ERROR",
}
HASH_MISMATCH = (
    "invalid-invoice-hash",
    "INVOICE_HASHING_ERRORS",
    "The invoice hash API body does not match the (calculated) Hash of the XML",
)
# check.py's rules under the codes ZATCA uses for the same finding, where its documents name one;
# the others keep the rule's name under the category WASIT_CHECK.
RULE_CODES = {
    "invoice-hash": ("invalid-invoice-hash", "INVOICE_HASHING_ERRORS"),
    "signed-properties-digest": ("signed-properties-hashing", "SIGNATURE_ERRORS"),
    "cert-digest": ("certificate-hashing", "SIGNATURE_ERRORS"),
    "qr": ("QRCODE_INVALID", "QRCODE_VALIDATION"),
    "xsd": ("XSD_SCHEMA_ERROR", "XSD validation"),
}


def error(code, category, message):
    return {"type": "ERROR", "code": code, "category": category, "message": message, "status": "ERROR"}


def results(status, info=(), warnings=(), errors=()):
    return {
        "validationResults": {
            "infoMessages": list(info),
            "warningMessages": list(warnings),
            "errorMessages": list(errors),
            "status": status,
        },
        "reportingStatus": "REPORTED" if status in ("PASS", "WARNING") else "NOT_REPORTED",
    }


class State:
    """What the stand-in remembers; one lock, as reports may come in parallel."""

    def __init__(self, log_path):
        self.lock = threading.Lock()
        self.log_lock = threading.Lock()
        self.log_path = log_path
        self.schema = None
        xsd = os.environ.get("WASIT_TEST_UBL_XSD")
        if xsd and (Path(xsd) / "maindoc" / "UBL-Invoice-2.1.xsd").is_file():
            self.schema = check.load_schema(xsd)
        self.reset()

    def reset(self):
        self.script, self.scripts_by_uuid, self.received, self.reported = [], {}, [], set()

    def next_outcome(self, uuid):
        queue = self.scripts_by_uuid.get(uuid) or self.script
        return queue.pop(0) if queue else "ok"

    def log(self, entry):
        with self.log_lock, open(self.log_path, "a", encoding="utf-8") as log:
            log.write(json.dumps(entry, ensure_ascii=False) + "\n")


def validate(state, body):
    """The errors ZATCA would report for this request body (an empty list when it is valid)."""
    try:
        raw = base64.b64decode(body["invoice"], validate=True)
        doc = check.Document("invoice", raw)
    except (binascii.Error, ValueError, TypeError, check.etree.XMLSyntaxError) as failure:
        return [error("invalid-invoice", "XSD validation", f"The invoice is not base64 XML: {failure}")]
    errors = []
    if body["invoiceHash"] != check.invoice_hash(raw):
        errors.append(error(*HASH_MISMATCH))
    if body["uuid"] != doc.text_or_none("cbc:UUID"):
        errors.append(
            error("invalid-uuid", "WASIT_CHECK", "The uuid of the API body does not match the UUID of the XML")
        )
    with state.lock:
        schema = state.schema
        failures = check.check_document(doc, schema)
    for rule, detail in failures:
        code, category = RULE_CODES.get(rule, (rule, "WASIT_CHECK"))
        errors.append(error(code, category, detail))
    return errors


class Handler(BaseHTTPRequestHandler):
    server_version = "zatca-stand-in"

    def do_GET(self):
        if self.path == "/_stand_in/received":
            with self.server.state.lock:
                self.answer(200, list(self.server.state.received))
        else:
            self.answer(404, {"message": "not found"})

    def do_POST(self):
        length = self.headers.get("Content-Length") or "0"
        if not length.isdigit():
            self.answer(400, {"message": "Content-Length is not a number"})
            return
        body = self.rfile.read(int(length))
        if self.path == "/invoices/reporting/single":
            self.report(body)
        elif self.path == "/_stand_in/script":
            self.script(body)
        elif self.path == "/_stand_in/reset":
            with self.server.state.lock:
                self.server.state.reset()
            self.answer(200, {"reset": True})
        else:
            self.answer(404, {"message": "not found"})

    def script(self, raw):
        try:
            body = json.loads(raw)
            uuid, outcomes = (body.get("uuid"), body.get("outcomes")) if isinstance(body, dict) else (None, body)
            if (
                not isinstance(outcomes, list)
                or not all(map(scripted, outcomes))
                or not isinstance(uuid, (str, type(None)))
            ):
                raise ValueError
        except ValueError:
            expected = 'expected ["ok" | "warn" | "reject" | "<4xx or 5xx status>", ...] or {"uuid", "outcomes"}'
            self.answer(400, {"message": expected})
            return
        with self.server.state.lock:
            if uuid:
                self.server.state.scripts_by_uuid[uuid] = list(outcomes)
            else:
                self.server.state.script = list(outcomes)
        self.answer(200, {"queued": len(outcomes), "uuid": uuid})

    def report(self, raw):
        state = self.server.state
        try:
            body = json.loads(raw)
            if not isinstance(body, dict):
                body = {}
        except ValueError:
            body = {}
        uuid, invoice_hash = body.get("uuid"), body.get("invoiceHash")
        status, answer = self.decide(state, body)
        with state.lock:
            if status in (200, 202):
                state.reported.add(uuid)
            state.received.append({"time": now(), "uuid": uuid, "invoiceHash": invoice_hash, "status": status})
        messages = answer.get("validationResults", {}).get("errorMessages", []) if isinstance(answer, dict) else []
        self.answer(
            status, answer, uuid=uuid, invoiceHash=invoice_hash, errors=[message["code"] for message in messages]
        )

    def decide(self, state, body):
        """The status and body ZATCA would answer (or the script says)."""
        if self.headers.get("Accept-Version") != "V2":
            return 406, "This Version is not supported or not provided in the header."
        if not self.authorized():
            return 401, {"timestamp": int(time.time() * 1000), "status": 401, "error": "Unauthorized", "message": ""}
        if self.headers.get("Clearance-Status") != "0":
            return 400, results(
                "ERROR",
                errors=[
                    error("clearance-status", "WASIT_CHECK", "The reporting API expects the header Clearance-Status: 0")
                ],
            )
        missing = [name for name in ("invoiceHash", "uuid", "invoice") if not isinstance(body.get(name), str)]
        if missing:
            return 400, results(
                "ERROR", errors=[error("invalid-request", "WASIT_CHECK", f"The body lacks {', '.join(missing)}")]
            )
        with state.lock:
            outcome = state.next_outcome(body["uuid"])
            already = body["uuid"] in state.reported
        if outcome.isdigit():
            return int(outcome), scripted_status_body(int(outcome))
        if outcome == "reject":
            return 400, results("ERROR", info=[XSD_VALID], errors=[SCRIPTED_ERROR])
        if already:
            return 409, scripted_status_body(409)
        errors = validate(state, body)
        info = (
            [XSD_VALID] if state.schema is not None and not any(e["code"] == "XSD_SCHEMA_ERROR" for e in errors) else []
        )
        if errors:
            return 400, results("ERROR", info=info, errors=errors)
        if outcome == "warn":
            return 202, results("WARNING", info=info, warnings=[LATE_WARNING])
        return 200, results("PASS", info=info)

    def authorized(self):
        scheme, _, credentials = (self.headers.get("Authorization") or "").partition(" ")
        try:
            token, _, secret = base64.b64decode(credentials, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return scheme == "Basic" and hmac.compare_digest(token, TOKEN) and hmac.compare_digest(secret, SECRET)

    def answer(self, status, body, **logged):
        payload = body.encode() if isinstance(body, str) else json.dumps(body, ensure_ascii=False).encode()
        # Logged before the answer leaves, so a test that reads the log after the answer finds it.
        self.server.state.log({"time": now(), "method": self.command, "path": self.path, "status": status, **logged})
        self.send_response(status)
        self.send_header("Content-Type", "text/plain" if isinstance(body, str) else "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass  # LOG has one JSON line per request instead


def scripted(outcome):
    """An outcome a script may hold: a word, or an error status (a 2xx is only earned)."""
    return isinstance(outcome, str) and (outcome in SCRIPTED or re.fullmatch(r"[45]\d\d", outcome) is not None)


def scripted_status_body(status):
    if status == 401:
        return {"timestamp": int(time.time() * 1000), "status": 401, "error": "Unauthorized", "message": ""}
    if status == 409:  # as documented: no code, no category
        return results("ERROR", errors=[error(None, None, "Invoice was already Reported successfully earlier.")])
    if status >= 500:
        return {
            "category": "HTTP-Errors",
            "code": str(status),
            "message": "Something went wrong and caused an Internal Server Error.",
        }
    return {"category": "HTTP-Errors", "code": str(status), "message": f"Scripted status {status}."}


def now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")


def main(argv):
    if len(argv) != 2 or not argv[0].isdigit():
        print(__doc__, file=sys.stderr)
        return 2
    server = ThreadingHTTPServer(("127.0.0.1", int(argv[0])), Handler)
    server.daemon_threads = True
    server.state = State(argv[1])
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
