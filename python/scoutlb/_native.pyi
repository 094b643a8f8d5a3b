"""Type stubs of the native module `scoutlb._native` (re-exported by `scoutlb`)."""

from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Callable, Literal, Protocol, final

from scoutlb._types import EventCallback, FilePath, ProbeCallback, RebalanceConfig, RetryConfig, Servers, Strings

class _Stop(Protocol):
    """What `stop=` takes: anything with `is_set()`, such as a `threading.Event`."""

    def is_set(self) -> bool: ...

__all__ = [
    "Error",
    "ConfigError",
    "ConfigTypeError",
    "InvalidServerError",
    "ServerListError",
    "StateFileError",
    "StateFormatError",
    "DnsError",
    "AllServersFailedError",
    "UnknownServerError",
    "UnsupportedError",
    "CancelledError",
    "DeviceRefusedError",
    "Server",
    "Attempt",
    "Connected",
    "RebalancePlan",
    "Event",
    "Client",
    "ProbeAttempt",
    "_PendingCall",
    "failover_order",
    "DEFAULT_PORT",
    "MAX_ENTRIES",
    "DEVICE_ID_HEADER",
    "CONFIG_KEYS",
    "__version__",
]

__version__: str
"""The version of scoutlb."""
DEFAULT_PORT: int
"""The port of a Scout Server when an address names none (22123)."""
MAX_ENTRIES: int
"""The largest accepted number of entries of a server list (4096)."""
DEVICE_ID_HEADER: str
"""The request header that names the device (`device_id`) to its server: "Scout-Device-Id"."""
CONFIG_KEYS: tuple[str, ...]
"""Every configuration key (behaviour.md, "Configuration keys"), in order."""

class Error(Exception):
    """Base class of every error raised by scoutlb."""

class ConfigError(Error):
    """A configuration key is unknown or has a wrong type or value; the message names the key."""

    key: str | None
    """The configuration key at fault (`retry.base_ms` inside `retry`), or None."""

class ConfigTypeError(ConfigError, TypeError):
    """A configuration value of the wrong Python type, such as a single str for a list key (`servers="10.0.0.1"`): both a ConfigError and a TypeError."""

class InvalidServerError(ConfigError):
    """A server address could not be parsed."""

class ServerListError(Error):
    """A server list was refused (behaviour.md, Wire format); the cached list is kept."""

class StateFileError(Error):
    """The state file or its folder could not be read or written."""

class StateFormatError(StateFileError):
    """The state file was written by a newer scoutlb and is left untouched."""

class DnsError(Error):
    """A DNS lookup failed."""

class AllServersFailedError(Error):
    """No candidate server could be reached; `attempts` lists every attempt and why it failed.

    Picklable with its attempts (it crosses `multiprocessing` and `concurrent.futures` intact)."""

    attempts: list[Attempt]
    """Every attempt, in the order of the candidates."""

class UnknownServerError(Error):
    """The named server is not known to this client."""

class UnsupportedError(Error):
    """The call is not possible with this client's configuration (such as connect() with probe="none")."""

class CancelledError(Error):
    """The call was cancelled: `Client.cancel()`, or the stop of a retrying call (behaviour.md, "Cancel")."""

class DeviceRefusedError(Error):
    """A server refused this device (behaviour.md, "Servers that steer devices"); no other server was tried."""

    server: Server
    """The server that refused."""
    reason: str
    """Its reason, as it sent it."""

@final
class ProbeAttempt:
    """The running attempt a probe callable gets as its third argument; meaningful only during the call."""

    def transport_up(self) -> None:
        """Tell the race that the agent's own connection is up: the attempt gets `answer_delay_ms`."""

    def server_list(self, body: bytes | str) -> None:
        """Hand in the server list (wire-format JSON) this server sent; cached when it wins.

        A body that is no list raises `ServerListError`, and the attempt fails as a bad response.
        """

@final
class _PendingCall:
    """One event-loop connect call (behaviour.md, "Event loops"), driven by `scoutlb.aio`."""

    def watches(self) -> list[tuple[int, bool]]:
        """The sockets to watch now: (file descriptor, True to wait for writing, False for reading)."""

    def timeout(self) -> float | None:
        """Seconds the loop may wait at most before `process()`, or None once the call is done."""

    def process(self) -> None:
        """Do what can be done now (a watched socket became ready, or the timeout passed)."""

    def is_done(self) -> bool:
        """Whether the call is decided (a finished call is)."""

    def cancel(self) -> None:
        """Decide the call now as cancelled; its sockets close."""

    def next_probe_request(self) -> tuple[int, Server, float] | None:
        """The next attempt for the client's probe callable to run, once: (attempt, server, timeout in seconds)."""

    def next_abandoned_probe(self) -> int | None:
        """The next attempt the call gave up, once (its probe is cancelled), or None."""

    def probe_attempt(self, attempt: int) -> ProbeAttempt:
        """The `ProbeAttempt` handed to a probe callable of three parameters for `attempt`."""

    def probe_finished(
        self,
        attempt: int,
        result: object,
        error: BaseException | None,
        elapsed: float,
        probe_attempt: ProbeAttempt | None = None,
    ) -> None:
        """The probe callable of `attempt` returned `result`, or raised `error`, `elapsed` seconds after it started."""

