"""A blob download stream that resumes with a Range request when the connection drops.

The stream only counts bytes; the caller verifies size and digest (a VerifyingReader hashes
across the resume, because the bytes it sees are one continuous stream), or forwards them to
a destination that verifies what it is given (a registry upload: see registry/destination.py).
"""

from __future__ import annotations

import io
from http.client import HTTPException

from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.response import BaseHTTPResponse

from lamina.errors import TransportError
from lamina.transports.registry.client import RegistryClient

_CONTENT_RANGE_START = "bytes "


class ResumingBlobReader(io.RawIOBase):
    """Reads `path` (a blob URL) from `client`; up to `max_resumes` Range restarts.

    Closing releases the connection. `size`, when known, lets a clean-looking early EOF be
    recognised as a dropped connection.
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
    ) -> None:
        super().__init__()
        self._client = client
        self._path = path
        self._scopes = scopes
        self._what = what
        self._size = size
        self._resumes_left = max_resumes
        self._offset = 0
        self.resumes = 0
        self._resp: BaseHTTPResponse | None = self._open(0)

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
        """Up to len(b) bytes of the blob (0 at the end, the response then released),
        resumed with a Range request when the connection fails or ends before `size`."""
        view = memoryview(b)
        while True:
            if self._resp is None:
                return 0
            try:
                data = self._resp.read(len(view), decode_content=False)
            except (Urllib3Error, HTTPException, OSError) as exc:
                self._resume(exc)
                continue
            n = len(data)
            if not n and self._size is not None and self._offset < self._size:
                self._resume(None)
                continue
            view[:n] = data
            self._offset += n
            if not n:
                self._release()
            return n

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
