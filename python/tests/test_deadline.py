"""Deadlines that hold (behaviour.md, "State file"): another process holding the state file's lock
defers the save, not the connect, and the save is made at the next chance.

The bounds are generous (the machine is shared): they tell "waited about a second" from "waited
for the other process" (20 s here).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from scoutlb import Client

HOLD = """
import fcntl, sys
f = open(sys.argv[1], "a")
fcntl.lockf(f, fcntl.LOCK_EX)
print("locked", flush=True)
sys.stdin.read()
"""


def test_a_lock_held_by_another_process_defers_the_save_not_the_connect(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    client = Client(servers=["a.example:1"], probe=lambda server, timeout: True, state_file=path)
    with subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path / "state.json.lock")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as holder:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        start = time.monotonic()
        connected = client.connect()
        took = time.monotonic() - start
        holder.kill()
    assert str(connected.server) == "a.example:1"
    assert not connected.saved
    assert connected.save_error is not None and "held by another writer" in connected.save_error
    assert took < 3.0, f"the connect waited {took:.1f} s (the lock wait is 1 s)"
    assert not path.exists()
    # The lock is free again: the save is made at the next chance, though nothing changed.
    client.report_success("a.example:1")
    assert json.loads(path.read_text())["default_server"] == {"host": "a.example", "port": 1}
