"""`.containerignore` / `.dockerignore` files, with Docker's exact semantics.

Reading (moby/patternmatcher/ignorefile): lines end at `\n` (a `\r` before it is
dropped); a UTF-8 BOM on the first line is dropped; lines starting with `#` are comments;
lines are trimmed and blank ones skipped; a leading `!` marks an exception; each pattern
is cleaned like Go's `filepath.Clean` and a leading `/` dropped. A malformed pattern (one
Go's `filepath.Match` refuses: `[]a]`, `[-]`, `[x-]`, `[a-b-c]`, an open `[`, a trailing
`\\`) is an error naming the file and line, as Docker refuses it.
Matching (patternmatcher): patterns apply in order and the last one that matches decides;
a pattern also matches when it matches one of the path's parent directories; a pattern
without wildcards is compared literally; one starting with `**` and otherwise literal is
a plain suffix (`**.txt` matches `a.txt` and `d/b.txt`); `*` and `?` never cross `/`;
`**` matches any number of directories (also none); `[…]` character classes and `\\`
escapes work as in Go's `filepath.Match`.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lamina.building.containerfile.words import SPACE
from lamina.errors import InvalidInput

_BOM = "\ufeff"


class BadPattern(ValueError):
    """A pattern Go's `filepath.Match` refuses (`ErrBadPattern`)."""


def go_clean(path: str) -> str:
    """Go's `filepath.Clean` on a slash-separated path ("" → ".")."""
    if not path:
        return "."
    rooted = path.startswith("/")
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts and parts[-1] != "..":
                parts.pop()
            elif not rooted:
                parts.append("..")
            continue
        parts.append(part)
    out = "/".join(parts)
    if rooted:
        return "/" + out
    return out or "."


def pattern_lines(text: str) -> list[tuple[int, str]]:
    """(line number, pattern) of an ignore file's text, in order (exceptions keep their `!`)."""
    out: list[tuple[int, str]] = []
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for number, line in enumerate(lines, start=1):
        line = line.removesuffix("\r")
        if number == 1 and line.startswith(_BOM):
            line = line[len(_BOM) :]
        if line.startswith("#"):
            continue
        pattern = line.strip(SPACE)
        if not pattern:
            continue
        invert = pattern.startswith("!")
        if invert:
            pattern = pattern[1:].strip(SPACE)
        if pattern:
            pattern = go_clean(pattern)
            if len(pattern) > 1 and pattern.startswith("/"):
                pattern = pattern[1:]
        out.append((number, "!" + pattern if invert else pattern))
    return out


def read_patterns(text: str) -> list[str]:
    """The patterns of an ignore file's text, in order (exceptions keep their `!`)."""
    return [p for _, p in pattern_lines(text)]


def _class(pattern: str, i: int) -> tuple[str, int]:
    """The Go `filepath.Match` character class opening at `pattern[i]` ("[") as a Python
    regex class, and the index after it; BadPattern when it is malformed."""
    n = len(pattern)
    i += 1
    negated = i < n and pattern[i] == "^"
    if negated:
        i += 1
    ranges: list[str] = []

    def esc(i: int) -> tuple[str, int]:  # Go's getEsc
        if i >= n or pattern[i] in "-]":
            raise BadPattern("syntax error in pattern")
        if pattern[i] == "\\":
            i += 1
            if i >= n:
                raise BadPattern("syntax error in pattern")
        if i + 1 >= n:
            raise BadPattern("syntax error in pattern")
        return pattern[i], i + 1

    while True:
        if i < n and pattern[i] == "]" and ranges:
            i += 1
            break
        lo, i = esc(i)
        hi = lo
        if pattern[i] == "-":
            hi, i = esc(i + 1)
        ranges.append(re.escape(lo) if lo == hi else f"{re.escape(lo)}-{re.escape(hi)}")
    return ("[^" if negated else "[") + "".join(ranges) + "]", i


def compile_pattern(pattern: str) -> Callable[[str], bool]:
    """A cleaned pattern as patternmatcher's matcher: exact, prefix (`a/**`), suffix
    (`**x`) or regular expression; BadPattern for what `filepath.Match` refuses."""
    out = ["^"]
    kind = "exact"
    i, n = 0, len(pattern)
    start = True
    while i < n:
        ch = pattern[i]
        i += 1
        if ch == "*":
            if i < n and pattern[i] == "*":
                i += 1
                if i < n and pattern[i] == "/":
                    i += 1
                if i >= n:
                    if kind == "exact":
                        kind = "prefix"
                    else:
                        out.append(".*")
                        kind = "regex"
                else:
                    out.append("(.*/)?")
                    kind = "regex"
                if start:
                    kind = "suffix"
            else:
                out.append("[^/]*")
                kind = "regex"
        elif ch == "?":
            out.append("[^/]")
            kind = "regex"
        elif ch == "\\":
            if i >= n:
                raise BadPattern("syntax error in pattern: a trailing \\")
            out.append(re.escape(pattern[i]))
            i += 1
            kind = "regex"
        elif ch == "[":
            cls, i = _class(pattern, i - 1)
            out.append(cls)
            kind = "regex"
        else:
            out.append(re.escape(ch))
        start = False
    if kind == "exact":
        return lambda path: path == pattern
    if kind == "prefix":
        head = pattern[:-2]
        return lambda path: path.startswith(head)
    if kind == "suffix":
        tail = pattern[2:]
        return lambda path: path.endswith(tail) or (tail[:1] == "/" and path == tail[1:])
    regex = re.compile("".join(out) + "$", re.DOTALL)
    return lambda path: regex.match(path) is not None


