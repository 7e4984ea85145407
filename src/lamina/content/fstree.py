"""Walking and removing directory trees of any depth, without recursion.

Python 3.11's `shutil.rmtree` and `os.walk` recurse once per directory level, so a tree
about 1,000 levels deep (one layer can hold it) raises RecursionError. These keep their own
stack of names and hold one directory fd at a time: they go down by name and come back up
through "..", checking that each directory reached is the one left (device and inode), so
neither Python's stack, PATH_MAX nor the open-file limit bounds the depth.

What a path *inside a container root* may be is the kernel's rule, which podman's storage
meets by opening "/" + the entry's name in a chroot: each name at most NAME_MAX bytes, the
whole with its leading "/" and terminating NUL at most PATH_MAX. `path_problem` says why a
path breaks it; layers holding such paths are refused where they are read or written.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from lamina.errors import LaminaError

PATH_MAX = 4096  # bytes, with the terminating NUL (linux/limits.h)
NAME_MAX = 255
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_SPACE_ERRNOS = (errno.ENOSPC, errno.EDQUOT)


def shown(path: str) -> str:
    """`path` for a one-line message: whole when short, else its ends and its length."""
    size = len(os.fsencode(path))
    if len(path) <= 120:
        return repr(path)
    return f"{path[:60]!r}...{path[-40:]!r} ({size} bytes)"


def path_problem(path: str) -> str | None:
    """Why `path` ("/"-separated, relative to a container root) cannot exist under the
    kernel's limits, or None when it can."""
    raw = os.fsencode(path.strip("/"))
    if len(raw) <= NAME_MAX:
        return None
    for part in raw.split(b"/"):
        if len(part) > NAME_MAX:
            return f"has a name of {len(part)} bytes (the kernel allows {NAME_MAX}: NAME_MAX)"
    if len(raw) + 2 > PATH_MAX:
        return (
            f"is {len(raw) + 1} bytes long with its leading '/' "
            f"(the kernel allows {PATH_MAX - 1}: PATH_MAX)"
        )
    return None


def is_space_error(exc: OSError) -> bool:
    return exc.errno in _SPACE_ERRNOS


def space_error(exc: OSError, where: Path | str, what: str) -> LaminaError:
    """The error for a full disk (or quota) met while writing under `where`."""
    return LaminaError(
        f"{what}: no space left on the device holding {where} ({exc.strerror})",
        hint="free space there: remove images nothing uses (lamina image prune, lamina rmi) "
        "and working containers (lamina rm), or use --root on a larger file system",
    )


def proc_path(dir_fd: int, name: str) -> str:
    """A path naming `name` in directory `dir_fd`, for calls that take no dir_fd (xattrs):
    short whatever the directory's depth."""
    return f"/proc/self/fd/{dir_fd}/{name}"


@dataclass(slots=True)
class _Frame:
    name: str  # in the parent frame's directory
    ident: tuple[int, int]
    rel: str = ""
    todo: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Entry:
    """One walked entry: its "/"-separated path under the root, its name, its lstat, and
    the fd of its directory (owned by the walk: valid until the walk moves on)."""

    path: str
    name: str
    st: os.stat_result
    dir_fd: int


def ident(st: os.stat_result) -> tuple[int, int]:
    """A file's identity: (device, inode)."""
    return (st.st_dev, st.st_ino)


def climb(fd: int, want: tuple[int, int], where: str) -> int:
    """The fd of the parent of directory `fd` (closing `fd`), checked to be the directory
    `want` (device, inode): the one `fd` was reached from."""
    up = os.open("..", _DIR_FLAGS, dir_fd=fd)
    os.close(fd)
    if ident(os.fstat(up)) != want:
        os.close(up)
        raise LaminaError(f"{where}: a directory was moved while the tree was being read")
    return up


def _down(fd: int, name: str, want: tuple[int, int], where: str) -> int:
    child = os.open(name, _DIR_FLAGS, dir_fd=fd)
    if ident(os.fstat(child)) != want:
        os.close(child)
        raise LaminaError(f"{where}: {name!r} was replaced while the tree was being read")
    return child


