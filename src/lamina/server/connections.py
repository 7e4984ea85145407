"""Connections: a limit on how many are open at once, and the file descriptors it rests on.

`ConnectionLimit` is the protocol factory given to `loop.create_server`. Each accepted
connection is handed to aiohttp's server (`web.Server`, through `transport.set_protocol`)
while fewer than `limit` are open; otherwise it is answered `503` with `Retry-After` and
closed, and the log says so once per episode (not per connection). The default limit keeps
the process below its file descriptor limit, which `raise_file_limit` first lifts to the
hard limit (as Go programs do): running out of descriptors made asyncio log a traceback for
every accept it retried, and made the server unreachable.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import time
from typing import Any

from aiohttp import web

from lamina.errors import ErrorCode
from lamina.server.context import API_VERSION_HEADER
from lamina.server.errors import error_body

log = logging.getLogger("lamina.server")

RETRY_AFTER = 1  # seconds, told to a client refused at the limit
LINGER = 1.0  # a refused connection's request is read and dropped this long, then closed
FDS_PER_CONNECTION = 3  # its socket, an upload file, the hash's read-back of that file
FDS_RESERVED = 128  # the database, logs, the listening socket, sockets in worker threads
MIN_CONNECTIONS = 16
_FILE_LIMIT_CAP = 1 << 20  # when the hard limit is "unlimited"


def raise_file_limit() -> int:
    """Lift this process's soft RLIMIT_NOFILE to its hard limit; returns the soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = _FILE_LIMIT_CAP if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return _FILE_LIMIT_CAP if soft == resource.RLIM_INFINITY else soft


def accept_burst(file_limit: int) -> int:
    """Connections asyncio accepts in one go (create_server's backlog) before any of them
    is admitted or refused: descriptors held at once, so a share of the limit."""
    return max(8, min(128, file_limit // 16))


def max_lingering(file_limit: int) -> int:
    """Refused connections held open for LINGER at once; beyond, closed at once."""
    return max(4, min(64, file_limit // 16))


def default_limit(file_limit: int) -> int:
    """Connections a worker admits when `http.maxconnections` is not set: what the
    descriptors left after the reserve, an accept burst and the lingering refusals allow."""
    spare = file_limit - FDS_RESERVED - 3 * accept_burst(file_limit) - max_lingering(file_limit)
    return max(MIN_CONNECTIONS, spare // FDS_PER_CONNECTION)


def _refusal(limit: int) -> bytes:
    body = error_body(
        ErrorCode.TOOMANYREQUESTS,
        f"the registry has {limit} connections open, its limit; retry in {RETRY_AFTER}s",
    )
    head = (
        "HTTP/1.1 503 Service Unavailable\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"Retry-After: {RETRY_AFTER}\r\n"
        f"{API_VERSION_HEADER[0]}: {API_VERSION_HEADER[1]}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode() + body


class ConnectionLimit:
    """Protocol factory: aiohttp's handler for at most `limit` open connections."""

    def __init__(self, server: web.Server, limit: int, lingering: int = 64) -> None:
        self.server = server
        self.limit = limit
        self.max_lingering = lingering
        self.refused = 0  # in this episode at the limit
        self.refused_total = 0
        self.lingering = 0
        self._full = False
        self._refusal = _refusal(limit)

    def __call__(self) -> asyncio.Protocol:
        return _Admission(self)

    def admit(self, transport: asyncio.BaseTransport, admission: _Admission) -> None:
        if len(self.server.connections) < self.limit:
            if self._full:
                self._full = False
                log.info(
                    "accepting connections again (%d refused while at the limit)", self.refused
                )
                self.refused = 0
            handler = self.server()
            transport.set_protocol(handler)
            handler.connection_made(transport)
            return
        if not self._full:
            self._full = True
            log.warning(
                "connection limit reached: %d open (http.maxconnections); new connections "
                "get 503 with Retry-After: %d until some close",
                self.limit,
                RETRY_AFTER,
            )
        self.refused += 1
        self.refused_total += 1
        admission.refuse(transport, self._refusal)


class _Admission(asyncio.Protocol):
    """A new connection's first protocol: admitted (replaced by aiohttp's) or refused."""

    def __init__(self, limit: ConnectionLimit) -> None:
        self._limit = limit
        self._timer: asyncio.TimerHandle | None = None
        self._lingers = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._limit.admit(transport, self)

    def refuse(self, transport: asyncio.BaseTransport, answer: bytes) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.write(answer)
        if self._limit.lingering >= self._limit.max_lingering:
            transport.close()
            return
        # Closing with the request unread would reset the connection, and the client could
        # lose the answer: read and drop for a moment first.
        if transport.can_write_eof():
            transport.write_eof()
        self._lingers = True
        self._limit.lingering += 1
        self._timer = asyncio.get_running_loop().call_later(LINGER, transport.close)

    def data_received(self, data: bytes) -> None:
        pass  # a refused connection's request is dropped

    def eof_received(self) -> bool:
        return False  # the transport closes itself

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self._lingers:
            self._lingers = False
            self._limit.lingering -= 1


class LoopErrors:
    """The event loop's handler for errors with no caller to raise to: accept failing for
    want of file descriptors is one line (at most every `interval` seconds), not a
    traceback per retried accept; anything else goes to asyncio's default handler."""

    def __init__(self, interval: float = 10.0) -> None:
        self.interval = interval
        self._last = -interval
        self.suppressed = 0

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if context.get("message") != "socket.accept() out of system resource":
            loop.default_exception_handler(context)
            return
        now = time.monotonic()
        if now - self._last < self.interval:
            self.suppressed += 1
            return
        self._last = now
        log.error(
            "cannot accept connections: %s (%d more like it not logged); raise the file "
            "descriptor limit (ulimit -n) or lower http.maxconnections",
            exc,
            self.suppressed,
        )
        self.suppressed = 0
