#!/usr/bin/env python3
"""An asyncio device agent: connects with scoutlb.aio, checks its server, fails over when it is lost.

    python3 examples/python/asyncio_agent.py --state-file /tmp/agent.json 127.0.0.1:22123 127.0.0.1:22124

Connects (retrying on the retry profile's schedule), then opens a TCP connection to its server
every --check-every seconds, as an agent's own protocol would; when that fails it reports the lost
connection and reconnects (the failover order from the default server). Stops after --rounds
connects, or on Ctrl-C / SIGTERM (the running call is cancelled with its task). No thread is
started for a connect: everything runs on the one asyncio loop.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from typing import Optional

import scoutlb
from scoutlb.aio import AsyncClient


async def reachable(server: scoutlb.Server, timeout: float) -> bool:
    """Whether a TCP connection to `server` is accepted within `timeout` seconds."""
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(server.host, server.port), timeout)
    except (OSError, asyncio.TimeoutError):
        return False
    writer.close()
    try:
        await writer.wait_closed()
    except OSError:
        pass  # accepted, then reset while closing (a server going down): it was reachable
    return True


async def agent(client: AsyncClient, check_every: float, rounds: Optional[int]) -> None:
    """Connect, then keep the connection until `rounds` connects were made (None: for ever)."""
    connected = await client.connect_with_retry()
    made = 1
    while True:
        print(f"connected to {connected.server}", flush=True)
        if rounds is not None and made >= rounds:
            return
        while await reachable(connected.server, check_every):
            await asyncio.sleep(check_every)
        print(f"lost {connected.server}", flush=True)
        client.client.connection_lost()
        connected = await client.reconnect_with_retry()
        made += 1


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("servers", nargs="+", help="seed servers, host[:port]")
    parser.add_argument("--state-file", help="where the default server and the list are kept")
    parser.add_argument("--check-every", type=float, default=5.0, help="seconds between checks of the server")
    parser.add_argument("--rounds", type=int, help="stop after this many connects (default: run until stopped)")
    args = parser.parse_args()
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, task.cancel)
    async with AsyncClient(scoutlb.Client(servers=args.servers, state_file=args.state_file)) as client:
        try:
            await agent(client, args.check_every, args.rounds)
        except scoutlb.Error as e:
            print(f"asyncio_agent: {e}", file=sys.stderr)
            return 1
        except asyncio.CancelledError:
            print("asyncio_agent: stopped", file=sys.stderr)
            return 130
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
