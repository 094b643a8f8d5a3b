"""Exceptions a probe callable raises to say what a Scout Server says by HTTP (behaviour.md, "Probes")."""

from __future__ import annotations


class ServerDrainingError(Exception):
    """Raised by a probe callable: this server drains. The device uses another server for now and
    tries this one again after `retry_after` seconds (at most 3600; None: the default of a 503
    without Retry-After, 30 s), as after a 503 with Retry-After."""

    retry_after: float | None
    """Seconds until the server wants devices again, or None for the default."""

    def __init__(self, retry_after: float | None = None) -> None:
        super().__init__(retry_after)
        self.retry_after = None if retry_after is None else float(retry_after)

    def __str__(self) -> str:
        return "the server drains" if self.retry_after is None else f"the server drains for {self.retry_after:g} s"


class ServerRefusesDeviceError(Exception):
    """Raised by a probe callable: this server refuses this device. The call ends with
    `scoutlb.DeviceRefusedError` and no other server is tried, as after a 403 `{"refused": ...}`."""

    reason: str
    """The server's reason, as its protocol gave it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = str(reason)

    def __str__(self) -> str:
        return self.reason
