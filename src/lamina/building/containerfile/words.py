"""Splitting an instruction's text the way BuildKit's parser does, keeping offsets.

Offsets index the logical line, so errors can point at the exact column of a word.
"""

from __future__ import annotations

import json
import re

Word = tuple[str, int]  # (text, offset in the logical line)

_BLANKS = "\t\v\f\r "  # what separates a keyword, FROM/EXPOSE words, COPY sources
# Go's unicode.IsSpace, which BuildKit splits flags and ENV/LABEL/ARG words on. Python's
# str.isspace() also counts the separators \x1c-\x1f: those are word characters here.
SPACE = "\t\n\v\f\r \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B)))
SPACE += "\u2028\u2029\u202f\u205f\u3000"
_NOT_BLANK = re.compile(f"[^{re.escape(_BLANKS)}]+")


class NotStringArray(ValueError):
    """A JSON array with something other than strings in it: an error, not a fallback."""


def is_space(ch: str) -> bool:
    """Whether `ch` (one character) is white space to Go's unicode.IsSpace."""
    return ch != "" and ch in SPACE


def skip_space(text: str, pos: int) -> int:
    while pos < len(text) and is_space(text[pos]):
        pos += 1
    return pos


def split_keyword(text: str, start: int = 0) -> tuple[Word, int]:
    """The keyword at `start` (blanks skipped) and the offset just after it."""
    pos = skip_space(text, start)
    end = pos
    while end < len(text) and text[end] not in _BLANKS:
        end += 1
    return (text[pos:end], pos), end


def extract_flags(text: str, pos: int) -> tuple[list[Word], int]:
    """Leading `--flag[=value]` words, unquoted; and where the arguments begin.

    A bare `--` ends the flags and is dropped. Inside a flag, quotes are removed and a
    backslash (always `\\`, whatever the escape directive) takes the next character.
    """
    flags: list[Word] = []
    while True:
        pos = skip_space(text, pos)
        if not text.startswith("--", pos):
            return flags, pos
        start = pos
        word: list[str] = []
        quote = ""
        while pos < len(text):
            ch = text[pos]
            if not quote and is_space(ch):
                break
            pos += 1
            if quote and ch == quote:
                quote = ""
            elif not quote and ch in "'\"":
                quote = ch
            elif ch == "\\":
                if pos < len(text):
                    word.append(text[pos])
                    pos += 1
            else:
                word.append(ch)
        flag = "".join(word)
        if flag == "--":
            return flags, pos
        flags.append((flag, start))


def blank_split(text: str, start: int, end: int | None = None) -> list[Word]:
    """Words separated by blanks, quotes not special (FROM, EXPOSE, VOLUME, COPY, ADD)."""
    stop = len(text) if end is None else end
    return [(m.group(), m.start()) for m in _NOT_BLANK.finditer(text, start, stop)]


def quoted_words(text: str, start: int, escape: str) -> list[Word]:
    """Words separated by blanks outside quotes; quotes and escapes are kept (ENV, LABEL, ARG)."""
    words: list[Word] = []
    pos = start
    n = len(text)
    while True:
        pos = skip_space(text, pos)
        if pos >= n:
            return words
        begin = pos
        word: list[str] = []
        quote = ""
        while pos < n:
            ch = text[pos]
            pos += 1
            if not quote and is_space(ch):
                break
            if ch == escape and quote != "'":
                if pos == n:  # an escape at the very end is dropped
                    break
                word.append(ch)
                ch = text[pos]
                pos += 1
            elif quote and ch == quote:
                quote = ""
            elif not quote and ch in "'\"":
                quote = ch
            word.append(ch)
        if word:
            words.append(("".join(word), begin))


def _no_constants(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


_DECODER = json.JSONDecoder(parse_constant=_no_constants)
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def json_array(text: str) -> tuple[str, ...] | None:
    """The strings of a JSON array at the start of `text`, or None when it is not one.

    Like Docker, text after the array is ignored, and an array holding anything but
    strings raises NotStringArray instead of falling back to the shell form.
    """
    text = text.lstrip()
    if not text.startswith("["):
        return None
    try:
        value, _ = _DECODER.raw_decode(text)
    except ValueError:
        return None
    if not isinstance(value, list):
        return None
    if not all(isinstance(v, str) for v in value):
        raise NotStringArray(
            "when using JSON array syntax, arrays must be comprised of strings only"
        )
    # Go's JSON decoder turns a lone surrogate (`"\\ud800"`) into U+FFFD; Python keeps it
    return tuple(_LONE_SURROGATE.sub("\ufffd", v) for v in value)
