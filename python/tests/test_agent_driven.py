"""The agent-driven calls: candidates, reports, connection lost and lists handed in; the failover vectors."""

from __future__ import annotations

import collections
import json
import threading
import types
from typing import Any

import pytest
from conftest import REPO_ROOT, Recorder

import scoutlb
from scoutlb import Client, Server

VECTORS = json.loads((REPO_ROOT / "tests" / "vectors" / "failover_order.json").read_text())["cases"]
FIRST_CONTACT = Server("ScoutSrv")


def agent_driven_client(case: dict[str, Any]) -> Client:
    """A client of a failover-order case: its seeds configured, its list handed in, its default reported."""
    client = Client(servers=case["seeds"], probe="none")
    if case["list"] is not None:
        client.update_server_list(case["list"])
    if case["default"] is not None:
        client.report_success(case["default"])
    return client


@pytest.mark.parametrize("case", VECTORS, ids=[c["name"] for c in VECTORS])
def test_failover_vector(case: dict[str, Any]) -> None:
    """Seeds in the configuration, the list handed in, the default reported: candidates() must match."""
    expected = [Server.parse(s) for s in case["expected"]]
    client = agent_driven_client(case)
    # With no seed configured the client's one seed is ScoutSrv (behaviour.md, "Words"), tried last.
    through_client = expected + ([FIRST_CONTACT] if not case["seeds"] and FIRST_CONTACT not in expected else [])
    assert client.candidates() == through_client
    assert client.connection_lost() == through_client
    assert client.failover_order() == through_client
    # The pure function takes the seeds as given.
    assert scoutlb.failover_order(case["list"], case["seeds"], case["default"]) == expected


def test_vectors_are_present() -> None:
    assert len(VECTORS) >= 10
    assert len(SEED_REACH) >= 10


SEED_REACH = json.loads((REPO_ROOT / "tests" / "vectors" / "seed_reach.json").read_text())["cases"]


@pytest.mark.parametrize("case", SEED_REACH, ids=[c["name"] for c in SEED_REACH])
def test_seed_reach_vector(case: dict[str, Any]) -> None:
    """However long the list, the seeds come after at most 8 others (behaviour.md, "Failover order")."""
    expected = [Server.parse(s) for s in case["expected"]]
    client = agent_driven_client(case)
    assert client.candidates() == expected
    assert client.connection_lost() == expected
    seeds = case["seeds"] or ["ScoutSrv"]
    assert scoutlb.failover_order(case["list"], seeds, case["default"]) == expected


def test_spread_order_is_a_permutation() -> None:
    servers = [f"s{i}:1" for i in range(8)]
    spread = scoutlb.failover_order(servers, [], "s3:1", device_id="device-42")
    assert spread[0] == Server("s3", 1)
    assert sorted(spread) == sorted(Server.parse(s) for s in servers)
    assert spread == scoutlb.failover_order(servers, [], "s3:1", device_id="device-42")
    client = Client(servers=servers, probe="none", failover_order="spread", device_id="device-42")
    client.report_success("s3:1")
    assert client.candidates() == spread


