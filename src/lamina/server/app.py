"""The aiohttp application: one catch-all route under /v2 dispatching by a small path
grammar, so malformed names and digests get the spec's 400 errors instead of 404s."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web

from lamina.content import BlobStore
from lamina.errors import ErrorCode, LaminaError
from lamina.reference import validate_repository
from lamina.server import (
    body,
    observe,
    routes_blobs,
    routes_listing,
    routes_manifests,
    routes_signatures,
    routes_uploads,
)
from lamina.server.auth import Access, AccessController, AllowAll, HtpasswdAccess
from lamina.server.body import BODY_TIMEOUT
from lamina.server.config import ServerConfig
from lamina.server.context import API_VERSION_HEADER, CTX, RegistryContext
from lamina.server.errors import RegistryHTTPError, error_body, error_response
from lamina.server.storage import SQLiteMetadata, UploadFiles
from lamina.server.throttle import LoginThrottle
from lamina.server.token_auth import TOKEN_PATH, TokenEndpoint, make_token_auth

log = logging.getLogger("lamina.server")

Handler = Callable[[RegistryContext, web.Request, str, str], Awaitable[web.StreamResponse]]

# The name is greedy and the last segment has no '/', so a repository may itself contain a
# component called "tags", "blobs" or "manifests" (e.g. skopeo/tags).
# Matched whole (fullmatch, DOTALL): a decoded path may hold a newline ("%0A"), which the
# name and reference grammar then refuse with the spec's 400s.
_PATH = re.compile(
    r"/v2/(?P<name>.+)/(?P<kind>blobs/uploads|blobs|manifests|tags|referrers)(?:/(?P<ref>[^/]*))?",
    re.DOTALL,
)
_ROUTES: dict[tuple[str, str], Handler] = {
    ("manifests", "GET"): routes_manifests.get_manifest,
    ("manifests", "HEAD"): routes_manifests.get_manifest,
    ("manifests", "PUT"): routes_manifests.put_manifest,
    ("manifests", "DELETE"): routes_manifests.delete_manifest,
    ("blobs", "GET"): routes_blobs.get_blob,
    ("blobs", "HEAD"): routes_blobs.get_blob,
    ("blobs", "DELETE"): routes_blobs.delete_blob,
    ("uploads/", "POST"): routes_uploads.start_upload,
    ("uploads", "PATCH"): routes_uploads.patch_upload,
    ("uploads", "PUT"): routes_uploads.finish_upload,
    ("uploads", "GET"): routes_uploads.upload_status,
    ("uploads", "DELETE"): routes_uploads.cancel_upload,
    ("tags", "GET"): routes_listing.tags_list,
    ("referrers", "GET"): routes_listing.referrers,
}
_ACTIONS = {"GET": ("pull",), "HEAD": ("pull",), "DELETE": ("delete",)}
_READ = frozenset({"GET", "HEAD"})


def _not_found(request: web.Request) -> RegistryHTTPError:
    return RegistryHTTPError(404, ErrorCode.NAME_UNKNOWN, f"no route for {request.path[:200]}")


def _route(request: web.Request) -> tuple[Handler, str, str, list[Access]]:
    path, method = request.path, request.method
    if path in ("/v2", "/v2/"):
        return routes_listing.base, "", "", []
    if path == "/v2/_catalog":
        if method not in _READ:
            raise _unsupported(method, path)
        return routes_listing.catalog, "", "", [Access("registry", "catalog", ("*",))]
    m = _PATH.fullmatch(path)
    if m is None:
        raise _not_found(request)
    name, kind, ref = m.group("name"), m.group("kind"), m.group("ref")
    validate_repository(name)
    if kind == "blobs/uploads":
        kind = "uploads/" if not ref else "uploads"
        ref = ref or ""
    elif ref is None or not ref:
        raise _not_found(request)
    handler = _ROUTES.get((kind, method))
    if handler is None:
        raise _unsupported(method, path)
    actions = _ACTIONS.get(method, ("pull", "push"))
    return handler, name, ref, [Access("repository", name, actions)]


def _unsupported(method: str, path: str) -> RegistryHTTPError:
    return RegistryHTTPError(405, ErrorCode.UNSUPPORTED, f"{method} is not allowed on {path[:200]}")


async def dispatch(request: web.Request) -> web.StreamResponse:
    ctx = request.app[CTX]
    try:
        handler, name, ref, access = _route(request)
        request["lamina.user"] = ctx.access.authorize(request, access)
        if ctx.config.read_only and request.method not in _READ:
            raise RegistryHTTPError(
                405, ErrorCode.UNSUPPORTED, "this registry is read-only (storage.readonly)"
            )
        return await handler(ctx, request, name, ref)
    except LaminaError as exc:
        return error_response(exc)
    except (ConnectionResetError, asyncio.CancelledError):
        raise
    except web.HTTPException:
        raise
    except Exception:
        log.exception("internal error on %s %s", request.method, request.path)
        return web.Response(
            status=500,
            body=error_body(ErrorCode.UNSUPPORTED, "internal server error; see the server log"),
            content_type="application/json",
        )


_HTTP_CODES = {
    404: ErrorCode.NAME_UNKNOWN,
    405: ErrorCode.UNSUPPORTED,
    413: ErrorCode.SIZE_INVALID,
    429: ErrorCode.TOOMANYREQUESTS,
}


@web.middleware
async def spec_errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """aiohttp's own errors (unknown path, wrong method, body too large) as spec JSON; a
    client gone mid-request is recorded as such (`observe.client_gone`), not as a 500."""
    try:
        return await handler(request)
    except (ConnectionResetError, web.RequestPayloadError):
        return observe.client_gone(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = _HTTP_CODES.get(exc.status, ErrorCode.UNSUPPORTED)
        return web.Response(
            status=exc.status,
            body=error_body(code, exc.reason),
            content_type="application/json",
            headers={k: v for k, v in exc.headers.items() if k.lower() == "allow"},
        )


async def _add_version_header(request: web.Request, response: web.StreamResponse) -> None:
    response.headers[API_VERSION_HEADER[0]] = API_VERSION_HEADER[1]


def make_access(config: ServerConfig) -> tuple[AccessController, TokenEndpoint | None]:
    """Token auth when an access file is configured, else htpasswd Basic, else none."""
    throttle = LoginThrottle(config.throttle_attempts, config.throttle_window)
    if config.token_access is not None:
        return make_token_auth(config, throttle)
    if config.htpasswd is not None:
        return HtpasswdAccess(config.htpasswd, config.realm, throttle), None
    return AllowAll(), None


def make_context(config: ServerConfig) -> RegistryContext:
    """Open the storage under `config.storage` (blobs/, uploads/, metadata.db)."""
    blobs = BlobStore(config.storage)
    access, token_endpoint = make_access(config)
    return RegistryContext(
        config=config,
        blobs=blobs,
        meta=SQLiteMetadata(config.storage / "metadata.db"),
        uploads=UploadFiles(blobs, config.storage),
        access=access,
        token_endpoint=token_endpoint,
    )


async def token(request: web.Request) -> web.StreamResponse:
    endpoint = request.app[CTX].token_endpoint
    if endpoint is None:
        return error_response(
            RegistryHTTPError(404, ErrorCode.NAME_UNKNOWN, "token auth is not configured")
        )
    return await endpoint.handle(request)


async def _purge_loop(ctx: RegistryContext) -> None:
    while True:
        await asyncio.sleep(ctx.config.upload_purge_interval)
        try:
            removed = ctx.purge_expired_uploads()
            if removed:
                log.info("removed %d expired upload sessions", removed)
        except LaminaError as exc:
            log.warning("purging expired uploads failed: %s", exc)


def create_app(config: ServerConfig, context: RegistryContext | None = None) -> web.Application:
    """The registry as an aiohttp app. Storage opens at startup (after any fork)."""
    drain = observe.Drain()
    app = web.Application(client_max_size=4 << 20, middlewares=[drain.middleware, spec_errors])
    app[observe.DRAIN] = drain
    app[BODY_TIMEOUT] = config.body_timeout
    app.router.add_route("*", r"/v2{tail:[\s\S]*}", dispatch)  # (`.` stops at a newline)
    app.router.add_route("*", TOKEN_PATH, token)
    app.router.add_get("/healthz", observe.healthz)
    app[observe.METRICS] = observe.Metrics()
    if config.metrics:
        app.router.add_get("/metrics", observe.metrics)
    routes_signatures.install(app)
    app.on_response_prepare.append(_add_version_header)
    app.on_response_prepare.append(body.close_if_taken)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        ctx = context or make_context(config)
        app[CTX] = ctx
        if config.access_log:
            app[observe.ACCESS_LOG] = observe.AccessLog(config.access_log_path)
        ctx.blobs.clean_ingest(older_than=3600.0)
        ctx.purge_expired_uploads()
        task = asyncio.create_task(_purge_loop(ctx))
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        ctx.meta.close()
        if observe.ACCESS_LOG in app:
            app[observe.ACCESS_LOG].close()

    app.cleanup_ctx.append(lifecycle)
    return app
