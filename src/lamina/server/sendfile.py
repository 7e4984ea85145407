"""Blob bodies by one blocking sendfile(2) in a thread: the one place the server takes a
connection's socket from aiohttp (a dup of it, the event loop leaving it alone meanwhile).

aiohttp's `FileResponse` sends through `loop.sendfile`, which uvloop lacks (it then reads
and writes the file through the event loop), and on asyncio is a non-blocking `sendfile`
that fills the socket buffer, then an event-loop round each time it drains, so a busy or
descheduled worker leaves the client's receive queue empty (the figures: bench/README.md,
`python -m bench.registry_download`). Here, once the headers are out, the worker's thread
makes one blocking `sendfile` for the whole body: the kernel refills the socket as the
client reads, waking nothing in user space. It rests on aiohttp sending the headers at
`prepare` and leaving a paused transport's socket alone: tests/server/test_blob_send.py
holds it to that, and pyproject.toml pins aiohttp's minor version.

Only a plain GET of the whole blob over plain HTTP takes this path; ranges, conditional
requests, HEAD and TLS go to `FileResponse`. The connection stays usable (keep-alive): the
body is exactly Content-Length bytes and the event loop does not read or write the socket
meanwhile (reading is paused, as `loop.sendfile` does).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import struct
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import hdrs, web

from lamina.server.body import DEFAULT_BODY_TIMEOUT, body_timeout

SEND_THREADS = 32  # concurrent bodies in threads; beyond this, FileResponse
SLICES = 8  # a client that takes nothing is noticed within the body timeout plus a slice of it
_T = TypeVar("_T")
_CONDITIONAL = (
    hdrs.RANGE,
    hdrs.IF_MATCH,
    hdrs.IF_NONE_MATCH,
    hdrs.IF_MODIFIED_SINCE,
    hdrs.IF_UNMODIFIED_SINCE,
    hdrs.IF_RANGE,
)


def eligible(request: web.Request) -> bool:
    """A whole-blob GET over plain HTTP, with a thread free for it."""
    transport = request.transport
    return (
        request.method == "GET"
        and _threads.free()
        and transport is not None
        and transport.get_extra_info("sslcontext") is None
        and transport.get_extra_info("socket") is not None
        and not any(h in request.headers for h in _CONDITIONAL)
    )


async def send_blob(
    request: web.Request, path: Path, headers: dict[str, str]
) -> web.StreamResponse | None:
    """Answer `request` (see `eligible`) with the file at `path`; None if it is gone."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        st = os.fstat(fd)
        response = web.StreamResponse(headers=headers)
        # The validators FileResponse gives the same file (a HEAD answers with them).
        response.content_length = st.st_size
        response.etag = f"{st.st_mtime_ns:x}-{st.st_size:x}"
        response.last_modified = st.st_mtime
        response.headers[hdrs.ACCEPT_RANGES] = "bytes"
        await response.prepare(request)
        transport = request.transport
        if st.st_size and transport is not None:
            raw = transport.get_extra_info("socket")
            if transport.get_write_buffer_size() or raw is None:
                # The headers are not all out: the body goes after them, through aiohttp.
                await _write_through(response, fd, st.st_size)
            else:
                sock = socket.socket(fileno=os.dup(raw.fileno()))
                reading = transport.is_reading()  # (aiohttp may have paused it itself)
                transport.pause_reading()
                try:
                    idle = Idle(body_timeout(request))
                    await _threads.run(sock, _send, sock, fd, st.st_size, idle)
                except BaseException:
                    transport.abort()
                    raise
                if reading:
                    transport.resume_reading()
        await response.write_eof()
        return response
    finally:
        os.close(fd)


async def _write_through(response: web.StreamResponse, fd: int, size: int) -> None:
    loop = asyncio.get_running_loop()
    offset = 0
    while offset < size:
        chunk = await loop.run_in_executor(None, os.pread, fd, min(1 << 20, size - offset), offset)
        if not chunk:
            raise ConnectionResetError(f"blob ended after {offset} of {size} bytes")
        await response.write(chunk)
        offset += len(chunk)


def _send(sock: socket.socket, fd: int, size: int, idle: Idle) -> None:
    """Worker thread: the whole file, blocking; a client that takes no byte for the body
    timeout is given up (`Idle`: SO_SNDTIMEO bounds each wait to a slice of it)."""
    with blocking(sock, socket.SO_SNDTIMEO, idle):
        offset = 0
        while offset < size:
            try:
                sent = os.sendfile(sock.fileno(), fd, offset, size - offset)
            except BlockingIOError as exc:  # a slice passed with nothing sent
                if not idle.expired():
                    continue
                raise ConnectionResetError(f"sent {offset} of {size} bytes: {exc}") from exc
            except OSError as exc:  # gone
                raise ConnectionResetError(f"sent {offset} of {size} bytes: {exc}") from exc
            if sent == 0:
                raise ConnectionResetError(f"blob ended after {offset} of {size} bytes")
            idle.moved()
            offset += sent


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

    def __init__(self, limit: float = DEFAULT_BODY_TIMEOUT) -> None:
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


_threads = SocketThreads(SEND_THREADS, "lamina-send")
