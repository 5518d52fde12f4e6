"""What the cross-instance scenarios (run.py) stand on: the running cluster's addresses
(cluster.env), plain HTTP to HAProxy or one instance, SQL on the primary through psql, the
demo office's fixtures made through the API, and a webhook receiver that counts ids.
Standard library only.
"""
import datetime
import http.client
import json
import os
import shlex
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DIR = os.environ.get("WASIT_CLUSTER_DIR", os.path.join(ROOT, ".data", "cluster"))
RUN = f"{int(time.time())}{os.getpid() % 1000:03d}"  # names this run's fixtures
RUN_SLUG = RUN.translate(str.maketrans("0123456789", "abcdefghij"))  # cities take letters only


class Failed(AssertionError):
    pass


def check(condition, message):
    if not condition:
        raise Failed(message)


def load_env():
    env = {}
    with open(os.path.join(DIR, "cluster.env"), encoding="utf-8") as f:
        for line in f:
            if "=" in line and not line.startswith("#"):
                key, _, value = line.strip().partition("=")
                env[key] = shlex.split(value)[0] if value else ""
    return env


ENV = load_env()
HAPROXY = int(ENV["WASIT_CLUSTER_HAPROXY_PORT"])
SERVE = {"serve1": int(ENV["WASIT_CLUSTER_SERVE1_PORT"]), "serve2": int(ENV["WASIT_CLUSTER_SERVE2_PORT"])}
PRIMARY_URL = ENV["WASIT_CLUSTER_PRIMARY_URL"]


def request(port, method, path, body=None, token=None, key=None, timeout=60):
    """(status, parsed JSON body or None); status 0 and the error's name when no answer came."""
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    if key:
        headers["idempotency-key"] = key
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, json.dumps(body) if body is not None else None, headers)
        answer = conn.getresponse()
        raw = answer.read()
    except (OSError, http.client.HTTPException) as error:
        return 0, {"code": type(error).__name__}
    finally:
        conn.close()
    try:
        return answer.status, json.loads(raw) if raw else None
    except ValueError:
        return answer.status, None


def api(method, path, body=None, token=None, port=HAPROXY, expect=(200, 201, 204)):
    status, answer = request(port, method, path, body, token)
    check(status in expect, f"{method} {path} answered {status}: {answer}")
    return answer


