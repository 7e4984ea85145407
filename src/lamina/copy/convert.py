"""Re-expressing an image while it is copied: OCI ↔ Docker schema2 manifests, and layers
recompressed as gzip or zstd. Both change digests, so callers decide (and refuse under
`preserve_digests`) before any byte moves.

The config blob is never rewritten (containers/image keeps it too): only its descriptor's
media type changes. A recompressed layer keeps its diff ID (the uncompressed tar is the same).
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, cast

from lamina import media_types as mt
from lamina.content.compression import Compression, compress_writer, decompress_reader
from lamina.digest import Digest, new_hash
from lamina.errors import ErrorCode, InvalidInput
from lamina.oci import Descriptor, ImageManifest

FORMATS = {"oci": mt.OCI_MANIFEST, "v2s2": mt.DOCKER_MANIFEST}
INDEX_FOR = {mt.OCI_MANIFEST: mt.OCI_INDEX, mt.DOCKER_MANIFEST: mt.DOCKER_MANIFEST_LIST}
CONFIG_FOR = {mt.OCI_MANIFEST: mt.OCI_CONFIG, mt.DOCKER_MANIFEST: mt.DOCKER_CONFIG}

# (manifest type, compression, non-distributable) -> layer media type
_LAYER_TYPES: dict[tuple[str, str, bool], str] = {
    (mt.OCI_MANIFEST, "none", False): mt.OCI_LAYER_TAR,
    (mt.OCI_MANIFEST, "gzip", False): mt.OCI_LAYER_GZIP,
    (mt.OCI_MANIFEST, "zstd", False): mt.OCI_LAYER_ZSTD,
    (mt.OCI_MANIFEST, "none", True): mt.OCI_LAYER_ND_TAR,
    (mt.OCI_MANIFEST, "gzip", True): mt.OCI_LAYER_ND_GZIP,
    (mt.OCI_MANIFEST, "zstd", True): mt.OCI_LAYER_ND_ZSTD,
    (mt.DOCKER_MANIFEST, "none", False): mt.DOCKER_LAYER_TAR,
    (mt.DOCKER_MANIFEST, "gzip", False): mt.DOCKER_LAYER_GZIP,
    (mt.DOCKER_MANIFEST, "gzip", True): mt.DOCKER_LAYER_FOREIGN_GZIP,
}
_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class LayerPlan:
    """What happens to one layer: copied as is (`recompress` None) or recompressed."""

    source: Descriptor
    media_type: str
    recompress: Compression | None


def plan_layers(
    manifest: ImageManifest, target: str, compression: str | None, what: str
) -> list[LayerPlan]:
    """How each layer of `manifest` reaches a `target`-type manifest, recompressed to
    `compression` when given (or to gzip when the target cannot hold the layer as is)."""
    plans = []
    for i, layer in enumerate(manifest.layers):
        current = mt.layer_compression(layer.media_type)
        foreign = mt.is_non_distributable(layer.media_type)
        if current == "unknown":
            if target != manifest.media_type or compression:
                raise InvalidInput(
                    f"{what}: layer {i} has media type {layer.media_type!r}, which cannot be "
                    "converted",
                    code=ErrorCode.UNSUPPORTED,
                )
            plans.append(LayerPlan(layer, layer.media_type, None))
            continue
        wanted = current if (compression is None or foreign) else compression
        if (target, wanted, foreign) not in _LAYER_TYPES and not foreign:
            if compression is not None:
                raise InvalidInput(
                    f"{what}: a {target} manifest cannot hold {compression} layers",
                    code=ErrorCode.UNSUPPORTED,
                    hint="use --format oci with zstd, or gzip with --format v2s2",
                )
            wanted = "gzip"  # Docker schema2 has no zstd layers
        media_type = _LAYER_TYPES.get((target, wanted, foreign))
        if media_type is None:
            raise InvalidInput(
                f"{what}: layer {i} ({layer.media_type}) has no {target} equivalent",
                code=ErrorCode.UNSUPPORTED,
            )
        plans.append(
            LayerPlan(layer, media_type, Compression(wanted) if wanted != current else None)
        )
    return plans


def changes_digest(manifest: ImageManifest, target: str, plans: list[LayerPlan]) -> bool:
    return target != manifest.media_type or any(
        p.recompress is not None or p.media_type != p.source.media_type for p in plans
    )


def rebuild(manifest: ImageManifest, target: str, layers: list[Descriptor]) -> ImageManifest:
    """The manifest re-expressed as `target` with `layers` (the config bytes unchanged)."""
    config = manifest.config
    if config.media_type in mt.CONFIG_TYPES:
        config = config.with_media_type(CONFIG_FOR[target])
    docker = target == mt.DOCKER_MANIFEST
    return ImageManifest.build(
        config,
        layers,
        media_type=target,
        annotations=None if docker else manifest.annotations,
        subject=None if docker else manifest.subject,
        artifact_type=None if docker else manifest.artifact_type,
    )


class _Hashing:
    """A write-through file that hashes and counts what passes."""

    def __init__(self, inner: BinaryIO) -> None:
        self.inner = inner
        self.hasher = new_hash("sha256")
        self.size = 0

    def write(self, b: bytes) -> int:
        self.inner.write(b)
        self.hasher.update(b)
        self.size += len(b)
        return len(b)

    def flush(self) -> None:
        self.inner.flush()

    def writable(self) -> bool:
        return True


class _KeepOpen(io.RawIOBase):
    """Reads through to `inner` but leaves it open when closed (the caller verifies it)."""

    def __init__(self, inner: BinaryIO) -> None:
        super().__init__()
        self.inner = inner

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.inner.read(len(b))
        b[: len(data)] = data
        return len(data)


def recompress(
    stream: BinaryIO,
    plan: LayerPlan,
    workdir: Path,
    on_read: Callable[[int], None] | None = None,
) -> tuple[Path, Descriptor]:
    """Decompress `stream` (the verified source layer) and compress it as the plan says
    into a temp file under `workdir`; return the file and the new layer's descriptor.
    The caller removes the file."""
    assert plan.recompress is not None
    fd, name = tempfile.mkstemp(prefix="recompress-", dir=workdir)
    path = Path(name)
    try:
        with open(fd, "wb") as raw_out:
            hashing = _Hashing(raw_out)
            kept = cast(BinaryIO, _KeepOpen(stream))
            plain, _ = decompress_reader(kept, f"layer {plan.source.digest}")
            with plain, compress_writer(hashing, plan.recompress) as out:  # type: ignore[arg-type]
                while chunk := plain.read(_CHUNK):
                    out.write(chunk)
                    if on_read is not None:
                        on_read(len(chunk))
        digest = Digest.from_hash(hashing.hasher, "sha256")
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    desc = Descriptor(
        media_type=plan.media_type,
        digest=digest,
        size=hashing.size,
        annotations=plan.source.annotations,
    )
    return path, desc
