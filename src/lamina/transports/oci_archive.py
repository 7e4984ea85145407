"""`oci-archive:FILE[:REF]`: a tar of an OCI image layout.

The source reads members in place (no extraction). The destination builds a layout in a
staging directory beside FILE and, at commit, tars it to a temp file renamed over FILE, so a
failed write leaves FILE as it was. `OCIArchiveWriter` puts several images (distinct REFs)
into one archive: take `writer.reference(ref)` for each copy, then `writer.commit()`.
The archive is deterministic: sorted names, mtime 0, owner 0:0.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tarfile
import tempfile
from pathlib import Path
from typing import BinaryIO, Literal

from lamina.content import CHUNK
from lamina.digest import Digest
from lamina.errors import Conflict, InvalidInput, cannot_write
from lamina.oci import Descriptor
from lamina.transports.base import ImageDestination, ImageReference, ImageSource
from lamina.transports.layout import REF_NAME, LayoutSource, read_layout_index
from lamina.transports.layout_dest import LayoutDestination
from lamina.transports.names import OCI_ARCHIVE, parse_layout
from lamina.transports.oci_archive_tar import TarFiles


class OCIArchiveSource(LayoutSource):
    """A LayoutSource over the archive's members; `close()` drops any temp file."""

    def __init__(self, path: str, ref: str | None, describe_text: str) -> None:
        self._tar = TarFiles(path)
        super().__init__(self._tar, ref, describe_text)

    def close(self) -> None:
        self._tar.close()


class OCIArchiveReference:
    def __init__(self, path: str, ref: str | None = None) -> None:
        self.path = path
        self.ref = ref

    @staticmethod
    def parse(text: str) -> OCIArchiveReference:
        name = parse_layout(OCI_ARCHIVE, text)
        return OCIArchiveReference(name.path, name.ref)

    @property
    def transport(self) -> str:
        return OCI_ARCHIVE

    def describe(self) -> str:
        return f"{OCI_ARCHIVE}:{self.path}" + (f":{self.ref}" if self.ref else "")

    def new_source(self) -> ImageSource:
        return OCIArchiveSource(self.path, self.ref, self.describe())

    def new_destination(self) -> ImageDestination:
        writer = OCIArchiveWriter(self.path)
        return _ArchiveDestination(writer, self.ref, self.describe(), finish=True)


