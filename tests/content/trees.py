"""Test trees: one with every file type, and an entry-by-entry snapshot to compare trees."""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

MTIME = 1_600_000_000


@dataclass(frozen=True)
class Node:
    kind: str
    mode: int
    uid: int
    gid: int
    size: int
    sha256: str
    link: str
    rdev: tuple[int, int]
    nlink: int
    xattrs: tuple[tuple[str, bytes], ...]
    mtime: int


def snapshot(root: Path, *, mtimes: bool = True) -> dict[str, Node]:
    """Every entry under `root` (not root itself) by relative path."""
    out: dict[str, Node] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, root)
            st = os.lstat(full)
            mode = st.st_mode
            digest = ""
            if stat.S_ISREG(mode):
                with open(full, "rb") as f:
                    digest = hashlib.file_digest(f, "sha256").hexdigest()
            try:
                names = sorted(os.listxattr(full, follow_symlinks=False))
                xattrs = tuple((n, os.getxattr(full, n, follow_symlinks=False)) for n in names)
            except OSError:
                xattrs = ()
            out[rel] = Node(
                kind=stat.filemode(mode)[0],
                mode=stat.S_IMODE(mode),
                uid=st.st_uid,
                gid=st.st_gid,
                size=st.st_size if stat.S_ISREG(mode) else 0,
                sha256=digest,
                link=os.readlink(full) if stat.S_ISLNK(mode) else "",
                rdev=(os.major(st.st_rdev), os.minor(st.st_rdev))
                if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
                else (0, 0),
                nlink=st.st_nlink if not stat.S_ISDIR(mode) else 0,
                xattrs=xattrs,
                mtime=int(st.st_mtime) if mtimes else 0,
            )
    return out


def make_full_tree(root: Path, *, devices: bool = True) -> None:
    """A tree with every entry type lamina packs: files (empty, small, large, sparse-ish,
    setuid), dirs (nested, odd modes), symlinks (relative, absolute, dangling), hardlinks,
    a fifo, device nodes (when root), xattrs, long and non-ASCII names, odd owners."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "etc").mkdir()
    (root / "etc" / "hostname").write_text("box\n")
    (root / "empty").write_bytes(b"")
    (root / "bin").mkdir(mode=0o755)
    big = root / "bin" / "big"
    big.write_bytes(os.urandom(3 << 20) + b"tail")
    suid = root / "bin" / "suid"
    suid.write_bytes(b"#!/bin/sh\n")
    os.chmod(suid, 0o4755)
    (root / "sticky").mkdir()
    os.chmod(root / "sticky", 0o1777)
    (root / "deep" / "a" / "b" / "c").mkdir(parents=True)
    (root / "deep" / "a" / "b" / "c" / "leaf.txt").write_text("leaf " * 1000)
    os.symlink("hostname", root / "etc" / "rel-link")
    os.symlink("/etc/hostname", root / "abs-link")
    os.symlink("nowhere/at/all", root / "dangling")
    os.link(root / "etc" / "hostname", root / "hard1")
    os.link(root / "etc" / "hostname", root / "deep" / "hard2")
    os.mkfifo(root / "fifo")
    long_dir = root / ("d" * 120)
    long_dir.mkdir()
    (long_dir / ("f" * 200)).write_text("long name\n")
    (root / "ünïcödé-名前.txt").write_text("non-ascii\n")
    os.symlink("t" * 150, root / "long-target-link")
    xf = root / "etc" / "xattr-file"
    xf.write_text("x")
    os.setxattr(xf, "user.lamina.test", b"value\x00\xff")
    if os.geteuid() == 0:
        os.chown(root / "etc" / "hostname", 1000, 1001)
        os.chown(root / "deep", 12345, 54321, follow_symlinks=False)
        os.chown(root / "abs-link", 7, 8, follow_symlinks=False)
        os.setxattr(suid, "security.capability", _cap_net_bind())
        if devices:
            os.mknod(root / "null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
            os.mknod(root / "blk", 0o660 | stat.S_IFBLK, os.makedev(7, 0))
    set_mtimes(root, MTIME)


def _cap_net_bind() -> bytes:
    # VFS_CAP_REVISION_2, effective, permitted = CAP_NET_BIND_SERVICE (bit 10)
    import struct

    return struct.pack("<IIIII", 0x02000001, 1 << 10, 0, 0, 0)


def set_mtimes(root: Path, mtime: int) -> None:
    for dirpath, dirnames, filenames in os.walk(root, topdown=False):
        for name in dirnames + filenames:
            os.utime(os.path.join(dirpath, name), (mtime, mtime), follow_symlinks=False)
