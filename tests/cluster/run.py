"""The cross-instance tests (issue #18, point 3), against a running scripts/cluster: HAProxy
in front of two `wasit serve`, one `wasit worker`, PgBouncer, a primary and a replica.
scripts/test-cluster starts that cluster, runs this, and stops it.

usage: run.py [SCENARIO...]   (default: all, in this order: race idempotency jobs kill_serve
                               kill_worker)
Prints what each scenario counted; exits 1 if any failed.
"""
import collections
import concurrent.futures
import glob
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time

from cluster import (DIR, api, HAPROXY, RUN, ROOT, SERVE, Failed, HookReceiver, Office, check, cluster,
                     enqueue_webhooks, haproxy_stats, jobs_by_state, pid_of, request, runners, scalar,
                     sql, wait_for_jobs, wait_until)

RACE_CLIENTS, RACE_ROOMS = 500, 5
JOBS = 1000  # half emails, half webhooks
LIVE = "('held', 'pending', 'confirmed')"


def overbooked_cells(unit):
    """Nights of UNIT whose reserved count is not what its live bookings hold, or over capacity."""
    return int(scalar(f"""SELECT count(*) FROM inventory_cells c WHERE c.unit_id = '{unit}' AND (c.reserved > c.capacity
        OR c.reserved <> (SELECT COALESCE(sum(b.quantity), 0) FROM bookings b WHERE b.unit_id = c.unit_id
                          AND b.status IN {LIVE} AND b.starts_at < c.ends_at AND b.ends_at > c.starts_at))"""))


def race(office):
    """500 clients at once on the last 5 rooms, through HAProxy to both instances."""
    city, _, unit = office.hotel("race", RACE_ROOMS)
    offer = office.offer(city, 2)
    before = haproxy_stats()
    with tempfile.NamedTemporaryFile(suffix=".jsonl") as out:
        summary = json.loads(subprocess.run(
            [sys.executable, os.path.join(ROOT, "scripts", "bench.d", "race.py"), "127.0.0.1", str(HAPROXY),
             office.customer, offer, str(RACE_CLIENTS), out.name],
            check=True, capture_output=True, text=True).stdout)
        answers = collections.Counter(
            f"{r['status']} {r['code'] or ''}".strip() for r in map(json.loads, open(out.name, encoding="utf-8")))
    after = haproxy_stats()
    spread = {name: after[name]["stot"] - before[name]["stot"] for name in after}
    held = int(scalar(f"SELECT count(*) FROM bookings WHERE unit_id = '{unit}' AND status = 'held'"))
    print(f"  answers {dict(answers)}; p99 {summary['p99_ms']} ms; requests per instance {spread}; "
          f"{held} held bookings")
    check(answers == {"201": RACE_ROOMS, "409 booking.sold_out": RACE_CLIENTS - RACE_ROOMS}, f"answers {dict(answers)}")
    check(held == RACE_ROOMS, f"{held} held bookings for {RACE_ROOMS} rooms")
    check(overbooked_cells(unit) == 0, "a night over capacity or out of step with its bookings")
    check(all(n >= RACE_CLIENTS // 4 for n in spread.values()) and len(spread) == 2,
          f"HAProxy did not spread the race over both instances: {spread}")


def idempotency(office):
    """The same Idempotency-Key sent to both instances directly at the same moment, 60 keys."""
    keys = 60
    city, _, unit = office.hotel("idem", 100)
    body = {"offer_id": office.offer(city, 3)}

    def both(key):
        start, answers = threading.Barrier(2), []

        def send(port):
            start.wait()
            answers.append(request(port, "POST", "/v1/bookings", body, office.customer, key))

        threads = [threading.Thread(target=send, args=(port,)) for port in SERVE.values()]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return key, answers

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(both, [f"idem-{RUN}-{n}" for n in range(keys)]))
    outcomes, ids = collections.Counter(), {}
    for key, answers in results:
        booked = set()
        for status, answer in answers:
            outcomes[f"{status} {(answer or {}).get('code', '')}".strip()] += 1
            if status == 201:
                booked.add(answer["id"])
            else:
                check(status == 409 and answer["code"] == "idempotency.in_progress", f"{key}: {status} {answer}")
        check(len(booked) == 1, f"{key}: bookings {booked}")
        ids[key] = booked.pop()
    stored = {row[0] for row in sql(f"SELECT id FROM bookings WHERE unit_id = '{unit}'")}
    print(f"  {keys} keys, each sent to both instances at once: answers {dict(outcomes)}; "
          f"{len(stored)} bookings in the database")
    check(stored == set(ids.values()) and len(stored) == keys, f"{len(stored)} bookings for {keys} keys")


