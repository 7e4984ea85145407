"""Listings: `/v2/`, `/v2/_catalog`, tags list and the referrers API (all with n/last)."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from lamina import media_types as mt
from lamina.digest import Digest
from lamina.errors import ErrorCode
from lamina.server.context import RegistryContext, link_header
from lamina.server.errors import RegistryHTTPError
from lamina.server.params import number

MAX_PAGE = 10_000


def _json(
    obj: object, headers: dict[str, str] | None = None, content_type: str = ""
) -> web.Response:
    return web.Response(
        body=json.dumps(obj, separators=(",", ":")).encode(),
        headers={"Content-Type": content_type or "application/json", **(headers or {})},
    )


def _page(request: web.Request) -> tuple[int | None, str]:
    n_text, last = request.query.get("n"), request.query.get("last", "")
    if n_text is None:
        return None, last
    return min(number(n_text, "query parameter n", ErrorCode.UNSUPPORTED), MAX_PAGE), last


def _paged(
    items: list[str], n: int | None, path: str, extra: dict[str, str] | None = None
) -> tuple[list[str], dict[str, str]]:
    if n is None or len(items) <= n:
        return items, {}
    items = items[:n]
    params = {**(extra or {}), "last": items[-1] if items else "", "n": str(n)}
    return items, {"Link": link_header(path, params)}


async def base(ctx: RegistryContext, request: web.Request, name: str, ref: str) -> web.Response:
    return _json({})


async def catalog(ctx: RegistryContext, request: web.Request, name: str, ref: str) -> web.Response:
    n, last = _page(request)
    repos = ctx.meta.repositories(last, None if n is None else n + 1)
    repos, headers = _paged(repos, n, "/v2/_catalog")
    return _json({"repositories": repos}, headers)


async def tags_list(
    ctx: RegistryContext, request: web.Request, name: str, ref: str
) -> web.Response:
    if ref != "list":
        raise RegistryHTTPError(404, ErrorCode.NAME_UNKNOWN, f"no such route /v2/{name}/tags/{ref}")
    if not ctx.meta.repository_exists(name):
        raise RegistryHTTPError(404, ErrorCode.NAME_UNKNOWN, f"repository {name} unknown")
    n, last = _page(request)
    tags = ctx.meta.tags(name, last, None if n is None else n + 1)
    tags, headers = _paged(tags, n, f"/v2/{name}/tags/list")
    return _json({"name": name, "tags": tags}, headers)


async def referrers(
    ctx: RegistryContext, request: web.Request, name: str, ref: str
) -> web.Response:
    """An OCI index of the manifests whose subject is `ref`, optionally by artifactType."""
    subject = Digest.parse(ref)
    wanted = request.query.get("artifactType")
    headers: dict[str, str] = {}
    manifests: list[dict[str, Any]] = []
    for r in ctx.meta.referrers(name, subject):
        if wanted is not None and r.artifact_type != wanted:
            continue
        d: dict[str, Any] = {"mediaType": r.media_type, "digest": str(r.digest), "size": r.size}
        if r.artifact_type:
            d["artifactType"] = r.artifact_type
        if r.annotations_json:
            d["annotations"] = json.loads(r.annotations_json)
        manifests.append(d)
    if wanted is not None:
        headers["OCI-Filters-Applied"] = "artifactType"
    index = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": manifests}
    return _json(index, headers, mt.OCI_INDEX)
