"""The build context and other source trees COPY/ADD read from.

The context is never copied whole: a `SourceTree` resolves COPY's source patterns against
a directory (the context, with its ignore file applied, or a stage's or image's mounted
root), walks only what is asked for, and hashes entries (path, type, mode, owner, xattrs,
bytes, link target — never mtime) for the cache key. Hashes of unchanged files (same
inode, size, mtime and ctime) are memoised, so a rebuild does not re-read them.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import re
import stat
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from lamina.building.ignore import IgnoreMatcher, load_matcher
from lamina.building.isolation.spec import resolve_in_root
from lamina.building.rootfs.xattrs import copyable_xattrs
from lamina.errors import InvalidInput, NotFound

DEFAULT_FILES = ("Containerfile", "Dockerfile")
_WILD = re.compile(r"[*?\[]")


@dataclass(frozen=True, slots=True, kw_only=True)
class Entry:
    """One file under a source: `rel` is relative to the source tree's root."""

    rel: str
    path: str
    st: os.stat_result


def find_containerfile(context: Path, file: str | None) -> tuple[str, Path | None, str]:
    """(text, path or None for stdin, display name) of the Containerfile: `file` ("-" for
    stdin; relative paths are relative to the working directory), else `Containerfile`
    then `Dockerfile` in the context."""
    if file == "-":
        return sys.stdin.read(), None, "<stdin>"
    if file is not None:
        path = Path(file)
        if not path.is_file():
            raise NotFound(f"the Containerfile {file} does not exist")
        return path.read_text(encoding="utf-8"), path, file
    for name in DEFAULT_FILES:
        if (context / name).is_file():
            return (context / name).read_text(encoding="utf-8"), context / name, name
    raise NotFound(
        f"no Containerfile or Dockerfile in {context}",
        hint="name one with -f FILE",
    )


def _component_regex(pattern: str) -> re.Pattern[str]:
    out: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        i += 1
        if ch == "*":
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "[":
            end = pattern.find("]", i + 1)
            if end < 0:
                raise InvalidInput(f"source pattern {pattern!r}: unclosed [")
            body = pattern[i:end]
            if body.startswith("^") or body.startswith("!"):
                body = "^" + body[1:]
            out.append("[" + body.replace("\\", "\\\\") + "]")
            i = end + 1
        elif ch == "\\" and i < len(pattern):
            out.append(re.escape(pattern[i]))
            i += 1
        else:
            out.append(re.escape(ch))
    return re.compile("".join(out), re.DOTALL)


