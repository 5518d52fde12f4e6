"""The SMTP server's own pace, for comparison with the server's email jobs (what pgbench is
for the booking transaction): N messages of about our emails' size (text + HTML, ~6 KB)
over one connection, then N/4 with a new connection each.

usage: smtp_probe.py HOST PORT N    -> {"one_connection_per_s": …, "connection_per_message_per_s": …}
"""
import json
import smtplib
import sys
import time
from email.message import EmailMessage

host, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])


def message(i):
    m = EmailMessage()
    m["From"], m["To"], m["Subject"] = "no-reply@wasit.local", "probe@wasit.local", f"probe {i}"
    m.set_content("Your booking is confirmed. " * 60)
    m.add_alternative("<p>Your booking is confirmed.</p>" * 60, subtype="html")
    return m


started = time.perf_counter()
with smtplib.SMTP(host, port, timeout=30) as smtp:
    for i in range(count):
        smtp.send_message(message(i))
one = count / (time.perf_counter() - started)
fresh_count = max(1, count // 4)
started = time.perf_counter()
for i in range(fresh_count):
    with smtplib.SMTP(host, port, timeout=30) as smtp:
        smtp.send_message(message(i))
fresh = fresh_count / (time.perf_counter() - started)
print(json.dumps({"one_connection_per_s": round(one, 1), "connection_per_message_per_s": round(fresh, 1)}))
