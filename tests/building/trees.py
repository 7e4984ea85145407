"""Test helpers: busybox root filesystems and entry-by-entry tree comparison."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
from pathlib import Path

BUSYBOX = "/bin/busybox"

Entry = tuple[object, ...]


def busybox_rootfs(dest: Path) -> Path:
    """A minimal root: /bin/busybox and its applet links, /etc/passwd and /etc/group."""
    (dest / "bin").mkdir(parents=True)
    shutil.copy2(BUSYBOX, dest / "bin" / "busybox")
    applets = subprocess.run(
        [BUSYBOX, "--list"], check=True, capture_output=True, text=True
    ).stdout.split()
    for name in applets:
        if name != "busybox":
            os.symlink("busybox", dest / "bin" / name)
    etc = dest / "etc"
    etc.mkdir()
    (etc / "passwd").write_text(
        "root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n"
    )
    (etc / "group").write_text("root:x:0:\nstaff:x:50:\nalice:x:1000:\n")
    for d in ("root", "tmp", "home/alice"):
        (dest / d).mkdir(parents=True)
    os.chmod(dest / "tmp", 0o1777)
    return dest


def _xattrs(full: str) -> tuple[tuple[str, bytes], ...]:
    try:
        names = os.listxattr(full, follow_symlinks=False)
    except OSError:
        return ()
    return tuple(
        sorted(
            (n, os.getxattr(full, n, follow_symlinks=False))
            for n in names
            if not n.startswith(("trusted.overlay.", "user.overlay.", "security.selinux"))
        )
    )


def entry(full: str) -> Entry:
    st = os.lstat(full)
    kind = stat.S_IFMT(st.st_mode)
    digest = ""
    if stat.S_ISREG(st.st_mode):
        with open(full, "rb") as f:
            digest = hashlib.file_digest(f, "sha256").hexdigest()
    link = os.readlink(full) if stat.S_ISLNK(st.st_mode) else ""
    return (
        kind,
        stat.S_IMODE(st.st_mode),
        st.st_uid,
        st.st_gid,
        st.st_size if stat.S_ISREG(st.st_mode) else 0,
        digest,
        link,
        _xattrs(full),
        0 if stat.S_ISDIR(st.st_mode) else st.st_nlink,
        st.st_rdev if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) else 0,
    )


def tree(root: Path) -> dict[str, Entry]:
    """Every entry under `root` (not the root itself) by relative path."""
    out: dict[str, Entry] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            out[os.path.relpath(full, root)] = entry(full)
    return out


def assert_same_tree(got: Path, want: Path) -> None:
    a, b = tree(got), tree(want)
    assert sorted(a) == sorted(b), set(a) ^ set(b)
    diffs = {p: (a[p], b[p]) for p in a if a[p] != b[p]}
    assert not diffs, diffs
