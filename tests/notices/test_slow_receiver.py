"""A receiver cannot hold a worker: the whole attempt has a deadline, however slowly it
answers."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from clearinghouse.notices.delivery import notice_post


@pytest.fixture
def dripping_receiver():
    """Answers a status line, then one header byte every 0.2 s for up to 30 s: each read
    comes well inside any read timeout, the answer never ends."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    stop = threading.Event()

    def serve():
        connection, _ = server.accept()
        with connection:
            connection.recv(65536)
            try:
                connection.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
                for _ in range(150):
                    if stop.wait(0.2):
                        break
                    connection.sendall(b"a")
            except OSError:
                pass  # the client hung up: the point of the test

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}/n"
    stop.set()
    server.close()
    thread.join(timeout=5)


def test_a_receiver_that_answers_a_byte_at_a_time_is_cut_off_at_the_deadline(dripping_receiver):
    started = time.monotonic()
    outcome = notice_post(url=dripping_receiver, body=b"{}", headers={}, timeout=0.5)
    elapsed = time.monotonic() - started
    assert (outcome.delivered, outcome.code) == (False, "timeout")
    assert elapsed < 3, elapsed  # twice the timeout, not 30 s of dripping
