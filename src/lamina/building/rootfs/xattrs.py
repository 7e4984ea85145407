"""Extended attributes a copy of a file keeps: all but overlayfs's own (`trusted.overlay.*`
when rootful, `user.overlay.*` with `userxattr`), which describe the overlay, not the file."""

from __future__ import annotations

import os

from lamina.content.layers.pack import XATTR_SKIP

OVERLAY_XATTRS = XATTR_SKIP  # the one list, which packing a layer skips too


def copyable_xattrs(path: str) -> list[tuple[str, bytes]]:
    """The extended attributes of `path` (a link itself, not followed) that a copy keeps:
    all but overlayfs's own; those that cannot be read are skipped."""
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return []
    out: list[tuple[str, bytes]] = []
    for name in names:
        if name.startswith(OVERLAY_XATTRS):
            continue
        try:
            out.append((name, os.getxattr(path, name, follow_symlinks=False)))
        except OSError:
            continue
    return out
