"""Change lists of a working container, for `content.layers.pack_dir(..., changes=...)`.

Two sources: an overlay upper directory (read alone, the lower layers are never walked),
and, for the no-overlay fallback, a fresh tree compared with a record of the tree it was
copied from (`TreeRecord`, taken right after the copy).
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from lamina.building.rootfs.xattrs import OVERLAY_XATTRS
from lamina.content.fstree import proc_path, walk
from lamina.content.layers.layer import Change
from lamina.content.layers.whiteouts import WHITEOUT_PREFIX
from lamina.errors import InvalidInput

OPAQUE_XATTRS = ("trusted.overlay.opaque", "user.overlay.opaque")


Ignore = Callable[[str], bool]


def is_whiteout(st: os.stat_result) -> bool:
    """An overlay whiteout: a character device with device number 0/0."""
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def is_opaque(path: str) -> bool:
    """Whether directory `path` carries overlay's opaque mark (rootful or userxattr form)."""
    for name in OPAQUE_XATTRS:
        try:
            if os.getxattr(path, name, follow_symlinks=False) == b"y":
                return True
        except OSError:
            continue
    return False


def upper_changes(upper: Path, *, ignore: Ignore | None = None) -> list[Change]:
    """The changes an overlay upper dir records: whiteouts become "delete", opaque dirs
    "opaque" (plus "add" for the dir itself), everything else "add". `ignore(path)` drops a
    path and its subtree (mount points the runtime created). OCI whiteout names found in
    the upper dir are refused: they cannot be told from a deletion in a layer.
    """
    out: list[Change] = []

    def skip(path: str, st: os.stat_result) -> bool:
        if ignore is not None and ignore(path):
            return True
        name = path.rpartition("/")[2]
        if name.startswith(WHITEOUT_PREFIX):
            raise InvalidInput(
                f"{path}: a file named {WHITEOUT_PREFIX}* cannot be committed to a layer"
            )
        if is_whiteout(st):
            out.append(Change("delete", path))
            return True
        return False

    for e in walk(upper, skip=skip):
        out.append(Change("add", e.path))
        if stat.S_ISDIR(e.st.st_mode) and is_opaque(proc_path(e.dir_fd, e.name)):
            out.append(Change("opaque", e.path))
    return out


# -- the no-overlay fallback ---------------------------------------------------------------


def _xattr_digest(full: str) -> str:
    try:
        names = sorted(os.listxattr(full, follow_symlinks=False))
    except OSError:
        return ""
    h = hashlib.sha256()
    for name in names:
        if name.startswith(OVERLAY_XATTRS):
            continue
        try:
            value = os.getxattr(full, name, follow_symlinks=False)
        except OSError:
            continue
        h.update(name.encode() + b"\0" + value + b"\0")
    return h.hexdigest()[:16]


def _signature(dir_fd: int, name: str, st: os.stat_result) -> list[object]:
    link = os.readlink(name, dir_fd=dir_fd) if stat.S_ISLNK(st.st_mode) else ""
    size = st.st_size if stat.S_ISREG(st.st_mode) else 0
    mtime = 0 if stat.S_ISDIR(st.st_mode) else st.st_mtime_ns
    nlink = st.st_nlink if stat.S_ISREG(st.st_mode) else 1
    return [
        st.st_mode,
        st.st_uid,
        st.st_gid,
        size,
        mtime,
        st.st_rdev,
        link,
        nlink,
        st.st_ino,
        _xattr_digest(proc_path(dir_fd, name)),
    ]


@dataclass(frozen=True, slots=True)
class TreeRecord:
    """What each entry of a tree looked like: mode, owner, size, mtime (ns), device, link
    target, link count, inode and an xattr digest. File contents are not hashed: as in
    Docker's and containers/storage's tree diffs, a rewrite that keeps size and mtime
    (to the nanosecond) and inode is not seen."""

    entries: dict[str, list[object]]

    @staticmethod
    def of(root: Path) -> TreeRecord:
        entries: dict[str, list[object]] = {}
        for e in walk(root):
            entries[e.path] = _signature(e.dir_fd, e.name, e.st)
        return TreeRecord(entries)

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.entries, separators=(",", ":")))
        os.replace(tmp, path)

    @staticmethod
    def load(path: Path) -> TreeRecord:
        return TreeRecord(json.loads(path.read_text()))


def tree_changes(before: TreeRecord, root: Path, *, ignore: Ignore | None = None) -> list[Change]:
    """Changes that turn the recorded tree into the tree now at `root`: new or changed
    entries are "add" (with their parent directories), vanished ones "delete" (only the
    topmost of a vanished subtree), a path whose type changed from a directory to anything
    else is written over it, and a new directory over a former non-directory is "add"."""
    now = TreeRecord.of(root).entries
    changed: set[str] = set()
    out: list[Change] = []
    for path, sig in now.items():
        if ignore is not None and _ignored(path, ignore):
            continue
        old = before.entries.get(path)
        if old is None or old != sig:
            changed.add(path)
    # A changed entry's parents must be in the layer too, so that tar extraction creates
    # them with their real metadata.
    for path in list(changed):
        parent = path.rpartition("/")[0]
        while parent and parent not in changed:
            changed.add(parent)
            parent = parent.rpartition("/")[0]
    out.extend(Change("add", p) for p in changed)
    for path in before.entries:
        if path in now or (ignore is not None and _ignored(path, ignore)):
            continue
        parent = path.rpartition("/")[0]
        if parent and parent not in now:
            continue  # the parent vanished too: its whiteout covers this one
        if parent and _type(before.entries.get(parent)) != _type(now.get(parent)):
            continue  # the parent was replaced by a non-directory
        out.append(Change("delete", path))
    return out


def _type(sig: list[object] | None) -> int:
    return stat.S_IFMT(cast(int, sig[0])) if sig is not None else -1


def _ignored(path: str, ignore: Ignore) -> bool:
    parts = path.split("/")
    return any(ignore("/".join(parts[: i + 1])) for i in range(len(parts)))
