"""Overlay mounts, upper-dir diffs and the copy fallback: the committed layer applied on
the base must give exactly the container's view."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from lamina.building.rootfs import overlay
from lamina.building.rootfs.diff import TreeRecord, tree_changes, upper_changes
from lamina.building.rootfs.lowers import overlay_lowers, parse_whiteouts
from lamina.building.rootfs.snapshot import materialise
from lamina.content.blobstore import BlobStore
from lamina.content.layers import Change, LayerBlob, apply_layer, pack_dir
from lamina.errors import InvalidInput
from tests.building.trees import assert_same_tree, busybox_rootfs, tree

pytestmark = pytest.mark.root


def make_base(root: Path) -> Path:
    busybox_rootfs(root)
    d = root / "data"
    d.mkdir()
    for name in ("file1", "del", "hl", "mode", "owner", "xattr", "keep", "file2dir"):
        (d / name).write_text(f"content of {name}\n")
    for sub in ("dir2file", "opq", "deldir", "dir2file/inner"):
        (d / sub).mkdir()
    for child in ("dir2file/x", "dir2file/inner/y", "opq/a", "opq/b", "deldir/z"):
        (d / child).write_text(child)
    os.link(d / "keep", d / "keep-link")
    return root


def mutate(root: Path, *, dir_to_file: bool = False) -> None:
    d = root / "data"
    (d / "del").unlink()
    shutil.rmtree(d / "deldir")
    if dir_to_file:
        shutil.rmtree(d / "dir2file")
        (d / "dir2file").write_text("now a file\n")
    (d / "file2dir").unlink()
    (d / "file2dir").mkdir()
    (d / "file2dir" / "child").write_text("child\n")
    shutil.rmtree(d / "opq")
    (d / "opq").mkdir(mode=0o750)
    (d / "opq" / "c").write_text("only c\n")
    os.link(d / "hl", d / "hl2")
    os.chmod(d / "mode", 0o4711)
    os.chown(d / "owner", 1000, 50)
    os.setxattr(d / "xattr", "user.test", b"value")
    os.setxattr(root / "etc", "user.dir", b"on a dir")
    os.mkfifo(d / "fifo")
    os.symlink("file1", d / "sym")
    (d / "file1").write_text("rewritten\n")
    (root / "new" / "deep").mkdir(parents=True)
    (root / "new" / "deep" / "f").write_text("new\n")
    os.chmod(root / "tmp", 0o700)


def apply_all(dest: Path, blobs: BlobStore, layers: list[LayerBlob]) -> Path:
    dest.mkdir()
    for layer in layers:
        with blobs.open(layer.digest) as f:
            apply_layer(f, dest)
    return dest


def test_overlay_upper_diff_is_exact(tmp_path: Path, blobs: BlobStore) -> None:
    overlay_roundtrip(tmp_path, blobs, dir_to_file=False)


def test_overlay_dir_replaced_by_file(tmp_path: Path, blobs: BlobStore) -> None:
    overlay_roundtrip(tmp_path, blobs, dir_to_file=True)


def overlay_roundtrip(tmp_path: Path, blobs: BlobStore, *, dir_to_file: bool) -> None:
    base = make_base(tmp_path / "base")
    base_layer = pack_dir(base, blobs)
    lower = apply_all(tmp_path / "lower", blobs, [base_layer])
    upper, work, merged = tmp_path / "upper", tmp_path / "work", tmp_path / "merged"
    for p in (upper, work, merged):
        p.mkdir()
    overlay.mount_overlay([lower], upper, work, merged)
    try:
        assert overlay.is_mounted(merged)
        mutate(merged, dir_to_file=dir_to_file)
        changes = upper_changes(upper)
        kinds = {(c.kind, c.path) for c in changes}
        assert ("delete", "data/del") in kinds
        assert ("delete", "data/deldir") in kinds
        assert ("opaque", "data/opq") in kinds
        assert not any(c.path.startswith("data/deldir/") for c in changes)
        layer = pack_dir(upper, blobs, changes=changes)
        result = apply_all(tmp_path / "result", blobs, [base_layer, layer])
        assert_same_tree(result, merged)
    finally:
        overlay.unmount(merged)
    assert not overlay.is_mounted(merged)
    # The lower snapshot itself was not touched.
    assert_same_tree(lower, base)


def test_copy_fallback_tree_diff_is_exact(tmp_path: Path, blobs: BlobStore) -> None:
    base = make_base(tmp_path / "base")
    base_layer = pack_dir(base, blobs)
    lower = apply_all(tmp_path / "lower", blobs, [base_layer])
    work = tmp_path / "rootfs"
    materialise([lower], work)
    assert_same_tree(work, lower)
    record = TreeRecord.of(work)
    record.save(tmp_path / "record.json")
    mutate(work)
    changes = tree_changes(TreeRecord.load(tmp_path / "record.json"), work)
    kinds = {(c.kind, c.path) for c in changes}
    assert ("delete", "data/deldir") in kinds
    assert ("delete", "data/opq/a") in kinds
    assert ("add", "bin/busybox") not in kinds  # untouched entries stay out
    layer = pack_dir(work, blobs, changes=changes)
    result = apply_all(tmp_path / "result", blobs, [base_layer, layer])
    assert_same_tree(result, work)


def test_whiteouts_of_stored_layers_hide_lower_content(tmp_path: Path, blobs: BlobStore) -> None:
    """Snapshots extracted alone lose their whiteouts; the whiteout dirs restore them."""
    base = make_base(tmp_path / "base")
    l1 = pack_dir(base, blobs)
    # A second layer that deletes files and makes a directory opaque.
    mutated = tmp_path / "mutated"
    shutil.copytree(base, mutated, symlinks=True)
    record = TreeRecord.of(mutated)
    mutate(mutated)
    changes = tree_changes(record, mutated)
    changes.append(Change("opaque", "data/opq"))
    l2 = pack_dir(mutated, blobs, changes=changes)
    snaps = []
    for i, layer in enumerate((l1, l2)):
        snaps.append(apply_all(tmp_path / f"snap{i}", blobs, [layer]))
    whiteouts = [
        f"{c.path.rpartition('/')[0]}/.wh.{c.path.rpartition('/')[2]}".lstrip("/")
        if c.kind == "delete"
        else f"{c.path}/.wh..wh..opq"
        for c in changes
        if c.kind in ("delete", "opaque")
    ]
    deleted, opaque = parse_whiteouts(whiteouts)
    assert "data/opq" in opaque and "data/del" in deleted
    lowers = overlay_lowers(snaps, [[], whiteouts], tmp_path / "scratch")
    assert len(lowers) == 3
    expect = apply_all(tmp_path / "expect", blobs, [l1, l2])
    upper, work, merged = tmp_path / "upper", tmp_path / "work", tmp_path / "merged"
    for p in (upper, work, merged):
        p.mkdir()
    overlay.mount_overlay(lowers, upper, work, merged)
    try:
        assert_same_tree(merged, expect)
    finally:
        overlay.unmount(merged)
    fallback = tmp_path / "fallback"
    materialise(lowers, fallback)
    assert_same_tree(fallback, expect)


def test_rootless_overlay_records_userxattr_opaque(tmp_path: Path) -> None:
    lower = tmp_path / "lower"
    (lower / "d").mkdir(parents=True)
    (lower / "d" / "old").write_text("old")
    (lower / "gone").write_text("x")
    upper, work, merged = tmp_path / "upper", tmp_path / "work", tmp_path / "merged"
    for p in (upper, work, merged):
        p.mkdir()
    script = f"rm -rf {merged}/d {merged}/gone && mkdir {merged}/d && echo n > {merged}/d/new"
    argv = overlay.rootless_command([lower], upper, work, merged, ["sh", "-c", script])
    subprocess.run(argv, check=True)
    assert not overlay.is_mounted(merged)  # the mount lived in the namespace only
    assert os.getxattr(upper / "d", "user.overlay.opaque") == b"y"
    changes = upper_changes(upper)
    assert Change("opaque", "d") in changes
    assert Change("delete", "gone") in changes
    assert Change("add", "d/new") in changes


def test_whiteout_names_in_upper_are_refused(tmp_path: Path) -> None:
    (tmp_path / ".wh.sneaky").write_text("")
    with pytest.raises(InvalidInput, match="cannot be committed"):
        upper_changes(tmp_path)


def test_overlay_options_order_and_limits(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    opts = overlay.overlay_options([a, b], tmp_path / "u", tmp_path / "w")
    assert f"lowerdir={b}:{a}," in opts
    with pytest.raises(InvalidInput):
        overlay.overlay_options([], tmp_path / "u", tmp_path / "w")
    with pytest.raises(InvalidInput):
        overlay.overlay_options([tmp_path / "x:y"], tmp_path / "u", tmp_path / "w")
    assert tree(tmp_path) == {}


@pytest.mark.root
def test_volatile_overlay_mounts_again(tmp_path: Path) -> None:
    lower, upper, work, merged = (tmp_path / d for d in ("l", "u", "w", "m"))
    for p in (lower, upper, work, merged):
        p.mkdir()
    for volatile in (True, True, False):
        overlay.mount_overlay([lower], upper, work, merged, volatile=volatile)
        try:
            with open("/proc/self/mountinfo", encoding="utf-8") as f:
                opts = next(ln for ln in f if ln.split(" ", 5)[4] == str(merged)).split()[-1]
            assert bool({"volatile", "fsync=volatile"} & set(opts.split(","))) == volatile, opts
            (merged / f"f{len(os.listdir(merged))}").write_text("x")
        finally:
            overlay.unmount(merged)
    assert sorted(os.listdir(upper)) == ["f0", "f1", "f2"]
    # A mark left from before a reboot is cleared too (with a warning).
    overlay.mount_overlay([lower], upper, work, merged, volatile=True)
    overlay.unmount(merged)
    (work / "lamina-boot-id").write_text("another-boot")
    overlay.mount_overlay([lower], upper, work, merged)
    overlay.unmount(merged)
    assert not (work / "work" / "incompat" / "volatile").exists()