@dataclass(kw_only=True)
class SourceTree:
    """A directory COPY/ADD read from; `matcher` applies to the build context only."""

    root: Path
    matcher: IgnoreMatcher = field(default_factory=lambda: IgnoreMatcher([]))
    name: str = "context"
    memo: dict[str, str] = field(default_factory=dict)
    # Walks already made, by (source, --exclude): a COPY walks its sources once for the
    # cache key and copies from the same listing (a 50,000-file context is listed once).
    walks: dict[tuple[str, tuple[tuple[str, bool], ...]], list[Entry]] = field(default_factory=dict)

    @classmethod
    def context(
        cls, root: Path, containerfile: Path | None, ignorefile: Path | None = None
    ) -> SourceTree:
        if not root.is_dir():
            raise NotFound(f"the build context {root} is not a directory")
        matcher, _ = load_matcher(root, containerfile, ignorefile)
        return cls(root=root.resolve(), matcher=matcher)

    def excluded(self, rel: str) -> bool:
        return bool(self.matcher) and rel not in ("", ".") and self.matcher.excluded(rel)

    def clean(self, src: str) -> str:
        """A source as a clean path relative to the root; InvalidInput if it leaves the
        context (a stage's or image's tree clamps `..` at its root, as `/` does)."""
        rel = posixpath.normpath(src.lstrip("/") or ".")
        if rel == ".." or rel.startswith("../"):
            if self.name == "context":
                raise InvalidInput(f"COPY source {src!r} is outside the build context")
            rel = posixpath.normpath("/" + rel).lstrip("/") or "."
        return rel

    def matches(self, src: str) -> list[str]:
        """The relative paths a source names (wildcards expanded, sorted); NotFound if none."""
        rel = self.clean(src)
        if not _WILD.search(rel):
            full = self._host(rel)
            if rel != "." and (not os.path.lexists(full) or self.excluded(rel)):
                raise NotFound(f"{src}: no such file or directory in the {self.name}")
            return [rel]
        found = ["."]
        for part in rel.split("/"):
            nxt: list[str] = []
            if not _WILD.search(part):
                for base in found:
                    cand = part if base == "." else f"{base}/{part}"
                    if os.path.lexists(self._host(cand)):
                        nxt.append(cand)
            else:
                rx = _component_regex(part)
                for base in found:
                    d = self._host(base)
                    if not d.is_dir():
                        continue
                    for name in sorted(os.listdir(d)):
                        if rx.fullmatch(name):
                            nxt.append(name if base == "." else f"{base}/{name}")
            found = nxt
        found = [f for f in found if not self.excluded(f)]
        if not found:
            raise NotFound(f"{src}: no files in the {self.name} match")
        return found

    def _host(self, rel: str) -> Path:
        if rel in ("", "."):
            return self.root
        return resolve_in_root(self.root, rel)

    def host_path(self, rel: str) -> Path:
        """Where `rel` is on the host, symlinks in its parents resolved inside the root;
        the last component itself is followed too (COPY copies what a link names)."""
        return self._host(rel)

    def walk(self, rel: str, exclude: IgnoreMatcher | None = None) -> Iterator[Entry]:
        """`rel` and, for a directory, everything below it that is not ignored, parents
        before children, names sorted. Paths are relative to `rel`'s own directory;
        `exclude` (COPY --exclude) matches those relative paths."""
        key = (rel, tuple((p.text, p.exclusion) for p in exclude.patterns) if exclude else ())
        done = self.walks.get(key)
        if done is None:
            done = list(self._walk(rel, exclude))
            self.walks[key] = done
        return iter(done)

    def _walk(self, rel: str, exclude: IgnoreMatcher | None) -> Iterator[Entry]:
        top = self.host_path(rel)
        st = os.lstat(top)
        yield Entry(rel=".", path=str(top), st=st)
        if stat.S_ISDIR(st.st_mode):
            extra = exclude if exclude else None
            yield from self._below(str(top), "" if rel == "." else rel, "", extra)

    def _below(
        self, host: str, ctx_rel: str, out_rel: str, extra: IgnoreMatcher | None = None
    ) -> Iterator[Entry]:
        # A stack, not recursion: a context directory may be thousands of levels deep.
        stack = [(host, ctx_rel, out_rel, _listing(host))]
        while stack:
            host, ctx_rel, out_rel, todo = stack[-1]
            if not todo:
                stack.pop()
                continue
            entry = todo.pop()
            name = entry.name
            path = f"{host}/{name}"
            crel = f"{ctx_rel}/{name}" if ctx_rel else name
            orel = f"{out_rel}/{name}" if out_rel else name
            # Ignored entries are never stat'ed: the directory entry's type is enough.
            if self.excluded(crel):
                if self.matcher.may_include_below(crel) and entry.is_dir(follow_symlinks=False):
                    stack.append((path, crel, orel, _listing(path)))
                continue
            if extra is not None and extra.excluded(orel):
                if extra.may_include_below(orel) and entry.is_dir(follow_symlinks=False):
                    stack.append((path, crel, orel, _listing(path)))
                continue
            st = os.lstat(path)
            yield Entry(rel=orel, path=path, st=st)
            if stat.S_ISDIR(st.st_mode):
                stack.append((path, crel, orel, _listing(path)))

    def digest(self, rels: list[str], exclude: IgnoreMatcher | None = None) -> str:
        """sha256 over every entry of `rels`: path, type, mode, uid, gid, xattrs, size,
        content and link target (mtime excluded)."""
        h = hashlib.sha256()
        for rel in rels:
            h.update(f"\0src {rel}\0".encode())
            for e in self.walk(rel, exclude):
                h.update(self.entry_digest(e).encode())
        return h.hexdigest()

    def entry_digest(self, e: Entry) -> str:
        st = e.st
        kind, mode = stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode)
        head = f"{e.rel}\0{kind:o}\0{mode:o}\0{st.st_uid}\0{st.st_gid}"
        # What a copy keeps (building.rootfs.xattrs), so the key covers what lands in the layer.
        xattrs = "".join(f"{n}={val.hex()};" for n, val in sorted(copyable_xattrs(e.path)))
        if stat.S_ISLNK(st.st_mode):
            body = "link:" + os.readlink(e.path)
        elif stat.S_ISREG(st.st_mode):
            body = "file:" + self._file_hash(e.path, st)
        else:
            body = (
                f"dev:{st.st_rdev}" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) else ""
            )
        return f"{head}\0{xattrs}\0{body}\n"

    def _file_hash(self, path: str, st: os.stat_result) -> str:
        key = f"{path}:{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}"
        got = self.memo.get(key)
        if got is not None:
            return got
        h = hashlib.sha256()
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
        self.memo[key] = h.hexdigest()
        return self.memo[key]


def _listing(host: str) -> list[os.DirEntry[str]]:
    """The entries of directory `host`, sorted by name, last first (popped from the end)."""
    try:
        with os.scandir(host) as it:
            return sorted(it, key=lambda e: e.name, reverse=True)
    except OSError as exc:
        raise InvalidInput(f"reading {host}: {exc.strerror}") from None
