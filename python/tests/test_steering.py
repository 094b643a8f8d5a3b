"""behaviour.md, "Servers that steer devices": the device id header, drain and refusal."""

import json
import pickle
import pathlib
import time
from collections.abc import Callable

import pytest

import scoutlb
from conftest import ScoutServer


def test_the_device_id_goes_with_every_request(scout_server: ScoutServer) -> None:
    scoutlb.Client(servers=[scout_server.address], device_id="dev-3").connect()
    scoutlb.Client(servers=[scout_server.address]).connect()
    assert scout_server.device_ids == ["dev-3", None]
    assert scoutlb.DEVICE_ID_HEADER == "Scout-Device-Id"


def test_a_draining_default_stays_the_default(make_scout_server: Callable[[], ScoutServer]) -> None:
    a, b = make_scout_server(), make_scout_server()
    client = scoutlb.Client(servers=[a.address, b.address], attempt_delay_ms=0)
    assert client.connect().server == a.server
    a.status, a.headers = 503, {"Retry-After": "1"}
    connected = client.reconnect()
    assert connected.server == b.server
    assert [(x.server, x.kind) for x in connected.failed] == [(a.server, "draining")]
    assert client.default_server == a.server
    hits = a.hits
    assert client.reconnect().server == b.server
    assert a.hits == hits, "a draining server is tried last until its Retry-After"
    a.status, a.headers = 200, {}
    time.sleep(1.1)
    assert client.reconnect().server == a.server


def test_a_refused_device_raises_with_who_and_why(make_scout_server: Callable[[], ScoutServer]) -> None:
    a, b = make_scout_server(), make_scout_server()
    a.status, a.raw = 403, json.dumps({"refused": "device dev-4 is not known"}).encode()
    kinds: list[str] = []
    client = scoutlb.Client(
        servers=[a.address, b.address], device_id="dev-4", events=lambda e: kinds.append(e.kind)
    )
    with pytest.raises(scoutlb.DeviceRefusedError) as info:
        client.connect()
    assert (info.value.server, info.value.reason) == (a.server, "device dev-4 is not known")
    assert isinstance(info.value, scoutlb.Error)
    assert b.hits == 0 and "device_refused" in kinds
    assert client.default_server is None
    copy = pickle.loads(pickle.dumps(info.value))
    assert (copy.server, copy.reason) == (a.server, "device dev-4 is not known")
    # A 403 without the refusal body is an ordinary failed attempt.
    a.raw = b"forbidden"
    assert client.connect().server == b.server


def test_a_relocation_moves_the_device_at_its_next_start_up(
    make_scout_server: Callable[[], ScoutServer], tmp_path: pathlib.Path
) -> None:
    a, b = make_scout_server(), make_scout_server()
    listing = [{"host": "127.0.0.1", "port": a.port, "id": "a"}, {"host": "127.0.0.1", "port": b.port, "id": "b"}]
    a.raw = json.dumps({"servers": listing, "self": "a", "relocate": {"to": "b"}}).encode()
    kinds: list[str] = []
    state = tmp_path / "state.json"
    first = scoutlb.Client(servers=[a.address], state_file=state, events=lambda e: kinds.append(e.kind))
    assert first.connect().server == a.server
    assert "relocation_pending" in kinds
    first.close()
    again = scoutlb.Client(servers=[a.address], state_file=state, events=lambda e: kinds.append(e.kind))
    assert again.connect().server == b.server
    assert again.default_server == b.server and kinds[-1] != "relocation_failed"
    assert "relocated" in kinds


def _own_protocol(answer: Callable[[], None]) -> tuple[scoutlb.Client, list[str]]:
    """A client whose probe callable calls `answer` for a.example (b.example answers) and logs the hosts."""
    asked: list[str] = []

    def probe(server: scoutlb.Server, timeout: float) -> bool:
        asked.append(server.host)
        if server.host == "a.example":
            answer()
        return True

    return scoutlb.Client(servers=["a.example:1", "b.example:1"], probe=probe, attempt_delay_ms=0), asked


def test_a_probe_that_raises_draining_keeps_the_default_and_uses_the_next() -> None:
    draining = False

    def answer() -> None:
        if draining:
            raise scoutlb.ServerDrainingError(60)

    client, asked = _own_protocol(answer)
    assert client.connect().server.host == "a.example"
    draining = True
    connected = client.reconnect()
    assert connected.server.host == "b.example"
    assert [(x.server.host, x.kind) for x in connected.failed] == [("a.example", "draining")]
    assert client.default_server is not None and client.default_server.host == "a.example"
    asked.clear()
    assert client.reconnect().server.host == "b.example"
    assert asked == ["b.example"], "the draining default comes last until its Retry-After"
    assert str(scoutlb.ServerDrainingError()) == "the server drains"


def test_a_probe_that_raises_refusal_ends_the_call_without_failover() -> None:
    def answer() -> None:
        raise scoutlb.ServerRefusesDeviceError("dev-6 is not known")

    client, asked = _own_protocol(answer)
    with pytest.raises(scoutlb.DeviceRefusedError) as info:
        client.connect()
    assert (info.value.server.host, info.value.reason) == ("a.example", "dev-6 is not known")
    assert asked == ["a.example"] and client.default_server is None
