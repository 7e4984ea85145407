"""Turning an overlay upper directory into the stand-alone form of a layer snapshot.

A working container's upper dir whose every entry was just packed into a layer
(`pack_dir(upper, changes=upper_changes(upper))`) holds what extracting that layer into an
empty dir gives, except for overlay's own marks and for what a tar entry cannot carry.
`make_standalone` fixes those in place, so the dir can be renamed into `snapshots/<hex>/`
instead of extracting the layer again:

- overlay whiteouts (0/0 character devices) are removed and recorded as `dir/.wh.NAME`;
- opaque marks (`trusted.overlay.opaque` / `user.overlay.opaque`) are removed and recorded
  as `dir/.wh..wh..opq`;
- xattrs the layer does not carry (overlay's own, ACLs, ...) are removed, by `pack_dir`'s
  own rule;
- sockets (tar cannot hold them) are removed;
- mtimes become the layer's (whole seconds, clamped to its epoch), atimes likewise, as
  extraction sets both; the root gets an extraction dir's mode, owner and no xattrs.

The recorded whiteout paths come in tar order, as `snapshots.ensure` records them for an
extracted layer. Root only: an unprivileged extraction drops owners, device nodes,
setuid bits and non-`user.*` xattrs, which an upper dir keeps.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

# The very rule pack_dir applies, so an adopted snapshot keeps exactly the layer's xattrs.
from lamina.content.fstree import Entry, proc_path, walk
from lamina.content.layers.pack import XATTR_PREFIXES, XATTR_SKIP
from lamina.content.layers.whiteouts import OPAQUE, WHITEOUT_PREFIX

_OPAQUE_XATTRS = ("trusted.overlay.opaque", "user.overlay.opaque")
_NS = 1_000_000_000


def make_standalone(root: Path, epoch: int | None) -> list[str]:
    """Convert the upper dir `root` in place (see the module docstring); its layer's
    whiteout entry paths, in tar order."""
    found: list[str] = []
    top = str(root)
    os.chmod(top, 0o755)
    os.chown(top, os.geteuid(), os.getegid())
    for name in _list_xattrs(top):
        os.removexattr(top, name)
    dirs: list[tuple[str, int]] = []
    for e in walk(top):
        ns = _visit(e, epoch, found)
        if ns is not None:
            dirs.append((e.path, ns))
    # Directory times last, deepest first: removing a whiteout inside changed them.
    rootfd = os.open(top, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for path, ns in reversed(dirs):
            os.utime(path, ns=(ns, ns), dir_fd=rootfd, follow_symlinks=False)
    finally:
        os.close(rootfd)
    found.sort(key=lambda p: [os.fsencode(x) for x in p.split("/")])
    return found


def _visit(e: Entry, epoch: int | None, found: list[str]) -> int | None:
    """Fix one entry; for a directory, the mtime (ns) to give it once its content is done."""
    rel, _, _ = e.path.rpartition("/")
    st = e.st
    mode = st.st_mode
    full = proc_path(e.dir_fd, e.name)
    if stat.S_ISCHR(mode) and st.st_rdev == 0:
        os.unlink(e.name, dir_fd=e.dir_fd)
        found.append(f"{rel}/{WHITEOUT_PREFIX}{e.name}" if rel else WHITEOUT_PREFIX + e.name)
        return None
    if stat.S_ISSOCK(mode):
        os.unlink(e.name, dir_fd=e.dir_fd)
        return None
    opaque = False
    for name in _list_xattrs(full):
        if name in _OPAQUE_XATTRS:
            opaque = opaque or os.getxattr(full, name, follow_symlinks=False) == b"y"
        elif name.startswith(XATTR_PREFIXES) and not name.startswith(XATTR_SKIP):
            continue
        os.removexattr(full, name, follow_symlinks=False)
    # pack_dir writes int(st_mtime) (clamped); extraction sets that many whole seconds.
    secs = int(st.st_mtime)
    if epoch is not None and secs > epoch:
        secs = epoch
    ns = secs * _NS
    if stat.S_ISDIR(mode):
        if opaque:
            found.append(f"{e.path}/{OPAQUE}")
        return ns
    if st.st_mtime_ns != ns or st.st_atime_ns != ns:
        os.utime(full, ns=(ns, ns), follow_symlinks=False)
    return None


def _list_xattrs(path: str) -> list[str]:
    try:
        return os.listxattr(path, follow_symlinks=False)
    except OSError:
        return []