def test_report_success_and_failure(recorder: Recorder) -> None:
    client = Client(servers=["a:1", "b:2"], probe="none", events=recorder)
    client.report_failure("a:1", "handshake refused")
    client.report_success(Server("b", 2))
    client.report_success("b:2")  # unchanged: no second default_changed
    assert client.default_server == Server("b", 2)
    assert client.candidates() == [Server("b", 2), Server("a", 1)]
    assert recorder.kinds() == ["attempt_failed", "attempt_succeeded", "default_changed", "attempt_succeeded"]
    failed = recorder.events[0]
    assert failed.reason == "reported" and failed.server == Server("a", 1)
    assert failed.message == "a:1 failed: reported by the agent: handshake refused"
    assert "Event(kind=" in repr(failed) and str(failed) == failed.message
    with pytest.raises(scoutlb.InvalidServerError):
        client.report_success("a:0")
    with pytest.raises(TypeError):
        client.report_success(5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        client.report_failure("a:1", None)  # type: ignore[arg-type]


def test_connect_needs_a_probe() -> None:
    client = Client(servers=["a:1"], probe="none")
    for call in (client.connect, client.reconnect):
        with pytest.raises(scoutlb.UnsupportedError):
            call()


def test_update_server_list_forms(recorder: Recorder) -> None:
    client = Client(servers=["seed:1"], probe="none", events=recorder)
    client.update_server_list('{"servers": [{"host": "a", "port": 1, "id": "x"}], "generation": 3, "extra": 1}')
    assert client.server_list == [Server("a", 1)]
    client.update_server_list(b'{"servers": [{"host": "b", "port": 2}]}')
    assert client.server_list == [Server("b", 2)]
    client.update_server_list({"servers": [{"host": "c", "port": 3}, {"host": "C", "port": 3}]})
    assert client.server_list == [Server("c", 3)]
    client.update_server_list(["d:4", Server("e", 5), "[fd00::1]:6", "f"])
    assert client.server_list == [Server("d", 4), Server("e", 5), Server("fd00::1", 6), Server("f", 22123)]
    client.update_server_list(types.MappingProxyType({"servers": [{"host": "m", "port": 1}]}))
    assert client.server_list == [Server("m", 1)]
    client.update_server_list(collections.UserList(["u:1"]))
    assert client.server_list == [Server("u", 1)]
    client.update_server_list(("g:7",), from_server="d:4")
    assert client.server_list == [Server("g", 7)]
    updates = [e for e in recorder.events if e.kind == "server_list_updated"]
    assert [e.servers for e in updates][-1] == [Server("g", 7)]
    assert updates[-1].server == Server("d", 4)


def test_self_in_a_handed_in_list_moves_the_default() -> None:
    client = Client(servers=["lb:1"], probe="none")
    client.report_success("lb:1")
    client.update_server_list({"servers": [{"host": "real", "port": 1, "id": "r"}], "self": "r"})
    assert client.default_server == Server("real", 1)


BAD_LISTS: list[Any] = [
    "not json",
    "",
    "[]",
    '{"servers": []}',
    '{"servers": 5}',
    '{"servers": [{"host": "a"}]}',
    '{"servers": [{"host": "a", "port": 0}]}',
    '{"servers": [{"host": "a", "port": 65536}]}',
    '{"servers": [{"host": "a b", "port": 1}]}',
    '{"servers": [{"host": "' + "a" * 254 + '", "port": 1}]}',
    '{"servers": [{"host": "a", "port": 1}], "self": 5}',
    b"\xff\xfe\x00",
    b'{"servers": [{"host": "\xff", "port": 1}]}',
    '{"servers": [' + ",".join('{"host": "h%d", "port": 1}' % i for i in range(4097)) + "]}",
    '{"servers": [{"host": "a", "port": 1}], "pad": "' + "x" * (1 << 20) + '"}',
    {"servers": [{"host": "a", "port": float("nan")}]},
    {"servers": [{"host": "a", "port": object()}]},
    [],
    ["a:0"],
    [5],
    ["a\udcff"],
    [f"h{i}:1" for i in range(4097)],
    "\udcff",
]


@pytest.mark.parametrize("bad", BAD_LISTS, ids=range(len(BAD_LISTS)))
def test_bad_lists_keep_the_cached_one(bad: Any) -> None:
    client = Client(servers=["seed:1"], probe="none")
    client.update_server_list(["kept:1"])
    with pytest.raises(scoutlb.ServerListError):
        client.update_server_list(bad)
    assert client.server_list == [Server("kept", 1)]


def test_bad_json_list_is_reported_as_an_event(recorder: Recorder) -> None:
    client = Client(servers=["seed:1"], probe="none", events=recorder)
    with pytest.raises(scoutlb.ServerListError, match="more than the limit of 4096"):
        client.update_server_list([f"h{i}:1" for i in range(scoutlb.MAX_ENTRIES + 1)])
    assert recorder.kinds() == ["server_list_rejected"]
    assert recorder.events[0].severity == "warning"


def test_wrong_argument_types() -> None:
    client = Client(servers=["seed:1"], probe="none")
    with pytest.raises(TypeError):
        client.update_server_list(5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        client.update_server_list(["a:1"], from_server=5)  # type: ignore[arg-type]
    with pytest.raises(scoutlb.InvalidServerError):
        client.update_server_list(["a:1"], from_server="a:0")


def test_concurrent_agent_calls() -> None:
    client = Client(servers=[f"s{i}:1" for i in range(5)], probe="none")
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(200):
                client.report_success(f"s{(n + i) % 5}:1")
                assert len(client.candidates()) == 5
                client.update_server_list([f"s{j}:1" for j in range(5)])
                client.report_failure("s0:1", "busy")
        except BaseException as e:  # noqa: BLE001 - handed to the main thread
            errors.append(e)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert client.default_server in client.seeds
