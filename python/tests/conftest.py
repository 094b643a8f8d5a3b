"""Loopback servers for the tests: a small Scout Server, a refused port and a silent port."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Optional

import pytest

import scoutlb

SERVERS_PATH = "/scout/v1/servers"
REPO_ROOT = Path(__file__).resolve().parents[2]


class ScoutServer:
    """A Scout Server on 127.0.0.1 answering `GET /scout/v1/servers` with wire-format JSON (behaviour.md, "Wire format").

    `body` decides the answer: by default the list is this server alone (id "self", named in
    `self`); tests replace `listing`, `status` or `raw` to change it.
    """

    def __init__(self, port: int = 0) -> None:
        self.listing: Optional[list[dict[str, Any]]] = None
        self.self_id: Optional[str] = "self"
        self.status = 200
        self.raw: Optional[bytes] = None
        self.headers: dict[str, str] = {}
        self.device_ids: list[Optional[str]] = []
        self.hits = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the name http.server asks for
                outer.hits += 1
                outer.device_ids.append(self.headers.get(scoutlb.DEVICE_ID_HEADER))
                if self.path == SERVERS_PATH:
                    body = outer.body()
                    status = outer.status
                elif self.path == "/scout/v1/health":
                    body, status = b"ok", 200
                else:
                    body, status = b"not found", 404
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Connection", "close")
                for name, value in outer.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.httpd.daemon_threads = True
        self.port: int = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05})
        self.thread.start()

    @property
    def address(self) -> str:
        """The server's address as `host:port`."""
        return f"127.0.0.1:{self.port}"

    @property
    def server(self) -> scoutlb.Server:
        """The server as a `scoutlb.Server`."""
        return scoutlb.Server("127.0.0.1", self.port)

    def body(self) -> bytes:
        """The answer to `GET /scout/v1/servers`."""
        if self.raw is not None:
            return self.raw
        listing = self.listing
        if listing is None:
            listing = [{"host": "127.0.0.1", "port": self.port, "id": "self"}]
        doc: dict[str, Any] = {"servers": listing, "generation": 1}
        if self.self_id is not None:
            doc["self"] = self.self_id
        return json.dumps(doc).encode()

    def stop(self) -> None:
        """Stop serving and close the listening socket (the port then refuses)."""
        if self.thread.is_alive():
            self.httpd.shutdown()
            self.thread.join(timeout=10)
        self.httpd.server_close()


@pytest.fixture
def scout_server() -> Iterator[ScoutServer]:
    """One running Scout Server, stopped at the end of the test."""
    server = ScoutServer()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def make_scout_server() -> Iterator[Callable[[], ScoutServer]]:
    """A factory of Scout Servers, all stopped at the end of the test."""
    started: list[ScoutServer] = []

    def make() -> ScoutServer:
        server = ScoutServer()
        started.append(server)
        return server

    try:
        yield make
    finally:
        for server in started:
            server.stop()


@pytest.fixture
def refused_address() -> str:
    """A loopback address whose port refuses connections (bound once, then closed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"127.0.0.1:{port}"


@pytest.fixture
def silent_address() -> Iterator[str]:
    """A loopback address that listens but never accepts or answers (closed at the end)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        yield f"127.0.0.1:{s.getsockname()[1]}"


class Recorder:
    """An events callback that keeps every event."""

    def __init__(self) -> None:
        self.events: list[scoutlb.Event] = []
        self.lock = threading.Lock()

    def __call__(self, event: scoutlb.Event) -> None:
        with self.lock:
            self.events.append(event)

    def kinds(self) -> list[str]:
        """The kinds of the recorded events, in order."""
        with self.lock:
            return [e.kind for e in self.events]


@pytest.fixture
def recorder() -> Recorder:
    """A fresh events recorder."""
    return Recorder()
