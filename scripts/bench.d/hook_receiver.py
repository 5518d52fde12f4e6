"""A webhook endpoint for the benchmark: answers 204 at once and logs when each delivery
arrived (epoch milliseconds) with its event type and booking reference.

usage: hook_receiver.py PORT LOG
"""
import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

port, log_path = int(sys.argv[1]), sys.argv[2]


class Endpoint(BaseHTTPRequestHandler):
    # Keep-alive, as a real receiver behind any web server has: the server's client keeps
    # its connections, and HTTP/1.0 would make every delivery open a new one.
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        arrived = time.time() * 1000
        body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))))
        with open(log_path, "a", encoding="utf-8") as log:
            log.write(json.dumps({"at": arrived, "type": body["type"], "reference": body["data"]["reference"]}) + "\n")
        self.send_response(204)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", port), Endpoint).serve_forever()
