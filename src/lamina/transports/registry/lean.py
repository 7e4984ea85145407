"""Small requests on kept-alive sockets, without urllib3's per-request machinery.

A manifest GET, a tag list, a ping or any HEAD is a few hundred bytes each way. Through
urllib3 (URL normalisation, Timeout and Retry objects, http.client's e-mail header parser,
the response wrapper) each costs four to five times the client CPU it costs written and
parsed here (`python -m bench.registry_small` measures both on the same manifest GETs).
That is what a sync with nothing new spends its time on: ~350 such requests for the
150 images of `python -m bench.sync_registry`.

Only requests without a body go this way, and their whole response is read before it is
returned (at most MAX_BODY bytes), so a connection is back in its pool before the caller
sees the answer. Blob downloads and uploads keep urllib3 (streaming, splice, resumption).
Connection failures are raised as LeanError (LeanTimeout, LeanTLSError), which the client
maps and retries as it does urllib3's. Nothing here imports urllib3 or http.client: a sync
whose images are all up to date never loads them (`python -X importtime -c "import
urllib3"` shows what that saves).
"""

from __future__ import annotations

import re
import select
import socket
import ssl
import threading
import weakref
from collections.abc import Callable, Sequence
from urllib.parse import urlsplit

from lamina.errors import RegistryError
from lamina.transports.registry.lean_answer import (
    MAX_BODY,
    Headers,
    LeanError,
    LeanResponse,
    LeanTimeout,
    LeanTLSError,
    Reader,
    Stale,
    TooLarge,
    read_response,
)

__all__ = [
    "MAX_BODY",
    "Headers",
    "LeanError",
    "LeanPool",
    "LeanPools",
    "LeanResponse",
    "LeanTLSError",
    "LeanTimeout",
    "host_port",
    "probe_tls",
]

MAX_IDLE = 16  # kept-alive connections per host
# A bodiless request: method, target (path and query), header fields, URL (for messages).
Request = tuple[str, str, dict[str, str], str]
_BAD_FIELD = re.compile(r"[\r\n\0]")
_TARGET = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]*")