def sql(statement):
    """Rows of one statement on the primary, each a list of text fields."""
    done = subprocess.run(["psql", PRIMARY_URL, "-XAtq", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-c", statement],
                          capture_output=True, text=True)
    check(done.returncode == 0, f"psql: {done.stderr.strip()}\n{statement}")
    return [line.split("\t") for line in done.stdout.splitlines() if line]


def scalar(statement):
    return sql(statement)[0][0]


def day(n):
    """The date n days from today, as the demo office reads it (Riyadh: UTC+3, no daylight
    saving; a fixed offset needs no tzdata on the machine)."""
    riyadh = datetime.timezone(datetime.timedelta(hours=3))
    return (datetime.datetime.now(riyadh).date() + datetime.timedelta(days=n)).isoformat()


def pid_of(name):
    path = os.path.join(DIR, f"{name}.pid")
    with open(path, encoding="utf-8") as f:
        return int(f.read().split()[0])


def cluster(*args):
    """scripts/cluster with this run's environment (the same one `up` was first called with)."""
    subprocess.run([os.path.join(ROOT, "scripts", "cluster"), *args], check=True, stdout=subprocess.DEVNULL)


def haproxy_stats():
    """HAProxy's counters for each instance (`show stat`): stot (requests sent to it), wretr
    (connections retried), wredis (requests sent to the other instance instead)."""
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(2)
        s.connect(os.path.join(DIR, "haproxy", "admin.sock"))
        s.sendall(b"show stat\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    rows = data.decode().splitlines()
    head = rows[0].lstrip("# ").split(",")
    out = {}
    for row in rows[1:]:
        fields = dict(zip(head, row.split(",")))
        if fields.get("pxname") == "wasit" and fields.get("svname") in SERVE:
            out[fields["svname"]] = {k: int(fields[k] or 0) for k in ("stot", "wretr", "wredis")}
    return out


def wait_until(what, predicate, seconds, every=0.2):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(every)
    raise Failed(f"{what}: not within {seconds} s")


class Office:
    """The demo admin, one customer of this run, and local hotels made through HAProxy."""

    def __init__(self):
        with open(os.path.join(DIR, "demo-admin-password"), encoding="utf-8") as f:
            password = f.read().strip()
        self.admin = api("POST", "/v1/auth/login", {"email": "admin@wasit.local", "password": password})["access_token"]
        email = f"cluster-{RUN}@example.com"
        self.customer = api("POST", "/v1/auth/register",
                            {"email": email, "password": "a cluster test password", "full_name": "Cluster"})["access_token"]
        self.customer_email = email

    def hotel(self, name, rooms, nights=30, webhook_url=None):
        """A local hotel in a city of its own with one room type; (city, provider id, unit id)."""
        city = f"cluster-{name}-{RUN_SLUG}"
        provider = api("POST", "/v1/providers", {
            "kind": "hotel", "name_ar": "فندق", "name_en": f"Cluster {name}", "city": city, "adapter": "local",
        }, self.admin)["id"]
        unit = api("POST", f"/v1/providers/{provider}/units", {
            "kind": "room_type", "name_ar": "غرفة", "name_en": "Room", "max_guests": 2, "rooms": rooms,
            "nightly_price": "300.00",
        }, self.admin)["id"]
        api("POST", f"/v1/providers/{provider}/units/{unit}/availability",
            {"from": day(1), "to": day(1 + nights)}, self.admin)
        if webhook_url:
            api("PATCH", f"/v1/providers/{provider}", {"webhook_url": webhook_url}, self.admin)
        return city, provider, unit

    def offer(self, city, night):
        """The offer for one night; searches may go to the replica, which may lag a moment."""
        found = []

        def search():
            answer = api("GET", f"/v1/search?kind=hotel&city={city}&check_in={day(night)}"
                                f"&check_out={day(night + 1)}&guests=2")
            found[:] = [o["offer_id"] for o in answer["offers"]]
            return bool(found)

        wait_until(f"an offer in {city}", search, 15, every=0.5)
        return found[0]


class HookReceiver:
    """Webhook endpoint on an ephemeral port: answers 204 after `delay` seconds and counts
    each delivery by its webhook-id."""

    def __init__(self, delay=0.0):
        self.delay, self.counts, self.lock = delay, {}, threading.Lock()
        outer = self

        class Endpoint(BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers.get("content-length", 0)))
                time.sleep(outer.delay)
                with outer.lock:
                    key = self.headers.get("webhook-id")
                    outer.counts[key] = outer.counts.get(key, 0) + 1
                self.send_response(204)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Endpoint)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def received(self):
        with self.lock:
            return dict(self.counts)


def enqueue_webhooks(provider, prefix, count):
    """`count` deliver_webhook jobs in one transaction, with message ids PREFIX-1..count."""
    sql(f"""INSERT INTO jobs (kind, payload, dedup_key, max_attempts)
        SELECT 'deliver_webhook', jsonb_build_object('kind', 'deliver_webhook', 'provider_id', '{provider}',
                 'message_id', '{prefix}-' || g, 'event_type', 'booking.confirmed', 'timestamp', now(),
                 'data', jsonb_build_object('n', g)),
               '{prefix}-' || g, 8
          FROM generate_series(1, {count}) g""")


def jobs_by_state(prefix):
    """{state: count} of the jobs whose dedup_key starts with PREFIX."""
    return {state: int(n) for state, n in sql(
        f"SELECT state, count(*) FROM jobs WHERE dedup_key LIKE '{prefix}%' GROUP BY state")}


def wait_for_jobs(prefix, count, seconds):
    wait_until(f"{count} jobs {prefix}* done",
               lambda: sum(n for s, n in jobs_by_state(prefix).items() if s in ("done", "dead")) >= count, seconds, 0.5)


def runners(prefix):
    """{process name: jobs it ran} from the jobs' locked_by (`<host>-<pid>-<n>`)."""
    names = {}
    for name in ("serve1", "serve2", "worker"):
        try:
            names[str(pid_of(name))] = name
        except OSError:
            pass
    out = {}
    for locked_by, n in sql(f"SELECT locked_by, count(*) FROM jobs WHERE dedup_key LIKE '{prefix}%' GROUP BY 1"):
        pid = locked_by.rsplit("-", 2)[-2] if locked_by else ""
        name = names.get(pid, f"pid {pid}")
        out[name] = out.get(name, 0) + int(n)
    return out