def booking_emails():
    """{Message-ID: count} over the .eml files the cluster's processes wrote."""
    counts = collections.Counter()
    for path in glob.glob(os.path.join(DIR, "mail", "*.eml")):
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.lower().startswith("message-id:"):
                    counts[line.split(":", 1)[1].strip()] += 1
                    break
                if not line.strip():
                    break
    return counts


def jobs(office):
    """1,000 jobs (500 emails, 500 webhooks) claimed by two serve and one worker at once."""
    hooks = HookReceiver()
    city, provider, unit = office.hotel("jobs", 10, webhook_url=hooks.url)
    # The customer's record is made with their first booking; their mail waits for a verified address.
    status, answer = request(HAPROXY, "POST", "/v1/bookings", {"offer_id": office.offer(city, 5)}, office.customer,
                             f"jobs-first-{RUN}")
    check(status == 201, f"first booking: {status} {answer}")
    sql(f"UPDATE users SET email_verified_at = now() WHERE email = '{office.customer_email}'")
    half, prefix = JOBS // 2, f"cluster-jobs-{RUN}"
    # Confirmed bookings to write about (plain inserts with no unit: not bookings anyone holds),
    # with references of this run's own.
    sql(f"""INSERT INTO bookings (reference, customer_id, provider_id, unit_code, starts_at, ends_at, quantity,
              guests, status, channel, provider_price, service_fee, vat, total, contact_name, unit_name_ar, unit_name_en)
            SELECT 'WS-' || string_agg(substr('23456789ABCDEFGHJKMNPQRSTUVWXYZ', ((n / (31 ^ i)::bigint) % 31)::int + 1, 1),
                                       '' ORDER BY i DESC),
                   c.id, '{provider}', 'std', now() + interval '10 days', now() + interval '11 days', 1, 2, 'confirmed',
                   'web', 300.00, 25.00, 3.75, 328.75, 'Cluster ' || g, 'غرفة', 'Room'
              FROM generate_series(1, {half}) g
              CROSS JOIN LATERAL (SELECT {int(RUN) % 800000} * 1000 + g AS n) r
              CROSS JOIN generate_series(0, 5) i
              JOIN customers c ON c.email = '{office.customer_email}'
             GROUP BY g, n, c.id""")
    booking_ids = [row[0] for row in sql(f"SELECT id FROM bookings WHERE provider_id = '{provider}' AND unit_id IS NULL")]
    check(len(booking_ids) == half, f"{len(booking_ids)} bookings inserted")
    sql(f"""INSERT INTO jobs (kind, payload, dedup_key, max_attempts)
          SELECT 'send_booking_email', jsonb_build_object('kind', 'send_booking_email', 'booking_id', id,
                   'event', 'confirmed'), '{prefix}-email-' || id, 3
            FROM bookings WHERE provider_id = '{provider}' AND unit_id IS NULL""")
    enqueue_webhooks(provider, f"{prefix}-hook", half)
    started = time.monotonic()
    wait_for_jobs(prefix, JOBS, 240)
    took = time.monotonic() - started
    states = jobs_by_state(prefix)
    attempts = collections.Counter(int(a) for (a,) in sql(f"SELECT attempts FROM jobs WHERE dedup_key LIKE '{prefix}%'"))
    by_process = runners(prefix)
    wanted = {f"<confirmed.{b}@" for b in booking_ids}
    emails = {mid: n for mid, n in booking_emails().items() if mid[:len("<confirmed.") + 36 + 1] in wanted}
    hooks_got = {k: n for k, n in hooks.received().items() if k and k.startswith(prefix)}
    print(f"  {JOBS} jobs in {took:.1f} s: states {states}; attempts {dict(attempts)}; run by {by_process}; "
          f"emails written {sum(emails.values())} ({len(emails)} Message-IDs); "
          f"webhooks received {sum(hooks_got.values())} ({len(hooks_got)} webhook-ids)")
    check(states == {"done": JOBS}, f"states {states}")
    check(attempts == {1: JOBS}, f"a job ran more than once: attempts {dict(attempts)}")
    check(len(by_process) == 3 and all(n > 0 for n in by_process.values()),
          f"not every process claimed jobs: {by_process}")
    check(len(emails) == half and set(emails.values()) == {1}, f"emails: {len(emails)} ids, counts {set(emails.values())}")
    check(len(hooks_got) == half and set(hooks_got.values()) == {1},
          f"webhooks: {len(hooks_got)} ids, counts {set(hooks_got.values())}")