class LeanPool:
    """Kept-alive sockets to one `scheme://netloc`, shared by threads."""

    def __init__(
        self,
        scheme: str,
        netloc: str,
        host: str,
        port: int,
        timeout: float,
        context: Callable[[], ssl.SSLContext],
    ) -> None:
        self.scheme, self.netloc, self.host, self.port = scheme, netloc, host, port
        self.timeout = timeout
        self._context = context
        self._idle: list[socket.socket] = []
        self._lock = threading.Lock()
        # A pool dropped without close() (its client was never closed) still closes its
        # sockets, as urllib3's pools do.
        weakref.finalize(self, _close_all, self._idle)

    def send(self, method: str, target: str, headers: dict[str, str], url: str) -> LeanResponse:
        """One request; its answer, read whole."""
        return self.send_all([(method, target, headers, url)])[0]

    def send_all(self, requests: Sequence[Request], window: int = 16) -> list[LeanResponse]:
        """Bodiless requests (method, target, headers, url), their answers in order.

        Several are pipelined on one kept-alive connection (HTTP/1.1, RFC 9112 9.3.2):
        up to `window` are sent ahead of their answers, so the server reads them in
        batches and no round trip is waited for between two. When the server closes the
        connection, saying so or not, the requests it did not answer are sent again on a
        new one (they have no body and change nothing). A new connection that fails
        before any answer raises LeanError, LeanTimeout or LeanTLSError."""
        heads = [
            self._head(method, target, headers, url) for method, target, headers, url in requests
        ]
        answers: list[LeanResponse] = []
        while len(answers) < len(heads):
            sock, reused = self._take()
            before = len(answers)
            try:
                keep = _pipeline(sock, heads, requests, answers, window)
            except (Stale, ConnectionResetError, BrokenPipeError) as exc:
                sock.close()
                if reused or len(answers) > before:
                    continue  # closed while idle, or after some answers: the rest, fresh
                if isinstance(exc, Stale):
                    raise LeanError("connection closed before an answer") from None
                raise LeanError(f"connection lost: {exc}") from None
            except OSError as exc:
                sock.close()
                raise _failure(
                    exc, "reading the answer", self.timeout, "connection failed"
                ) from None
            except TooLarge:
                sock.close()
                url = requests[len(answers)][3]
                raise RegistryError(
                    f"response from {url} is larger than {MAX_BODY} bytes"
                ) from None
            except BaseException:
                sock.close()
                raise
            if keep:
                self._put(sock)
            else:
                sock.close()
        return answers

    def _head(self, method: str, target: str, headers: dict[str, str], url: str) -> bytes:
        lines = [f"{method} {target} HTTP/1.1", f"Host: {self.netloc}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        lines.append("Accept-Encoding: identity")
        if _BAD_FIELD.search("".join(lines)):
            raise RegistryError(f"{method} {url}: refusing to send a header holding a line break")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def _take(self) -> tuple[socket.socket, bool]:
        while True:
            with self._lock:
                sock = self._idle.pop() if self._idle else None
            if sock is None:
                return self._connect(), False
            # An idle socket that is readable was closed by the server (or holds junk).
            readable, _, _ = select.select([sock], [], [], 0)
            if not readable:
                return sock, True
            sock.close()

    def _put(self, sock: socket.socket) -> None:
        with self._lock:
            if len(self._idle) < MAX_IDLE:
                self._idle.append(sock)
                return
        sock.close()

    def _connect(self) -> socket.socket:
        context = self._context() if self.scheme == "https" else None
        return open_socket(self.netloc, self.host, self.port, self.timeout, context)

    def close(self) -> None:
        with self._lock:
            idle = self._idle[:]
            del self._idle[:]
        _close_all(idle)


class LeanPools:
    """One LeanPool per `scheme://netloc` a client talks to."""

    def __init__(self, timeout: float, context: Callable[[], ssl.SSLContext]) -> None:
        self.timeout = timeout
        self._context = context
        self._pools: dict[tuple[str, str], LeanPool | None] = {}
        self._lock = threading.Lock()

    def pool_for(self, scheme: str, netloc: str) -> LeanPool | None:
        """The pool for `scheme://netloc`; None for a netloc this module does not take
        (user info, an unusual scheme, a malformed port)."""
        key = (scheme, netloc)
        try:
            return self._pools[key]
        except KeyError:
            pass
        host, port = host_port(scheme, netloc)
        pool = None
        if host is not None and port is not None:
            pool = LeanPool(scheme, netloc, host, port, self.timeout, self._context)
        with self._lock:
            return self._pools.setdefault(key, pool)

    def close(self) -> None:
        with self._lock:
            pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            if pool is not None:
                pool.close()


def split_url(url: str, base: str | None = None) -> tuple[str, str, str] | None:
    """(scheme, netloc, target) of `url`, or None when its target holds characters RFC 3986
    does not allow (urllib3 percent-encodes those; both clients send the rest as is).
    `base` (`scheme://netloc`, when known to start `url`) saves parsing it."""
    if base is not None and url.startswith(base + "/") and "#" not in url:
        scheme, _, netloc = base.partition("://")
        target = url[len(base) :]
    else:
        parts = urlsplit(url)
        scheme, netloc = parts.scheme, parts.netloc
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return (scheme, netloc, target) if plain_target(target) else None


def plain_target(target: str) -> bool:
    """Whether a request target is made only of characters RFC 3986 allows."""
    return _TARGET.fullmatch(target) is not None


def host_port(scheme: str, netloc: str) -> tuple[str | None, int | None]:
    """The host (brackets removed) and port of a plain `host[:port]` netloc, else Nones."""
    if scheme not in ("http", "https") or "@" in netloc:
        return None, None
    try:
        parts = urlsplit(f"{scheme}://{netloc}")
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        return None, None
    return parts.hostname, port


def probe_tls(netloc: str, timeout: float, context: ssl.SSLContext) -> None:
    """One TLS handshake with `netloc` that checks nothing but that it happens (LeanError,
    LeanTimeout or LeanTLSError when it does not)."""
    host, port = host_port("https", netloc)
    if host is None or port is None:
        raise LeanError(f"cannot reach {netloc!r}: not a host[:port]")
    open_socket(netloc, host, port, timeout, context).close()


def open_socket(
    netloc: str, host: str, port: int, timeout: float, context: ssl.SSLContext | None
) -> socket.socket:
    """A connected socket (TLS through `context` when given), or LeanError/LeanTimeout/
    LeanTLSError saying what failed."""
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except OSError as exc:
        failed = "failed to establish a new connection"
        raise _failure(exc, f"connecting to {netloc}", timeout, failed) from None
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if context is None:
        return sock
    try:
        return context.wrap_socket(sock, server_hostname=host)
    except OSError as exc:
        sock.close()
        raise _failure(exc, f"TLS handshake with {netloc}", timeout) from None


def _failure(exc: OSError, doing: str, timeout: float, failed: str = "") -> LeanError:
    """What a socket error while `doing` is to the client: a timeout, a TLS failure (not
    retried), or a connection failure (`failed` says so, else "`doing` failed")."""
    if isinstance(exc, TimeoutError):
        return LeanTimeout(f"{doing} timed out after {timeout:g} s")
    if isinstance(exc, ssl.SSLError):
        return LeanTLSError(str(exc))
    return LeanError(f"{failed or doing + ' failed'}: {exc}")


def _pipeline(
    sock: socket.socket,
    heads: list[bytes],
    requests: Sequence[Request],
    answers: list[LeanResponse],
    window: int,
) -> bool:
    """Send the requests not yet answered, `window` ahead, appending their answers; False
    when the server closes the connection after an answer (the rest go on another)."""
    reader = Reader(sock)
    sent = min(len(heads), len(answers) + window)
    sock.sendall(b"".join(heads[len(answers) : sent]))
    while len(answers) < len(heads):
        method, _, _, url = requests[len(answers)]
        response, keep = read_response(reader, method, url, pipelined=True)
        answers.append(response)
        if not keep:
            return False
        if sent < len(heads):
            sock.sendall(heads[sent])
            sent += 1
    return not reader.buf  # (bytes after the last answer: do not trust the connection)


def _close_all(sockets: list[socket.socket]) -> None:
    for sock in sockets:
        sock.close()
