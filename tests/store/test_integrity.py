from __future__ import annotations

import os

import pytest

from lamina.content import BlobStore
from lamina.digest import Digest
from lamina.errors import IntegrityError
from lamina.image.mutate import Addendum, StoreLayer, append_layers, empty_image
from lamina.store import Store
from tests.store.builders import AMD64, layer, make_image


def _state(store: Store) -> tuple[object, ...]:
    return (
        [(i.id, i.names) for i in store.list_images(all=True)],
        sorted(store.blobs),
        sorted(os.listdir(store.blobs.ingest_dir)),
    )


def test_corrupt_layer_during_put_leaves_store_as_before(store: Store, src: BlobStore) -> None:
    store.put_image(make_image(src, "existing"), ["existing"])
    img = make_image(src, "bad", layers=3)
    victim = img.manifest().layers[1]
    path = src.path(victim.digest)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, different bytes
    path.write_bytes(bytes(data))
    before = _state(store)
    with pytest.raises(IntegrityError):
        store.put_image(img, ["bad"])
    assert _state(store) == before
    assert store.check() == []


def test_lying_diff_id_is_refused_and_taken_back(store: Store, src: BlobStore) -> None:
    real = layer(src, {"f": b"content"})
    lie = StoreLayer(real.descriptor, Digest.of_bytes(b"something else"), src)

    img = append_layers(empty_image(AMD64), [Addendum(lie)])
    before = _state(store)
    with pytest.raises(IntegrityError, match="diff_id"):
        store.put_image(img, ["liar"])
    assert _state(store) == before


def test_short_layer_blob_is_refused(store: Store, src: BlobStore) -> None:
    img = make_image(src, "short")
    desc = img.manifest().layers[0]
    path = src.path(desc.digest)
    path.write_bytes(path.read_bytes()[:-3])
    before = _state(store)
    with pytest.raises(IntegrityError):
        store.put_image(img)
    assert _state(store) == before


def test_check_reports_missing_and_corrupt_blobs(store: Store, src: BlobStore) -> None:
    img = make_image(src, "chk", layers=2)
    s = store.put_image(img, ["chk"])
    assert store.check() == []
    layer0, layer1 = img.manifest().layers
    store.blobs.path(layer0.digest).unlink()
    p = store.blobs.path(layer1.digest)
    p.write_bytes(b"x" + p.read_bytes()[1:])
    problems = store.check()
    assert f"image {s.short_id}: blob {layer0.digest} is missing" in problems
    assert f"image {s.short_id}: blob {layer1.digest} is corrupt" in problems
    assert len(problems) == 2


def test_put_reads_each_new_blob_verified(store: Store, src: BlobStore) -> None:
    """A layer already in the store is not read again from the source."""
    img = make_image(src, "again", layers=2)
    store.put_image(img, ["a"])
    for d in img.manifest().layers:
        src.delete(d.digest)  # the source can no longer serve them
    assert store.put_image(img, ["b"]).names == ("localhost/a:latest", "localhost/b:latest")
