"""Shell glob patterns of `${v#p}`, `${v%p}`, `${v/p/r}` as Python regular expressions.

`*` any string, `?` one character, `\\` quotes `*`, `?` or `\\`; `\\}` and `\\/` are the
literal characters (they had to be escaped inside `${…}`). Bracket expressions are not
supported (BuildKit does not support them either): `[` is literal.
"""

from __future__ import annotations

import re


class PatternError(ValueError):
    pass


def to_regex(pattern: str, *, greedy: bool = True) -> re.Pattern[str]:
    out: list[str] = []
    star = ".*" if greedy else ".*?"
    pos = 0
    while pos < len(pattern):
        ch = pattern[pos]
        pos += 1
        if ch == "*":
            out.append(star)
        elif ch == "?":
            out.append(".")
        elif ch == "\\":
            nxt = pattern[pos] if pos < len(pattern) else ""
            if nxt in ("}", "/"):
                continue
            if nxt not in ("*", "?", "\\"):
                raise PatternError(f"invalid escape '\\{nxt}'")
            out.append(re.escape(nxt))
            pos += 1
        else:
            out.append(re.escape(ch))
    return re.compile("".join(out), re.DOTALL)


def trim_prefix(value: str, pattern: str, *, longest: bool) -> str:
    """`${v#p}` (shortest match removed) and `${v##p}` (longest)."""
    regex = to_regex(pattern)
    ends = range(len(value), -1, -1) if longest else range(len(value) + 1)
    for end in ends:
        if regex.fullmatch(value, 0, end):
            return value[end:]
    return value


def trim_suffix(value: str, pattern: str, *, longest: bool) -> str:
    """`${v%p}` (shortest match removed) and `${v%%p}` (longest)."""
    regex = to_regex(pattern)
    starts = range(len(value) + 1) if longest else range(len(value), -1, -1)
    for start in starts:
        if regex.fullmatch(value, start):
            return value[:start]
    return value


def replace(value: str, pattern: str, replacement: str, *, every: bool) -> str:
    """`${v/p/r}` (first, longest match) and `${v//p/r}` (every match)."""
    regex = to_regex(pattern)
    return regex.sub(lambda _: replacement, value, count=0 if every else 1)
