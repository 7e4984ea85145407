"""Finding here-document markers (`<<EOF`, `<<-EOF`, `<<"EOF"`, `3<<EOF`, `<< EOF`) in a line.

A marker is a whole shell word of the form `[fd]<<[-]NAME`; blanks right after `<<` are
part of the word (BuildKit since 0.22: `<< EOF` is a marker, `<<- EOF` is not); a quoted
NAME (any part of it) turns expansion of the body off. Reading the bodies is the lexer's
job; `whole_command` tells whether a RUN's command is one marker and nothing else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lamina.building.containerfile.words import Word, is_space

_MARKER = re.compile(r"(\d*)<<(-?)[ \t]*([^<]*)")

HEREDOC_KEYWORDS = frozenset({"RUN", "COPY", "ADD"})


@dataclass(frozen=True, slots=True)
class Marker:
    name: str
    chomp: bool
    expand: bool
    fd: int | None
    offset: int  # of the marker word in the logical line


def shell_words(text: str, start: int = 0) -> list[Word] | None:
    """Words split at blanks outside quotes, quotes and backslash escapes kept raw.

    None when a quote is left open (then the line has no heredocs, as in BuildKit).
    """
    words: list[Word] = []
    pos, n = start, len(text)
    while pos < n:
        if is_space(text[pos]):
            pos += 1
            continue
        begin = pos
        quote = ""
        while pos < n and (quote or not is_space(text[pos])):
            ch = text[pos]
            if ch == "\\" and quote != "'":
                pos += 1
            elif not quote and text.startswith("<<", pos):
                pos += 2
                while pos < n and text[pos] in " \t":  # `<< EOF` is one word
                    pos += 1
                continue
            elif quote and ch == quote:
                quote = ""
            elif not quote and ch in "'\"":
                quote = ch
            pos += 1
        if quote:
            return None
        words.append((text[begin:pos], begin))
    return words


def _unquote(word: str) -> tuple[str, bool]:
    """The word without its quotes and escapes; True when some part was quoted."""
    out: list[str] = []
    quoted = False
    quote = ""
    pos = 0
    while pos < len(word):
        ch = word[pos]
        pos += 1
        if ch == "\\" and quote != "'" and pos < len(word):
            out.append(word[pos])
            pos += 1
        elif quote and ch == quote:
            quote = ""
        elif not quote and ch in "'\"":
            quote = ch
            quoted = True
        else:
            out.append(ch)
    return "".join(out), quoted


def find_markers(text: str, start: int = 0) -> list[Marker]:
    """The heredoc markers in `text[start:]`, in order."""
    markers: list[Marker] = []
    for word, offset in shell_words(text, start) or []:
        match = _MARKER.fullmatch(word)
        if match is None or not match.group(3):
            continue
        name, quoted = _unquote(match.group(3))
        if not name:
            continue
        fd = int(match.group(1)) if match.group(1) else None
        markers.append(
            Marker(name=name, chomp=match.group(2) == "-", expand=not quoted, fd=fd, offset=offset)
        )
    return markers


def whole_command(command: str) -> bool:
    """Whether a shell-form RUN's command is a single heredoc marker (`<<EOF`, `<< "EOF"`),
    which BuildKit runs as a script instead of handing the line to the shell."""
    match = _MARKER.fullmatch(command.strip())
    if match is None or not match.group(3):
        return False
    words = shell_words(match.group(3))
    return words is not None and len(words) == 1


def chomp(content: str) -> str:
    """Strip the leading tabs of every line (`<<-`)."""
    return re.sub(r"(?m)^\t+", "", content)
