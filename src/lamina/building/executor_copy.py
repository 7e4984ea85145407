"""COPY and ADD into a mounted container root, with Docker's path rules.

A directory source has its contents copied (never the directory itself); a file goes to
`dest/<name>` when `dest` ends in `/` or is an existing directory, else to `dest`; several
sources need a directory destination. The source's own path is followed if it is a
symlink; links below it are copied as links, and hard links within one step stay hard
links. Files from the context belong to root unless `--chown` says otherwise; files from a
stage or image keep their owners. Modes and mtimes are kept; `--chmod` overrides modes.
ADD extracts local tar archives (compression found from content) and downloads URLs.

BuildKit's newer flags: `--parents` keeps each source's path (from the context's root, or
from a `/./` pivot in the pattern) below a directory destination; `--exclude` patterns
(ignore-file syntax, several allowed) drop matched sources and entries below a directory
source, matched against paths relative to that source; `--link` is accepted and changes
nothing: every step already makes its own layer from the files it copies, so the result
is the same image as without it (BuildKit's independent-layer rebase has no equivalent to
gain here). Heredoc sources (`COPY <<EOF /path`) are written by the stage runner into a
temporary tree and copied from there like files.
"""

from __future__ import annotations

import hashlib
import lzma
import os
import posixpath
import stat
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from lamina.building.context import SourceTree
from lamina.building.ignore import IgnoreMatcher
from lamina.building.isolation.spec import resolve_in_root, resolve_user
from lamina.building.rootfs.snapshot import copy_meta
from lamina.building.rootfs.xattrs import copyable_xattrs
from lamina.content.layers import apply_layer
from lamina.errors import BuildError, InvalidInput


@dataclass(frozen=True, slots=True, kw_only=True)
class CopyOptions:
    owner: tuple[int, int] | None  # None: keep the source's owners
    mode: int | None
    extract: bool = False
    exclude: IgnoreMatcher | None = None  # COPY --exclude


def split_pivot(src: str) -> tuple[str, str]:
    """`--parents` source `a/./b/c` → ("a", "a/./b/c" cleaned); no pivot → ("", src)."""
    head, sep, _ = src.partition("/./")
    if not sep:
        return "", src
    pivot = posixpath.normpath(head.lstrip("/") or ".")
    return ("" if pivot == "." else pivot), src


def kept_path(rel: str, pivot: str) -> str:
    """The part of a matched source `rel` that --parents keeps below the destination."""
    if pivot and (rel == pivot or rel.startswith(pivot + "/")):
        return rel[len(pivot) :].lstrip("/") or "."
    return rel


def container_dest(dest: str, workdir: str) -> str:
    """COPY's destination made absolute against WORKDIR, keeping a trailing slash."""
    full = dest if dest.startswith("/") else posixpath.join(workdir or "/", dest)
    trailing = dest.endswith("/") or dest in (".", "./") or dest.endswith("/.")
    norm = posixpath.normpath(full)
    return norm.rstrip("/") + "/" if trailing and norm != "/" else norm


def is_archive(path: Path) -> bool:
    if not path.is_file():
        return False
    try:
        with tarfile.open(path, "r:*") as tar:
            tar.next()
        return True
    except (tarfile.TarError, OSError, EOFError, lzma.LZMAError):
        return _is_zstd_tar(path)


def _is_zstd_tar(path: Path) -> bool:
    with open(path, "rb") as f:
        if f.read(4) != b"\x28\xb5\x2f\xfd":
            return False
    return True


