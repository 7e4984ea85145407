"""`dir:DIR`: containers/image's directory format.

`version` (`Directory Transport Version: 1.1`), `manifest.json` (the top manifest, verbatim),
blobs named by their hex digest, index children as `HEX.manifest.json`, signatures as
`signature-N` (top manifest) or `HEX.signature-N` (an index child), N from 1.

The destination writes into a staging directory beside DIR and renames it into place at
commit; an existing DIR is replaced only if it is empty or itself a `dir:` image.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import tempfile
from pathlib import Path
from typing import BinaryIO, Literal

from lamina import media_types as mt
from lamina.digest import Digest
from lamina.errors import Conflict, ErrorCode, IntegrityError, InvalidInput, NotFound, cannot_write
from lamina.oci import Descriptor
from lamina.oci.limits import MAX_MANIFEST_SIZE
from lamina.oci.manifest import detect_media_type
from lamina.transports.base import ImageDestination, ImageSource
from lamina.transports.layout_dest import store_verified, write_atomic
from lamina.transports.names import DIR, parse_dir

VERSION_FILE = "version"
VERSION_BYTES = b"Directory Transport Version: 1.1\n"
MANIFEST_FILE = "manifest.json"
MAX_SIGNATURE = 4 << 20


def _read_limited(path: Path, limit: int, what: str) -> bytes:
    try:
        with open(path, "rb") as f:
            data = f.read(limit + 1)
    except FileNotFoundError:
        raise NotFound(f"{path}: no such file ({what})", code=ErrorCode.MANIFEST_UNKNOWN) from None
    if len(data) > limit:
        raise InvalidInput(f"{path}: larger than {limit} bytes ({what})")
    return data


class DirSource:
    concurrent_blobs: Literal[True] = True

    def __init__(self, path: str, describe_text: str) -> None:
        self.root = Path(path)
        self._describe = describe_text
        self._top: bytes | None = None

    def describe(self) -> str:
        return self._describe

    def _top_manifest(self) -> bytes:
        if self._top is None:
            if not self.root.is_dir():
                raise NotFound(f"{self._describe}: {self.root} is not a directory")
            self._top = _read_limited(self.root / MANIFEST_FILE, MAX_MANIFEST_SIZE, "manifest")
        return self._top

    def get_manifest(self, digest: Digest | None = None) -> tuple[bytes, str]:
        top = self._top_manifest()
        if digest is None or Digest.of_bytes(top, digest.algorithm) == digest:
            return top, detect_media_type(top, str(self.root / MANIFEST_FILE))
        path = self.root / f"{digest.hex}.manifest.json"
        raw = _read_limited(path, MAX_MANIFEST_SIZE, "manifest")
        if Digest.of_bytes(raw, digest.algorithm) != digest:
            raise IntegrityError(f"{path}: content does not match digest {digest}")
        return raw, detect_media_type(raw, str(path))

    def open_blob(self, desc: Descriptor) -> BinaryIO:
        path = self.root / desc.digest.hex
        try:
            return open(path, "rb")
        except FileNotFoundError:
            raise NotFound(
                f"{self._describe}: blob {path} is missing", code=ErrorCode.BLOB_UNKNOWN
            ) from None

    def signatures(self, digest: Digest) -> list[bytes]:
        top = self._top_manifest()
        prefix = "" if Digest.of_bytes(top, digest.algorithm) == digest else f"{digest.hex}."
        out: list[bytes] = []
        while True:
            path = self.root / f"{prefix}signature-{len(out) + 1}"
            if not path.is_file():
                return out
            out.append(_read_limited(path, MAX_SIGNATURE, "signature"))

    def close(self) -> None:
        pass


class DirDestination:
    verifies_on_put: Literal[True] = True
    concurrent_blobs: Literal[True] = True

    def __init__(self, path: str, describe_text: str) -> None:
        self.target = Path(path)
        self._describe = describe_text
        _check_replaceable(self.target)
        parent = self.target.parent
        if not parent.is_dir():
            raise InvalidInput(f"{self.target}: directory {parent} does not exist")
        try:
            self.staging = Path(tempfile.mkdtemp(dir=parent, prefix=f".{self.target.name}.lamina-"))
        except OSError as exc:
            raise cannot_write(self.target, exc) from None
        self._top: Digest | None = None
        self._committed = False

    def describe(self) -> str:
        return self._describe

    def has_blob(self, desc: Descriptor) -> bool:
        try:
            return (self.staging / desc.digest.hex).stat().st_size == desc.size
        except FileNotFoundError:
            return False

    def put_blob(self, stream: BinaryIO, desc: Descriptor) -> None:
        store_verified(stream, self.staging / desc.digest.hex, self.staging, desc)

    def put_manifest(self, raw: bytes, media_type: str, *, instance: Digest | None = None) -> None:
        if media_type not in mt.ALL_MANIFEST_TYPES:
            raise InvalidInput(
                f"{self._describe}: cannot store a manifest of type {media_type!r}",
                code=ErrorCode.MANIFEST_INVALID,
            )
        if instance is None:
            self._top = Digest.of_bytes(raw)
            write_atomic(self.staging / MANIFEST_FILE, raw)
            return
        desc = Descriptor(media_type=media_type, digest=instance, size=len(raw))
        store_verified(
            io.BytesIO(raw), self.staging / f"{instance.hex}.manifest.json", self.staging, desc
        )

    def put_signatures(self, digest: Digest, signatures: list[bytes]) -> None:
        prefix = "" if self._top is None or digest == self._top else f"{digest.hex}."
        for i, sig in enumerate(signatures):
            write_atomic(self.staging / f"{prefix}signature-{i + 1}", sig)

    def commit(self) -> None:
        if self._top is None:
            raise InvalidInput(f"{self._describe}: commit before the image's manifest was written")
        write_atomic(self.staging / VERSION_FILE, VERSION_BYTES)
        _check_replaceable(self.target)
        trash: Path | None = None
        if self.target.exists():
            trash = Path(
                tempfile.mkdtemp(dir=self.target.parent, prefix=f".{self.target.name}.old-")
            )
            os.rename(self.target, trash / "old")
        try:
            os.rename(self.staging, self.target)
        except BaseException:
            if trash is not None:
                os.rename(trash / "old", self.target)
                trash.rmdir()
            raise
        self._committed = True
        if trash is not None:
            shutil.rmtree(trash, ignore_errors=True)

    def close(self) -> None:
        if not self._committed:
            shutil.rmtree(self.staging, ignore_errors=True)


def _check_replaceable(target: Path) -> None:
    if not target.exists():
        return
    if not target.is_dir():
        raise Conflict(f"{target}: exists and is not a directory; cannot write a dir: image")
    with contextlib.suppress(StopIteration):
        next(target.iterdir())
        if not (target / VERSION_FILE).is_file():
            raise Conflict(
                f"{target}: a non-empty directory that is not a dir: image (no version file); "
                "refusing to overwrite it",
                hint="choose an empty or new directory",
            )


class DirReference:
    def __init__(self, path: str) -> None:
        self.path = path

    @staticmethod
    def parse(text: str) -> DirReference:
        return DirReference(parse_dir(text))

    @property
    def transport(self) -> str:
        return DIR

    def describe(self) -> str:
        return f"{DIR}:{self.path}"

    def new_source(self) -> ImageSource:
        return DirSource(self.path, self.describe())

    def new_destination(self) -> ImageDestination:
        return DirDestination(self.path, self.describe())
