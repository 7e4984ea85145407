"""Guards for reading untrusted layer streams: a decompression-bomb limit, and hashing the
decompressed bytes as they pass (the diff_id, for free)."""

from __future__ import annotations

import hashlib
import lzma
import tarfile
import zlib
from typing import BinaryIO, cast

import zstandard
from isal import isal_zlib

from lamina.digest import Digest
from lamina.errors import UnsafeContent

# gzip's deflate cannot beat about 1032:1 (zeros); real layers are 2-20:1 overall. A stream
# may first expand to DEFAULT_SLACK freely; past that, decompressed bytes may be at most
# DEFAULT_MAX_RATIO times the compressed bytes read so far. A 1 GiB gzip bomb is refused
# after about 125 MiB; a layer made mostly of one huge all-zero file would be refused too:
# pass max_ratio=None for sources you trust.
DEFAULT_MAX_RATIO = 500.0
DEFAULT_SLACK = 64 << 20

# What the codecs and tarfile raise on corrupt or truncated input.
CORRUPT_ERRORS: tuple[type[BaseException], ...] = (
    EOFError,
    zlib.error,
    cast(type[BaseException], isal_zlib.error),
    zstandard.ZstdError,
    lzma.LZMAError,
    tarfile.TarError,
)


class CountingReader:
    """Counts the bytes read from `inner` (the compressed side)."""

    def __init__(self, inner: BinaryIO) -> None:
        self._inner = inner
        self.count = 0

    def read(self, n: int = -1) -> bytes:
        data = self._inner.read(n)
        self.count += len(data)
        return data

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        pass  # the caller owns the stream


class GuardedReader:
    """Reads decompressed bytes from `inner`, hashing them and enforcing the ratio limit
    against `compressed.count`."""

    def __init__(
        self,
        inner: BinaryIO,
        compressed: CountingReader | None,
        max_ratio: float | None,
        what: str,
        slack: int = DEFAULT_SLACK,
    ) -> None:
        self._inner = inner
        self._compressed = compressed if max_ratio is not None else None
        self._ratio = max_ratio or 0.0
        self._slack = slack
        self._what = what
        self._hash = hashlib.sha256()
        self.count = 0

    def read(self, n: int = -1) -> bytes:
        data = self._inner.read(n)
        if data:
            self._hash.update(data)
            self.count += len(data)
            if (
                self._compressed is not None
                and self.count > self._slack
                and self.count > self._slack + self._ratio * self._compressed.count
            ):
                raise UnsafeContent(
                    f"{self._what}: decompresses to more than {self._ratio:g}x its compressed "
                    f"size ({self.count} bytes from {self._compressed.count}): refusing a "
                    "decompression bomb",
                    hint="pass max_ratio=None only for layers from a source you trust",
                )
        return data

    def drain(self, chunk: int) -> None:
        """Read to EOF (so the hash covers the whole stream and truncation is noticed)."""
        while self.read(chunk):
            pass

    @property
    def diff_id(self) -> Digest:
        return Digest("sha256", self._hash.hexdigest())
