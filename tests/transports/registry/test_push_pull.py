"""Push with RegistryDestination, pull with RegistrySource, against real registries."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from lamina import media_types as mt
from lamina.content.blobstore import BlobStore
from lamina.digest import Digest
from lamina.errors import ErrorCode, IntegrityError, NotFound
from lamina.image import model
from lamina.image.validate import validate
from lamina.oci import Descriptor, ImageIndex
from lamina.platform import Platform
from lamina.transports.registry import (
    RegistryDestination,
    RegistryOptions,
    RegistryReference,
    RegistrySource,
)
from lamina.transports.registry.destination import MONOLITHIC_MAX
from tests.transports.registry.images import make_image, make_index, push_image

pytestmark = pytest.mark.interop

OPTS = RegistryOptions(retry_delay=0.05)


def ref(host: str, name: str) -> RegistryReference:
    return RegistryReference.parse(f"docker://{host}/{name}", OPTS)


@pytest.mark.parametrize("payload", [1000, MONOLITHIC_MAX + 300_000])
def test_push_then_pull_single_image(any_registry: str, store: BlobStore, payload: int) -> None:
    img = make_image(store, seed=payload, payload=payload)
    target = ref(any_registry, f"lamina/single{payload}:v1")
    dest = target.new_destination()
    try:
        push_image(img, dest)
        dest.commit()
    finally:
        dest.close()
    src = target.new_source()
    try:
        raw, media_type = src.get_manifest()
        assert raw == img.raw_manifest()
        assert media_type == mt.OCI_MANIFEST
        pulled = model.load(raw, src, media_type)
        assert pulled.digest() == img.digest()
        validate(pulled)
        assert isinstance(src, RegistrySource)
        assert src.manifest_digest() == img.digest()
        assert src.list_tags() == ["v1"]
    finally:
        src.close()


def test_docker_schema2_and_by_digest(any_registry: str, store: BlobStore) -> None:
    img = make_image(store, seed=7, docker=True)
    push_image(img, ref(any_registry, "lamina/docker:v2").new_destination())
    src = ref(any_registry, f"lamina/docker@{img.digest()}").new_source()
    raw, media_type = src.get_manifest()
    assert media_type == mt.DOCKER_MANIFEST
    assert Digest.of_bytes(raw) == img.digest()
    validate(model.load(raw, src, media_type))


def test_multi_arch_index(any_registry: str, store: BlobStore) -> None:
    platforms = [
        Platform(os="linux", architecture="amd64"),
        Platform(os="linux", architecture="arm64"),
    ]
    images = [(make_image(store, seed=i + 20, platform=p), p) for i, p in enumerate(platforms)]
    index = make_index(images)
    target = ref(any_registry, "lamina/multi:latest")
    dest = target.new_destination()
    for img, _ in images:
        push_image(img, dest, instance=True)
    dest.put_manifest(index.raw, mt.OCI_INDEX)
    src = target.new_source()
    raw, media_type = src.get_manifest()
    assert raw == index.raw and media_type == mt.OCI_INDEX
    view = model.load(raw, src, media_type)
    validate(view)
    assert view.digest() == index.digest
    assert isinstance(view, model.BlobSourceIndex)
    arm = view.manifest().for_platform(platforms[1])
    assert arm is not None and arm.digest == images[1][0].digest()


def test_tags_pagination_and_delete(distribution: object, store: BlobStore) -> None:
    from tests.transports.registry.servers import Distribution

    assert isinstance(distribution, Distribution)
    img = make_image(store, seed=99)
    names = [f"t{i:02d}" for i in range(5)]
    for tag in names:
        push_image(img, ref(distribution.host, f"lamina/paged:{tag}").new_destination())
    src = ref(distribution.host, "lamina/paged:t00").new_source()
    assert isinstance(src, RegistrySource)
    tags = src.list_tags(page_size=2)
    assert sorted(tags) == names and len(tags) == len(names)
    assert src.delete() == img.digest()
    with pytest.raises(NotFound) as err:
        src.get_manifest()
    assert err.value.code == ErrorCode.MANIFEST_UNKNOWN


def test_unknown_tag_and_repository(any_registry: str, store: BlobStore) -> None:
    img = make_image(store, seed=3)
    push_image(img, ref(any_registry, "lamina/known:v1").new_destination())
    with pytest.raises(NotFound) as err:
        ref(any_registry, "lamina/known:nope").new_source().get_manifest()
    assert err.value.code == ErrorCode.MANIFEST_UNKNOWN
    assert any_registry in str(err.value) and "lamina/known" in str(err.value)
    with pytest.raises(NotFound) as err:
        ref(any_registry, "lamina/never-pushed:v1").new_source().get_manifest()
    assert err.value.code in (ErrorCode.NAME_UNKNOWN, ErrorCode.MANIFEST_UNKNOWN)


def test_unknown_repository_is_name_unknown_on_distribution(distribution: object) -> None:
    from tests.transports.registry.servers import Distribution

    assert isinstance(distribution, Distribution)
    src = ref(distribution.host, "lamina/never-pushed:v1").new_source()
    assert isinstance(src, RegistrySource)
    with pytest.raises(NotFound) as err:
        src.list_tags()
    assert err.value.code == ErrorCode.NAME_UNKNOWN


def test_wrong_blob_bytes_are_refused_and_not_kept(any_registry: str, store: BlobStore) -> None:
    dest = ref(any_registry, "lamina/bad:v1").new_destination()
    for size in (100, MONOLITHIC_MAX + 10):
        good = b"a" * size
        desc = Descriptor(media_type=mt.OCI_LAYER_GZIP, digest=Digest.of_bytes(good), size=size)
        with pytest.raises(IntegrityError):
            dest.put_blob(io.BytesIO(b"b" * size), desc)
        with pytest.raises(IntegrityError):
            dest.put_blob(io.BytesIO(good[:-1]), desc)
        assert not dest.has_blob(desc)
        dest.put_blob(io.BytesIO(good), desc)
        assert dest.has_blob(desc)


def test_wrong_bytes_from_a_local_file_are_refused_and_not_kept(
    any_registry: str, store: BlobStore, tmp_path: Path
) -> None:
    """A blob read from a local file is not hashed by the client: the registry's check at
    the closing PUT refuses wrong content, and that refusal is an IntegrityError."""
    dest = ref(any_registry, "lamina/bad-file:v1").new_destination()
    size = MONOLITHIC_MAX + 10
    good = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    desc = Descriptor(media_type=mt.OCI_LAYER_GZIP, digest=Digest.of_bytes(good), size=size)
    bad = bytearray(good)
    bad[size // 2] ^= 1
    path = tmp_path / "blob"
    for content in (bytes(bad), good[:-1], good + b"!"):
        path.write_bytes(content)
        with path.open("rb") as f, pytest.raises(IntegrityError):
            dest.put_blob(f, desc)
        assert not dest.has_blob(desc)
    path.write_bytes(good)
    with path.open("rb") as f:
        dest.put_blob(f, desc)
    assert dest.has_blob(desc)


def test_cross_repository_mount(any_registry: str, store: BlobStore) -> None:
    img = make_image(store, seed=41)
    push_image(img, ref(any_registry, "lamina/mount-a:v1").new_destination())
    dest = ref(any_registry, "lamina/mount-b:v1").new_destination()
    assert isinstance(dest, RegistryDestination)
    layer = img.manifest().layers[0]
    assert not dest.has_blob(layer)
    assert dest.mount_blob(layer, "lamina/mount-a")
    assert dest.has_blob(layer)
    config = img.manifest().config
    with img.open_blob(config) as f:
        dest.put_blob(f, config, mount_from="lamina/mount-a")
    dest.put_manifest(img.raw_manifest(), mt.OCI_MANIFEST)
    src = ref(any_registry, "lamina/mount-b:v1").new_source()
    validate(model.load(src.get_manifest()[0], src))


def test_referrers_fallback_and_api(any_registry: str, store: BlobStore) -> None:
    img = make_image(store, seed=50)
    push_image(img, ref(any_registry, "lamina/subject:v1").new_destination())
    src = ref(any_registry, "lamina/subject:v1").new_source()
    assert isinstance(src, RegistrySource)
    assert src.referrers(img.digest()).manifests == ()
    # An artifact whose subject is the image: a manifest with `subject` and artifactType.
    empty = b"{}"
    empty_desc = Descriptor(media_type=mt.OCI_EMPTY, digest=Digest.of_bytes(empty), size=2)
    dest = ref(any_registry, "lamina/subject:v1").new_destination()
    dest.put_blob(io.BytesIO(empty), empty_desc)
    art = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "artifactType": "application/vnd.example.sbom",
        "config": empty_desc.to_json(),
        "layers": [empty_desc.to_json()],
        "subject": img.manifest().descriptor().to_json(),
    }
    import json

    art_raw = json.dumps(art).encode()
    art_digest = Digest.of_bytes(art_raw)
    dest.put_manifest(art_raw, mt.OCI_MANIFEST, instance=art_digest)
    found = src.referrers(img.digest())
    if not found.manifests:
        # A registry without the referrers API: clients keep the tag-schema index themselves.
        fallback = ImageIndex.build(
            [
                Descriptor(
                    media_type=mt.OCI_MANIFEST,
                    digest=art_digest,
                    size=len(art_raw),
                    artifact_type="application/vnd.example.sbom",
                )
            ]
        )
        tag_dest = ref(any_registry, f"lamina/subject:sha256-{img.digest().hex}")
        tag_dest.new_destination().put_manifest(fallback.raw, mt.OCI_INDEX)
        found = src.referrers(img.digest())
    assert [d.digest for d in found.manifests] == [art_digest]
    assert src.referrers(img.digest(), "application/vnd.example.sbom").manifests
    assert not src.referrers(img.digest(), "application/other").manifests
