"""Manifests: GET/HEAD/PUT/DELETE `/v2/<name>/manifests/<tag|digest>`."""

from __future__ import annotations

import json

from aiohttp import web
from multidict import CIMultiDict

from lamina import media_types as mt
from lamina.digest import Digest
from lamina.errors import ErrorCode, InvalidInput
from lamina.oci import ImageIndex, ImageManifest, parse_any
from lamina.oci.limits import MAX_MANIFEST_SIZE
from lamina.reference import validate_tag
from lamina.server import body
from lamina.server.context import RegistryContext
from lamina.server.errors import RegistryHTTPError
from lamina.server.gc import vouch
from lamina.server.storage import ManifestRecord, ReferrerRecord


def parse_reference(ref: str, *, for_write: bool) -> Digest | str:
    """A digest if `ref` has a ':', else a tag; malformed → 400 (404 for a bad tag on read)."""
    if ":" in ref:
        return Digest.parse(ref)
    try:
        return validate_tag(ref)
    except InvalidInput as exc:
        if for_write:
            raise
        raise RegistryHTTPError(404, ErrorCode.MANIFEST_UNKNOWN, str(exc)) from None


def _unknown(name: str, ref: str) -> RegistryHTTPError:
    return RegistryHTTPError(404, ErrorCode.MANIFEST_UNKNOWN, f"{name}: manifest {ref} unknown")


def _accepted(request: web.Request) -> set[str] | None:
    """The media types in Accept (None when any type will do)."""
    values = request.headers.getall("Accept", [])
    types = {v.split(";")[0].strip() for h in values for v in h.split(",")}
    types.discard("")
    if not types or "*/*" in types or "application/*" in types:
        return None
    return types


async def get_manifest(
    ctx: RegistryContext, request: web.Request, name: str, ref: str
) -> web.Response:
    target = parse_reference(ref, for_write=False)
    if isinstance(target, Digest):
        rec = ctx.meta.get_manifest(name, target)
    else:
        rec = ctx.meta.resolve_tag(name, target)
        accepted = _accepted(request)
        if rec is not None and accepted is not None and rec.media_type not in accepted:
            raise RegistryHTTPError(
                404,
                ErrorCode.MANIFEST_UNKNOWN,
                f"{name}:{ref} is a {rec.media_type}, which the Accept header does not list",
            )
    if rec is None:
        raise _unknown(name, ref)
    headers = {
        "Docker-Content-Digest": str(rec.digest),
        "ETag": f'"{rec.digest}"',
        "Content-Type": rec.media_type,
    }
    if request.method == "HEAD":
        headers["Content-Length"] = str(len(rec.raw))
        return web.Response(status=200, headers=headers)
    return web.Response(status=200, body=rec.raw, headers=headers)


def _missing(name: str, what: str, digest: Digest) -> RegistryHTTPError:
    return RegistryHTTPError(
        400,
        ErrorCode.MANIFEST_BLOB_UNKNOWN,
        f"{name}: {what} {digest} is not in this repository; push it first",
        detail={"digest": str(digest)},
    )


def check_references(
    ctx: RegistryContext, name: str, m: ImageManifest | ImageIndex
) -> tuple[list[Digest], list[Digest]]:
    """The (blobs, child manifests) `m` references, each of which must be in repository
    `name` (non-distributable layers excepted); their files are vouched for (GC grace).
    put_manifest re-checks them inside its write transaction."""
    if isinstance(m, ImageIndex):
        children = [c.digest for c in m.manifests]
        for child in children:
            if ctx.meta.get_manifest(name, child) is None or not vouch(ctx.blobs, child):
                raise _missing(name, "manifest", child)
        return [], children
    needed: list[Digest] = []
    for i, d in enumerate(m.blobs()):
        if mt.is_non_distributable(d.media_type):
            continue
        if not (ctx.meta.is_linked(name, d.digest) and vouch(ctx.blobs, d.digest)):
            raise _missing(name, "config" if i == 0 else "layer", d.digest)
        needed.append(d.digest)
    return needed, []


