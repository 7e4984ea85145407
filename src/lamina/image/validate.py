"""The oracle: check that every digest, size, diff_id and config link of an image holds."""

from __future__ import annotations

from typing import cast

from lamina import media_types as mt
from lamina.content import CHUNK, decompress_reader
from lamina.digest import Digest, new_hash
from lamina.errors import IntegrityError
from lamina.image.model import Image, ImageIndexView
from lamina.oci import ImageConfig, ImageIndex, ImageManifest, parse_any


def validate(img: Image | ImageIndexView, *, layers: bool = True) -> None:
    """Raise IntegrityError naming the first thing that does not check out.

    Reads every blob (and, with `layers`, decompresses every layer to check its diff_id).
    """
    raw = img.raw_manifest()
    parsed = parse_any(raw)
    if Digest.of_bytes(raw, img.digest().algorithm) != img.digest():
        raise IntegrityError(f"image {img.digest()}: digest is not that of its manifest bytes")
    if isinstance(parsed, ImageIndex):
        view = cast(ImageIndexView, img)
        for desc in parsed.manifests:
            if desc.media_type in mt.INDEX_TYPES:
                validate(view.index(desc), layers=layers)
            elif desc.media_type in mt.MANIFEST_TYPES:
                validate(view.image(desc), layers=layers)
        return
    _validate_image(cast(Image, img), parsed, layers=layers)


def _validate_image(img: Image, manifest: ImageManifest, *, layers: bool) -> None:
    where = f"image {img.digest()}"
    raw_config = img.raw_config()
    if Digest.of_bytes(raw_config, manifest.config.digest.algorithm) != manifest.config.digest:
        raise IntegrityError(f"{where}: config bytes do not match {manifest.config.digest}")
    if len(raw_config) != manifest.config.size:
        raise IntegrityError(
            f"{where}: config is {len(raw_config)} bytes, manifest says {manifest.config.size}"
        )
    config = ImageConfig.parse(raw_config)
    diff_ids = config.rootfs.diff_ids
    if len(diff_ids) != len(manifest.layers):
        raise IntegrityError(
            f"{where}: {len(manifest.layers)} layers but {len(diff_ids)} diff_ids in the config"
        )
    if config.history and len(config.non_empty_history) != len(manifest.layers):
        raise IntegrityError(
            f"{where}: {len(config.non_empty_history)} non-empty history "
            f"entries for {len(manifest.layers)} layers"
        )
    if manifest.is_docker:
        for d in manifest.layers:
            if d.media_type not in (
                mt.DOCKER_LAYER_GZIP,
                mt.DOCKER_LAYER_TAR,
                mt.DOCKER_LAYER_FOREIGN_GZIP,
            ):
                raise IntegrityError(f"{where}: Docker manifest has layer type {d.media_type}")
    for i, (desc, diff_id) in enumerate(zip(manifest.layers, diff_ids, strict=True)):
        if mt.is_non_distributable(desc.media_type) and desc.urls:
            continue
        if not layers:
            continue
        hasher = new_hash(diff_id.algorithm)
        compressed = img.open_blob(desc)
        try:
            plain, _ = decompress_reader(compressed, f"layer {i} ({desc.digest})")
            while chunk := plain.read(CHUNK):
                hasher.update(chunk)
            while compressed.read(CHUNK):  # reach EOF so size and digest are checked
                pass
        finally:
            compressed.close()
        got = Digest.from_hash(hasher, diff_id.algorithm)
        if got != diff_id:
            raise IntegrityError(
                f"{where}: layer {i} ({desc.digest}) has diff_id {got}, config says {diff_id}"
            )