@final
class Server:
    """A management server endpoint: host (DNS name or IP literal) and port; immutable and hashable.

    Two servers are equal when host (case-folded, IP literals normalised) and port are equal;
    `str(server)` is the canonical text `host:port` (`[v6]:port`).
    """

    def __new__(cls, host: str, port: int = 22123) -> Server: ...
    @staticmethod
    def parse(text: str, default_port: int = 22123) -> Server:
        """Parse `host`, `host:port`, `[v6]:port` or a bare IP literal; `default_port` fills in."""

    @property
    def host(self) -> str:
        """The host: a lower-case DNS name or a canonical IP literal (no brackets)."""

    @property
    def port(self) -> int:
        """The TCP port."""

    def __eq__(self, other: object, /) -> bool: ...
    def __ne__(self, other: object, /) -> bool: ...
    def __lt__(self, other: Server, /) -> bool: ...
    def __le__(self, other: Server, /) -> bool: ...
    def __gt__(self, other: Server, /) -> bool: ...
    def __ge__(self, other: Server, /) -> bool: ...
    def __hash__(self) -> int: ...
    def __getnewargs__(self) -> tuple[str, int]: ...

@final
class Attempt:
    """One failed attempt: the server, the kind of failure and its message. Picklable."""

    def __new__(cls, server: Server | str, kind: str, message: str) -> Attempt:
        """An attempt as the library reports them (for tests of agents, and for pickling)."""

    @property
    def server(self) -> Server:
        """The server tried."""

    @property
    def kind(self) -> str:
        """Why it failed, as a short stable name: `refused`, `timed_out`, `dns`, `tls`, `http_status`,
        `invalid_list`, `untrusted_list` (a list that failed the signed-list checks), `io`,
        `callback`, `reported`, `deadline`, or `out_of_patience` (not a failure:
        still running when a later server won, after its patience had run out). A probe callable
        that raises `ConnectionRefusedError` gives `refused`, `TimeoutError` (`socket.timeout`)
        `timed_out`, another `OSError` `io`, `ServerDrainingError` `draining`, anything else
        `callback` (behaviour.md, "Probes")."""

    @property
    def message(self) -> str:
        """Why it failed, in words."""

    def __eq__(self, other: object, /) -> bool: ...
    def __ne__(self, other: object, /) -> bool: ...
    def __getnewargs__(self) -> tuple[Server, str, str]: ...

@final
class Connected:
    """The outcome of a successful connect."""

    @property
    def server(self) -> Server:
        """The server now in use and persisted as the default (the real server behind a balancer)."""

    @property
    def reached(self) -> Server:
        """The address that answered the probe."""

    @property
    def via_balancer(self) -> bool:
        """Whether the address came from the ManagerLoadBalancer entry."""

    @property
    def failed(self) -> list[Attempt]:
        """The attempts that did not win: failed, or still running after their patience ran out."""

    @property
    def saved(self) -> bool:
        """Whether the new state reached the state file (also True when nothing had to be saved).

        False when the save failed: the connection stands, a `state_file_problem` event says why,
        and the next connect saves again."""

    @property
    def save_error(self) -> str | None:
        """Why the save failed, when `saved` is False; otherwise None."""

    @property
    def state_dropped(self) -> str | None:
        """Why the state file was not used when the client was created (it could not be parsed
        and was moved aside; the client started from its seeds), or None."""

    @property
    def list_problem(self) -> str | None:
        """Why a server list was refused in this call (behaviour.md, "Signed lists"), or None;
        the saved list was kept."""

    @property
    def rebalance(self) -> RebalancePlan | None:
        """The move to a lighter server this connect planned (behaviour.md, "Rebalance"), or None."""

@final
class RebalancePlan:
    """A move to a lighter server that a connect planned (behaviour.md, "Rebalance")."""

    @property
    def from_server(self) -> Server:
        """The server the device is on now (its default)."""

    @property
    def to_server(self) -> Server:
        """The lighter server it moves to."""

    @property
    def after(self) -> float:
        """When to move, in seconds counted from the connect that planned it."""

    @property
    def window(self) -> float:
        """The window the moment was drawn in, in seconds (at least `rebalance.window_ms`)."""

