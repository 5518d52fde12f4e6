"""scripts/bench's arithmetic and its report (standard library only).

usage:
  report.py parse-wrk WRK_OUTPUT          -> one JSON object: rps, p50/p90/p99 (ms), requests, errors
  report.py race-codes RACE_JSONL         -> "201: 5, 409 booking.sold_out: 495"
  report.py activity SAMPLES [START END]  -> PostgreSQL connection time by state and wait
  report.py lag SAMPLES                   -> the replica's lag samples (bench.d/cluster.sh): max and p50
  report.py write RESULTS NOTES OUT_MD    -> rewrites OUT_MD (BENCHMARKS.md) and prints its tables
  report.py subset RESULTS                -> prints the figures of a BENCH_ONLY run (holds, races)
  report.py compare BEFORE_MD AFTER_MD    -> each goal figure more than 10 % worse in AFTER than in BEFORE
                                             (exit status 1 when there is one)

RESULTS is the key=value file scripts/bench records every figure in. NOTES holds, per goal,
what a profile showed and what closed or would close the gap (`## goal: <id>` sections),
printed among the missed goals or the met ones.
"""
import collections
import json
import re
import sys

UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0, "h": 3600000.0}


def to_ms(text):
    match = re.fullmatch(r"([0-9.]+)(us|ms|s|m|h)", text.strip())
    return float(match.group(1)) * UNITS_MS[match.group(2)] if match else None


def parse_wrk(path):
    text = open(path, encoding="utf-8").read()
    out = {"rps": None, "p50": None, "p90": None, "p99": None, "requests": None, "non2xx": 0, "socket_errors": 0}
    if m := re.search(r"Requests/sec:\s+([0-9.]+)", text):
        out["rps"] = float(m.group(1))
    for q in ("50", "90", "99"):
        if m := re.search(rf"^\s+{q}%\s+(\S+)", text, re.M):
            out[f"p{q}"] = to_ms(m.group(1))
    if m := re.search(r"(\d+) requests in", text):
        out["requests"] = int(m.group(1))
    if m := re.search(r"Non-2xx or 3xx responses: (\d+)", text):
        out["non2xx"] = int(m.group(1))
    if m := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text):
        out["socket_errors"] = sum(int(g) for g in m.groups())
    return out


def race_codes(path):
    counts = collections.Counter()
    for line in open(path, encoding="utf-8"):
        r = json.loads(line)
        counts[f"{r['status']} {r['code'] or ''}".strip()] += 1
    return ", ".join(f"{k}: {v}" for k, v in sorted(counts.items()))


def activity(path, start=None, end=None):
    """Shares of connection-samples by state and wait, within [start, end] (epoch seconds)."""
    totals, samples = collections.Counter(), set()
    for line in open(path, encoding="utf-8"):
        parts = line.strip().split("|")
        if len(parts) != 4:
            continue
        at, state, wait, n = float(parts[0]), parts[1], parts[2], int(parts[3])
        if (start is not None and at < start) or (end is not None and at > end):
            continue
        samples.add(at)
        totals[f"{state} ({wait})" if wait != "-" else state] += n
    total = sum(totals.values())
    if not total:
        return "no samples"
    shares = ", ".join(f"{k} {100 * v / total:.0f}%" for k, v in totals.most_common() if 100 * v / total >= 1)
    return f"{shares} [{len(samples)} samples, {total / len(samples):.1f} connections on average]"


