"""Upload request bodies, hashed and written to a file off the event loop.

Two ways in, the same bytes out (`Sink.write` hashes and writes; the caller verifies):

- **direct**: a plain-HTTP body with a Content-Length (any Content-Encoding: bodies are
  stored as sent, see `serve`). The handler
  takes what aiohttp has buffered, pauses the transport and hands a dup of the socket to a
  thread that loops `recv_into` → `os.write` over one reused buffer, and one more that
  hashes what was written (see `_pump`). Each step releases the GIL, no Python object is
  made per chunk and the event loop stays free (measured: the event loop's recv + parser
  copy + StreamReader join, and the GIL hand-offs between it and a hashing thread, were the
  upload ceiling; a separate writing thread cost more than it overlapped; the throughput
  and server CPU: `python -m bench.registry_upload`). The HTTP parser never sees the rest
  of the body, so the connection is closed after the response (`Connection: close`);
  clients reconnect.
- **streamed**: otherwise (TLS, chunked transfer encoding, a small rest, all direct threads
  busy): chunks from aiohttp's StreamReader, unjoined, go in batches of `BATCH` bytes to a
  thread that hashes and writes them while the next batch is read.
"""

from __future__ import annotations

import asyncio
import os
import queue
import socket
import threading
from collections.abc import Callable
from typing import Protocol

from aiohttp import web

from lamina.errors import ErrorCode
from lamina.server.errors import RegistryHTTPError
from lamina.server.takeover import Idle, SocketThreads, blocking, body_timeout

BATCH = 8 << 20
BUFFER = 512 << 10  # direct path: one receive (MSG_WAITALL) fills the buffer, one write
DIRECT_MIN = 1 << 20  # a smaller rest is not worth closing the connection for
DIRECT_THREADS = 32  # concurrent direct reads; beyond this, bodies are streamed
BYTES_IN = "lamina.bytes_in"  # request key: body bytes read past aiohttp (for observe)
CLOSE = "lamina.close"  # request key: the response must close the connection

SPARE_SETS = 2  # direct path: buffers kept for the next bodies

# Reused, not allocated per body: a chunked upload is one body per chunk, and fresh buffers
# (zeroed, page-faulted in, unmapped after) per 16 MB chunk showed up in its profile.
_spare: list[bytearray] = []  # list.pop/append are atomic: no lock


_threads = SocketThreads(DIRECT_THREADS, "lamina-body")


class Sink(Protocol):
    """Where a body goes. `store` sees every byte in order, from one thread; so does the
    hashing, from one thread (maybe another): `hash` the bytes themselves, or
    `hash_stored(n)` the next n bytes that `store` has already stored. `write` does `hash`
    and `store`. `hashed` is called once, after the last of the hashing (ok=False: it
    failed), maybe from a hashing thread after `receive` has returned: every byte is
    stored by then, not necessarily hashed."""

    def hash(self, data: bytes | memoryview) -> None: ...
    def hash_stored(self, n: int) -> None: ...
    def store(self, data: bytes | memoryview) -> None: ...
    def write(self, data: bytes | memoryview) -> None: ...
    def hashed(self, ok: bool) -> None: ...


async def receive(request: web.Request, sink: Sink) -> int:
    """Feed the whole request body to `sink` (called in worker threads, one at a time, in
    order); returns the byte count once all of it is stored (see `Sink.hashed`). A body
    cut short raises BLOB_UPLOAD_INVALID."""
    sock = _direct_socket(request)
    if sock is None:
        try:
            total = await _streamed(request, sink)
        except BaseException:
            sink.hashed(False)
            raise
        sink.hashed(True)
        return total
    content = request.content
    head: list[bytes] = []
    while chunk := content.read_nowait(-1):  # may re-enter the parser: loop until dry
        head.append(chunk)
    rest = (request.content_length or 0) - content.total_bytes
    request[CLOSE] = True
    # EOF so that aiohttp does not wait to drain a body it will never see; feed_eof resumes
    # reading, so pause after it (through the protocol, whose flag keeps it paused).
    content.feed_eof()
    request.protocol.pause_reading()
    idle = Idle(body_timeout(request))
    got = await _threads.run(sock, _pump, sock, head, rest, sink, idle)
    request[BYTES_IN] = rest
    return sum(map(len, head)) + got


def _direct_socket(request: web.Request) -> socket.socket | None:
    transport = request.transport
    rest = (request.content_length or 0) - request.content.total_bytes
    if (
        not _threads.free()
        or rest < DIRECT_MIN
        or transport is None
        or request.headers.get("Transfer-Encoding")
        or transport.get_extra_info("sslcontext") is not None
        or not hasattr(transport, "pause_reading")
    ):
        return None
    raw = transport.get_extra_info("socket")
    if raw is None:
        return None
    return socket.socket(fileno=os.dup(raw.fileno()))


