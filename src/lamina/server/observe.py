"""Operations: `/healthz`, Prometheus `/metrics` and the JSON-lines access log.

Both the metrics and the access log are fed by one aiohttp access logger, which aiohttp
calls after a response has been sent, so byte counts include sendfile bodies and durations
cover the whole exchange. Metrics are per worker process (Prometheus sums the series of
several scrapes; with `--workers N` a scrape reaches one worker, say so in dashboards).
The exposition text is written by hand: a few counters and one histogram do not need a
library.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import logging
import os
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.http import HttpProcessingError

from lamina.content import BlobStore
from lamina.errors import ErrorCode
from lamina.server.body import bytes_in
from lamina.server.context import CTX
from lamina.server.errors import error_body

_BUCKETS = (0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0)
_KINDS = ("manifests", "blobs/uploads", "blobs", "tags", "referrers")
USAGE_TTL = 30.0
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def route_of(path: str) -> str:
    """A low-cardinality route label (never a repository name)."""
    if path in ("/v2", "/v2/"):
        return "base"
    if path == "/v2/_catalog":
        return "catalog"
    if path.startswith("/v2/"):
        for kind in _KINDS:
            if f"/{kind}/" in path or path.endswith(f"/{kind}"):
                return "uploads" if kind == "blobs/uploads" else kind
        return "other"
    if path in ("/token", "/healthz", "/metrics"):
        return path[1:]
    return "other"


class Metrics:
    """Counters of one worker process."""

    def __init__(self) -> None:
        self.requests: Counter[tuple[str, str, int]] = Counter()
        self.bytes_in: Counter[str] = Counter()
        self.bytes_out: Counter[str] = Counter()
        self.upload_buckets = [0] * (len(_BUCKETS) + 1)
        self.upload_sum = 0.0
        self.upload_count = 0
        self.started = time.time()
        self.refused_connections = 0  # answered 503 at the connection limit
        self.open_connections: Callable[[], int] = lambda: 0  # set by `serve`
        self._usage: tuple[float, int, int] = (0.0, 0, 0)

    def count_refused(self) -> None:
        self.refused_connections += 1

    def observe(self, request: web.BaseRequest, response: web.StreamResponse, secs: float) -> None:
        route = route_of(request.path)
        self.requests[(route, request.method, response.status)] += 1
        self.bytes_in[route] += bytes_in(request)
        self.bytes_out[route] += sent_bytes(request, response)
        carries_data = request.method in ("PATCH", "PUT") or "digest" in request.query
        if route == "uploads" and carries_data:
            for i, bound in enumerate(_BUCKETS):
                if secs <= bound:
                    self.upload_buckets[i] += 1
                    break
            else:
                self.upload_buckets[-1] += 1
            self.upload_sum += secs
            self.upload_count += 1

    async def storage_usage(self, blobs: BlobStore) -> tuple[int, int]:
        """(blob files, bytes), recomputed at most every USAGE_TTL seconds."""
        when, files, size = self._usage
        if time.monotonic() - when > USAGE_TTL or when == 0.0:
            files, size = await asyncio.get_running_loop().run_in_executor(
                None, _walk, blobs.blobs_dir
            )
            self._usage = (time.monotonic(), files, size)
        return files, size

    def exposition(self, files: int, size: int) -> str:
        out: list[str] = []

        def head(name: str, kind: str, text: str) -> None:
            out.append(f"# HELP {name} {text}")
            out.append(f"# TYPE {name} {kind}")

        head(
            "lamina_registry_requests_total",
            "counter",
            "HTTP requests by route, method and status.",
        )
        for (route, method, status), n in sorted(self.requests.items()):
            out.append(
                f'lamina_registry_requests_total{{route="{route}",method="{method}",'
                f'status="{status}"}} {n}'
            )
        for name, counter, text in (
            ("lamina_registry_received_bytes_total", self.bytes_in, "Request body bytes."),
            ("lamina_registry_sent_bytes_total", self.bytes_out, "Response body bytes."),
        ):
            head(name, "counter", text)
            for route, n in sorted(counter.items()):
                out.append(f'{name}{{route="{route}"}} {n}')
        name = "lamina_registry_upload_duration_seconds"
        head(
            name,
            "histogram",
            "Duration of upload requests carrying data (PATCH, PUT, POST ?digest=).",
        )
        running = 0
        for bound, n in zip((*_BUCKETS, float("inf")), self.upload_buckets, strict=True):
            running += n
            le = "+Inf" if bound == float("inf") else repr(bound)
            out.append(f'{name}_bucket{{le="{le}"}} {running}')
        out.append(f"{name}_sum {self.upload_sum}")
        out.append(f"{name}_count {self.upload_count}")
        head("lamina_registry_storage_blobs", "gauge", "Blob files in storage.")
        out.append(f"lamina_registry_storage_blobs {files}")
        head("lamina_registry_storage_bytes", "gauge", "Bytes of blob files in storage.")
        out.append(f"lamina_registry_storage_bytes {size}")
        head("lamina_registry_connections", "gauge", "Open connections (this worker).")
        out.append(f"lamina_registry_connections {self.open_connections()}")
        name = "lamina_registry_connections_refused_total"
        head(name, "counter", "Connections answered 503 at http.maxconnections.")
        out.append(f"{name} {self.refused_connections}")
        head("lamina_registry_start_time_seconds", "gauge", "When this worker started.")
        out.append(f"lamina_registry_start_time_seconds {self.started}")
        return "\n".join(out) + "\n"


def sent_bytes(request: web.BaseRequest, response: web.StreamResponse) -> int:
    """Body bytes sent (sendfile bodies are not seen by the writer's counter)."""
    if request.method == "HEAD" or response.status in (204, 304):
        return 0
    if response.content_length is not None:
        return response.content_length
    return response.body_length


def _walk(root: Path) -> tuple[int, int]:
    files = size = 0
    for algorithm in os.scandir(root):
        if not algorithm.is_dir():
            continue
        for entry in os.scandir(algorithm.path):
            try:
                size += entry.stat().st_size
                files += 1
            except FileNotFoundError:
                continue
    return files, size


METRICS = web.AppKey("lamina.metrics", Metrics)
CLIENT_GONE = 499  # nginx's "client closed request": recorded, never sent


def client_gone(request: web.BaseRequest) -> web.Response:
    """The answer to a request whose client went away (or cut its body short): 400 if the
    connection can still carry it, else CLIENT_GONE, which only the logs and metrics see."""
    transport = request.transport
    if transport is None or transport.is_closing():
        return web.Response(status=CLIENT_GONE)
    return web.Response(
        status=400,
        body=error_body(ErrorCode.BLOB_UPLOAD_INVALID, "the request body ended early"),
        content_type="application/json",
    )


class _OneLine(logging.Filter):
    """aiohttp's report of a request it could not parse (or of a client gone) as one line,
    not a traceback: it is the client's error. Anything else passes unchanged."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError | ConnectionError):
            text = " ".join(str(exc).split())[:300]
            record.msg = f"bad request: {record.getMessage()}: {text}"
            record.args = None
            record.exc_info = None
            record.exc_text = None
        return True


def http_logger() -> logging.Logger:
    """The logger for aiohttp's request handler (`logger=`), with `_OneLine`."""
    logger = logging.getLogger("lamina.server.http")
    if not any(isinstance(f, _OneLine) for f in logger.filters):
        logger.addFilter(_OneLine())
    return logger


class AccessLog:
    """JSON lines, one per request, to a file (appended; one write per line) or stderr."""

    def __init__(self, path: Path | None) -> None:
        # One os.write per line on an O_APPEND descriptor: whole lines, in any order, even
        # when requests finish on several threads (a blob sent by a sendfile thread).
        self._fd = (
            2 if path is None else os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        )

    def write(self, request: web.BaseRequest, response: web.StreamResponse, secs: float) -> None:
        entry = {
            "time": datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds"),
            "remote": request.remote,
            "method": request.method,
            "path": request.path,
            "route": route_of(request.path),
            "status": response.status,
            "bytes_in": bytes_in(request),
            "bytes_out": sent_bytes(request, response),
            "duration_ms": round(secs * 1000, 3),
            "user": request.get("lamina.user"),
            "user_agent": request.headers.get("User-Agent"),
        }
        line = json.dumps(entry, separators=(",", ":")).encode() + b"\n"
        os.write(self._fd, line)

    def close(self) -> None:
        if self._fd != 2:
            os.close(self._fd)
            self._fd = 2


ACCESS_LOG = web.AppKey("lamina.access_log", AccessLog)


def observer_for(app: web.Application) -> type[AbstractAccessLogger]:
    """aiohttp's access-logger hook for `app`, feeding its Metrics and AccessLog. Bound to
    the app (not found through the request) because a request aiohttp could not parse has
    no app to reach."""

    class Observer(AbstractAccessLogger):
        def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
            metrics = app.get(METRICS)
            if metrics is not None:
                metrics.observe(request, response, time)
            log = app.get(ACCESS_LOG)
            if log is not None:
                log.write(request, response, time)

    return Observer


class Drain:
    """In-flight request count, for a graceful stop that lets uploads finish.

    aiohttp's own shutdown stops reading from connections at once (data_received drops
    bytes once a connection is closing), so an upload whose body is still arriving could
    never complete; instead `serve` stops listening, waits here until no request is in a
    handler (or the timeout passes), and only then lets aiohttp close connections.
    """

    def __init__(self) -> None:
        self.active = 0
        self.draining = False
        self._idle = asyncio.Event()
        self._idle.set()

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        self.active += 1
        self._idle.clear()
        try:
            response = await handler(request)
            if self.draining:
                response.force_close()
            return response
        finally:
            self.active -= 1
            if self.active == 0:
                self._idle.set()

    async def wait_idle(self, timeout: float) -> bool:
        """Mark draining and wait for in-flight requests; False on timeout."""
        self.draining = True
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True


DRAIN = web.AppKey("lamina.drain", Drain)


async def healthz(request: web.Request) -> web.Response:
    """200 when the metadata store answers and the blob directory exists, else 503."""
    ctx = request.app[CTX]
    try:
        ctx.meta.repositories(limit=1)
        ok = ctx.blobs.blobs_dir.is_dir()
    except Exception as exc:  # any failure is "unhealthy", reported, never a 500
        return web.json_response({"status": "unhealthy", "error": str(exc)[:200]}, status=503)
    if not ok:
        return web.json_response({"status": "unhealthy", "error": "no blob directory"}, status=503)
    return web.json_response({"status": "ok"})


async def metrics(request: web.Request) -> web.Response:
    m = request.app[METRICS]
    files, size = await m.storage_usage(request.app[CTX].blobs)
    return web.Response(
        body=m.exposition(files, size).encode(),
        headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"},
    )
