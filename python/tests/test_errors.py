"""The exception hierarchy, state-file errors, and a Rust panic surfacing as scoutlb.Error."""

from __future__ import annotations

import json
import logging
import os
import pickle
from multiprocessing.reduction import ForkingPickler
from pathlib import Path

import pytest
from conftest import Recorder

import scoutlb
from scoutlb import Client, Server


def test_hierarchy() -> None:
    for name in [
        "ConfigError", "ConfigTypeError", "InvalidServerError", "ServerListError", "StateFileError", "StateFormatError",
        "DnsError", "AllServersFailedError", "UnknownServerError", "UnsupportedError",
    ]:  # fmt: skip
        cls = getattr(scoutlb, name)
        assert issubclass(cls, scoutlb.Error), name
        assert cls.__module__ == "scoutlb", name
    assert issubclass(scoutlb.Error, Exception)
    assert issubclass(scoutlb.InvalidServerError, scoutlb.ConfigError)
    assert issubclass(scoutlb.ConfigTypeError, scoutlb.ConfigError) and issubclass(scoutlb.ConfigTypeError, TypeError)
    assert issubclass(scoutlb.StateFormatError, scoutlb.StateFileError)


def test_all_servers_failed_error_pickles_with_its_attempts(refused_address: str) -> None:
    client = Client(servers=[refused_address], connect_timeout_ms=500)
    with pytest.raises(scoutlb.AllServersFailedError) as info:
        client.connect()
    error = info.value
    # What multiprocessing and concurrent.futures do with an exception of a worker.
    copy = pickle.loads(ForkingPickler.dumps(error))
    assert type(copy) is scoutlb.AllServersFailedError
    assert str(copy) == str(error)
    assert copy.attempts == error.attempts and len(copy.attempts) == 1
    assert copy.attempts[0].kind == "refused" and copy.attempts[0].server == Server.parse(refused_address)
    attempt = scoutlb.Attempt("a:1", "refused", "connection refused")
    assert pickle.loads(pickle.dumps(attempt)) == attempt
    assert repr(attempt) == 'Attempt(server=Server("a", 1), kind="refused", message="connection refused")'
    with pytest.raises(scoutlb.ConfigError) as bad:
        Client(probe="udp")  # type: ignore[arg-type]
    config = pickle.loads(pickle.dumps(bad.value))
    assert type(config) is scoutlb.ConfigError and config.key == "probe"


def test_panic_surfaces_as_scoutlb_error(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="scoutlb")
    with pytest.raises(scoutlb.Error) as info:
        # A test aid outside the public stubs.
        getattr(scoutlb._native, "_panic_for_test")("deliberate")
    assert type(info.value) is scoutlb.Error
    assert "internal error in scoutlb" in str(info.value) and "deliberate" in str(info.value)
    assert any("deliberate" in r.getMessage() for r in caplog.records), "the panic is logged, not printed"
    # The module keeps working after a panic.
    assert Server.parse("a:1").port == 1


def test_corrupt_state_file_is_moved_aside(tmp_path: Path, recorder: Recorder, caplog: pytest.LogCaptureFixture) -> None:
    state = tmp_path / "state.json"
    state.write_bytes(b"\x00{garbage")
    caplog.set_level(logging.WARNING, logger="scoutlb")
    client = Client(servers=["a:1"], probe="none", state_file=state, events=recorder)
    assert client.default_server is None
    assert recorder.kinds() == ["state_file_problem"]
    assert recorder.events[0].severity == "warning" and "moved aside" in recorder.events[0].message
    assert [p.name.startswith("state.json.corrupt-") for p in tmp_path.iterdir() if "corrupt" in p.name] == [True]
    assert any("moved aside" in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)
    client.report_success("a:1")
    assert json.loads(state.read_text())["default_server"] == {"host": "a", "port": 1}


def test_state_file_of_wrong_shape(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    state.write_text('{"format": 1, "default_server": {"host": "a", "port": 0}}')
    assert Client(probe="none", state_file=state).default_server is None
    assert any("corrupt" in p.name for p in tmp_path.iterdir())


def test_newer_state_format_is_refused_and_left_alone(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    text = '{"format": 99, "default_server": null}'
    state.write_text(text)
    with pytest.raises(scoutlb.StateFormatError) as info:
        Client(probe="none", state_file=state)
    assert isinstance(info.value, scoutlb.StateFileError)
    assert "format 99" in str(info.value)
    assert state.read_text() == text


def test_unwritable_state_folder_fails_at_creation(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        # root writes in any mode-0500 folder; /proc refuses new files even to root.
        path = Path("/proc/scoutlb-test-state.json")
    else:
        folder = tmp_path / "ro"
        folder.mkdir()
        folder.chmod(0o500)
        path = folder / "state.json"
    with pytest.raises(scoutlb.StateFileError) as info:
        Client(probe="none", state_file=path)
    assert str(path) in str(info.value)


def test_state_path_under_a_file_fails(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(scoutlb.StateFileError, match="folder"):
        Client(probe="none", state_file=tmp_path / "file" / "state.json")


def test_state_path_that_is_a_folder(tmp_path: Path) -> None:
    with pytest.raises(scoutlb.StateFileError):
        Client(probe="none", state_file=tmp_path)


def test_two_clients_share_one_state_file(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    a = Client(servers=["a:1", "b:1"], probe="none", state_file=state)
    b = Client(servers=["a:1", "b:1"], probe="none", state_file=state)
    for i in range(50):
        a.report_success("a:1" if i % 2 else "b:1")
        b.update_server_list([f"s{i}:1", "a:1"])
        json.loads(state.read_text())
    # Each write replaces the whole file: the last writer's state is what a restart sees.
    again = Client(probe="none", state_file=state)
    assert again.server_list == [Server("s49", 1), Server("a", 1)]
    assert again.default_server is None
