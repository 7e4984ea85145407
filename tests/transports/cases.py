"""Conformance cases for the four file transports."""

from __future__ import annotations

import tarfile
from pathlib import Path

from lamina.digest import Digest
from lamina.reference import Reference
from lamina.transports.base import ImageReference
from lamina.transports.directory import DirReference
from lamina.transports.docker_archive import DockerArchiveReference
from lamina.transports.layout import LayoutReference
from lamina.transports.names import DockerArchiveName
from lamina.transports.oci_archive import OCIArchiveReference


def flip_byte(path: Path, offset: int) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ 0x01]))


def _member_for(path: Path, digest: Digest) -> tarfile.TarInfo | None:
    with tarfile.open(path) as tar:
        for m in tar.getmembers():
            if m.isfile() and m.name.split("/")[-1].startswith(digest.hex):
                return m
    return None


def corrupt_tar_member(path: Path, digest: Digest) -> bool:
    m = _member_for(path, digest)
    if m is None:
        return False
    flip_byte(path, m.offset_data + m.size // 2)
    return True


def remove_tar_member(path: Path, digest: Digest) -> bool:
    m = _member_for(path, digest)
    if m is None:
        return False
    out = path.with_suffix(".rewritten")
    with tarfile.open(path) as src, tarfile.open(out, "w", format=tarfile.USTAR_FORMAT) as dst:
        for member in src.getmembers():
            if member.name == m.name:
                continue
            dst.addfile(member, src.extractfile(member) if member.isfile() else None)
    out.replace(path)
    return True


class LayoutCase:
    supports_index = True
    preserves_manifest = True

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp

    def new_ref(self, name: str) -> ImageReference:
        return LayoutReference(str(self.tmp / f"{name}-layout"), name)

    def exists(self, ref: ImageReference) -> bool:
        return Path(self._path(ref)).exists()

    def _path(self, ref: ImageReference) -> str:
        assert isinstance(ref, LayoutReference)
        return ref.path

    def corrupt_blob(self, ref: ImageReference, digest: Digest) -> bool:
        flip_byte(Path(self._path(ref)) / "blobs" / "sha256" / digest.hex, 5)
        return True

    def remove_blob(self, ref: ImageReference, digest: Digest) -> bool:
        (Path(self._path(ref)) / "blobs" / "sha256" / digest.hex).unlink()
        return True


class OCIArchiveCase:
    supports_index = True
    preserves_manifest = True

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp

    def new_ref(self, name: str) -> ImageReference:
        return OCIArchiveReference(str(self.tmp / f"{name}.tar"), name)

    def _path(self, ref: ImageReference) -> Path:
        assert isinstance(ref, OCIArchiveReference)
        return Path(ref.path)

    def exists(self, ref: ImageReference) -> bool:
        p = self._path(ref)
        return p.exists() or any(x.name.startswith(f".{p.name}") for x in p.parent.iterdir())

    def corrupt_blob(self, ref: ImageReference, digest: Digest) -> bool:
        return corrupt_tar_member(self._path(ref), digest)

    def remove_blob(self, ref: ImageReference, digest: Digest) -> bool:
        return remove_tar_member(self._path(ref), digest)


class DockerArchiveCase(OCIArchiveCase):
    supports_index = False
    preserves_manifest = False

    def new_ref(self, name: str) -> ImageReference:
        tag = Reference.parse(f"localhost/lamina-test/{name}:v1")
        return DockerArchiveReference(DockerArchiveName(str(self.tmp / f"{name}.tar"), ref=tag))

    def _path(self, ref: ImageReference) -> Path:
        assert isinstance(ref, DockerArchiveReference)
        return Path(ref.path)


class DirCase:
    supports_index = True
    preserves_manifest = True

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp

    def new_ref(self, name: str) -> ImageReference:
        return DirReference(str(self.tmp / f"{name}-dir"))

    def _path(self, ref: ImageReference) -> Path:
        assert isinstance(ref, DirReference)
        return Path(ref.path)

    def exists(self, ref: ImageReference) -> bool:
        p = self._path(ref)
        return p.exists() or any(x.name.startswith(f".{p.name}") for x in p.parent.iterdir())

    def corrupt_blob(self, ref: ImageReference, digest: Digest) -> bool:
        flip_byte(self._path(ref) / digest.hex, 5)
        return True

    def remove_blob(self, ref: ImageReference, digest: Digest) -> bool:
        (self._path(ref) / digest.hex).unlink()
        return True