class OCIArchiveWriter:
    """Builds one oci-archive holding any number of images; nothing appears until commit."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        parent = self.path.parent
        if not parent.is_dir():
            raise InvalidInput(f"{self.path}: directory {parent} does not exist")
        if self.path.is_dir():
            raise Conflict(f"{self.path}: is a directory; an oci-archive is a file")
        try:
            self.staging = Path(tempfile.mkdtemp(dir=parent, prefix=f".{self.path.name}.lamina-"))
        except OSError as exc:
            raise cannot_write(self.path, exc) from None
        self._names: set[str | None] = set()
        self._done = False

    def reference(self, ref: str | None) -> ImageReference:
        """A write-only reference for one image of this archive."""
        return _WriterReference(self, ref)

    def destination(self, ref: str | None, describe_text: str) -> ImageDestination:
        if ref in self._names:
            raise Conflict(f"{self.path}: two images named {ref!r} in one archive")
        self._names.add(ref)
        return _ArchiveDestination(self, ref, describe_text, finish=False)

    def commit(self) -> None:
        """Tar the staged layout to a temp file and rename it over the archive path."""
        try:
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.tmp-")
        except OSError as exc:
            raise cannot_write(self.path, exc) from None
        try:
            with os.fdopen(fd, "wb") as out:
                with tarfile.open(fileobj=out, mode="w:", format=tarfile.USTAR_FORMAT) as tar:
                    _add_tree(tar, self.staging)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(tmp, 0o644)
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        self._done = True
        self.close()

    def close(self) -> None:
        """Remove the staging directory (after commit, or to abandon the archive)."""
        shutil.rmtree(self.staging, ignore_errors=True)


def _add_tree(tar: tarfile.TarFile, root: Path) -> None:
    entries: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        base = Path(dirpath)
        if base != root:
            entries.append(base)
        entries.extend(base / f for f in sorted(filenames))
    for path in sorted(entries, key=lambda p: p.relative_to(root).as_posix()):
        info = tarfile.TarInfo(path.relative_to(root).as_posix())
        info.mtime = 0
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        if path.is_dir():
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            tar.addfile(info)
            continue
        info.mode = 0o644
        info.size = path.stat().st_size
        with open(path, "rb") as f:
            tar.addfile(info, _Chunked(f))


class _Chunked:
    """tarfile reads the member with `read(n)`; keep each read bounded."""

    def __init__(self, f: BinaryIO) -> None:
        self._f = f

    def read(self, n: int = CHUNK) -> bytes:
        return self._f.read(min(n, CHUNK) if n > 0 else CHUNK)


class _WriterReference:
    def __init__(self, writer: OCIArchiveWriter, ref: str | None) -> None:
        self._writer = writer
        self._ref = ref

    @property
    def transport(self) -> str:
        return OCI_ARCHIVE

    def describe(self) -> str:
        return f"{OCI_ARCHIVE}:{self._writer.path}" + (f":{self._ref}" if self._ref else "")

    def new_source(self) -> ImageSource:
        raise InvalidInput(f"{self.describe()}: is being written; it cannot be read yet")

    def new_destination(self) -> ImageDestination:
        return self._writer.destination(self._ref, self.describe())


class _ArchiveDestination:
    """A layout destination in the writer's staging dir; `finish` makes commit/close final.
    It verifies on put (the layout's put_blob); blobs go in one at a time."""

    verifies_on_put: Literal[True] = True

    def __init__(
        self, writer: OCIArchiveWriter, ref: str | None, describe_text: str, *, finish: bool
    ) -> None:
        self._writer = writer
        self._finish = finish
        try:
            self._layout = LayoutDestination(writer.staging, ref, describe_text)
        except BaseException:
            if finish:
                writer.close()
            raise
        self._describe = describe_text

    def describe(self) -> str:
        return self._describe

    def supported_manifest_types(self) -> frozenset[str]:
        return self._layout.supported_manifest_types()

    def has_blob(self, desc: Descriptor) -> bool:
        return self._layout.has_blob(desc)

    def put_blob(self, stream: BinaryIO, desc: Descriptor) -> None:
        self._layout.put_blob(stream, desc)

    def put_manifest(self, raw: bytes, media_type: str, *, instance: Digest | None = None) -> None:
        self._layout.put_manifest(raw, media_type, instance=instance)

    def put_signatures(self, digest: Digest, signatures: list[bytes]) -> None:
        self._layout.put_signatures(digest, signatures)

    def commit(self) -> None:
        self._layout.commit()
        if self._finish:
            self._writer.commit()

    def close(self) -> None:
        self._layout.close()
        if self._finish:
            self._writer.close()


def list_archive_images(path: str) -> list[tuple[list[str], ImageReference]]:
    """Every image of an oci-archive, by ref name (an unnamed one only if it is alone)."""
    files = TarFiles(path)
    try:
        index = read_layout_index(files)
    finally:
        files.close()
    out: list[tuple[list[str], ImageReference]] = []
    for desc in index.manifests:
        name = (desc.annotations or {}).get(REF_NAME)
        if name:
            out.append(([name], OCIArchiveReference(path, name)))
        elif len(index.manifests) == 1:
            out.append(([], OCIArchiveReference(path)))
        else:
            raise InvalidInput(
                f"{path}:index.json: entry {desc.digest} has no {REF_NAME} annotation, so it "
                "cannot be addressed among several images"
            )
    return out
