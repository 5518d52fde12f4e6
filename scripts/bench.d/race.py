"""The contention race: N clients ask for the same offer at the same moment.

curl --parallel stops at 300 transfers at once (curl 7.88), so this client opens all N
keep-alive connections first, then releases every request together: each connection
writes its request as soon as a shared start signal fires, and its latency runs from its
own write to the last byte of its answer. Standard library only.

usage: race.py HOST PORT TOKEN OFFER_ID N OUT_JSONL [SERVER_PID]
Writes one line per request ({"status", "code", "ms", "sent_ms"}) to OUT_JSONL and prints a
summary as JSON: outcomes by status, p50 / p99 / max latency, how long it took to send all N
requests (the spread: small next to the latencies means they really raced), the wall-clock
start and end of the race (epoch seconds) and, with SERVER_PID, how the machine's CPU time
split between the server, the PostgreSQL backends of wasit_bench and the rest during it.
"""
import asyncio
import json
import os
import resource
import sys
import time

host, port, token, offer, count, out_path = sys.argv[1:7]
port, count = int(port), int(count)
server_pid = sys.argv[7] if len(sys.argv) > 7 else None

# Each connection is a file descriptor here; the default soft limit may be 1024.
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
if soft != resource.RLIM_INFINITY and soft < count + 64:
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, count + 256) if hard != resource.RLIM_INFINITY else count + 256, hard))


def cpu_snapshot():
    """(busy, total) jiffies of the machine, and the server's and wasit_bench backends' jiffies."""
    fields = [int(v) for v in open("/proc/stat").readline().split()[1:]]
    total, idle = sum(fields[:8]), fields[3] + fields[4]

    def ticks(pid):
        try:
            stat = open(f"/proc/{pid}/stat").read()
            parts = stat[stat.rindex(")") + 2:].split()
            return int(parts[11]) + int(parts[12])
        except (OSError, ValueError):
            return 0

    server = ticks(server_pid) if server_pid else 0
    postgres = {}
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                cmdline = open(f"/proc/{pid}/cmdline", "rb").read()
            except OSError:
                continue
            if cmdline.startswith(b"postgres: ") and b" wasit_bench " in cmdline:
                postgres[pid] = ticks(pid)
    return total - idle, total, server, postgres


def cpu_split(before, after):
    busy, total = after[0] - before[0], max(1, after[1] - before[1])
    server = after[2] - before[2]
    postgres = sum(t - before[3].get(pid, 0) for pid, t in after[3].items())
    other = max(0, busy - server - postgres)
    pct = lambda v: f"{100 * v / total:.0f}%"
    return f"server {pct(server)}, PostgreSQL {pct(postgres)}, other {pct(other)}, idle {pct(total - busy)}"


def request_bytes(i):
    body = json.dumps({"offer_id": offer}).encode()
    head = (
        f"POST /v1/bookings HTTP/1.1\r\nhost: {host}:{port}\r\ncontent-type: application/json\r\n"
        f"authorization: Bearer {token}\r\nidempotency-key: race-{i}-{time.time_ns()}\r\n"
        f"content-length: {len(body)}\r\n\r\n"
    ).encode()
    return head + body


async def read_response(reader):
    """Status and body of one HTTP/1.1 response (content-length or chunked)."""
    status_line = await reader.readline()
    status = int(status_line.split()[1])
    length, chunked = 0, False
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b""):
            break
        name, _, value = line.decode("latin-1").partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "transfer-encoding" and "chunked" in value.lower():
            chunked = True
    if not chunked:
        return status, await reader.readexactly(length)
    body = b""
    while True:
        size = int((await reader.readline()).split(b";")[0], 16)
        if size == 0:
            await reader.readline()
            return status, body
        body += await reader.readexactly(size)
        await reader.readexactly(2)


async def one(i, start, results, epoch, opened):
    reader, writer = await asyncio.open_connection(host, port)
    payload = request_bytes(i)
    opened.append(i)
    await start.wait()
    sent = time.perf_counter()
    try:
        writer.write(payload)
        await writer.drain()
        status, body = await asyncio.wait_for(read_response(reader), timeout=60)
        try:
            code = json.loads(body).get("code") if body else None
        except ValueError:
            code = None
    except Exception as error:  # a reset or a timeout is an outcome too
        status, code = 0, type(error).__name__
    done = time.perf_counter()
    writer.close()
    results.append({"status": status, "code": code, "ms": (done - sent) * 1000, "sent_ms": (sent - epoch[0]) * 1000})


async def main():
    start, results, epoch, opened = asyncio.Event(), [], [0.0], []
    tasks = [asyncio.create_task(one(i, start, results, epoch, opened)) for i in range(count)]
    # Let every connection open (each then waits on `start`), then release them all at once.
    deadline = time.monotonic() + 30
    while len(opened) < count and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    if len(opened) < count:
        sys.exit(f"only {len(opened)} of {count} connections opened")
    await asyncio.sleep(0.2)  # the server has accepted them all and sits idle
    cpu_before, wall[0] = cpu_snapshot(), time.time()
    epoch[0] = time.perf_counter()
    start.set()
    await asyncio.gather(*tasks)
    wall[1], cpu[0] = time.time(), cpu_split(cpu_before, cpu_snapshot())
    return results


wall, cpu = [0.0, 0.0], [None]
results = asyncio.run(main())
with open(out_path, "w", encoding="utf-8") as out:
    for r in results:
        out.write(json.dumps(r) + "\n")
latencies = sorted(r["ms"] for r in results)
pick = lambda q: latencies[min(len(latencies) - 1, max(0, int(round(q * len(latencies))) - 1))]
outcomes = {}
for r in results:
    outcomes[str(r["status"])] = outcomes.get(str(r["status"]), 0) + 1
print(json.dumps({
    "requests": len(results),
    "outcomes": outcomes,
    "p50_ms": round(pick(0.50), 1),
    "p99_ms": round(pick(0.99), 1),
    "max_ms": round(latencies[-1], 1),
    "send_spread_ms": round(max(r["sent_ms"] for r in results), 1),
    "started": round(wall[0], 3),
    "ended": round(wall[1], 3),
    "cpu": cpu[0] if server_pid else None,
}))
