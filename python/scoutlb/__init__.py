"""scoutlb: which management server a device agent talks to.

A fleet of devices is managed by a cluster of Scout Servers sharing one database; every server
hands out the list of all running servers. A device tries its default server (the last one that
worked), then the next servers of the list, optionally after a preferred ManagerLoadBalancer
address evaluated afresh on every restart.

    import scoutlb
    with scoutlb.Client(servers=["10.0.0.11", "10.0.0.12"], state_file="/var/lib/agent/scoutlb.json") as client:
        connected = client.connect()
        print("talking to", connected.server)

Logs go to the `logging` logger ``scoutlb`` (attempts and list updates at DEBUG, successes at INFO,
failed attempts and state-file problems at WARNING). Every blocking call releases the GIL.
"""

import logging as _logging

from scoutlb._native import (
    CONFIG_KEYS,
    DEFAULT_PORT,
    DEVICE_ID_HEADER,
    MAX_ENTRIES,
    AllServersFailedError,
    CancelledError,
    Attempt,
    DeviceRefusedError,
    Client,
    ConfigError,
    ConfigTypeError,
    Connected,
    RebalancePlan,
    DnsError,
    Error,
    Event,
    InvalidServerError,
    ProbeAttempt,
    Server,
    ServerListError,
    StateFileError,
    StateFormatError,
    UnknownServerError,
    UnsupportedError,
    __version__,
    failover_order,
)
from scoutlb._steer import ServerDrainingError, ServerRefusesDeviceError
from scoutlb._types import EventCallback, FilePath, ProbeCallback, RebalanceConfig, RetryConfig, Servers, Strings

# A library adds no handler of its own but keeps Python's last-resort handler from printing its warnings.
_logging.getLogger("scoutlb").addHandler(_logging.NullHandler())

__all__ = [
    "CONFIG_KEYS",
    "DEFAULT_PORT",
    "DEVICE_ID_HEADER",
    "MAX_ENTRIES",
    "AllServersFailedError",
    "CancelledError",
    "DeviceRefusedError",
    "Attempt",
    "Client",
    "ConfigError",
    "ConfigTypeError",
    "Connected",
    "RebalancePlan",
    "DnsError",
    "Error",
    "Event",
    "EventCallback",
    "FilePath",
    "InvalidServerError",
    "ProbeAttempt",
    "ProbeCallback",
    "RebalanceConfig",
    "RetryConfig",
    "Server",
    "ServerDrainingError",
    "ServerListError",
    "ServerRefusesDeviceError",
    "Servers",
    "StateFileError",
    "StateFormatError",
    "Strings",
    "UnknownServerError",
    "UnsupportedError",
    "__version__",
    "failover_order",
]
