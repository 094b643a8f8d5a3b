"""A fork in the middle of a save (behaviour.md, State file): the child can use its copy of the
client at once, and it holds no lock that keeps the parent from saving."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from scoutlb import Client, Server

# Holds the state file's lock, both kinds (flock and POSIX record locks), until a line comes (the
# forked children share the pipe, so closing it is no signal).
HOLDER = """
import fcntl, sys
f = open(sys.argv[1], "a")
fcntl.flock(f, fcntl.LOCK_EX)
fcntl.lockf(f, fcntl.LOCK_EX)
print("locked", flush=True)
sys.stdin.readline()
"""


def child_reads_then_saves(client: Client, out: multiprocessing.Queue[str]) -> None:
    out.put(str(client.default_server))
    client.report_success("b:2")
    out.put("saved")


def child_sleeps(client: Client, stop: Any) -> None:
    stop.wait(20)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # fork with threads running: the point here
def test_a_child_forked_mid_save_works_and_does_not_block_the_parent(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    client = Client(servers=["a:1", "b:2"], probe="none", state_file=state)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, f"{state}.lock"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None and holder.stdin is not None
    assert holder.stdout.readline() == "locked\n"
    saver = threading.Thread(target=client.report_success, args=("a:1",))
    saver.start()
    time.sleep(0.3)  # the saver now waits for the lock, inside its save
    ctx = multiprocessing.get_context("fork")
    out: multiprocessing.Queue[str] = ctx.Queue()
    stop = ctx.Event()
    reader = ctx.Process(target=child_reads_then_saves, args=(client, out))
    sleeper = ctx.Process(target=child_sleeps, args=(client, stop))
    reader.start()
    sleeper.start()
    try:
        # The child's first call answers while the parent's save is still waiting.
        assert out.get(timeout=10) == "a:1"
        holder.stdin.write("go\n")
        holder.stdin.flush()
        holder.wait(10)
        saver.join(10)
        assert not saver.is_alive(), "the parent's save did not finish"
        assert out.get(timeout=10) == "saved"
        reader.join(10)
        assert reader.exitcode == 0
        # With a child forked mid-save still alive, the parent saves again at once.
        again = threading.Thread(target=client.report_success, args=(Server("a", 1),))
        client.report_success("b:2")
        again.start()
        again.join(10)
        assert not again.is_alive(), "a child forked mid-save keeps the parent from saving"
    finally:
        stop.set()
        for p in (reader, sleeper):
            p.join(10)
            if p.is_alive():
                p.kill()
        holder.kill()
        holder.wait(10)
        for pipe in (holder.stdin, holder.stdout):
            if not pipe.closed:
                pipe.close()
    assert client.default_server == Server("a", 1)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_a_fork_pool_uses_the_client_while_the_parent_saves(tmp_path: Path) -> None:
    client = Client(servers=["a:1", "b:2"], probe="none", state_file=tmp_path / "state.json")
    stop = threading.Event()

    def save_in_a_loop() -> None:
        for n in range(2000):
            if stop.is_set():
                return
            client.report_success("a:1" if n % 2 else "b:2")

    saver = threading.Thread(target=save_in_a_loop)
    saver.start()
    try:
        global _POOL_CLIENT
        _POOL_CLIENT = client  # the pool's forked workers inherit it (a client does not pickle)
        with multiprocessing.get_context("fork").Pool(4) as pool:
            got = pool.map_async(_order_length, range(8)).get(timeout=30)
        assert got == [2] * 8
    finally:
        stop.set()
        saver.join(30)
    assert not saver.is_alive(), "the parent's saves stopped"


_POOL_CLIENT: Client | None = None


def _order_length(_: int) -> int:
    assert _POOL_CLIENT is not None
    _POOL_CLIENT.report_success("a:1")
    return len(_POOL_CLIENT.failover_order())
