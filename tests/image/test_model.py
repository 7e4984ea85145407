"""image/: the lazy model (nothing read until asked, then once, and verified), mutate (new
views, the original untouched) and validate (the oracle names what does not check out)."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from datetime import UTC, datetime
from typing import BinaryIO

import pytest

from lamina import media_types as mt
from lamina.digest import Digest
from lamina.errors import IntegrityError, InvalidInput, NotFound
from lamina.image import mutate
from lamina.image.model import BlobSourceImage, BlobSourceIndex, Image, load
from lamina.image.validate import validate
from lamina.oci import Descriptor, ImageConfig, ImageIndex, ImageManifest, RootFS
from lamina.platform import Platform
from tests.transports.images import SampleImage, make_image


class MemorySource:
    """Blobs and manifests held in memory, counting what is opened (a ManifestSource)."""

    def __init__(self, blobs: dict[Digest, bytes], manifests: dict[Digest, bytes] | None = None):
        self.blobs = dict(blobs)
        self.manifests = manifests or {}
        self.opened: list[Digest] = []

    def open_blob(self, desc: Descriptor) -> BinaryIO:
        self.opened.append(desc.digest)
        try:
            return io.BytesIO(self.blobs[desc.digest])
        except KeyError:
            raise NotFound(f"blob {desc.digest}") from None

    def get_manifest(self, digest: Digest) -> tuple[bytes, str]:
        raw = self.manifests[digest]
        return raw, mt.OCI_MANIFEST


def _image(sample: SampleImage) -> tuple[BlobSourceImage, MemorySource]:
    source = MemorySource(sample.blobs)
    return BlobSourceImage(sample.manifest.raw, source), source


def test_nothing_is_read_until_asked_and_then_once() -> None:
    sample = make_image("lazy", layers=3)
    img, source = _image(sample)
    assert img.digest() == sample.digest and img.manifest() == sample.manifest
    assert source.opened == []
    assert img.config() is img.config() and img.raw_config() == sample.config.raw
    assert source.opened == [sample.config.digest]
    layers = img.layers()
    assert [layer.diff_id for layer in layers] == sample.diff_ids
    assert source.opened == [sample.config.digest]  # layers are described, not read
    with layers[1].open() as f:
        assert f.read() == sample.blobs[sample.manifest.layers[1].digest]
    validate(img)


def test_a_config_that_is_not_its_digest_is_refused() -> None:
    sample = make_image("bad-config", layers=1)
    blobs = dict(sample.blobs)
    blobs[sample.config.digest] = sample.config.raw.replace(b"amd64", b"arm64")
    img = BlobSourceImage(sample.manifest.raw, MemorySource(blobs))
    with pytest.raises(IntegrityError):
        img.config()


def test_a_layer_count_mismatch_is_named() -> None:
    sample = make_image("count", layers=2)
    config = sample.config.evolve(rootfs=RootFS(diff_ids=tuple(sample.diff_ids[:1])))
    manifest = ImageManifest.build(
        replace(sample.manifest.config, digest=config.digest, size=len(config.raw)),
        sample.manifest.layers,
    )
    img = BlobSourceImage(manifest.raw, MemorySource({**sample.blobs, config.digest: config.raw}))
    with pytest.raises(IntegrityError, match="manifest has 2 layers but config lists 1"):
        img.layers()


def test_an_index_child_must_match_its_descriptor() -> None:
    one, two = make_image("one", layers=1), make_image("two", layers=1)
    index = ImageIndex.build([one.descriptor(Platform.parse("linux/amd64")),
                              two.descriptor(Platform.parse("linux/arm64"))])  # fmt: skip
    manifests = {one.digest: one.manifest.raw, two.digest: one.manifest.raw}  # two is wrong
    view = load(index.raw, MemorySource({**one.blobs, **two.blobs}, manifests))
    assert isinstance(view, BlobSourceIndex)
    validate(view.image(index.manifests[0]))
    with pytest.raises(IntegrityError, match=f"manifest {two.digest}"):
        view.image(index.manifests[1])


# -- mutate ----------------------------------------------------------------------------------


def test_mutations_return_new_images_and_leave_the_original() -> None:
    sample = make_image("base", layers=2)
    base, _ = _image(sample)
    extra = make_image("extra", layers=1)
    extra_img, _ = _image(extra)
    grown = mutate.append_layers(base, [mutate.Addendum(extra_img.layers()[0])])
    assert base.digest() == sample.digest and len(base.layers()) == 2
    assert len(grown.layers()) == 3 and grown.digest() != base.digest()
    assert grown.config().rootfs.diff_ids == (*sample.diff_ids, *extra.diff_ids)
    assert len(grown.config().history) == 3
    validate(grown)

    when = datetime(2025, 5, 6, 7, 8, 9, 500000, tzinfo=UTC)
    dated = mutate.with_created(grown, when)
    assert dated.config().created == "2025-05-06T07:08:09.5Z"
    assert {h.created for h in dated.config().history} == {"2025-05-06T07:08:09.5Z"}
    assert grown.config().created == "2024-01-01T00:00:00Z"

    noted = mutate.with_annotations(dated, {"org.example": "1"})
    assert json.loads(noted.raw_manifest())["annotations"] == {"org.example": "1"}
    assert noted.config().digest == dated.config().digest

    docker = mutate.with_media_type(noted, mt.DOCKER_MANIFEST)
    assert docker.manifest().media_type == mt.DOCKER_MANIFEST
    assert docker.manifest().config.media_type == mt.DOCKER_CONFIG
    assert {d.media_type for d in docker.manifest().layers} == {mt.DOCKER_LAYER_GZIP}
    validate(docker)


def test_the_empty_image_has_no_layers_and_the_asked_platform() -> None:
    img = mutate.empty_image(Platform.parse("linux/arm64/v8"))
    cfg = img.config()
    assert (cfg.os, cfg.architecture, cfg.variant) == ("linux", "arm64", "v8")
    assert img.layers() == () and img.manifest().layers == ()
    validate(img)
    with pytest.raises(NotFound):
        img.open_blob(Descriptor(media_type=mt.OCI_LAYER_GZIP, digest=Digest.of_bytes(b""), size=0))


# -- validate --------------------------------------------------------------------------------


def _rebuilt(sample: SampleImage, config: ImageConfig, layers: list[Descriptor]) -> Image:
    config = config.reserialised()
    manifest = ImageManifest.build(
        replace(sample.manifest.config, digest=config.digest, size=len(config.raw)),
        layers,
        media_type=sample.manifest.media_type,
    )
    source = MemorySource({**sample.blobs, config.digest: config.raw})
    return BlobSourceImage(manifest.raw, source)


def test_validate_names_a_wrong_diff_id() -> None:
    sample = make_image("diff", layers=2)
    ids = (sample.diff_ids[0], Digest.of_bytes(b"not this layer"))
    img = _rebuilt(sample, sample.config.evolve(rootfs=RootFS(diff_ids=ids)), [
        *sample.manifest.layers])  # fmt: skip
    with pytest.raises(IntegrityError, match=r"layer 1 \(sha256:[0-9a-f]+\) has diff_id"):
        validate(img)
    validate(img, layers=False)  # without reading layers, the links hold


def test_validate_names_a_history_mismatch() -> None:
    sample = make_image("hist", layers=2)
    img = _rebuilt(sample, sample.config.evolve(history=sample.config.history[:1]), [
        *sample.manifest.layers])  # fmt: skip
    with pytest.raises(IntegrityError, match="1 non-empty history entries for 2 layers"):
        validate(img)


def test_validate_refuses_a_docker_manifest_with_an_oci_zstd_layer() -> None:
    sample = make_image("dz", layers=1, docker=True)
    layer = sample.manifest.layers[0].with_media_type(mt.OCI_LAYER_ZSTD)
    img = _rebuilt(sample, sample.config, [layer])
    with pytest.raises(IntegrityError, match="Docker manifest has layer type"):
        validate(img)


def test_validate_reads_a_layer_to_its_end_and_checks_it() -> None:
    sample = make_image("trunc", layers=1)
    layer = sample.manifest.layers[0]
    blobs = dict(sample.blobs)
    blobs[layer.digest] = blobs[layer.digest] + b"trailing"
    img = BlobSourceImage(sample.manifest.raw, MemorySource(blobs))
    with pytest.raises(IntegrityError):
        validate(img)


def test_load_refuses_what_is_not_a_manifest() -> None:
    with pytest.raises(InvalidInput, match="cannot tell whether this is a manifest or an index"):
        load(b'{"schemaVersion": 2}', MemorySource({}))
