"""Type names of the scoutlb API that exist only for annotations (callbacks, the retry dict, lists)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Awaitable, Callable, Literal, TypedDict, Union

if TYPE_CHECKING:
    from scoutlb._native import Event, ProbeAttempt, Server


class RetryConfig(TypedDict, total=False):
    """The `retry` configuration key: the schedule of the retrying calls (behaviour.md, "All fail")."""

    profile: Literal["backoff", "handshake"]
    """`"backoff"` (exponential, full jitter; the default) or `"handshake"` (Scout's schedule)."""
    base_ms: int
    """Backoff: first ceiling in milliseconds (default 1000)."""
    factor: float
    """Backoff: growth of the ceiling per try (default 2.0)."""
    cap_ms: int
    """Backoff: largest ceiling in milliseconds (default 60000)."""
    max_tries: int
    """Backoff: most tries in all; 0 = no limit (default 0)."""
    timer_ms: int
    """Handshake: first interval in milliseconds, doubled after each try, ± 10 % (default 5000)."""
    max_retries: int
    """Handshake: most retries after the first try; 0 = none (default 8)."""
    permanent_after_days: int
    """Handshake: days of failing after which max_retries no longer limits; 0 = never (default 0)."""


class RebalanceConfig(TypedDict, total=False):
    """The `rebalance` configuration key: moves to a lighter server, opt-in (behaviour.md, "Rebalance")."""

    enabled: bool
    """Whether the device plans moves at all (default False: Scout keeps a device where it is)."""
    window_ms: int
    """The shortest window over which the moves of a fleet are spread (default 120000)."""
    rate: int
    """Most new devices per second a server is sent by rebalancing, cluster-wide (default 64)."""


ProbeCallback = Union[
    Callable[["Server", float], bool],
    Callable[["Server", float, "ProbeAttempt"], bool],
    # `async def` probes run only with scoutlb.aio (behaviour.md, "Event loops").
    Callable[["Server", float], Awaitable[bool]],
    Callable[["Server", float, "ProbeAttempt"], Awaitable[bool]],
]
"""A callback probe: `probe(server, timeout_seconds) -> bool`; raising counts as a failed attempt
(`ServerDrainingError`: the server drains; `ServerRefusesDeviceError`: the device is refused).

With a third parameter it also gets the `ProbeAttempt`, to report its transport up and hand back
the server list it received (behaviour.md, "Attempts")."""

EventCallback = Callable[["Event"], object]
"""An events callback: `events(event)`; its return value is ignored."""

FilePath = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]
"""A file path: text, UTF-8 bytes or a path-like object."""

Servers = Union[list[str], list["Server"], list[Union[str, "Server"]], tuple[Union[str, "Server"], ...]]
"""Servers given as a list or tuple of addresses (`"host:port"`) or `Server` objects.

Not `Sequence`: a single `str` is a sequence too, and `servers="10.0.0.1"` is refused
(`ConfigTypeError`, a `TypeError`).
Any other sequence of the same items also works at run time. A list literal that mixes `str` and
`Server` needs its type named (`servers: list[str | Server] = [...]`) or a tuple: mypy joins
it to `list[object]` against this union of list types."""

Strings = Union[list[str], tuple[str, ...]]
"""A list or tuple of strings (`nameservers`, `search_domains`); a single `str` is refused."""
