"""scoutlb for asyncio: ``await`` a connect without blocking the loop or starting a thread.

The connect calls run on the event-loop driver (behaviour.md, "Event loops"): the built-in probes
(``tcp``, ``http``, ``https``) run on non-blocking sockets that the running loop watches with
``add_reader``/``add_writer``, so a connect starts no thread. A probe callable runs each attempt
instead: an ``async def`` as a task on the loop, a plain function on the loop's default executor. The device is the one of the
:class:`scoutlb.Client` behind it: the same candidates, attempt race, events, result, state file
and errors as the blocking calls.

    import asyncio, scoutlb, scoutlb.aio

    async def main() -> None:
        client = scoutlb.Client(servers=["10.0.0.11"], state_file="/var/lib/agent/scoutlb.json")
        async with scoutlb.aio.AsyncClient(client) as aclient:
            connected = await aclient.connect()
            print("talking to", connected.server)

    asyncio.run(main())

Cancelling the task that awaits a call cancels the call at once: its sockets close, the task sees
``asyncio.CancelledError``. ``Client.cancel()`` (from any thread or a signal handler) ends a
running call with ``scoutlb.CancelledError`` within 50 ms, as it does a blocking one.
"""

from __future__ import annotations

import asyncio
from types import TracebackType
import functools
import inspect
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Literal, Optional, Tuple, Type

from scoutlb._native import CancelledError, Client, Connected, ProbeAttempt, Server, UnsupportedError, _PendingCall

__all__ = ["AsyncClient", "drive"]

if TYPE_CHECKING:
    # Which call `Client._start_call` starts.
    _Kind = Literal["connect", "reconnect", "rebalance"]

# How often a waiting call looks at the client's cancel() (behaviour.md, "Cancel": within 50 ms).
_SLICE = 0.025


ProbeCallable = Callable[..., Any]


async def drive(call: _PendingCall, probe: Optional[Tuple[ProbeCallable, bool]] = None) -> None:
    """Drive ``call`` on the running loop until it is decided; a cancelled task cancels the call.

    ``probe`` is the client's probe callable and whether it takes a ``ProbeAttempt``: it runs
    every attempt the call hands over, an ``async def`` as a task, a plain function on the loop's
    default executor.
    """
    await _Drive(call, probe).run()


class _Drive:
    """One call on the running loop: its sockets, its timeout, and the probe tasks it asked for."""

    def __init__(self, call: _PendingCall, probe: Optional[Tuple[ProbeCallable, bool]]) -> None:
        self.call = call
        self.probe = probe
        self.loop = asyncio.get_running_loop()
        self.tasks: Dict[int, asyncio.Future[None]] = {}
        self.woken: Optional[asyncio.Future[None]] = None

    async def run(self) -> None:
        try:
            self.hand_over()
            while not self.call.is_done():
                await self.one_wait()
                self.call.process()
                self.hand_over()
        except asyncio.CancelledError:
            self.call.cancel()
            raise
        finally:
            for task in self.tasks.values():
                task.cancel()

    def wake(self) -> None:
        if self.woken is not None and not self.woken.done():
            self.woken.set_result(None)

    def hand_over(self) -> None:
        """Start a probe for each attempt the call hands over; stop those it gave up."""
        while True:
            request = self.call.next_probe_request()
            if request is None:
                break
            attempt, server, timeout = request
            if self.probe is None:
                raise UnsupportedError("the call asks for a probe callable, and the client has none")
            self.tasks[attempt] = asyncio.ensure_future(self.run_probe(attempt, server, timeout))
        while True:
            gone = self.call.next_abandoned_probe()
            if gone is None:
                break
            task = self.tasks.pop(gone, None)
            if task is not None:
                task.cancel()

    async def run_probe(self, attempt: int, server: Server, timeout: float) -> None:
        """Run the probe callable on one attempt and report how it ended."""
        assert self.probe is not None
        callable_, with_attempt = self.probe
        handle: Optional[ProbeAttempt] = self.call.probe_attempt(attempt) if with_attempt else None
        args: Tuple[Any, ...] = (server, timeout) if handle is None else (server, timeout, handle)
        started = self.loop.time()
        result: object = None
        error: Optional[BaseException] = None
        try:
            if inspect.iscoroutinefunction(callable_):
                result = await callable_(*args)
            else:
                result = await self.loop.run_in_executor(None, functools.partial(callable_, *args))
        except asyncio.CancelledError:
            raise
        except Exception as e:  # noqa: BLE001 - every failure of a probe is the attempt's
            error = e
        finally:
            self.tasks.pop(attempt, None)
        self.call.probe_finished(attempt, result, error, self.loop.time() - started, handle)
        self.wake()

    async def one_wait(self) -> None:
        """Wait until a socket of the call is ready, a probe ended, or its timeout (at most a slice) passed."""
        self.woken = self.loop.create_future()
        readers: List[int] = []
        writers: List[int] = []
        for fd, write in self.call.watches():
            if write:
                self.loop.add_writer(fd, self.wake)
                writers.append(fd)
            else:
                self.loop.add_reader(fd, self.wake)
                readers.append(fd)
        timeout = self.call.timeout()
        timer = self.loop.call_later(_SLICE if timeout is None else min(timeout, _SLICE), self.wake)
        try:
            await self.woken
        finally:
            # Before process(): it may close a socket whose number a new one then takes.
            timer.cancel()
            for fd in readers:
                self.loop.remove_reader(fd)
            for fd in writers:
                self.loop.remove_writer(fd)


