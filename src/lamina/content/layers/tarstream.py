"""The one-pass layer pipeline: tar bytes -> sha256 (diff_id) -> compressor -> BlobStore.

The blob writer hashes what it stores, so the compressed digest costs no second pass.
Also: re-compressing an existing tar stream into a layer, and the diff_id of a stream.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
from types import TracebackType
from typing import BinaryIO, cast

from lamina import media_types
from lamina.content.blobstore import BlobStore, BlobWriter
from lamina.content.compression import Compression, compress_writer, decompress_reader
from lamina.content.fstree import path_problem, shown
from lamina.content.layers.layer import LayerBlob
from lamina.content.layers.tarread import ForwardReader, members, open_tar
from lamina.content.verify import CHUNK
from lamina.digest import Digest
from lamina.errors import InvalidInput

WRITABLE = frozenset({Compression.NONE, Compression.GZIP, Compression.ZSTD})


def layer_compression(compression: Compression | str) -> Compression:
    """`compression` as a Compression that layers may be written with, or InvalidInput."""
    try:
        kind = Compression(compression)
    except ValueError:
        raise InvalidInput(
            f"unknown layer compression {compression!r}: use gzip, zstd or none"
        ) from None
    if kind not in WRITABLE:
        raise InvalidInput(f"cannot write {kind} layers: use gzip, zstd or none")
    return kind


class LayerSink:
    """A writable stream for tar bytes that becomes a stored layer blob.

    Use as a context manager; call `finish()` inside it to commit and get the LayerBlob.
    Leaving the block without `finish()` discards the temp blob.
    """

    def __init__(
        self, store: BlobStore, compression: Compression | str = "gzip", level: int | None = None
    ) -> None:
        self.compression = layer_compression(compression)
        self._level = level
        self._store = store
        self._diff = hashlib.sha256()
        self.uncompressed_size = 0
        self._ctx = store.writer()
        self._blob: BlobWriter | None = None
        self._comp: BinaryIO | None = None

    def __enter__(self) -> LayerSink:
        self._blob = self._ctx.__enter__()
        self._comp = compress_writer(cast(BinaryIO, self._blob), self.compression, self._level)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._ctx.__exit__(exc_type, exc, tb)

    def write(self, data: bytes | bytearray | memoryview) -> int:
        """Take tar bytes; a full disk raises LaminaError naming the store (the blob
        writer's), never an OSError a tar reader would take for a bad stream."""
        assert self._comp is not None, "use LayerSink as a context manager"
        self._diff.update(data)
        self.uncompressed_size += len(data)
        self._comp.write(data)
        return len(data)

    def finish(self) -> LayerBlob:
        """Flush the compressor, commit the blob, and describe it."""
        assert self._comp is not None and self._blob is not None
        self._comp.close()
        digest = self._blob.commit()
        return LayerBlob(
            digest=digest,
            diff_id=Digest("sha256", self._diff.hexdigest()),
            size=self._blob.size,
            uncompressed_size=self.uncompressed_size,
            compression=self.compression,
            media_type=media_types.layer_type(self.compression.value),
        )


class _Tee:
    """A reader that copies everything read through it into a sink."""

    def __init__(self, inner: BinaryIO, sink: LayerSink) -> None:
        self._inner = inner
        self._sink = sink

    def read(self, n: int = -1) -> bytes:
        data = self._inner.read(n)
        if data:
            self._sink.write(data)
        return data


def pack_tar_stream(
    stream: BinaryIO,
    store: BlobStore,
    *,
    compression: Compression | str = "gzip",
    level: int | None = None,
    what: str = "tar stream",
) -> LayerBlob:
    """Store an existing tar (plain, gzip, zstd, bzip2 or xz: found by magic) as a layer.

    One pass: every header is parsed on the way through, so a stream that is not a tar, or
    has an entry no container root can hold (`fstree.path_problem`), is refused with
    InvalidInput and nothing is stored. The tar bytes are kept exactly (the diff_id is the
    sha256 of the decompressed input). The caller closes `stream`.
    """
    plain, _ = decompress_reader(stream, what)
    with LayerSink(store, compression, level) as sink:
        tee = _Tee(plain, sink)
        try:
            with open_tar(ForwardReader(tee, what)) as tar:
                for member in members(tar):
                    problem = path_problem(member.name)
                    if problem is not None:
                        raise InvalidInput(
                            f"{what}: entry {shown(member.name)} {problem}",
                            hint="no container root can hold it (podman refuses it too): "
                            "shorten the path",
                        )
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise InvalidInput(
                f"{what} is not a valid tar archive ({exc})",
                hint="give a tar file, optionally gzip/zstd/bzip2/xz compressed",
            ) from None
        while True:
            rest = tee.read(CHUNK)
            if not rest:
                break
        return sink.finish()


def diff_id_of(stream: BinaryIO, what: str = "layer") -> Digest:
    """The sha256 of `stream` decompressed (codec found by magic). The caller closes it."""
    plain = cast(io.BufferedIOBase, decompress_reader(stream, what)[0])
    h = hashlib.sha256()
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    try:
        while True:
            n = plain.readinto(view)
            if not n:
                break
            h.update(view[:n])
    except (EOFError, OSError) as exc:
        raise InvalidInput(f"{what}: compressed stream is corrupt or truncated ({exc})") from None
    return Digest("sha256", h.hexdigest())
