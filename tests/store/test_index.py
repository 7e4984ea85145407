from __future__ import annotations

import pytest

from lamina import media_types as mt
from lamina.content import BlobStore
from lamina.errors import Conflict, InvalidInput
from lamina.image.model import BlobSourceIndex
from lamina.image.validate import validate
from lamina.oci import ImageIndex
from lamina.platform import Platform
from lamina.store import Store
from lamina.store.view import StoreBlobSource
from tests.store.builders import make_image

ARM64 = Platform(os="linux", architecture="arm64")
AMD64 = Platform(os="linux", architecture="amd64")


def make_index(src: BlobStore, seed: str) -> BlobSourceIndex:
    descs = []
    for p in (AMD64, ARM64):
        img = make_image(src, f"{seed}-{p.architecture}", platform=p)
        src.put_bytes(img.raw_config())
        src.put_bytes(img.raw_manifest())
        descs.append(img.manifest().descriptor(platform=p))
    idx = ImageIndex.build(descs)
    src.put_bytes(idx.raw)
    return BlobSourceIndex(idx.raw, StoreBlobSource(src), mt.OCI_INDEX)


def test_index_is_an_entry_with_reachable_children(store: Store, src: BlobStore) -> None:
    index = make_index(src, "multi")
    s = store.put_index(index, ["multi:1"])
    assert s.is_index and s.id == index.digest().hex and s.config_digest is None
    assert s.names == ("localhost/multi:1",)
    top = store.list_images()
    assert [i.id for i in top] == [s.id]  # children are listed only with all=True
    everything = store.list_images(all=True)
    assert len(everything) == 3
    children = [i for i in everything if not i.is_index]
    assert all(c.names == () for c in children)
    assert s.size == len(index.raw_manifest()) + sum(c.size for c in children)
    view = store.index(s)
    validate(view)
    arm = view.manifest().for_platform(ARM64)
    assert arm is not None
    assert store.lookup(f"multi@{arm.digest}").manifest_digest == arm.digest
    assert store.prune() == []  # children of an index are not dangling
    assert store.check() == []
    with pytest.raises(InvalidInput, match="multi-platform index"):
        store.image(s)


def test_removing_index_removes_its_unnamed_children(store: Store, src: BlobStore) -> None:
    s = store.put_index(make_index(src, "gone"), ["gone"])
    child = next(i for i in store.list_images(all=True) if not i.is_index)
    with pytest.raises(Conflict, match="part of the multi-platform index"):
        store.remove(child.id)
    store.tag(child.id, "keepchild")
    out = store.remove("gone")
    assert out[0] == "Untagged: localhost/gone:latest"
    assert f"Deleted: {s.id}" in out and f"Deleted: {child.id}" not in out
    assert len(out) == 3  # the index and its other, unnamed child
    assert [i.id for i in store.list_images(all=True)] == [child.id]
    assert store.check() == []
    validate(store.image(store.lookup("keepchild")))


def test_removing_a_named_child_by_name_only_untags(store: Store, src: BlobStore) -> None:
    store.put_index(make_index(src, "nc"), ["nc"])
    child = next(i for i in store.list_images(all=True) if not i.is_index)
    store.tag(child.id, "child")
    assert store.remove("child") == ["Untagged: localhost/child:latest"]
    assert store.get(child.id).names == ()
    assert store.check() == []
