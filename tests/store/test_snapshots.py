from __future__ import annotations

import multiprocessing as mp
import os
from pathlib import Path

import pytest

from lamina.content import BlobStore
from lamina.errors import NotFound
from lamina.image.mutate import Addendum, append_layers
from lamina.store import Store
from tests.store.builders import layer, make_image


def test_snapshot_extracts_once_and_reuses(store: Store, src: BlobStore) -> None:
    s = store.put_image(make_image(src, "snap", layers=2), ["snap"])
    dirs = store.rootfs(s)
    assert [d.name for d in dirs] == [d.hex for d in store.layer_diff_ids(s)]
    assert (dirs[0] / "snap" / "file0.txt").read_bytes() == b"snap layer 0\n"
    assert (dirs[1] / "snap" / "file1.txt").read_bytes() == b"snap layer 1\n" * 2
    marker = dirs[0] / "marker"
    marker.write_text("same dir")
    assert store.rootfs(s)[0] == dirs[0] and marker.exists()  # not extracted again
    assert store.whiteouts(store.layer_diff_ids(s)[0]) == []


def test_whiteouts_are_recorded_not_materialised(store: Store, src: BlobStore) -> None:
    base = store.put_image(make_image(src, "wbase"), ["wbase"])
    top = layer(src, {"wbase/.wh.file0.txt": None, "etc/.wh..wh..opq": None, "etc/new": b"n"})
    img = append_layers(store.image(base), [Addendum(top)])
    s = store.put_image(img, ["wtop"])
    snap = store.rootfs(s)[1]
    assert (snap / "etc" / "new").read_bytes() == b"n"
    assert not (snap / "wbase" / ".wh.file0.txt").exists()
    assert not (snap / "etc" / ".wh..wh..opq").exists()
    assert store.whiteouts(top.diff_id) == ["wbase/.wh.file0.txt", "etc/.wh..wh..opq"]


def test_snapshot_of_unknown_layer(store: Store, src: BlobStore) -> None:
    stray = layer(src, {"x": b"y"})
    with pytest.raises(NotFound, match="no stored image has this layer"):
        store.snapshot(stray.diff_id)
    with pytest.raises(NotFound):
        store.whiteouts(stray.diff_id)


def test_gc_removes_unreferenced_snapshots_and_temp_dirs(store: Store, src: BlobStore) -> None:
    keep = store.put_image(make_image(src, "keep"), ["keep"])
    drop = store.put_image(make_image(src, "drop"), ["drop"])
    keep_dir = store.rootfs(keep)[0]
    drop_dir = store.rootfs(drop)[0]
    leftover = store.paths.snapshots / ".tmp-crashed"
    (leftover / "sub").mkdir(parents=True)
    os.chmod(leftover / "sub", 0o500)
    store.untag("drop")
    store.prune()  # collects: the dangling image's snapshot goes
    assert keep_dir.is_dir()
    assert not drop_dir.exists()
    locks = sorted(p.name for p in store.paths.locks.iterdir() if p.name.startswith("snapshot-"))
    assert locks == [f"snapshot-{keep_dir.name}.lock"]
    assert not leftover.exists()
    assert store.check() == []


def _extract(root: str, diff_hex: str, out: mp.Queue[str]) -> None:
    from lamina.digest import Digest

    with Store.open(Path(root)) as s:
        out.put(str(s.snapshot(Digest("sha256", diff_hex))))


def test_two_processes_extract_the_same_layer_once(store: Store, src: BlobStore) -> None:
    s = store.put_image(make_image(src, "race"), ["race"])
    diff = store.layer_diff_ids(s)[0]
    ctx = mp.get_context("spawn")
    q: mp.Queue[str] = ctx.Queue()
    procs = [ctx.Process(target=_extract, args=(str(store.root), diff.hex, q)) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    results = {q.get(timeout=5) for _ in procs}
    assert results == {str(store.paths.snapshot(diff.hex))}
    assert [e for e in os.listdir(store.paths.snapshots) if e.startswith(".tmp-")] == []
