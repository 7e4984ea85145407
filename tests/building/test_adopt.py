"""A committed upper dir adopted as the layer's snapshot equals the layer extracted."""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from lamina.building.builder import Builder, containers
from lamina.content.layers import apply_layer, pack_dir
from lamina.image import Image
from lamina.image.mutate import Addendum, StoreLayer, append_layers, empty_image
from lamina.oci import History
from lamina.store import Store, snapshots
from tests.building.trees import busybox_rootfs, tree

pytestmark = pytest.mark.root

EPOCH = 1_700_000_000


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(tmp_path / "store")
    base = busybox_rootfs(tmp_path / "bbroot")
    (base / "data" / "opq").mkdir(parents=True)
    (base / "data" / "opq" / "old").write_text("old\n")
    with s.ingest() as blobs:
        layer = pack_dir(base, blobs, source_date_epoch=0)
        img: Image = append_layers(
            empty_image(),
            [Addendum(StoreLayer.from_blob(layer, blobs), History(created_by="busybox"))],
        )
        s.put_image(img, ["localhost/busybox:latest"])
    yield s
    for c in containers(s):
        Builder(s, c).remove()
    s.close()


def change_everything(root: Path) -> None:
    """Whiteouts of a file and a dir, an opaque dir, and every kind of entry and metadata."""
    (root / "etc" / "group").unlink()
    shutil.rmtree(root / "home")
    shutil.rmtree(root / "data" / "opq")
    (root / "data" / "opq").mkdir(mode=0o700)
    (root / "data" / "opq" / "a").write_text("a\n")
    os.link(root / "bin" / "busybox", root / "bin" / "bb-hardlink")
    os.chmod(root / "bin" / "busybox", 0o4755)
    os.chown(root / "etc" / "passwd", 1000, 50)
    os.mkfifo(root / "data" / "fifo")
    os.symlink("../etc/passwd", root / "data" / "link")
    os.mknod(root / "data" / "null", 0o666 | 0o020000, os.makedev(1, 3))
    hello = root / "tmp" / "hello"
    hello.write_text("hello\n")
    os.setxattr(hello, "user.note", b"\x00\xffkept")
    os.setxattr(hello, "trusted.lamina", b"t")
    (root / "data" / "empty").touch()
    old = root / "data" / "old"
    old.write_text("old mtime\n")
    os.utime(old, ns=(1_000_000_000_500_000_000, 1_000_000_000_500_000_000))
    os.utime(root / "data" / "link", ns=(5, 999_999_999), follow_symlinks=False)
    private = root / "data" / "private"
    private.mkdir(mode=0o700)
    (private / "secret").write_text("s\n")
    os.chmod(private / "secret", 0o600)
    cwd = os.getcwd()
    os.chdir(root / "data")  # a socket path must be short
    try:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.bind("sock")
    finally:
        os.chdir(cwd)


def mtimes(root: Path) -> dict[str, int]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            out[os.path.relpath(full, root)] = os.lstat(full).st_mtime_ns
    return out


@pytest.mark.parametrize("epoch", [EPOCH, None])
def test_adopted_snapshot_equals_extracted(store: Store, tmp_path: Path, epoch: int | None) -> None:
    b = Builder.from_image(store, "busybox", rootfs_mode="overlay")
    change_everything(b.mount())
    b.umount()
    stored = b.commit("localhost/result:1", rm=True, timestamp=epoch)
    assert not b.dir.exists()
    diff_id = store.layer_diff_ids(stored)[-1]
    adopted = store.paths.snapshot(diff_id.hex)
    assert adopted.is_dir(), "the upper dir was not adopted"
    assert store.snapshot(diff_id) == adopted

    layer = store.image(stored).layers()[-1]
    extracted = tmp_path / "extracted"
    extracted.mkdir()
    with layer.open() as f:
        apply_layer(f, extracted)
    got, want = tree(adopted), tree(extracted)
    assert sorted(got) == sorted(want), set(got) ^ set(want)
    assert {p: (got[p], want[p]) for p in got if got[p] != want[p]} == {}
    assert mtimes(adopted) == mtimes(extracted)
    assert os.stat(adopted).st_mode == os.stat(extracted).st_mode
    assert os.listxattr(adopted) == []
    assert "data/sock" not in got
    for path in got:  # the comparison above leaves overlay's own xattrs out
        names = os.listxattr(adopted / path, follow_symlinks=False)
        assert not [n for n in names if ".overlay." in n], path
    wh = snapshots._whiteouts(store.blobs, layer.descriptor.digest)
    assert store.whiteouts(diff_id) == wh
    assert set(wh) == {"etc/.wh.group", ".wh.home", "data/opq/.wh..wh..opq"}

    # The next container over the result stacks the adopted snapshot correctly.
    nxt = Builder.from_image(store, "localhost/result:1", rootfs_mode="overlay")
    try:
        root = nxt.mount()
        assert not (root / "etc" / "group").exists() and not (root / "home").exists()
        assert sorted(os.listdir(root / "data" / "opq")) == ["a"]
        assert (root / "tmp" / "hello").read_text() == "hello\n"
    finally:
        nxt.remove()


def test_no_adoption_unless_upper_is_the_layer(store: Store) -> None:
    """Squashed: the layer is the whole tree; a second commit of an existing layer: the
    snapshot is already there. Both containers are removed all the same."""
    first = Builder.from_image(store, "busybox", rootfs_mode="overlay")
    (first.mount() / "x").write_text("x\n")
    squashed = first.commit("localhost/sq:1", rm=True, squash=True, timestamp=EPOCH)
    assert not first.dir.exists()
    (diff_id,) = store.layer_diff_ids(squashed)
    assert not store.paths.snapshot(diff_id.hex).exists()

    made = []
    for _ in range(2):
        b = Builder.from_image(store, "busybox", rootfs_mode="overlay")
        (b.mount() / "y").write_text("y\n")
        made.append(b.commit(None, rm=True, timestamp=EPOCH))
        assert not b.dir.exists()
    assert made[0].id == made[1].id
    top = store.layer_diff_ids(made[0])[-1]
    assert sorted(os.listdir(store.snapshot(top))) == ["y"]


def test_copy_mode_is_not_adopted(store: Store) -> None:
    b = Builder.from_image(store, "busybox", rootfs_mode="copy")
    (b.mount() / "z").write_text("z\n")
    stored = b.commit(None, rm=True, timestamp=EPOCH)
    top = store.layer_diff_ids(stored)[-1]
    assert not store.paths.snapshot(top.hex).exists()
    assert sorted(os.listdir(store.snapshot(top))) == ["z"]
