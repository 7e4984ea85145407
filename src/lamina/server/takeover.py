"""A connection's socket taken over by a worker thread for one body, the event loop leaving
that connection alone meanwhile: upload bodies are received this way (`lamina.server.body`)
and whole blobs sent (`lamina.server.sendfile`). `SocketThreads` runs the thread and cleans
up if the request is cancelled; `blocking` sets the socket up inside the thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from aiohttp import web

IDLE_TIMEOUT = 120.0  # default seconds a taken-over socket waits for the client (`Idle`)
SLICES = 8  # an idle client is noticed within IDLE_TIMEOUT plus one slice of it

_T = TypeVar("_T")

# app key: seconds a body (request, or a blob sent from a thread) may move no byte
BODY_TIMEOUT = web.AppKey("lamina.body_timeout", float)


def body_timeout(request: web.Request) -> float:
    """The app's body timeout (http.timeouts.body), IDLE_TIMEOUT when it sets none."""
    return request.app.get(BODY_TIMEOUT, IDLE_TIMEOUT)


class SocketThreads:
    """Threads that each take over a connection's socket (a dup, see `blocking`) for one
    body. `busy` is touched only on the event loop."""

    def __init__(self, size: int, name: str) -> None:
        self.size = size
        self.busy = 0
        self._pool = ThreadPoolExecutor(size, thread_name_prefix=name)

    def free(self) -> bool:
        return self.busy < self.size

    async def run(self, sock: socket.socket, fn: Callable[..., _T], *args: Any) -> _T:
        """`fn(*args)` in a thread. If the awaiting task is cancelled (or the await fails),
        `sock` is shut down to wake the thread, which is waited for before raising: the
        thread never outlives the request, and the connection is done."""
        self.busy += 1
        future = asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)
        try:
            return await asyncio.shield(future)
        except BaseException:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            await asyncio.wait([future])
            raise
        finally:
            self.busy -= 1


class Idle:
    """How long a taken-over socket has moved no byte. Each blocking call waits at most
    `wait` (a slice of `limit`) and may return having moved some bytes after waiting its
    whole slice (SO_RCVTIMEO/SO_SNDTIMEO bound a call, not the quiet time in it), so
    `moved` counts from a call's return: `expired` is true within `limit` plus one slice
    of the last byte (two whole timeouts, had each call waited `limit`)."""

    def __init__(self, limit: float = IDLE_TIMEOUT) -> None:
        self.limit = limit
        self.wait = limit / SLICES
        self._last = time.monotonic()

    def moved(self) -> None:
        self._last = time.monotonic()

    def expired(self) -> bool:
        return time.monotonic() - self._last >= self.limit


@contextlib.contextmanager
def blocking(sock: socket.socket, timeout_option: int, idle: Idle) -> Iterator[None]:
    """For a worker thread: `sock`, a dup of a connection's socket that the event loop
    leaves alone meanwhile, made blocking, each wait bounded by `idle.wait` through
    `timeout_option` (SO_RCVTIMEO or SO_SNDTIMEO). The flags belong to the connection's
    socket, shared with the dup, so both are restored after; `sock` is closed."""
    try:
        sock.setblocking(True)
        sock.setsockopt(socket.SOL_SOCKET, timeout_option, _timeval(idle.wait))
        yield
    finally:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, timeout_option, _timeval(0))
            sock.setblocking(False)
        sock.close()


def _timeval(seconds: float) -> bytes:
    return struct.pack("@ll", int(seconds), int(seconds % 1 * 1e6))
