"""Connecting against loopback servers: http, tcp and callback probes, failover, self, retry, state."""

from __future__ import annotations

import errno
import json
import logging
import shutil
import socket
import threading
import time
from pathlib import Path
from typing import Callable

import pytest
from conftest import Recorder, ScoutServer

import scoutlb
from scoutlb import Client, Server


def test_connect_http_fetches_the_list(scout_server: ScoutServer, recorder: Recorder) -> None:
    other = {"host": "10.255.255.1", "port": 1, "id": "other"}
    scout_server.listing = [{"host": "127.0.0.1", "port": scout_server.port, "id": "self"}, other]
    client = Client(servers=[scout_server.address], events=recorder)
    connected = client.connect()
    assert connected.server == scout_server.server
    assert connected.reached == scout_server.server
    assert connected.via_balancer is False
    assert connected.failed == []
    assert client.default_server == scout_server.server
    assert client.server_list == [scout_server.server, Server("10.255.255.1", 1)]
    assert recorder.kinds() == ["attempt_started", "attempt_succeeded", "default_changed", "server_list_updated"]
    updated = recorder.events[-1]
    assert updated.servers == client.server_list and updated.severity == "debug" and updated.level == 10
    assert recorder.events[1].server == scout_server.server and recorder.events[1].severity == "info"
    assert "Connected(server=" in repr(connected)


def test_failover_past_refused_and_silent(
    scout_server: ScoutServer, refused_address: str, silent_address: str, recorder: Recorder
) -> None:
    client = Client(
        servers=[refused_address, silent_address, scout_server.address],
        connect_timeout_ms=300,
        attempt_delay_ms=0,
        events=recorder,
    )
    connected = client.connect()
    assert connected.server == scout_server.server
    assert [(str(a.server), a.kind) for a in connected.failed] == [
        (refused_address, "refused"),
        (silent_address, "timed_out"),
    ]
    assert "connection refused" in connected.failed[0].message
    failed = [e for e in recorder.events if e.kind == "attempt_failed"]
    assert [e.reason for e in failed] == ["refused", "timed_out"]
    assert all(e.severity == "warning" and e.level == logging.WARNING for e in failed)


def test_staggered_attempt_wins_while_first_is_silent(silent_address: str, scout_server: ScoutServer) -> None:
    client = Client(servers=[silent_address, scout_server.address], connect_timeout_ms=3000, attempt_delay_ms=50)
    start = time.monotonic()
    connected = client.connect()
    assert connected.server == scout_server.server
    assert time.monotonic() - start < 2.0


def test_self_names_the_real_server(scout_server: ScoutServer) -> None:
    scout_server.listing = [{"host": "localhost", "port": scout_server.port, "id": "real"}]
    scout_server.self_id = "real"
    connected = Client(servers=[scout_server.address]).connect()
    assert connected.server == Server("localhost", scout_server.port)
    assert connected.reached == scout_server.server


def test_all_fail_names_every_attempt(refused_address: str, silent_address: str) -> None:
    client = Client(servers=[refused_address, silent_address], connect_timeout_ms=200, attempt_delay_ms=0)
    with pytest.raises(scoutlb.AllServersFailedError) as info:
        client.connect()
    attempts = info.value.attempts
    assert isinstance(attempts, list)
    assert [a.server for a in attempts] == [Server.parse(refused_address), Server.parse(silent_address)]
    assert [a.kind for a in attempts] == ["refused", "timed_out"]
    assert "2 tried" in str(info.value) and refused_address in str(info.value)
    assert str(attempts[0]) == f"{refused_address}: connection refused"
    assert "Attempt(server=" in repr(attempts[0])
    assert attempts[0] == attempts[0] and attempts[0] != attempts[1]
    assert client.default_server is None


def test_bad_answers_are_failed_attempts(make_scout_server: Callable[[], ScoutServer]) -> None:
    status, garbage, empty = make_scout_server(), make_scout_server(), make_scout_server()
    status.status = 500
    garbage.raw = b"<html>not json</html>"
    empty.raw = b'{"servers": []}'
    client = Client(servers=[status.address, garbage.address, empty.address], attempt_delay_ms=0)
    with pytest.raises(scoutlb.AllServersFailedError) as info:
        client.connect()
    assert [a.kind for a in info.value.attempts] == ["http_status", "invalid_list", "invalid_list"]
    assert "500" in info.value.attempts[0].message


