"""scoutlb.aio: connect calls awaited on the asyncio loop (behaviour.md, "Event loops").

The time bounds are far above the 50 ms promised (the machine is shared): they tell "ended at the
cancel" from "ended at a timeout" (20 s).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Awaitable, Callable

import pytest

import scoutlb
from scoutlb import RetryConfig, Server
from scoutlb.aio import AsyncClient

from conftest import REPO_ROOT, Recorder, ScoutServer

SOON = 1.5


def threads() -> int:
    """The threads of this process, Python's and native ones."""
    return len(os.listdir("/proc/self/task"))


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_connect_gives_what_the_blocking_connect_gives(
    tmp_path: Path, make_scout_server: Callable[[], ScoutServer], refused_address: str
) -> None:
    a, b = make_scout_server(), make_scout_server()
    listing = [{"host": "127.0.0.1", "port": s.port, "id": n} for n, s in (("a", a), ("b", b))]
    for s in (a, b):
        s.listing = listing
        s.self_id = "a" if s is a else "b"
    servers = [refused_address, b.address, a.address]
    seen = {}
    for name in ("blocking", "aio"):
        events = Recorder()
        client = scoutlb.Client(servers=servers, state_file=str(tmp_path / f"{name}.json"), events=events)
        if name == "blocking":
            connected = client.connect()
        else:
            connected = run(AsyncClient(client).connect())
        seen[name] = (connected.server, connected.reached, client.default_server, client.server_list, events.kinds())
        client.close()
    assert seen["aio"] == seen["blocking"]
    assert seen["aio"][0] == b.server
    assert "attempt_failed" in seen["aio"][4]


def test_a_connect_starts_no_thread(silent_address: str, scout_server: ScoutServer) -> None:
    async def main() -> tuple[int, int, int, Server]:
        client = AsyncClient(scoutlb.Client(servers=[silent_address], connect_timeout_ms=20000, attempt_delay_ms=0, answer_delay_ms=0))
        before = threads()
        task = asyncio.ensure_future(client.connect())
        await asyncio.sleep(0.2)
        during = threads()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # The live server starts a thread per request, which would count: ask it only now.
        other = AsyncClient(scoutlb.Client(servers=[scout_server.address]))
        connected = await other.connect()
        return before, during, threads(), connected.server

    before, during, _, server = run(main())
    assert during == before
    assert server == scout_server.server


async def seconds_to_end_when_cancelled(call: Awaitable[object]) -> float:
    """How long the task awaiting `call` takes to end once cancelled, 0.3 s after it began."""
    task = asyncio.ensure_future(call)
    await asyncio.sleep(0.3)
    start = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    return time.monotonic() - start


def test_cancelling_the_task_ends_the_call_at_once(silent_address: str, scout_server: ScoutServer) -> None:
    async def main() -> float:
        client = AsyncClient(scoutlb.Client(servers=[silent_address], connect_timeout_ms=20000, attempt_delay_ms=0, answer_delay_ms=0))
        return await seconds_to_end_when_cancelled(client.connect())

    assert run(main()) < SOON


def test_client_cancel_from_another_thread_ends_the_call(silent_address: str) -> None:
    async def main() -> float:
        client = AsyncClient(scoutlb.Client(servers=[silent_address], connect_timeout_ms=20000, attempt_delay_ms=0, answer_delay_ms=0))
        threading.Timer(0.3, client.cancel).start()
        start = time.monotonic()
        with pytest.raises(scoutlb.CancelledError):
            await client.connect()
        # Until reset, every later call is refused as well.
        with pytest.raises(scoutlb.CancelledError):
            await client.connect()
        return time.monotonic() - start

    assert run(main()) < 0.3 + SOON


def test_reconnect_goes_on_from_the_default_server(make_scout_server: Callable[[], ScoutServer]) -> None:
    a, b = make_scout_server(), make_scout_server()
    listing = [{"host": "127.0.0.1", "port": s.port, "id": n} for n, s in (("a", a), ("b", b))]
    for s in (a, b):
        s.listing = listing
        s.self_id = None

    async def main() -> tuple[Server, Server]:
        client = AsyncClient(scoutlb.Client(servers=[a.address, b.address]))
        first = await client.connect()
        a.stop()
        client.client.connection_lost()
        second = await client.reconnect()
        return first.server, second.server

    assert run(main()) == (a.server, b.server)


def test_connect_with_retry_tries_on_the_schedule_then_fails(refused_address: str) -> None:
    events = Recorder()
    retry: RetryConfig = {"profile": "backoff", "base_ms": 50, "factor": 1.0, "cap_ms": 50, "max_tries": 3}

    async def main() -> None:
        client = AsyncClient(scoutlb.Client(servers=[refused_address], retry=retry, events=events))
        with pytest.raises(scoutlb.AllServersFailedError):
            await client.connect_with_retry()

    run(main())
    assert events.kinds().count("attempt_failed") == 3


def test_connect_with_retry_reaches_a_server_that_comes_up(refused_address: str) -> None:
    port = int(refused_address.rsplit(":", 1)[1])
    retry: RetryConfig = {"profile": "backoff", "base_ms": 100, "factor": 1.0, "cap_ms": 100, "max_tries": 50}
    started: list[ScoutServer] = []

    async def main() -> Server:
        client = AsyncClient(scoutlb.Client(servers=[refused_address], retry=retry))
        loop = asyncio.get_running_loop()
        loop.call_later(0.3, lambda: started.append(ScoutServer(port)))
        return (await client.connect_with_retry()).server

    try:
        assert run(main()) == Server("127.0.0.1", port)
    finally:
        for s in started:
            s.stop()


