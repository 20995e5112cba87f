"""One HTTP attempt at a notice: POST the body, say what happened. Nothing here touches
the database; services.notice_deliver decides what the outcome means."""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import ssl
import threading
import time
from contextvars import ContextVar
from dataclasses import dataclass, field

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import NewConnectionError

from clearinghouse.notices.destinations import address_refusal

USER_AGENT = "clearinghouse-notices/1"


class DestinationRefused(NewConnectionError):
    """The connection reached an address the policy refuses; nothing was sent."""

    def __init__(self, conn, reason: str):
        super().__init__(conn, f"destination refused: {reason}")
        self.refusal = reason


@dataclass
class _Deadline:
    """The whole attempt's time limit. requests' timeouts bound each connect and each read
    of the socket, not their sum: a receiver sending its answer a byte at a time, each just
    inside the read timeout, would hold a shared worker for hours. At the deadline the
    socket is shut down, which ends any read blocked on it."""

    at: float
    expired: bool = False
    timers: list[threading.Timer] = field(default_factory=list)

    def watch(self, sock: socket.socket) -> None:
        timer = threading.Timer(max(self.at - time.monotonic(), 0.0), self._cut, args=(sock,))
        timer.daemon = True
        self.timers.append(timer)
        timer.start()

    def _cut(self, sock: socket.socket) -> None:
        self.expired = True
        with contextlib.suppress(OSError):  # already closed: the attempt ended on its own
            sock.shutdown(socket.SHUT_RDWR)

    def cancel(self) -> None:
        for timer in self.timers:
            timer.cancel()


_deadline: ContextVar[_Deadline | None] = ContextVar("notice_deadline", default=None)


def _checked(connection, scheme: str, sock):
    # Checked on the socket, after DNS and connect, before a byte is sent: what counts is
    # the address reached, whatever the name resolved to when it was registered.
    peer = sock.getpeername()[0]
    reason = address_refusal(ipaddress.ip_address(peer.split("%", 1)[0]), scheme=scheme)
    if reason is not None:
        sock.close()
        raise DestinationRefused(connection, reason)
    deadline = _deadline.get()
    if deadline is not None:
        deadline.watch(sock)
    return sock


class _CheckedHTTPConnection(HTTPConnection):
    def _new_conn(self):
        return _checked(self, "http", super()._new_conn())


class _CheckedHTTPSConnection(HTTPSConnection):
    def _new_conn(self):
        return _checked(self, "https", super()._new_conn())


class _CheckedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _CheckedHTTPConnection


class _CheckedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _CheckedHTTPSConnection


class _CheckedAdapter(HTTPAdapter):
    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _CheckedHTTPPool, "https": _CheckedHTTPSPool}


@dataclass(frozen=True)
class Outcome:
    delivered: bool
    code: str  # "http_200", "http_500", "connection_refused", "timeout", "loopback_address", ...
    status: int | None = None


def _chain(exc: BaseException):
    """Every exception behind ``exc`` (requests and urllib3 wrap the socket's error twice)."""
    seen: set[int] = set()
    pending: list[object] = [exc]
    while pending:
        item = pending.pop()
        if not isinstance(item, BaseException) or id(item) in seen:
            continue
        seen.add(id(item))
        yield item
        pending.extend([item.__cause__, item.__context__, getattr(item, "reason", None), *item.args])


def _connection_failure(exc: BaseException) -> str:
    causes = list(_chain(exc))
    for cause in causes:
        if isinstance(cause, DestinationRefused):
            return cause.refusal
    for kind, code in ((ConnectionRefusedError, "connection_refused"), (socket.gaierror, "name_not_resolved"), (ssl.SSLError, "tls_error")):
        if any(isinstance(cause, kind) for cause in causes):
            return code
    return "connection_error"


def notice_post(*, url: str, body: bytes, headers: dict[str, str], timeout: float) -> Outcome:
    """POST once. Only a 2xx answer is a delivery; redirects are not followed (the receiver
    registered this URL), proxies from the environment are not used, and the answer's body
    is not read. The whole attempt takes at most twice ``timeout``."""
    deadline = _Deadline(at=time.monotonic() + 2 * timeout)
    token = _deadline.set(deadline)
    try:
        outcome = _post(url=url, body=body, headers=headers, timeout=timeout)
    finally:
        deadline.cancel()
        _deadline.reset(token)
    # Cut off, even an answer that parses as 2xx is not one: its headers ended at the cut.
    return Outcome(False, "timeout") if deadline.expired else outcome


def _post(*, url: str, body: bytes, headers: dict[str, str], timeout: float) -> Outcome:
    session = requests.Session()
    session.trust_env = False
    adapter = _CheckedAdapter(max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    try:
        with session.post(
            url,
            data=body,
            headers={"Content-Type": "application/json", "User-Agent": USER_AGENT, **headers},
            timeout=(timeout, timeout),
            allow_redirects=False,
            stream=True,
        ) as response:
            status = response.status_code
    except requests.Timeout:
        return Outcome(False, "timeout")
    except requests.ConnectionError as exc:
        return Outcome(False, _connection_failure(exc))
    except requests.RequestException:
        return Outcome(False, "request_error")
    finally:
        session.close()
    return Outcome(200 <= status < 300, f"http_{status}", status)
