"""Applying a layer to a root directory, safely.

Nothing is written outside `root`, whatever the tar says: names are cleaned lexically
(leading "/" stripped, ".." above the root refused), and every directory on the way is opened
fd-relative without following symlinks (symlinks met are resolved scoped to the root; see
saferoot). Whiteouts and opaque markers delete lower content only.
"""

from __future__ import annotations

import errno
import io
import os
import stat
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, cast

from lamina.content.compression import Compression, decompress_reader
from lamina.content.fstree import (
    climb,
    ident,
    is_space_error,
    remove_tree_at,
    shown,
    space_error,
)
from lamina.content.layers.limits import (
    CORRUPT_ERRORS,
    DEFAULT_MAX_RATIO,
    CountingReader,
    GuardedReader,
)
from lamina.content.layers.saferoot import SafeRoot, clean_parts
from lamina.content.layers.tarread import ForwardReader, members, open_tar
from lamina.content.layers.whiteouts import OPAQUE, whiteout_target
from lamina.content.verify import CHUNK
from lamina.digest import Digest
from lamina.errors import InvalidInput, LaminaError, UnsafeContent

_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_XATTR_PREFIX = "SCHILY.xattr."


@dataclass
class ApplyStats:
    """What an apply did. `skipped` lists neutralised entries as "path: reason"."""

    entries: int = 0
    bytes: int = 0
    whiteouts: int = 0
    skipped: list[str] = field(default_factory=list)
    diff_id: Digest | None = None  # sha256 of the decompressed stream, read to its end


def apply_layer(
    stream: BinaryIO,
    root: Path,
    *,
    as_root: bool | None = None,
    max_ratio: float | None = DEFAULT_MAX_RATIO,
    max_entries: int | None = None,
    what: str = "layer",
) -> ApplyStats:
    """Extract a layer (plain tar, gzip or zstd: found by magic) into existing dir `root`.

    `as_root` (default: whether the process is root) decides whether owners, device nodes,
    setuid/setgid bits and non-`user.*` xattrs are restored; as non-root they are dropped
    and noted in `skipped`. `max_ratio` bounds decompressed/compressed size (see limits);
    `max_entries` bounds the entry count. Refusals raise UnsafeContent, malformed or
    truncated streams InvalidInput. A failed apply may leave `root` partly written: extract
    into a fresh snapshot dir and rename it into place only on success. The caller closes
    `stream`.
    """
    root_user = os.geteuid() == 0 if as_root is None else as_root
    counted = CountingReader(stream)
    plain, kind = decompress_reader(counted, what)  # type: ignore[arg-type]
    guarded = GuardedReader(
        plain, counted if kind is not Compression.NONE else None, max_ratio, what
    )
    stats = ApplyStats()
    with SafeRoot(root, what) as safe:
        applier = _Applier(safe, stats, root_user, what)
        try:
            with open_tar(ForwardReader(guarded, what)) as tar:
                for member in members(tar):
                    stats.entries += 1
                    if max_entries is not None and stats.entries > max_entries:
                        raise UnsafeContent(f"{what}: more than {max_entries} entries; refusing it")
                    applier.apply(tar, member)
            guarded.drain(CHUNK)
        except CORRUPT_ERRORS as exc:
            raise InvalidInput(
                f"{what}: not a valid tar stream, or corrupt or truncated "
                f"(at entry {stats.entries}: {exc or type(exc).__name__})"
            ) from None
        applier.finish()
    stats.diff_id = guarded.diff_id
    return stats


