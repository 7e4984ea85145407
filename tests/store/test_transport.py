from __future__ import annotations

import io
from pathlib import Path

import pytest

from lamina import media_types as mt
from lamina.content import BlobStore
from lamina.errors import IntegrityError, InvalidInput, NotFound
from lamina.image.validate import validate
from lamina.oci import ImageIndex, ImageManifest, parse_any
from lamina.store import Store
from lamina.store.transport import StoreReference
from lamina.transports.base import ImageDestination, ImageSource
from tests.store.builders import make_image
from tests.store.test_index import make_index


def _copy_image(src: ImageSource, dst: ImageDestination, raw: bytes, instance: bool) -> None:
    m = ImageManifest.parse(raw)
    for desc in m.blobs():
        if not dst.has_blob(desc):
            with src.open_blob(desc) as f:
                dst.put_blob(f, desc)
    dst.put_manifest(raw, m.media_type, instance=m.digest if instance else None)


def copy(src: ImageSource, dst: ImageDestination) -> None:
    """A minimal copy, as lamina.copy does it: blobs, child manifests, top manifest, commit."""
    raw, media_type = src.get_manifest()
    parsed = parse_any(raw, media_type)
    try:
        if isinstance(parsed, ImageIndex):
            for desc in parsed.manifests:
                child, _ = src.get_manifest(desc.digest)
                _copy_image(src, dst, child, True)
            dst.put_manifest(raw, media_type)
        else:
            _copy_image(src, dst, raw, False)
        dst.put_signatures(parsed.digest, src.signatures(parsed.digest))
        dst.commit()
    finally:
        dst.close()
        src.close()


@pytest.fixture
def other(tmp_path: Path) -> Store:
    return Store.open(tmp_path / "other")


def test_round_trip_between_stores(store: Store, other: Store, src: BlobStore) -> None:
    s = store.put_image(make_image(src, "rt", layers=2, docker=True), ["rt:1"])
    store.put_signatures(s.manifest_digest, [b"sig-one", b"sig-two"])
    source = StoreReference.parse(store, "lamina:rt:1").new_source()
    assert isinstance(source, ImageSource)
    assert source.describe() == "lamina:rt:1"
    dest_ref = StoreReference.parse(other, "lamina:quay.io/x/rt:copied")
    assert dest_ref.transport == "lamina"
    dest = dest_ref.new_destination()
    assert isinstance(dest, ImageDestination)
    copy(source, dest)
    got = other.lookup("quay.io/x/rt:copied")
    assert got.id == s.id and got.manifest_digest == s.manifest_digest
    assert got.media_type == mt.DOCKER_MANIFEST and got.size == s.size
    validate(other.image(got))
    assert other.signatures(got.manifest_digest) == [b"sig-one", b"sig-two"]
    assert other.check() == []


def test_index_round_trip(store: Store, other: Store, src: BlobStore) -> None:
    s = store.put_index(make_index(src, "mi"), ["mi"])
    copy(
        StoreReference.parse(store, "mi").new_source(),
        StoreReference.parse(other, "mi").new_destination(),
    )
    got = other.lookup("mi")
    assert got.is_index and got.manifest_digest == s.manifest_digest
    assert len(other.list_images(all=True)) == 3
    validate(other.index(got))
    assert other.check() == []


def test_source_serves_only_its_own_manifests(store: Store, src: BlobStore) -> None:
    a = store.put_image(make_image(src, "a"), ["a"])
    b = store.put_image(make_image(src, "b"), ["b"])
    source = StoreReference.parse(store, a.id[:12]).new_source()
    assert source.get_manifest(a.manifest_digest)[0] == store.image(a).raw_manifest()
    with pytest.raises(NotFound, match="not part of this image"):
        source.get_manifest(b.manifest_digest)


def test_uncommitted_destination_leaves_no_trace(
    store: Store, other: Store, src: BlobStore
) -> None:
    store.put_image(make_image(src, "nc"), ["nc"])
    source = StoreReference.parse(store, "nc").new_source()
    raw, _ = source.get_manifest()
    dest = StoreReference.parse(other, "nc").new_destination()
    _copy_image(source, dest, raw, False)
    assert len(list(other.blobs)) == 3
    dest.close()
    assert list(other.blobs) == [] and other.list_images(all=True) == []


def test_destination_refuses_a_wrong_blob(other: Store, src: BlobStore) -> None:
    img = make_image(src, "wrong")
    desc = img.manifest().layers[0]
    dest = StoreReference.parse(other, "wrong").new_destination()
    with pytest.raises(IntegrityError):
        dest.put_blob(io.BytesIO(b"\0" * desc.size), desc)
    assert list(other.blobs) == []
    with pytest.raises(InvalidInput, match="commit before"):
        dest.commit()
    dest.close()


def test_reference_parsing(store: Store) -> None:
    with pytest.raises(InvalidInput):
        StoreReference.parse(store, "lamina:Not Valid")
    with pytest.raises(InvalidInput, match="name an image"):
        StoreReference.parse(store, "lamina:").new_source()
    with pytest.raises(NotFound):
        StoreReference.parse(store, "lamina:missing").new_source()
    assert StoreReference.parse(store, "app:1").describe() == "lamina:app:1"