def test_cancelling_the_task_ends_the_wait_between_tries(refused_address: str) -> None:
    retry: RetryConfig = {"profile": "backoff", "base_ms": 20000, "cap_ms": 20000, "max_tries": 0}

    async def main() -> float:
        client = AsyncClient(scoutlb.Client(servers=[refused_address], retry=retry))
        return await seconds_to_end_when_cancelled(client.connect_with_retry())

    assert run(main()) < SOON


def test_an_async_probe_runs_each_attempt_on_the_loop() -> None:
    asked: list[int] = []

    async def probe(server: Server, timeout: float) -> bool:
        asked.append(server.port)
        await asyncio.sleep(0.01)
        if server.port == 1:
            raise ConnectionRefusedError("refused by the agent's own protocol")
        return True

    async def main() -> scoutlb.Connected:
        client = scoutlb.Client(servers=["127.0.0.1:1", "127.0.0.1:2"], probe=probe)
        return await AsyncClient(client).connect()

    connected = run(main())
    assert connected.server == Server("127.0.0.1", 2)
    assert [(a.server.port, a.kind) for a in connected.failed] == [(1, "refused")]
    assert asked == [1, 2]


def test_a_slow_default_whose_async_probe_reports_its_transport_up_keeps_its_device() -> None:
    asked: list[int] = []

    async def probe(server: Server, timeout: float, attempt: scoutlb.ProbeAttempt) -> bool:
        asked.append(server.port)
        attempt.transport_up()
        await asyncio.sleep(0.3)  # beyond attempt_delay_ms
        return True

    async def main() -> scoutlb.Connected:
        client = scoutlb.Client(
            servers=["127.0.0.1:1", "127.0.0.1:2"], probe=probe, attempt_delay_ms=100, answer_delay_ms=5000
        )
        return await AsyncClient(client).connect()

    assert run(main()).server == Server("127.0.0.1", 1)
    assert asked == [1]


def test_the_probe_task_of_an_attempt_given_up_is_cancelled() -> None:
    cancelled: list[int] = []

    async def probe(server: Server, timeout: float) -> bool:
        if server.port == 1:
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                cancelled.append(server.port)
                raise
        return True

    async def main() -> scoutlb.Connected:
        client = scoutlb.Client(servers=["127.0.0.1:1", "127.0.0.1:2"], probe=probe, attempt_delay_ms=50)
        connected = await AsyncClient(client).connect()
        await asyncio.sleep(0)  # the cancelled task runs its handler
        return connected

    start = time.monotonic()
    assert run(main()).server == Server("127.0.0.1", 2)
    assert cancelled == [1]
    assert time.monotonic() - start < SOON


def test_a_plain_probe_function_runs_on_the_executor_and_hands_back_its_list(scout_server: ScoutServer) -> None:
    body = scout_server.body()

    def probe(server: Server, timeout: float, attempt: scoutlb.ProbeAttempt) -> bool:
        attempt.server_list(body)
        return True

    async def main() -> tuple[scoutlb.Connected, list[Server]]:
        client = scoutlb.Client(servers=[scout_server.address], probe=probe)
        connected = await AsyncClient(client).connect()
        return connected, client.server_list

    connected, listing = run(main())
    assert connected.server == scout_server.server
    assert listing == [scout_server.server]


def test_an_async_probe_given_to_a_blocking_call_fails_saying_where_it_runs() -> None:
    async def probe(server: Server, timeout: float) -> bool:
        return True

    client = scoutlb.Client(servers=["127.0.0.1:1"], probe=probe)
    with pytest.raises(scoutlb.AllServersFailedError) as failed:
        client.connect()
    assert "scoutlb.aio" in failed.value.attempts[0].message


def test_an_agent_driven_client_is_refused_when_the_call_starts() -> None:
    async def main() -> None:
        client = AsyncClient(scoutlb.Client(servers=["127.0.0.1:1"], probe="none"))
        with pytest.raises(scoutlb.UnsupportedError, match="event-loop driver"):
            await client.connect()

    run(main())


def test_the_asyncio_agent_example_fails_over(make_scout_server: Callable[[], ScoutServer], tmp_path: Path) -> None:
    a, b = make_scout_server(), make_scout_server()
    listing = [{"host": "127.0.0.1", "port": s.port, "id": n} for n, s in (("a", a), ("b", b))]
    for s in (a, b):
        s.listing = listing
        s.self_id = None
    agent = subprocess.Popen(
        [sys.executable, str(REPO_ROOT / "examples" / "python" / "asyncio_agent.py"), "--state-file",
         str(tmp_path / "agent.json"), "--check-every", "0.1", "--rounds", "2", a.address, b.address],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert agent.stdout is not None
    first = agent.stdout.readline()
    assert first.strip() == f"connected to {a.address}", first
    a.stop()
    try:
        out, err = agent.communicate(timeout=30)
    finally:
        agent.kill()
    assert agent.returncode == 0, err
    assert f"lost {a.address}" in out, out
    assert f"connected to {b.address}" in out, out


def test_a_name_of_the_hosts_file_is_resolved_on_the_loop(scout_server: ScoutServer) -> None:
    # localhost comes from the hosts file: no name server is asked (none off loopback ever is).
    async def main() -> tuple[scoutlb.Connected, int, int]:
        client = AsyncClient(scoutlb.Client(servers=[f"localhost:{scout_server.port}"]))
        before = threads()
        connected = await client.connect()
        return connected, before, threads()

    connected, before, after = run(main())
    # Reached by its name; the server then names itself (`self`) by its address.
    assert connected.reached == Server("localhost", scout_server.port)
    assert connected.server == scout_server.server
    assert after <= before + 1  # the live server's own thread for the request, at most