class _Applier:
    def __init__(self, safe: SafeRoot, stats: ApplyStats, as_root: bool, what: str) -> None:
        self._safe = safe
        self._stats = stats
        self._root = as_root
        self._what = what
        self._created: set[str] = set()
        self._dirs: list[tuple[list[str], int, int]] = []  # parts, mode, mtime_ns
        self._buf = bytearray(CHUNK)

    def _skip(self, path: str, reason: str) -> None:
        self._stats.skipped.append(f"{path}: {reason}")

    def apply(self, tar: tarfile.TarFile, m: tarfile.TarInfo) -> None:
        parts = clean_parts(m.name, self._what)
        if not parts:
            return  # the root itself: its owner and mode belong to the caller
        path = "/".join(parts)
        base = parts[-1]
        try:
            if base == OPAQUE:
                self._stats.whiteouts += 1
                self._opaque(parts[:-1])
                return
            target = whiteout_target(base)
            if target is not None:
                self._stats.whiteouts += 1
                self._whiteout(parts[:-1], target)
                return
            self._created.add(path)
            if m.islnk():
                self._hardlink(m, parts)
                return
            pfd = self._safe.dir(parts[:-1], create=True)
            if m.isdir():
                self._dir(m, pfd, parts)
            elif m.isreg():
                self._file(tar, m, pfd, base, path)
            elif m.issym():
                self._replace(pfd, base, False)
                os.symlink(m.linkname, base, dir_fd=pfd)
                self._owner_at(pfd, base, m)
                ns = _ns(m.mtime)
                os.utime(base, ns=(ns, ns), dir_fd=pfd, follow_symlinks=False)
            elif m.isfifo() or m.ischr() or m.isblk():
                self._node(m, pfd, base, path)
            else:
                self._skip(path, f"unsupported tar entry type {m.type!r}")
        except FileExistsError as exc:
            raise InvalidInput(f"{self._what}: {path}: {exc.strerror}") from None
        except OSError as exc:
            if is_space_error(exc):
                raise space_error(
                    exc, self._safe.root, f"{self._what}: extracting {shown(path)}"
                ) from None
            if exc.errno == errno.ENAMETOOLONG:
                raise InvalidInput(
                    f"{self._what}: entry {shown(path)}: {exc.strerror} "
                    f"(its link target is {len(os.fsencode(m.linkname))} bytes)"
                    if m.issym()
                    else f"{self._what}: entry {shown(path)}: {exc.strerror}"
                ) from None
            raise LaminaError(
                f"{self._what}: extracting {path}: {exc.strerror or exc}",
                hint="check free space and permissions of the target root",
            ) from None

    # -- entry kinds -------------------------------------------------------------------------
    def _file(
        self, tar: tarfile.TarFile, m: tarfile.TarInfo, pfd: int, base: str, path: str
    ) -> None:
        self._replace(pfd, base, False)
        fd = os.open(base, _FILE_FLAGS, 0o600, dir_fd=pfd)
        try:
            src = cast(io.BufferedReader, tar.extractfile(m))
            view = memoryview(self._buf)
            while True:
                n = src.readinto(view)
                if not n:
                    break
                done = 0
                while done < n:
                    done += os.write(fd, view[done:n])
                self._stats.bytes += n
            if self._root:
                os.fchown(fd, m.uid, m.gid)
            os.fchmod(fd, self._mode(m, path))
            self._xattrs(fd, m, path)
            ns = _ns(m.mtime)
            os.utime(fd, ns=(ns, ns))
        finally:
            os.close(fd)

    def _dir(self, m: tarfile.TarInfo, pfd: int, parts: list[str]) -> None:
        base = parts[-1]
        if not self._replace(pfd, base, True):
            os.mkdir(base, 0o700, dir_fd=pfd)
        fd = os.open(base, _DIR_FLAGS, dir_fd=pfd)
        try:
            if self._root:
                os.fchown(fd, m.uid, m.gid)
            self._xattrs(fd, m, "/".join(parts))
        finally:
            os.close(fd)
        # Mode and mtime last: writing inside would change the mtime, and a read-only mode
        # would stop a non-root extractor writing the directory's content.
        self._dirs.append((parts, self._mode(m, "/".join(parts)), _ns(m.mtime)))

    def _hardlink(self, m: tarfile.TarInfo, parts: list[str]) -> None:
        path = "/".join(parts)
        tparts = clean_parts(m.linkname, self._what)
        if not tparts:
            raise UnsafeContent(f"{self._what}: hardlink {path} points at the root directory")
        try:
            tfd = self._safe.open_dir(tparts[:-1], create=False)
        except FileNotFoundError:
            raise InvalidInput(
                f"{self._what}: hardlink {path}: target {m.linkname!r} does not exist in the root"
            ) from None
        try:
            try:
                st = os.stat(tparts[-1], dir_fd=tfd, follow_symlinks=False)
            except FileNotFoundError:
                raise InvalidInput(
                    f"{self._what}: hardlink {path}: target {m.linkname!r} does not exist "
                    "in the root"
                ) from None
            if stat.S_ISDIR(st.st_mode):
                raise UnsafeContent(f"{self._what}: hardlink {path} points at a directory")
            pfd = self._safe.dir(parts[:-1], create=True)
            self._replace(pfd, parts[-1], False)
            os.link(tparts[-1], parts[-1], src_dir_fd=tfd, dst_dir_fd=pfd, follow_symlinks=False)
        finally:
            os.close(tfd)

    def _node(self, m: tarfile.TarInfo, pfd: int, base: str, path: str) -> None:
        if m.isfifo():
            self._replace(pfd, base, False)
            os.mkfifo(base, 0o600, dir_fd=pfd)
        elif not self._root:
            self._skip(path, "device node not created (not running as root)")
            return
        else:
            self._replace(pfd, base, False)
            kind = stat.S_IFCHR if m.ischr() else stat.S_IFBLK
            os.mknod(base, kind | 0o600, os.makedev(m.devmajor, m.devminor), dir_fd=pfd)
        self._owner_at(pfd, base, m)
        os.chmod(base, self._mode(m, path), dir_fd=pfd)  # just made: not a symlink
        ns = _ns(m.mtime)
        os.utime(base, ns=(ns, ns), dir_fd=pfd, follow_symlinks=False)

    # -- deletions ---------------------------------------------------------------------------
    def _whiteout(self, dirparts: list[str], name: str) -> None:
        path = "/".join([*dirparts, name])
        if name in ("", ".", "..") or "/" in name:
            self._skip(path, "malformed whiteout ignored")
            return
        if path in self._created:
            return  # a whiteout hides lower layers only
        try:
            pfd = self._safe.dir(dirparts, create=False)
        except (FileNotFoundError, InvalidInput):
            return  # nothing below to hide
        self._replace(pfd, name, False)

    def _opaque(self, dirparts: list[str]) -> None:
        fd = self._safe.open_dir(dirparts, create=True)
        try:
            self._clear_lower(fd, "/".join(dirparts))
        finally:
            os.close(fd)
        self._safe.invalidate()

    def _clear_lower(self, fd: int, prefix: str) -> None:
        """Remove what lower layers put under directory `fd` (at `prefix`), keeping what
        this layer created; one directory open at a time, however deep."""
        cur = os.dup(fd)
        frames = [(prefix, ident(os.fstat(cur)), os.listdir(cur))]
        try:
            while frames:
                rel, _, todo = frames[-1]
                if not todo:
                    frames.pop()
                    if frames:
                        cur = climb(cur, frames[-1][1], self._what)
                    continue
                name = todo.pop()
                path = f"{rel}/{name}" if rel else name
                st = os.stat(name, dir_fd=cur, follow_symlinks=False)
                if path not in self._created:
                    if stat.S_ISDIR(st.st_mode):
                        remove_tree_at(cur, name, where=path)
                    else:
                        os.unlink(name, dir_fd=cur)
                elif stat.S_ISDIR(st.st_mode):
                    sub = os.open(name, _DIR_FLAGS, dir_fd=cur)
                    os.close(cur)
                    cur = sub
                    frames.append((path, ident(st), os.listdir(cur)))
        finally:
            os.close(cur)

    def _replace(self, pfd: int, base: str, keep_dir: bool) -> bool:
        """Clear the slot `base` for a new entry; True if an existing dir was kept."""
        try:
            st = os.stat(base, dir_fd=pfd, follow_symlinks=False)
        except FileNotFoundError:
            return False
        if stat.S_ISDIR(st.st_mode):
            if keep_dir:
                return True
            remove_tree_at(pfd, base)
            self._safe.invalidate()
        else:
            os.unlink(base, dir_fd=pfd)
            if stat.S_ISLNK(st.st_mode):
                self._safe.invalidate()
        return False

    # -- metadata ----------------------------------------------------------------------------
    def _mode(self, m: tarfile.TarInfo, path: str) -> int:
        mode = m.mode & 0o7777
        if not self._root and mode & (stat.S_ISUID | stat.S_ISGID):
            self._skip(path, "setuid/setgid bits dropped (not running as root)")
            mode &= ~(stat.S_ISUID | stat.S_ISGID)
        return mode

    def _owner_at(self, pfd: int, base: str, m: tarfile.TarInfo) -> None:
        if self._root:
            os.chown(base, m.uid, m.gid, dir_fd=pfd, follow_symlinks=False)

    def _xattrs(self, fd: int, m: tarfile.TarInfo, path: str) -> None:
        for key, value in m.pax_headers.items():
            if not key.startswith(_XATTR_PREFIX):
                continue
            name = key[len(_XATTR_PREFIX) :]
            if not self._root and not name.startswith("user."):
                self._skip(path, f"xattr {name} not set (not running as root)")
                continue
            try:
                os.setxattr(fd, name, value.encode("utf-8", "surrogateescape"))
            except OSError as exc:
                self._skip(path, f"xattr {name} not set ({exc.strerror})")

    def finish(self) -> None:
        """Set directory modes and mtimes, deepest last-written first."""
        self._safe.invalidate()
        for parts, mode, ns in reversed(self._dirs):
            try:
                pfd = self._safe.dir(parts[:-1], create=False)
                fd = os.open(parts[-1], _DIR_FLAGS, dir_fd=pfd)
            except (OSError, InvalidInput):
                continue  # deleted or replaced later in the layer
            try:
                os.fchmod(fd, mode)
                os.utime(fd, ns=(ns, ns))
            finally:
                os.close(fd)


def _ns(mtime: float) -> int:
    return int(mtime * 1_000_000_000)
