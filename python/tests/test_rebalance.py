"""The opt-in rebalance from Python (behaviour.md, "Rebalance"): the plan a connect makes when a
list shows a lighter server, and `Client.rebalance()` carrying it out or reporting why not."""

from __future__ import annotations

import asyncio
import json

import pytest

import scoutlb
from scoutlb import Server
from scoutlb.aio import AsyncClient

# b is far lighter (load 0, weight 10^6): a device of a moves with probability 1 - 10^-6, within
# 10 ms at 1000 moves per second.
LOPSIDED = json.dumps(
    {
        "servers": [
            {"host": "a.example", "port": 1, "id": "a", "load": 10},
            {"host": "b.example", "port": 1, "id": "b", "load": 0, "weight": 1000000},
        ],
        "self": "a",
    }
)
B_ALONE = json.dumps({"servers": [{"host": "b.example", "port": 1}]})


def client(b_answers: bool, events: list[str]) -> scoutlb.Client:
    def probe(server: Server, timeout: float, attempt: scoutlb.ProbeAttempt) -> bool:
        if server.host == "a.example":
            attempt.server_list(LOPSIDED)
            return True
        if not b_answers:
            raise ConnectionRefusedError("b is down")
        attempt.server_list(B_ALONE)
        return True

    return scoutlb.Client(
        servers=["a.example:1"],
        probe=probe,
        rebalance={"enabled": True, "window_ms": 0, "rate": 1000},
        events=lambda e: events.append(e.kind),
    )


def test_a_connect_plans_the_move_and_rebalance_makes_it() -> None:
    events: list[str] = []
    c = client(True, events)
    assert c.rebalance() is None  # nothing planned yet
    connected = c.connect()
    plan = connected.rebalance
    assert plan is not None
    assert (plan.from_server, plan.to_server) == (Server("a.example", 1), Server("b.example", 1))
    assert 0 <= plan.after <= plan.window <= 0.014
    assert repr(plan).startswith("RebalancePlan(from_server=a.example:1, to_server=b.example:1")
    assert c.rebalance_plan is not None and c.rebalance_plan.to_server == plan.to_server
    moved = c.rebalance()
    assert moved is not None and moved.server == Server("b.example", 1)
    assert c.default_server == Server("b.example", 1)
    assert c.rebalance_plan is None
    assert "rebalance_planned" in events and "rebalanced" in events


def test_a_failed_move_changes_nothing_and_is_reported() -> None:
    events: list[str] = []
    c = client(False, events)
    c.connect()
    with pytest.raises(scoutlb.AllServersFailedError):
        c.rebalance()
    assert c.default_server == Server("a.example", 1)
    assert "rebalance_failed" in events
    assert c.rebalance_plan is None  # spent either way


def test_without_the_key_nothing_is_planned() -> None:
    events: list[str] = []

    def probe(server: Server, timeout: float, attempt: scoutlb.ProbeAttempt) -> bool:
        attempt.server_list(LOPSIDED)
        return True

    c = scoutlb.Client(servers=["a.example:1"], probe=probe, events=lambda e: events.append(e.kind))
    assert c.connect().rebalance is None
    assert "rebalance_planned" not in events


def test_the_asyncio_client_makes_the_planned_move() -> None:
    events: list[str] = []
    c = client(True, events)

    async def main() -> tuple[object, scoutlb.Connected | None, object]:
        aio = AsyncClient(c)
        nothing = await aio.rebalance()  # nothing planned yet
        await aio.connect()
        moved = await aio.rebalance()
        return nothing, moved, await aio.rebalance()

    nothing, moved, spent = asyncio.run(main())
    assert nothing is None and spent is None
    assert moved is not None and moved.server == Server("b.example", 1)
    assert c.default_server == Server("b.example", 1)
    assert "rebalanced" in events


def test_a_device_of_a_server_marked_draining_moves_away_and_never_to_one() -> None:
    # Loads even, so only the marks decide: a drains (keeping its devices), c drains too.
    marked = json.dumps(
        {
            "servers": [
                {"host": "a.example", "port": 1, "load": 5, "draining": True},
                {"host": "b.example", "port": 1, "load": 5},
                {"host": "c.example", "port": 1, "load": 0, "draining": True},
            ]
        }
    )

    def probe(server: Server, timeout: float, attempt: scoutlb.ProbeAttempt) -> bool:
        attempt.server_list(marked if server.host == "a.example" else B_ALONE)
        return True

    c = scoutlb.Client(
        servers=["a.example:1"],
        probe=probe,
        rebalance={"enabled": True, "window_ms": 0, "rate": 1000},
    )
    plan = c.connect().rebalance
    assert plan is not None and plan.to_server == Server("b.example", 1)
    moved = c.rebalance()
    assert moved is not None and moved.server == Server("b.example", 1)
    # A mark that is not a boolean refuses the list, as any malformed field.
    with pytest.raises(scoutlb.ServerListError, match="`draining` is not true or false"):
        c.update_server_list('{"servers": [{"host": "a", "port": 1, "draining": "yes"}]}')
