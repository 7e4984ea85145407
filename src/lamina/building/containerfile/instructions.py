"""What every instruction builder shares, and the builders of the word-list instructions:
FROM, ARG, ENV, LABEL, EXPOSE, VOLUME, USER, WORKDIR, STOPSIGNAL, MAINTAINER."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, NoReturn

from lamina.building.containerfile import nodes
from lamina.building.containerfile.errors import fail
from lamina.building.containerfile.flags import FlagValues
from lamina.building.containerfile.heredocs import chomp, find_markers
from lamina.building.containerfile.lexer import Lexer, LogicalLine, Source
from lamina.building.containerfile.words import (
    SPACE,
    NotStringArray,
    Word,
    blank_split,
    json_array,
    quoted_words,
)
from lamina.errors import SourceSpan

_STAGE_NAME = re.compile(r"[a-z][a-z0-9\-_.]*")
_BLANK_RUN = re.compile(r"[\t\v\f\r ]+")


@dataclass(frozen=True, slots=True, kw_only=True)
class Common:
    """One instruction being built: its keyword, where its arguments start, its flags."""

    keyword: str
    line: LogicalLine
    start: int  # offset of the keyword in the logical line
    args_at: int  # offset of the arguments (after the flags)
    flags: FlagValues
    lexer: Lexer

    @property
    def source(self) -> Source:
        return self.lexer.source

    @property
    def text(self) -> str:
        return self.line.text

    @property
    def rest(self) -> str:
        """The arguments: the line after the keyword and flags, trimmed."""
        return self.line.text[self.args_at :].strip(SPACE)

    def span_at(self, offset: int, length: int | None = None) -> SourceSpan:
        line, column = self.line.locate(offset)
        end = None if length is None else column + length
        return self.source.span(line, column, line, end)

    def fail_at(self, offset: int, message: str, *, hint: str | None = None) -> NoReturn:
        fail(self.span_at(offset), message, hint=hint)

    def fail_here(self, message: str, *, hint: str | None = None) -> NoReturn:
        self.fail_at(self.start, message, hint=hint)

    def json_or_none(self) -> tuple[str, ...] | None:
        try:
            return json_array(self.rest)
        except NotStringArray as err:
            self.fail_at(self.args_at, str(err), hint='write ["executable", "arg"]')

    def heredocs(self) -> tuple[nodes.Heredoc, ...]:
        """Read the bodies of the heredocs this line opens (the lexer is just past it)."""
        found: list[nodes.Heredoc] = []
        for marker in find_markers(self.text, self.start):
            body = self.lexer.read_heredoc(marker.name, marker.chomp)
            line, column = self.line.locate(marker.offset)
            if body is None:
                fail(
                    self.source.span(line, column),
                    f"unterminated heredoc {marker.name}",
                    hint=f"end it with a line holding only {marker.name}",
                )
            content, end = body
            found.append(
                nodes.Heredoc(
                    name=marker.name,
                    content=chomp(content) if marker.chomp else content,
                    expand=marker.expand,
                    chomp=marker.chomp,
                    fd=marker.fd,
                    span=self.source.span(line, column, end),
                )
            )
        return tuple(found)

    def base(
        self,
        args: tuple[str, ...],
        *,
        json: bool = False,
        heredocs: tuple[nodes.Heredoc, ...] = (),
    ) -> dict[str, Any]:
        """The fields every Instruction has."""
        first, column = self.line.locate(self.start)
        if self.start == 0:  # begins where the logical line does, even on a lone `\` line
            first, column = self.line.start_line, self.line.segments[0].column
        last = max([self.line.end_line, *(h.span.end_line or 0 for h in heredocs)])
        return {
            "keyword": self.keyword,
            "args": args,
            "flags": self.flags.flags,
            "json": json,
            "original": self.text[self.start :],
            "raw": self.source.raw_text(self.line.start_line, last).rstrip("\r\n"),
            "span": self.source.span(first, column, last),
        }


def build_from(c: Common) -> nodes.From:
    words = blank_split(c.text, c.args_at)
    if not words:
        c.fail_here("FROM requires an image", hint="write FROM IMAGE [AS NAME]")
    stage: str | None = None
    if len(words) == 3 and words[1][0].lower() == "as":
        name, at = words[2]
        stage = name.lower()
        if not _STAGE_NAME.fullmatch(stage):
            c.fail_at(
                at,
                f'invalid name for build stage: "{name}", '
                "name can't start with a number or contain symbols",
                hint="use letters, digits, '-', '_' and '.', starting with a letter",
            )
    elif len(words) != 1:
        as_only = len(words) == 2 and words[1][0].lower() == "as"
        hint = "name the stage after AS" if as_only else "write FROM IMAGE [AS NAME]"
        c.fail_at(words[1][1], "FROM requires either one or three arguments", hint=hint)
    return nodes.From(
        **c.base(tuple(w for w, _ in words)),
        image=words[0][0],
        stage_name=stage,
        platform=c.flags.string("platform"),
    )


def _need_words(c: Common, words: list[Word]) -> None:
    if not words:
        c.fail_here(f"{c.keyword} requires at least one argument")


def build_arg(c: Common) -> nodes.Arg:
    words = quoted_words(c.text, c.args_at, c.lexer.escape)
    _need_words(c, words)
    decls: list[nodes.ArgDecl] = []
    for word, at in words:
        name, eq, value = word.partition("=")
        if not name:
            c.fail_at(at, "ARG names can not be blank", hint="write ARG name[=default]")
        decls.append(nodes.ArgDecl(name=name, default=value if eq else None))
    return nodes.Arg(**c.base(tuple(w for w, _ in words)), decls=tuple(decls))


def _pairs(c: Common) -> tuple[tuple[nodes.KeyValue, ...], bool]:
    words = quoted_words(c.text, c.args_at, c.lexer.escape)
    _need_words(c, words)
    if "=" not in words[0][0]:
        parts = _BLANK_RUN.split(c.rest, maxsplit=1)
        if len(parts) < 2:
            c.fail_at(
                c.args_at,
                f"{c.keyword} must have two arguments",
                hint=f"write {c.keyword} name=value",
            )
        return (nodes.KeyValue(key=parts[0], value=parts[1]),), True
    pairs: list[nodes.KeyValue] = []
    for word, at in words:
        key, eq, value = word.partition("=")
        if not eq:
            c.fail_at(
                at,
                f'can\'t find = in "{word}". Must be of the form: name=value',
                hint='quote values that hold spaces: name="a b"',
            )
        if not key:
            c.fail_at(at, f"{c.keyword} names can not be blank")
        pairs.append(nodes.KeyValue(key=key, value=value))
    return tuple(pairs), False


def _flat(pairs: tuple[nodes.KeyValue, ...]) -> tuple[str, ...]:
    return tuple(x for p in pairs for x in (p.key, p.value))


def build_env(c: Common) -> nodes.Env:
    pairs, legacy = _pairs(c)
    return nodes.Env(**c.base(_flat(pairs)), pairs=pairs, legacy=legacy)


def build_label(c: Common) -> nodes.Label:
    pairs, legacy = _pairs(c)
    return nodes.Label(**c.base(_flat(pairs)), pairs=pairs, legacy=legacy)


def build_expose(c: Common) -> nodes.Expose:
    words = blank_split(c.text, c.args_at)
    _need_words(c, words)
    ports = tuple(w for w, _ in words)
    return nodes.Expose(**c.base(ports), ports=ports)


def build_volume(c: Common) -> nodes.Volume:
    paths = c.json_or_none()
    json = paths is not None
    if paths is None:
        paths = tuple(w for w, _ in blank_split(c.text, c.args_at))
    if not paths:
        c.fail_here("VOLUME requires at least one argument")
    if any(not p.strip() for p in paths):
        c.fail_at(c.args_at, "VOLUME specified can not be an empty string")
    return nodes.Volume(**c.base(paths, json=json), paths=paths)


def _one(c: Common) -> str:
    if not c.rest:
        c.fail_here(f"{c.keyword} requires exactly one argument")
    return c.rest


def build_user(c: Common) -> nodes.User:
    value = _one(c)
    return nodes.User(**c.base((value,)), user=value)


def build_workdir(c: Common) -> nodes.Workdir:
    value = _one(c)
    return nodes.Workdir(**c.base((value,)), path=value)


def build_stopsignal(c: Common) -> nodes.StopSignal:
    value = _one(c)
    return nodes.StopSignal(**c.base((value,)), signal=value)


def build_maintainer(c: Common) -> nodes.Maintainer:
    value = _one(c)
    return nodes.Maintainer(**c.base((value,)), name=value)
