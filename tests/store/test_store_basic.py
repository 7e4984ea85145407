from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from lamina.content import BlobStore
from lamina.digest import Digest
from lamina.errors import Conflict, LaminaError, NotFound
from lamina.image.validate import validate
from lamina.store import Store, default_root
from lamina.store.db import MIGRATIONS, schema_version
from tests.store.builders import make_image


def test_put_records_podman_identity_and_reads_back(store: Store, src: BlobStore) -> None:
    img = make_image(src, "alpha", layers=2)
    s = store.put_image(img, ["alpha"])
    assert s.id == img.manifest().config.digest.hex
    assert s.config_digest == img.manifest().config.digest
    assert s.manifest_digest == img.digest()
    assert s.names == ("localhost/alpha:latest",)
    assert s.created is not None and s.created.year == 2024
    assert s.top_layer == img.config().rootfs.diff_ids[-1]
    assert not s.is_index
    back = store.image(s)
    validate(back)
    assert back.raw_manifest() == img.raw_manifest()
    assert back.raw_config() == img.raw_config()
    # every blob landed in the store's own BlobStore
    for d in (img.digest(), *(x.digest for x in img.manifest().blobs())):
        assert store.blobs.verify(d)


def test_size_is_podmans_uncompressed_plus_config_plus_manifest_twice(
    store: Store, src: BlobStore
) -> None:
    img = make_image(src, "sized", layers=3)
    s = store.put_image(img, ["sized"])
    tar_total = 0
    for lay in img.layers():
        tar_total += len(_plain(src, lay.descriptor.digest))
    expected = tar_total + len(img.raw_config()) + 2 * len(img.raw_manifest())
    assert s.size == expected


def _plain(src: BlobStore, d: Digest) -> bytes:
    import gzip

    with src.open(d) as f:
        return gzip.decompress(f.read())


def test_put_is_idempotent(store: Store, src: BlobStore) -> None:
    img = make_image(src, "idem")
    a = store.put_image(img, ["idem:1"])
    blobs = set(store.blobs)
    b = store.put_image(img, ["idem:1"])
    assert a == b
    assert set(store.blobs) == blobs
    assert len(store.list_images()) == 1


def test_lookup_by_name_id_prefix_and_digest(store: Store, src: BlobStore) -> None:
    s = store.put_image(make_image(src, "look"), ["quay.io/team/look:v1"])
    assert store.lookup("quay.io/team/look:v1") == s
    assert store.lookup(s.id) == s
    assert store.lookup(s.id[:12]) == s
    assert store.lookup(f"sha256:{s.id}") == s
    assert store.lookup(f"quay.io/team/look@{s.manifest_digest}") == s
    assert store.lookup(f"look@{s.manifest_digest}") == s
    with pytest.raises(NotFound, match="image not known"):
        store.lookup("quay.io/team/look:v2")
    with pytest.raises(NotFound):
        store.lookup(f"quay.io/other/look@{s.manifest_digest}")


def test_retag_moves_name_and_old_image_dangles(store: Store, src: BlobStore) -> None:
    old = store.put_image(make_image(src, "v1"), ["app"])
    new = store.put_image(make_image(src, "v2"), ["app"])
    assert store.lookup("app") == new
    assert store.get(old.id).names == ()
    assert store.get(old.id).dangling
    store.tag(old.id[:8], "app:old")
    assert store.lookup("app:old").id == old.id
    store.tag("app:old", "localhost/app")
    assert store.lookup("app").id == old.id
    assert store.get(new.id).names == ()


def test_untag_keeps_image(store: Store, src: BlobStore) -> None:
    s = store.put_image(make_image(src, "u"), ["u:1", "u:2"])
    after = store.untag("u:1")
    assert after.names == ("localhost/u:2",)
    store.untag("localhost/u:2")
    assert store.get(s.id).names == ()
    with pytest.raises(NotFound):
        store.untag("u:2")


def test_remove_by_name_only_untags_when_other_names_remain(store: Store, src: BlobStore) -> None:
    s = store.put_image(make_image(src, "rm"), ["rm:a", "rm:b"])
    assert store.remove("rm:a") == ["Untagged: localhost/rm:a"]
    assert store.get(s.id).names == ("localhost/rm:b",)
    out = store.remove("rm:b")
    assert out == ["Untagged: localhost/rm:b", f"Deleted: {s.id}"]
    with pytest.raises(NotFound):
        store.get(s.id)
    with pytest.raises(NotFound, match="rm:b: image not known"):
        store.remove("rm:b")


def test_remove_by_id_removes_all_names_and_gc_frees_blobs(store: Store, src: BlobStore) -> None:
    keep = store.put_image(make_image(src, "keep"), ["keep"])
    img = make_image(src, "gone", base=store.image(keep))
    s = store.put_image(img, ["gone:1", "gone:2"])
    only_gone = {img.digest(), img.manifest().config.digest, img.manifest().layers[-1].digest}
    assert only_gone <= set(store.blobs)
    out = store.remove(s.id)
    assert out == ["Untagged: localhost/gone:1", "Untagged: localhost/gone:2", f"Deleted: {s.id}"]
    # remove collects garbage when no writer is active: the shared base layer stays
    assert not (only_gone & set(store.blobs))
    assert img.manifest().layers[0].digest in set(store.blobs)
    assert store.check() == []
    validate(store.image(store.lookup("keep")))


