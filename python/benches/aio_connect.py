"""`await scoutlb.aio` beside asyncio's own happy eyeballs, on the same loopback servers.

Nine refused addresses ahead of one live server (127.0.0.2 ... 127.0.0.11, one port, a listener on
the last), reached by:
- `asyncio.open_connection(happy_eyeballs_delay=0.25)` given the ten addresses (the loop's
  `getaddrinfo` is replaced by the list, so that only the racing is timed, not a name lookup);
- `scoutlb.aio.AsyncClient(...).connect()` with the `tcp` probe and the same ten servers;
- the same with the `http` probe (the live server answers the list);
- a plain connect to the live server alone (the fixed cost).

Prints medians of many runs and their ratios to the fixed cost, and the threads of the process
during a scoutlb.aio connect. Run after `bash python/run-tests.sh` (which installs the wheel):

    target/py-test-venv/bin/python python/benches/aio_connect.py
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import statistics
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Awaitable, Callable, List, Tuple

import scoutlb
from scoutlb.aio import AsyncClient

RUNS = 201
AHEAD = [f"127.0.0.{i}" for i in range(2, 11)]
LIVE = "127.0.0.11"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 - the name http.server asks for
        port = self.server.server_address[1]  # type: ignore[index]
        body = json.dumps({"servers": [{"host": LIVE, "port": port}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def threads() -> int:
    return len(os.listdir("/proc/self/task"))


async def timed(run: Callable[[], Awaitable[None]]) -> float:
    samples = []
    for _ in range(RUNS):
        start = time.perf_counter()
        await run()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


async def main() -> None:
    httpd = ThreadingHTTPServer((LIVE, 0), Handler)
    httpd.daemon_threads = True
    port = httpd.server_address[1]
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    loop = asyncio.get_running_loop()
    addresses = [*AHEAD, LIVE]
    infos: List[Tuple[Any, ...]] = [
        (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (a, port)) for a in addresses
    ]

    async def getaddrinfo(*args: Any, **kwargs: Any) -> List[Tuple[Any, ...]]:
        return infos

    loop.getaddrinfo = getaddrinfo  # type: ignore[method-assign]

    async def plain() -> None:
        _, w = await asyncio.open_connection(LIVE, port)
        w.close()
        await w.wait_closed()

    async def eyeballs() -> None:
        _, w = await asyncio.open_connection("servers.test", port, happy_eyeballs_delay=0.25)
        assert w.get_extra_info("peername")[0] == LIVE
        w.close()
        await w.wait_closed()

    async def one_by_one() -> None:
        for a in addresses:
            try:
                _, w = await asyncio.open_connection(a, port)
            except OSError:
                continue
            w.close()
            await w.wait_closed()
            return

    def aio(probe: str, ahead: bool) -> Callable[[], Awaitable[None]]:
        servers = [f"{a}:{port}" for a in (addresses if ahead else [LIVE])]

        async def run() -> None:
            c = AsyncClient(scoutlb.Client(servers=servers, probe=probe))  # type: ignore[arg-type]
            connected = await c.connect()
            assert connected.server.host == LIVE
            c.close()

        return run

    for run in (plain, one_by_one, eyeballs, aio("tcp", True), aio("http", True)):  # warm up
        for _ in range(10):
            await run()
    # Each way's fixed cost is its own connect with nothing ahead.
    rows = [
        ("plain asyncio loop, one address after another", await timed(plain), await timed(one_by_one)),
        ("asyncio happy eyeballs (0.25 s)", await timed(plain), await timed(eyeballs)),
        ("scoutlb.aio, tcp probe", await timed(aio("tcp", False)), await timed(aio("tcp", True))),
        ("scoutlb.aio, http probe (GET the list)", await timed(aio("http", False)), await timed(aio("http", True))),
    ]
    print(f"time to the live server, median of {RUNS}: alone (the fixed cost) and with 9 refused addresses ahead")
    for name, alone, ahead in rows:
        print(f"  {name:<48} {alone * 1e3:6.2f} ms  {ahead * 1e3:6.2f} ms  {ahead / alone:5.2f}x")

    # Threads while a scoutlb.aio connect waits on a silent server (the kernel's backlog).
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    before = threads()
    c = AsyncClient(scoutlb.Client(servers=[f"127.0.0.1:{silent.getsockname()[1]}"]))
    task = asyncio.ensure_future(c.connect())
    await asyncio.sleep(0.2)
    during = threads()
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    print(f"threads during a scoutlb.aio connect: {during} (before: {before}, +{during - before})")
    httpd.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
