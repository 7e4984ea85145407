"""A target root opened once, with paths inside it resolved safely, component by component.

Every component is opened with `O_NOFOLLOW | O_DIRECTORY` relative to its parent's fd, so
the kernel never follows a symlink for us. A symlink met on the way is resolved by hand,
*scoped to the root*: an absolute target restarts at the root and `..` stops at the root
(the semantics of containerd's fs.RootPath and filepath-securejoin). So whatever the layer
holds, no path resolved here leaves the root.

The fds of the last resolved directory chain are kept open so sorted tar entries share
their parents' lookups (its first KEEP_FDS levels and its deepest one: a layer may be
thousands of directories deep, and the open-file limit is often 1024); `invalidate()` must
be called after removing a directory or a symlink, which could change what a cached path
means.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Sequence
from pathlib import Path

from lamina.content.fstree import climb, ident, path_problem, shown
from lamina.errors import InvalidInput, UnsafeContent

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
MAX_SYMLINK_HOPS = 40
KEEP_FDS = 64


def clean_parts(name: str, what: str) -> list[str]:
    """Split a tar name into components, lexically cleaned.

    A leading "/" is stripped (as Docker does: absolute names are relative to the root);
    "." and empty components are dropped; ".." removes the previous component, and a ".."
    that would climb above the root raises UnsafeContent. A name longer than the kernel
    allows a path to be (see `fstree.path_problem`) raises InvalidInput, naming it.
    """
    parts: list[str] = []
    for comp in name.split("/"):
        if comp in ("", "."):
            continue
        if comp == "..":
            if not parts:
                raise UnsafeContent(
                    f"{what}: entry {name[:200]!r} climbs out of the root with '..'; "
                    "the layer is hostile or broken"
                )
            parts.pop()
            continue
        parts.append(comp)
    problem = path_problem("/".join(parts))
    if problem is not None:
        raise InvalidInput(
            f"{what}: entry {shown(name)} {problem}",
            hint="no container root can hold it (podman refuses it too): shorten the path",
        )
    return parts


class SafeRoot:
    """An open target root directory. Close it (or use `with`) when done."""

    def __init__(self, root: Path, what: str = "layer") -> None:
        self.fd = os.open(root, _DIR_FLAGS)
        self.root = root
        self._id = ident(os.fstat(self.fd))
        self._what = what
        self._names: list[str] = []
        self._fds: list[int | None] = []  # None: closed to bound the open fds
        self._retired: list[int] = []

    def __enter__(self) -> SafeRoot:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.invalidate()
        self._close_retired()
        os.close(self.fd)

    def invalidate(self) -> None:
        """Forget cached directory fds (after a directory or symlink was removed). They are
        closed at the next `dir()` call, not now: the caller may still be using the last
        one (a parent whose entry it just replaced)."""
        self._retired.extend(fd for fd in self._fds if fd is not None)
        self._fds.clear()
        self._names.clear()

    def _close_retired(self) -> None:
        for fd in self._retired:
            os.close(fd)
        self._retired.clear()

    def dir(self, parts: Sequence[str], *, create: bool) -> int:
        """The fd of directory `parts` (owned by this object: do not close it; valid until
        the next call). Missing directories are made (mode 0755) when `create`, else
        FileNotFoundError is raised."""
        self._close_retired()
        i = 0
        n = min(len(parts), len(self._names))
        while i < n and self._names[i] == parts[i]:
            i += 1
        while i > 0 and self._fds[i - 1] is None:
            i -= 1  # reopen from the deepest level still open
        for stale in self._fds[i:]:
            if stale is not None:
                os.close(stale)
        del self._fds[i:], self._names[i:]
        for j in range(i, len(parts)):
            parent = self._fds[-1] if self._fds else self.fd
            assert parent is not None
            fd = self._step(parent, parts[j], create, parts)
            if fd is None:  # a symlink: resolve this prefix the careful way
                fd = self.open_dir(parts[: j + 1], create=create)
            if j > KEEP_FDS and self._fds[-1] is not None:
                os.close(self._fds[-1])  # keep the first levels and the deepest only
                self._fds[-1] = None
            self._names.append(parts[j])
            self._fds.append(fd)
        last = self._fds[-1] if self._fds else self.fd
        assert last is not None
        return last

    def open_dir(self, parts: Sequence[str], *, create: bool) -> int:
        """A new fd (the caller closes it) for `parts`, following symlinks scoped to the root.

        One directory is open at a time: ".." goes up through the kernel's "..", checked to
        be the directory come down from."""
        cur = os.dup(self.fd)
        ids: list[tuple[int, int]] = []  # the directories below the root down to `cur`
        todo = list(reversed(parts))
        hops = 0
        try:
            while todo:
                comp = todo.pop()
                if comp in ("", "."):
                    continue
                if comp == "..":
                    if ids:
                        ids.pop()
                        cur = climb(cur, ids[-1] if ids else self._id, str(self.root))
                    continue
                opened = self._step(cur, comp, create, parts)
                if opened is not None:
                    os.close(cur)
                    cur = opened
                    ids.append(ident(os.fstat(cur)))
                    continue
                hops += 1
                if hops > MAX_SYMLINK_HOPS:
                    raise UnsafeContent(
                        f"{self._what}: too many symlinks resolving {'/'.join(parts)[:200]!r}"
                    )
                target = os.readlink(comp, dir_fd=cur)
                if target.startswith("/"):
                    os.close(cur)
                    cur = os.dup(self.fd)
                    ids.clear()
                todo.extend(reversed(target.split("/")))
            found, cur = cur, -1
            return found
        finally:
            if cur >= 0:
                os.close(cur)

    def _step(self, parent: int, comp: str, create: bool, parts: Sequence[str]) -> int | None:
        """Open directory `comp` under `parent`; None if it is a symlink."""
        try:
            return os.open(comp, _DIR_FLAGS, dir_fd=parent)
        except FileNotFoundError:
            if not create:
                raise
            os.mkdir(comp, 0o755, dir_fd=parent)
            return os.open(comp, _DIR_FLAGS, dir_fd=parent)
        except OSError as exc:
            if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
                raise
        st = os.stat(comp, dir_fd=parent, follow_symlinks=False)
        if stat.S_ISLNK(st.st_mode):
            return None
        raise InvalidInput(
            f"{self._what}: cannot use {'/'.join(parts)[:200]!r}: {comp!r} is not a directory"
        )
