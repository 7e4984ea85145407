"""skopeo ⇄ lamina through a real Distribution registry: same bytes both ways."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest

from lamina import media_types as mt
from lamina.content.blobstore import BlobStore
from lamina.image import model
from lamina.image.validate import validate
from lamina.transports.registry import RegistryOptions, RegistryReference, RegistrySource
from tests.transports.registry.images import make_image, push_image, write_oci_layout
from tests.transports.registry.servers import Distribution

pytestmark = pytest.mark.interop


def skopeo(*args: str) -> str:
    proc = subprocess.run(
        ["skopeo", *args], check=False, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_skopeo_pushes_lamina_pulls(
    distribution: Distribution, store: BlobStore, tmp_path: Path
) -> None:
    img = make_image(store, seed=1001, payload=50_000)
    write_oci_layout(img, tmp_path / "layout", "v1")
    target = f"{distribution.host}/interop/from-skopeo:v1"
    skopeo("copy", "--dest-tls-verify=false", f"oci:{tmp_path / 'layout'}:v1", f"docker://{target}")
    src = RegistryReference.parse(f"docker://{target}").new_source()
    raw, media_type = src.get_manifest()
    assert raw == img.raw_manifest()
    assert media_type == mt.OCI_MANIFEST
    pulled = model.load(raw, src, media_type)
    assert pulled.digest() == img.digest()
    validate(pulled)


def test_lamina_pushes_skopeo_reads(
    distribution: Distribution, store: BlobStore, tmp_path: Path
) -> None:
    img = make_image(store, seed=1002, payload=50_000, docker=True)
    target = f"{distribution.host}/interop/from-lamina:v1"
    push_image(img, RegistryReference.parse(f"docker://{target}").new_destination())
    raw = subprocess.run(
        ["skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{target}"],
        capture_output=True,
        check=True,
        timeout=120,
    ).stdout
    assert raw == img.raw_manifest()
    # skopeo copies it out and its layout holds the very same manifest and blobs.
    out = tmp_path / "out"
    skopeo("copy", "--src-tls-verify=false", f"docker://{target}", f"dir:{out}")
    assert (out / "manifest.json").read_bytes() == img.raw_manifest()
    layer = img.manifest().layers[0]
    assert hashlib.sha256((out / layer.digest.hex).read_bytes()).hexdigest() == layer.digest.hex
    tags = json.loads(skopeo("list-tags", "--tls-verify=false", f"docker://{target[:-3]}"))
    assert tags["Tags"] == ["v1"]


def test_lamina_list_tags_and_delete_seen_by_skopeo(
    distribution: Distribution, store: BlobStore
) -> None:
    img = make_image(store, seed=1003)
    base = f"{distribution.host}/interop/deleted"
    push_image(img, RegistryReference.parse(f"docker://{base}:gone").new_destination())
    src = RegistryReference.parse(f"docker://{base}:gone", RegistryOptions()).new_source()
    assert isinstance(src, RegistrySource)
    src.delete()
    proc = subprocess.run(
        ["skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{base}:gone"],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0 and "manifest unknown" in proc.stderr.lower()
