"""pack_dir / apply_layer round trips, determinism, change lists and whiteouts."""

from __future__ import annotations

import io
import os
import shutil
import stat
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from lamina.content import BlobStore, Compression
from lamina.content.layers import (
    Change,
    LayerBlob,
    apply_layer,
    diff_id_of,
    pack_dir,
    pack_tar_stream,
)
from lamina.errors import InvalidInput
from lamina.media_types import OCI_LAYER_GZIP, OCI_LAYER_TAR, OCI_LAYER_ZSTD
from tests.content.trees import MTIME, make_full_tree, set_mtimes, snapshot

IS_ROOT = os.geteuid() == 0


def _apply(store: BlobStore, layer: LayerBlob, root: Path, **kw: bool | None) -> list[str]:
    root.mkdir(parents=True, exist_ok=True)
    with store.open(layer.digest) as f:
        stats = apply_layer(f, root, **kw)  # type: ignore[arg-type]
    assert stats.diff_id == layer.diff_id
    return stats.skipped


@pytest.mark.parametrize(
    ("compression", "media_type"),
    [("gzip", OCI_LAYER_GZIP), ("zstd", OCI_LAYER_ZSTD), ("none", OCI_LAYER_TAR)],
)
def test_round_trip_every_entry_type(tmp_path: Path, compression: str, media_type: str) -> None:
    src = tmp_path / "src"
    make_full_tree(src)
    store = BlobStore(tmp_path / "store")
    layer = pack_dir(src, store, compression=compression)
    assert layer.compression is Compression(compression)
    assert layer.media_type == media_type
    assert layer.size == store.size(layer.digest)
    assert store.verify(layer.digest)
    if compression == "none":
        assert layer.digest == layer.diff_id
        assert layer.size == layer.uncompressed_size
    with store.open(layer.digest) as f:
        assert diff_id_of(f) == layer.diff_id
    skipped = _apply(store, layer, tmp_path / "dst")
    assert skipped == []
    before, after = snapshot(src), snapshot(tmp_path / "dst")
    assert sorted(before) == sorted(after)
    for path, node in before.items():
        assert after[path] == node, path
    assert after["hard1"].nlink == 3


