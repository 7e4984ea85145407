"""Overlay mounts of a working container: read-only layer snapshots below, one writable
upper directory per container above.

Redirects, the inode index and metacopy are switched off: with them the upper directory
would not hold every changed file in full, and `diff.upper_changes` relies on it does.
Rootless mounts (`userxattr`) only live inside a user+mount namespace: `rootless_command`
wraps a command that needs the mount, and inside such a namespace (`lamina unshare`)
`mount_overlay` itself uses `userxattr`, as the kernel refuses the rootful options there.

Working containers are mounted `volatile`, as buildah's storage does: overlayfs then skips
every sync, most of all the sync of the whole upper file system that unmounting an overlay
otherwise does (0.1-0.5 s per unmount on a busy machine). The kernel refuses to remount an
upper dir marked volatile (it may be incomplete after a crash); `mount_overlay` clears the
mark when the machine has not rebooted since the volatile mount, and warns otherwise.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import functools
import logging
import os
import shlex
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from lamina.errors import BuildError, InvalidInput

log = logging.getLogger("lamina.building")
_MNT_DETACH = 2
_PAGE = 4096
_ROOTFUL_OPTS = "redirect_dir=off,index=off,metacopy=off"
_ROOTLESS_OPTS = "userxattr"
_BOOT_ID = "/proc/sys/kernel/random/boot_id"
_BOOT_MARK = "lamina-boot-id"  # in the work dir, beside the kernel's own work/


@functools.cache
def libc() -> ctypes.CDLL:
    """The C library (loaded once)."""
    # The symbols of the running interpreter include libc's; no find_library (it runs
    # `ldconfig -p`, a subprocess, on every start).
    try:
        lib = ctypes.CDLL(None, use_errno=True)
        lib.mount  # noqa: B018 - probe that libc's symbols are there
    except (OSError, AttributeError):
        lib = ctypes.CDLL("libc.so.6", use_errno=True)
    return lib


def sys_mount(source: str, target: str, fstype: str | None, flags: int, data: str | None) -> None:
    """mount(2); raises OSError with the errno."""
    rc = libc().mount(
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
    rc = libc().umount2(target.encode(), _MNT_DETACH if lazy else 0)
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


def _boot_id() -> str:
    try:
        return Path(_BOOT_ID).read_text().strip()
    except OSError:
        return ""


def _clear_volatile(work: Path) -> None:
    """Drop the kernel's volatile mark from `work` so the overlay can be mounted again."""
    mark = work / "work" / "incompat" / "volatile"
    if not os.path.lexists(mark):
        return
    try:
        then = (work / _BOOT_MARK).read_text().strip()
    except OSError:
        then = ""
    if not then or then != _boot_id():
        log.warning(
            "%s was mounted volatile before a reboot: changes made just before an unclean "
            "shutdown may be missing from it",
            work.parent,
        )
    shutil.rmtree(mark)


def mount_overlay(
    lowers: Sequence[Path], upper: Path, work: Path, target: Path, *, volatile: bool = False
) -> None:
    """Mount an overlay on `target` (as root, or as root of a user namespace with
    `userxattr`); `volatile`: without syncs (see the module's note; a kernel without the
    option mounts without it). Raises BuildError if the kernel refuses."""
    for d, what in ((upper, "upper"), (work, "work"), (target, "mount point")):
        if not d.is_dir():
            raise BuildError(f"mounting overlay on {target}: the {what} directory {d} is missing")
    opts = overlay_options(lowers, upper, work, rootless=in_user_namespace())
    try:
        _clear_volatile(work)
        if volatile:
            (work / _BOOT_MARK).write_text(_boot_id())
            try:
                sys_mount("overlay", str(target), "overlay", 0, f"volatile,{opts}")
                return
            except OSError as exc:
                if exc.errno != errno.EINVAL:  # EINVAL: a kernel before 5.10
                    raise
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
                mount_overlay([t / "l"], t / "u", t / "w", t / "m", volatile=True)
            except BuildError as exc:
                return str(exc)
            with contextlib.suppress(OSError):
                sys_umount(str(t / "m"), lazy=True)
    except OSError as exc:
        return f"probing overlay in {scratch}: {exc.strerror}"
    return None