def copy_sources(
    tree: SourceTree,
    rels: Sequence[str],
    root: Path,
    dest: str,
    opts: CopyOptions,
    *,
    many: bool,
    kept: Mapping[str, str] | None = None,
) -> None:
    """Copy the (already matched) sources `rels` of `tree` to container path `dest`.
    With `kept` (--parents), source `rel` lands at `dest/kept[rel]`."""
    target = resolve_in_root(root, dest)
    into_dir = dest.endswith("/") or target.is_dir() or kept is not None
    if many and not into_dir:
        raise InvalidInput(
            "with more than one source file, the destination must be a directory ending in /"
        )
    dir_owner = opts.owner or (0, 0)
    for rel in rels:
        links: dict[tuple[int, int], Path] = {}  # hard links are kept within one source
        host = tree.host_path(rel)
        try:
            st = os.stat(host)
        except OSError as exc:
            raise InvalidInput(f"{rel}: {exc.strerror} in the {tree.name}") from None
        base = target
        if kept is not None and kept[rel] != ".":
            base = resolve_in_root(root, posixpath.join(dest, kept[rel]))
        if stat.S_ISDIR(st.st_mode):
            _make_dirs(root, base, dir_owner)
            copied = {"."}  # directories copied so far: their children need no check
            for e in tree.walk(rel, opts.exclude):
                if e.rel == ".":
                    continue
                out = base / e.rel
                parent = e.rel.rpartition("/")[0] or "."
                if parent not in copied and not out.parent.is_dir():
                    _make_dirs(root, out.parent, dir_owner)  # re-included below an ignored dir
                _copy_entry(e.path, e.st, out, opts, links)
                if stat.S_ISDIR(e.st.st_mode):
                    copied.add(e.rel)
            continue
        if opts.extract and is_archive(host):
            _make_dirs(root, target, dir_owner)
            _extract(host, target)
            continue
        if kept is None:
            base = target / posixpath.basename(rel) if into_dir else target
        _make_dirs(root, base.parent, dir_owner)
        _copy_entry(str(host), st, base, opts, links)


def _make_dirs(root: Path, path: Path, owner: tuple[int, int]) -> None:
    """Create the missing directories up to `path`, 0755 and owned by `owner` (as buildah
    and BuildKit create a destination's parents with the --chown owner)."""
    missing: list[Path] = []
    cur = path
    while not os.path.lexists(cur) and cur != root:
        missing.append(cur)
        cur = cur.parent
    for d in reversed(missing):
        d.mkdir(mode=0o755)
        os.chmod(d, 0o755)
        if owner != (0, 0):
            os.lchown(d, *owner)


def chown_owner(root: Path, spec: str) -> tuple[int, int]:
    """COPY --chown's `user[:group]` in the container at `root`. A user without a group
    takes the user's primary group from /etc/passwd, or, for a number not found there,
    the same number as the group (Docker's rule; resolve_user would give 0)."""
    uid, gid, _ = resolve_user(root, spec)
    name, sep, _ = spec.partition(":")
    if not sep and name.isdigit() and not _in_passwd(root, name):
        gid = uid
    return uid, gid


def _in_passwd(root: Path, number: str) -> bool:
    try:
        text = resolve_in_root(root, "/etc/passwd").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return any(line.split(":")[2:3] == [number] for line in text.splitlines())


_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def _copy_entry(
    src: str, st: os.stat_result, dst: Path, opts: CopyOptions, links: dict[tuple[int, int], Path]
) -> None:
    kind = stat.S_IFMT(st.st_mode)
    key = (st.st_dev, st.st_ino)
    if kind == stat.S_IFREG and not (st.st_nlink > 1 and key in links):
        # The common case, a new file, on descriptors: in a container root every path
        # lookup goes through overlayfs, which looks in each lower layer for a new name.
        try:
            fd = os.open(dst, _CREATE, 0o600)
        except FileExistsError:
            pass
        else:
            try:
                _write_file(src, fd, st, opts)
            finally:
                os.close(fd)
            if st.st_nlink > 1:
                links[key] = dst
            return
    if os.path.lexists(dst):
        if dst.is_dir() and not dst.is_symlink():
            if kind != stat.S_IFDIR:
                raise InvalidInput(f"cannot overwrite directory {dst.name} with a non-directory")
        else:
            dst.unlink()
    if kind == stat.S_IFREG and st.st_nlink > 1 and key in links:
        os.link(links[key], dst)
        return
    if kind == stat.S_IFREG:
        with open(src, "rb") as fi, open(dst, "wb") as fo:
            while chunk := fi.read(1 << 20):
                fo.write(chunk)
        if st.st_nlink > 1:
            links[key] = dst
    elif kind == stat.S_IFLNK:
        os.symlink(os.readlink(src), dst)
    elif kind == stat.S_IFDIR:
        if not dst.is_dir():
            dst.mkdir()
    elif kind in (stat.S_IFIFO, stat.S_IFCHR, stat.S_IFBLK):
        os.mknod(dst, st.st_mode, st.st_rdev)
    else:
        raise InvalidInput(f"{src}: a socket cannot be copied")
    copy_meta(src, str(dst), st)
    if opts.owner is not None:
        os.lchown(dst, *opts.owner)
    if opts.mode is not None and kind != stat.S_IFLNK:
        os.chmod(dst, opts.mode)
    elif kind != stat.S_IFLNK and opts.owner is not None:
        os.chmod(dst, stat.S_IMODE(st.st_mode))  # chown may have cleared set-id bits
    os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)


