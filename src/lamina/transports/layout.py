"""`oci:DIR[:REF]`: an OCI image layout directory (oci-layout, index.json, blobs/ALG/HEX).

The reader works over `LayoutFiles` (a directory here; members of a tar in `oci_archive`),
so both transports share one source. The source reads `index.json`, picks the entry whose
`org.opencontainers.image.ref.name` is REF (or the only entry when REF is absent) and hands
out blobs unverified; callers wrap them in a VerifyingReader. Manifests it returns are
checked against their descriptor here.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO, Literal, Protocol

from lamina import media_types as mt
from lamina.digest import Digest
from lamina.errors import ErrorCode, IntegrityError, InvalidInput, NotFound
from lamina.oci import Descriptor, ImageIndex
from lamina.oci.jsonio import load_object
from lamina.oci.manifest import detect_media_type
from lamina.transports.base import ImageDestination, ImageReference, ImageSource
from lamina.transports.names import OCI, parse_layout

REF_NAME = "org.opencontainers.image.ref.name"
LAYOUT_FILE = "oci-layout"
INDEX_FILE = "index.json"
# containers/image writes this file with a space after the colon; so do we.
LAYOUT_BYTES = b'{"imageLayoutVersion": "1.0.0"}'
MAX_JSON = 4 << 20


class LayoutFiles(Protocol):
    """Read access to the files of a layout, by slash-separated name relative to its root."""

    def where(self, name: str) -> str:
        """`name` as a user would find it (for messages)."""
        ...

    def open(self, name: str) -> BinaryIO:
        """The file's bytes; NotFound if it is absent."""
        ...

    def exists(self, name: str) -> bool: ...


