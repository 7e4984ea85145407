"""Blobs: GET (with Range, via sendfile)/HEAD/DELETE `/v2/<name>/blobs/<digest>`. A plain GET
of a whole blob is sent by `lamina.server.sendfile`; the rest by aiohttp's FileResponse."""

from __future__ import annotations

from aiohttp import web

from lamina.digest import Digest
from lamina.errors import ErrorCode
from lamina.server import sendfile
from lamina.server.context import RegistryContext
from lamina.server.errors import RegistryHTTPError
from lamina.server.gc import vouch


def _unknown(name: str, digest: Digest) -> RegistryHTTPError:
    return RegistryHTTPError(404, ErrorCode.BLOB_UNKNOWN, f"{name}: blob {digest} unknown")


async def get_blob(
    ctx: RegistryContext, request: web.Request, name: str, ref: str
) -> web.StreamResponse:
    """A blob is served only through a repository that links it."""
    digest = Digest.parse(ref)
    if not ctx.meta.is_linked(name, digest):
        raise _unknown(name, digest)
    path = ctx.blobs.path(digest)
    # A HEAD is how clients decide to skip an upload: vouch for the blob (see lamina.server.gc).
    if not (vouch(ctx.blobs, digest) if request.method == "HEAD" else path.is_file()):
        raise _unknown(name, digest)
    headers = {
        "Docker-Content-Digest": str(digest),
        "Content-Type": "application/octet-stream",
        "Cache-Control": "max-age=31536000",
    }
    if sendfile.eligible(request):
        response = await sendfile.send_blob(request, path, headers)
        if response is None:
            raise _unknown(name, digest)
        return response
    return web.FileResponse(path, chunk_size=1 << 20, headers=headers)


async def delete_blob(
    ctx: RegistryContext, request: web.Request, name: str, ref: str
) -> web.Response:
    """Unlink the blob from this repository; its bytes go when garbage collection runs."""
    digest = Digest.parse(ref)
    if not ctx.meta.unlink_blob(name, digest):
        raise _unknown(name, digest)
    return web.Response(status=202, headers={"Docker-Content-Digest": str(digest)})
