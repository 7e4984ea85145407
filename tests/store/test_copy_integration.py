"""The store transport driven by the real copier, to and from an OCI layout."""

from __future__ import annotations

from pathlib import Path

from lamina.content import BlobStore
from lamina.copy import copy_image
from lamina.image.validate import validate
from lamina.store import Store
from lamina.store.transport import StoreReference
from lamina.transports.layout import LayoutReference
from tests.store.builders import make_image
from tests.store.test_index import make_index


def test_image_via_oci_layout_and_back(tmp_path: Path, store: Store, src: BlobStore) -> None:
    s = store.put_image(make_image(src, "lay", layers=2), ["lay:1"])
    layout = tmp_path / "layout"
    copy_image(StoreReference.parse(store, "lamina:lay:1"), LayoutReference.parse(f"{layout}:v1"))
    with Store.open(tmp_path / "back") as back:
        digest = copy_image(
            LayoutReference.parse(f"{layout}:v1"),
            StoreReference.parse(back, "lamina:example.com/lay:v1"),
        )
        got = back.lookup("example.com/lay:v1")
        assert digest == s.manifest_digest == got.manifest_digest
        assert got.id == s.id and got.size == s.size
        validate(back.image(got))
        assert back.check() == []


def test_index_via_oci_layout_and_back(tmp_path: Path, store: Store, src: BlobStore) -> None:
    s = store.put_index(make_index(src, "idx"), ["idx"])
    layout = tmp_path / "layout"
    copy_image(StoreReference.parse(store, "idx"), LayoutReference.parse(f"{layout}:all"))
    with Store.open(tmp_path / "back") as back:
        copy_image(LayoutReference.parse(f"{layout}:all"), StoreReference.parse(back, "idx"))
        got = back.lookup("idx")
        assert got.is_index and got.manifest_digest == s.manifest_digest
        assert len(back.list_images(all=True)) == 3
        validate(back.index(got))
        assert back.check() == []
