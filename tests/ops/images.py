"""Test images as OCI layouts on disk (the starting point of most copies)."""

from __future__ import annotations

import json
from pathlib import Path

from lamina import media_types as mt
from lamina.content.blobstore import BlobStore
from lamina.image.model import Image
from lamina.oci import ImageIndex
from lamina.platform import Platform
from tests.transports.registry.images import make_image, make_index, write_oci_layout

AMD64 = Platform(os="linux", architecture="amd64")
ARM64 = Platform(os="linux", architecture="arm64", variant="v8")


def image_layout(tmp: Path, name: str, *, seed: int, payload: int = 20_000) -> tuple[Path, Image]:
    """An OCI layout `tmp/name` holding one image under tag `v1`."""
    img = make_image(BlobStore(tmp / f"{name}-blobs"), seed=seed, payload=payload)
    write_oci_layout(img, tmp / name, "v1")
    return tmp / name, img


def index_layout(tmp: Path, name: str, *, seed: int) -> tuple[Path, ImageIndex, list[Image]]:
    """An OCI layout holding a two-platform index (amd64, arm64) under tag `v1`."""
    blobs = BlobStore(tmp / f"{name}-blobs")
    imgs = [
        make_image(blobs, seed=seed, platform=AMD64),
        make_image(blobs, seed=seed + 1, platform=ARM64),
    ]
    index = make_index([(imgs[0], AMD64), (imgs[1], ARM64)])
    root = tmp / name
    out = root / "blobs" / "sha256"
    out.mkdir(parents=True)
    (root / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    for img in imgs:
        for desc in img.manifest().blobs():
            with img.open_blob(desc) as f:
                (out / desc.digest.hex).write_bytes(f.read())
        (out / img.digest().hex).write_bytes(img.raw_manifest())
    (out / index.digest.hex).write_bytes(index.raw)
    entry = index.descriptor(annotations={"org.opencontainers.image.ref.name": "v1"})
    (root / "index.json").write_text(
        json.dumps({"schemaVersion": 2, "manifests": [entry.to_json()]})
    )
    assert index.media_type == mt.OCI_INDEX
    return root, index, imgs
