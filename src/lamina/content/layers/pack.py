"""Packing a directory (or a change list over it) into a layer, in one streaming pass.

Entries come in the order Go's filepath.Walk gives (depth first, names sorted bytewise), so
the same tree always gives the same tar. Hardlinked files (same st_dev, st_ino) become tar
hardlinks to the first path seen; sockets are skipped (tar cannot hold them). The walk is
`fstree.walk` and every entry is read relative to its directory's fd, so a tree of any depth
packs; a path no container root could hold (`fstree.path_problem`) is refused.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterable
from pathlib import Path

from lamina.content.blobstore import BlobStore
from lamina.content.compression import Compression
from lamina.content.fstree import path_problem, proc_path, shown, walk
from lamina.content.layers import tarheader as th
from lamina.content.layers.layer import Change, LayerBlob
from lamina.content.layers.tarstream import LayerSink
from lamina.content.layers.whiteouts import OPAQUE, WHITEOUT_PREFIX
from lamina.errors import InvalidInput

IdMap = Callable[[int], int]
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC

_FLUSH_AT = 1 << 20
XATTR_PREFIXES = ("user.", "security.capability", "trusted.")
XATTR_SKIP = ("user.overlay.", "trusted.overlay.")


def pack_dir(
    root: Path,
    store: BlobStore,
    *,
    compression: Compression | str = "gzip",
    level: int | None = None,
    source_date_epoch: int | None = None,
    changes: Iterable[Change] | None = None,
    uid_map: IdMap | None = None,
    gid_map: IdMap | None = None,
) -> LayerBlob:
    """Tar the tree under `root` (or only `changes`) into a layer blob in `store`.

    Kept per entry: type, permission and setuid/setgid/sticky bits, uid/gid (through
    `uid_map`/`gid_map` when given), mtime in whole seconds (clamped to `source_date_epoch`
    when given; atime/ctime are never written), link targets, device numbers, and xattrs
    `user.*`, `security.capability`, `trusted.*` (overlay's own are left out). The root
    directory itself is not an entry. Files must not change while being packed.
    """
    root = Path(root)
    if not root.is_dir():
        raise InvalidInput(f"{root}: not a directory; pack_dir needs a root directory")
    with LayerSink(store, compression, level) as sink:
        writer = _TarWriter(sink, root, source_date_epoch, uid_map, gid_map)
        try:
            if changes is None:
                writer.walk()
            else:
                writer.write_changes(changes)
        finally:
            writer.close_dir()
        writer.close()
        return sink.finish()


def _sort_key(path: str) -> list[bytes]:
    return [os.fsencode(p) for p in path.split("/")]


class _TarWriter:
    def __init__(
        self,
        sink: LayerSink,
        root: Path,
        epoch: int | None,
        uid_map: IdMap | None,
        gid_map: IdMap | None,
    ) -> None:
        self._sink = sink
        self._root = str(root)
        self._epoch = epoch
        self._uid_map = uid_map
        self._gid_map = gid_map
        self._buf = bytearray()
        self._chunk = bytearray(_FLUSH_AT)
        self._links: dict[tuple[int, int], str] = {}
        self._want_trusted = os.geteuid() == 0
        self._dir: tuple[str, int] | None = None  # write_changes' open parent: (path, fd)
        self._rootfd: int | None = None

    # -- output ---------------------------------------------------------------------------
    def _flush(self) -> None:
        if self._buf:
            self._sink.write(self._buf)
            self._buf = bytearray()

    def close(self) -> None:
        self._buf += th.end_of_archive()
        self._flush()

    # -- walking --------------------------------------------------------------------------
    def walk(self) -> None:
        """Write every entry under the root, depth first, sorted."""
        for e in walk(self._root):
            self.add(e.path, e.st, e.dir_fd, e.name)

    def _parent_fd(self, path: str) -> int:
        """The fd of the directory holding `path` (kept until the next parent is asked)."""
        parent = path.rpartition("/")[0]
        if self._dir is not None and self._dir[0] == parent:
            return self._dir[1]
        self.close_dir()
        fd = os.open(parent or ".", _DIR_FLAGS, dir_fd=self._root_fd())
        self._dir = (parent, fd)
        return fd

    def _root_fd(self) -> int:
        if self._rootfd is None:
            self._rootfd = os.open(self._root, _DIR_FLAGS)
        return self._rootfd

    def close_dir(self) -> None:
        if self._dir is not None:
            os.close(self._dir[1])
            self._dir = None
        if self._rootfd is not None:
            os.close(self._rootfd)
            self._rootfd = None

    def write_changes(self, changes: Iterable[Change]) -> None:
        items: list[tuple[str, str]] = []
        for ch in changes:
            path = ch.path.strip("/")
            if not path or any(p in ("", ".", "..") for p in path.split("/")):
                raise InvalidInput(f"change list: bad path {ch.path!r}; use a/b relative paths")
            if ch.kind in ("add", "modify"):
                items.append((path, "entry"))
            elif ch.kind == "delete":
                parent, _, name = path.rpartition("/")
                items.append((f"{parent}/{WHITEOUT_PREFIX}{name}".lstrip("/"), "marker"))
            elif ch.kind == "opaque":
                items.append((f"{path}/{OPAQUE}", "marker"))
            else:
                raise InvalidInput(f"change list: unknown kind {ch.kind!r} for {ch.path!r}")
        items.sort(key=lambda item: _sort_key(item[0]))
        for path, what in items:
            if what == "marker":
                mtime = self._epoch if self._epoch is not None else 0
                self._emit(th.TarEntry(name=path, typeflag=th.REGTYPE, mode=0, mtime=mtime))
                continue
            self._check(path)
            name = path.rpartition("/")[2]
            try:
                dir_fd = self._parent_fd(path)
                st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            except FileNotFoundError:
                raise InvalidInput(
                    f"change list: {path} is listed as added/modified but not in {self._root}"
                ) from None
            self.add(path, st, dir_fd, name)

    # -- entries --------------------------------------------------------------------------
    def _check(self, path: str) -> None:
        problem = path_problem(path)
        if problem is not None:
            raise InvalidInput(
                f"{self._root}: {shown(path)} {problem}; a layer cannot hold it",
                hint="no container root can hold such a path (podman refuses it too): shorten it",
            )

    def add(self, path: str, st: os.stat_result, dir_fd: int, name: str) -> None:
        """Write the entry `name` of directory `dir_fd`, at `path` in the layer."""
        self._check(path)
        mode = st.st_mode
        mtime = int(st.st_mtime)
        if self._epoch is not None and mtime > self._epoch:
            mtime = self._epoch
        uid = self._uid_map(st.st_uid) if self._uid_map else st.st_uid
        gid = self._gid_map(st.st_gid) if self._gid_map else st.st_gid
        entry = th.TarEntry(
            name=path, typeflag=th.REGTYPE, mode=mode & 0o7777, uid=uid, gid=gid, mtime=mtime
        )
        if stat.S_ISREG(mode):
            key = (st.st_dev, st.st_ino)
            if st.st_nlink > 1:
                first = self._links.get(key)
                if first is not None:
                    entry.typeflag, entry.linkname = th.LNKTYPE, first
                    entry.xattrs = self._xattrs(proc_path(dir_fd, name))
                    self._emit(entry)
                    return
                self._links[key] = path
            entry.size = st.st_size
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
            try:
                entry.xattrs = self._xattrs(fd)
                self._emit(entry)
                self._copy_file(fd, path, st.st_size)
            finally:
                os.close(fd)
            return
        if stat.S_ISDIR(mode):
            entry.typeflag, entry.name = th.DIRTYPE, path + "/"
        elif stat.S_ISLNK(mode):
            entry.typeflag, entry.linkname = th.SYMTYPE, os.readlink(name, dir_fd=dir_fd)
        elif stat.S_ISFIFO(mode):
            entry.typeflag = th.FIFOTYPE
        elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
            entry.typeflag = th.CHRTYPE if stat.S_ISCHR(mode) else th.BLKTYPE
            entry.devmajor, entry.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
        else:
            return  # sockets and anything else tar cannot represent
        entry.xattrs = self._xattrs(proc_path(dir_fd, name))
        self._emit(entry)

    def _emit(self, entry: th.TarEntry) -> None:
        self._buf += th.encode_header(entry)
        if len(self._buf) >= _FLUSH_AT:
            self._flush()

    def _xattrs(self, at: str | int) -> dict[str, bytes]:
        """The xattrs a layer keeps of `at` (an open fd, or a path not to follow)."""
        nofollow = not isinstance(at, int)
        try:
            names = os.listxattr(at, follow_symlinks=not nofollow) if nofollow else os.listxattr(at)
        except OSError:
            return {}
        out: dict[str, bytes] = {}
        for name in names:
            if not name.startswith(XATTR_PREFIXES) or name.startswith(XATTR_SKIP):
                continue
            if name.startswith("trusted.") and not self._want_trusted:
                continue
            try:
                out[name] = (
                    os.getxattr(at, name, follow_symlinks=False)
                    if nofollow
                    else os.getxattr(at, name)
                )
            except OSError:
                continue
        return out

    def _copy_file(self, fd: int, path: str, size: int) -> None:
        """Write `size` bytes of the open file `fd` (the caller closes it) and the padding."""
        full = os.path.join(self._root, path)  # for messages
        if size < _FLUSH_AT:
            data = os.read(fd, size) if size else b""
            while len(data) < size:
                more = os.read(fd, size - len(data))
                if not more:
                    break
                data += more
            self._check_size(full, len(data), size)
            self._buf += data
            self._buf += th.padding(size)
            if len(self._buf) >= _FLUSH_AT:
                self._flush()
            return
        self._flush()
        view = memoryview(self._chunk)
        left = size
        with open(fd, "rb", buffering=0, closefd=False) as f:
            while left:
                n = f.readinto(view[: min(left, _FLUSH_AT)])
                if not n:
                    break
                self._sink.write(view[:n])
                left -= n
        self._check_size(full, size - left, size)
        self._buf += th.padding(size)

    @staticmethod
    def _check_size(full: str, got: int, want: int) -> None:
        if got != want:
            raise InvalidInput(
                f"{full} shrank from {want} to {got} bytes while being packed; "
                "do not change a tree while packing it"
            )
