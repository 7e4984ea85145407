"""Layer compression: gzip through isal (python-isal), zstd through zstandard, plain tar.

On read the codec is chosen by the stream's magic bytes, never by what a manifest claims.
"""

from __future__ import annotations

import io
from enum import StrEnum
from typing import BinaryIO, cast

from lamina.errors import InvalidInput

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
BZIP2_MAGIC = b"BZh"
XZ_MAGIC = b"\xfd7zXZ\x00"


class Compression(StrEnum):
    NONE = "none"
    GZIP = "gzip"
    ZSTD = "zstd"
    BZIP2 = "bzip2"
    XZ = "xz"


def detect(head: bytes) -> Compression:
    """The compression of a stream whose first bytes are `head` (at least 6 for xz)."""
    if head.startswith(GZIP_MAGIC):
        return Compression.GZIP
    if head.startswith(ZSTD_MAGIC):
        return Compression.ZSTD
    if head.startswith(XZ_MAGIC):
        return Compression.XZ
    if head.startswith(BZIP2_MAGIC) and len(head) >= 4 and head[3:4].isdigit():
        return Compression.BZIP2
    return Compression.NONE


class _Peeked(io.RawIOBase):
    """A stream with some already-read bytes put back in front."""

    def __init__(self, head: bytes, inner: BinaryIO) -> None:
        super().__init__()
        self._head = head
        self._inner = inner

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        if self._head:
            n = min(len(b), len(self._head))
            b[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._inner.read(len(b))
        b[: len(data)] = data
        return len(data)

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            super().close()


def decompress_reader(stream: BinaryIO, what: str = "layer") -> tuple[BinaryIO, Compression]:
    """Wrap `stream` so reads return decompressed bytes; report what was found.

    Closing the returned stream closes `stream`.
    """
    head = _read_up_to(stream, 6)
    kind = detect(head)
    peeked = cast(BinaryIO, io.BufferedReader(_Peeked(head, stream), 1 << 16))
    if kind is Compression.NONE:
        return peeked, kind
    if kind is Compression.GZIP:
        from isal import igzip

        gz = igzip.IGzipFile(fileobj=peeked, mode="rb")  # type: ignore[no-untyped-call]
        return cast(BinaryIO, gz), kind
    if kind is Compression.ZSTD:
        import zstandard

        reader = zstandard.ZstdDecompressor().stream_reader(
            peeked, read_across_frames=True, closefd=True
        )
        return cast(BinaryIO, io.BufferedReader(reader, 1 << 20)), kind
    if kind is Compression.BZIP2:
        import bz2

        return cast(BinaryIO, bz2.BZ2File(peeked, "rb")), kind
    if kind is Compression.XZ:
        import lzma

        return cast(BinaryIO, lzma.LZMAFile(peeked, "rb")), kind
    raise InvalidInput(f"{what}: unsupported compression {kind}")


def compress_writer(
    dst: BinaryIO | io.RawIOBase, kind: Compression | str, level: int | None = None
) -> BinaryIO:
    """A writable stream that compresses into `dst`. Close it to flush; `dst` stays open.

    gzip headers carry no name and mtime 0 so the same input gives the same bytes.
    """
    kind = Compression(kind)
    if kind is Compression.NONE:
        return cast(BinaryIO, _Unclosing(dst))
    if kind is Compression.GZIP:
        from isal import igzip

        gz = igzip.IGzipFile(  # type: ignore[no-untyped-call]
            filename="",
            fileobj=_Unclosing(dst),
            mode="wb",
            compresslevel=1 if level is None else level,
            mtime=0,
        )
        return cast(BinaryIO, gz)
    if kind is Compression.ZSTD:
        import zstandard

        cctx = zstandard.ZstdCompressor(level=3 if level is None else level)
        return cast(BinaryIO, cctx.stream_writer(cast(BinaryIO, dst), closefd=False))
    raise InvalidInput(f"cannot write {kind} layers; use gzip, zstd or none")


class _Unclosing(io.RawIOBase):
    def __init__(self, inner: BinaryIO | io.RawIOBase) -> None:
        super().__init__()
        self._inner = inner

    def writable(self) -> bool:
        return True

    def write(self, b: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        self._inner.write(b)
        return len(b)

    def flush(self) -> None:
        self._inner.flush()


def _read_up_to(stream: BinaryIO, n: int) -> bytes:
    out = b""
    while len(out) < n:
        chunk = stream.read(n - len(out))
        if not chunk:
            break
        out += chunk
    return out
