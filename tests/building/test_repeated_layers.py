"""Images that list one layer (one diff_id) more than once: they mount, run and build on.

Snapshots are keyed by diff_id, so a repeated layer is one snapshot directory; overlayfs
refuses a lowerdir that names one directory twice ("Too many levels of symbolic links").
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from lamina.building.builder import Builder
from lamina.image.mutate import Addendum, append_layers, empty_image
from lamina.oci import History
from lamina.ops.base import make_busybox
from lamina.store import Store
from tests.store.builders import layer

pytestmark = pytest.mark.root


def lamina(root: Path, *argv: str, cwd: Path | None = None) -> str:
    """Run the real CLI in its own process; the stdout, or the test fails with stderr."""
    env = {**os.environ, "LAMINA_ROOT": str(root), "SOURCE_DATE_EPOCH": "1700000000"}
    proc = subprocess.run(
        [sys.executable, "-m", "lamina", *argv],
        check=False,
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, f"lamina {' '.join(argv)}: {proc.stderr}"
    return proc.stdout


def test_three_empty_runs_build_mount_run_and_build_on(tmp_path: Path) -> None:
    root = tmp_path / "store"
    lamina(root, "base")
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Containerfile").write_text("FROM localhost/busybox\nRUN true\nRUN true\nRUN true\n")
    lamina(root, "build", "-t", "localhost/rep", str(ctx))
    with Store.open(root) as store:
        diff_ids = store.layer_diff_ids(store.lookup("localhost/rep"))
    assert len(diff_ids) == 4 and diff_ids[1] == diff_ids[2] == diff_ids[3]

    ctr = lamina(root, "from", "localhost/rep").strip()
    try:
        mnt = Path(lamina(root, "mount", ctr).strip())
        assert (mnt / "bin" / "busybox").is_file()
        out = lamina(root, "run", ctr, "--", "sh", "-c", "echo ran; ls /bin/sh")
        assert out.split() == ["ran", "/bin/sh"]
        lamina(root, "umount", ctr)
    finally:
        lamina(root, "rm", ctr)

    (ctx / "Containerfile").write_text("FROM localhost/rep\nRUN echo on-top > /top\nRUN true\n")
    lamina(root, "build", "-t", "localhost/rep2", str(ctx))
    ctr = lamina(root, "from", "localhost/rep2").strip()
    try:
        assert lamina(root, "run", ctr, "--", "cat", "/top") == "on-top\n"
    finally:
        lamina(root, "rm", ctr)


def test_layer_repeated_around_another_mounts_with_the_later_copy_on_top(
    tmp_path: Path,
) -> None:
    """Layers A, B, A: the merged view is A applied over B (A's files win, A's whiteouts
    delete B's files, and what B deleted of A's comes back), B's other files stay."""
    store = Store.open(tmp_path / "store")
    src = store.blobs
    try:
        base = make_busybox(store, "localhost/busybox:latest")
        a = layer(src, {"x/f": b"A\n", "froma": b"A\n", ".wh.onlyb": None})
        b = layer(src, {"x/f": b"B\n", "x/g": b"B\n", "onlyb": b"B\n", ".wh.froma": None})
        img = append_layers(
            store.image(base),
            [
                Addendum(a, History(created_by="A")),
                Addendum(b, History(created_by="B")),
                Addendum(a, History(created_by="A again")),
            ],
        )
        stored = store.put_image(img, ["localhost/aba"])
        ids = store.layer_diff_ids(stored)
        assert ids[1] == ids[3] != ids[2]

        for mode in ("overlay", "copy"):
            ctr = Builder.from_image(store, "localhost/aba", rootfs_mode=mode)
            try:
                mnt = ctr.mount()
                assert (mnt / "x" / "f").read_bytes() == b"A\n", mode
                assert (mnt / "x" / "g").read_bytes() == b"B\n", mode
                assert (mnt / "froma").read_bytes() == b"A\n", mode
                assert not os.path.lexists(mnt / "onlyb"), mode
                assert sorted(os.listdir(mnt / "x")) == ["f", "g"], mode
                out = tmp_path / f"out-{mode}"
                with open(out, "wb") as f:
                    code = ctr.run(
                        ["sh", "-c", "cat /x/f /x/g /froma && test ! -e /onlyb"], stdout=f
                    )
                assert code == 0 and out.read_bytes() == b"A\nB\nA\n", mode
            finally:
                ctr.remove()
    finally:
        store.close()


