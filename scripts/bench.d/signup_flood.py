"""A flood of sign-ups: N clients each post POST /v1/auth/register over and over (a new email
every time) for SECONDS, as a bot with many addresses would (the bench turns the per-address
limit off, so every sign-up reaches the password hash). Standard library only.

usage: signup_flood.py HOST PORT N SECONDS
Prints a summary as JSON: answers by status, and sign-ups created per second.
"""
import asyncio
import json
import sys
import time
import uuid

host, port, count, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])


async def client(deadline, outcomes):
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.monotonic() < deadline:
            body = json.dumps({
                "email": f"flood-{uuid.uuid4().hex}@bench.test",
                "password": "flood password 1234",
                "full_name": "Flood",
            }).encode()
            writer.write(
                f"POST /v1/auth/register HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
            await writer.drain()
            status_line = await reader.readline()
            status = status_line.split()[1].decode() if len(status_line.split()) > 1 else "closed"
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode().partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            await reader.readexactly(length)
            outcomes[status] = outcomes.get(status, 0) + 1
            if status == "closed":
                return
    finally:
        writer.close()


async def main():
    outcomes = {}
    started = time.monotonic()
    deadline = started + seconds
    await asyncio.gather(*(client(deadline, outcomes) for _ in range(count)), return_exceptions=True)
    elapsed = time.monotonic() - started
    print(json.dumps({"outcomes": outcomes, "created_per_s": outcomes.get("201", 0) / elapsed}))


asyncio.run(main())
