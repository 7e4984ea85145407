"""`docker://` through lamina.copy and alltransports: oci layout → registry → oci layout."""

from __future__ import annotations

from pathlib import Path

import pytest

from lamina import media_types as mt
from lamina.content.blobstore import BlobStore
from lamina.copy import alltransports
from lamina.copy.copier import copy_image
from lamina.image import model
from lamina.image.validate import validate
from lamina.platform import Platform
from lamina.transports.registry import RegistryReference
from tests.transports.registry.images import make_image, write_oci_layout

pytestmark = pytest.mark.interop


def test_copy_to_and_from_a_registry(any_registry: str, store: BlobStore, tmp_path: Path) -> None:
    img = make_image(store, seed=4242, platform=Platform(os="linux", architecture="amd64"))
    write_oci_layout(img, tmp_path / "in", "v1")
    dst = alltransports.parse(f"docker://{any_registry}/copied/app:v1")
    assert isinstance(dst, RegistryReference)
    assert dst.describe() == f"docker://{any_registry}/copied/app:v1"
    pushed = copy_image(alltransports.parse(f"oci:{tmp_path / 'in'}:v1"), dst)
    assert pushed == img.digest()
    # Copying again finds every blob present and writes the same manifest.
    assert copy_image(alltransports.parse(f"oci:{tmp_path / 'in'}:v1"), dst) == pushed
    src = dst.new_source()
    raw, media_type = src.get_manifest()
    assert raw == img.raw_manifest() and media_type == mt.OCI_MANIFEST
    validate(model.load(raw, src, media_type))
    back = copy_image(
        alltransports.parse(f"docker://{any_registry}/copied/app:v1"),
        alltransports.parse(f"oci:{tmp_path / 'out'}:v1"),
    )
    assert back == img.digest()