Files = dict[str, bytes | None]
DELETES: tuple[Files, Files, Files, dict[str, bytes | None]] = (
    {"keep": b"Z\n"},
    {"x/f": b"A\n", "froma": b"A\n", ".wh.onlyb": None},
    {"x/f": b"B\n", "x/g": b"B\n", "onlyb": b"B\n", ".wh.froma": None},
    {"keep": b"Z\n", "froma": b"A\n", "x": None, "x/f": b"A\n", "x/g": b"B\n"},
)
OPAQUE: tuple[Files, Files, Files, dict[str, bytes | None]] = (
    {"x/z": b"Z\n", "y/z": b"Z\n"},
    {"x/.wh..wh..opq": None, "x/f": b"A\n", "y/a": b"A\n"},
    {"x/g": b"B\n", "y/.wh..wh..opq": None, "y/b": b"B\n"},
    {"x": None, "x/f": b"A\n", "y": None, "y/a": b"A\n", "y/b": b"B\n"},
)


@pytest.mark.interop
@pytest.mark.skipif(shutil.which("podman") is None, reason="needs podman")
@pytest.mark.parametrize("case", [DELETES, OPAQUE], ids=["deletes", "opaque"])
def test_layer_repeated_around_another_matches_podman(
    tmp_path: Path, case: tuple[Files, Files, Files, dict[str, bytes | None]]
) -> None:
    """podman (vfs: every layer applied in turn onto a copy) shows Z, A, B, A as lamina
    does, with A and B deleting each other's files or hiding directories (opaque)."""
    z_files, a_files, b_files, expected = case
    root = tmp_path / "store"
    with Store.open(root) as store:
        z = layer(store.blobs, z_files)
        a = layer(store.blobs, a_files)
        b = layer(store.blobs, b_files)
        img = append_layers(
            empty_image(),
            [
                Addendum(z, History(created_by="Z")),
                Addendum(a, History(created_by="A")),
                Addendum(b, History(created_by="B")),
                Addendum(a, History(created_by="A again")),
            ],
        )
        store.put_image(img, ["localhost/aba"])
        ctr = Builder.from_image(store, "localhost/aba", rootfs_mode="overlay")
        try:
            ours = tree_of(ctr.mount())
        finally:
            ctr.remove()
    archive = tmp_path / "aba.tar"
    lamina(root, "save", "-q", "--format", "oci-archive", "-o", str(archive), "localhost/aba")
    runroot = Path(tempfile.mkdtemp(prefix="lrun", dir="/tmp"))  # podman wants <= 50 chars
    podman = [
        "podman",
        "--root",
        str(tmp_path / "proot"),
        "--runroot",
        str(runroot),
        "--storage-driver",
        "vfs",
    ]
    try:
        loaded = subprocess.run(
            [*podman, "load", "-q", "-i", str(archive)], capture_output=True, text=True, check=False
        )
        assert loaded.returncode == 0, loaded.stderr
        assert "localhost/aba:latest" in loaded.stdout
        mnt = subprocess.run(
            [*podman, "image", "mount", "localhost/aba:latest"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert mnt.returncode == 0, mnt.stderr
        try:
            theirs = tree_of(Path(mnt.stdout.strip()))
        finally:
            subprocess.run([*podman, "image", "unmount", "-a"], capture_output=True, check=False)
    finally:
        shutil.rmtree(runroot, ignore_errors=True)
    assert ours == theirs
    assert ours == expected


def tree_of(root: Path) -> dict[str, bytes | None]:
    """Every entry under `root`: a file's bytes, None for a directory."""
    out: dict[str, bytes | None] = {}
    for dirpath, dirs, files in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        for d in dirs:
            out[os.path.normpath(os.path.join(rel, d))] = None
        for f in files:
            out[os.path.normpath(os.path.join(rel, f))] = Path(dirpath, f).read_bytes()
    return out