def test_round_trip_as_non_root_drops_privileged_bits(tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_full_tree(src)
    store = BlobStore(tmp_path / "store")
    layer = pack_dir(src, store)
    skipped = _apply(store, layer, tmp_path / "dst", as_root=False)
    after = snapshot(tmp_path / "dst")
    assert after["bin/suid"].mode == 0o755
    assert any(s.startswith("bin/suid: setuid") for s in skipped)
    assert after["etc/xattr-file"].xattrs == (("user.lamina.test", b"value\x00\xff"),)
    if IS_ROOT:
        assert "null" not in after and "blk" not in after
        assert any(s.startswith("null: device node") for s in skipped)
        assert any("security.capability" in s for s in skipped)
        # Owners are those of the extracting user, not the tar's.
        assert after["etc/hostname"].uid == 0
    before = snapshot(src)
    for path in ("bin/big", "deep/a/b/c/leaf.txt", "abs-link", "fifo", "hard1"):
        assert (after[path].sha256, after[path].link, after[path].kind) == (
            before[path].sha256,
            before[path].link,
            before[path].kind,
        )


def test_same_tree_same_digest_and_epoch_clamps_mtimes(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "store")
    a, b = tmp_path / "a", tmp_path / "b"
    for root in (a, b):
        root.mkdir()
        (root / "dir").mkdir()
        (root / "dir" / "file").write_text("same content\n")
        os.symlink("dir/file", root / "link")
    set_mtimes(a, 1_700_000_000)
    set_mtimes(b, 1_700_999_999)
    first = pack_dir(a, store, source_date_epoch=1_000_000_000)
    again = pack_dir(a, store, source_date_epoch=1_000_000_000)
    other = pack_dir(b, store, source_date_epoch=1_000_000_000)
    assert first == again == other
    assert pack_dir(a, store).digest != pack_dir(b, store).digest
    # An mtime older than the epoch is kept.
    os.utime(a / "dir" / "file", (5, 5))
    layer = pack_dir(a, store, source_date_epoch=1_000_000_000)
    with tarfile.open(store.path(layer.digest)) as tar:
        mtimes = {m.name: m.mtime for m in tar}
    assert mtimes == {"dir": 1_000_000_000, "dir/file": 5, "link": 1_000_000_000}


def test_entries_are_sorted_depth_first(tmp_path: Path) -> None:
    root = tmp_path / "t"
    for name in ("b", "a.c", "a/z", "a/b", "A"):
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(name)
    store = BlobStore(tmp_path / "store")
    layer = pack_dir(root, store, compression="none")
    with tarfile.open(store.path(layer.digest)) as tar:
        assert tar.getnames() == ["A", "a", "a/b", "a/z", "a.c", "b"]


def _lower(root: Path) -> None:
    (root / "keep").mkdir(parents=True)
    (root / "keep" / "old").write_text("old")
    (root / "gone").write_text("bye")
    (root / "gone-dir" / "sub").mkdir(parents=True)
    (root / "gone-dir" / "sub" / "f").write_text("f")
    (root / "opq" / "lower-dir").mkdir(parents=True)
    (root / "opq" / "lower-dir" / "x").write_text("x")
    (root / "opq" / "lower-file").write_text("y")


def test_change_list_whiteouts_and_opaque(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "store")
    lower_src, upper_src = tmp_path / "lower", tmp_path / "upper"
    _lower(lower_src)
    lower = pack_dir(lower_src, store)
    upper_src.mkdir()
    (upper_src / "keep").mkdir()
    (upper_src / "keep" / "new").write_text("new")
    (upper_src / "opq").mkdir()
    (upper_src / "opq" / "fresh").write_text("fresh")
    changes = [
        Change("delete", "gone"),
        Change("delete", "gone-dir"),
        Change("add", "keep/new"),
        Change("modify", "keep"),
        Change("opaque", "opq"),
        Change("add", "opq/fresh"),
        Change("modify", "opq"),
    ]
    upper = pack_dir(upper_src, store, changes=changes, source_date_epoch=0)
    with tarfile.open(store.path(upper.digest)) as tar:
        assert tar.getnames() == [
            ".wh.gone",
            ".wh.gone-dir",
            "keep",
            "keep/new",
            "opq",
            "opq/.wh..wh..opq",
            "opq/fresh",
        ]
    root = tmp_path / "root"
    _apply(store, lower, root)
    with store.open(upper.digest) as f:
        root_stats = apply_layer(f, root)
    assert root_stats.whiteouts == 3
    files = sorted(str(p.relative_to(root)) for p in root.rglob("*"))
    assert files == ["keep", "keep/new", "keep/old", "opq", "opq/fresh"]


def test_opaque_keeps_entries_of_the_same_layer_in_any_order(tmp_path: Path) -> None:
    root = tmp_path / "root"
    _lower(root)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in (("opq/-early", b"1"), ("opq/.wh..wh..opq", b""), ("opq/late", b"2")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name in ("gone", "opq/lower-file"):  # the same layer's own file is not hidden
            info = tarfile.TarInfo(os.path.join(os.path.dirname(name), ".wh." + Path(name).name))
            tar.addfile(info)
    buf.seek(0)
    stats = apply_layer(buf, root)
    assert stats.whiteouts == 3
    assert sorted(p.name for p in (root / "opq").iterdir()) == ["-early", "late"]
    assert not (root / "gone").exists()


def test_change_list_errors(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "store")
    (tmp_path / "t").mkdir()
    with pytest.raises(InvalidInput, match="not in"):
        pack_dir(tmp_path / "t", store, changes=[Change("add", "missing")])
    with pytest.raises(InvalidInput, match="bad path"):
        pack_dir(tmp_path / "t", store, changes=[Change("add", "a/../b")])
    with pytest.raises(InvalidInput, match="not a directory"):
        pack_dir(tmp_path / "nope", store)
    with pytest.raises(InvalidInput, match="bzip2"):
        pack_dir(tmp_path / "t", store, compression="bzip2")
    assert list(store) == []
    assert os.listdir(store.ingest_dir) == []


def test_uid_gid_maps(tmp_path: Path) -> None:
    root = tmp_path / "t"
    root.mkdir()
    (root / "f").write_text("x")
    store = BlobStore(tmp_path / "store")
    layer = pack_dir(
        root, store, uid_map=lambda u: u + 100_000, gid_map=lambda g: 3_000_000, compression="none"
    )
    with tarfile.open(store.path(layer.digest)) as tar:
        member = tar.getmember("f")
    assert (member.uid, member.gid) == (os.getuid() + 100_000, 3_000_000)


@pytest.mark.parametrize("outer", ["none", "gzip", "zstd", "xz"])
def test_pack_tar_stream_keeps_tar_bytes(tmp_path: Path, outer: str) -> None:
    src = tmp_path / "src"
    make_full_tree(src, devices=False)
    store = BlobStore(tmp_path / "store")
    plain = pack_dir(src, store, compression="none")
    raw = tmp_path / "in.tar"
    shutil.copy(store.path(plain.digest), raw)
    if outer != "none":
        import gzip
        import lzma

        import zstandard

        compressors: dict[str, Callable[[bytes], bytes]] = {
            "gzip": gzip.compress,
            "xz": lzma.compress,
            "zstd": zstandard.ZstdCompressor().compress,
        }
        compress = compressors[outer]
        raw.write_bytes(compress(raw.read_bytes()))
    with raw.open("rb") as f:
        layer = pack_tar_stream(f, store, compression="zstd")
    assert layer.diff_id == plain.diff_id
    assert layer.uncompressed_size == plain.uncompressed_size
    assert layer.media_type == OCI_LAYER_ZSTD
    _apply(store, layer, tmp_path / "dst")
    assert snapshot(tmp_path / "dst") == snapshot(src)


@pytest.mark.parametrize(
    "data", [b"", b"not a tar at all" * 100, os.urandom(4096), b"\x1f\x8b" + os.urandom(100)]
)
def test_pack_tar_stream_refuses_non_tar(tmp_path: Path, data: bytes) -> None:
    store = BlobStore(tmp_path / "store")
    with pytest.raises(InvalidInput):
        pack_tar_stream(io.BytesIO(data), store)
    assert list(store) == []


def test_pack_keeps_mtime_and_sparse_read(tmp_path: Path) -> None:
    root = tmp_path / "t"
    root.mkdir()
    with (root / "sparse").open("wb") as f:
        f.truncate(5 << 20)
        f.write(b"start")
    set_mtimes(root, MTIME)
    store = BlobStore(tmp_path / "s")
    layer = pack_dir(root, store)
    _apply(store, layer, tmp_path / "dst")
    dst = tmp_path / "dst" / "sparse"
    assert dst.stat().st_size == 5 << 20
    assert int(dst.stat().st_mtime) == MTIME
    assert stat.S_IMODE(dst.stat().st_mode) == stat.S_IMODE((root / "sparse").stat().st_mode)
