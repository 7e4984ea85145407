"""Layers against GNU tar, both ways: what lamina packs GNU tar extracts to the same tree,
and what GNU tar packs lamina stores and extracts to the same tree."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from lamina.content import BlobStore
from lamina.content.layers import apply_layer, diff_id_of, pack_dir, pack_tar_stream
from tests.content.trees import make_full_tree, snapshot

pytestmark = [
    pytest.mark.interop,
    pytest.mark.skipif(shutil.which("tar") is None, reason="GNU tar is not installed"),
]

GNU_READ = ["--xattrs", "--xattrs-include=*", "--numeric-owner", "-p"]


def _assert_same_tree(a: Path, b: Path) -> None:
    left, right = snapshot(a), snapshot(b)
    assert sorted(left) == sorted(right)
    for path, node in left.items():
        assert right[path] == node, path


@pytest.mark.parametrize("compression", ["gzip", "none"])
def test_gnu_tar_extracts_what_lamina_packs(tmp_path: Path, compression: str) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    make_full_tree(src)
    store = BlobStore(tmp_path / "store")
    layer = pack_dir(src, store, compression=compression)
    dst.mkdir()
    subprocess.run(
        ["tar", "-x", *GNU_READ, "-f", str(store.path(layer.digest)), "-C", str(dst)],
        check=True,
    )
    _assert_same_tree(src, dst)
    listing = subprocess.run(
        ["tar", "-t", "-f", str(store.path(layer.digest))], check=True, capture_output=True
    ).stdout.decode()
    assert "PaxHeaders" not in listing  # PAX headers are read as headers, not files


def test_lamina_reads_what_gnu_tar_packs(tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_full_tree(src)
    archive = tmp_path / "gnu.tar.gz"
    subprocess.run(
        [
            "tar",
            "-c",
            "-z",
            "--format=posix",
            "--sort=name",
            "--xattrs",
            "--xattrs-include=*",
            "--numeric-owner",
            "-f",
            str(archive),
            "-C",
            str(src),
            ".",
        ],
        check=True,
    )
    store = BlobStore(tmp_path / "store")
    with archive.open("rb") as f:
        layer = pack_tar_stream(f, store, compression="zstd")
    with archive.open("rb") as f:
        assert diff_id_of(f) == layer.diff_id
    direct, stored = tmp_path / "direct", tmp_path / "stored"
    direct.mkdir()
    stored.mkdir()
    with archive.open("rb") as f:
        stats = apply_layer(f, direct)
    assert stats.skipped == []
    assert stats.diff_id == layer.diff_id
    with store.open(layer.digest) as f:
        apply_layer(f, stored)
    _assert_same_tree(src, direct)
    _assert_same_tree(src, stored)
