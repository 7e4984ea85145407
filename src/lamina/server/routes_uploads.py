"""Blob uploads: POST (session, monolithic, mount), PATCH (streamed or chunked), PUT
(complete), GET (status), DELETE (cancel) under `/v2/<name>/blobs/uploads/`."""

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
        if source is not None and _may_mount(ctx, request, source, digest):
            ctx.meta.link_blob(name, digest)
            return _created(name, digest)
    elif "digest" in request.query:
        return await _monolithic(ctx, request, name, _digest_param(request))
    upload_id = new_upload_id()
    ctx.meta.create_upload(upload_id, name, time.time())
    ctx.uploads.create(upload_id)
    return web.Response(status=202, headers=upload_headers(name, upload_id, 0))


def _may_mount(ctx: RegistryContext, request: web.Request, source: str, digest: Digest) -> bool:
    validate_repository(source)
    if not ctx.meta.is_linked(source, digest):
        return False
    try:
        ctx.access.authorize(request, [Access("repository", source, ("pull",))])
    except RegistryHTTPError:
        return False
    return vouch(ctx.blobs, digest)


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


async def _append(ctx: RegistryContext, request: web.Request, session: UploadSession) -> int:
    """Append the request body at the session's offset; returns the new committed offset."""
    expected_len: int | None = None
    content_range = request.headers.get("Content-Range")
    if content_range:
        m = _RANGE.match(content_range.strip())
        start, end = (int(m.group(1)), int(m.group(2))) if m else (-1, -1)
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
        appender = ctx.uploads.open_append(session.id, session.offset)
    else:
        appender = await loop.run_in_executor(
            None, ctx.uploads.open_append, session.id, session.offset
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
    session = ctx.session(name, upload_id)
    offset = await _append(ctx, request, session)
    return web.Response(status=202, headers=upload_headers(name, upload_id, offset))


async def finish_upload(
    ctx: RegistryContext, request: web.Request, name: str, upload_id: str
) -> web.Response:
    digest = _digest_param(request)
    session = ctx.session(name, upload_id)
    offset = await _append(ctx, request, session)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, ctx.uploads.finish, upload_id, offset, digest)
    ctx.meta.link_blob(name, digest)
    ctx.meta.delete_upload(upload_id)
    return _created(name, digest)


async def upload_status(
    ctx: RegistryContext, request: web.Request, name: str, upload_id: str
) -> web.Response:
    session = ctx.session(name, upload_id)
    return web.Response(status=204, headers=upload_headers(name, upload_id, session.offset))


async def cancel_upload(
    ctx: RegistryContext, request: web.Request, name: str, upload_id: str
) -> web.Response:
    ctx.session(name, upload_id)
    if ctx.meta.delete_upload(upload_id):
        ctx.uploads.discard(upload_id)
    return web.Response(status=204)