def _write_file(src: str, fd: int, st: os.stat_result, opts: CopyOptions) -> None:
    """Content and metadata of `src` into the new file `fd`, ending as the slow path of
    `_copy_entry` does: owner (--chown or the source's), xattrs (a --chown owner is set
    after them, clearing a file capability as chown does), mode, times."""
    with open(src, "rb", buffering=0) as fi:
        left = st.st_size
        offset = 0
        while left > 0:
            n = os.sendfile(fd, fi.fileno(), offset, left)
            if n == 0:
                break  # the source shrank: copy what there is, as the slow path does
            offset += n
            left -= n
        fi.seek(offset)  # sendfile with an offset leaves the file position alone
        while chunk := fi.read(1 << 20):  # and if it grew
            os.write(fd, chunk)
    if opts.owner is None:
        os.fchown(fd, st.st_uid, st.st_gid)
    for name, value in copyable_xattrs(src):
        try:
            os.setxattr(fd, name, value)
        except OSError:
            continue
    if opts.owner is not None:
        os.fchown(fd, *opts.owner)
    os.fchmod(fd, opts.mode if opts.mode is not None else stat.S_IMODE(st.st_mode))
    os.utime(fd, ns=(st.st_atime_ns, st.st_mtime_ns))


def _extract(archive: Path, target: Path) -> None:
    with open(archive, "rb") as raw:
        head = raw.read(6)
    opener = lzma.open if head.startswith(b"\xfd7zXZ\x00") else open
    with opener(archive, "rb") as f:
        apply_layer(f, target, max_ratio=None, what=f"archive {archive.name}")  # type: ignore[arg-type]


def fetch_url(url: str, into: Path, checksum: str | None, *, timeout: float = 30.0) -> Path:
    """Download `url` into the directory `into`; the file is named after the URL's last
    path part. BuildError when unreachable or when `checksum` (sha256:…) differs."""
    name = posixpath.basename(urllib.parse.urlparse(url).path) or "download"
    out = into / name
    h = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp, open(out, "wb") as f:
            while chunk := resp.read(1 << 20):
                h.update(chunk)
                f.write(chunk)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise BuildError(
            f"ADD {url}: cannot download it: {reason}",
            hint="the build host has no network access to it; copy the file into the context",
        ) from None
    if checksum is not None:
        algo, _, want = checksum.partition(":")
        if algo != "sha256" or h.hexdigest() != want:
            raise BuildError(
                f"ADD {url}: checksum {checksum} does not match sha256:{h.hexdigest()}"
            )
    os.chmod(out, 0o600)
    return out


def temp_download_dir(parent: Path) -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(dir=parent, prefix="add-")


def heredoc_name(src: str) -> str | None:
    """The delimiter a COPY source `<<EOF` / `<<-"EOF"` names, or None for a path."""
    if not src.startswith("<<"):
        return None
    return src[2:].lstrip("-").strip("'\"") or None


def write_heredocs(into: Path, docs: Sequence[tuple[str, str]], mtime: int) -> None:
    """Write each (name, content) as a 0644 file `into/name` (BuildKit's Mkfile mode)."""
    for name, content in docs:
        path = into / name
        path.write_bytes(content.encode("utf-8"))
        os.chmod(path, 0o644)
        os.utime(path, (mtime, mtime))
