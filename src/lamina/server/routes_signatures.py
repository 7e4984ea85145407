"""The registry signature extension: `GET/PUT /extensions/v2/<name>/signatures/<digest>`.

Advertised by `X-Registry-Supports-Signatures: 1` on `GET /v2/`, which makes podman, skopeo
and lamina read and write simple signatures here instead of lookaside storage. The JSON is
containers/image's: a list `{"signatures":[{"schemaVersion":2,"name":"<digest>@<unique>",
"type":"atomic","content":B64}]}` on GET; one such object per PUT (201). GET answers an
empty list for a manifest with no signatures, and 404 MANIFEST_UNKNOWN for a manifest the
repository does not hold. Signatures are never deleted through the API.

Storage: one file per signature under `<storage>/signatures/<name>/<algo>/<hex>/`, named
`<ns-time>-<sha256(name)>` and written by rename, so many workers can share the directory;
each file holds the object as it was PUT (after validation).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Any

from aiohttp import web

from lamina.digest import Digest
from lamina.errors import ErrorCode, InvalidInput, LaminaError
from lamina.reference import validate_repository
from lamina.server.auth import Access
from lamina.server.body import read_small
from lamina.server.context import CTX, RegistryContext
from lamina.server.errors import RegistryHTTPError, error_response

HEADER = ("X-Registry-Supports-Signatures", "1")
PREFIX = "/extensions/v2/"
MAX_SIGNATURE_BODY = 4 << 20
MAX_SIGNATURES = 256
_PATH = re.compile(r"/extensions/v2/(?P<name>.+)/signatures/(?P<digest>[^/]+)", re.DOTALL)


def install(app: web.Application) -> None:
    """Add the extension's route and advertise it on `GET /v2/`."""
    app.router.add_route("*", PREFIX + r"{tail:[\s\S]*}", handle)  # (`.` stops at a newline)
    app.on_response_prepare.append(_advertise)


async def _advertise(request: web.Request, response: web.StreamResponse) -> None:
    if request.path in ("/v2", "/v2/"):
        response.headers[HEADER[0]] = HEADER[1]


def _directory(ctx: RegistryContext, name: str, digest: Digest) -> Path:
    return Path(ctx.config.storage) / "signatures" / name / digest.algorithm / digest.hex


def _read_all(directory: Path) -> list[dict[str, Any]]:
    if not directory.is_dir():
        return []
    out = []
    for entry in sorted(os.listdir(directory)):
        if entry.startswith("."):
            continue
        try:
            out.append(json.loads((directory / entry).read_bytes()))
        except (OSError, ValueError):
            continue  # a file removed under us, or damaged: not a signature
    return out


def _validate(raw: bytes, digest: Digest) -> dict[str, Any]:
    try:
        doc = json.loads(raw)
    except ValueError:
        raise RegistryHTTPError(400, ErrorCode.MANIFEST_INVALID, "signature is not JSON") from None
    if not isinstance(doc, dict):
        raise RegistryHTTPError(400, ErrorCode.MANIFEST_INVALID, "signature must be an object")
    version, name, kind, content = (
        doc.get("schemaVersion"),
        doc.get("name"),
        doc.get("type"),
        doc.get("content"),
    )
    if version != 2 or kind != "atomic":
        raise RegistryHTTPError(
            400, ErrorCode.MANIFEST_INVALID, "only schemaVersion 2, type atomic is supported"
        )
    if not isinstance(name, str) or not name.startswith(f"{digest}@") or len(name) > 512:
        raise RegistryHTTPError(
            400, ErrorCode.MANIFEST_INVALID, f"signature name must be {digest}@<unique name>"
        )
    if not isinstance(content, str):
        raise RegistryHTTPError(400, ErrorCode.MANIFEST_INVALID, "content must be base64")
    try:
        if not base64.b64decode(content, validate=True):
            raise ValueError
    except (binascii.Error, ValueError):
        raise RegistryHTTPError(
            400, ErrorCode.MANIFEST_INVALID, "content must be non-empty base64"
        ) from None
    return {"schemaVersion": 2, "name": name, "type": "atomic", "content": content}


def _write(directory: Path, doc: dict[str, Any]) -> None:
    existing = _read_all(directory)
    if any(e.get("name") == doc["name"] for e in existing):
        raise RegistryHTTPError(
            409, ErrorCode.DENIED, f"a signature named {doc['name']} already exists"
        )
    if len(existing) >= MAX_SIGNATURES:
        raise RegistryHTTPError(
            400, ErrorCode.DENIED, f"this manifest already has {MAX_SIGNATURES} signatures"
        )
    directory.mkdir(parents=True, exist_ok=True)
    file_name = f"{time.time_ns():020d}-{hashlib.sha256(doc['name'].encode()).hexdigest()}"
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".sig-")
    with os.fdopen(fd, "wb") as f:
        f.write(json.dumps(doc).encode())
    os.replace(tmp, directory / file_name)


async def handle(request: web.Request) -> web.StreamResponse:
    ctx = request.app[CTX]
    try:
        m = _PATH.fullmatch(request.path)
        if m is None:
            raise RegistryHTTPError(
                404, ErrorCode.NAME_UNKNOWN, f"no route for {request.path[:200]}"
            )
        name = m.group("name")
        validate_repository(name)
        try:
            digest = Digest.parse(m.group("digest"))
        except InvalidInput as exc:
            raise RegistryHTTPError(400, ErrorCode.DIGEST_INVALID, exc.message) from None
        if request.method == "GET":
            actions: tuple[str, ...] = ("pull",)
        elif request.method == "PUT":
            actions = ("pull", "push")
        else:
            raise RegistryHTTPError(
                405, ErrorCode.UNSUPPORTED, f"{request.method} is not allowed here"
            )
        ctx.access.authorize(request, [Access("repository", name, actions)])
        if request.method == "PUT" and ctx.config.read_only:
            raise RegistryHTTPError(405, ErrorCode.UNSUPPORTED, "this registry is read-only")
        if ctx.meta.get_manifest(name, digest) is None:
            raise RegistryHTTPError(
                404, ErrorCode.MANIFEST_UNKNOWN, f"{name}: manifest {digest} unknown"
            )
        directory = _directory(ctx, name, digest)
        if request.method == "GET":
            body = json.dumps({"signatures": _read_all(directory)}).encode()
            return web.Response(status=200, body=body, content_type="application/json")
        raw = await read_small(request, MAX_SIGNATURE_BODY, "signature", ErrorCode.INVALID_INPUT)
        _write(directory, _validate(raw, digest))
        return web.Response(status=201)
    except LaminaError as exc:
        return error_response(exc)
