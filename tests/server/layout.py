"""Tiny OCI image layouts (one small tar layer per image) for driving real clients."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path
from typing import Any

from tests.server.client import OCI_CONFIG, OCI_INDEX, OCI_LAYER, OCI_MANIFEST, compact


def _tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _put(root: Path, data: bytes) -> dict[str, Any]:
    hexdigest = hashlib.sha256(data).hexdigest()
    (root / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
    (root / "blobs" / "sha256" / hexdigest).write_bytes(data)
    return {"digest": f"sha256:{hexdigest}", "size": len(data)}


def _image(root: Path, arch: str, payload: bytes) -> dict[str, Any]:
    tar = _tar({"hello.txt": payload, f"arch-{arch}": arch.encode()})
    layer = gzip.compress(tar, mtime=0)
    config = compact(
        {
            "architecture": arch,
            "os": "linux",
            "config": {"Cmd": ["/hello.txt"]},
            "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(tar).hexdigest()]},
        }
    )
    manifest = compact(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, **_put(root, config)},
            "layers": [{"mediaType": OCI_LAYER, **_put(root, layer)}],
        }
    )
    return {
        "mediaType": OCI_MANIFEST,
        **_put(root, manifest),
        "platform": {"architecture": arch, "os": "linux"},
    }


def make_layout(root: Path, tag: str, arches: list[str], payload: bytes = b"hi\n") -> Path:
    """An OCI layout at `root` whose `tag` is one image (one arch) or an index (several)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    images = [_image(root, arch, payload + arch.encode()) for arch in arches]
    if len(images) == 1:
        top = {k: v for k, v in images[0].items() if k != "platform"}
    else:
        index = compact({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": images})
        top = {"mediaType": OCI_INDEX, **_put(root, index)}
    top["annotations"] = {"org.opencontainers.image.ref.name": tag}
    (root / "index.json").write_text(
        json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [top]})
    )
    return root
