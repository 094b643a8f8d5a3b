"""The shared conformance cases of tests/vectors/: server addresses, server lists, configuration errors, state files and the retry schedule."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, cast

import pytest
from conftest import REPO_ROOT

import scoutlb
from scoutlb import Client, Server


def cases(name: str) -> list[dict[str, Any]]:
    doc = json.loads((REPO_ROOT / "tests" / "vectors" / name).read_text())
    found: list[dict[str, Any]] = doc["cases"]
    return found


ADDRESSES = cases("server_address.json")
LISTS = cases("server_list.json")
CONFIGS = cases("config_errors.json")
STATE_FILES = cases("state_file.json")
RETRY_SCHEDULES = [c for c in cases("retry_schedule.json") if "tries" in c]


def test_every_file_has_its_cases() -> None:
    assert len(ADDRESSES) >= 20 and len(LISTS) >= 20 and len(CONFIGS) >= 30 and len(STATE_FILES) >= 25
    assert len(RETRY_SCHEDULES) >= 12


@pytest.mark.parametrize("case", ADDRESSES, ids=[repr(c["input"])[:40] for c in ADDRESSES])
def test_server_address_vector(case: dict[str, Any]) -> None:
    port = case.get("default_port", scoutlb.DEFAULT_PORT)
    if "canonical" in case:
        server = Server.parse(case["input"], port)
        assert str(server) == case["canonical"]
        assert Server.parse(case["canonical"], 1) == server
    else:
        with pytest.raises(scoutlb.InvalidServerError) as raised:
            Server.parse(case["input"], port)
        assert case["error_contains"] in str(raised.value)


def list_body(case: dict[str, Any]) -> bytes:
    """The body of a server-list case: its `body`, or the one its `generate` describes."""
    if "body" in case:
        return str(case["body"]).encode()
    generate = case["generate"]
    if "entries" in generate:
        entries = ",".join(f'{{"host":"h{i}.test","port":1}}' for i in range(generate["entries"]))
        return f'{{"servers":[{entries}]}}'.encode()
    size: int = generate["bytes"]
    head = b'{"servers":[{"host":"a.test","port":1}],"pad":"'
    return head + b"x" * (size - len(head) - 2) + b'"}'


@pytest.mark.parametrize("case", LISTS, ids=[c["name"] for c in LISTS])
def test_server_list_vector(case: dict[str, Any]) -> None:
    client = Client(servers=["seed.test:1"], probe="none")
    body = list_body(case)
    if "error_contains" in case:
        with pytest.raises(scoutlb.ServerListError) as raised:
            client.update_server_list(body)
        assert case["error_contains"] in str(raised.value)
        assert client.server_list == []
    else:
        client.update_server_list(body)
        got = [str(s) for s in client.server_list]
        if "servers" in case:
            assert got == case["servers"]
        else:
            assert len(got) == case["servers_count"]


@pytest.mark.parametrize("case", CONFIGS, ids=[case.get("text", json.dumps(case.get("config")))[:50] for case in CONFIGS])
def test_config_error_vector(case: dict[str, Any]) -> None:
    text = case["text"] if "text" in case else json.dumps(case["config"])
    if "key" in case:
        with pytest.raises(scoutlb.ConfigError) as raised:
            Client.from_json(text)
        assert raised.value.key == case["key"]
        assert f"`{case['key']}`" in str(raised.value)
    elif "error_contains" in case:
        with pytest.raises(scoutlb.ConfigError) as raised:
            Client.from_json(text)
        assert case["error_contains"] in str(raised.value)
    else:
        Client.from_json(text)


STARTUP = cases("startup.json")
# The events a start-up vector pins (its `about` says why these).
PINNED_EVENTS = {
    "default_changed",
    "server_list_updated",
    "server_list_rejected",
    "state_file_problem",
    "balancer_resolved",
    "balancer_failed",
}


def state_summary(path: Path) -> dict[str, Any] | None:
    """The state file's `default_server` and `servers` as texts, or None when it is missing."""
    if not path.exists():
        return None
    doc = json.loads(path.read_text())

    def text(v: dict[str, Any]) -> str:
        return f"{v['host']}:{v['port']}"

    return {
        "default_server": None if doc["default_server"] is None else text(doc["default_server"]),
        "servers": None if doc["servers"] is None else [text(v) for v in doc["servers"]],
    }


