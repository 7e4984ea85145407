"""Overlay mounts of a working container: read-only layer snapshots below, one writable
upper directory per container above.

Redirects, the inode index and metacopy are switched off: with them the upper directory
would not hold every changed file in full, and `diff.upper_changes` relies on it does.
Rootless mounts (`userxattr`) only live inside a user+mount namespace: `rootless_command`
wraps a command that needs the mount, and inside such a namespace (`lamina unshare`)
`mount_overlay` itself uses `userxattr`, as the kernel refuses the rootful options there.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import os
import shlex
import tempfile
from collections.abc import Sequence
from pathlib import Path

from lamina.errors import BuildError, InvalidInput

_MNT_DETACH = 2
_PAGE = 4096
_ROOTFUL_OPTS = "redirect_dir=off,index=off,metacopy=off"
_ROOTLESS_OPTS = "userxattr"


@functools.cache
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def sys_mount(source: str, target: str, fstype: str | None, flags: int, data: str | None) -> None:
    """mount(2); raises OSError with the errno."""
    rc = _libc().mount(
        source.encode(),
        target.encode(),
        fstype.encode() if fstype else None,
        ctypes.c_ulong(flags),
        data.encode() if data else None,
    )
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {fstype or source} on {target}: {os.strerror(err)}")


def sys_umount(target: str, *, lazy: bool = False) -> None:
    """umount2(2); raises OSError with the errno."""
    rc = _libc().umount2(target.encode(), _MNT_DETACH if lazy else 0)
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"umount {target}: {os.strerror(err)}")


def overlay_options(
    lowers: Sequence[Path], upper: Path, work: Path, *, rootless: bool = False
) -> str:
    """The mount data for an overlay; `lowers` are given lowest first (the kernel wants the
    topmost first, so they are reversed). At least one lower is required."""
    if not lowers:
        raise InvalidInput("an overlay needs at least one lower directory")
    for p in (*lowers, upper, work):
        if any(c in str(p) for c in ":,\\\n"):
            raise InvalidInput(f"{p}: overlay paths cannot contain ':', ',' or '\\'")
    lower = ":".join(str(p) for p in reversed(lowers))
    extra = _ROOTLESS_OPTS if rootless else _ROOTFUL_OPTS
    opts = f"{extra},lowerdir={lower},upperdir={upper},workdir={work}"
    if len(opts) >= _PAGE:
        raise BuildError(
            f"overlay mount options are {len(opts)} bytes (limit {_PAGE - 1}): "
            f"{len(lowers)} layers with long paths; squash the base image or use a shorter root"
        )
    return opts


@functools.cache
def in_user_namespace() -> bool:
    """Whether this process runs in a user namespace other than the initial one."""
    try:
        text = Path("/proc/self/uid_map").read_text()
    except OSError:
        return False
    return text.split() != ["0", "0", "4294967295"]


def mount_overlay(lowers: Sequence[Path], upper: Path, work: Path, target: Path) -> None:
    """Mount an overlay on `target` (as root, or as root of a user namespace with
    `userxattr`). Raises BuildError if the kernel refuses."""
    for d, what in ((upper, "upper"), (work, "work"), (target, "mount point")):
        if not d.is_dir():
            raise BuildError(f"mounting overlay on {target}: the {what} directory {d} is missing")
    opts = overlay_options(lowers, upper, work, rootless=in_user_namespace())
    try:
        sys_mount("overlay", str(target), "overlay", 0, opts)
    except OSError as exc:
        raise BuildError(f"mounting overlay on {target}: {exc.strerror}") from None


def is_mounted(target: Path) -> bool:
    """Whether `target` is a mount point listed in /proc/self/mountinfo."""
    want = os.path.realpath(target)
    with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as f:
        for line in f:
            point = line.split(" ", 5)[4]
            if _unescape(point) == want:
                return True
    return False


def _unescape(field: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as octal.
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and i + 4 <= len(field) and field[i + 1 : i + 4].isdigit():
            out.append(chr(int(field[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def unmount(target: Path) -> None:
    """Unmount `target` if mounted (lazily if it is busy)."""
    if not is_mounted(target):
        return
    try:
        sys_umount(str(target))
    except OSError:
        try:
            sys_umount(str(target), lazy=True)
        except OSError as exc:
            raise BuildError(f"unmounting {target}: {exc.strerror}") from None


def rootless_command(
    lowers: Sequence[Path], upper: Path, work: Path, target: Path, argv: Sequence[str]
) -> list[str]:
    """An argv that, run as any user, enters a new user+mount namespace (mapped to root),
    mounts the overlay on `target` with `userxattr`, and then execs `argv` there.

    Opaque directories then carry `user.overlay.opaque`; `diff.upper_changes` reads both.
    """
    opts = overlay_options(lowers, upper, work, rootless=True)
    script = f"mount -t overlay overlay -o {shlex.quote(opts)} {shlex.quote(str(target))}"
    return [
        "unshare",
        "--user",
        "--map-root-user",
        "--mount",
        "--",
        "sh",
        "-c",
        f'{script} || exit 125; exec "$@"',
        "sh",
        *argv,
    ]


@functools.cache
def overlay_works(scratch: Path) -> str | None:
    """Probe a real rootful overlay mount in `scratch` (an existing dir on the filesystem
    the upper dirs will live on). None if it works, else why not (one line)."""
    if os.geteuid() != 0:
        return "not running as root"
    try:
        with tempfile.TemporaryDirectory(dir=scratch, prefix="overlay-probe-") as tmp:
            t = Path(tmp)
            for d in ("l", "u", "w", "m"):
                (t / d).mkdir()
            try:
                mount_overlay([t / "l"], t / "u", t / "w", t / "m")
            except BuildError as exc:
                return str(exc)
            with contextlib.suppress(OSError):
                sys_umount(str(t / "m"), lazy=True)
    except OSError as exc:
        return f"probing overlay in {scratch}: {exc.strerror}"
    return None
