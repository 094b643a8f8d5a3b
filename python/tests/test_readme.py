"""The README's example runs as written, against a Scout Server on loopback."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from conftest import REPO_ROOT, ScoutServer

README = REPO_ROOT / "python" / "README.md"


def example(index: int = 0) -> str:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert len(blocks) > index, "the README has its Python examples"
    return str(blocks[index])


def run(code: str, cwd: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", code], cwd=cwd, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_example_is_short() -> None:
    assert len(example().strip().splitlines()) <= 11


def test_example_runs_as_written(tmp_path: Path) -> None:
    code = example()
    try:
        server = ScoutServer(port=22123)
    except OSError:
        # Port 22123 is taken on this machine: run the same example against a free port instead.
        server = ScoutServer()
        code = code.replace("127.0.0.1:22123", server.address)
    try:
        server.listing = [
            {"host": "127.0.0.1", "port": server.port, "id": "self"},
            {"host": "127.0.0.1", "port": 22124, "id": "b"},
        ]
        out = run(code, tmp_path)
    finally:
        server.stop()
    assert out == f"talking to {server.address} of ['{server.address}', '127.0.0.1:22124']\n"
    state = json.loads((tmp_path / "scoutlb-state.json").read_text())
    assert state["default_server"] == {"host": "127.0.0.1", "port": server.port}


def test_example_reports_every_failed_attempt(tmp_path: Path, refused_address: str) -> None:
    code = example().replace("127.0.0.1:22123", refused_address).replace("127.0.0.1:22124", refused_address)
    out = run(code, tmp_path)
    assert out == f"failed: {refused_address} refused connection refused\n"


def test_asyncio_example_runs_as_written(tmp_path: Path) -> None:
    code = example(1)
    assert "scoutlb.aio" in code
    server = ScoutServer()
    code = code.replace("127.0.0.1:22123", server.address)
    try:
        out = run(code, tmp_path)
    finally:
        server.stop()
    assert out == f"talking to {server.address}\n"
