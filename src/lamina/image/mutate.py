"""Functional edits of images: each returns a new lazy `Image`, the input is untouched.

The new image's config and manifest are serialised on demand (containers/image's compact
JSON); its blobs come from the base image or from the appended layers.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import BinaryIO, Protocol

from lamina import media_types as mt
from lamina.content.blobstore import BlobStore
from lamina.digest import Digest
from lamina.errors import InvalidInput, NotFound
from lamina.image.model import Image, Layer, verified
from lamina.oci import ContainerConfig, Descriptor, History, ImageConfig, ImageManifest, RootFS
from lamina.platform import Platform


class LayerBlobInfo(Protocol):
    """What the layer engine reports about a layer it wrote (lamina.content.layers.LayerBlob)."""

    @property
    def digest(self) -> Digest: ...
    @property
    def diff_id(self) -> Digest: ...
    @property
    def size(self) -> int: ...
    @property
    def media_type(self) -> str: ...


class StoreLayer:
    """A layer whose compressed blob lives in a BlobStore."""

    def __init__(self, desc: Descriptor, diff_id: Digest, store: BlobStore) -> None:
        self._desc = desc
        self._diff_id = diff_id
        self._store = store

    @staticmethod
    def from_blob(blob: LayerBlobInfo, store: BlobStore) -> StoreLayer:
        desc = Descriptor(media_type=blob.media_type, digest=blob.digest, size=blob.size)
        return StoreLayer(desc, blob.diff_id, store)

    @property
    def descriptor(self) -> Descriptor:
        return self._desc

    @property
    def diff_id(self) -> Digest:
        return self._diff_id

    def open(self) -> BinaryIO:
        return verified(_StoreSource(self._store), self._desc, "layer")


class _StoreSource:
    def __init__(self, store: BlobStore) -> None:
        self._store = store

    def open_blob(self, desc: Descriptor) -> BinaryIO:
        return self._store.open(desc.digest)


@dataclass(frozen=True, slots=True)
class Addendum:
    """A layer to append and the history entry that explains it."""

    layer: Layer
    history: History | None = None


class BuiltImage:
    """An image assembled from a config and a list of layers (the result of every mutation)."""

    def __init__(
        self,
        config: ImageConfig,
        layers: Sequence[Layer],
        *,
        media_type: str = mt.OCI_MANIFEST,
        annotations: dict[str, str] | None = None,
    ) -> None:
        if not config.raw:
            config = config.reserialised()
        self._config = config
        self._layers = tuple(layers)
        self._media_type = media_type
        self._annotations = annotations
        self._manifest: ImageManifest | None = None

    def manifest(self) -> ImageManifest:
        if self._manifest is None:
            docker = self._media_type == mt.DOCKER_MANIFEST
            config_desc = Descriptor(
                media_type=mt.DOCKER_CONFIG if docker else mt.OCI_CONFIG,
                digest=self._config.digest,
                size=len(self._config.raw),
            )
            layer_descs = []
            for layer in self._layers:
                d = layer.descriptor
                layer_descs.append(
                    d.with_media_type(
                        mt.to_docker(d.media_type) if docker else mt.to_oci(d.media_type)
                    )
                )
            self._manifest = ImageManifest.build(
                config_desc, layer_descs, media_type=self._media_type, annotations=self._annotations
            )
        return self._manifest

    def raw_manifest(self) -> bytes:
        return self.manifest().raw

    def digest(self) -> Digest:
        return self.manifest().digest

    def raw_config(self) -> bytes:
        return self._config.raw

    def config(self) -> ImageConfig:
        return self._config

    def layers(self) -> tuple[Layer, ...]:
        return self._layers

    def open_blob(self, desc: Descriptor) -> BinaryIO:
        if desc.digest == self._config.digest:
            return io.BytesIO(self._config.raw)
        for layer in self._layers:
            if layer.descriptor.digest == desc.digest:
                return layer.open()
        raise NotFound(f"blob {desc.digest} is not part of image {self.digest()}")


def _parts(img: Image) -> tuple[ImageConfig, tuple[Layer, ...], str, dict[str, str] | None]:
    m = img.manifest()
    return img.config(), img.layers(), m.media_type, m.annotations


def empty_image(platform: Platform | None = None, *, docker: bool = False) -> BuiltImage:
    """`FROM scratch`: no layers, a config for `platform` (the host's by default)."""
    p = platform or Platform.host()
    cfg = ImageConfig(
        architecture=p.architecture,
        os=p.os,
        variant=p.variant,
        config=ContainerConfig(),
        rootfs=RootFS(),
    )
    return BuiltImage(cfg, (), media_type=mt.DOCKER_MANIFEST if docker else mt.OCI_MANIFEST)


def append_layers(img: Image, additions: Sequence[Addendum]) -> BuiltImage:
    cfg, layers, media_type, ann = _parts(img)
    diff_ids = list(cfg.rootfs.diff_ids)
    history = list(cfg.history)
    for add in additions:
        diff_ids.append(add.layer.diff_id)
        history.append(add.history or History(created=cfg.created))
    new_cfg = cfg.evolve(rootfs=RootFS(diff_ids=tuple(diff_ids)), history=tuple(history))
    return BuiltImage(
        new_cfg, layers + tuple(a.layer for a in additions), media_type=media_type, annotations=ann
    )


def with_container_config(img: Image, container: ContainerConfig) -> BuiltImage:
    cfg, layers, media_type, ann = _parts(img)
    return BuiltImage(
        cfg.evolve(config=container, config_present=True),
        layers,
        media_type=media_type,
        annotations=ann,
    )


def with_config(img: Image, cfg: ImageConfig) -> BuiltImage:
    """Replace the whole config (rootfs must still list the image's layers)."""
    _, layers, media_type, ann = _parts(img)
    return BuiltImage(
        cfg.reserialised() if not cfg.raw else cfg, layers, media_type=media_type, annotations=ann
    )


def source_date_epoch() -> int | None:
    """$SOURCE_DATE_EPOCH as seconds, None when unset or empty; InvalidInput naming the
    variable when it is not a whole number of seconds."""
    text = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if not text:
        return None
    if not text.isascii() or not text.isdigit():
        raise InvalidInput(
            f"SOURCE_DATE_EPOCH={text[:40]!r}: not a whole number of seconds since 1970",
            hint="unset it or give e.g. SOURCE_DATE_EPOCH=1700000000",
        )
    return int(text)


def format_time(when: datetime) -> str:
    """RFC 3339 in UTC with nanosecond-free Z form, as Go writes a time.Time."""
    when = when.astimezone(UTC)
    text = when.strftime("%Y-%m-%dT%H:%M:%S")
    if when.microsecond:
        text += f".{when.microsecond:06d}".rstrip("0")
    return text + "Z"


def with_created(img: Image, when: datetime, *, history: bool = True) -> BuiltImage:
    """Set the config's `created` (and, with `history`, every history entry's) to `when`."""
    cfg, layers, media_type, ann = _parts(img)
    stamp = format_time(when)
    hist = tuple(replace(h, created=stamp) for h in cfg.history) if history else cfg.history
    return BuiltImage(
        cfg.evolve(created=stamp, history=hist), layers, media_type=media_type, annotations=ann
    )


def with_annotations(img: Image, annotations: dict[str, str] | None) -> BuiltImage:
    cfg, layers, media_type, _ = _parts(img)
    return BuiltImage(cfg, layers, media_type=media_type, annotations=annotations)


def with_media_type(img: Image, media_type: str) -> BuiltImage:
    """Re-express the manifest as OCI or Docker schema2 (layer types converted alike)."""
    if media_type not in mt.MANIFEST_TYPES:
        raise ValueError(f"not an image manifest type: {media_type}")
    cfg, layers, _, ann = _parts(img)
    return BuiltImage(
        cfg,
        layers,
        media_type=media_type,
        annotations=None if media_type == mt.DOCKER_MANIFEST else ann,
    )
