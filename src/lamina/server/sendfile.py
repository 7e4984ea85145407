"""Blob bodies by one blocking sendfile(2) in a thread, the download twin of `body`.

aiohttp's `FileResponse` sends through `loop.sendfile`: a non-blocking `sendfile` that fills
the socket buffer, then an event-loop round (epoll, Python callbacks) each time the buffer
drains by a third, so a busy or descheduled worker leaves the client's receive queue empty
(measured: curl downloads of 300 MB stall on it on a loaded 2-core machine; the figures:
`python -m bench.registry_download`). Here, once the headers are out, the worker's thread
makes one blocking `sendfile` for the whole body: the kernel refills the socket as the
client reads, waking nothing in user space.

Only a plain GET of the whole blob over plain HTTP takes this path; ranges, conditional
requests, HEAD and TLS go to `FileResponse`. The connection stays usable (keep-alive): the
body is exactly Content-Length bytes and the event loop does not read or write the socket
meanwhile (reading is paused, as `loop.sendfile` does).
"""

from __future__ import annotations

import asyncio
import os
import socket
from pathlib import Path

from aiohttp import hdrs, web

from lamina.server.takeover import Idle, SocketThreads, blocking, body_timeout

SEND_THREADS = 32  # concurrent bodies in threads; beyond this, FileResponse
_CONDITIONAL = (
    hdrs.RANGE,
    hdrs.IF_MATCH,
    hdrs.IF_NONE_MATCH,
    hdrs.IF_MODIFIED_SINCE,
    hdrs.IF_UNMODIFIED_SINCE,
    hdrs.IF_RANGE,
)

_threads = SocketThreads(SEND_THREADS, "lamina-send")


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
                # The headers are not all out: asyncio's sendfile waits for them first.
                with os.fdopen(os.dup(fd), "rb") as f:
                    await asyncio.get_running_loop().sendfile(transport, f, 0, st.st_size)
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
