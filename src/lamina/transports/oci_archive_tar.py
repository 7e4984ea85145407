"""Reading files out of a tar archive by name without extracting it (oci- and docker-archive).

The archive's headers are scanned once; each `open(name)` then returns a bounded stream over
that member's bytes in the archive file. Symlinks and hard links between members are followed
inside the archive only. A compressed archive (`docker save | gzip`) is first decompressed to
a temp file, as containers/image does.
"""

from __future__ import annotations

import contextlib
import io
import os
import posixpath
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from lamina.content import CHUNK, Compression, decompress_reader, detect
from lamina.errors import InvalidInput, NotFound

_MAX_LINKS = 16
_BLOCK = 512


@dataclass(frozen=True, slots=True)
class _Member:
    offset: int
    size: int
    link: str | None  # the member it stands for, for symlinks and hard links


class _Section(io.RawIOBase):
    """`size` bytes of `f` from `offset`; closing closes `f`."""

    def __init__(self, f: BinaryIO, offset: int, size: int) -> None:
        super().__init__()
        self._f = f
        self._left = size
        f.seek(offset)

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        if self._left <= 0:
            return 0
        view = memoryview(b)[: min(len(b), self._left)]
        n = self._f.readinto(view)  # type: ignore[attr-defined]
        if not n:
            raise InvalidInput("archive member is truncated (unexpected end of file)")
        self._left -= n
        return int(n)

    def close(self) -> None:
        try:
            self._f.close()
        finally:
            super().close()


def _clean(name: str) -> str:
    name = posixpath.normpath("/" + name).lstrip("/")
    return name


class TarFiles:
    """Named members of the tar at `path` (implements `layout.LayoutFiles`)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._temp: Path | None = None
        self._members: dict[str, _Member] | None = None

    def where(self, name: str) -> str:
        return f"{self.path}:{name}"

    def _index(self) -> dict[str, _Member]:
        if self._members is None:
            self._members = self._scan()
        return self._members

    def _scan(self) -> dict[str, _Member]:
        try:
            f = open(self.path, "rb")  # noqa: SIM115
        except (FileNotFoundError, NotADirectoryError):
            raise NotFound(f"{self.path}: no such archive") from None
        except IsADirectoryError:
            raise InvalidInput(f"{self.path}: is a directory, expected a tar archive") from None
        with f:
            kind = detect(f.read(8))
        readable = self.path
        if kind is not Compression.NONE:
            readable = self._decompress(kind)
        members: dict[str, _Member] = {}
        try:
            with tarfile.open(readable, "r:") as tar:
                for info in tar:
                    name = _clean(info.name)
                    if info.issym():
                        target = _clean(posixpath.join(posixpath.dirname(name), info.linkname))
                        members[name] = _Member(0, 0, target)
                    elif info.islnk():
                        members[name] = _Member(0, 0, _clean(info.linkname))
                    elif info.isfile():
                        members[name] = _Member(info.offset_data, info.size, None)
                end = tar.offset
        except (tarfile.TarError, EOFError) as exc:
            if "unexpected end" in str(exc):
                raise InvalidInput(f"{self.path}: archive is truncated ({exc})") from None
            raise InvalidInput(f"{self.path}: not a valid tar archive: {exc}") from None
        with open(readable, "rb") as f:
            f.seek(end)
            marker = f.read(_BLOCK)
        # Every tar writer ends with zero blocks; without one the archive was cut short.
        if len(marker) < _BLOCK or marker.strip(b"\0"):
            raise InvalidInput(f"{self.path}: archive is truncated (no end-of-archive marker)")
        for name, m in members.items():
            if m.link is None and m.offset + m.size > readable.stat().st_size:
                raise InvalidInput(f"{self.where(name)}: archive is truncated inside this member")
        return members

    def _decompress(self, kind: Compression) -> Path:
        fd, tmp = tempfile.mkstemp(prefix="lamina-archive-", suffix=".tar")
        self._temp = Path(tmp)
        try:
            with open(self.path, "rb") as raw, os.fdopen(fd, "wb") as out:
                stream, _ = decompress_reader(raw, str(self.path))
                with stream:
                    shutil.copyfileobj(stream, out, CHUNK)
        except (OSError, EOFError) as exc:
            raise InvalidInput(f"{self.path}: cannot decompress {kind} archive: {exc}") from None
        return self._temp

    def _resolve(self, name: str) -> _Member | None:
        members = self._index()
        name = _clean(name)
        for _ in range(_MAX_LINKS):
            m = members.get(name)
            if m is None or m.link is None:
                return m
            name = m.link
        raise InvalidInput(f"{self.where(name)}: too many levels of links in the archive")

    def exists(self, name: str) -> bool:
        return self._resolve(name) is not None

    def size(self, name: str) -> int:
        m = self._resolve(name)
        if m is None:
            raise NotFound(f"{self.where(name)}: no such member in the archive")
        return m.size

    def names(self) -> list[str]:
        return list(self._index())

    def open(self, name: str) -> BinaryIO:
        m = self._resolve(name)
        if m is None:
            raise NotFound(f"{self.where(name)}: no such member in the archive")
        f = open(self._temp or self.path, "rb")  # noqa: SIM115
        return io.BufferedReader(_Section(f, m.offset, m.size), CHUNK)

    def close(self) -> None:
        if self._temp is not None:
            with contextlib.suppress(FileNotFoundError):
                self._temp.unlink()
            self._temp = None
            self._members = None
