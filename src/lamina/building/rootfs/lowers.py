"""Making a layer's whiteouts visible to overlayfs.

A stored snapshot is a layer extracted on its own, so the whiteouts it carried (names of
lower entries it deletes, directories whose lower content it hides) are not in it. For
each layer that has whiteouts, `whiteout_dir` builds a small directory placed just *below*
that layer's snapshot in the overlay's lower stack: deleted names are overlay whiteouts
(0/0 character devices) and opaque directories carry the opaque xattr, so the layer's own
entries stay visible while everything beneath is hidden, as OCI extraction would do.
Directories created to hold them copy the metadata of the directory they stand in for
(the topmost one in the snapshots below), since the overlay shows the topmost directory's.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from pathlib import Path

from lamina.building.rootfs.diff import OPAQUE_XATTRS
from lamina.building.rootfs.snapshot import copy_meta
from lamina.content.layers.whiteouts import OPAQUE, whiteout_target
from lamina.errors import InvalidInput


def parse_whiteouts(paths: Sequence[str]) -> tuple[list[str], list[str]]:
    """Split tar whiteout paths into (deleted paths, opaque directory paths)."""
    deleted: list[str] = []
    opaque: list[str] = []
    for raw in paths:
        path = raw.strip("/")
        if any(p in ("", ".", "..") for p in path.split("/")):
            raise InvalidInput(f"whiteout path {raw!r} is not a clean relative path")
        parent, _, base = path.rpartition("/")
        if base == OPAQUE:
            if parent:  # an opaque marker at the root hides nothing a snapshot could have
                opaque.append(parent)
            continue
        target = whiteout_target(base)
        if target is None:
            raise InvalidInput(f"{raw!r} is not a whiteout path")
        deleted.append(f"{parent}/{target}" if parent else target)
    return deleted, opaque


def whiteout_dir(dest: Path, whiteouts: Sequence[str], below: Sequence[Path]) -> None:
    """Fill the empty dir `dest` with overlay whiteouts for the tar whiteout `whiteouts` of a
    layer whose lower snapshots are `below` (lowest first)."""
    deleted, opaque = parse_whiteouts(whiteouts)
    dest.mkdir(parents=True, exist_ok=True)
    made: list[tuple[str, str, os.stat_result]] = []
    for path in opaque:
        full = _ensure_dir(dest, path, below, made)
        for name in OPAQUE_XATTRS:
            os.setxattr(full, name, b"y", 0, follow_symlinks=False)
    for path in deleted:
        parent = path.rpartition("/")[0]
        if parent:
            _ensure_dir(dest, parent, below, made)
        full = os.path.join(dest, path)
        if os.path.lexists(full):
            continue  # also named opaque: the directory itself stays
        os.mknod(full, 0o600 | stat.S_IFCHR, os.makedev(0, 0))
    for full, src, st in reversed(made):  # deepest first: children change parents' mtimes
        copy_meta(src, full, st)


def _ensure_dir(
    dest: Path, path: str, below: Sequence[Path], made: list[tuple[str, str, os.stat_result]]
) -> str:
    cur = str(dest)
    rel = ""
    for part in path.split("/"):
        rel = f"{rel}/{part}" if rel else part
        cur = os.path.join(cur, part)
        if os.path.isdir(cur) and not os.path.islink(cur):
            continue
        os.mkdir(cur, 0o755)
        for snap in reversed(below):
            src = os.path.join(snap, rel)
            try:
                st = os.lstat(src)
            except FileNotFoundError:
                continue
            if stat.S_ISDIR(st.st_mode):
                made.append((cur, src, st))
            break
    return cur


def overlay_lowers(
    snapshots: Sequence[Path], whiteouts: Sequence[Sequence[str]], scratch: Path
) -> list[Path]:
    """The overlay lower stack (lowest first) for `snapshots` whose layers carried
    `whiteouts` (one list per snapshot), building whiteout dirs under `scratch`.

    A layer an image lists more than once (three empty `RUN true` steps make the same
    diff_id, hence the same snapshot dir) appears once, at its topmost place: overlayfs
    refuses a directory twice in `lowerdir`, and the lower copy can show nothing the upper
    one does not decide again. Applying a layer again re-decides every path it holds or
    whiteouts (and, for its opaque directories, everything beneath them) over all that lies
    below the repeat, so a path it leaves alone never depended on the earlier copy either;
    for A, B, A the merged view is A over B, whatever B changes (a second copy of the
    snapshot, as containers-storage keeps per chain ID, would show the same). Whiteout dirs
    are built against the snapshots actually kept below them."""
    if len(snapshots) != len(whiteouts):
        raise InvalidInput("one whiteout list per snapshot is needed")
    topmost = {snap: i for i, snap in enumerate(snapshots)}
    out: list[Path] = []
    below: list[Path] = []
    for i, (snap, wh) in enumerate(zip(snapshots, whiteouts, strict=True)):
        if topmost[snap] != i:
            continue  # applied again higher up
        if wh and below:
            d = scratch / f"wh{i}"
            whiteout_dir(d, wh, below)
            out.append(d)
        out.append(snap)
        below.append(snap)
    return out