def walk(
    root: Path | str, *, skip: Callable[[str, os.stat_result], bool] | None = None
) -> Iterator[Entry]:
    """Every entry under directory `root` (not `root` itself), depth first, a directory
    before its content, names sorted bytewise (Go's filepath.Walk order, so a tree always
    packs the same). `skip(path, st)` true: the entry is neither yielded nor entered.
    Entries that vanish while walked are passed over; the tree should not change."""
    where = str(root)
    fd = os.open(root, _DIR_FLAGS)
    try:
        frames = [_Frame("", ident(os.fstat(fd)), "", _sorted(fd))]
        while frames:
            top = frames[-1]
            if not top.todo:
                frames.pop()
                if frames:
                    fd = climb(fd, frames[-1].ident, where)
                continue
            name = top.todo.pop()
            path = f"{top.rel}/{name}" if top.rel else name
            try:
                st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            except FileNotFoundError:
                continue
            if skip is not None and skip(path, st):
                continue
            yield Entry(path, name, st, fd)
            if stat.S_ISDIR(st.st_mode):
                child = _down(fd, name, ident(st), where)
                os.close(fd)
                fd = child
                frames.append(_Frame(name, ident(st), path, _sorted(fd)))
    finally:
        os.close(fd)


def _sorted(fd: int) -> list[str]:
    """The names in directory `fd`, in reverse bytewise order (popped from the end)."""
    return sorted(os.listdir(fd), key=os.fsencode, reverse=True)


def remove_tree(path: Path | str) -> None:
    """Remove `path` and all under it, however deep; a missing `path` is fine.

    Directories whose mode forbids it (an unprivileged extraction keeps read-only ones) are
    made writable first. A symlink is removed, never followed. Raises OSError for what cannot
    be removed (a mount point inside, a full-disk-unrelated I/O error)."""
    text = os.fspath(path)
    parent, name = os.path.split(text.rstrip("/") or "/")
    try:
        pfd = os.open(parent or ".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    try:
        remove_tree_at(pfd, name, where=text)
    finally:
        os.close(pfd)


def remove_tree_at(dir_fd: int, name: str, *, where: str = "") -> None:
    """Remove entry `name` of directory `dir_fd` and all under it (see `remove_tree`)."""
    where = where or name
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(st.st_mode):
        with contextlib.suppress(FileNotFoundError):  # removed meanwhile: as good
            os.unlink(name, dir_fd=dir_fd)
        return
    try:
        fd = _open_dir(dir_fd, name, ident(st), where)
    except FileNotFoundError:
        return
    frames = [_Frame(name, ident(st), todo=_clear(fd))]
    try:
        while True:
            top = frames[-1]
            if top.todo:
                sub = top.todo.pop()
                try:
                    sst = os.stat(sub, dir_fd=fd, follow_symlinks=False)
                except FileNotFoundError:
                    continue
                try:
                    if not stat.S_ISDIR(sst.st_mode):
                        _in_dir(fd, os.unlink, sub)
                        continue
                    child = _open_dir(fd, sub, ident(sst), where)
                except FileNotFoundError:
                    continue
                os.close(fd)
                fd = child
                frames.append(_Frame(sub, ident(sst), todo=_clear(fd)))
                continue
            frames.pop()
            if not frames:
                break
            fd = climb(fd, frames[-1].ident, where)
            try:
                _in_dir(fd, os.rmdir, top.name)
            except FileNotFoundError:
                continue
            except OSError as exc:
                if exc.errno != errno.ENOTEMPTY:
                    raise
                # Something was created meanwhile: clear it again.
                frames[-1].todo.append(top.name)
    finally:
        os.close(fd)
    with contextlib.suppress(FileNotFoundError):
        os.rmdir(name, dir_fd=dir_fd)


def _open_dir(pfd: int, name: str, ident: tuple[int, int], where: str) -> int:
    try:
        return _down(pfd, name, ident, where)
    except PermissionError:
        os.chmod(name, stat.S_IRWXU, dir_fd=pfd)  # just seen to be a directory
        return _down(pfd, name, ident, where)


def _clear(fd: int) -> list[str]:
    """Unlink every non-directory in directory `fd`; the names of its subdirectories."""
    subdirs: list[str] = []
    with os.scandir(fd) as it:
        entries = list(it)
    for e in entries:
        if e.is_dir(follow_symlinks=False):
            subdirs.append(e.name)
        else:
            try:
                _in_dir(fd, os.unlink, e.name)
            except FileNotFoundError:
                continue
    return subdirs


def _in_dir(fd: int, op: Callable[..., None], name: str) -> None:
    """`op(name, dir_fd=fd)` (an unlink or rmdir), making directory `fd` writable if it
    must (it belongs to the tree being removed)."""
    try:
        op(name, dir_fd=fd)
    except PermissionError:
        os.chmod(fd, stat.S_IRWXU)
        op(name, dir_fd=fd)
