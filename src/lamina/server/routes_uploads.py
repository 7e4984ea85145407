"""Blob uploads: POST (session, monolithic, mount), PATCH (streamed or chunked), PUT
(complete), GET (status), DELETE (cancel) under `/v2/<name>/blobs/uploads/`.

A PATCH, PUT or DELETE holds its session's lock (`UploadFiles.lock`) from before it reads
the session's offset until its answer: a second request on a busy session gets 416
BLOB_UPLOAD_INVALID at once, whatever worker process it reaches."""

from __future__ import annotations

import asyncio
import re
import time
from concurrent.futures import ThreadPoolExecutor

from aiohttp import web

from lamina.digest import Digest
from lamina.errors import ErrorCode
from lamina.reference import validate_repository
from lamina.server import body
from lamina.server.auth import Access
from lamina.server.context import RegistryContext, new_upload_id, upload_headers
from lamina.server.errors import RegistryHTTPError
from lamina.server.gc import vouch
from lamina.server.params import range_bound
from lamina.server.storage import UploadSession
from lamina.server.storage.appender import Appender

_closer = ThreadPoolExecutor(1, thread_name_prefix="lamina-close")
_RANGE = re.compile(r"^(?:bytes[ =])?(\d+)-(\d+)$")


def _digest_param(request: web.Request) -> Digest:
    text = request.query.get("digest")
    if not text:
        raise RegistryHTTPError(
            400, ErrorCode.DIGEST_INVALID, "the 'digest' query parameter is required"
        )
    return Digest.parse(text)


def _created(name: str, digest: Digest) -> web.Response:
    return web.Response(
        status=201,
        headers={"Location": f"/v2/{name}/blobs/{digest}", "Docker-Content-Digest": str(digest)},
    )


async def start_upload(
    ctx: RegistryContext, request: web.Request, name: str, ref: str
) -> web.Response:
    mount = request.query.get("mount")
    if mount is not None:
        digest = Digest.parse(mount)
        source = request.query.get("from")
        if source is not None and _may_mount(ctx, request, name, source, digest):
            ctx.meta.link_blob(name, digest)
            return _created(name, digest)
    elif "digest" in request.query:
        return await _monolithic(ctx, request, name, _digest_param(request))
    upload_id = new_upload_id()
    ctx.meta.create_upload(upload_id, name, time.time())
    ctx.uploads.create(upload_id)
    return web.Response(status=202, headers=upload_headers(name, upload_id, 0))


def _may_mount(
    ctx: RegistryContext, request: web.Request, name: str, source: str, digest: Digest
) -> bool:
    """Whether `digest` can be mounted from `source`. A caller whose credentials could be
    widened to pull `source` (401: a token without that scope) is asked to, as
    Distribution does; one refused it (403) gets a plain upload, like a missing blob."""
    validate_repository(source)
    needed = [Access("repository", name, ("pull", "push")), Access("repository", source, ("pull",))]
    try:
        ctx.access.authorize(request, needed)
    except RegistryHTTPError as exc:
        if exc.status == 401:
            raise
        return False
    return ctx.meta.is_linked(source, digest) and vouch(ctx.blobs, digest)


async def _monolithic(
    ctx: RegistryContext, request: web.Request, name: str, digest: Digest
) -> web.Response:
    loop = asyncio.get_running_loop()
    appender, temp = ctx.uploads.ingest(digest.algorithm)
    try:
        await body.receive(request, appender)
    except BaseException:
        ctx.uploads.abandon(appender, temp)
        raise
    await loop.run_in_executor(None, ctx.uploads.publish, appender, temp, digest)
    ctx.meta.link_blob(name, digest)
    return _created(name, digest)


def _locked(ctx: RegistryContext, name: str, upload_id: str) -> tuple[UploadSession, int]:
    """The session, read again once its lock is held, and the lock (`UploadFiles.release`
    it). BLOB_UPLOAD_UNKNOWN (404) if it is gone; 416 if another request holds it."""
    session = ctx.session(name, upload_id)
    fd = ctx.uploads.lock(upload_id)
    if fd is None:
        raise RegistryHTTPError(
            416,
            ErrorCode.BLOB_UPLOAD_INVALID,
            f"upload {upload_id} is busy with another request: one request at a time per "
            "upload session (ask its status, then continue)",
            headers=upload_headers(name, upload_id, session.offset),
        )
    try:
        return ctx.session(name, upload_id), fd
    except BaseException:
        ctx.uploads.release(fd)
        raise


