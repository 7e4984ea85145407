"""Reading one HTTP/1.1 answer from a socket, for the lean small-request path (`lean`):
the status line, header fields, and a body framed by length, by chunks or by the end of
the connection, read whole (at most MAX_BODY bytes). Nothing here imports urllib3 or
http.client."""

from __future__ import annotations

import re
import socket
import zlib
from collections.abc import Iterator
from typing import overload

MAX_BODY = 16 << 20  # the largest small answer kept (manifests are limited to 4 MiB)
MAX_HEAD = 64 << 10  # status line and headers
_RECV = 1 << 16
_NO_BODY = frozenset({204, 304})
_FOLDED = re.compile(r"\r\n[ \t]+")
# ASCII digits only: str.isdigit() and int() also take "²" or "٣", which no peer means.
_DIGITS = re.compile(r"[0-9]{1,18}")
_HEX = re.compile(rb"[0-9A-Fa-f]{1,16}")


class LeanError(Exception):
    """The connection failed (refused, reset, closed early, malformed answer)."""


class LeanTimeout(LeanError):
    """Connecting or waiting for the answer took longer than the timeout."""


class LeanTLSError(LeanError):
    """The TLS handshake failed (certificate not trusted, wrong host, not TLS)."""


class Headers:
    """An answer's header fields: case-insensitive names; repeated fields joined by ", "
    when read with `get`, as urllib3's HTTPHeaderDict does."""

    __slots__ = ("_values",)

    def __init__(self) -> None:
        self._values: dict[str, list[str]] = {}

    def add(self, name: str, value: str) -> None:
        self._values.setdefault(name.lower(), []).append(value)

    @overload
    def get(self, name: str) -> str | None: ...
    @overload
    def get(self, name: str, default: str) -> str: ...
    def get(self, name: str, default: str | None = None) -> str | None:
        values = self._values.get(name.lower())
        return default if values is None else ", ".join(values)

    def getlist(self, name: str) -> list[str]:
        return list(self._values.get(name.lower(), ()))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._values

    def __getitem__(self, name: str) -> str:
        values = self._values[name.lower()]
        return ", ".join(values)


class LeanResponse:
    """An answer whose body was read whole; its connection is already back in the pool.
    It reads like the urllib3 responses the client otherwise returns."""

    def __init__(
        self, status: int, reason: str, version: int, headers: Headers, body: bytes, url: str
    ) -> None:
        self.status, self.reason, self.version = status, reason, version
        self.headers = headers
        encoding = headers.get("content-encoding", "identity").strip().lower()
        if body and encoding not in ("identity", ""):
            body = _decode(body, encoding, url)
        self._body = body
        self._pos = 0
        self._url = url

    @property
    def data(self) -> bytes:
        return self.read()

    def geturl(self) -> str:
        return self._url

    def read(self, amt: int | None = None, decode_content: bool | None = None) -> bytes:
        end = len(self._body) if amt is None else min(len(self._body), self._pos + amt)
        piece = self._body[self._pos : end]
        self._pos = end
        return piece

    def stream(
        self, amt: int | None = 2**16, decode_content: bool | None = None
    ) -> Iterator[bytes]:
        while self._pos < len(self._body):
            yield self.read(amt)

    def release_conn(self) -> None:
        pass

    def drain_conn(self) -> None:
        self._pos = len(self._body)

    def close(self) -> None:
        self._pos = len(self._body)


def _decode(body: bytes, encoding: str, url: str) -> bytes:
    """A body the server compressed although asked not to (`Accept-Encoding: identity`)."""
    try:
        if encoding in ("gzip", "x-gzip"):
            return zlib.decompress(body, 16 + zlib.MAX_WBITS)
        if encoding == "deflate":
            try:
                return zlib.decompress(body)
            except zlib.error:
                return zlib.decompress(body, -zlib.MAX_WBITS)  # raw deflate, as some send
    except zlib.error as exc:
        raise LeanError(f"answer from {url} is not valid {encoding} data: {exc}") from None
    raise LeanError(f"answer from {url} uses an unsupported content encoding {encoding!r}")


class Stale(Exception):
    """The server closed the connection between answers, before this one began (a
    bodiless request that got no answer is safe to send again)."""


