"""Copy-on-start: the merged view of layer snapshots, copied into one plain directory
(the fallback when overlayfs cannot be mounted).

Whiteouts in a snapshot are honoured in both forms a snapshot may hold them: overlay's
(a 0/0 character device; a directory marked opaque by xattr) and OCI's (`.wh.NAME`,
`.wh..wh..opq`). Hard links inside one snapshot stay hard links in the copy.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Sequence
from pathlib import Path

from lamina.building.rootfs.diff import is_opaque, is_whiteout
from lamina.building.rootfs.xattrs import copyable_xattrs
from lamina.content.fstree import remove_tree
from lamina.content.layers.whiteouts import OPAQUE, whiteout_target
from lamina.errors import BuildError


def materialise(lowers: Sequence[Path], dest: Path) -> None:
    """Copy the merged view of `lowers` (lowest first) into the empty directory `dest`."""
    dest.mkdir(parents=True, exist_ok=True)
    for lower in lowers:
        _merge(str(lower), str(dest))


def _remove(path: str) -> None:
    remove_tree(path)


def _clear(path: str) -> None:
    with os.scandir(path) as it:
        for entry in list(it):
            _remove(entry.path)


def _merge(top_src: str, top_dst: str) -> None:
    """Copy the tree `top_src` over `top_dst`, honouring its whiteouts; iterative (a layer
    may be thousands of directories deep). Directory metadata is set after the content."""
    links: dict[tuple[int, int], str] = {}
    todo = [(top_src, top_dst)]
    done: list[tuple[str, str, os.stat_result]] = []
    while todo:
        src, dst = todo.pop()
        with os.scandir(src) as it:
            entries = sorted(it, key=lambda e: os.fsencode(e.name))
        if any(e.name == OPAQUE for e in entries):
            _clear(dst)
        subdirs: list[tuple[str, str]] = []
        for entry in entries:
            name = entry.name
            s = entry.path
            d = os.path.join(dst, name)
            if name == OPAQUE:
                continue
            target = whiteout_target(name)
            if target is not None:
                _remove(os.path.join(dst, target))
                continue
            st = os.lstat(s)
            if is_whiteout(st):
                _remove(d)
                continue
            if stat.S_ISDIR(st.st_mode):
                try:
                    old = os.lstat(d)
                except FileNotFoundError:
                    old = None
                if old is not None and not stat.S_ISDIR(old.st_mode):
                    os.unlink(d)
                    old = None
                if old is None:
                    os.mkdir(d, 0o700)
                elif is_opaque(s):
                    _clear(d)
                subdirs.append((s, d))
                done.append((s, d, st))
                continue
            _remove(d)
            copy_entry(s, d, st, links)
        todo.extend(reversed(subdirs))
    for s, d, st in reversed(done):
        copy_meta(s, d, st)


def copy_entry(src: str, dst: str, st: os.stat_result, links: dict[tuple[int, int], str]) -> None:
    """Copy one non-directory entry with its metadata; a second name of an inode already
    copied (per `links`) becomes a hard link to the copy."""
    mode = st.st_mode
    if stat.S_ISREG(mode):
        key = (st.st_dev, st.st_ino)
        if st.st_nlink > 1 and key in links:
            os.link(links[key], dst)
            return
        with open(src, "rb") as fi, open(dst, "wb") as fo:
            shutil.copyfileobj(fi, fo, 1 << 20)
        if st.st_nlink > 1:
            links[key] = dst
    elif stat.S_ISLNK(mode):
        os.symlink(os.readlink(src), dst)
    elif stat.S_ISFIFO(mode):
        os.mkfifo(dst)
    elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        os.mknod(dst, mode, st.st_rdev)
    elif stat.S_ISSOCK(mode):
        return
    else:
        raise BuildError(f"{src}: cannot copy a file of mode {mode:o}")
    copy_meta(src, dst, st)


def copy_meta(src: str, dst: str, st: os.stat_result) -> None:
    """Owner, xattrs (overlay's own excepted), permission bits and times of `src` onto `dst`."""
    os.lchown(dst, st.st_uid, st.st_gid)
    for name, value in copyable_xattrs(src):
        try:
            os.setxattr(dst, name, value, 0, follow_symlinks=False)
        except OSError:
            continue
    if not stat.S_ISLNK(st.st_mode):
        os.chmod(dst, stat.S_IMODE(st.st_mode))
    os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)
