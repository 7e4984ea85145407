"""Connections: a limit on how many are open at once, and the file descriptors it rests on.

`ConnectionLimit` is the protocol factory given to `loop.create_server`. Each accepted
connection is handed to aiohttp's server (`web.Server`, through `transport.set_protocol`)
while fewer than `limit` are open (counting those still in their TLS handshake); otherwise
it is answered `503` with `Retry-After` (after the handshake, so a client can read it) and
closed, and the log says so at most once a minute (not per connection). The default limit keeps
the process below its file descriptor limit, which `raise_file_limit` first lifts to the
hard limit (as Go programs do): running out of descriptors made asyncio log a traceback for
every accept it retried, and made the server unreachable.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import time
import weakref
from collections.abc import Callable
from typing import Any, cast

from aiohttp import web

from lamina.errors import ErrorCode
from lamina.server.context import API_VERSION_HEADER
from lamina.server.errors import error_body

log = logging.getLogger("lamina.server")

RETRY_AFTER = 1  # seconds, told to a client refused at the limit
REPORT_EVERY = 60.0  # seconds between log lines while connections are refused
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
    """Protocol factory: aiohttp's handler for at most `limit` open connections, counting
    those in their TLS handshake. Given to `loop.create_server` with the server's
    `ssl` context, the loop does the handshake; the factory is called at accept and the
    protocol's `connection_made` after the handshake, so a connection is counted from its
    accept and a refusal is readable over TLS."""

    def __init__(
        self,
        server: web.Server,
        limit: int,
        *,
        lingering: int = 64,
        on_refuse: Callable[[], None] = lambda: None,
    ) -> None:
        self.server = server
        self.on_refuse = on_refuse
        self.limit = limit
        self.max_lingering = lingering
        self.lingering = 0
        self.refused_total = 0
        self._unreported = 0
        self._reported = -REPORT_EVERY
        self._refusal = _refusal(limit)
        # accepted, not yet made (in their TLS handshake); one that fails its handshake is
        # dropped by the loop, and so from here
        self._pending: weakref.WeakSet[_Admission] = weakref.WeakSet()

    @property
    def handshaking(self) -> int:
        return len(self._pending)

    def __call__(self) -> asyncio.Protocol:
        admission = _Admission(self)
        self._pending.add(admission)
        return admission

    def arrived(self, transport: asyncio.BaseTransport, admission: _Admission) -> None:
        self._pending.discard(admission)
        self.admit(transport, admission)

    def admit(self, transport: asyncio.BaseTransport, admission: _Admission) -> None:
        if len(self.server.connections) + self.handshaking < self.limit:
            handler = self.server()
            transport.set_protocol(handler)
            handler.connection_made(transport)
            admission.hand_over(handler)
            return
        self.refused_total += 1
        self.on_refuse()
        now = time.monotonic()
        if now - self._reported < REPORT_EVERY:
            self._unreported += 1
        else:
            more = f" ({self._unreported} more refused since the last report)"
            log.warning(
                "connection limit reached: %d open (http.maxconnections); new connections "
                "get 503 with Retry-After: %d%s",
                self.limit,
                RETRY_AFTER,
                more if self._unreported else "",
            )
            self._reported, self._unreported = now, 0
        admission.refuse(transport, self._refusal)


class _Admission(asyncio.Protocol):
    """A new connection's first protocol: admitted (replaced by aiohttp's) or refused.
    Bytes that arrive before that (a request right after the TLS handshake) are kept for
    aiohttp's handler, or dropped with a refused connection."""

    def __init__(self, limit: ConnectionLimit) -> None:
        self._limit = limit
        self._timer: asyncio.TimerHandle | None = None
        self._lingers = False
        self._refused = False
        self._early: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._limit.arrived(transport, self)

    def hand_over(self, handler: asyncio.Protocol) -> None:
        early, self._early = self._early, []
        for data in early:
            handler.data_received(data)

    def refuse(self, transport: asyncio.BaseTransport, answer: bytes) -> None:
        transport = cast(asyncio.Transport, transport)  # (uvloop's are not instances of it)
        self._refused, self._early = True, []
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
        if not self._refused:
            self._early.append(data)

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
