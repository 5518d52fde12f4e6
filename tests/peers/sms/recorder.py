"""A stand-in SMS gateway for tests: no real SMS gateway can run here, so this records what
Wasit sends and answers the way Unifonic's REST API does, and signs receipts and replies
back with the reference Standard Webhooks library, as the gateway's callbacks would be.

usage: recorder.py PORT LOG CALLBACK_BASE SECRET MODE
  POST /rest/SMS/messages  (Wasit's send: a form) is logged as one JSON line of its fields
                           and answered {"success": true, "data": {"MessageID": "uf-<n>"}}
                           (MODE refuse: {"success": false, "errorCode": "ER-07"} with 400;
                            MODE down: 503)
  POST /control/receipt    {"message_id", "status"}: signs a receipt and posts it to
                           CALLBACK_BASE/v1/sms/receipts; answers with Wasit's status and body
  POST /control/reply      {"from", "body"}: the same for an inbound reply, to /v1/sms/inbound
"""
import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, HTTPServer

from standardwebhooks.webhooks import Webhook

port, log_path, callback_base, secret, mode = (
    int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5])
signer = Webhook(secret)
sent = {"count": 0}


def post_signed(path, payload):
    body = json.dumps(payload)
    message_id = f"msg_{uuid.uuid4().hex}"
    now = time.time()
    signature = signer.sign(message_id, datetime.fromtimestamp(now, tz=timezone.utc), body)
    request = urllib.request.Request(
        callback_base + path, data=body.encode(), method="POST", headers={
            "content-type": "application/json",
            "webhook-id": message_id,
            "webhook-timestamp": str(int(now)),
            "webhook-signature": signature,
        })
    try:
        with urllib.request.urlopen(request) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as refused:
        return refused.code, refused.read()


class Gateway(BaseHTTPRequestHandler):
    def answer(self, status, body):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        raw = self.rfile.read(int(self.headers.get("content-length", 0)))
        if self.path == "/rest/SMS/messages":
            fields = {k: v[0] for k, v in urllib.parse.parse_qs(raw.decode(), keep_blank_values=True).items()}
            fields["content-type"] = self.headers.get("content-type")
            with open(log_path, "a", encoding="utf-8") as log:
                log.write(json.dumps(fields, ensure_ascii=False) + "\n")
            if mode == "down":
                return self.answer(503, {"success": False, "message": "maintenance"})
            if mode == "refuse":
                return self.answer(400, {"success": False, "errorCode": "ER-07",
                                         "message": "Invalid recipient"})
            sent["count"] += 1
            return self.answer(200, {"success": True, "message": "", "errorCode": "ER-00",
                                     "data": {"MessageID": f"uf-{sent['count']}",
                                              "CorrelationID": fields.get("CorrelationID"),
                                              "Status": "Sent", "NumberOfUnits": 1}})
        payload = json.loads(raw or b"{}")
        if self.path == "/control/receipt":
            status, body = post_signed("/v1/sms/receipts", payload)
        elif self.path == "/control/reply":
            status, body = post_signed("/v1/sms/inbound", payload)
        else:
            return self.answer(404, {"success": False})
        self.answer(200, {"status": status, "body": json.loads(body or b"null")})

    def log_message(self, *args):
        pass


HTTPServer(("127.0.0.1", port), Gateway).serve_forever()
