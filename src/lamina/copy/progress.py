"""Progress events of a copy: plain values handed to a callback; `copy` never prints."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from lamina.digest import Digest


@dataclass(frozen=True, slots=True, kw_only=True)
class BlobSkipped:
    """The blob was not copied: `reason` is `exists` (the destination has it) or `foreign`
    (a non-distributable layer with URLs)."""

    digest: Digest
    size: int
    reason: str


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