def test_reconnect_moves_to_the_next_server(make_scout_server: Callable[[], ScoutServer]) -> None:
    a, b = make_scout_server(), make_scout_server()
    listing = [{"host": "127.0.0.1", "port": s.port} for s in (a, b)]
    a.listing = b.listing = listing
    a.self_id = b.self_id = None
    client = Client(servers=[a.address], attempt_delay_ms=0)
    assert client.connect().server == a.server
    assert client.server_list == [a.server, b.server]
    a.stop()
    assert client.connection_lost() == [a.server, b.server]
    connected = client.reconnect()
    assert connected.server == b.server
    assert [x.kind for x in connected.failed] == ["refused"]
    assert client.default_server == b.server


def test_tcp_probe(silent_address: str, refused_address: str) -> None:
    client = Client(servers=[refused_address, silent_address], probe="tcp", attempt_delay_ms=0)
    connected = client.connect()
    assert connected.server == Server.parse(silent_address)
    assert client.server_list == []


def test_callback_probe(scout_server: ScoutServer) -> None:
    seen: list[tuple[Server, float, str]] = []
    good = Server("127.0.0.1", 2)

    def probe(server: Server, timeout: float) -> bool:
        seen.append((server, timeout, threading.current_thread().name))
        if server.port == 1:
            raise ConnectionError("nobody home")
        if server.port == 3:
            return 1  # type: ignore[return-value]
        return server == good

    client = Client(
        servers=["127.0.0.1:1", "127.0.0.1:3", "127.0.0.1:4", "127.0.0.1:2"],
        probe=probe,
        connect_timeout_ms=1500,
        attempt_delay_ms=0,
    )
    connected = client.connect()
    assert connected.server == good
    assert [(a.kind, a.message) for a in connected.failed] == [
        ("io", "ConnectionError: nobody home"),  # an OSError: behaviour.md, "Probes"
        ("callback", "probe callback said no: the probe callback returned int, not a bool"),
        ("callback", "probe callback said no: the probe callback returned False"),
    ]
    assert [s.port for s, _, _ in seen] == [1, 3, 4, 2]
    assert all(t == pytest.approx(1.5) for _, t, _ in seen)
    assert all(name != threading.current_thread().name for _, _, name in seen)


def test_socket_errors_of_a_probe_are_their_kind() -> None:
    # A probe that lets its socket's errors through fails like the built-in probes would.
    def probe(server: Server, timeout: float) -> bool:
        if server.port == 1:
            raise ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused")
        if server.port == 2:
            raise TimeoutError("timed out")
        if server.port == 3:
            raise socket.timeout("timed out (socket.timeout)")
        if server.port == 4:
            raise OSError(errno.EHOSTUNREACH, "No route to host")
        if server.port == 5:
            raise OSError("no errno")
        return server.port == 6

    client = Client(servers=[f"127.0.0.1:{p}" for p in range(1, 7)], probe=probe, attempt_delay_ms=0)
    connected = client.connect()
    assert connected.server.port == 6
    assert [a.kind for a in connected.failed] == ["refused", "timed_out", "timed_out", "io", "io"]
    assert connected.failed[0].message == "connection refused"
    assert connected.failed[1].message.startswith("timed out after ")
    assert connected.failed[3].message == "OSError: [Errno 113] No route to host"
    assert connected.failed[4].message == "OSError: no errno"


def test_log_records_name_the_library_not_the_caller(
    scout_server: ScoutServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="scoutlb")
    Client(servers=[scout_server.address]).connect()
    records = [r for r in caplog.records if r.name == "scoutlb"]
    assert records
    for r in records:
        # The Rust source that logged it: file, line and module, as a C library's logs would name theirs.
        assert r.pathname.endswith(".rs") and r.lineno > 0, (r.pathname, r.lineno)
        assert r.funcName.startswith("scoutlb::"), r.funcName
        assert r.pathname != __file__ and r.funcName != "test_log_records_name_the_library_not_the_caller"


def test_callback_probe_from_json() -> None:
    calls: list[Server] = []

    def probe(server: Server, timeout: float) -> bool:
        calls.append(server)
        return True

    client = Client.from_json('{"servers": ["a:1"], "probe": "callback"}', probe=probe)
    assert client.connect().server == Server("a", 1)
    assert calls == [Server("a", 1)]


def test_connect_with_retry_gives_up_after_max_tries(
    refused_address: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="scoutlb")
    client = Client(servers=[refused_address], retry={"base_ms": 10, "cap_ms": 20, "max_tries": 3})
    with pytest.raises(scoutlb.AllServersFailedError):
        client.connect_with_retry()
    retries = [r for r in caplog.records if "retrying in" in r.getMessage()]
    assert [r.levelno for r in retries] == [logging.INFO, logging.INFO]
    assert "try 1" in retries[0].getMessage() and "try 2" in retries[1].getMessage()