@dataclass(frozen=True, slots=True)
class _Pattern:
    text: str
    exclusion: bool
    match: Callable[[str], bool]


class IgnoreMatcher:
    """Decides whether a context path (slash-separated, relative) is excluded."""

    def __init__(self, patterns: list[str]) -> None:
        self.patterns: list[_Pattern] = []
        for raw in patterns:
            p = raw.strip()
            if not p:
                continue
            exclusion = p.startswith("!")
            if exclusion:
                p = p[1:]
                if not p:
                    raise InvalidInput('illegal exclusion pattern: "!"')
            p = go_clean(p)
            try:
                match = compile_pattern(p)
            except BadPattern as exc:
                raise InvalidInput(
                    f"ignore pattern {raw.strip()!r} is malformed: {exc}",
                    hint="close each [ with ], give ranges as a-z, escape a literal \\",
                ) from None
            self.patterns.append(_Pattern(p, exclusion, match))
        self.has_exceptions = any(p.exclusion for p in self.patterns)
        # Per parent directory: whether each pattern matches it or one of its parents
        # (a walk asks about every file of a directory: its parents are matched once).
        self._parent_hits: dict[str, tuple[bool, ...]] = {}

    def __bool__(self) -> bool:
        return bool(self.patterns)

    def excluded(self, path: str) -> bool:
        """patternmatcher's MatchesOrParentMatches for `path` ("a/b/c")."""
        if path.startswith((".", "/")) or path.endswith("/") or "//" in path or "/." in path:
            path = go_clean(path)  # else it is clean already (no ".", "..", "" parts)
            if path.startswith("/"):
                return self._excluded_rooted(path)
        parent = path.rpartition("/")[0]
        parent_hits = self._hits_at_or_above(parent) if parent not in ("", ".") else None
        matched = False
        for i, pat in enumerate(self.patterns):
            if pat.exclusion != matched:
                continue
            if (parent_hits is not None and parent_hits[i]) or pat.match(path):
                matched = not pat.exclusion
        return matched

    def _excluded_rooted(self, path: str) -> bool:
        parent = posixpath.dirname(path)
        parent_dirs = parent.split("/")
        matched = False
        for pat in self.patterns:
            if pat.exclusion != matched:
                continue
            hit = pat.match(path) is not None
            if not hit:
                for i in range(len(parent_dirs)):
                    if pat.match("/".join(parent_dirs[: i + 1])):
                        hit = True
                        break
            if hit:
                matched = not pat.exclusion
        return matched

    def _hits_at_or_above(self, directory: str) -> tuple[bool, ...]:
        """For each pattern, whether it matches `directory` or one of its parents."""
        got = self._parent_hits.get(directory)
        if got is not None:
            return got
        up = directory.rpartition("/")[0]
        above = self._hits_at_or_above(up) if up else None
        got = tuple(
            (above is not None and above[i]) or pat.match(directory)
            for i, pat in enumerate(self.patterns)
        )
        if len(self._parent_hits) > 100_000:
            self._parent_hits.clear()
        self._parent_hits[directory] = got
        return got

    def may_include_below(self, directory: str) -> bool:
        """Whether something under an excluded `directory` could be re-included by an
        exception (so a walk must descend into it). Conservative: True if any exception
        pattern could match below it."""
        if not self.has_exceptions:
            return False
        prefix = go_clean(directory) + "/"
        for pat in self.patterns:
            if not pat.exclusion:
                continue
            literal = re.split(r"[*?\[\\]", pat.text, maxsplit=1)[0]
            if literal.startswith(prefix) or prefix.startswith(literal) or literal == "":
                return True
        return False


def find_ignore_file(context: Path, containerfile: Path | None) -> Path | None:
    """`<file>.containerignore` / `<file>.dockerignore` beside the Containerfile win; then
    `.containerignore`, then `.dockerignore` at the context's root."""
    candidates: list[Path] = []
    if containerfile is not None:
        for suffix in (".containerignore", ".dockerignore"):
            candidates.append(containerfile.with_name(containerfile.name + suffix))
    candidates += [context / ".containerignore", context / ".dockerignore"]
    for c in candidates:
        if c.is_file():
            return c
    return None


def load_matcher(
    context: Path, containerfile: Path | None, ignorefile: Path | None = None
) -> tuple[IgnoreMatcher, Path | None]:
    """The matcher for a build context (empty when there is no ignore file) and its file;
    `ignorefile` (--ignorefile) replaces the search and must exist."""
    found = ignorefile if ignorefile is not None else find_ignore_file(context, containerfile)
    if found is None:
        return IgnoreMatcher([]), None
    try:
        data = found.read_bytes()
    except OSError as exc:
        raise InvalidInput(
            f"--ignorefile {found}: {exc.strerror}", hint="name a readable ignore file"
        ) from None
    text = data.decode("utf-8", errors="surrogateescape")
    lines = pattern_lines(text)
    for number, pattern in lines:
        try:
            IgnoreMatcher([pattern])
        except InvalidInput as exc:
            raise InvalidInput(f"{found}:{number}: {exc}", hint=exc.hint) from None
    return IgnoreMatcher([p for _, p in lines]), found