async def _append(
    ctx: RegistryContext, request: web.Request, session: UploadSession, locked: int
) -> int:
    """Append the request body at the session's offset, holding its lock (`locked`);
    returns the new committed offset."""
    expected_len: int | None = None
    content_range = request.headers.get("Content-Range")
    if content_range:
        m = _RANGE.match(content_range.strip())
        start, end = map(range_bound, m.groups()) if m else (-1, -1)
        if m is None or start != session.offset or end < start:
            raise RegistryHTTPError(
                416,
                ErrorCode.BLOB_UPLOAD_INVALID,
                f"Content-Range {content_range[:60]!r} does not continue the upload at "
                f"offset {session.offset}",
                headers=upload_headers(session.repository, session.id, session.offset),
            )
        expected_len = end - start + 1
        if request.content_length is not None and request.content_length != expected_len:
            raise RegistryHTTPError(
                416,
                ErrorCode.BLOB_UPLOAD_INVALID,
                f"Content-Range covers {expected_len} bytes but Content-Length is "
                f"{request.content_length}",
                headers=upload_headers(session.repository, session.id, session.offset),
            )
    loop = asyncio.get_running_loop()
    if ctx.uploads.hash_cached(session.id, session.offset):
        # The usual next chunk: a few system calls, no re-hash. Opening inline rather than
        # through the executor starts receiving sooner (the hop let aiohttp's parser take
        # up to megabytes of the body first, copied, then handed over).
        appender = ctx.uploads.open_append(session.id, session.offset, locked)
    else:
        appender = await loop.run_in_executor(
            None, ctx.uploads.open_append, session.id, session.offset, locked
        )
    try:
        await body.receive(request, appender)
    except BaseException:
        appender.close()
        raise
    # The chunk's tail is handed to writeback and the file closed in the background, not
    # awaited: every byte is already written (the final fsync makes them durable), and
    # without the hint the final fsync would wait for the tails of all chunks.
    _closer.submit(_close_written, appender)
    if expected_len is not None and appender.offset - session.offset != expected_len:
        raise RegistryHTTPError(
            400,
            ErrorCode.BLOB_UPLOAD_INVALID,
            f"chunk has {appender.offset - session.offset} bytes, Content-Range said "
            f"{expected_len}",
        )
    if appender.offset == session.offset:
        # Nothing appended (the usual empty PUT that completes a chunked upload): hand the
        # hash state back, or completing would re-hash the whole file.
        ctx.uploads.committed(session.id, appender)
        return session.offset
    if not ctx.meta.advance_upload(session.id, session.offset, appender.offset, time.time()):
        raise RegistryHTTPError(
            416,
            ErrorCode.BLOB_UPLOAD_INVALID,
            f"upload {session.id} was changed by a concurrent request; ask its status",
        )
    ctx.uploads.committed(session.id, appender)
    return appender.offset


def _close_written(appender: Appender) -> None:
    """Background: start writeback of the chunk's tail, then close the file once the chunk
    is hashed (the hashing reads it back: see `lamina.server.body`)."""
    try:
        appender.start_writeback()
        appender.hashing_over()
    finally:
        appender.close()


async def patch_upload(
    ctx: RegistryContext, request: web.Request, name: str, upload_id: str
) -> web.Response:
    session, locked = _locked(ctx, name, upload_id)
    try:
        offset = await _append(ctx, request, session, locked)
    finally:
        ctx.uploads.release(locked)
    return web.Response(status=202, headers=upload_headers(name, upload_id, offset))


async def finish_upload(
    ctx: RegistryContext, request: web.Request, name: str, upload_id: str
) -> web.Response:
    digest = _digest_param(request)
    session, locked = _locked(ctx, name, upload_id)
    loop = asyncio.get_running_loop()
    try:
        offset = await _append(ctx, request, session, locked)
        await loop.run_in_executor(None, ctx.uploads.verify, upload_id, locked, offset, digest)
        # Deleted before the file moves: a request waiting on the lock then finds no session.
        if not ctx.meta.delete_upload(upload_id):
            raise RegistryHTTPError(
                404, ErrorCode.BLOB_UPLOAD_UNKNOWN, f"{name}: upload {upload_id} unknown"
            )
        await loop.run_in_executor(None, ctx.uploads.store, upload_id, digest)
    finally:
        ctx.uploads.release(locked)
    ctx.meta.link_blob(name, digest)
    return _created(name, digest)


async def upload_status(
    ctx: RegistryContext, request: web.Request, name: str, upload_id: str
) -> web.Response:
    session = ctx.session(name, upload_id)
    return web.Response(status=204, headers=upload_headers(name, upload_id, session.offset))


async def cancel_upload(
    ctx: RegistryContext, request: web.Request, name: str, upload_id: str
) -> web.Response:
    _, locked = _locked(ctx, name, upload_id)
    try:
        if ctx.meta.delete_upload(upload_id):
            ctx.uploads.discard(upload_id)
    finally:
        ctx.uploads.release(locked)
    return web.Response(status=204)
