"""Notices are tested against a real HTTP server on an ephemeral port, in a thread of the
test process, and verified with the Python client's own module."""

from __future__ import annotations

import http.server
import importlib.util
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.releases.conftest import FORECAST, PRODUCT, World, world  # noqa: F401 - the fixture, for this package

ROOT = Path(__file__).resolve().parents[2]


def client_notices():
    """clients/python/clearinghouse_client/notices.py, loaded from this checkout."""
    name = "clearinghouse_client_notices_under_test"
    spec = importlib.util.spec_from_file_location(name, ROOT / "clients" / "python" / "clearinghouse_client" / "notices.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A manufacturer's endpoint: answers with the scripted statuses in turn (the last one
    from then on) and keeps every request it got."""

    url: str
    statuses: list[int]
    received: list[Received] = field(default_factory=list)


@pytest.fixture
def receiver():
    state = Receiver(url="", statuses=[204])

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            state.received.append(Received(path=self.path, headers=dict(self.headers.items()), body=body))
            code = state.statuses.pop(0) if len(state.statuses) > 1 else state.statuses[0]
            self.send_response(code)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    # shutdown() waits for the loop's next poll: a short interval, not the default half second per test.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/clearinghouse"
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def dead_url() -> str:
    """A loopback port nobody listens on: every connection is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/hooks/clearinghouse"
