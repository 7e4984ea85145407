"""Copying host files into a container's root (buildah copy / add).

Destinations are resolved inside the root (symlinks never lead out). Sources keep their
mode and mtime; owners become `uid:gid` (root unless told), and `chmod` overrides modes.
Local tar archives (plain, gzip, zstd...) are extracted instead of copied when asked (ADD),
with the layer engine's safe extractor.
"""

from __future__ import annotations

import os
import stat
import tarfile
from collections.abc import Sequence
from pathlib import Path

from lamina.building.isolation.spec import resolve_in_root
from lamina.building.rootfs.snapshot import copy_meta
from lamina.content.layers import apply_layer
from lamina.errors import InvalidInput, NotFound


def _is_archive(path: Path) -> bool:
    if not path.is_file():
        return False
    try:
        return tarfile.is_tarfile(path)
    except OSError:
        return False


def copy_into(
    root: Path,
    srcs: Sequence[str | Path],
    dest: str,
    *,
    uid: int = 0,
    gid: int = 0,
    mode: int | None = None,
    extract_archives: bool = False,
) -> list[str]:
    """Copy `srcs` to container path `dest`; returns the container paths written at top
    level. A directory source has its contents copied; several sources or a `dest` ending
    in "/" need `dest` to be a directory (created if missing)."""
    if not srcs:
        raise InvalidInput("copy: no source given")
    paths = [Path(s) for s in srcs]
    for p in paths:
        if not os.path.lexists(p):
            raise NotFound(f"copy: source {p} does not exist")
    into_dir = dest.endswith("/") or len(paths) > 1
    target = resolve_in_root(root, dest)
    if target.is_dir():
        into_dir = True
    if into_dir or any(p.is_dir() and not p.is_symlink() for p in paths):
        target.mkdir(parents=True, exist_ok=True)
    elif not target.parent.exists():
        target.parent.mkdir(parents=True)
    written: list[str] = []
    for src in paths:
        if extract_archives and _is_archive(src):
            target.mkdir(parents=True, exist_ok=True)
            with open(src, "rb") as f:
                apply_layer(f, target, max_ratio=None, what=f"archive {src}")
            written.append(dest)
            continue
        if src.is_dir() and not src.is_symlink():
            _copy_tree(src, target, uid, gid, mode)
            written.append(dest)
            continue
        out = target / src.name if into_dir else target
        _copy_one(src, out, uid, gid, mode)
        written.append(str(Path("/") / out.relative_to(root)))
    return written


def _copy_one(src: Path, dst: Path, uid: int, gid: int, mode: int | None) -> None:
    st = os.lstat(src)
    if os.path.lexists(dst) and not (stat.S_ISDIR(st.st_mode) and dst.is_dir()):
        if dst.is_dir() and not dst.is_symlink():
            raise InvalidInput(f"copy: cannot overwrite directory {dst.name} with a non-directory")
        dst.unlink()
    if stat.S_ISREG(st.st_mode):
        with open(src, "rb") as fi, open(dst, "wb") as fo:
            while chunk := fi.read(1 << 20):
                fo.write(chunk)
    elif stat.S_ISLNK(st.st_mode):
        os.symlink(os.readlink(src), dst)
    elif stat.S_ISDIR(st.st_mode):
        dst.mkdir(exist_ok=True)
    else:
        raise InvalidInput(f"copy: {src} is not a regular file, directory or symlink")
    copy_meta(str(src), str(dst), st)
    os.lchown(dst, uid, gid)
    if mode is not None and not stat.S_ISLNK(st.st_mode):
        os.chmod(dst, mode)
    if not stat.S_ISLNK(st.st_mode):
        os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns))


def _copy_tree(src: Path, dst: Path, uid: int, gid: int, mode: int | None) -> None:
    """Copy the content of directory `src` into `dst`; iterative, as a tree may be
    thousands of directories deep. Directory times are set after their content."""
    todo = [(src, dst)]
    dirs: list[tuple[Path, Path]] = []
    while todo:
        s_dir, d_dir = todo.pop()
        subdirs: list[tuple[Path, Path]] = []
        for entry in sorted(os.scandir(s_dir), key=lambda e: e.name):
            s, d = Path(entry.path), d_dir / entry.name
            _copy_one(s, d, uid, gid, mode)
            if entry.is_dir(follow_symlinks=False):
                subdirs.append((s, d))
        dirs.extend(subdirs)
        todo.extend(reversed(subdirs))
    for s, d in reversed(dirs):
        st = os.lstat(s)
        os.utime(d, ns=(st.st_atime_ns, st.st_mtime_ns))