class DirFiles:
    """A layout in a plain directory."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def where(self, name: str) -> str:
        return str(self.root / name)

    def open(self, name: str) -> BinaryIO:
        try:
            return open(self.root / name, "rb")
        except (FileNotFoundError, NotADirectoryError):
            raise NotFound(f"{self.where(name)}: no such file") from None

    def exists(self, name: str) -> bool:
        return (self.root / name).is_file()


def blob_name(digest: Digest) -> str:
    return f"blobs/{digest.algorithm}/{digest.hex}"


def read_limited(files: LayoutFiles, name: str, limit: int = MAX_JSON) -> bytes:
    with files.open(name) as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise InvalidInput(f"{files.where(name)}: larger than {limit} bytes")
    return data


def read_layout_index(files: LayoutFiles) -> ImageIndex:
    """Check `oci-layout` and parse `index.json`."""
    if not files.exists(LAYOUT_FILE):
        raise NotFound(
            f"{files.where(LAYOUT_FILE)}: missing; this is not an OCI image layout",
            code=ErrorCode.NAME_UNKNOWN,
        )
    header = load_object(read_limited(files, LAYOUT_FILE), files.where(LAYOUT_FILE))
    version = header.get("imageLayoutVersion")
    if not isinstance(version, str) or not version.startswith("1."):
        raise InvalidInput(
            f"{files.where(LAYOUT_FILE)}: field 'imageLayoutVersion' is {version!r}, "
            "expected '1.0.0'",
            code=ErrorCode.MANIFEST_INVALID,
        )
    raw = read_limited(files, INDEX_FILE)
    return ImageIndex.parse(raw, mt.OCI_INDEX, files.where(INDEX_FILE))


def ref_names(index: ImageIndex) -> list[str]:
    return [
        d.annotations[REF_NAME]
        for d in index.manifests
        if d.annotations and REF_NAME in d.annotations
    ]


def resolve(index: ImageIndex, ref: str | None, where: str) -> Descriptor:
    """The index entry named `ref`, or the only entry when `ref` is None."""
    if ref is None:
        if len(index.manifests) == 1:
            return index.manifests[0]
        if not index.manifests:
            raise NotFound(f"{where}: the layout holds no images", code=ErrorCode.MANIFEST_UNKNOWN)
        names = ", ".join(ref_names(index)) or "(all unnamed)"
        raise InvalidInput(
            f"{where}: holds {len(index.manifests)} images; name one (refs: {names})",
            hint="append :REF to the transport string, e.g. oci:DIR:latest",
        )
    for desc in index.manifests:
        if desc.annotations and desc.annotations.get(REF_NAME) == ref:
            return desc
    names = ", ".join(ref_names(index)) or "none"
    raise NotFound(
        f"{where}: no image named {ref!r} (refs: {names})", code=ErrorCode.MANIFEST_UNKNOWN
    )


class LayoutSource:
    """An ImageSource over a layout's files. `describe_text` is the transport string. Blobs
    may be opened on several threads at once (each open is its own file)."""

    concurrent_blobs: Literal[True] = True

    def __init__(self, files: LayoutFiles, ref: str | None, describe_text: str) -> None:
        self._files = files
        self._ref = ref
        self._describe = describe_text
        self._top: Descriptor | None = None

    def describe(self) -> str:
        return self._describe

    def top_descriptor(self) -> Descriptor:
        if self._top is None:
            index = read_layout_index(self._files)
            self._top = resolve(index, self._ref, self._describe)
        return self._top

    def get_manifest(self, digest: Digest | None = None) -> tuple[bytes, str]:
        if digest is None:
            desc = self.top_descriptor()
            raw = self._read_manifest(desc.digest, desc.size)
            if desc.media_type not in mt.ALL_MANIFEST_TYPES:
                raise InvalidInput(
                    f"{self._files.where(INDEX_FILE)}: entry {desc.digest} has media type "
                    f"{desc.media_type!r}, not an image manifest or index",
                    code=ErrorCode.MANIFEST_INVALID,
                )
            return raw, desc.media_type
        raw = self._read_manifest(digest, None)
        return raw, detect_media_type(raw, self._files.where(blob_name(digest)))

    def _read_manifest(self, digest: Digest, size: int | None) -> bytes:
        name = blob_name(digest)
        try:
            raw = read_limited(self._files, name)
        except NotFound:
            raise NotFound(
                f"{self._describe}: manifest blob {self._files.where(name)} is missing",
                code=ErrorCode.MANIFEST_UNKNOWN,
            ) from None
        if Digest.of_bytes(raw, digest.algorithm) != digest or (
            size is not None and len(raw) != size
        ):
            raise IntegrityError(
                f"{self._files.where(name)}: manifest content does not match digest {digest}"
            )
        return raw

    def open_blob(self, desc: Descriptor) -> BinaryIO:
        name = blob_name(desc.digest)
        try:
            return self._files.open(name)
        except NotFound:
            raise NotFound(
                f"{self._describe}: blob {self._files.where(name)} is missing",
                code=ErrorCode.BLOB_UNKNOWN,
            ) from None

    def signatures(self, digest: Digest) -> list[bytes]:
        return []

    def close(self) -> None:
        pass


class LayoutReference:
    """`oci:DIR[:REF]`."""

    def __init__(self, path: str, ref: str | None = None) -> None:
        self.path = path
        self.ref = ref

    @staticmethod
    def parse(text: str) -> LayoutReference:
        """Parse the part after `oci:`."""
        name = parse_layout(OCI, text)
        return LayoutReference(name.path, name.ref)

    @property
    def transport(self) -> str:
        return OCI

    def describe(self) -> str:
        return f"oci:{self.path}" + (f":{self.ref}" if self.ref else "")

    def new_source(self) -> ImageSource:
        return LayoutSource(DirFiles(self.path), self.ref, self.describe())

    def new_destination(self) -> ImageDestination:
        from lamina.transports.layout_dest import LayoutDestination

        return LayoutDestination(self.path, self.ref, self.describe())


def list_layout_images(path: str) -> list[tuple[list[str], ImageReference]]:
    """Every entry of a layout's index.json: named entries by name, unnamed ones alone."""
    index = read_layout_index(DirFiles(path))
    out: list[tuple[list[str], ImageReference]] = []
    for desc in index.manifests:
        name = (desc.annotations or {}).get(REF_NAME)
        if name:
            out.append(([name], LayoutReference(path, name)))
        elif len(index.manifests) == 1:
            out.append(([], LayoutReference(path)))
        else:
            raise InvalidInput(
                f"{path}/index.json: entry {desc.digest} has no {REF_NAME} annotation, so it "
                "cannot be addressed among several images"
            )
    return out