def _referrer(m: ImageManifest | ImageIndex, digest: Digest) -> ReferrerRecord:
    artifact_type = m.artifact_type
    if artifact_type is None and isinstance(m, ImageManifest):
        artifact_type = m.config.media_type
    return ReferrerRecord(
        digest=digest,
        media_type=m.media_type,
        size=len(m.raw),
        artifact_type=artifact_type,
        annotations_json=json.dumps(m.annotations, sort_keys=True) if m.annotations else None,
    )


def _push_tags(request: web.Request, name: str, target: Digest | str) -> list[str]:
    """The tags a push creates: the reference if it is a tag, then each `?tag=` (in order,
    once each). A malformed one is 400 MANIFEST_INVALID naming it, before anything is stored."""
    tags = [target] if isinstance(target, str) else []
    for value in request.query.getall("tag", []):
        try:
            tag = validate_tag(value)
        except InvalidInput as exc:
            raise RegistryHTTPError(
                400, ErrorCode.MANIFEST_INVALID, f"{name}: tag parameter: {exc}"
            ) from None
        if tag not in tags:
            tags.append(tag)
    return tags


def _pushed_digest(request: web.Request, name: str, target: Digest | str, raw: bytes) -> Digest:
    """The digest the manifest is stored under: the reference if it is a digest, else
    `?digest=` (any supported algorithm), else sha256. The content must hash to it."""
    claimed = target if isinstance(target, Digest) else None
    text = request.query.get("digest")
    if text is not None:
        param = Digest.parse(text)
        if claimed is not None and param != claimed:
            raise RegistryHTTPError(
                400,
                ErrorCode.DIGEST_INVALID,
                f"{name}: digest parameter {param} differs from the reference {claimed}",
            )
        claimed = param
    if claimed is None:
        return Digest.of_bytes(raw)
    digest = Digest.of_bytes(raw, claimed.algorithm)
    if digest != claimed:
        raise RegistryHTTPError(
            400,
            ErrorCode.DIGEST_INVALID,
            f"{name}: manifest content has digest {digest}, but was pushed as {claimed}",
        )
    return digest


async def put_manifest(
    ctx: RegistryContext, request: web.Request, name: str, ref: str
) -> web.Response:
    """Store a manifest pushed by tag or digest. `?tag=` (repeatable) adds tags, answered
    as one `OCI-Tag` header each; `?digest=` on a push by tag names the digest (and so
    the algorithm) it is stored and addressed under."""
    target = parse_reference(ref, for_write=True)
    tags = _push_tags(request, name, target)
    raw = await body.read_small(request, MAX_MANIFEST_SIZE, "manifest", ErrorCode.MANIFEST_INVALID)
    content_type = request.headers.get("Content-Type", "").split(";")[0].strip()
    claimed = content_type if content_type in mt.ALL_MANIFEST_TYPES else None
    m = parse_any(raw, claimed, f"{name}:{ref}")
    digest = _pushed_digest(request, name, target, raw)
    blobs, children = check_references(ctx, name, m)
    if not (ctx.blobs.has(digest) and vouch(ctx.blobs, digest)):
        ctx.blobs.put_bytes(raw, digest)
    record = ManifestRecord(repository=name, digest=digest, media_type=m.media_type, raw=raw)
    subject = m.subject.digest if m.subject is not None else None
    missing = ctx.meta.put_manifest(
        record,
        tags,
        subject,
        _referrer(m, digest) if subject is not None else None,
        blobs=blobs,
        manifests=children,
    )
    if missing is not None:  # garbage-collected since the check above
        raise _missing(name, "manifest" if missing in children else "blob", missing)
    headers: CIMultiDict[str] = CIMultiDict(
        {"Location": f"/v2/{name}/manifests/{digest}", "Docker-Content-Digest": str(digest)}
    )
    if subject is not None:
        headers["OCI-Subject"] = str(subject)
    if "tag" in request.query:
        for tag in tags:
            headers.add("OCI-Tag", tag)
    return web.Response(status=201, headers=headers)


async def delete_manifest(
    ctx: RegistryContext, request: web.Request, name: str, ref: str
) -> web.Response:
    target = parse_reference(ref, for_write=False)
    if isinstance(target, Digest):
        found = ctx.meta.delete_manifest(name, target)
    else:
        found = ctx.meta.delete_tag(name, target)
    if not found:
        raise _unknown(name, ref)
    return web.Response(status=202)
