"""Progress events of a copy: plain values handed to a callback; `copy` never prints.
`Counting` reports the bytes of one blob as they pass (loaded only when there is a callback)."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

from lamina.digest import Digest
from lamina.oci import Descriptor

STEP = 4 << 20  # bytes between BlobProgress events


@dataclass(frozen=True, slots=True, kw_only=True)
class BlobSkipped:
    """The blob was not copied: `reason` is `exists` (the destination has it) or `foreign`
    (a non-distributable layer with URLs)."""

    digest: Digest
    size: int
    reason: str
    media_type: str


@dataclass(frozen=True, slots=True, kw_only=True)
class BlobStarted:
    digest: Digest
    size: int
    media_type: str


@dataclass(frozen=True, slots=True, kw_only=True)
class BlobProgress:
    """`done` of `total` bytes of the blob have passed (sent at most every few MiB)."""

    digest: Digest
    done: int
    total: int


@dataclass(frozen=True, slots=True, kw_only=True)
class BlobDone:
    digest: Digest
    size: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ManifestWritten:
    digest: Digest
    media_type: str
    instance: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class CopyDone:
    digest: Digest
    destination: str


ProgressEvent = BlobSkipped | BlobStarted | BlobProgress | BlobDone | ManifestWritten | CopyDone
ProgressCallback = Callable[[ProgressEvent], None]


class Counting(io.RawIOBase):
    """Passes reads through to `wrapped`, reporting BlobProgress every few MiB. A destination
    that moves the bytes of `wrapped` past it without reads (a registry → registry splice)
    reports them through `moved(n)`."""

    def __init__(self, inner: BinaryIO, desc: Descriptor, progress: ProgressCallback) -> None:
        super().__init__()
        self.wrapped, self._desc, self._progress = inner, desc, progress
        self._done = 0
        self._next = STEP

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        readinto = getattr(self.wrapped, "readinto", None)
        if readinto is not None:
            n: int = readinto(b)  # no copy through an intermediate bytes object
        else:
            data = self.wrapped.read(len(b))
            n = len(data)
            b[:n] = data
        self.moved(n)
        return n

    def moved(self, n: int) -> None:
        self._done += n
        if self._done >= self._next or (n == 0 and self._done):
            self._next = self._done + STEP
            self._progress(
                BlobProgress(digest=self._desc.digest, done=self._done, total=self._desc.size)
            )
