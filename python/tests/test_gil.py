"""Blocking calls release the GIL: other Python threads run while connect() waits."""

from __future__ import annotations

import threading
import time
from typing import Callable

import pytest

import scoutlb
from scoutlb import Client, Server


class Ticker:
    """A Python thread that records a timestamp every 10 ms, which it can only do while it holds the GIL."""

    def __init__(self) -> None:
        self.ticks: list[float] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run)

    def run(self) -> None:
        while not self.stop.wait(0.01):
            self.ticks.append(time.monotonic())

    def __enter__(self) -> Ticker:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()

    def between(self, start: float, end: float) -> list[float]:
        """The ticks strictly inside the window."""
        return [t for t in self.ticks if start < t < end]


def run_while_ticking(call: Callable[[], object]) -> tuple[float, float, Ticker]:
    with Ticker() as ticker:
        time.sleep(0.05)
        start = time.monotonic()
        try:
            call()
        except scoutlb.AllServersFailedError:
            pass
        end = time.monotonic()
    return start, end, ticker


def test_connect_on_a_silent_server_lets_other_threads_run(silent_address: str) -> None:
    client = Client(servers=[silent_address], connect_timeout_ms=1000, attempt_delay_ms=0)
    start, end, ticker = run_while_ticking(client.connect)
    assert end - start >= 0.9, "the silent server must hold connect() for its timeout"
    inside = ticker.between(start + 0.1, end - 0.1)
    # About 80 ticks fit in the window; none would if connect() held the GIL.
    assert len(inside) >= 20, f"only {len(inside)} ticks while connect() waited"


def test_connect_with_retry_waits_without_the_gil(refused_address: str) -> None:
    client = Client(servers=[refused_address], retry={"base_ms": 400, "factor": 1.0, "cap_ms": 400, "max_tries": 6})
    # Five waits of 200 ms on average; the ticks during the waits prove the GIL is free.
    start, end, ticker = run_while_ticking(client.connect_with_retry)
    if end - start < 0.25:
        pytest.skip("SKIPPED: the random backoff waits were too short to measure this time")
    assert len(ticker.between(start, end)) >= (end - start) / 0.01 / 4


def test_callback_probes_run_in_parallel() -> None:
    """Staggered attempts call the Python probe from several threads; a sleeping probe blocks none."""
    active = 0
    most = 0
    lock = threading.Lock()

    def probe(server: Server, timeout: float) -> bool:
        nonlocal active, most
        with lock:
            active += 1
            most = max(most, active)
        time.sleep(0.3)
        with lock:
            active -= 1
        return server.port == 3

    client = Client(servers=["a:1", "a:2", "a:3"], probe=probe, attempt_delay_ms=20, connect_timeout_ms=2000)
    start, end, ticker = run_while_ticking(client.connect)
    assert most == 3
    assert end - start < 0.6
    assert len(ticker.between(start + 0.05, end - 0.05)) >= 10
