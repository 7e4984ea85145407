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
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

IDLE_TIMEOUT = 120.0  # seconds a taken-over socket waits for the client

_T = TypeVar("_T")


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


@contextlib.contextmanager
def blocking(sock: socket.socket, timeout_option: int) -> Iterator[None]:
    """For a worker thread: `sock`, a dup of a connection's socket that the event loop
    leaves alone meanwhile, made blocking, each wait bounded by `IDLE_TIMEOUT` through
    `timeout_option` (SO_RCVTIMEO or SO_SNDTIMEO). The flags belong to the connection's
    socket, shared with the dup, so both are restored after; `sock` is closed."""
    try:
        sock.setblocking(True)
        sock.setsockopt(socket.SOL_SOCKET, timeout_option, _timeval(IDLE_TIMEOUT))
        yield
    finally:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, timeout_option, _timeval(0))
            sock.setblocking(False)
        sock.close()


def _timeval(seconds: float) -> bytes:
    return struct.pack("@ll", int(seconds), int(seconds % 1 * 1e6))
