"""The interpreter exiting while a probe callable of an abandoned attempt still runs, and Client.close()."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time

import pytest

import scoutlb
from scoutlb import Client, Server

# A hung default (port 1) loses the race to the next server (port 2); the script then ends while
# the default's probe callable still runs: it returns HANG seconds after the connect did, so during
# the interpreter's finalization.
EXIT_SCRIPT = textwrap.dedent(
    """
    import logging, sys, threading, time
    import scoutlb

    logging.basicConfig(level=logging.DEBUG, stream=sys.stdout)
    hang = float(sys.argv[1])
    returned = threading.Event()

    def probe(server: scoutlb.Server, timeout: float) -> bool:
        if server.port == 1:
            returned.wait(10)
            # Short sleeps: the thread takes the GIL again and again while the interpreter ends.
            end = time.monotonic() + hang
            while time.monotonic() < end:
                time.sleep(0.001)
        return True

    client = scoutlb.Client(
        servers=["127.0.0.1:1", "127.0.0.1:2"], probe=probe,
        attempt_delay_ms=20, answer_delay_ms=20, connect_timeout_ms=int(sys.argv[2]),
    )
    connected = client.connect()
    returned.set()
    assert connected.server.port == 2, connected
    print("connected", connected.server, flush=True)
    """
)


def run_exit_script(hang: float, timeout_ms: int = 3000) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", EXIT_SCRIPT, str(hang), str(timeout_ms)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_exit_while_an_abandoned_probe_still_runs() -> None:
    # Before the atexit gate, 18 of these 20 runs crashed (SIGSEGV, or SIGABRT "Fatal Python error:
    # PyGILState_Release: thread state ... must be current when releasing").
    for i in range(20):
        hang = 0.01 * i
        done = run_exit_script(hang)
        output = done.stdout + done.stderr
        assert done.returncode == 0, f"run {i} (probe returns {hang:.3f} s in): exit {done.returncode}\n{output}"
        assert "connected 127.0.0.1:2" in done.stdout
        for text in ("Fatal Python error", "PyGILState", "Segmentation", "Aborted", "panicked"):
            assert text not in output, f"run {i}: {text}\n{output}"


def test_exit_waits_for_a_probe_only_up_to_its_timeout() -> None:
    # The probe was given 0.2 s; it returns 3 s after the connect. The exit waits 0.2 s + 1 s at
    # most, then says so.
    started = time.monotonic()
    done = run_exit_script(3.0, timeout_ms=200)
    elapsed = time.monotonic() - started
    assert "connected 127.0.0.1:2" in done.stdout
    assert "still ran 1 s past the time they were given" in done.stdout + done.stderr
    assert elapsed < 2.8, f"the exit waited {elapsed:.1f} s for a probe given 0.2 s"


def test_with_closes_the_client() -> None:
    with Client(servers=["a:1"], probe="none") as client:
        assert not client.closed
        assert client.candidates() == [Server("a", 1)]
    assert client.closed
    assert "closed" in repr(client)
    with pytest.raises(scoutlb.Error, match="the client is closed"):
        client.candidates()
    with pytest.raises(scoutlb.Error, match="the client is closed"):
        client.connect_with_retry()
    client.close()  # again: nothing happens
    assert client.seeds == [Server("a", 1)]


def test_with_lets_exceptions_through() -> None:
    with pytest.raises(KeyError):
        with Client(servers=["a:1"], probe="none") as client:
            raise KeyError("from the block")
    assert client.closed


def test_close_waits_for_a_running_probe_and_none_runs_after() -> None:
    state = {"running": 0, "calls_after_close": 0}
    lock = threading.Lock()
    closed = threading.Event()

    def probe(server: Server, timeout: float) -> bool:
        with lock:
            if closed.is_set():
                state["calls_after_close"] += 1
            state["running"] += 1
        try:
            if server.port == 1:
                time.sleep(0.5)  # the hung default, abandoned when port 2 wins
            return True
        finally:
            with lock:
                state["running"] -= 1

    client = Client(servers=["127.0.0.1:1", "127.0.0.1:2"], probe=probe, attempt_delay_ms=20, answer_delay_ms=20)
    assert client.connect().server.port == 2
    with lock:
        assert state["running"] == 1, "the abandoned probe still runs"
    started = time.monotonic()
    client.close()
    closed.set()
    assert time.monotonic() - started > 0.2, "close() waited for the probe"
    with lock:
        assert state["running"] == 0
    assert state["calls_after_close"] == 0


def test_a_probe_that_closes_its_own_client() -> None:
    holder: list[Client] = []

    def probe(server: Server, timeout: float) -> bool:
        holder[0].close()
        return True

    holder.append(Client(servers=["a:1"], probe=probe))
    with pytest.raises(scoutlb.AllServersFailedError) as info:
        holder[0].connect()
    assert "close() cannot wait for itself" in info.value.attempts[0].message
    assert holder[0].closed