def lag(path):
    """Max and p50 of the replica lag samples: replay lag (s) and bytes behind from the primary's
    pg_stat_replication, and the lag the instance measured (wasit_replica_lag_seconds)."""
    columns = collections.defaultdict(list)
    for line in open(path, encoding="utf-8"):
        parts = line.split()
        for name, value in zip(("replay_s", "bytes", "metric_s"), parts):
            columns[name].append(float(value))
    out = {"samples": len(columns["replay_s"])}
    for name, values in columns.items():
        values.sort()
        out[f"{name}_max"], out[f"{name}_p50"] = values[-1], values[len(values) // 2]
    return out


def cluster_rows(r):
    """The cluster scenarios' rows (bench.d/cluster.sh), when they ran."""
    direct, proxied = json.loads(r["cluster_book_direct"]), json.loads(r["cluster_book_haproxy"])
    bare = json.loads(r["cluster_book_bare"])
    replica, primary = json.loads(r["cluster_search_replica"]), json.loads(r["cluster_search_primary"])
    lagged = json.loads(r["cluster_lag"])
    holds, out_of_step = r["cluster_holds"].split()

    def row(label, load, x, note):
        errors = x["non2xx"] + x["socket_errors"]
        if errors:
            note += f"; **{x['non2xx']} non-2xx, {x['socket_errors']} socket errors**"
        return f"| {label} | {load} | {fmt(x['rps'])} req/s | {ms(x['p50'])} | {ms(x['p99'])} | {note} |"

    def tx(name):
        on_replica, on_primary = r[name].split()
        return f"transactions during the run: {on_replica} on the replica, {on_primary} on the primary"

    lag_note = (f"replica lag over {lagged['samples']} samples during the run: replay lag max "
                f"{ms(lagged.get('replay_s_max', 0) * 1000)}, p50 {ms(lagged.get('replay_s_p50', 0) * 1000)} "
                f"(pg_stat_replication); behind by max {fmt(lagged.get('bytes_max', 0), 0)} bytes, p50 "
                f"{fmt(lagged.get('bytes_p50', 0), 0)}; `wasit_replica_lag_seconds` max "
                f"{ms(lagged.get('metric_s_max', 0) * 1000)}, p50 {ms(lagged.get('metric_s_p50', 0) * 1000)}")
    cluster = "`scripts/cluster` (release), PgBouncer session mode, the worker and the other instance running"
    return [
        row("cluster: booking holds on one instance directly", "wrk, 16 connections", direct,
            f"{cluster}; instance 1 alone takes the load, through PgBouncer"),
        row("cluster: booking holds through HAProxy to two instances", "wrk, 16 connections", proxied,
            f"HAProxy ÷ direct: {proxied['rps'] / direct['rps']:.2f}× the throughput, p99 "
            f"{proxied['p99'] / direct['p99']:.2f}×; on 2 cores the two instances share the cores one had, so "
            f"this is the hop's cost and the outcomes, not a speed-up; {lag_note}"),
        row("cluster: booking holds on a third instance connected to the primary itself (no PgBouncer)",
            "wrk, 16 connections", bare,
            f"PgBouncer's hop: instance 1 through it makes {direct['rps'] / bare['rps']:.2f}× the holds/s of this one, "
            f"p99 {direct['p99'] / bare['p99']:.2f}×; {holds} holds over the three runs, "
            f"{out_of_step} nights whose reserved count differs from their held bookings"),
        row("cluster: local search, a different question every request, read from the replica",
            "wrk, 32 connections", replica, f"instance 1 (`database.replica_url` set, a direct connection to the replica); "
            f"{tx('cluster_search_replica_tx')}"),
        row("cluster: the same searches read from the primary", "wrk, 32 connections", primary,
            f"the third instance (no `database.replica_url`, connected to the primary itself); "
            f"replica ÷ primary: {replica['rps'] / primary['rps']:.2f}× the throughput; {tx('cluster_search_primary_tx')}"),
    ]


def load(path):
    results = {}
    for line in open(path, encoding="utf-8"):
        key, sep, value = line.rstrip("\n").partition("=")
        if sep:
            results[key] = value
    return results


def notes_by_goal(path):
    """`## goal: <id>` sections (shown under their goal, missed or met) and `## note: <title>` sections
    (always shown, under "Other findings"), each up to the next `## ` heading."""
    notes, current = {}, None
    try:
        lines = open(path, encoding="utf-8").read().splitlines()
    except FileNotFoundError:
        return notes
    for line in lines:
        if m := re.match(r"^## (goal|note): (.+)$", line):
            current = m.group(2).strip() if m.group(1) == "goal" else "note:" + m.group(2).strip()
            notes[current] = []
        elif line.startswith("## ") or line.startswith("# "):
            current = None
        elif current:
            notes[current].append(line)
    return {k: "\n".join(v).strip() for k, v in notes.items()}


def cpu_per_op(cpu, rate, cores):
    """"server 0.9 ms + PostgreSQL 1.5 ms" of CPU per operation, from a CPU split string."""
    shares = dict((k, float(v)) for v, k in ((m.group(2), m.group(1)) for m in re.finditer(r"(\w+) (\d+)%", cpu or "")))
    if not rate or "server" not in shares:
        return None
    def per(pct):
        value = pct / 100 * cores * 1000 / rate
        return f"{value * 1000:.0f} µs" if value < 0.1 else f"{value:.2f} ms"
    return f"server {per(shares['server'])} + PostgreSQL {per(shares.get('PostgreSQL', 0))}"


def fmt(value, digits=1):
    if value is None:
        return "n/a"
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def ms(value):
    if value is None:
        return "n/a"
    if value < 1:
        return f"{value * 1000:.0f} µs"
    return f"{value:.1f} ms" if value < 100 else f"{value:.0f} ms"


# The goal figures, by id, in the order of BENCHMARKS.md's goal table and history columns,
# and whether a higher figure is better. The first six are issue #8's (their ids stay, so
# older history rows still line up); the rest are issue #20's.
GOAL_IDS = ["booking", "federated", "local_search", "contention", "rss_idle", "rss_load",
            "search_sql", "race_2000", "federated_real", "notify_webhook_ms", "notify_email_ms",
            "webhooks_per_s", "binary_mb"]
HIGHER_IS_BETTER = {"booking", "local_search", "search_sql", "webhooks_per_s"}
# BENCHMARKS.md files written before the history existed: their goal rows' first bold
# figures, in this order.
LEGACY_GOAL_IDS = ["booking", "federated", "local_search", "contention", "rss_idle", "rss_load"]


def read_history(md_path):
    """The history of a BENCHMARKS.md as rows of {column: text} (commit, date, goal ids), read
    by its own header row, so a run that adds goals still reads the rows written before."""
    try:
        text = open(md_path, encoding="utf-8").read()
    except OSError:
        return []
    section = text.split("## History", 1)
    if len(section) < 2:
        return []
    header, rows = None, []
    for line in section[1].splitlines()[1:]:
        if line.startswith("## "):
            break
        if not line.startswith("|"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if header is None:
            header = cells
        elif not set(cells) <= {"---"} and len(cells) == len(header):
            rows.append(dict(zip(header, cells)))
    return rows


def as_figure(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def goal_figures(md_path):
    """A BENCHMARKS.md's goal figures by id: its history's last row (goals it did not measure
    left out), or else the first bold number of each goal-table row (files written before the
    history existed)."""
    history = read_history(md_path)
    if history:
        last = history[-1]
        return {gid: value for gid in GOAL_IDS if (value := as_figure(last.get(gid))) is not None}
    text = open(md_path, encoding="utf-8").read()
    table = text.split("## Goals", 1)[1].split("\n\n", 2)[1]
    figures = {}
    rows = [line for line in table.splitlines() if line.startswith("|") and "**" in line]
    for gid, line in zip(LEGACY_GOAL_IDS, rows):
        match = re.search(r"\*\*([0-9][0-9,.]*)", line)
        if match:
            figures[gid] = float(match.group(1).replace(",", ""))
    return figures


def compare(before_path, after_path):
    """Prints each goal figure more than 10 % worse after than before; returns how many."""
    before, after = goal_figures(before_path), goal_figures(after_path)
    worse = []
    for gid in GOAL_IDS:
        if gid not in before or gid not in after or before[gid] == 0:
            continue
        change = (after[gid] - before[gid]) / before[gid]
        if gid in HIGHER_IS_BETTER:
            change = -change
        if change > 0.10:
            worse.append(f"{gid}: {before[gid]:g} -> {after[gid]:g} ({change * 100:.0f} % worse)")
    if worse:
        print("Goals more than 10 % worse than in the committed BENCHMARKS.md:")
        print("\n".join(f"  {line}" for line in worse))
    else:
        print("No goal is more than 10 % worse than in the committed BENCHMARKS.md.")
    return len(worse)


def slowest_alone(w, kind):
    """The slowest p50 among the real providers of `kind` searched alone, and its run's name."""
    alone = [(x["p50"], name) for name, x in w.items() if name.startswith(f"real_alone_{kind}_") and x["p50"]]
    return max(alone) if alone else (None, None)


def median_ms(text, what):
    """The median of `what` ("email", "webhook") in notify_latency.py's output."""
    match = re.search(rf"{what}: median (\d+) ms", text or "")
    return float(match.group(1)) if match else None


def goal_list(r, w, race, slow_ms, timeout_ms):
    """Every goal: (id, label, measured, target, met (None: not measured), figure compared
    across runs (None: not measured)). Issue #8's first, then issue #20's."""
    mib = lambda kb: int(kb) / 1024
    race_db = [int(v) for v in r["race_db"].split()]
    goals = []

    def goal(gid, label, figure, measured, target, met):
        goals.append((gid, label, measured if figure is not None else "n/a", target,
                      met if figure is not None else None, figure))

    book = w["book"]["rps"] / float(r["pgbench_tps"])
    goal("booking", "booking rate / pgbench rate (same transaction)", book,
         f"{fmt(w['book']['rps'])} / {fmt(float(r['pgbench_tps']))} = **{book:.3f}**", "≥ 0.8 (#20; #8: ≥ 0.5)", book >= 0.8)
    fed = w["fed3"]["p50"] / slow_ms
    goal("federated", f"federated search p50 / slowest stand-in provider ({slow_ms:.0f} ms), no hanging provider", fed,
         f"{ms(w['fed3']['p50'])} / {slow_ms:.0f} ms = **{fed:.3f}**", "≤ 1.1", fed <= 1.1)
    local = w["local_search"]["rps"] / w["bare"]["rps"]
    goal("local_search", "local search rate (the answer cache) / bare route rate", local,
         f"{fmt(w['local_search']['rps'])} / {fmt(w['bare']['rps'])} = **{local:.3f}**", "≥ 0.3", local >= 0.3)
    booked, _, capacity, over = race_db
    oversold = max(0, booked - capacity) + over
    other = race["requests"] - race["outcomes"].get("201", 0) - race["outcomes"].get("409", 0)
    goal("contention", f"contention race p99, and rooms oversold ({race['requests']} clients, {capacity} rooms)", race["p99_ms"],
         f"p99 **{ms(race['p99_ms'])}**, **{oversold}** oversold ({booked} bookings for {capacity} rooms, {other} answers neither 201 nor 409)",
         "p99 < 0.25 s (#20; #8: 0.5 s), 0 oversold", race["p99_ms"] < 250 and oversold == 0 and booked == capacity)
    goal("rss_idle", "server RSS, idle", mib(r["idle_rss_kb"]), f"**{mib(r['idle_rss_kb']):.1f} MiB**", "< 32 MiB (#20; #8: 64)",
         mib(r["idle_rss_kb"]) < 32)
    goal("rss_load", "server peak RSS under load", mib(r["peak_hwm_kb"]), f"**{mib(r['peak_hwm_kb']):.1f} MiB**",
         "< 100 MiB (#20; #8: 150)", mib(r["peak_hwm_kb"]) < 100)

    cold = w["local_search_cold"]["rps"] / float(r["search_sql_prepared"])
    goal("search_sql", "local search the cache cannot answer / PostgreSQL running its two queries alone, prepared", cold,
         f"{fmt(w['local_search_cold']['rps'])} / {fmt(float(r['search_sql_prepared']))} = **{cold:.3f}**", "≥ 0.9", cold >= 0.9)
    big = json.loads(r["race_crowd"]) if r.get("race_crowd") else None
    big_db = [int(v) for v in r["race_crowd_db"].split()] if r.get("race_crowd_db") else None
    if big and big_db:
        big_oversold = max(0, big_db[0] - big_db[2]) + big_db[3]
        goal("race_2000", f"contention race p99, and rooms oversold ({big['requests']} clients, {big_db[2]} rooms)", big["p99_ms"],
             f"p99 **{ms(big['p99_ms'])}**, **{big_oversold}** oversold; answers {big['outcomes']}",
             "p99 < 0.5 s, 0 oversold", big["p99_ms"] < 500 and big_oversold == 0 and big_db[0] == big_db[2])
    else:
        goal("race_2000", "contention race p99, and rooms oversold (2,000 clients, 5 rooms)", None, "", "p99 < 0.5 s, 0 oversold", None)
    hotels_alone, hotels_slowest = slowest_alone(w, "hotel")
    hospitals_alone, hospitals_slowest = slowest_alone(w, "hospital")
    if "real_hotels" in w and "real_hospitals" in w and hotels_alone and hospitals_alone:
        hotels = w["real_hotels"]["p50"] / hotels_alone
        hospitals = w["real_hospitals"]["p50"] / hospitals_alone
        hang = json.loads(r.get("real_hang_answer") or "{}")
        hang_p50 = w["real_hang"]["p50"] if "real_hang" in w else None
        hang_ok = (hang_p50 is not None and hang_p50 <= timeout_ms * 1.2 and "timeout" in hang.get("statuses", [])
                   and hang.get("offers", 0) > 0)
        goal("federated_real", f"federated search over real servers ({r.get('real_days', '?')} days loaded): p50 / the "
             "slowest of its providers searched alone; and with one hanging, the answer at the timeout with the others' offers",
             max(hotels, hospitals),
             f"hotels (4 CalDAV + 1 local) {ms(w['real_hotels']['p50'])} / {ms(hotels_alone)} = **{hotels:.3f}**; "
             f"hospitals (4 FHIR) {ms(w['real_hospitals']['p50'])} / {ms(hospitals_alone)} = **{hospitals:.3f}**; "
             f"one hanging: p50 {ms(hang_p50)} (timeout {timeout_ms:.0f} ms), providers {hang.get('statuses')}, "
             f"{hang.get('offers', 0)} offers",
             "≤ 1.2; at the timeout", max(hotels, hospitals) <= 1.2 and hang_ok)
    else:
        goal("federated_real", "federated search over real servers: p50 / the slowest provider alone", None, "", "≤ 1.2", None)
    latency = r.get("notify_latency")
    hook, mail = median_ms(latency, "webhook"), median_ms(latency, "email")
    goal("notify_webhook_ms", "confirmation → webhook delivered, median", hook, f"**{fmt(hook)} ms**", "≤ 25 ms",
         hook is not None and hook <= 25)
    probe = json.loads(r["smtp_probe"]) if r.get("smtp_probe") else {}
    maildev_ms = 1000 / probe["one_connection_per_s"] if probe.get("one_connection_per_s") else None
    goal("notify_email_ms", "confirmation → email accepted by SMTP, median", mail,
         f"**{fmt(mail)} ms** (maildev alone: {fmt(maildev_ms)} ms per ~6 KB message over one connection, "
         "`bench.d/smtp_probe.py`)", "≤ 60 ms", mail is not None and mail <= 60)
    done, _, _, from_enqueue, _ = r["webhooks"].split()
    hooks = int(done) / float(from_enqueue) if float(from_enqueue) else None
    goal("webhooks_per_s", f"webhooks delivered per second, {r['jobs_workers']} workers, from the enqueue", hooks,
         f"**{fmt(hooks)}/s**", "≥ 1,000/s", hooks is not None and hooks >= 1000)
    size = int(r["binary_bytes"]) / 1e6 if r.get("binary_bytes") else None
    goal("binary_mb", "release binary size", size, f"**{fmt(size)} MB**", "≤ 30 MB", size is not None and size <= 30)
    return goals


def race_summary(r, name):
    """One race's figures (`race`, `race_crowd`): its summary from race.py, what the database
    sold, and its row in the figures table."""
    race = json.loads(r[name])
    booked, reserved, capacity, over = [int(v) for v in r[f"{name}_db"].split()]
    outcomes = race["outcomes"]
    created, sold_out = outcomes.get("201", 0), outcomes.get("409", 0)
    other = race["requests"] - created - sold_out
    oversold = max(0, booked - capacity) + over
    row = (
        f"| contention race: {race['requests']} clients at once, a room type with {capacity} rooms | "
        f"`bench.d/race.py`, {race['requests']} connections opened first, requests released together "
        f"(sent within {race['send_spread_ms']:.0f} ms) | {created} created, {sold_out} sold out, {other} other "
        f"| {ms(race['p50_ms'])} | {ms(race['p99_ms'])} | max {ms(race['max_ms'])}; answers: {r[name + '_codes']}; "
        f"database: {booked} held bookings, reserved {reserved}/{capacity}, "
        f"{over} nights over capacity; CPU during the race: {r.get(name + '_cpu', 'n/a')}; "
        f"PostgreSQL connections during the race: {r.get(name + '_pg', 'n/a')} |"
    )
    return dict(race, booked=booked, capacity=capacity, other=other, oversold=oversold, row=row)


def subset(results_path):
    """The figures a BENCH_ONLY run recorded: the holds beside pgbench, and the races."""
    r = load(results_path)
    if "book" in r:
        book = json.loads(r["book"])
        print(f"holds: {fmt(book['rps'])} req/s, p50 {ms(book['p50'])}, p99 {ms(book['p99'])}, "
              f"{book['non2xx']} non-2xx; {r['book_holds']} holds written; CPU: {r.get('book_cpu', 'n/a')}; "
              f"PostgreSQL connections: {r.get('book_pg', 'n/a')}")
        print(f"pgbench, the same transaction: {fmt(float(r['pgbench_tps']))} tx/s; "
              f"holds / pgbench = {book['rps'] / float(r['pgbench_tps']):.3f}")
    for name in ("race", "race_crowd"):
        if name in r:
            print(race_summary(r, name)["row"])


def write(results_path, notes_path, out_path):
    r = load(results_path)
    w = {name: json.loads(r[name]) for name in ("bare", "local_search", "local_search_cold", "fed3", "fedhang", "book", "change", "login", "search_during_signups") if name in r}
    # The federated runs over real servers, one per provider alone and the searches of them all.
    w.update({name: json.loads(r[name]) for name in r if name.startswith("real_") and name + "_conns" in r})
    race = json.loads(r["race"])
    cores = int(r["cpu"].split()[0])
    slow_ms, timeout_ms = 200.0, 1000.0

    def jobs(name):
        done, dead, left, from_enqueue, first_to_last = r[name].split()
        done, dead, left = int(done), int(dead), int(left)
        return done, dead, left, float(from_enqueue), float(first_to_last)

    def wrk_row(label, name, load, note=""):
        x = w[name]
        errors = x["non2xx"] + x["socket_errors"]
        extra = [note] if note else []
        if errors:
            extra.append(f"**{x['non2xx']} non-2xx, {x['socket_errors']} socket errors**")
        extra.append(f"CPU: {r.get(name + '_cpu', 'n/a')}")
        if name not in ("fed3", "fedhang") and (per := cpu_per_op(r.get(name + "_cpu"), x["rps"], cores)):
            extra.append(f"CPU per request ≈ {per}")
        return f"| {label} | {load} | {fmt(x['rps'])} req/s | {ms(x['p50'])} | {ms(x['p99'])} | {'; '.join(extra)} |"

    shares = {k: float(v) for k, v in re.findall(r"(\w+) (\d+)%", r.get("pgbench_cpu", ""))}
    pg_per_tx = (f"{(shares.get('PostgreSQL', 0) + shares.get('other', 0)) / 100 * cores * 1000 / float(r['pgbench_tps']):.2f} ms"
                 if shares else "n/a")
    rows = [
        wrk_row("bare route `GET /health/live`", "bare", f"wrk, {r['bare_conns']} connections"),
        wrk_row("local search, the same question (Jeddah: 2 demo hotels): the answer cache, one lookup per `search.cache_ms`",
                "local_search", f"wrk, {r['local_search_conns']} connections",
                f"{r.get('local_search_lookups', 'n/a')} lookups; PostgreSQL connections: {r.get('local_search_pg', 'n/a')}"),
        wrk_row("local search, a different question every request (`bench.d/search_distinct.lua`): two SQL queries each",
                "local_search_cold", f"wrk, {r['local_search_cold_conns']} connections",
                f"{r.get('local_search_cold_lookups', 'n/a')} lookups; PostgreSQL connections: {r.get('local_search_cold_pg', 'n/a')}"),
        f"| the local search's two SQL queries alone (`scripts/bench.d/search.pgbench.sql`) | pgbench, 16 clients | "
        f"{fmt(float(r['search_sql_extended']))} searches/s parsed and planned every time; "
        f"{fmt(float(r['search_sql_prepared']))}/s prepared (as the server sends them) | | | |",
        wrk_row(f"federated search: 3 CalDAV providers × {slow_ms:.0f} ms", "fed3", f"wrk, {r['fed3_conns']} connections"),
        wrk_row(f"federated search: the same 3 + 1 that never answers (timeout {timeout_ms:.0f} ms)", "fedhang",
                f"wrk, {r['fedhang_conns']} connections", f"provider statuses: {r.get('fedhang_statuses', 'n/a')}"),
        wrk_row("booking holds `POST /v1/bookings`, 30 nights, no contention", "book", f"wrk, {r['book_conns']} connections",
                f"{r['book_holds']} holds written; PostgreSQL connections: {r.get('book_pg', 'n/a')}"),
    ]
    if "change" in w:
        rows.append(wrk_row(
            "booking changes `POST /v1/bookings/{b}/change`: the holds above, each moved to another night (`bench.d/change.lua`)",
            "change", f"wrk, {r['change_conns']} connections",
            f"{r.get('change_applied', 'n/a')} changes applied; cells whose reserved count differs from the held bookings "
            f"over them: {r.get('change_reserved_ok', 'n/a')}; changes/s ÷ holds/s = "
            f"{w['change']['rps'] / w['book']['rps']:.2f}; PostgreSQL connections: {r.get('change_pg', 'n/a')}"))
    rows += [
        f"| pgbench, the same SQL transaction (`scripts/bench.d/book.pgbench.sql`) | pgbench, 16 clients, prepared "
        f"| {fmt(float(r['pgbench_tps']))} tx/s | avg {r['pgbench_latency_ms']} ms | | {r['pgbench_holds']} holds written, "
        f"{r.get('pgbench_failed') or 0} failed; CPU: {r.get('pgbench_cpu', 'n/a')} (pgbench's backends exit with it: their CPU is in \"other\"); "
        f"CPU per transaction ≈ {pg_per_tx}, PostgreSQL and the rest |",
        wrk_row("sign-ins `POST /v1/auth/login` (argon2id, production cost)", "login", f"wrk, {r['login_conns']} connections",
                f"server RSS after: {int(r['login_rss_kb']) / 1024:.0f} MiB"),
    ]
    if "search_during_signups" in w:
        flood = json.loads(r.get("signup_flood") or "{}")
        rows.append(wrk_row(
            "local search, a different question every request, during a flood of 200 clients signing up without pause",
            "search_during_signups", f"wrk, {r['search_during_signups_conns']} connections + `bench.d/signup_flood.py`",
            f"sign-ups answered: {flood.get('outcomes', 'n/a')}, {fmt(flood.get('created_per_s'))} created/s; "
            f"server RSS after: {int(r['search_during_signups_rss_kb']) / 1024:.0f} MiB"))
    # Federated search over real servers (#20 point 4): each provider alone, then together.
    for name in sorted(n for n in w if n.startswith("real_alone_")):
        _, _, kind, number = name.split("_")
        rows.append(wrk_row(f"federated, real servers: {kind} {number} searched alone (a city of its own)", name,
                            f"wrk, {r[name + '_conns']} connections, a different question every request"))
    for name, label in (("real_hotels", "federated, real servers: 4 CalDAV hotels (Radicale) and a local hotel in one search"),
                        ("real_hospitals", "federated, real servers: 4 FHIR hospitals (Medplum) in one search"),
                        ("real_hang", "federated, real servers: those hotels and one that never answers")):
        if name in w:
            rows.append(wrk_row(label, name, f"wrk, {r[name + '_conns']} connections, a different question every request",
                                f"one answer: {r['real_hang_answer']}" if name == "real_hang" else ""))
    race = race_summary(r, "race")
    rows.append(race["row"])
    if "race_crowd" in r:
        rows.append(race_summary(r, "race_crowd")["row"])
    for name, label, received, sink in (
        ("emails", "emails: `send_booking_email` (confirmed, with .ics)", "emails_received", "accepted by SMTP (maildev)"),
        ("webhooks", "webhooks: `deliver_webhook` (signed)", "webhooks_received", "arrived at the receiver"),
    ):
        done, dead, left, from_enqueue, first_to_last = jobs(name)
        rate = done / from_enqueue if from_enqueue else None
        steady = (done - 1) / first_to_last if first_to_last else None
        rows.append(
            f"| {label} | {done + dead + left} jobs enqueued at once, {r['jobs_workers']} workers "
            f"| {fmt(rate)}/s | | | {done} done, {dead} dead, {left} left, {r[received]} {sink}; "
            f"{from_enqueue:.2f} s from enqueue to the last done (first to last done: {fmt(steady)}/s; "
            f"idle workers wake when the jobs commit, LISTEN/NOTIFY); CPU: {r.get(name + '_cpu', 'n/a')} |"
        )
    if r.get("notify_latency"):
        rows.append(
            f"| notifications: an agent's confirmation → the email accepted by SMTP / the webhook delivered "
            f"(`bench.d/notify_latency.py`) | 20 bookings, one after another | | | | {r['notify_latency']} |"
        )
    if "smtp_probe" in r:
        probe = json.loads(r["smtp_probe"])
        rows.append(
            f"| the SMTP server alone (`bench.d/smtp_probe.py`, ~6 KB messages) | one client, sequential | "
            f"{fmt(probe['one_connection_per_s'])}/s over one connection | | | "
            f"{fmt(probe['connection_per_message_per_s'])}/s with a new connection per message |"
        )
    if "cluster_book_direct" in r:
        rows += cluster_rows(r)
    mib = lambda kb: int(kb) / 1024
    rows.append(
        f"| server memory | | | | | RSS {mib(r['startup_rss_kb']):.1f} MiB after start-up; "
        f"{mib(r['idle_rss_kb']):.1f} MiB idle after the warm-up (4 sign-ins, 4 s of searches); "
        f"peak RSS (VmHWM) over every run {mib(r['peak_hwm_kb']):.1f} MiB; threads: {r['server_threads_idle']} idle, "
        f"{r.get('race_threads', 'n/a')} right after the race, {r['server_threads_peak']} at the end |"
    )

    goals = goal_list(r, w, race, slow_ms, timeout_ms)
    info = [
        f"- The hanging provider's search: p50 {ms(w['fedhang']['p50'])} = {w['fedhang']['p50'] / timeout_ms:.3f} × the "
        f"{timeout_ms:.0f} ms provider timeout (it should answer at the timeout, with the other three's offers).",
        f"- Booking holds p50 {ms(w['book']['p50'])} over HTTP vs {r['pgbench_latency_ms']} ms average for the transaction alone.",
        f"- Local search when nothing can be reused: {fmt(w['local_search_cold']['rps'])} req/s = "
        f"{w['local_search_cold']['rps'] / w['bare']['rps']:.3f} × the bare route, and "
        f"{w['local_search_cold']['rps'] / float(r['search_sql_prepared']):.2f} × PostgreSQL running its two queries alone, prepared.",
        "- Memory goals: MB read as MiB (2^20 bytes; /proc reports KiB).",
    ]
    if "race_crowd" in r:
        crowd = race_summary(r, "race_crowd")
        info.append(f"- Contention at four times the crowd (#20 point 3): {crowd['requests']} clients p99 {ms(crowd['p99_ms'])} "
                    f"(target < 0.5 s), {crowd['oversold']} oversold; {race['requests']} clients p99 {ms(race['p99_ms'])} (target < 0.25 s).")

    # Runs where something besides the server, PostgreSQL and the load generator took a real
    # share of the CPU (another build or test suite on the machine): their figures are suspect.
    disturbed = []
    for name, label in (("bare", "bare route"), ("local_search", "local search"), ("book", "booking holds"),
                        ("race", "race"), ("login", "sign-ins")):
        m = re.search(r"other (\d+)%", r.get(name + "_cpu", ""))
        if m and int(m.group(1)) >= 15:
            disturbed.append(f"{label} ({m.group(1)} %)")
    if disturbed:
        info.append("- **Other processes took CPU during** " + ", ".join(disturbed)
                    + ": those runs shared the machine with something else; compare them with care.")

    table_head = "| scenario | load | throughput | p50 | p99 | notes |\n|---|---|---|---|---|---|"
    goal_head = "| goal | measured | target | verdict |\n|---|---|---|---|"
    verdicts = {True: "met", False: "**missed**", None: "not measured in this run"}
    goal_rows = [f"| {label} | {measured} | {target} | {verdicts[ok]} |" for _, label, measured, target, ok, _ in goals]
    notes = notes_by_goal(notes_path)
    missed = [(gid, label) for gid, label, _, _, ok, _ in goals if ok is False]
    # The history: each run's goal figures, newest last, the last ten kept; a goal a run did
    # not measure (or that did not exist yet) reads n/a.
    history = read_history(out_path)
    history.append({"commit": r['commit'].split()[0], "date": r['date'][:10],
                    **{gid: "n/a" if value is None else f"{value:.3f}" for gid, _, _, _, _, value in goals}})
    history = history[-10:]

    md = [
        "# Benchmarks",
        "",
        f"Written by `scripts/bench` on {r['date']} at commit `{r['commit']}`; each run rewrites this file.",
        "Release build against a real PostgreSQL; load from separate processes on loopback (127.0.0.1).",
        f"Every HTTP run lasts {r['duration']}. The load generator, the server and PostgreSQL share the",
        "machine's cores, so the ratios below (measured in this one run) are what to compare, not the",
        "absolute figures. CPU shares are of all cores over each run (from /proc): the server, the",
        "PostgreSQL backends serving wasit_bench, the load generator, and \"other\" (maildev, the stand-in",
        "peers, PostgreSQL's background processes, and anything else running on the machine).",
        "\"PostgreSQL connections\" is what the server's pooled connections were doing, sampled every",
        "10 ms from pg_stat_activity (`scripts/bench.d/pg_activity.sql`): working (active), waiting on a",
        "row lock (Lock), on a commit's WAL flush (WALWrite / WALSync), or on the server (ClientRead).",
        "",
        "## Machine",
        "",
        f"- CPU: {r['cpu']}; memory {r['memory']}; {r['os']}, kernel {r['kernel']}; load average before the run: {r['load_before']}",
        f"- PostgreSQL {r['postgres']} at {r['pg_where']}: fsync={r['pg_fsync']}, synchronous_commit={r['pg_synchronous_commit']}, "
        f"full_page_writes={r['pg_full_page_writes']}, shared_buffers={r['pg_shared_buffers']}, max_connections={r['pg_max_connections']}, "
        f"work_mem={r['pg_work_mem']}, wal_level={r['pg_wal_level']}; "
        f"the server and pgbench connect with sslmode={r.get('pg_sslmode', 'prefer (libpq default)')}",
        f"- Server: `wasit serve` (release), WASIT_ENV=production, HTTP workers one per core, database pool {r['pool']}, "
        f"job workers {r['jobs_workers']}, search.provider_timeout_ms={timeout_ms:.0f}; log level warn",
        f"- Load: {r['wrk']} (2 threads), pgbench {r['pgbench']}, `scripts/bench.d/race.py` (asyncio); stand-in CalDAV "
        f"providers `scripts/bench.d/slow_caldav.py` answer after exactly {slow_ms:.0f} ms, or never; SMTP: maildev; "
        f"webhooks: `scripts/bench.d/hook_receiver.py`",
        "",
        "## Figures",
        "",
        table_head,
        *rows,
        "",
        "## Goals (issues #8 and #20)",
        "",
        goal_head,
        *goal_rows,
        "",
        *info,
        "",
    ]
    if missed:
        md += ["## Missed goals: what the profile showed, and what would close them", "",
               "From `scripts/bench.d/profile-notes.md` (written from a `scripts/bench --profile` run; the",
               "raw profiles are in `target/bench/profile-*.txt`).", ""]
        for gid, label in missed:
            md += [f"### {label}", "", notes.get(gid, "_Not profiled yet: run `scripts/bench --profile` and write the findings in `scripts/bench.d/profile-notes.md`._"), ""]
    md += ["## History", "",
           "Each goal's figure by run, newest last (`scripts/bench --compare` prints the ones more than",
           "10 % worse than in the committed file).", "",
           "| commit | date | " + " | ".join(GOAL_IDS) + " |",
           "|---|---|" + "---|" * len(GOAL_IDS),
           *["| " + " | ".join(row.get(column, "n/a") for column in ["commit", "date", *GOAL_IDS]) + " |"
             for row in history], ""]
    met = [(gid, label) for gid, label, _, _, ok, _ in goals if ok and gid in notes]
    if met:
        md += ["## Goals met: what the profile showed, and what was done", "",
               "From `scripts/bench.d/profile-notes.md`; kept so that a goal that slips back has its history.", ""]
        for gid, label in met:
            md += [f"### {label}", "", notes[gid], ""]
    others = [(k[5:], v) for k, v in notes.items() if k.startswith("note:")]
    if others:
        md += ["## Other findings", ""]
        for title, text in others:
            md += [f"### {title}", "", text, ""]
    md += [
        "## Contract fuzzing (issue #8, point 4)",
        "",
        f"`scripts/fuzz --long`: {r.get('fuzz', 'n/a')}."
        + (f" Operations with findings: {r['fuzz_findings']} (each with a curl line that reproduces it in the log)." if r.get("fuzz_findings") else ""),
        "",
        f"The build and the scenarios took {r.get('scenarios_secs', 'n/a')} s, the whole `scripts/bench` {r.get('total_secs', 'n/a')} s"
        f"{' (with --profile)' if r.get('profiled') == '1' else ''}. "
        "Raw outputs of the last run: `target/bench/`.",
        "",
    ]
    text = "\n".join(md)
    with open(out_path, "w", encoding="utf-8") as out:
        out.write(text)
    print()
    print(table_head)
    print("\n".join(rows))
    print()
    print(goal_head)
    print("\n".join(goal_rows))
    print("\n".join(info))
    print(f"\nWrote {out_path}.")


if __name__ == "__main__":
    command = sys.argv[1]
    if command == "parse-wrk":
        print(json.dumps(parse_wrk(sys.argv[2])))
    elif command == "activity":
        bounds = [float(v) for v in sys.argv[3:5]] if len(sys.argv) >= 5 else [None, None]
        print(activity(sys.argv[2], *bounds))
    elif command == "lag":
        print(json.dumps(lag(sys.argv[2])))
    elif command == "race-codes":
        print(race_codes(sys.argv[2]))
    elif command == "write":
        write(*sys.argv[2:5])
    elif command == "subset":
        subset(sys.argv[2])
    elif command == "compare":
        sys.exit(1 if compare(*sys.argv[2:4]) else 0)
    else:
        sys.exit(__doc__)
