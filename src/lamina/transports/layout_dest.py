"""Writing an OCI image layout: blobs verified into place, index.json replaced at commit.

Blobs are written to a temp file in the layout root, hashed as they arrive, and renamed to
`blobs/ALG/HEX` only when size and digest match. `index.json` (and `oci-layout`, for a new
layout) are written atomically at `commit()`; until then other readers see the layout as it
was. `close()` without `commit()` removes every blob and directory this destination added.

Durability is settled once, at `commit()`: each blob's writeback is started as it is
renamed (Linux `sync_file_range`, which does not wait), and commit fsyncs the blobs and
their directories before `index.json` is renamed, so an index never names a blob a crash
could lose. (Why this way, against fsync per blob: `python -m bench.layout_writeback`, figures
in bench/README.md.)
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import BinaryIO, Literal

from lamina import media_types as mt
from lamina.content import CHUNK, HashingWriter
from lamina.digest import Digest
from lamina.errors import Conflict, ErrorCode, IntegrityError, InvalidInput
from lamina.oci import Descriptor, ImageIndex
from lamina.transports.layout import (
    INDEX_FILE,
    LAYOUT_BYTES,
    LAYOUT_FILE,
    REF_NAME,
    DirFiles,
    read_layout_index,
)

_TEMP_PREFIX = ".lamina-put-"
_WRITEBACK_STEP = 32 << 20


def fsync_paths(paths: list[Path]) -> None:
    """fsync each file or directory in `paths` (each once)."""
    for path in dict.fromkeys(paths):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a synced temp file in the same directory."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=_TEMP_PREFIX)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def store_verified(
    stream: BinaryIO, final: Path, temp_dir: Path, desc: Descriptor, *, durable: bool = True
) -> None:
    """Copy `stream` to `final` via a temp file in `temp_dir`; IntegrityError (and nothing
    left behind) unless it is exactly `desc.size` bytes with digest `desc.digest`. With
    `durable` the file is fsynced before the rename; else its writeback is only started and
    the caller fsyncs it (and its directory) before anything that names it is written."""
    from lamina.content.writeback import start_writeback  # ctypes, when a blob is written

    fd, tmp = tempfile.mkstemp(dir=temp_dir, prefix=_TEMP_PREFIX)
    try:
        with os.fdopen(fd, "wb") as f:
            hashing = HashingWriter(f, desc.digest.algorithm)
            next_writeback = _WRITEBACK_STEP
            while True:
                chunk = stream.read(CHUNK)
                if not chunk:
                    break
                hashing.write(chunk)
                if not durable and hashing.size >= next_writeback:
                    # Start writeback while the rest arrives: the fsync at commit then
                    # waits for little (bench.layout_writeback).
                    next_writeback = hashing.size + _WRITEBACK_STEP
                    f.flush()
                    start_writeback(f.fileno())
                if hashing.size > desc.size:
                    raise IntegrityError(
                        f"blob {desc.digest}: more than the expected {desc.size} bytes",
                        code=ErrorCode.SIZE_INVALID,
                    )
            if hashing.size != desc.size:
                raise IntegrityError(
                    f"blob {desc.digest} is {hashing.size} bytes, expected {desc.size}",
                    code=ErrorCode.SIZE_INVALID,
                )
            if hashing.digest != desc.digest:
                raise IntegrityError(
                    f"blob content has digest {hashing.digest}, expected {desc.digest}",
                    code=ErrorCode.DIGEST_INVALID,
                )
            f.flush()
            if durable:
                os.fsync(f.fileno())
            else:
                start_writeback(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


OCI_TYPES = frozenset({mt.OCI_MANIFEST, mt.OCI_INDEX})


class LayoutDestination:
    """An ImageDestination writing into the layout at `path` (created if missing). It
    verifies on put and takes blobs from several threads at once (transports.base)."""

    verifies_on_put: Literal[True] = True
    concurrent_blobs: Literal[True] = True

    def __init__(self, path: str | os.PathLike[str], ref: str | None, describe_text: str) -> None:
        self.root = Path(path)
        self._ref = ref
        self._describe = describe_text
        self._created_dirs: list[Path] = []
        self._new_blobs: list[Path] = []
        self._unsynced: list[Path] = []  # blobs renamed into place, fsynced at commit
        self._top: Descriptor | None = None
        self._committed = False
        if self.root.exists():
            if not self.root.is_dir():
                raise Conflict(f"{self.root}: exists and is not a directory; cannot write a layout")
            if not (self.root / LAYOUT_FILE).exists() and any(self.root.iterdir()):
                raise Conflict(
                    f"{self.root}: a non-empty directory without {LAYOUT_FILE}; refusing to "
                    "write an OCI layout into it",
                    hint="choose an empty or new directory",
                )
        else:
            self._mkdir(self.root)

    def _mkdir(self, path: Path) -> None:
        if path.is_dir():
            return
        if not path.parent.is_dir():
            self._mkdir(path.parent)
        try:
            path.mkdir()
        except FileExistsError:
            return  # another thread's put_blob made it (and records it)
        self._created_dirs.append(path)

    def describe(self) -> str:
        return self._describe

    def supported_manifest_types(self) -> frozenset[str]:
        """OCI types only, as containers/image's layout destination: a Docker-format image
        is converted on the way in (what skopeo, podman and umoci can then read)."""
        return OCI_TYPES

    def _blob_path(self, digest: Digest) -> Path:
        return self.root / "blobs" / digest.algorithm / digest.hex

    def has_blob(self, desc: Descriptor) -> bool:
        try:
            return self._blob_path(desc.digest).stat().st_size == desc.size
        except FileNotFoundError:
            return False

    def put_blob(self, stream: BinaryIO, desc: Descriptor) -> None:
        final = self._blob_path(desc.digest)
        self._mkdir(final.parent)
        existed = final.exists()
        store_verified(stream, final, self.root, desc, durable=False)
        self._unsynced.append(final)
        if not existed:
            self._new_blobs.append(final)

    def put_manifest(self, raw: bytes, media_type: str, *, instance: Digest | None = None) -> None:
        if media_type not in mt.ALL_MANIFEST_TYPES:
            raise InvalidInput(
                f"{self._describe}: cannot store a manifest of type {media_type!r}",
                code=ErrorCode.MANIFEST_INVALID,
            )
        digest = Digest.of_bytes(raw, instance.algorithm if instance else "sha256")
        if instance is not None and digest != instance:
            raise IntegrityError(f"manifest bytes have digest {digest}, expected {instance}")
        desc = Descriptor(media_type=media_type, digest=digest, size=len(raw))
        if not self.has_blob(desc):
            self.put_blob(io.BytesIO(raw), desc)
        if instance is None:
            self._top = replace(desc, annotations={REF_NAME: self._ref} if self._ref else None)

    def put_signatures(self, digest: Digest, signatures: list[bytes]) -> None:
        if signatures:
            raise InvalidInput(
                f"{self._describe}: OCI layouts cannot store simple-signing signatures",
                code=ErrorCode.UNSUPPORTED,
                hint="remove signatures (or copy to dir: or a registry)",
            )

    def commit(self) -> None:
        if self._top is None:
            raise InvalidInput(f"{self._describe}: commit before the image's manifest was written")
        layout = self.root / LAYOUT_FILE
        if not layout.exists():
            write_atomic(layout, LAYOUT_BYTES)
        if (self.root / INDEX_FILE).exists():
            index = read_layout_index(DirFiles(self.root))
        else:
            index = ImageIndex(
                media_type=mt.OCI_INDEX, manifests=(), media_type_in_json=False
            ).reserialised()
        entries = _add_entry(list(index.manifests), self._top)
        new_index = replace(index, manifests=tuple(entries)).reserialised()
        # Every blob, and the directory entries that name them, reach the disk before the
        # index that refers to them does.
        dirs = [b.parent for b in self._unsynced] + [d.parent for d in self._created_dirs]
        fsync_paths([*self._unsynced, *dirs])
        self._unsynced.clear()
        write_atomic(self.root / INDEX_FILE, new_index.raw)
        fsync_paths([self.root])
        self._committed = True

    def close(self) -> None:
        if self._committed:
            return
        for blob in self._new_blobs:
            with contextlib.suppress(FileNotFoundError):
                blob.unlink()
        # deepest first: threads may have recorded a parent after its child
        for d in sorted(self._created_dirs, key=lambda p: len(p.parts), reverse=True):
            with contextlib.suppress(OSError):
                d.rmdir()
        self._new_blobs.clear()
        self._created_dirs.clear()


def _add_entry(entries: list[Descriptor], new: Descriptor) -> list[Descriptor]:
    """Replace the entry with the same ref name (or, unnamed, the same digest); else append."""
    name = (new.annotations or {}).get(REF_NAME)
    for i, old in enumerate(entries):
        old_name = (old.annotations or {}).get(REF_NAME)
        if (name and old_name == name) or (not name and not old_name and old.digest == new.digest):
            entries[i] = new
            return entries
    entries.append(new)
    return entries