class AsyncClient:
    """A :class:`scoutlb.Client` whose connect calls are awaited on the asyncio loop.

    The client's probe callable (``probe=``) runs each attempt: an ``async def`` as a task on
    the loop, cancelled when the call gives the attempt up; a plain function on the loop's
    default executor. Its answers and exceptions mean what they mean to a blocking call.
    """

    def __init__(self, client: Client) -> None:
        self._client = client

    @property
    def client(self) -> Client:
        """The blocking client behind it (same device): for the calls that do not wait."""
        return self._client

    @property
    def default_server(self) -> Optional[Server]:
        """The default server: the last one connected to successfully, or None."""
        return self._client.default_server

    @property
    def server_list(self) -> List[Server]:
        """The cached server list (empty when none was received yet)."""
        return self._client.server_list

    async def connect(self) -> Connected:
        """Run the start-up procedure: ManagerLoadBalancer first, then the failover order."""
        return await self._once("connect")

    async def reconnect(self) -> Connected:
        """After a lost connection: run the failover order from the default server (no balancer)."""
        return await self._once("reconnect")

    async def connect_with_retry(self) -> Connected:
        """Connect, retrying on the retry profile's schedule until success or its limit (behaviour.md, "All fail")."""
        return await self._with_retry("connect")

    async def reconnect_with_retry(self) -> Connected:
        """Reconnect, retrying like ``connect_with_retry``: every try runs the failover order from the default server."""
        return await self._with_retry("reconnect")

    async def rebalance(self) -> Optional[Connected]:
        """Carry out the planned move to a lighter server (behaviour.md, "Rebalance"): its target only.

        The new connection, or None when no move is planned; a target that does not answer raises
        ``scoutlb.AllServersFailedError`` and changes nothing.
        """
        result = await self._try("rebalance", 0)
        assert result is None or isinstance(result, Connected)
        return result

    def cancel(self) -> None:
        """Cancel every running and later call of this client until ``reset_cancel()`` (behaviour.md, "Cancel")."""
        self._client.cancel()

    def reset_cancel(self) -> None:
        """Let calls run again after ``cancel()``."""
        self._client.reset_cancel()

    def close(self) -> None:
        """Close the client behind it: every later call raises ``scoutlb.Error``."""
        self._client.close()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc_value: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> None:
        self.close()

    async def _once(self, kind: _Kind) -> Connected:
        result = await self._try(kind, 0)
        assert isinstance(result, Connected)
        return result

    async def _with_retry(self, kind: _Kind) -> Connected:
        tries = 0
        while True:
            tries += 1
            result = await self._try(kind, tries)
            if isinstance(result, Connected):
                return result
            assert result is not None  # only a rebalance finds nothing to do
            await self._sleep(result)

    async def _try(self, kind: _Kind, tries: int) -> Connected | float | None:
        """One call (None: a rebalance with no move planned); with ``tries`` > 0 a failure that is
        retried gives the wait before the next try."""
        call = self._client._start_call(kind)
        if call is None:
            return None
        try:
            await drive(call, self._client._probe)
        except asyncio.CancelledError:
            # The call is decided as cancelled: the client applies it (events, state); the
            # error is the task's.
            try:
                self._client._finish(call)
            except CancelledError:
                pass
            raise
        return self._client._finish(call, tries)

    async def _sleep(self, seconds: float) -> None:
        """Wait between tries; ``cancel()`` ends it with ``scoutlb.CancelledError`` within a slice."""
        loop = asyncio.get_running_loop()
        until = loop.time() + seconds
        while True:
            if self._client._cancelled:
                raise CancelledError("the call was cancelled")
            left = until - loop.time()
            if left <= 0:
                return
            await asyncio.sleep(min(left, _SLICE))

