"""ManagerLoadBalancer from Python, Ctrl-C during connect_with_retry (also when it lands in logging or a
callback), and garbage collection of callbacks."""

from __future__ import annotations

import _thread
import gc
import logging
import socket
import threading
import time
import weakref
from collections.abc import Iterator

import pytest
from conftest import Recorder, ScoutServer

import scoutlb
from scoutlb import Client, Server


@pytest.fixture
def dead_nameserver() -> Iterator[str]:
    """A loopback UDP port that receives DNS queries and never answers (closed at the end)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        yield f"127.0.0.1:{s.getsockname()[1]}"


def test_balancer_address_is_tried_first(scout_server: ScoutServer, refused_address: str, recorder: Recorder) -> None:
    client = Client(servers=[refused_address], manager_load_balancer=scout_server.address, events=recorder)
    assert client.candidates() == [scout_server.server, Server.parse(refused_address)]
    connected = client.connect()
    assert connected.via_balancer is True
    assert connected.reached == scout_server.server
    assert recorder.kinds()[0] == "balancer_resolved"
    assert recorder.events[0].servers == [scout_server.server]


def test_unresolvable_balancer_falls_back_to_the_failover_order(
    scout_server: ScoutServer, dead_nameserver: str, recorder: Recorder
) -> None:
    client = Client(
        servers=[scout_server.address],
        manager_load_balancer="lb.scoutlb-test.invalid",
        nameservers=[dead_nameserver],
        search_domains=["scoutlb-test.invalid"],
        dns_timeout_ms=300,
        events=recorder,
    )
    connected = client.connect()
    assert connected.server == scout_server.server and connected.via_balancer is False
    failed = [e for e in recorder.events if e.kind == "balancer_failed"]
    assert len(failed) == 1 and failed[0].severity == "warning"
    assert "lb.scoutlb-test.invalid" in failed[0].message


def test_ctrl_c_interrupts_connect_with_retry(refused_address: str) -> None:
    # Bounded: 200 tries of at most 50 ms each end the call within seconds even if Ctrl-C were ignored.
    client = Client(servers=[refused_address], retry={"base_ms": 50, "cap_ms": 50, "max_tries": 200})
    timer = threading.Timer(0.3, _thread.interrupt_main)
    start = time.monotonic()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            client.connect_with_retry()
    finally:
        timer.cancel()
    assert time.monotonic() - start < 2.0


class _InterruptOnce(logging.Handler):
    """Raises KeyboardInterrupt on its first record, as a Ctrl-C landing inside logging does."""

    def __init__(self) -> None:
        super().__init__()
        self.raised = False

    def emit(self, record: logging.LogRecord) -> None:
        if not self.raised:
            self.raised = True
            raise KeyboardInterrupt


def test_ctrl_c_that_lands_in_logging_is_not_lost(refused_address: str) -> None:
    # Bounded like the test above: 200 tries of at most 50 ms if the interrupt were lost.
    client = Client(servers=[refused_address], retry={"base_ms": 50, "cap_ms": 50, "max_tries": 200})
    handler = _InterruptOnce()
    logger = logging.getLogger("scoutlb")
    logger.addHandler(handler)
    start = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt):
            client.connect_with_retry()
    finally:
        logger.removeHandler(handler)
    assert handler.raised
    assert time.monotonic() - start < 2.0


def test_ctrl_c_that_lands_in_the_events_callback_is_not_lost(refused_address: str) -> None:
    seen: list[scoutlb.Event] = []

    def on_event(event: scoutlb.Event) -> None:
        seen.append(event)
        if len(seen) == 1:
            raise KeyboardInterrupt

    client = Client(
        servers=[refused_address], retry={"base_ms": 50, "cap_ms": 50, "max_tries": 200}, events=on_event
    )
    start = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        client.connect_with_retry()
    assert seen
    assert time.monotonic() - start < 2.0


class Agent:
    """An agent object whose bound methods are its client's callbacks: a reference cycle."""

    def __init__(self) -> None:
        self.client = Client(servers=["a:1"], probe=self.probe, events=self.on_event)

    def probe(self, server: Server, timeout: float) -> bool:
        return True

    def on_event(self, event: scoutlb.Event) -> None:
        pass


def test_callback_cycles_are_collected() -> None:
    agent = Agent()
    assert agent.client.connect().server == Server("a", 1)
    gone = weakref.ref(agent)
    del agent
    for _ in range(3):
        gc.collect()
        if gone() is None:
            break
        time.sleep(0.05)  # an attempt thread may still hold the probe for a moment
    assert gone() is None, "a client and its callbacks in a cycle must be garbage-collected"
