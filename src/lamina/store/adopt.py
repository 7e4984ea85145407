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
    _visit(top, "", epoch, found)
    found.sort(key=lambda p: [os.fsencode(x) for x in p.split("/")])
    return found


def _visit(dirpath: str, rel: str, epoch: int | None, found: list[str]) -> None:
    with os.scandir(dirpath) as it:
        entries = list(it)
    for e in entries:
        path = f"{rel}/{e.name}" if rel else e.name
        st = e.stat(follow_symlinks=False)
        mode = st.st_mode
        if stat.S_ISCHR(mode) and st.st_rdev == 0:
            os.unlink(e.path)
            found.append(f"{rel}/{WHITEOUT_PREFIX}{e.name}" if rel else WHITEOUT_PREFIX + e.name)
            continue
        if stat.S_ISSOCK(mode):
            os.unlink(e.path)
            continue
        opaque = False
        for name in _list_xattrs(e.path):
            if name in _OPAQUE_XATTRS:
                opaque = opaque or os.getxattr(e.path, name, follow_symlinks=False) == b"y"
            elif name.startswith(XATTR_PREFIXES) and not name.startswith(XATTR_SKIP):
                continue
            os.removexattr(e.path, name, follow_symlinks=False)
        # pack_dir writes int(st_mtime) (clamped); extraction sets that many whole seconds.
        secs = int(st.st_mtime)
        if epoch is not None and secs > epoch:
            secs = epoch
        ns = secs * _NS
        if stat.S_ISDIR(mode):
            if opaque:
                found.append(f"{path}/{OPAQUE}")
            _visit(e.path, path, epoch, found)
            # After the children: removing a whiteout inside changed this mtime.
            os.utime(e.path, ns=(ns, ns), follow_symlinks=False)
        elif st.st_mtime_ns != ns or st.st_atime_ns != ns:
            os.utime(e.path, ns=(ns, ns), follow_symlinks=False)


def _list_xattrs(path: str) -> list[str]:
    try:
        return os.listxattr(path, follow_symlinks=False)
    except OSError:
        return []
