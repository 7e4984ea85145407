"""Writing a COPY's files straight into an overlay container's upper directory.

Every file created through an overlay mount costs a lookup in each lower layer and the
overlay's own bookkeeping on top of creating it on the file system below. When everything
a COPY creates is new in the container — its destination does not exist, or is an empty real
directory, and the directories on the way to it are real directories, not links — the
result of writing through the overlay is known in advance: the kernel would copy the
existing directories on the way up into the upper directory (owner, mode, xattrs, times)
and create the rest there. `direct_upper` does exactly that with the overlay unmounted,
so the upper directory ends as the kernel would have left it and becomes the step's
layer as before. Anything else (a destination that exists with content, a symlink on the
way, an upper directory that already holds changes) is written through the mount.

When no later step needs this container's files on disk (the last step of the stage that
changes files, in a stage no other stage reads), the upper directory can be a tmpfs
(`scratch`): the files only live until they are packed into the layer, and creating them
costs no journal I/O (on a busy disk, creating a file on ext4 waits for the journal). The
layer is the same; it is not kept as the layer's snapshot, which is extracted from the
layer if a later build needs it.

`python -m bench.build_copy_direct` measures the three (5,000 small files, lamina's COPY
code). Here (ext4, 2 cores shared, load 4-5) the mount cost 91-743 us a file, the upper dir
on disk 56-689 us (the disk's load decides both), the tmpfs 40-54 us.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lamina.building.rootfs.overlay import sys_mount, unmount
from lamina.building.rootfs.xattrs import copyable_xattrs


@dataclass(frozen=True, slots=True)
class _Dir:
    rel: str
    st: os.stat_result
    xattrs: tuple[tuple[str, bytes], ...]


def existing_dirs(merged: Path, dest: str) -> list[_Dir] | None:
    """The directories of container path `dest` (absolute, normalised) that exist in the
    mounted root `merged`, outermost first, when everything under `dest` would be new;
    None when a COPY there may meet existing content or a symlink."""
    found: list[_Dir] = []
    parts = [p for p in dest.split("/") if p]
    for n, part in enumerate(parts):
        if part in (".", ".."):
            return None
        rel = "/".join(parts[: n + 1])
        path = os.path.join(merged, rel)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return found
        if not stat.S_ISDIR(st.st_mode):
            return None  # a symlink to follow, or a file to replace: the slow path
        if n == len(parts) - 1:
            with os.scandir(path) as it:
                if next(it, None) is not None:
                    return None
        found.append(_Dir(rel, st, tuple(copyable_xattrs(path))))
    return found if parts else None


def direct_upper(
    merged: Path,
    upper: Path,
    dest: str,
    unmount_root: Callable[[], None],
    *,
    scratch: int | None = None,
) -> Path | None:
    """The root to write a COPY to `dest` into: `upper`, with the overlay unmounted (by
    calling `unmount_root`) and the existing directories on the way copied up, when that
    gives the same upper directory as writing through the mount; else None (and the
    mount is left alone). `scratch`: the bytes the copy needs, to put the upper dir on a
    tmpfs of that size (see the module's note; `Builder.remove` unmounts it)."""
    with os.scandir(upper) as it:
        if next(it, None) is not None:
            return None  # the container has changes of its own: whiteouts, copies-up
    dirs = existing_dirs(merged, dest)
    if dirs is None:
        return None
    unmount_root()
    if scratch is not None:
        _mount_scratch(upper, scratch)
    for d in dirs:
        path = upper / d.rel
        os.mkdir(path)
        os.lchown(path, d.st.st_uid, d.st.st_gid)
        for name, value in d.xattrs:
            try:
                os.setxattr(path, name, value, follow_symlinks=False)
            except OSError:
                continue  # as the kernel's copy-up, which skips what it cannot set
        os.chmod(path, stat.S_IMODE(d.st.st_mode))
        os.utime(path, ns=(d.st.st_atime_ns, d.st.st_mtime_ns), follow_symlinks=False)
    return upper


def _mount_scratch(upper: Path, size: int) -> None:
    """A tmpfs on `upper` when the kernel allows it and it keeps what a disk would (user
    xattrs: tmpfs has them from Linux 6.6); else the upper stays on disk."""
    try:
        sys_mount("tmpfs", str(upper), "tmpfs", 0, f"size={size},mode=0755")
    except OSError:
        return
    try:
        os.setxattr(upper, "user.lamina.probe", b"1")
        os.removexattr(upper, "user.lamina.probe")
    except OSError:
        unmount(upper)


def scratch_size(sizes: int, entries: int) -> int | None:
    """A tmpfs size for a copy of `entries` entries holding `sizes` bytes, or None when
    it is too large to hold in memory (over 256 MiB or a quarter of the available)."""
    need = sizes + 4096 * (entries + 1)
    if need > 256 << 20 or need * 4 > _available():
        return None
    return need * 2 + (16 << 20)


def _available() -> int:
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0
