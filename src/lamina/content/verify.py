"""Streams that hash as they go: a reader that checks size and digest at EOF, a writer
that hashes and counts what passes through."""

from __future__ import annotations

import io
from typing import BinaryIO

from lamina.digest import Digest, Hash, new_hash
from lamina.errors import IntegrityError

CHUNK = 1 << 20


class VerifyingReader(io.RawIOBase):
    """Wraps a stream promised to hold `size` bytes with digest `digest`.

    Reading past `size` bytes or reaching EOF with the wrong size or digest raises
    IntegrityError; the caller must read to EOF to get the check. The caller closes `inner`
    (closing this reader closes it too).
    """

    def __init__(
        self, inner: BinaryIO, digest: Digest, size: int | None, what: str = "blob"
    ) -> None:
        super().__init__()
        self._inner = inner
        self._digest = digest
        self._size = size
        self._what = what
        self._hash: Hash = digest.new_hash()
        self._count = 0
        self._verified = False

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(b)
        if self._size is not None:
            room = self._size - self._count
            if room <= 0:
                # One byte more than promised is enough to know it is wrong.
                extra = self._inner.read(1)
                if extra:
                    raise IntegrityError(
                        f"{self._what} {self._digest}: more than the expected {self._size} bytes"
                    )
                self._finish()
                return 0
            view = view[: min(len(view), room)]
        data = self._inner.read(len(view))
        n = len(data)
        if n == 0:
            self._finish()
            return 0
        view[:n] = data
        self._hash.update(data)
        self._count += n
        return n

    def read_all_chunks(self) -> None:
        """Drain the stream (for verification only)."""
        while self.read(CHUNK):
            pass

    def _finish(self) -> None:
        if self._verified:
            return
        if self._size is not None and self._count != self._size:
            raise IntegrityError(
                f"{self._what} {self._digest} is {self._count} bytes, expected {self._size}"
            )
        got = Digest.from_hash(self._hash, self._digest.algorithm)
        if got != self._digest:
            raise IntegrityError(f"{self._what}: content has digest {got}, expected {self._digest}")
        self._verified = True

    @property
    def verified(self) -> bool:
        return self._verified

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            super().close()


class HashingWriter(io.RawIOBase):
    """Passes writes to `inner` while hashing and counting them."""

    def __init__(self, inner: BinaryIO | io.RawIOBase | None, algorithm: str = "sha256") -> None:
        super().__init__()
        self._inner = inner
        self._hash = new_hash(algorithm)
        self._algorithm = algorithm
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, b: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        self._hash.update(b)
        n = len(b)
        self.size += n
        if self._inner is not None:
            self._inner.write(b)
        return n

    @property
    def digest(self) -> Digest:
        return Digest.from_hash(self._hash, self._algorithm)


def copy_verified(
    src: BinaryIO, dst: BinaryIO, digest: Digest, size: int | None, what: str = "blob"
) -> int:
    """Copy all of `src` to `dst`, raising IntegrityError if it is not the promised blob."""
    reader = VerifyingReader(src, digest, size, what)
    total = 0
    buf = bytearray(CHUNK)
    while True:
        n = reader.readinto(buf)
        if not n:
            break
        dst.write(memoryview(buf)[:n])
        total += n
    return total
