"""`import` (a tarball or directory becomes a one-layer image) and `export` (an image's
flattened filesystem as a tar), as `podman import` / `podman export` of an image."""

from __future__ import annotations

import contextlib
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from lamina.content import BlobStore
from lamina.content.fstree import remove_tree
from lamina.content.layers import LayerBlob, apply_layer, pack_dir, pack_tar_stream
from lamina.errors import InvalidInput, NotFound, cannot_write
from lamina.image import mutate
from lamina.oci import ContainerConfig, History
from lamina.ops.changes import apply_changes
from lamina.platform import Platform
from lamina.store import Store, StoredImage
from lamina.store.names import normalize_new_name


def import_image(
    store: Store,
    source: str,
    name: str | None = None,
    *,
    changes: tuple[str, ...] | list[str] = (),
    message: str = "",
    platform: Platform | None = None,
    compression: str = "gzip",
) -> StoredImage:
    """Make a one-layer image from a tar file (plain or compressed), `-` for stdin, or a
    directory; apply `changes` (`CMD ["sh"]`, `ENV A=1` …) to its config."""
    # Check the changes first: a typo must not cost a full import.
    container = apply_changes(ContainerConfig(), list(changes))
    names = [normalize_new_name(name)] if name else []
    when = _now()
    try:
        return _import(store, source, names, container, message, platform, compression, when)
    except BaseException:
        # The layer blob may already be in the store: collect it so a failed import leaves
        # the store exactly as it was (skipped if another writer is busy; gc catches it later).
        store.gc(blocking=False)
        raise


def _import(
    store: Store,
    source: str,
    names: list[str],
    container: ContainerConfig,
    message: str,
    platform: Platform | None,
    compression: str,
    when: datetime,
) -> StoredImage:
    with store.ingest() as blobs:
        blob = _pack_source(source, blobs, compression)
        stamp = mutate.format_time(when)
        entry = History(
            created=stamp,
            created_by=f"lamina import {source}",
            comment=message or "imported from tarball",
        )
        img = mutate.append_layers(
            mutate.empty_image(platform or Platform.host()),
            [mutate.Addendum(mutate.StoreLayer.from_blob(blob, blobs), entry)],
        )
        img = mutate.with_container_config(img, container)
        img = mutate.with_created(img, when, history=False)
        return store.put_image(img, names, packed=[blob])


def _now() -> datetime:
    epoch = mutate.source_date_epoch()
    if epoch is not None:
        return datetime.fromtimestamp(epoch, UTC)
    return datetime.now(UTC).replace(microsecond=0)


def _pack_source(source: str, blobs: BlobStore, compression: str) -> LayerBlob:
    if source == "-":
        import sys

        return pack_tar_stream(sys.stdin.buffer, blobs, compression=compression, what="stdin")
    path = Path(source)
    if path.is_dir():
        return pack_dir(
            path, blobs, compression=compression, source_date_epoch=mutate.source_date_epoch()
        )
    if not path.exists():
        raise NotFound(
            f"{source}: no such file or directory",
            hint="give a tar file, a directory, or - for stdin",
        )
    with path.open("rb") as f:
        return pack_tar_stream(f, blobs, compression=compression, what=str(path))


def export_image(store: Store, name_or_id: str, output: str | Path) -> int:
    """Write the image's merged filesystem (every layer applied, whiteouts honoured) as an
    uncompressed tar to `output`, atomically. Returns the tar's size."""
    stored = store.lookup(name_or_id)
    if stored.is_index:
        raise InvalidInput(
            f"{name_or_id} is a multi-platform index; export one platform's "
            "image by its ID (lamina images --all)"
        )
    img = store.image(stored)
    out = Path(output)
    if not out.parent.is_dir():
        raise NotFound(f"{out.parent}: no such directory")
    try:
        work = Path(tempfile.mkdtemp(prefix=f".{out.name}.lamina-", dir=out.parent))
    except OSError as exc:
        raise cannot_write(out, exc) from None
    try:
        rootfs = work / "rootfs"
        rootfs.mkdir()
        for layer in img.layers():
            with layer.open() as stream:
                apply_layer(stream, rootfs, what=f"layer {layer.descriptor.digest}")
                while stream.read(1 << 20):  # reach EOF so the blob digest is verified
                    pass
        blob = pack_dir(rootfs, BlobStore(work / "tar"), compression="none")
        os.replace(BlobStore(work / "tar").path(blob.digest), out)
        with contextlib.suppress(OSError):
            os.chmod(out, 0o644)
        return blob.size
    finally:
        with contextlib.suppress(OSError):
            remove_tree(work)
