"""Small real images for registry tests: gzip'd tar layers made with tarfile, assembled with
lamina.image.mutate, pushed blob by blob through a destination."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import random
import tarfile
from pathlib import Path

from lamina import media_types as mt
from lamina.content.blobstore import BlobStore
from lamina.digest import Digest
from lamina.image import mutate
from lamina.image.model import Image
from lamina.oci import Descriptor, ImageIndex
from lamina.platform import Platform
from lamina.transports.base import ImageDestination


def layer_blob(files: dict[str, bytes]) -> tuple[bytes, bytes]:
    """(tar, gzip'd tar) holding `files`, deterministic."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data))
    raw = buf.getvalue()
    return raw, gzip.compress(raw, mtime=0)


def make_image(
    store: BlobStore,
    *,
    seed: int = 0,
    payload: int = 1000,
    platform: Platform | None = None,
    docker: bool = False,
) -> Image:
    """A one-layer image whose layer holds `payload` random (incompressible) bytes."""
    data = random.Random(seed).randbytes(payload)
    tar, gz = layer_blob({"hello.txt": f"hello {seed}\n".encode(), "data.bin": data})
    digest = store.put_bytes(gz)
    diff_id = Digest("sha256", hashlib.sha256(tar).hexdigest())
    desc = Descriptor(media_type=mt.OCI_LAYER_GZIP, digest=digest, size=len(gz))
    layer = mutate.StoreLayer(desc, diff_id, store)
    base = mutate.empty_image(platform or Platform(os="linux", architecture="amd64"))
    img = mutate.append_layers(base, [mutate.Addendum(layer)])
    if docker:
        img = mutate.with_media_type(img, mt.DOCKER_MANIFEST)
    return img


def push_image(img: Image, dest: ImageDestination, *, instance: bool = False) -> None:
    """Upload every blob the destination lacks, then the manifest."""
    manifest = img.manifest()
    for desc in manifest.blobs():
        if not dest.has_blob(desc):
            with img.open_blob(desc) as stream:
                dest.put_blob(stream, desc)
    dest.put_manifest(
        img.raw_manifest(), manifest.media_type, instance=img.digest() if instance else None
    )


def make_index(images: list[tuple[Image, Platform]]) -> ImageIndex:
    return ImageIndex.build(
        [img.manifest().descriptor(platform=p) for img, p in images], media_type=mt.OCI_INDEX
    )


def write_oci_layout(img: Image, directory: Path, tag: str) -> None:
    """A minimal OCI image layout holding `img` under `tag` (for skopeo's `oci:` transport)."""
    blobs = directory / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)
    (directory / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    manifest = img.manifest()
    for desc in manifest.blobs():
        with img.open_blob(desc) as f:
            (blobs / desc.digest.hex).write_bytes(f.read())
    (blobs / img.digest().hex).write_bytes(img.raw_manifest())
    entry = manifest.descriptor(annotations={"org.opencontainers.image.ref.name": tag}).to_json()
    index = {"schemaVersion": 2, "manifests": [entry]}
    (directory / "index.json").write_text(json.dumps(index))
