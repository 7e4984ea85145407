"""Physical lines → logical lines: parser directives, comments, line continuations.

The rules are BuildKit's: a directive is recognised only before any other line; a line
whose first non-blank character is `#` is a comment, also inside a continuation, where it
is dropped; blank lines inside a continuation are skipped; the escape character at the end
of a line (trailing blanks allowed) continues it, unless it is itself escaped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from lamina.building.containerfile.errors import fail
from lamina.building.containerfile.nodes import Comment, Directive
from lamina.errors import SourceSpan

KNOWN_DIRECTIVES = frozenset({"syntax", "escape", "check"})
_DIRECTIVE = re.compile(r"#[ \t\f\r]*([a-zA-Z][a-zA-Z0-9]*)[ \t\f\r]*=[ \t\f\r]*(.+?)[ \t\f\r]*")
_BOM = "\ufeff"


class Source:
    """The text split into lines as BuildKit's scanner does (on `\\n` only)."""

    def __init__(self, text: str, file: str) -> None:
        self.file = file
        if text.startswith(_BOM):
            text = text[1:]
        parts = text.split("\n")
        # `raw` keeps each line's terminator, as heredoc bodies need it
        self.raw = [p + "\n" for p in parts[:-1]]
        if parts[-1]:
            self.raw.append(parts[-1])
        self.lines = [r.rstrip("\r\n") for r in self.raw]

    def text_of(self, line: int) -> str:
        return self.lines[line - 1] if 1 <= line <= len(self.lines) else ""

    def span(
        self,
        line: int,
        column: int = 1,
        end_line: int | None = None,
        end_column: int | None = None,
    ) -> SourceSpan:
        last = end_line if end_line is not None else line
        if end_column is None:
            end_column = len(self.text_of(last)) + 1
        return SourceSpan(self.file, line, column, last, end_column, self.text_of(line))

    def raw_text(self, first: int, last: int) -> str:
        return "".join(self.raw[first - 1 : last])


@dataclass(frozen=True, slots=True)
class Segment:
    """Text from `offset` on in a logical line starts at (line, column) in the file."""

    offset: int
    line: int
    column: int


@dataclass(frozen=True, slots=True, kw_only=True)
class LogicalLine:
    """One instruction's text with continuations joined, and a map back to the file."""

    text: str
    start_line: int
    end_line: int
    segments: tuple[Segment, ...]

    def locate(self, offset: int) -> tuple[int, int]:
        """(line, column) in the file of `text[offset]`."""
        seg = self.segments[0]
        for s in self.segments:
            if s.offset <= offset:
                seg = s
        return seg.line, seg.column + offset - seg.offset


def trim_continuation(line: str, escape: str) -> tuple[str, bool]:
    """Remove a trailing continuation escape; True when there was one."""
    body = line.rstrip(" \t")
    if body.endswith(escape) and (len(body) == 1 or body[-2] != escape):
        return body[:-1], True
    return line, False


@dataclass
class Lexer:
    """Yields logical lines; the parser asks it to read heredoc bodies in between."""

    source: Source
    escape: str = "\\"
    directives: list[Directive] = field(default_factory=list)
    comments: list[Comment] = field(default_factory=list)
    pending: list[Comment] = field(default_factory=list)  # top-level, not yet in the body
    pos: int = 0  # index of the next physical line
    _directives_done: bool = False

    def _directive(self, stripped: str, line: int) -> bool:
        """Record `stripped` if it is a parser directive; True when it was one."""
        if self._directives_done:
            return False
        match = _DIRECTIVE.fullmatch(stripped)
        if match is None or match.group(1).lower() not in KNOWN_DIRECTIVES:
            self._directives_done = True
            return False
        name, value = match.group(1).lower(), match.group(2)
        column = len(self.source.text_of(line)) - len(stripped) + 1
        if any(d.name == name for d in self.directives):
            fail(
                self.source.span(line, column),
                f"only one {name} parser directive can be used",
                hint="remove the repeated directive",
            )
        if name == "escape" and value not in ("\\", "`"):
            value_col = self.source.text_of(line).rindex(value) + 1
            fail(
                self.source.span(line, value_col),
                f"invalid escape token '{value}' does not match ` or \\",
                hint="use `# escape=\\` or `# escape=``",
            )
        if name == "escape":
            self.escape = value
        self.directives.append(Directive(name=name, value=value, span=self.source.span(line)))
        return True

    def _comment(self, line: int, stripped: str, *, inside: bool) -> None:
        column = len(self.source.text_of(line)) - len(stripped) + 1
        comment = Comment(
            text=stripped[1:].strip(), span=self.source.span(line, column), in_continuation=inside
        )
        self.comments.append(comment)
        if not inside:
            self.pending.append(comment)

    def next_line(self) -> LogicalLine | None:
        """The next instruction's logical line, or None at the end of the file."""
        lines = self.source.lines
        while self.pos < len(lines):
            number = self.pos + 1
            stripped = lines[self.pos].lstrip()
            self.pos += 1
            if self._directive(stripped, number):
                continue
            if stripped.startswith("#"):
                self._comment(number, stripped, inside=False)
                continue
            text, more = trim_continuation(stripped, self.escape)
            if not more and not text:
                continue
            column = len(lines[number - 1]) - len(stripped) + 1
            segments = [Segment(0, number, column)]
            end = number
            while more and self.pos < len(lines):
                number = self.pos + 1
                line = lines[self.pos]
                self.pos += 1
                end = number
                inner = line.lstrip()
                if inner.startswith("#"):
                    self._comment(number, inner, inside=True)
                    continue
                if not inner:
                    continue
                piece, more = trim_continuation(line, self.escape)
                segments.append(Segment(len(text), number, 1))
                text += piece
            return LogicalLine(
                text=text, start_line=segments[0].line, end_line=end, segments=tuple(segments)
            )
        return None

    def read_heredoc(self, name: str, chomp: bool) -> tuple[str, int] | None:
        """Consume a heredoc body up to its terminator: (content, terminator line).

        None when the file ends first. Content keeps the lines' own terminators.
        """
        content: list[str] = []
        while self.pos < len(self.source.lines):
            line = self.source.lines[self.pos]
            self.pos += 1
            candidate = line.lstrip("\t") if chomp else line
            if candidate == name:
                return "".join(content), self.pos
            content.append(self.source.raw[self.pos - 1])
        return None