@pytest.mark.parametrize("case", STARTUP, ids=[c["name"][:60] for c in STARTUP])
def test_startup_vector(case: dict[str, Any], tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    path = state_dir / "scoutlb.json"
    if case["state"] is not None:
        path.write_text(json.dumps(case["state"]))
    answers: dict[str, Any] = {}
    events: list[scoutlb.Event] = []

    def probe(server: Server, timeout: float, attempt: scoutlb.ProbeAttempt) -> bool:
        answer = answers.get(str(server))
        if answer == "ok":
            return True
        if isinstance(answer, dict):
            attempt.server_list(json.dumps(answer["list"]))
            return True
        raise RuntimeError(answer or "not in the answers")

    config = dict(case["config"], attempt_delay_ms=0, answer_delay_ms=0, state_file=str(path))
    client = Client.from_json(json.dumps(config | {"probe": "callback"}), probe=probe, events=events.append)
    for i, step in enumerate(case["steps"]):
        at = f"step {i} ({step['call']})"
        expect = step["expect"]
        answers.clear()
        answers.update(step.get("answers", {}))
        events.clear()
        connected: scoutlb.Connected | None = None
        error: scoutlb.Error | None = None
        try:
            call = step["call"]
            if call == "connect":
                connected = client.connect()
            elif call == "reconnect":
                connected = client.reconnect()
            elif call == "report_success":
                client.report_success(step["server"])
            elif call == "update_server_list":
                client.update_server_list(json.dumps(step["body"]).encode(), step["from"])
            elif call == "break_state_dir":
                state_dir.rename(tmp_path / "state.aside")
                state_dir.write_text("not a folder")
            elif call == "repair_state_dir":
                state_dir.unlink()
                (tmp_path / "state.aside").rename(state_dir)
            else:
                raise AssertionError(f"unknown call {call}")
        except scoutlb.Error as e:
            error = e
        result = (
            "connected"
            if connected is not None
            else "all_failed"
            if isinstance(error, scoutlb.AllServersFailedError)
            else "error"
            if error is not None
            else "ok"
        )
        assert result == expect["result"], f"{at}: {error}"
        if "tried" in expect:
            assert [str(e.server) for e in events if e.kind == "attempt_started"] == expect["tried"], at
        if "events" in expect:
            got = [e.kind if e.server is None else f"{e.kind} {e.server}" for e in events if e.kind in PINNED_EVENTS]
            assert got == expect["events"], at
        if connected is not None:
            if "server" in expect:
                assert str(connected.server) == expect["server"], at
            if "via_balancer" in expect:
                assert connected.via_balancer == expect["via_balancer"], at
            if "saved" in expect:
                assert connected.saved == expect["saved"], f"{at}: {connected.save_error}"
        if "failed" in expect:
            assert isinstance(error, scoutlb.AllServersFailedError), at
            assert [[str(a.server), a.kind] for a in error.attempts] == expect["failed"], at
        if "state_file" in expect:
            assert state_summary(path) == expect["state_file"], at
@pytest.mark.parametrize("case", STATE_FILES, ids=[c["name"] for c in STATE_FILES])
def test_state_file_vector(case: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    text: str = case["text"]
    path.write_bytes(text.encode())

    def aside() -> list[Path]:
        return [p for p in tmp_path.iterdir() if p.name.startswith("state.json.corrupt-")]

    if case["outcome"] == "refused":
        with pytest.raises(scoutlb.StateFormatError) as raised:
            Client(servers=["seed.test:1"], probe="none", state_file=str(path))
        assert case["error_contains"] in str(raised.value)
        assert path.read_bytes() == text.encode()
        assert aside() == []
        return
    client = Client(servers=["seed.test:1"], probe="none", state_file=str(path))
    if case["outcome"] == "loaded":
        want = case["default_server"]
        assert client.default_server == (Server.parse(want) if want is not None else None)
        assert [str(s) for s in client.server_list] == [str(Server.parse(s)) for s in case["servers"] or []]
        assert client.state_dropped is None
        assert aside() == []
    else:
        assert case["outcome"] == "moved_aside"
        assert client.candidates() == [Server.parse("seed.test:1")]
        assert client.state_dropped is not None and "moved aside" in client.state_dropped
        assert not path.exists()
        moved = aside()
        assert len(moved) == 1 and moved[0].read_bytes() == text.encode()


def rfc3339(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.mark.parametrize("case", RETRY_SCHEDULES, ids=[c["name"][:50] for c in RETRY_SCHEDULES])
def test_retry_schedule_vector(case: dict[str, Any], tmp_path: Path) -> None:
    """A client whose probe always fails makes the case's tries; a call still retrying after 20 is stopped."""
    bound = 20
    path = tmp_path / "state.json"
    since = None
    if case["failing_since"] is not None:
        ago = rfc3339(case["now"]) - rfc3339(case["failing_since"])
        since = datetime.now(timezone.utc) - ago
        stamp = since.strftime("%Y-%m-%dT%H:%M:%S.") + f"{since.microsecond // 1000:03d}Z"
        path.write_text(json.dumps({"format": 1, "failing_since": stamp}))
    retry = cast(scoutlb.RetryConfig, dict(case["retry"], timer_ms=1, base_ms=1, cap_ms=1))
    tries = 0
    stop = threading.Event()

    def probe(server: Server, timeout: float) -> bool:
        nonlocal tries
        tries += 1
        if tries >= bound:
            stop.set()
        return False

    client = Client(servers=["a.test:1"], probe=probe, retry=retry, state_file=str(path))
    if case["tries"] is None:
        with pytest.raises(scoutlb.CancelledError):
            client.connect_with_retry(stop=stop)
        assert tries >= bound
    else:
        with pytest.raises(scoutlb.AllServersFailedError):
            client.connect_with_retry(stop=stop)
        assert tries == case["tries"]
    recorded = json.loads(path.read_text()).get("failing_since") if path.exists() else None
    if since is not None:
        assert recorded == stamp, "a recorded failure stays as it was"
    elif case["records"]:
        assert recorded is not None and abs((datetime.now(timezone.utc) - rfc3339(recorded)).total_seconds()) < 60
    else:
        assert recorded is None
