"""A fault-injecting HTTP reverse proxy for registry tests (threads, 127.0.0.1 only).

Each `Fault` matches a method and a path pattern and fires `times` times: answer with a
status (500, 429 + Retry-After), drop the connection half way through a response body,
corrupt a body byte, stall mid-body, or add a response header. Every request is logged.
"""

from __future__ import annotations

import http.client
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOP_HEADERS = frozenset({"connection", "keep-alive", "transfer-encoding", "proxy-connection"})


@dataclass
class Fault:
    method: str
    path: str  # a regular expression searched in the request path
    action: str  # "status", "drop", "corrupt", "stall", "header"
    times: int = 1
    status: int = 500
    headers: dict[str, str] = field(default_factory=dict)
    stall_seconds: float = 5.0
    fired: int = 0


@dataclass
class Logged:
    method: str
    path: str
    headers: dict[str, str]
    fault: str | None


class FaultProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.faults: list[Fault] = []
        self.log: list[Logged] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _any(self) -> None:
                try:
                    proxy.handle(self)
                except (OSError, http.client.HTTPException):
                    self.close_connection = True  # the client or upstream went away

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _any  # noqa: N815

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port: int = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> FaultProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.server.shutdown()
        self.server.server_close()

    def add(self, fault: Fault) -> Fault:
        self.faults.append(fault)
        return fault

    def _match(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for f in self.faults:
                if f.method == method and re.search(f.path, path) and f.fired < f.times:
                    f.fired += 1
                    return f
        return None

    def handle(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        if len(body) != length:
            h.close_connection = True  # the client gave up mid-body: forward nothing
            return
        fault = self._match(h.command, h.path)
        self.log.append(
            Logged(h.command, h.path, dict(h.headers.items()), fault.action if fault else None)
        )
        if fault is not None and fault.action == "status":
            h.send_response(fault.status)
            for k, v in fault.headers.items():
                h.send_header(k, v)
            h.send_header("Content-Length", "0")
            h.end_headers()
            return
        conn = http.client.HTTPConnection(self.upstream, timeout=30)
        headers = {k: v for k, v in h.headers.items() if k.lower() not in HOP_HEADERS}
        conn.request(h.command, h.path, body=body or None, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        h.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in HOP_HEADERS and k.lower() != "content-length":
                h.send_header(k, v)
        if fault is not None and fault.action == "header":
            for k, v in fault.headers.items():
                h.send_header(k, v)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        if h.command == "HEAD":
            return
        if fault is not None and fault.action == "corrupt" and data:
            data = bytes([data[0] ^ 0xFF]) + data[1:]
        if fault is not None and fault.action in ("drop", "stall"):
            h.wfile.write(data[: len(data) // 2])
            h.wfile.flush()
            if fault.action == "stall":
                self._stop.wait(fault.stall_seconds)
            h.close_connection = True
            try:
                h.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        h.wfile.write(data)


def wait_until(predicate: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(predicate) and predicate():
            return
        time.sleep(0.05)
