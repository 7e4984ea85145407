"""Issue 12, defect 3 and 10: trees deeper than Python's recursion limit, paths longer than
the kernel allows, and full disks, through the layer engine.

A 1,100-deep layer applies, packs and is removed (no RecursionError, and no more open files
than a common limit of 1,024 allows); a 10,000-deep path (about 20,000 bytes, over PATH_MAX
4096) and a 5,000-character name (over NAME_MAX 255) are refused naming the entry, as
podman refuses them ("file name too long"); a full disk names the path and what to free.
"""

from __future__ import annotations

import io
import os
import resource
import stat
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from lamina.content import BlobStore
from lamina.content.fstree import remove_tree, walk
from lamina.content.layers import apply_layer, pack_dir, pack_tar_stream
from lamina.errors import InvalidInput, LaminaError
from tests.content.deep import (
    clean_tmp,  # noqa: F401  (a fixture, by name)
    deep_name,
    deep_tar,
    long_name_tar,
)

pytestmark = pytest.mark.usefixtures("clean_tmp")

DEPTH = 1100
TOO_DEEP = 10_000


@pytest.fixture
def few_files() -> Iterator[None]:
    """This process limited to 512 open files while the test runs."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (512, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def _apply(tar: Path, root: Path) -> None:
    root.mkdir(exist_ok=True)
    with tar.open("rb") as f:
        apply_layer(f, root)


def test_a_1100_deep_layer_applies_packs_and_is_removed(tmp_path: Path, few_files: None) -> None:
    tar = deep_tar(tmp_path / "deep.tar", DEPTH)
    root = tmp_path / "root"
    _apply(tar, root)
    assert (root / deep_name(DEPTH)).read_bytes() == b"deep\n"
    blob = pack_dir(root, BlobStore(tmp_path / "blobs"), compression="none")
    again = tmp_path / "again"
    again.mkdir()
    with BlobStore(tmp_path / "blobs").open(blob.digest) as f:
        apply_layer(f, again)
    assert [e.path for e in walk(again)] == [e.path for e in walk(root)]
    assert len(list(walk(root))) == DEPTH + 1
    remove_tree(root)
    remove_tree(again)
    assert not root.exists() and not again.exists()


@pytest.mark.parametrize("marker", ["a/.wh..wh..opq", ".wh.a"])
def test_a_whiteout_over_a_deep_lower_tree(tmp_path: Path, marker: str) -> None:
    lower = tmp_path / "lower.tar"
    with tarfile.open(lower, "w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("a/" + deep_name(DEPTH))
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    upper = tmp_path / "upper.tar"
    with tarfile.open(upper, "w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(marker)
        tar.addfile(info, io.BytesIO(b""))
        info = tarfile.TarInfo("a/new")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"n\n"))
    root = tmp_path / "root"
    _apply(lower, root)
    _apply(upper, root)
    assert sorted(os.listdir(root / "a")) == ["new"]


def test_a_10000_deep_path_is_refused_naming_it(tmp_path: Path) -> None:
    tar = deep_tar(tmp_path / "deep.tar", TOO_DEEP, list_dirs=False)
    root = tmp_path / "root"
    with pytest.raises(InvalidInput) as info:
        _apply(tar, root)
    message = str(info.value)
    assert "'d/d/d/d" in message and "/d/d/f'" in message and "PATH_MAX" in message
    assert f"({len(deep_name(TOO_DEEP))} bytes)" in message
    assert os.listdir(root) == []  # refused before anything of it was made
    with tar.open("rb") as f, pytest.raises(InvalidInput, match="PATH_MAX"):
        pack_tar_stream(f, BlobStore(tmp_path / "blobs"), what="deep.tar")
    assert list(BlobStore(tmp_path / "blobs")) == []


def test_a_5000_character_name_is_refused_naming_it(tmp_path: Path) -> None:
    tar = long_name_tar(tmp_path / "long.tar")
    with pytest.raises(InvalidInput) as info:
        _apply(tar, tmp_path / "root")
    assert "'xxxxxxxx" in str(info.value) and "5000 bytes" in str(info.value)
    assert "NAME_MAX" in str(info.value)
    with tar.open("rb") as f, pytest.raises(InvalidInput, match="NAME_MAX"):
        pack_tar_stream(f, BlobStore(tmp_path / "blobs"), what="long.tar")


def test_pack_dir_refuses_a_path_no_root_can_hold(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    fd = os.open(root, os.O_RDONLY)
    for _ in range(2100):  # 2 bytes a level: past PATH_MAX at about 2,048
        os.mkdir("d", dir_fd=fd)
        sub = os.open("d", os.O_RDONLY, dir_fd=fd)
        os.close(fd)
        fd = sub
    os.close(fd)
    with pytest.raises(InvalidInput, match="PATH_MAX"):
        pack_dir(root, BlobStore(tmp_path / "blobs"), compression="none")
    remove_tree(root)
    assert not root.exists()


def test_remove_tree_past_path_max_and_read_only(tmp_path: Path, few_files: None) -> None:
    top = tmp_path / "top"
    top.mkdir()
    fd = os.open(top, os.O_RDONLY)
    for i in range(1500):  # 4,500 bytes of path: no full path reaches the bottom
        os.mkdir("dd", dir_fd=fd)
        os.close(os.open(f"f{i}", os.O_CREAT | os.O_WRONLY, 0o400, dir_fd=fd))
        sub = os.open("dd", os.O_RDONLY, dir_fd=fd)
        if i % 300 == 0:
            os.chmod(fd, 0o555)
        os.close(fd)
        fd = sub
    os.close(fd)
    remove_tree(top)
    assert not top.exists()


# -- a full disk ---------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    disk = tmp_path / "small"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)], check=True)
    try:
        yield disk
    finally:
        subprocess.run(["umount", str(disk)], check=True)


def _random_tar(path: Path, files: int, size: int) -> Path:
    with tarfile.open(path, "w") as tar:
        for i in range(files):
            info = tarfile.TarInfo(f"f{i}")
            info.size = size
            tar.addfile(info, io.BytesIO(os.urandom(size)))
    return path


def test_a_full_disk_while_extracting_names_the_path(tmp_path: Path, small_disk: Path) -> None:
    tar = _random_tar(tmp_path / "big.tar", 4, 700_000)
    root = small_disk / "root"
    with pytest.raises(LaminaError) as info:
        _apply(tar, root)
    assert not isinstance(info.value, InvalidInput)
    assert str(root) in str(info.value) and "no space left" in str(info.value)
    assert info.value.hint is not None and "free space" in info.value.hint


def test_a_full_disk_while_storing_a_layer_names_the_path(tmp_path: Path, small_disk: Path) -> None:
    tar = _random_tar(tmp_path / "big.tar", 1, 3_000_000)
    store = BlobStore(small_disk / "store")
    with tar.open("rb") as f, pytest.raises(LaminaError) as info:
        pack_tar_stream(f, store, compression="none", what="big.tar")
    assert not isinstance(info.value, InvalidInput), "a full disk is not a bad tar"
    assert str(store.root) in str(info.value) and "no space left" in str(info.value)
    assert info.value.hint is not None and "free space" in info.value.hint
    assert [p for p in (small_disk / "store").rglob("*") if stat.S_ISREG(p.lstat().st_mode)] == []
