"""Measures, for N bookings in a row, the time from an agent's confirmation (the API call
returning) to the confirmation email accepted by the SMTP server (the email job finishes
only once the server accepted the message; maildev's own receipt times have whole-second
precision) and to the provider's webhook arriving. Prints medians and p90s in milliseconds.

usage: notify_latency.py BASE_URL AGENT_TOKEN CUSTOMER_TOKEN CITY DATABASE_URL HOOK_LOG N
"""
import datetime
import json
import statistics
import subprocess
import sys
import time
import urllib.request

base, agent, customer, city, database, hook_log, count = sys.argv[1:8]
count = int(count)


def call(method, path, token=None, body=None, headers=None):
    request = urllib.request.Request(base + path, method=method, data=json.dumps(body).encode() if body is not None else None)
    request.add_header("content-type", "application/json")
    if token:
        request.add_header("authorization", "Bearer " + token)
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def email_time(booking_id):
    query = (
        "SELECT extract(epoch FROM finished_at) * 1000 FROM jobs WHERE kind = 'send_booking_email' "
        f"AND state = 'done' AND payload->>'booking_id' = '{booking_id}' AND payload->>'event' = 'confirmed'"
    )
    out = subprocess.run(["psql", database, "-XAtqc", query], capture_output=True, text=True, check=True).stdout.strip()
    return float(out) if out else None


def hook_time(reference):
    try:
        with open(hook_log, encoding="utf-8") as log:
            for line in log:
                entry = json.loads(line)
                if entry["reference"] == reference and entry["type"] == "booking.confirmed":
                    return entry["at"]
    except FileNotFoundError:
        pass
    return None


day = lambda n: (datetime.date.today() + datetime.timedelta(days=n)).isoformat()
to_email, to_hook = [], []
for i in range(count):
    offers = call("GET", f"/v1/search?kind=hotel&city={city}&check_in={day(3)}&check_out={day(4)}&guests=2")["offers"]
    booking = call("POST", "/v1/bookings", customer, {"offer_id": offers[0]["offer_id"]}, {"idempotency-key": f"latency-{i}-{time.time()}"})
    call("POST", f"/v1/bookings/{booking['id']}/confirm", agent, {"reason": "bench: paid at the office"})
    confirmed_at = time.time() * 1000
    deadline = time.time() + 10
    mail = hook = None
    while time.time() < deadline and (mail is None or hook is None):
        mail = mail or email_time(booking["id"])
        hook = hook or hook_time(booking["reference"])
        time.sleep(0.005)
    if mail is None or hook is None:
        sys.exit(f"booking {booking['reference']}: email {mail}, webhook {hook} within 10 s")
    to_email.append(mail - confirmed_at)
    to_hook.append(hook - confirmed_at)


def summary(values):
    ordered = sorted(values)
    return f"median {statistics.median(ordered):.0f} ms, p90 {ordered[int(len(ordered) * 0.9) - 1]:.0f} ms"


print(f"email: {summary(to_email)}")
print(f"webhook: {summary(to_hook)}")
