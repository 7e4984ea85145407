"""A tiny counting HTTP proxy in front of a registry: every request is recorded (method,
path) and forwarded unchanged, so a test can see exactly what a client fetched."""

from __future__ import annotations

import http.client
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOP = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "proxy-connection",
    "proxy-authorization",
    "upgrade",
    "te",
}


def forward(
    handler: BaseHTTPRequestHandler, netloc: str, path: str, *, host: str | None = None
) -> None:
    """Send `handler`'s request (method, end-to-end headers, body) to `netloc` as `path`,
    `Host: host` when given, and relay the answer back whole."""
    length = int(handler.headers.get("Content-Length") or 0)
    body = handler.rfile.read(length) if length else None
    headers: dict[str, str] = {}
    for k, v in handler.headers.items():
        if k.lower() not in HOP:  # repeated fields (Go sends several Accept) joined
            headers[k] = f"{headers[k]}, {v}" if k in headers else v
    if host is not None:
        headers["Host"] = host
    conn = http.client.HTTPConnection(netloc, timeout=60)
    try:
        conn.request(handler.command, path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        handler.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in HOP and k.lower() != "content-length":
                handler.send_header(k, v)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        if handler.command != "HEAD":
            handler.wfile.write(data)
    finally:
        conn.close()


class CountingProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.requests: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                return

            def _forward(self) -> None:
                with proxy._lock:
                    proxy.requests.append((self.command, self.path))
                forward(self, proxy.upstream, self.path, host=proxy.upstream)

            do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _forward  # noqa: N815

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host = f"127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def blob_requests(self) -> list[tuple[str, str]]:
        with self._lock:
            return [r for r in self.requests if "/blobs/" in r[1]]

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
