"""Upload request bodies, hashed and written to a file off the event loop.

Chunks from aiohttp's request stream (its StreamReader), unjoined, go in batches of `BATCH`
bytes to worker threads that hash and write them while the next batch is read; each wait
for more is bounded by the body timeout. (Reading the socket past aiohttp's parser from a
thread measured no faster on uvloop: `python -m bench.registry_upload`, bench/README.md.)
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol

from aiohttp import web

from lamina.errors import ErrorCode
from lamina.server.errors import RegistryHTTPError

BATCH = 8 << 20
DEFAULT_BODY_TIMEOUT = 120.0  # seconds a body may move no byte when the app sets none
# app key: seconds a body (request, or a blob sent from a thread) may move no byte
BODY_TIMEOUT = web.AppKey("lamina.body_timeout", float)
CLOSE = "lamina.close"  # request key: the response must close the connection


def body_timeout(request: web.Request) -> float:
    """The app's body timeout (http.timeouts.body), DEFAULT_BODY_TIMEOUT when it sets none."""
    return request.app.get(BODY_TIMEOUT, DEFAULT_BODY_TIMEOUT)


class Sink(Protocol):
    """Where a body goes. `store` sees every byte in order, from one thread; so does
    `hash`, from one thread (maybe another); `write` does both. `hashed` is called once,
    after the last of the hashing (ok=False: it failed)."""

    def hash(self, data: bytes | memoryview) -> None: ...
    def store(self, data: bytes | memoryview) -> None: ...
    def write(self, data: bytes | memoryview) -> None: ...
    def hashed(self, ok: bool) -> None: ...


async def receive(request: web.Request, sink: Sink) -> int:
    """Feed the whole request body to `sink` (called in worker threads, one step at a time,
    in order); returns the byte count once all of it is stored and hashed. A body cut short,
    or quiet for the body timeout, raises BLOB_UPLOAD_INVALID."""
    try:
        total = await _streamed(request, sink)
    except BaseException:
        sink.hashed(False)
        raise
    sink.hashed(True)
    return total


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
    """on_response_prepare: a connection whose body was given up (`give_up`) is not
    reused (the parser still expects the rest of that body)."""
    if request.get(CLOSE):
        response.force_close()
        # The hook runs after aiohttp chose the headers, so say it too.
        response.headers["Connection"] = "close"


def bytes_in(request: web.BaseRequest) -> int:
    """Request body bytes received."""
    return request.content.total_bytes
