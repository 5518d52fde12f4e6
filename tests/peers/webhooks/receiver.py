"""A provider's webhook endpoint for tests: verifies every delivery with the reference
Standard Webhooks library and logs one JSON line per request.

usage: receiver.py PORT SECRET LOG MODE
  MODE ok          answer 204 to verified deliveries (400 otherwise)
  MODE fail-twice  answer 500 (with Retry-After: 1) to the first two requests, then as ok
  MODE gone        answer 410 Gone
  MODE redirect    answer 307 to another URL (a redirect is not a delivery)
"""
import json
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

from standardwebhooks.webhooks import Webhook

port, secret, log_path, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
verifier = Webhook(secret)
seen = {"requests": 0}


class Endpoint(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        headers = {name.lower(): value for name, value in self.headers.items()}
        try:
            payload, verified, error = verifier.verify(body, headers), True, None
        except Exception as failure:  # the library raises WebhookVerificationError
            payload, verified, error = None, False, str(failure)
        seen["requests"] += 1
        with open(log_path, "a", encoding="utf-8") as log:
            log.write(json.dumps({
                "id": headers.get("webhook-id"),
                "verified": verified,
                "error": error,
                "type": payload.get("type") if payload else None,
                "data": payload.get("data") if payload else None,
                "signatures": headers.get("webhook-signature"),
            }) + "\n")
        extra = {}
        if mode == "gone":
            status = 410
        elif mode == "redirect":
            status, extra = 307, {"Location": "http://127.0.0.1:9/elsewhere"}
        elif mode == "fail-twice" and seen["requests"] <= 2:
            status, extra = 500, {"Retry-After": "1"}
        else:
            status = 204 if verified else 400
        self.send_response(status)
        for name, value in extra.items():
            self.send_header(name, value)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


class Server(HTTPServer):
    # Workers deliver several webhooks at once: queue their connections rather than drop them.
    request_queue_size = 128


Server(("127.0.0.1", port), Endpoint).serve_forever()
