"""Signed server lists (behaviour.md, "Signed lists"): the vectors of tests/vectors/signed_list.json
handed in with `update_server_list`, and loopback servers that lie beside an honest one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO_ROOT, ScoutServer

import scoutlb
from scoutlb import Client

DOC: dict[str, Any] = json.loads((REPO_ROOT / "tests" / "vectors" / "signed_list.json").read_text())
CASES: list[dict[str, Any]] = DOC["cases"]
BODIES: dict[str, str] = DOC["lying_servers"]
KEY_A: str = DOC["keys"]["A"]
SAVED: dict[str, Any] = DOC["lying_servers"]["saved"]


def summary(path: Path) -> dict[str, Any]:
    doc = json.loads(path.read_text())
    return {
        "servers": [f"{s['host']}:{s['port']}" for s in doc["servers"]],
        "list_version": doc.get("list_version"),
        "adopted_keys": doc.get("adopted_keys", []),
    }


def test_the_vectors_are_all_there() -> None:
    assert len(CASES) >= 15


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_signed_list_vector(case: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "scoutlb.json"
    if case["state"] is not None:
        path.write_text(json.dumps(case["state"]))
    client = Client(probe="none", list_keys=case["list_keys"], state_file=path)
    for i, step in enumerate(case["steps"]):
        expect = step["expect"]
        before = path.read_bytes() if path.exists() else None
        if expect["taken"]:
            client.update_server_list(step["body"])
            want = {k: v for k, v in expect.items() if k != "taken"}
            assert summary(path) == want, f"step {i}"
        else:
            with pytest.raises(scoutlb.ServerListError) as raised:
                client.update_server_list(step["body"])
            assert expect["error"] in str(raised.value), f"step {i}"
            assert (path.read_bytes() if path.exists() else None) == before, f"step {i}: the state file changed"
    client.close()


def lying(make_scout_server: Any, body: str) -> ScoutServer:
    server: ScoutServer = make_scout_server()
    server.raw = body.encode()
    return server


def test_liars_fail_their_attempts_and_leave_the_state_file_as_it_was(
    make_scout_server: Any, tmp_path: Path
) -> None:
    path = tmp_path / "scoutlb.json"
    path.write_text(json.dumps(SAVED))
    before = path.read_bytes()
    liars = [lying(make_scout_server, BODIES[k]) for k in ("rewritten", "rogue", "replayed")]
    client = Client(
        servers=[s.address for s in liars],
        list_keys=[KEY_A],
        state_file=path,
        attempt_delay_ms=0,
        answer_delay_ms=0,
    )
    with pytest.raises(scoutlb.AllServersFailedError) as raised:
        client.connect()
    kinds = [a.kind for a in raised.value.attempts]
    assert kinds == ["untrusted_list"] * 3
    messages = [a.message for a in raised.value.attempts]
    assert "does not verify" in messages[0] and "unknown key" in messages[1] and "older" in messages[2]
    assert path.read_bytes() == before


def test_an_honest_server_wins_after_a_liar_and_the_refusal_is_reported(
    make_scout_server: Any, tmp_path: Path, recorder: Any
) -> None:
    path = tmp_path / "scoutlb.json"
    liar = lying(make_scout_server, BODIES["rewritten"])
    honest = lying(make_scout_server, BODIES["honest"])
    client = Client(
        servers=[liar.address, honest.address],
        list_keys=[KEY_A],
        state_file=path,
        attempt_delay_ms=0,
        answer_delay_ms=0,
        events=recorder,
    )
    connected = client.connect()
    assert connected.server == honest.server
    assert connected.list_problem is not None and "does not verify" in connected.list_problem
    assert [a.kind for a in connected.failed] == ["untrusted_list"]
    assert "server_list_rejected" in recorder.kinds()
    assert summary(path) == {"servers": ["127.0.0.1:9"], "list_version": 17, "adopted_keys": []}
    assert client.reconnect().list_problem is None


def test_list_keys_takes_a_list_and_refuses_bad_keys() -> None:
    with pytest.raises(scoutlb.ConfigTypeError):
        Client(probe="none", list_keys=KEY_A)  # type: ignore[arg-type]
    with pytest.raises(scoutlb.ConfigError) as raised:
        Client(probe="none", list_keys=["c2hvcnQ="])
    assert raised.value.key == "list_keys" and "32 bytes" in str(raised.value)


def test_without_list_keys_a_plain_list_is_taken(scout_server: ScoutServer) -> None:
    client = Client(servers=[scout_server.address])
    assert client.connect().list_problem is None
