"""Small generated images for the store tests: gzip'd tar layers in a scratch BlobStore."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Mapping
from datetime import UTC, datetime

from lamina import media_types as mt
from lamina.content import BlobStore
from lamina.content.layers import pack_tar_stream
from lamina.image.model import Image
from lamina.image.mutate import (
    Addendum,
    BuiltImage,
    StoreLayer,
    append_layers,
    empty_image,
    with_created,
    with_media_type,
)
from lamina.oci import History
from lamina.platform import Platform

AMD64 = Platform(os="linux", architecture="amd64")


def tar_bytes(files: Mapping[str, bytes | None]) -> bytes:
    """A tar of regular files (None: a whiteout entry of that path is written as-is)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.mtime = 1_700_000_000
            info.mode = 0o644
            payload = data or b""
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    return buf.getvalue()


def layer(src: BlobStore, files: Mapping[str, bytes | None]) -> StoreLayer:
    blob = pack_tar_stream(io.BytesIO(tar_bytes(files)), src, compression="gzip")
    return StoreLayer.from_blob(blob, src)


def make_image(
    src: BlobStore,
    seed: str,
    *,
    layers: int = 1,
    base: Image | None = None,
    platform: Platform = AMD64,
    docker: bool = False,
    created: datetime | None = None,
) -> BuiltImage:
    """An image whose layers hold files named after `seed` (distinct seeds: distinct IDs)."""
    img: Image = base if base is not None else empty_image(platform)
    adds = [
        Addendum(
            layer(src, {f"{seed}/file{i}.txt": f"{seed} layer {i}\n".encode() * (i + 1)}),
            History(created_by=f"/bin/sh -c echo {seed} {i}"),
        )
        for i in range(layers)
    ]
    built = append_layers(img, adds)
    built = with_created(built, created or datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC))
    if docker:
        built = with_media_type(built, mt.DOCKER_MANIFEST)
    return built
