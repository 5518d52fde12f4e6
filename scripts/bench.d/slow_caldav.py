"""A stand-in CalDAV server for benchmarks: answers every request with an empty
multistatus (every room free) after a fixed delay, or never answers at all.

No real CalDAV server can be told to take exactly 200 ms, so the benchmark uses this to
measure what the federated search adds on top of its slowest provider. It answers every
request on its own schedule (asyncio), so many searches at once all see the same delay.

usage: slow_caldav.py PORT DELAY_MS      (DELAY_MS < 0: accept and never answer)
"""
import asyncio
import sys

EMPTY = b'<?xml version="1.0" encoding="utf-8"?>\n<multistatus xmlns="DAV:"/>\n'


async def handle(reader, writer, delay):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            if length:
                await reader.readexactly(length)
            if delay < 0:
                # Never answer; hold the connection until the client gives up and closes it
                # (so a long run does not pile up sockets here).
                while await reader.read(65536):
                    pass
                return
            await asyncio.sleep(delay / 1000)
            writer.write(
                b"HTTP/1.1 207 Multi-Status\r\ncontent-type: application/xml; charset=utf-8\r\n"
                + b"content-length: %d\r\n\r\n" % len(EMPTY)
                + EMPTY
            )
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def main(port, delay):
    server = await asyncio.start_server(lambda r, w: handle(r, w, delay), "127.0.0.1", port)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2])))
