"""A blob download stream that resumes with a Range request when the connection drops.

The stream only counts bytes; the caller verifies size and digest (a VerifyingReader hashes
across the resume, because the bytes it sees are one continuous stream), or forwards them to
a registry upload, which the destination registry verifies (see registry/destination.py).
"""

from __future__ import annotations

import io
import socket
import ssl
from collections.abc import Callable
from http.client import HTTPException, HTTPResponse

from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.response import BaseHTTPResponse

from lamina.errors import IntegrityError, TransportError
from lamina.transports.registry.client import RegistryClient
from lamina.transports.registry.splice import AVAILABLE, splice_from_socket, write_all

_CONTENT_RANGE_START = "bytes "


class ResumingBlobReader(io.RawIOBase):
    """Reads `path` (a blob URL) from `client`; up to `max_resumes` Range restarts.

    Closing releases the connection. `size`, when known, lets a clean-looking early EOF be
    recognised as a dropped connection. `origin` names the image read, for messages.
    """

    def __init__(
        self,
        client: RegistryClient,
        path: str,
        *,
        scopes: list[str],
        what: str,
        size: int | None,
        max_resumes: int,
        origin: str = "",
    ) -> None:
        super().__init__()
        self._client = client
        self._path = path
        self._scopes = scopes
        self._what = what
        self.origin = origin or f"registry {client.registry}"
        self._size = size
        self._resumes_left = max_resumes
        self._offset = 0
        self.resumes = 0
        self._resp: BaseHTTPResponse | None = self._open(0)
        self._socket: socket.socket | None = None  # the response's, once it is spliced from

    def readable(self) -> bool:
        return True

    def _open(self, offset: int) -> BaseHTTPResponse:
        headers = {"Accept-Encoding": "identity"}
        if offset:
            headers["Range"] = f"bytes={offset}-"
        resp = self._client.request(
            "GET", self._path, scopes=self._scopes, what=self._what, headers=headers, ok=(200, 206)
        )
        if offset and resp.status == 206:
            crange = resp.headers.get("Content-Range", "")
            start = crange.removeprefix(_CONTENT_RANGE_START).partition("-")[0]
            if start != str(offset):
                resp.close()
                resp.release_conn()
                raise TransportError(
                    f"{self._what}: registry {self._client.registry} resumed at {crange!r}, "
                    f"asked for byte {offset}",
                    retryable=True,
                )
        elif offset:
            # The server ignored Range: skip what we already have.
            left = offset
            while left:
                skipped = resp.read(min(left, 1 << 20), decode_content=False)
                if not skipped:
                    break
                left -= len(skipped)
        return resp

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(b)
        return self._resuming(lambda resp: self._read_into(resp, view))

    def _resuming(self, read: Callable[[BaseHTTPResponse], int]) -> int:
        """`read` from the current response: resumed with a Range request when the
        connection fails or ends before `size`; 0 at the end (the response released)."""
        while True:
            if self._resp is None:
                return 0
            try:
                n = read(self._resp)
            except (Urllib3Error, HTTPException, OSError) as exc:
                self._resume(exc)
                continue
            if not n and self._size is not None and self._offset < self._size:
                self._resume(None)
                continue
            self._offset += n
            if not n:
                self._release()
            return n

    @staticmethod
    def _read_into(resp: BaseHTTPResponse, view: memoryview) -> int:
        """Receive straight into `view` (no intermediate bytes object) from the
        http.client stream under urllib3's response; either way the bytes are undecoded."""
        fp = getattr(resp, "_fp", None)
        if isinstance(fp, HTTPResponse):
            return fp.readinto(view)
        data = resp.read(len(view), decode_content=False)
        view[: len(data)] = data
        return len(data)

    def splice_into(self, pipe: int, n: int) -> int:
        """Put up to `n` bytes into the empty pipe `pipe` (0 at the end): from the socket of a
        plain-HTTP response whose length is the rest of the blob, inside the kernel
        (splice); otherwise through a buffer. Resumes as `readinto` does. Do not mix with
        `readinto` on one reader."""
        got = self._resuming(lambda resp: self._splice(resp, pipe, n))
        if got and self._socket is not None and self._offset == self._size:
            # All of it spliced past http.client, which still waits for it: close.
            self._release(broken=True)
        return got

    def _splice(self, resp: BaseHTTPResponse, pipe: int, n: int) -> int:
        if self._size is None:
            return self._buffered(resp, pipe, n)
        n = min(n, self._size - self._offset)
        if self._socket is not None:
            return splice_from_socket(self._socket, pipe, n)
        fp = getattr(resp, "_fp", None)
        sock = getattr(getattr(resp, "connection", None), "sock", None)
        left = self._size - self._offset
        if isinstance(fp, HTTPResponse) and fp.length is not None and fp.length != left:
            raise IntegrityError(
                f"{self._what}: registry {self._client.registry} sends {fp.length} bytes, "
                f"expected {left} (of {self._size})"
            )
        if (
            AVAILABLE
            and isinstance(fp, HTTPResponse)
            and not fp.chunked
            and fp.length == left
            and isinstance(sock, socket.socket)
            and not isinstance(sock, ssl.SSLSocket)
            and isinstance(fp.fp, io.BufferedReader)
        ):
            # What http.client has buffered goes first; the rest is still in the socket.
            data = fp.fp.read1(min(n, 1 << 16))
            self._socket = sock
            write_all(pipe, data)
            return len(data)
        return self._buffered(resp, pipe, n)

    def _buffered(self, resp: BaseHTTPResponse, pipe: int, n: int) -> int:
        buf = bytearray(min(n, 1 << 16))  # the default pipe capacity
        got = self._read_into(resp, memoryview(buf))
        write_all(pipe, memoryview(buf)[:got])
        return got

    def _resume(self, exc: Exception | None) -> None:
        self._release(broken=True)
        if self._resumes_left <= 0:
            reason = (
                self._client.connection_error(exc, "GET", self._path, self._what).message
                if exc is not None
                else f"{self._what}: connection to registry {self._client.registry} closed early"
            )
            raise TransportError(
                f"{reason} (after {self.resumes} resumes, at byte {self._offset})",
                retryable=True,
                hint="check the network or the registry, then retry",
            )
        self._resumes_left -= 1
        self.resumes += 1
        self._resp = self._open(self._offset)

    def _release(self, *, broken: bool = False) -> None:
        self._socket = None
        if self._resp is not None:
            resp, self._resp = self._resp, None
            if broken:
                resp.close()  # never hand a half-read connection back to the pool
            resp.release_conn()

    def close(self) -> None:
        try:
            # An unread remainder would poison the pooled connection.
            self._release(broken=True)
        finally:
            super().close()
