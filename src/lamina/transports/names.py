"""Transport strings of the file-based kinds, parsed as containers/image parses them.

- `oci:DIR[:REF]`, `oci-archive:FILE[:REF]`: the path ends at the first `:`; REF is an OCI
  `org.opencontainers.image.ref.name` value.
- `docker-archive:FILE[:NAME:TAG|:@N]`: a Docker reference (tagged, never by digest) or the
  N-th image of the archive's manifest.json.
- `dir:DIR`.

`detect_archive_kind(path)` tells these apart by content; `list_images(path)` lists what a
layout or archive holds (for `load` of a multi-image archive).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lamina.errors import ErrorCode, InvalidInput, NotFound
from lamina.reference import Reference

if TYPE_CHECKING:
    from lamina.transports.base import ImageReference

OCI = "oci"
OCI_ARCHIVE = "oci-archive"
DOCKER_ARCHIVE = "docker-archive"
DIR = "dir"

SYNTAX = {
    OCI: "oci:DIR[:REF]",
    OCI_ARCHIVE: "oci-archive:FILE[:REF]",
    DOCKER_ARCHIVE: "docker-archive:FILE[:NAME[:TAG]|:@INDEX]",
    DIR: "dir:DIR",
}

# The image-spec grammar for org.opencontainers.image.ref.name.
_COMPONENT = r"[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*"
_REF_NAME = rf"^{_COMPONENT}(?:/{_COMPONENT})*$"  # compiled on first use (re caches it)


def _bad(transport: str, text: str, why: str) -> InvalidInput:
    return InvalidInput(
        f"invalid {transport} reference {(transport + ':' + text)[:300]!r}: {why}",
        code=ErrorCode.NAME_INVALID,
        hint=f"expected {SYNTAX[transport]}",
    )


def split_path(transport: str, text: str) -> tuple[str, str | None]:
    """Split `PATH[:REST]` at the first colon; an empty path is an error."""
    path, sep, rest = text.partition(":")
    if not path:
        raise _bad(transport, text, "the path is empty")
    return path, (rest if sep else None)


def validate_ref_name(transport: str, name: str, text: str = "") -> str:
    """Check an OCI ref name (`latest`, `localhost/app:1`); return it."""
    if not re.match(_REF_NAME, name):
        raise _bad(
            transport,
            text or name,
            f"{name!r} is not a valid image name (letters, digits and -._:@+/ separators)",
        )
    return name


@dataclass(frozen=True, slots=True)
class LayoutName:
    """`oci:` / `oci-archive:` parts: the path and the optional ref name."""

    path: str
    ref: str | None


def parse_layout(transport: str, text: str) -> LayoutName:
    path, ref = split_path(transport, text)
    if ref == "":
        raise _bad(transport, text, "the image name after ':' is empty")
    if ref is not None:
        validate_ref_name(transport, ref, text)
    return LayoutName(path, ref)


@dataclass(frozen=True, slots=True)
class DockerArchiveName:
    """`docker-archive:` parts: the path and either a tagged name or an index (or neither)."""

    path: str
    ref: Reference | None = None
    index: int | None = None


def parse_docker_archive(text: str) -> DockerArchiveName:
    path, rest = split_path(DOCKER_ARCHIVE, text)
    if rest is None:
        return DockerArchiveName(path)
    if rest.startswith("@"):
        number = rest[1:]
        if not number.isdigit():
            raise _bad(DOCKER_ARCHIVE, text, f"{rest!r} is not @ followed by an image index")
        return DockerArchiveName(path, index=int(number))
    try:
        ref = Reference.parse(rest)
    except InvalidInput as exc:
        raise _bad(DOCKER_ARCHIVE, text, exc.message) from None
    if ref.digest is not None:
        raise _bad(DOCKER_ARCHIVE, text, "docker-archive names images by tag, not by digest")
    return DockerArchiveName(path, ref=ref)


def parse_dir(text: str) -> str:
    if not text:
        raise _bad(DIR, text, "the path is empty")
    return text


def detect_archive_kind(path: str | os.PathLike[str]) -> str:
    """`oci`, `oci-archive`, `docker-archive` or `dir` for what is at `path`, by content."""
    p = Path(path)
    if p.is_dir():
        if (p / "oci-layout").is_file():
            return OCI
        if (p / "version").is_file() and (p / "manifest.json").is_file():
            return DIR
        raise InvalidInput(
            f"{p}: neither an OCI layout (no oci-layout file) nor a dir: image "
            "(no version and manifest.json files)"
        )
    if not p.exists():
        raise NotFound(f"{p}: no such file or directory")
    import tarfile  # only archives need it

    try:
        with tarfile.open(p, "r:*") as tar:
            names = set()
            for member in tar:
                names.add(member.name.removeprefix("./"))
                if "oci-layout" in names:
                    return OCI_ARCHIVE
            if "manifest.json" in names:
                return DOCKER_ARCHIVE
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise InvalidInput(f"{p}: not a readable tar archive: {exc}") from None
    raise InvalidInput(
        f"{p}: a tar archive with neither oci-layout (oci-archive) nor manifest.json "
        "(docker-archive)"
    )


def list_images(path: str | os.PathLike[str]) -> list[tuple[list[str], ImageReference]]:
    """Every image a layout, archive or dir: image holds, with its names (ref name for OCI,
    RepoTags for docker-archive; empty when unnamed), in the order the format lists them."""
    kind = detect_archive_kind(path)
    if kind == OCI:
        from lamina.transports.layout import list_layout_images

        return list_layout_images(str(path))
    if kind == OCI_ARCHIVE:
        from lamina.transports.oci_archive import list_archive_images

        return list_archive_images(str(path))
    if kind == DOCKER_ARCHIVE:
        from lamina.transports.docker_archive import list_docker_archive_images

        return list_docker_archive_images(str(path))
    from lamina.transports.directory import DirReference

    return [([], DirReference(str(path)))]