class Reader:
    """Buffered reading of responses from a socket, one after the other."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = bytearray()
        self.between = True  # no byte of the next answer read yet

    def _fill(self) -> None:
        data = self.sock.recv(_RECV)
        if not data:
            if self.between and not self.buf:
                raise Stale()
            raise LeanError("connection closed mid-answer")
        self.buf += data

    def until(self, mark: bytes, limit: int) -> bytes:
        start = 0
        while True:
            at = self.buf.find(mark, start)
            if at >= 0:
                piece = bytes(self.buf[:at])
                del self.buf[: at + len(mark)]
                return piece
            if len(self.buf) > limit:
                raise LeanError("answer header too long")
            start = max(0, len(self.buf) - len(mark) + 1)
            self._fill()

    def exactly(self, n: int) -> bytes:
        while len(self.buf) < n:
            self._fill()
        piece = bytes(self.buf[:n])
        del self.buf[:n]
        return piece

    def to_end(self, limit: int) -> bytes:
        while True:
            data = self.sock.recv(_RECV)
            if not data:
                return bytes(self.buf)
            self.buf += data
            if len(self.buf) > limit:
                raise TooLarge()


class TooLarge(Exception):
    """The answer is larger than MAX_BODY."""


def read_response(
    reader: Reader, method: str, url: str, *, pipelined: bool = False
) -> tuple[LeanResponse, bool]:
    """The final response (1xx answers skipped) and whether its connection can be reused.
    Bytes read past it are the next answer's when `pipelined`, else a reason to drop the
    connection."""
    reader.between = True
    while True:
        head = reader.until(b"\r\n\r\n", MAX_HEAD).decode("latin-1")
        reader.between = False
        status_line, _, header_text = head.partition("\r\n")
        version, status, reason = _status(status_line)
        headers = _headers(header_text)
        if not 100 <= status < 200 or status == 101:
            break
    keep = _keep_alive(version, headers)
    if method == "HEAD" or status in _NO_BODY or 100 <= status < 200:
        body = b""
    elif "chunked" in headers.get("transfer-encoding", "").lower():
        body = _chunked(reader)
    elif "content-length" in headers:
        body = reader.exactly(_length(headers))
    else:
        body, keep = reader.to_end(MAX_BODY), False
    if reader.buf and not pipelined:
        keep = False  # bytes nobody asked for: do not trust the connection
    return LeanResponse(status, reason, version, headers, body, url), keep


def _status(line: str) -> tuple[int, int, str]:
    parts = line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not _DIGITS.fullmatch(parts[1]):
        raise LeanError(f"malformed status line {line[:80]!r}")
    version = 11 if parts[0] == "HTTP/1.1" else 10
    return version, int(parts[1]), parts[2] if len(parts) > 2 else ""


def _headers(text: str) -> Headers:
    headers = Headers()
    if not text:
        return headers
    for line in _FOLDED.sub(" ", text).split("\r\n"):  # (obsolete line folding joined)
        name, colon, value = line.partition(":")
        if not colon or not name or name != name.strip():
            raise LeanError(f"malformed header line {line[:80]!r}")
        headers.add(name, value.strip())
    return headers


def _length(headers: Headers) -> int:
    values = {v.strip() for v in ",".join(headers.getlist("content-length")).split(",")}
    if len(values) != 1 or not _DIGITS.fullmatch(next(iter(values))):
        raise LeanError(f"malformed Content-Length {sorted(values)!r}")
    n = int(values.pop())
    if n > MAX_BODY:
        raise TooLarge()
    return n


def _chunked(reader: Reader) -> bytes:
    pieces: list[bytes] = []
    total = 0
    while True:
        size_text = reader.until(b"\r\n", 1024).split(b";", 1)[0].strip()
        if not _HEX.fullmatch(size_text):  # (int() would also take "-5", "+5" or "1_0")
            raise LeanError(f"malformed chunk size {size_text[:20]!r}")
        size = int(size_text, 16)
        if size == 0:
            while reader.until(b"\r\n", MAX_HEAD):  # trailers, up to the empty line
                pass
            return b"".join(pieces)
        total += size
        if total > MAX_BODY:
            raise TooLarge()
        pieces.append(reader.exactly(size))
        if reader.exactly(2) != b"\r\n":
            raise LeanError("malformed chunk ending")


def _keep_alive(version: int, headers: Headers) -> bool:
    tokens = {t.strip().lower() for t in headers.get("connection", "").split(",")}
    if version >= 11:
        return "close" not in tokens
    return "keep-alive" in tokens
