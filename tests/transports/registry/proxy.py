"""A small HTTP proxy for tests, as corporate proxies work: an absolute-form request
(`GET http://host/path`) is forwarded, a `CONNECT host:port` is tunnelled (the TLS inside
stays end to end). It records what it sees, can demand proxy credentials (407), and only
ever connects to loopback addresses."""

from __future__ import annotations

import base64
import select
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from tests.trust.proxy import forward

_LOOPBACK = ("127.0.0.1", "localhost")


@dataclass(frozen=True, slots=True)
class Seen:
    """One request the proxy received: `target` is the absolute URL, or for CONNECT
    `host:port`; `headers` as the client sent them, names in lower case."""

    method: str
    target: str
    headers: dict[str, str] = field(default_factory=dict)


class RecordingProxy:
    def __init__(self, credentials: tuple[str, str] | None = None) -> None:
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        want = None
        if credentials is not None:
            token = base64.b64encode(":".join(credentials).encode()).decode()
            want = f"Basic {token}"
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                return

            def _record(self) -> bool:
                """Record the request; False (407 sent) when credentials are missing."""
                with proxy._lock:
                    headers = {k.lower(): v for k, v in self.headers.items()}
                    proxy.seen.append(Seen(self.command, self.path, headers))
                if want is None or self.headers.get("Proxy-Authorization") == want:
                    return True
                self.send_response(407)
                self.send_header("Proxy-Authenticate", 'Basic realm="test proxy"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                self._discard_body()
                return False

            def _discard_body(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)

            def do_CONNECT(self) -> None:
                if not self._record():
                    return
                host, _, port = self.path.rpartition(":")
                if host not in _LOOPBACK:
                    self.send_error(403, "this test proxy reaches loopback hosts only")
                    return
                try:
                    upstream = socket.create_connection((host, int(port)), timeout=30)
                except OSError:
                    self.send_error(502)
                    return
                self.send_response(200, "Connection established")
                self.end_headers()
                self.close_connection = True
                _relay(self.connection, upstream)

            def _forward(self) -> None:
                if not self._record():
                    return
                url = urlsplit(self.path)
                if url.scheme != "http" or url.hostname not in _LOOPBACK:
                    self.send_error(400, "expected an absolute http:// URL of a loopback host")
                    return
                forward(self, url.netloc, url.path + (f"?{url.query}" if url.query else ""))

            do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _forward  # noqa: N815

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.host = f"127.0.0.1:{self._server.server_address[1]}"
        self.url = f"http://{self.host}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def requests(self) -> list[Seen]:
        with self._lock:
            return list(self.seen)

    def reset(self) -> None:
        with self._lock:
            self.seen.clear()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _relay(client: socket.socket, upstream: socket.socket) -> None:
    """Copy bytes both ways until either side closes (a CONNECT tunnel)."""
    try:
        sockets = [client, upstream]
        while True:
            readable, _, _ = select.select(sockets, [], [], 60)
            if not readable:
                return
            for sock in readable:
                data = sock.recv(1 << 16)
                if not data:
                    return
                (upstream if sock is client else client).sendall(data)
    except OSError:
        return
    finally:
        upstream.close()