def test_holds_pin_images_unless_forced(store: Store, src: BlobStore) -> None:
    s = store.put_image(make_image(src, "held"), ["held"])
    store.hold("held", "container abc")
    with pytest.raises(Conflict, match="in use by container abc"):
        store.remove(s.id)
    assert store.prune(all=True) == []
    store.untag("held")
    assert store.prune() == []  # dangling but held
    assert store.remove(s.id, force=True) == [f"Deleted: {s.id}"]
    store.put_image(make_image(src, "held"), ["held"])
    store.hold("held", "c2")
    store.release(s.id, "c2")
    assert store.remove("held") == ["Untagged: localhost/held:latest", f"Deleted: {s.id}"]


def test_prune_dangling_then_all(store: Store, src: BlobStore) -> None:
    a = store.put_image(make_image(src, "pa"), ["pa"])
    b = store.put_image(make_image(src, "pb"))
    store.put_image(make_image(src, "pa2"), ["pa"])  # a becomes dangling
    pruned = store.prune()
    assert {p.id for p in pruned} == {a.id, b.id}
    assert [i.names for i in store.list_images()] == [("localhost/pa:latest",)]
    assert len(store.prune(all=True)) == 1
    assert store.list_images() == []
    report = store.gc()
    assert report.blobs_removed == ()  # prune already collected
    assert list(store.blobs) == []


def test_gc_removes_unreferenced_blobs_and_old_temp_files(store: Store, src: BlobStore) -> None:
    s = store.put_image(make_image(src, "gc"), ["gc"])
    with store.ingest() as blobs:
        stray = blobs.put_bytes(b"nobody references me")
    temp = store.blobs.ingest_dir / "blob-crashed"
    temp.write_bytes(b"partial")
    report = store.gc(temp_grace=3600)
    assert report.blobs_removed == (stray,)
    assert report.bytes_freed == len(b"nobody references me")
    assert temp.exists()  # younger than the grace asked for
    report = store.gc()  # under the exclusive lock no writer is live: every temp file goes
    assert report.temp_files_removed == 1 and not temp.exists()
    assert report.bytes_freed == len(b"partial")
    validate(store.image(store.get(s.id)))


def test_gc_refuses_inside_own_ingest(store: Store) -> None:
    with store.ingest(), pytest.raises(Conflict, match="finish the ingest"):
        store.gc()


def test_list_images_newest_first(store: Store, src: BlobStore) -> None:
    first = store.put_image(make_image(src, "one"), ["one"])
    second = store.put_image(make_image(src, "two"), ["two"])
    assert [i.id for i in store.list_images()] == [second.id, first.id]


def test_history_rows_newest_first(store: Store, src: BlobStore) -> None:
    img = make_image(src, "hist", layers=2)
    store.put_image(img, ["hist"])
    rows = store.history("hist")
    assert [r.created_by for r in rows] == ["/bin/sh -c echo hist 1", "/bin/sh -c echo hist 0"]
    assert [r.layer for r in rows] == list(reversed(img.config().rootfs.diff_ids))
    assert all(r.size > 0 for r in rows)


def test_layers_by_diff_id_for_image_tree(store: Store, src: BlobStore) -> None:
    base = store.put_image(make_image(src, "tb"), ["tb"])
    child = store.put_image(make_image(src, "tc", base=store.image(base)), ["tc"])
    ids = store.layer_diff_ids(child)
    assert ids[0] == base.top_layer
    assert store.layers_by_diff_id(ids[0]) == [base]
    assert store.layers_by_diff_id(ids[1]) == [child]


def test_schema_is_versioned_and_reopen_keeps_data(tmp_path: Path, src: BlobStore) -> None:
    root = tmp_path / "s"
    with Store.open(root) as s:
        s.put_image(make_image(src, "persist"), ["persist"])
    conn = sqlite3.connect(root / "store.db")
    assert schema_version(conn) == len(MIGRATIONS)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()
    with Store.open(root) as s:
        assert s.lookup("persist").names == ("localhost/persist:latest",)


def test_default_root(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LAMINA_ROOT", str(tmp_path / "r"))
    assert default_root() == tmp_path / "r"
    monkeypatch.delenv("LAMINA_ROOT")
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_root() == tmp_path / "xdg" / "lamina"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_root() == tmp_path / "home" / ".local" / "share" / "lamina"
    monkeypatch.setattr("os.geteuid", lambda: 0)
    assert default_root() == Path("/var/lib/lamina")


def test_old_schema_is_migrated_in_place(tmp_path: Path, src: BlobStore) -> None:
    root = tmp_path / "old"
    with Store.open(root) as s:
        stored = s.put_image(make_image(src, "old"), ["old"])
    conn = sqlite3.connect(root / "store.db")
    conn.execute("DROP TABLE signatures")  # undo migrations 2 and 3: back to version 1
    conn.execute("DROP TABLE repo_digests")
    conn.execute("ALTER TABLE names DROP COLUMN manifest_digest")
    conn.execute("UPDATE schema_version SET version = 1")
    conn.commit()
    conn.close()
    with Store.open(root) as s:
        assert s.lookup("old") == stored
        s.put_signatures(stored.manifest_digest, [b"sig"])
        assert s.signatures(stored.manifest_digest) == [b"sig"]


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "new"
    Store.open(root).close()
    conn = sqlite3.connect(root / "store.db")
    conn.execute("UPDATE schema_version SET version = 99")
    conn.commit()
    conn.close()
    with pytest.raises(LaminaError, match="newer than this lamina"):
        Store.open(root)


def test_unreadable_database_is_reported(tmp_path: Path) -> None:
    root = tmp_path / "garbage"
    root.mkdir()
    (root / "store.db").write_bytes(b"this is not a database" * 100)
    with pytest.raises(LaminaError, match="cannot be opened"):
        Store.open(root)