def kill_serve(office):
    """kill -9 of one instance during a load of holds through HAProxy, each with its own key."""
    clients, seconds, nights = 16, 10, 30
    city, _, unit = office.hotel("kill", 10000, nights)
    offers = [office.offer(city, n) for n in range(1, nights + 1)]
    stop, lock = threading.Event(), threading.Lock()
    first, retried, final, ids = collections.Counter(), collections.Counter(), collections.Counter(), {}

    def client(n):
        i = 0
        while not stop.is_set():
            key, body, tries = f"kill-{RUN}-{n}-{i}", {"offer_id": random.choice(offers)}, 0
            i += 1
            while True:
                status, answer = request(HAPROXY, "POST", "/v1/bookings", body, office.customer, key)
                outcome = f"{status} {(answer or {}).get('code', '')}".strip() if status != 201 else "201"
                with lock:
                    (first if tries == 0 else retried)[outcome] += 1
                # What a client holding an Idempotency-Key retries: no answer, a gateway error, or
                # the key still held by a request that died with its instance.
                if status in (0, 502, 503, 504) or outcome == "409 idempotency.in_progress":
                    tries += 1
                    if tries < 40:
                        time.sleep(0.5)
                        continue
                with lock:
                    final[outcome] += 1
                    if status == 201:
                        ids[key] = answer["id"]
                break

    before = haproxy_stats()
    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    time.sleep(seconds / 3)
    victim = pid_of("serve1")
    os.kill(victim, signal.SIGKILL)
    killed_at = sum(final.values())
    time.sleep(seconds * 2 / 3)
    stop.set()
    for t in threads:
        t.join()
    after = haproxy_stats()
    haproxy = {name: {k: after[name][k] - before[name][k] for k in after[name]} for name in after}
    stored = {row[0]: row[1] for row in sql(f"SELECT id, status FROM bookings WHERE unit_id = '{unit}'")}
    print(f"  {clients} clients for {seconds} s, serve1 (pid {victim}) killed after {killed_at} holds: "
          f"first answers {dict(first)}; answers to retries {dict(retried)}; final {dict(final)}; "
          f"HAProxy per instance (requests, retries, redispatches) {haproxy}; {len(stored)} bookings in the database")
    check(set(final) == {"201"}, f"a client ended without its booking: {dict(final)}")
    check(not {"0", "503"} & {k.split()[0] for k in first + retried},
          f"a client saw a refused or unrouted request HAProxy should have retried: {dict(first + retried)}")
    check(set(stored) == set(ids.values()) and len(set(ids.values())) == len(ids),
          f"{len(stored)} bookings in the database for {len(ids)} keys answered 201")
    check(overbooked_cells(unit) == 0, "a night's reserved count is out of step with its bookings")
    unlogged = int(scalar(f"""SELECT count(*) FROM bookings b WHERE b.unit_id = '{unit}'
        AND NOT EXISTS (SELECT 1 FROM booking_events e WHERE e.booking_id = b.id)"""))
    check(unlogged == 0, f"{unlogged} bookings without their first event")
    # The expiry sweep, now rather than in 15 minutes: every hold is due, one sweep job is queued.
    sql(f"UPDATE bookings SET hold_expires_at = now() - interval '1 second' WHERE unit_id = '{unit}' AND status = 'held'")
    sql(f"""INSERT INTO jobs (kind, payload, dedup_key) VALUES
        ('expire_holds', '{{"kind": "expire_holds"}}', 'cluster-expire-{RUN}')""")
    wait_until("every hold expired", lambda: scalar(
        f"SELECT count(*) FROM bookings WHERE unit_id = '{unit}' AND status IN {LIVE}") == "0", 120, 0.5)
    reserved = scalar(f"SELECT COALESCE(sum(reserved), 0) FROM inventory_cells WHERE unit_id = '{unit}'")
    check(reserved == "0", f"{reserved} rooms still reserved after every hold expired")
    cluster("up")
    check(pid_of("serve1") != victim, "scripts/cluster up did not restart serve1")
    check(api("GET", "/v1/me", token=office.admin, port=SERVE["serve1"]) is not None,
          "the admin's session did not survive scripts/cluster up")
    cluster("status")
    print(f"  after the sweep: {len(stored)} bookings expired, 0 rooms reserved; scripts/cluster up restarted serve1")


