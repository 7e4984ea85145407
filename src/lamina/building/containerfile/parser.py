"""`parse(text)`: a Containerfile's text → a `Containerfile` tree, or a ContainerfileError
that names the file, line and column (and suggests a keyword when one was misspelt)."""

from __future__ import annotations

import re
from collections.abc import Callable

from lamina.building.containerfile import commands, instructions, nodes
from lamina.building.containerfile.errors import fail, suggest
from lamina.building.containerfile.flags import check_flags
from lamina.building.containerfile.instructions import Common
from lamina.building.containerfile.lexer import Lexer, LogicalLine, Source
from lamina.building.containerfile.words import extract_flags, split_keyword

Builder = Callable[[Common], nodes.Instruction]

BUILDERS: dict[str, Builder] = {
    "FROM": instructions.build_from,
    "RUN": commands.build_run,
    "CMD": commands.build_cmd,
    "ENTRYPOINT": commands.build_entrypoint,
    "SHELL": commands.build_shell,
    "COPY": commands.build_copy,
    "ADD": commands.build_add,
    "ARG": instructions.build_arg,
    "ENV": instructions.build_env,
    "LABEL": instructions.build_label,
    "EXPOSE": instructions.build_expose,
    "VOLUME": instructions.build_volume,
    "USER": instructions.build_user,
    "WORKDIR": instructions.build_workdir,
    "HEALTHCHECK": commands.build_healthcheck,
    "STOPSIGNAL": instructions.build_stopsignal,
    "MAINTAINER": instructions.build_maintainer,
}
KEYWORDS = frozenset({*BUILDERS, "ONBUILD"})
FORBIDDEN_TRIGGERS = frozenset({"ONBUILD", "FROM", "MAINTAINER"})
_ONBUILD_PREFIX = re.compile(r"^\s*ONBUILD\s*", re.IGNORECASE)


def _build(line: LogicalLine, lexer: Lexer, start: int = 0) -> nodes.Instruction:
    (word, at), after = split_keyword(line.text, start)
    keyword = word.upper()
    if not word:  # only a continuation escape, continuing into blank lines or the end
        first = line.segments[0]
        fail(
            lexer.source.span(first.line, first.column),
            "line continuation with no instruction",
            hint="remove the escape character at the end of the line",
        )
    if keyword not in KEYWORDS:
        row, column = line.locate(at)
        close = suggest(keyword, KEYWORDS)
        fail(
            lexer.source.span(row, column, row, column + len(word)),
            f"unknown instruction: {word}",
            hint=f"did you mean {close}?" if close else None,
        )
    flag_words, args_at = extract_flags(line.text, after)
    flags = check_flags(keyword, flag_words, line, lexer.source)
    common = Common(keyword=keyword, line=line, start=at, args_at=args_at, flags=flags, lexer=lexer)
    if keyword == "ONBUILD":
        return _build_onbuild(common)
    return BUILDERS[keyword](common)


def _build_onbuild(c: Common) -> nodes.OnBuild:
    if not c.rest:
        c.fail_here("ONBUILD requires at least one argument", hint="write ONBUILD INSTRUCTION")
    (word, at), _ = split_keyword(c.text, c.args_at)
    inner = word.upper()
    if inner == "ONBUILD":
        c.fail_at(at, "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
    if inner in FORBIDDEN_TRIGGERS:
        c.fail_at(at, f"{inner} isn't allowed as an ONBUILD trigger")
    trigger = _build(c.line, c.lexer, c.args_at)
    expression = _ONBUILD_PREFIX.sub("", c.text[c.start :], count=1)
    for heredoc in getattr(trigger, "heredocs", ()):
        expression += "\n" + heredoc.content + heredoc.name
    fields = c.base(trigger.args, json=trigger.json)
    fields["span"] = c.source.span(
        fields["span"].line, fields["span"].column, trigger.span.end_line
    )
    fields["raw"] = trigger.raw
    return nodes.OnBuild(**fields, trigger=trigger, expression=expression)


def parse(text: str, file: str = "Containerfile") -> nodes.Containerfile:
    """Parse a Containerfile; raise ContainerfileError (with `file:line:col`) if malformed.

    Nothing is expanded: values keep their quotes and `$variables`.
    """
    source = Source(text, file)
    lexer = Lexer(source)
    body: list[nodes.Comment | nodes.Instruction] = []
    while (line := lexer.next_line()) is not None:
        body.extend(lexer.pending)
        lexer.pending.clear()
        body.append(_build(line, lexer))
    body.extend(lexer.pending)
    if not any(isinstance(n, nodes.Instruction) for n in body):
        fail(source.span(max(len(source.lines), 1)), "file with no instructions")
    return nodes.Containerfile(
        file=file,
        escape=lexer.escape,
        directives=tuple(lexer.directives),
        body=tuple(body),
        comments=tuple(lexer.comments),
    )
