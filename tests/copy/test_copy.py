"""copy_image across transports: formats, signatures, progress, failure cleanup."""

from __future__ import annotations

import gzip
import io
import os
from pathlib import Path

import pytest

from lamina import media_types as mt
from lamina.copy import BlobProgress, ProgressEvent, copy_image
from lamina.copy.alltransports import parse
from lamina.digest import Digest
from lamina.errors import ErrorCode, InvalidInput
from lamina.image.model import Image, load
from lamina.image.validate import validate
from lamina.oci import Descriptor, ImageManifest, RootFS
from lamina.transports.directory import DirReference
from tests.transports.conformance import write
from tests.transports.images import layer_tar, make_image

TARGETS = [
    "oci:{d}/l:x",
    "oci-archive:{d}/o.tar:x",
    "docker-archive:{d}/d.tar:localhost/x:1",
    "dir:{d}/dir",
]


@pytest.mark.parametrize("source", TARGETS)
@pytest.mark.parametrize("target", TARGETS)
def test_every_pair(source: str, target: str, tmp_path: Path) -> None:
    (tmp_path / "s").mkdir()
    (tmp_path / "t").mkdir()
    img = make_image("pair", layers=2)
    src = parse(source.format(d=tmp_path / "s"))
    write(src, img)
    dst = parse(target.format(d=tmp_path / "t"))
    copy_image(src, dst)
    s = dst.new_source()
    try:
        raw, media_type = s.get_manifest()
        got = load(raw, s, media_type)
        validate(got)
        assert isinstance(got, Image)
        assert got.config().digest == img.config.digest
    finally:
        s.close()


def _dir_with_signatures(tmp_path: Path) -> DirReference:
    img = make_image("signed", layers=1)
    ref = DirReference(str(tmp_path / "signed"))
    dst = ref.new_destination()
    try:
        for desc in img.manifest.blobs():
            dst.put_blob(io.BytesIO(img.blobs[desc.digest]), desc)
        dst.put_manifest(img.manifest.raw, img.manifest.media_type)
        dst.put_signatures(img.digest, [b"a signature"])
        dst.commit()
    finally:
        dst.close()
    return ref


def test_signatures_travel_where_the_format_allows(tmp_path: Path) -> None:
    src = _dir_with_signatures(tmp_path)
    out = DirReference(str(tmp_path / "copy"))
    digest = copy_image(src, out)
    s = out.new_source()
    try:
        assert s.signatures(digest) == [b"a signature"]
    finally:
        s.close()
    with pytest.raises(InvalidInput) as info:
        copy_image(src, parse(f"oci:{tmp_path}/l:x"))
    assert info.value.code == ErrorCode.UNSUPPORTED
    assert not (tmp_path / "l").exists()


def test_progress_reports_bytes(tmp_path: Path) -> None:
    big = gzip.compress(layer_tar({"big": os.urandom(6 << 20)}), compresslevel=1, mtime=0)
    img = make_image("progress", layers=1)
    plain = gzip.decompress(big)
    # Swap the layer for a big one (config diff_ids follow).
    config = img.config.evolve(rootfs=RootFS(diff_ids=(Digest.of_bytes(plain),)))
    layer = Descriptor(media_type=mt.OCI_LAYER_GZIP, digest=Digest.of_bytes(big), size=len(big))
    manifest = ImageManifest.build(
        Descriptor(media_type=mt.OCI_CONFIG, digest=config.digest, size=len(config.raw)), [layer]
    )
    img.manifest, img.config = manifest, config
    img.blobs = {config.digest: config.raw, layer.digest: big}
    src = parse(f"oci:{tmp_path}/l:x")
    write(src, img)
    events: list[ProgressEvent] = []
    copy_image(src, parse(f"dir:{tmp_path}/d"), progress=events.append)
    progress = [e for e in events if isinstance(e, BlobProgress) and e.digest == layer.digest]
    assert len(progress) >= 2
    assert progress[-1].done == progress[-1].total == len(big)