def _pump(sock: socket.socket, head: list[bytes], rest: int, sink: Sink, idle: Idle) -> int:
    """Worker thread: the buffered head, then exactly `rest` bytes from the socket.

    This thread receives into one reused buffer and stores it (the buffer is still in
    this core's cache when it is written), and a hashing thread hashes what was stored,
    reading it back from the file (`hash_stored`), so receiving never waits for hashing,
    the slowest stage (~1 GB/s). Both spend their time in calls that release the GIL.

    Returns once every byte is received and stored; the hashing may still be catching up,
    and says when it is done through `sink.hashed` (a PATCH's response need not wait: its
    hash is only needed by the next chunk, or by the final digest check).
    """
    try:
        buffer = _spare.pop() if rest > BUFFER else bytearray(max(rest, 1))
    except IndexError:
        buffer = bytearray(BUFFER)
    to_hash: queue.SimpleQueue[int | None] = queue.SimpleQueue()  # byte counts stored
    failed: list[BaseException] = []

    def hashing() -> None:
        ok = False
        try:
            while (n := to_hash.get()) is not None:
                sink.hash_stored(n)
            ok = True
        except BaseException as exc:
            failed.append(exc)
        finally:
            sink.hashed(ok)

    hasher = threading.Thread(target=hashing, name="lamina-hash")
    try:
        hasher.start()
    except BaseException:
        sink.hashed(False)
        raise
    view = memoryview(buffer)
    left = rest
    received = False
    # Blocking reads with MSG_WAITALL fill the buffer in one system call (one GIL release)
    # instead of one per arriving segment; SO_RCVTIMEO bounds each wait to a slice of the
    # body timeout, and `idle` tells a slow client from a silent one.
    try:
        with blocking(sock, socket.SO_RCVTIMEO, idle):
            for chunk in head:
                sink.store(chunk)
                to_hash.put(len(chunk))
            while left and not failed:
                n = 0
                want = min(len(view), left)
                while n < want:
                    try:
                        got = sock.recv_into(view[n:want], 0, socket.MSG_WAITALL)
                    except (TimeoutError, BlockingIOError):
                        if not idle.expired():
                            continue
                        why = f"nothing received for {idle.limit:g}s"
                        raise _short(rest - left + n, rest, why) from None
                    if got == 0:
                        raise _short(rest - left + n, rest, "the client closed the connection")
                    idle.moved()
                    n += got
                sink.store(view[:n])
                to_hash.put(n)
                left -= n
        received = True
    finally:
        to_hash.put(None)
        if len(buffer) == BUFFER and len(_spare) < SPARE_SETS:
            _spare.append(buffer)
        if not received or failed:
            hasher.join()
    if failed:
        raise failed[0]
    return rest


def _short(
    got: int, want: int | None, why: str, code: ErrorCode = ErrorCode.BLOB_UPLOAD_INVALID
) -> RegistryHTTPError:
    of = "" if want is None else f" of {want}"
    return RegistryHTTPError(400, code, f"request body ended after {got}{of} bytes: {why}")


def give_up(request: web.Request) -> None:
    """The body of `request` will not be read further (its client went quiet): the
    answer closes the connection at once, rather than after aiohttp's wait for the rest of
    the body (its lingering close)."""
    request[CLOSE] = True
    request.content.feed_eof()
    request.protocol.pause_reading()  # (after feed_eof: no more body for the parser)


async def read_small(request: web.Request, limit: int, what: str, code: ErrorCode) -> bytes:
    """A whole small body (a manifest, a signature): at most `limit` bytes (else 413
    SIZE_INVALID naming `what`), each wait for more bounded by the body timeout (else 400
    with `code`)."""
    declared = request.content_length
    if declared is not None and declared > limit:
        raise RegistryHTTPError(
            413, ErrorCode.SIZE_INVALID, f"{what} is {declared} bytes; the limit is {limit}"
        )
    idle = body_timeout(request)
    chunks: list[bytes] = []
    total = 0
    while True:
        try:
            async with asyncio.timeout(idle):
                chunk = await request.content.readany()
        except TimeoutError:
            give_up(request)
            raise _short(total, declared, f"nothing received for {idle:g}s", code) from None
        if not chunk:
            return b"".join(chunks)
        total += len(chunk)
        if total > limit:
            raise RegistryHTTPError(
                413, ErrorCode.SIZE_INVALID, f"{what} is larger than {limit} bytes"
            )
        chunks.append(chunk)


async def _streamed(request: web.Request, sink: Sink) -> int:
    loop = asyncio.get_running_loop()
    content = request.content
    idle = body_timeout(request)
    pending: list[asyncio.Future[None]] = []
    batch: list[bytes] = []
    size = total = 0
    try:
        while True:
            # readchunk hands over each received piece as is (readany/iter_chunked join).
            try:
                async with asyncio.timeout(idle):
                    chunk, boundary = await content.readchunk()
            except TimeoutError:
                give_up(request)
                why = f"nothing received for {idle:g}s"
                raise _short(total + size, request.content_length, why) from None
            if chunk:
                batch.append(chunk)
                size += len(chunk)
            elif not boundary or content.at_eof():  # (aiohttp's empty body says boundary)
                break
            if size >= BATCH:
                if pending:
                    await asyncio.gather(*pending)
                # Hashing and writing a batch run side by side, while the next is read.
                pending = [
                    loop.run_in_executor(None, _each, sink.hash, batch),
                    loop.run_in_executor(None, _each, sink.store, batch),
                ]
                total += size
                batch, size = [], 0
        if pending:
            await asyncio.gather(*pending)
            pending = []
        if batch:
            await loop.run_in_executor(None, _each, sink.write, batch)
            total += size
    finally:
        if pending:
            await asyncio.wait(pending)
    return total


def _each(step: Callable[[bytes], None], chunks: list[bytes]) -> None:
    for chunk in chunks:
        step(chunk)


async def close_if_taken(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: a connection whose body was read past aiohttp's parser must
    not be reused (the parser still expects that body)."""
    if request.get(CLOSE):
        response.force_close()
        # The hook runs after aiohttp chose the headers, so say it too.
        response.headers["Connection"] = "close"


def bytes_in(request: web.BaseRequest) -> int:
    """Request body bytes received, both ways."""
    extra: int = request.get(BYTES_IN, 0)
    return request.content.total_bytes + extra
