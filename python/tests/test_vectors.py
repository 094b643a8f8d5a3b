"""The shared conformance cases of tests/vectors/: server addresses, server lists, configuration errors and state files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

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


def test_every_file_has_its_cases() -> None:
    assert len(ADDRESSES) >= 20 and len(LISTS) >= 20 and len(CONFIGS) >= 30 and len(STATE_FILES) >= 25


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
