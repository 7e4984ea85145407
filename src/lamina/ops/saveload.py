"""`save` several stored images into one archive or directory, and `load` them back, in the
formats `podman save` / `podman load` use."""

from __future__ import annotations

from pathlib import Path

from lamina.copy import copy_image
from lamina.errors import InvalidInput
from lamina.reference import Reference
from lamina.store import Store
from lamina.store.names import normalize_new_name
from lamina.store.transport import StoreReference
from lamina.transports.directory import DirReference
from lamina.transports.docker_archive_dest import DockerArchiveWriter
from lamina.transports.layout import LayoutReference
from lamina.transports.names import list_images
from lamina.transports.oci_archive import OCIArchiveWriter

FORMATS = ("oci-archive", "docker-archive", "oci-dir", "docker-dir")


def save_images(store: Store, names: list[str], output: str | Path, fmt: str) -> list[str]:
    """Write `names` (store lookups) to `output` in `fmt`; return one line per image. Each
    is written with the manifest its name was given (see `Store.lookup`).

    Nothing appears at `output` unless every image was written (archives are renamed into
    place at the end)."""
    if fmt not in FORMATS:
        raise InvalidInput(f"unknown save format {fmt!r}", hint=f"one of: {', '.join(FORMATS)}")
    if not names:
        raise InvalidInput("name at least one image to save")
    entries = [(n, store.lookup(n)) for n in names]
    out = str(output)
    lines: list[str] = []
    if fmt == "oci-archive":
        oci_writer = OCIArchiveWriter(out)
        try:
            for name, entry in entries:
                ref = _ref_name(name, entry.names)
                copy_image(StoreReference(store, name), oci_writer.reference(ref))
                lines.append(f"{ref or entry.id} -> {fmt}:{out}")
            oci_writer.commit()
        finally:
            oci_writer.close()
    elif fmt == "docker-archive":
        docker_writer = DockerArchiveWriter(out)
        try:
            for name, entry in entries:
                ref = _ref_name(name, entry.names)
                tags = [Reference.parse(ref)] if ref else []
                copy_image(
                    StoreReference(store, name),
                    docker_writer.reference(tags),
                    all_platforms=False,
                )
                lines.append(f"{ref or entry.id} -> {fmt}:{out}")
            docker_writer.commit()
        finally:
            docker_writer.close()
    elif fmt == "oci-dir":
        for name, entry in entries:
            ref = _ref_name(name, entry.names)
            copy_image(StoreReference(store, name), LayoutReference(out, ref))
            lines.append(f"{ref or entry.id} -> oci:{out}")
    else:
        if len(entries) != 1:
            raise InvalidInput(
                "the docker-dir format holds one image; save one at a time",
                hint="use --format oci-archive or docker-archive for several",
            )
        name, entry = entries[0]
        copy_image(StoreReference(store, name), DirReference(out))
        lines.append(f"{name} -> dir:{out}")
    return lines


def _ref_name(asked: str, names: tuple[str, ...]) -> str | None:
    """The name to record in the archive: the one asked for if it is one of the image's
    names (short names resolved), else the image's first name."""
    for n in names:
        if n == asked:
            return n
    try:
        wanted = normalize_new_name(asked)
    except InvalidInput:
        wanted = ""
    if wanted in names:
        return wanted
    return names[0] if names else None


def load_images(store: Store, source: str | Path) -> list[str]:
    """Load every image in an archive or directory (format detected); podman's lines."""
    lines: list[str] = []
    for names, ref in list_images(source):
        stored_names = []
        for n in names:
            try:
                stored_names.append(normalize_new_name(n))
            except InvalidInput:
                continue  # an OCI ref name that is only a tag: keep the image unnamed
        first = stored_names[0] if stored_names else ""
        digest = copy_image(ref, StoreReference(store, first))
        for extra in stored_names[1:]:
            store.tag(first, extra)
        if stored_names:
            lines.extend(f"Loaded image: {n}" for n in stored_names)
        else:  # no name: the image ID, as podman prints it (what `inspect` finds)
            entry = store.get(store.manifest_entry(digest) or "")
            lines.append(f"Loaded image: sha256:{entry.id}")
    return lines