@final
class Event:
    """Something that happened inside a client, passed to the `events` callback."""

    @property
    def kind(self) -> str:
        """A short stable name: `attempt_started`, `attempt_failed`, `attempt_succeeded` (the winner),
        `attempt_held` (answered, held while a more preferred server is within its patience),
        `patience_ran_out` (the next candidate starts beside a slow one; not a failure),
        `server_list_updated`, `server_list_rejected`, `default_changed`, `state_file_problem`,
        `balancer_resolved`, `balancer_failed`, `list_keys_changed` or `tls_unverified` (keys adopted from signed
        lists for a key rotation)."""

    @property
    def severity(self) -> Literal["debug", "info", "warning"]:
        """How much it matters."""

    @property
    def level(self) -> int:
        """The severity as a `logging` level number (10, 20 or 30)."""

    @property
    def server(self) -> Server | None:
        """The server the event is about, if one."""

    @property
    def message(self) -> str:
        """The event in words, as it is logged."""

    @property
    def reason(self) -> str | None:
        """For `attempt_failed`: the kind of failure (as `Attempt.kind`); otherwise None."""

    @property
    def servers(self) -> list[Server]:
        """For `server_list_updated` and `balancer_resolved`: the servers; otherwise empty."""

@final
class Client:
    """A device's connection chooser (behaviour.md, "Start-up"); safe to share between threads.

    Every blocking call releases the GIL. Callbacks run with the GIL taken again: the probe
    callback on the client's attempt threads (several may run at once when attempts are
    staggered), the events callback on the thread that made the call. The events callback must
    not call its own client (that raises `scoutlb.Error`); it may wait for another thread that
    calls the client, as no client lock is held while it runs (behaviour.md, Surfaces). A child
    forked while another thread saves can use the client at once (behaviour.md, State file).

    Attempts race: candidates start in order, the next one when the running ones ran out of
    patience (`attempt_delay_ms` while connecting, `answer_delay_ms` once connected), and the most
    preferred server that answers wins, so a slow but working default keeps the device. A probe
    callable that takes a third parameter gets the `ProbeAttempt` and may report its transport up
    (`attempt.transport_up()`); without it, it counts as connecting while it runs.

    `close()` (or a `with` block) ends the client: later calls raise `scoutlb.Error`, and no
    callback of it runs after `close()` returned. At interpreter exit scoutlb waits for probe
    callables still running on abandoned attempts (each up to its `timeout_seconds` plus 1 s),
    so the interpreter never finalizes under them.
    """

    def __new__(
        cls,
        *,
        servers: Servers = ...,
        manager_load_balancer: str | None = None,
        state_file: FilePath | None = None,
        default_port: int = 22123,
        probe: Literal["http", "tcp", "none"] | ProbeCallback = "http",
        scheme: Literal["http", "https"] = "http",
        ca_file: FilePath | None = None,
        ca_dir: FilePath | None = None,
        tls_verify: Literal["full", "chain", "none"] = "full",
        connect_timeout_ms: int = 3000,
        attempt_delay_ms: int = 250,
        answer_delay_ms: int = 1000,
        deadline_ms: int = 30000,
        dns_timeout_ms: int = 2000,
        nameservers: Strings = ...,
        search_domains: Strings = ...,
        retry: RetryConfig | None = None,
        rebalance: RebalanceConfig | None = None,
        failover_order: Literal["list", "spread"] = "list",
        device_id: str | None = None,
        list_keys: Strings = ...,
        dhcp_leases: Strings = ...,
        scout_ini: Strings = ...,
        events: EventCallback | None = None,
    ) -> Client:
        """Create a client from keyword arguments named like the configuration keys (behaviour.md).

        `probe` is a probe name or a callable `probe(server, timeout_seconds) -> bool` (the
        callable itself, not "callback", which is the JSON spelling); `retry` is a dict with any
        of `profile`, `base_ms`, `factor`, `cap_ms`, `max_tries`, `timer_ms`, `max_retries`,
        `permanent_after_days` (behaviour.md, "All fail"). An unknown key or a wrong type raises
        `ConfigError` naming the key; a single `str` for a list key (`servers="10.0.0.1"`)
        raises `ConfigTypeError`, a `ConfigError` that is also a `TypeError`.
        """

    @staticmethod
    def from_json(
        text: str | bytes,
        probe: ProbeCallback | None = None,
        events: EventCallback | None = None,
    ) -> Client:
        """Create a client from the JSON configuration text (behaviour.md, "Configuration keys")."""

    def connect(self) -> Connected:
        """Run the start-up procedure: ManagerLoadBalancer first, then the failover order."""

    def reconnect(self) -> Connected:
        """After a lost connection: run the failover order from the default server (no balancer)."""

    def connect_with_retry(self, *, stop: _Stop | None = None) -> Connected:
        """Connect, retrying on the retry profile's schedule until success or its limit (behaviour.md, "All fail").

        Ends with `CancelledError` within 50 ms once `stop` (a `threading.Event`) is set or
        `cancel()` is called. In asyncio, set the event when the task is cancelled::

            stop = threading.Event()
            try:
                connected = await asyncio.to_thread(client.connect_with_retry, stop=stop)
            except asyncio.CancelledError:
                stop.set()
                raise
        """

    def reconnect_with_retry(self, *, stop: _Stop | None = None) -> Connected:
        """Reconnect, retrying like `connect_with_retry`: every try runs the failover order from the default server."""

    @property
    def rebalance_plan(self) -> RebalancePlan | None:
        """The move to a lighter server the last connect planned, or None (behaviour.md, "Rebalance")."""

    def rebalance(self) -> Connected | None:
        """Carry out the planned move: try its target only; the new connection, or None when no move was planned.

        When the target does not answer, nothing changes and `AllServersFailedError` is raised.
        """

    def _start_call(self, kind: Literal["connect", "reconnect", "rebalance"]) -> _PendingCall | None:
        """Start a call for an event loop (None: no move is planned); `scoutlb.aio` drives it."""

    def _finish(self, call: _PendingCall, tries: int = 0) -> Connected | float:
        """Finish `call`: its result, or its error raised; after try `tries` (from 1) of a retrying call, a retried failure gives the wait in seconds."""

    @property
    def _probe(self) -> tuple[Callable[..., Any], bool] | None:
        """The probe callable and whether it takes a `ProbeAttempt`, or None (built-in probe)."""

    @property
    def _cancelled(self) -> bool:
        """Whether `cancel()` holds (until `reset_cancel()`)."""

    def cancel(self) -> None:
        """Cancel every running and later call of this client (`CancelledError` within 50 ms) until `reset_cancel()`."""

    def reset_cancel(self) -> None:
        """Let calls run again after `cancel()`."""

    def candidates(self) -> list[Server]:
        """The candidates of a start-up, in order: the balancer's addresses, then the failover order."""

    def failover_order(self) -> list[Server]:
        """The failover order from the default server, without the ManagerLoadBalancer."""

    def report_success(self, server: Server | str) -> None:
        """Report that the agent reached `server`: it becomes the default server and is persisted."""

    def report_failure(self, server: Server | str, reason: str) -> None:
        """Report that the agent could not reach `server`, with its own reason."""

    def connection_lost(self) -> list[Server]:
        """Report that the connection to the current server was lost; returns the new order to try."""

    def update_server_list(
        self,
        servers: str | bytes | Mapping[str, Any] | Sequence[Server | str],
        from_server: Server | str | None = None,
    ) -> None:
        """Hand in a server list received by the agent's own protocol; a refused list keeps the cached one.

        `servers` is wire-format JSON (behaviour.md, "Wire format") (text or bytes), the same as a dict, or a list of servers.
        `from_server` is the server that sent it (None = the default server).
        """

    def backoff(self, n: int) -> float:
        """The wait before retry number `n + 1`, in seconds, on the retry profile's schedule with a fresh draw.

        `"backoff"`: uniform in `[0, min(cap, base * factor**n)]`; `"handshake"`:
        `timer * 2**min(n, max_retries - 1)` (at most a day) ± 10 % (behaviour.md, "All fail").
        """

    @property
    def server_list(self) -> list[Server]:
        """The cached server list (empty when none was received yet)."""

    @property
    def default_server(self) -> Server | None:
        """The default server: the last one connected to successfully, or None."""

    @property
    def state_dropped(self) -> str | None:
        """Why the state file was not used when this client was created (it could not be parsed
        and was moved aside; the client started from its seeds), or None."""

    @property
    def dhcp_ou(self) -> str | None:
        """The destination OU that DHCP option 222 named when the client was created, or None
        (behaviour.md, "First contact from DHCP")."""

    @property
    def dhcp_lease(self) -> Path | None:
        """The lease file whose DHCP option 222 gave first-contact servers, or None."""

    @property
    def seeds(self) -> list[Server]:
        """The seed servers: the configured ones, or `ScoutSrv` when none is configured."""

    def close(self) -> None:
        """Close the client: every later call raises `scoutlb.Error`, and once `close()` returns no
        callback of this client runs any more (it waits, Ctrl-C aside, for probe callables still
        running on abandoned attempts). Closing again does nothing."""

    @property
    def closed(self) -> bool:
        """Whether `close()` was called."""

    def __enter__(self) -> Client: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        """Close the client at the end of a `with` block; exceptions go on."""

def failover_order(
    servers: Servers | None,
    seeds: Servers,
    default: Server | str | None = None,
    device_id: str | None = None,
) -> list[Server]:
    """The failover order (behaviour.md) of a list, seeds and default server (`device_id` = spread mode)."""