def test_connect_with_retry_succeeds_on_a_later_try() -> None:
    calls: list[int] = []

    def probe(server: Server, timeout: float) -> bool:
        calls.append(1)
        return len(calls) >= 3

    client = Client(servers=["a:1"], probe=probe, retry={"base_ms": 1, "cap_ms": 5})
    assert client.connect_with_retry().server == Server("a", 1)
    assert len(calls) == 3


def test_connect_with_retry_stops_on_other_errors() -> None:
    with pytest.raises(scoutlb.UnsupportedError):
        Client(servers=["a:1"], probe="none").connect_with_retry()


def test_default_server_survives_a_restart(
    tmp_path: Path, scout_server: ScoutServer, refused_address: str
) -> None:
    state = tmp_path / "state.json"
    first = Client(servers=[refused_address, scout_server.address], state_file=state, attempt_delay_ms=0)
    assert first.connect().server == scout_server.server
    doc = json.loads(state.read_text())
    assert doc["format"] == 1
    assert doc["default_server"] == {"host": "127.0.0.1", "port": scout_server.port}
    del first
    second = Client(servers=[refused_address, scout_server.address], state_file=state)
    assert second.default_server == scout_server.server
    assert second.server_list == [scout_server.server]
    assert second.candidates()[0] == scout_server.server


def test_a_dropped_state_file_is_named_in_the_result(tmp_path: Path, scout_server: ScoutServer) -> None:
    state = tmp_path / "state.json"
    state.write_text("not json")
    connected = Client(servers=[scout_server.address], state_file=state).connect()
    assert connected.state_dropped is not None and "moved aside" in connected.state_dropped
    again = Client(servers=[scout_server.address], state_file=state).connect()
    assert again.state_dropped is None


def test_a_failed_save_is_reported(tmp_path: Path, scout_server: ScoutServer, recorder: Recorder) -> None:
    folder = tmp_path / "state"
    folder.mkdir()
    client = Client(servers=[scout_server.address], state_file=folder / "state.json", events=recorder)
    shutil.rmtree(folder)  # the folder goes away after the client was created: the save fails
    connected = client.connect()
    assert connected.server == scout_server.server
    assert connected.saved is False
    assert connected.save_error is not None and "state.json" in connected.save_error
    assert "state_file_problem" in recorder.kinds()
    assert "saved=False" in repr(connected)
    folder.mkdir()
    again = client.reconnect()  # nothing changed, but what was lost is saved now
    assert again.saved is True and again.save_error is None
    assert json.loads((folder / "state.json").read_text())["default_server"]["port"] == scout_server.port


def test_logging_bridge(scout_server: ScoutServer, refused_address: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="scoutlb")
    Client(servers=[refused_address, scout_server.address], attempt_delay_ms=0).connect()
    records = [(r.name, r.levelno, r.getMessage()) for r in caplog.records]
    assert ("scoutlb", logging.DEBUG, f"trying {refused_address}") in records
    assert ("scoutlb", logging.WARNING, f"{refused_address} failed: connection refused") in records
    assert ("scoutlb", logging.INFO, f"connected to {scout_server.address}") in records
    assert ("scoutlb", logging.INFO, f"default server is now {scout_server.address}") in records


def test_logging_respects_levels(scout_server: ScoutServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="scoutlb")
    Client(servers=[scout_server.address]).connect()
    assert [r for r in caplog.records if r.name == "scoutlb"] == []


def test_events_callback_errors_are_logged_not_raised(
    scout_server: ScoutServer, caplog: pytest.LogCaptureFixture
) -> None:
    def events(event: scoutlb.Event) -> None:
        raise RuntimeError(f"bad handler for {event.kind}")

    caplog.set_level(logging.ERROR, logger="scoutlb")
    assert Client(servers=[scout_server.address], events=events).connect().server == scout_server.server
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert errors and "the events callback raised RuntimeError: bad handler for attempt_started" in errors[0].getMessage()
    assert errors[0].exc_info is not None


def test_events_callback_must_not_reenter_its_client(
    scout_server: ScoutServer, caplog: pytest.LogCaptureFixture
) -> None:
    other = Client(servers=["x:1"], probe="none")
    seen: list[object] = []

    def events(event: scoutlb.Event) -> None:
        seen.append(other.candidates())  # another client is fine
        seen.append(client.server_list)  # its own client is refused

    caplog.set_level(logging.ERROR, logger="scoutlb")
    client = Client(servers=[scout_server.address], events=events)
    client.connect()
    assert seen[0] == [Server("x", 1)]
    assert any("must not call back into its own client" in r.getMessage() for r in caplog.records)
    assert client.server_list == [scout_server.server]
