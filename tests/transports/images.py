"""Small deterministic test images: gzip'd layer tars made with tarfile, OCI or Docker
manifests, and a multi-platform index; plus helpers that write them through a destination."""

from __future__ import annotations

import gzip
import io
import tarfile
from dataclasses import dataclass, field

from lamina import media_types as mt
from lamina.digest import Digest
from lamina.oci import Descriptor, History, ImageConfig, ImageIndex, ImageManifest, RootFS
from lamina.oci.config import ContainerConfig
from lamina.platform import Platform
from lamina.transports.base import ImageDestination


def layer_tar(files: dict[str, bytes]) -> bytes:
    """An uncompressed tar with `files` (and their parent dirs), mtime fixed."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        dirs: set[str] = set()
        for name in sorted(files):
            parts = name.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                d = "/".join(parts[:i])
                if d not in dirs:
                    dirs.add(d)
                    info = tarfile.TarInfo(d)
                    info.type = tarfile.DIRTYPE
                    info.mode = 0o755
                    info.mtime = 1700000000
                    tar.addfile(info)
            info = tarfile.TarInfo(name)
            info.size = len(files[name])
            info.mode = 0o644
            info.mtime = 1700000000
            tar.addfile(info, io.BytesIO(files[name]))
    return buf.getvalue()


@dataclass
class SampleImage:
    """A single-platform image whose blobs are held in memory (they are tiny)."""

    manifest: ImageManifest
    config: ImageConfig
    blobs: dict[Digest, bytes] = field(default_factory=dict)
    diff_ids: list[Digest] = field(default_factory=list)

    @property
    def digest(self) -> Digest:
        return self.manifest.digest

    def descriptor(self, platform: Platform | None = None) -> Descriptor:
        return self.manifest.descriptor(platform=platform)


def make_image(
    tag: str = "a",
    *,
    layers: int = 3,
    platform: Platform | None = None,
    docker: bool = False,
    compress: bool = True,
) -> SampleImage:
    """An image with `layers` gzip'd (or plain) layers whose content depends on `tag`."""
    p = platform or Platform(os="linux", architecture="amd64")
    blobs: dict[Digest, bytes] = {}
    descs: list[Descriptor] = []
    diff_ids: list[Digest] = []
    history: list[History] = []
    for i in range(layers):
        plain = layer_tar(
            {f"etc/{tag}/file{i}": f"{tag} layer {i} {p}\n".encode() * (i + 1), f"l{i}/x": b"x"}
        )
        blob = gzip.compress(plain, mtime=0) if compress else plain
        d = Digest.of_bytes(blob)
        blobs[d] = blob
        diff_ids.append(Digest.of_bytes(plain))
        media = mt.layer_type("gzip" if compress else "none", docker=docker)
        descs.append(Descriptor(media_type=media, digest=d, size=len(blob)))
        history.append(History(created="2024-01-01T00:00:00Z", created_by=f"layer {i} of {tag}"))
    config = ImageConfig(
        architecture=p.architecture,
        os=p.os,
        variant=p.variant,
        created="2024-01-01T00:00:00Z",
        config=ContainerConfig(env=("PATH=/usr/bin:/bin",), cmd=("/bin/sh",)),
        rootfs=RootFS(diff_ids=tuple(diff_ids)),
        history=tuple(history),
    ).reserialised()
    blobs[config.digest] = config.raw
    config_desc = Descriptor(
        media_type=mt.DOCKER_CONFIG if docker else mt.OCI_CONFIG,
        digest=config.digest,
        size=len(config.raw),
    )
    manifest = ImageManifest.build(
        config_desc, descs, media_type=mt.DOCKER_MANIFEST if docker else mt.OCI_MANIFEST
    )
    return SampleImage(manifest, config, blobs, diff_ids)


@dataclass
class SampleIndex:
    index: ImageIndex
    children: list[SampleImage]

    @property
    def digest(self) -> Digest:
        return self.index.digest


PLATFORMS = (
    Platform(os="linux", architecture="amd64"),
    Platform(os="linux", architecture="arm64", variant="v8"),
    Platform(os="linux", architecture="s390x"),
)


def make_index(tag: str = "multi") -> SampleIndex:
    children = [make_image(f"{tag}-{p.architecture}", layers=2, platform=p) for p in PLATFORMS]
    index = ImageIndex.build([c.descriptor(p) for c, p in zip(children, PLATFORMS, strict=True)])
    return SampleIndex(index, children)


def put_image(dst: ImageDestination, img: SampleImage, *, instance: bool = False) -> None:
    """Write an image's blobs and manifest through `dst` (no commit)."""
    for desc in img.manifest.blobs():
        if not dst.has_blob(desc):
            dst.put_blob(io.BytesIO(img.blobs[desc.digest]), desc)
    dst.put_manifest(
        img.manifest.raw, img.manifest.media_type, instance=img.digest if instance else None
    )


def put_index(dst: ImageDestination, idx: SampleIndex) -> None:
    for child in idx.children:
        put_image(dst, child, instance=True)
    dst.put_manifest(idx.index.raw, idx.index.media_type)