def kill_worker(office):
    """kill -9 of the worker while it runs jobs (a slow receiver keeps each running 0.3 s)."""
    count, prefix = 300, f"cluster-worker-{RUN}"
    hooks = HookReceiver(delay=0.3)
    _, provider, _ = office.hotel("worker", 1, webhook_url=hooks.url)
    victim = pid_of("worker")
    enqueue_webhooks(provider, prefix, count)

    def running_on_worker():
        return {row[0] for row in sql(f"""SELECT dedup_key FROM jobs WHERE dedup_key LIKE '{prefix}%'
            AND state = 'running' AND locked_by LIKE '%-{victim}-%'""")}

    wait_until("the worker running one of the jobs", lambda: bool(running_on_worker()), 30, 0.05)
    os.kill(victim, signal.SIGKILL)
    # What it held when it died: those stay `running` until their lease runs out.
    time.sleep(0.2)
    held = running_on_worker()
    cluster("up")
    wait_for_jobs(prefix, count, 180)
    states = jobs_by_state(prefix)
    got = {k: n for k, n in hooks.received().items() if k and k.startswith(prefix)}
    twice = sorted(k for k, n in got.items() if n > 1)
    again = {row[0] for row in sql(f"SELECT dedup_key FROM jobs WHERE dedup_key LIKE '{prefix}%' AND attempts > 1")}
    print(f"  worker (pid {victim}) killed holding {len(held)} jobs, restarted by scripts/cluster up: "
          f"states {states}; {len(got)} of {count} webhook-ids received, {len(twice)} twice "
          f"(jobs run again after the lease: {len(again)})")
    check(states == {"done": count}, f"states {states}")
    check(len(got) == count, f"{count - len(got)} webhooks never arrived")
    # A delivery cut off by the kill may have reached the receiver: it is sent again with the
    # same webhook-id (the receiver's de-duplication key). Nothing else runs twice.
    check(set(twice) <= held and again <= held, f"ran twice without being cut off: {(set(twice) | again) - held}")


SCENARIOS = {"race": race, "idempotency": idempotency, "jobs": jobs, "kill_serve": kill_serve,
             "kill_worker": kill_worker}


def main():
    names = sys.argv[1:] or list(SCENARIOS)
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown or "--help" in names:
        sys.exit(f"scenarios: {' '.join(SCENARIOS)}")
    office, failed = Office(), []
    for name in names:
        started = time.monotonic()
        print(f"{name}:", flush=True)
        try:
            SCENARIOS[name](office)
            print(f"  ok ({time.monotonic() - started:.0f} s)", flush=True)
        except (Failed, subprocess.CalledProcessError) as error:
            failed.append(name)
            print(f"  FAILED ({time.monotonic() - started:.0f} s): {error}", flush=True)
    print(f"cluster tests: {len(names) - len(failed)} passed, {len(failed)} failed {' '.join(failed)}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
