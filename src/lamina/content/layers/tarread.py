"""Reading a tar from a one-way stream with tarfile's regular ("r:") reader.

tarfile's own stream mode ("r|") re-slices its whole read buffer on every read, which makes
header-heavy layers slow; its regular mode only ever seeks forward when members are read in
order, so a forward-only stream with a cursor-based buffer serves it well.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator
from typing import Protocol

from lamina.errors import InvalidInput

_FILL = 1 << 20


class Readable(Protocol):
    def read(self, n: int = -1, /) -> bytes: ...


class ForwardReader(io.RawIOBase):
    """A read-only stream that allows `seek` forwards only (skipping by reading)."""

    def __init__(self, inner: Readable, what: str = "layer") -> None:
        super().__init__()
        self._inner = inner
        self._what = what
        self._buf = b""
        self._at = 0  # cursor in _buf
        self._pos = 0  # stream offset of the cursor

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_CUR:
            offset += self._pos
        elif whence != io.SEEK_SET:
            raise InvalidInput(f"{self._what}: cannot seek from the end of a stream")
        if offset < self._pos:
            raise InvalidInput(f"{self._what}: tar members must be read in order")
        skip = offset - self._pos
        while skip:
            left = len(self._buf) - self._at
            if left:
                step = min(left, skip)
                self._at += step
                self._pos += step
                skip -= step
                continue
            data = self._inner.read(min(_FILL, skip) if skip > _FILL else _FILL)
            if not data:
                break  # past EOF, as a file would allow; the next read returns b""
            self._buf, self._at = data, 0
        return self._pos

    def read(self, n: int | None = -1) -> bytes:
        if n is None or n < 0:
            chunks = [self._buf[self._at :]]
            while data := self._inner.read(_FILL):
                chunks.append(data)
            out = b"".join(chunks)
            self._buf, self._at = b"", 0
            self._pos += len(out)
            return out
        left = len(self._buf) - self._at
        if left >= n:
            out = self._buf[self._at : self._at + n]
            self._at += n
            self._pos += n
            return out
        parts = [self._buf[self._at :]] if left else []
        need = n - left
        self._buf, self._at = b"", 0
        while need > 0:
            data = self._inner.read(max(need, _FILL))
            if not data:
                break
            if len(data) > need:
                parts.append(data[:need])
                self._buf, self._at = data, need
                need = 0
            else:
                parts.append(data)
                need -= len(data)
        out = b"".join(parts)
        self._pos += len(out)
        return out

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)


def open_tar(reader: ForwardReader) -> tarfile.TarFile:
    """tarfile's reader over a forward-only stream; walk it with `members()`."""
    return tarfile.open(fileobj=reader, mode="r:")


def members(tar: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    """The members in order, without tarfile keeping them all (which makes the garbage
    collector's work grow with the entry count: 100,000 entries took 5x longer)."""
    while (member := tar.next()) is not None:
        tar.members.clear()  # type: ignore[attr-defined]
        yield member
