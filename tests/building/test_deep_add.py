"""Issue 12, defect 3: `ADD` of a deep tar in a build.

`lamina build` (the command, open files limited to 1,024) ADDs a 1,100-deep tar onto
scratch and onto an image whose own layer is 1,100 deep, COPYs the tar as a file, and the
images, containers and snapshots all remove afterwards. ADD of a 10,000-deep tar (over
PATH_MAX) fails with exit 2 naming the entry and leaves no working container behind.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.content.deep import (
    clean_tmp,  # noqa: F401  (a fixture, by name)
    deep_name,
    deep_tar,
    lamina,
    ok,
    refused,
)

pytestmark = [pytest.mark.root, pytest.mark.usefixtures("clean_tmp")]  # builds mount overlayfs

DEPTH = 1100


def _ctx(tmp_path: Path, containerfile: str, depth: int, *, list_dirs: bool = True) -> Path:
    ctx = tmp_path / "ctx"
    ctx.mkdir(exist_ok=True)
    (ctx / "Containerfile").write_text(containerfile)
    deep_tar(ctx / "deep.tar", depth, list_dirs=list_dirs)
    return ctx


def _state(root: Path) -> tuple[list[str], list[str], list[str]]:
    """Images, working containers, and what snapshots/ and containers/ hold on disk."""
    images = ok(lamina(root, "images", "-q", "--all")).split()
    working = ok(lamina(root, "containers", "-q")).split()
    disk = [f"snapshots/{n}" for n in os.listdir(root / "snapshots")]
    if (root / "containers").is_dir():
        disk += [f"containers/{n}" for n in os.listdir(root / "containers") if n != ".lock"]
    return images, working, disk


def test_add_of_a_1100_deep_tar_builds_and_removes(tmp_path: Path) -> None:
    root = tmp_path / "store"
    ctx = _ctx(tmp_path, "FROM scratch\nADD deep.tar /\nCOPY deep.tar /deep.tar\n", DEPTH)
    ok(lamina(root, "build", "-t", "localhost/deep:built", str(ctx)))
    ok(lamina(root, "from", "--name", "check", "localhost/deep:built"))
    merged = Path(ok(lamina(root, "mount", "check")).strip())
    assert (merged / deep_name(DEPTH)).read_bytes() == b"deep\n"
    assert (merged / "deep.tar").read_bytes() == (ctx / "deep.tar").read_bytes()
    ok(lamina(root, "rm", "check"))
    # A second build on top of the deep image: its snapshot is the overlay's lower.
    (ctx / "Containerfile").write_text("FROM localhost/deep:built\nADD deep.tar /again/\n")
    ok(lamina(root, "build", "-t", "localhost/deep:twice", str(ctx)))
    ok(lamina(root, "rmi", "localhost/deep:twice"))
    ok(lamina(root, "rmi", "localhost/deep:built"))
    ok(lamina(root, "image", "prune", "--all"))
    assert _state(root) == ([], [], [])


def test_add_of_a_too_deep_tar_fails_cleanly(tmp_path: Path) -> None:
    root = tmp_path / "store"
    ctx = _ctx(tmp_path, "FROM scratch\nADD deep.tar /\n", 10_000, list_dirs=False)
    refused(lamina(root, "build", "-t", "localhost/deep:no", str(ctx)), "'d/d/d/d", "PATH_MAX")
    ok(lamina(root, "rm", "--all"))
    ok(lamina(root, "image", "prune", "--all"))
    assert _state(root) == ([], [], [])


def test_copy_of_a_1100_deep_context_directory(tmp_path: Path) -> None:
    root = tmp_path / "store"
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Containerfile").write_text("FROM scratch\nCOPY tree /tree\n")
    fd = os.open(ctx, os.O_RDONLY)
    for name in ["tree", *["d"] * DEPTH]:
        os.mkdir(name, dir_fd=fd)
        sub = os.open(name, os.O_RDONLY, dir_fd=fd)
        os.close(fd)
        fd = sub
    with os.fdopen(os.open("f", os.O_CREAT | os.O_WRONLY, 0o644, dir_fd=fd), "wb") as f:
        f.write(b"deep\n")
    os.close(fd)
    ok(lamina(root, "build", "-t", "localhost/tree:1", str(ctx)))
    ok(lamina(root, "from", "--name", "check", "localhost/tree:1"))
    merged = Path(ok(lamina(root, "mount", "check")).strip())
    assert (merged / "tree" / deep_name(DEPTH)).read_bytes() == b"deep\n"
    ok(lamina(root, "rm", "--all"))
    ok(lamina(root, "rmi", "localhost/tree:1"))
    assert _state(root) == ([], [], [])


def test_a_deep_cache_mount_is_pruned(tmp_path: Path) -> None:
    """A RUN cache mount may hold any tree a step leaves there; pruning the build cache
    removes it whatever its depth (a recursive remove raised RecursionError)."""
    root = tmp_path / "store"
    ok(lamina(root, "base"))
    ctx = _ctx(
        tmp_path,
        "FROM localhost/busybox\n"
        "COPY deep.tar /deep.tar\n"
        "RUN --mount=type=cache,target=/c tar -xf /deep.tar -C /c && rm /deep.tar\n",
        DEPTH,
    )
    ok(lamina(root, "build", "-t", "localhost/cached:1", str(ctx)))
    mounts = root / "build-cache" / "mounts"
    assert mounts.is_dir() and any(mounts.iterdir())
    ok(lamina(root, "image", "prune", "--all", "--build-cache"))
    assert not mounts.exists() or not any(mounts.iterdir())
