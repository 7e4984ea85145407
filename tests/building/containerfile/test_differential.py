"""Our parser against BuildKit's own (the `dockerfile` package) on every corpus file.

Intentional differences, normalised below:
- keywords: `dockerfile` keeps the case as written; ours are upper case.
- heredoc bodies: `dockerfile` keeps the leading tabs of `<<-` bodies (BuildKit strips
  them later); ours are already stripped. An absent fd is 0 there, None here.
- `original` of an instruction with heredocs: `dockerfile` appends the bodies; ours is the
  logical line only, so only the first line is compared.
- `<< EOF` (blanks after `<<`) opens a heredoc here, as in BuildKit >= 0.22; the
  `dockerfile` package predates that, so the corpus and fragments do not use it
  (tests/building/test_lexer_corners.py covers it).
- ONBUILD: `dockerfile` drops the trigger's flags and heredocs; ours keeps them on the
  trigger (`OnBuild.trigger`), and `OnBuild.flags` are ONBUILD's own (always none).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dockerfile
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lamina.building.containerfile import Instruction, OnBuild, parse
from lamina.building.containerfile.heredocs import chomp
from lamina.errors import ContainerfileError

CORPUS = sorted((Path(__file__).parent / "corpus").glob("*.Containerfile"))


def test_corpus_is_big_enough() -> None:
    assert len(CORPUS) >= 25


def _heredocs(node: Instruction) -> tuple[tuple[str, int, str], ...]:
    docs = getattr(node, "heredocs", ())
    return tuple((h.name, h.fd or 0, h.content) for h in docs)


def _theirs_heredocs(cmd: Any, ours: Instruction) -> tuple[tuple[str, int, str], ...]:
    chomps = [h.chomp for h in getattr(ours, "heredocs", ())]
    return tuple(
        (h.name, h.file_descriptor, chomp(h.content) if c else h.content)
        for h, c in zip(cmd.heredocs, chomps, strict=False)
    )


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.name)
def test_agrees_with_buildkit(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    theirs = dockerfile.parse_string(text)
    ours = parse(text, file=path.name).instructions
    assert len(ours) == len(theirs)
    for mine, cmd in zip(ours, theirs, strict=True):
        where = f"{path.name}:{cmd.start_line}"
        assert mine.keyword == cmd.cmd.upper(), where
        assert (mine.span.line, mine.span.end_line) == (cmd.start_line, cmd.end_line), where
        assert mine.json == cmd.json, where
        assert mine.args == tuple(cmd.value), where
        assert mine.original == cmd.original.split("\n")[0], where
        if isinstance(mine, OnBuild):
            assert mine.trigger.keyword == cmd.sub_cmd, where
            assert mine.flags == ()
        else:
            assert cmd.sub_cmd is None, where
            assert tuple(f.raw for f in mine.flags) == tuple(cmd.flags), where
            assert _heredocs(mine) == _theirs_heredocs(cmd, mine), where
            assert len(getattr(mine, "heredocs", ())) == len(cmd.heredocs), where


def test_corpus_covers_the_features() -> None:
    keywords = set()
    heredocs = onbuild_heredocs = backtick = 0
    for path in CORPUS:
        cf = parse(path.read_text(encoding="utf-8"), file=path.name)
        backtick += cf.escape == "`"
        for node in cf.instructions:
            keywords.add(node.keyword)
            heredocs += len(getattr(node, "heredocs", ()))
            if isinstance(node, OnBuild):
                keywords.add("ONBUILD " + node.trigger.keyword)
                onbuild_heredocs += len(getattr(node.trigger, "heredocs", ()))
    assert {
        "FROM", "RUN", "CMD", "ENTRYPOINT", "SHELL", "COPY", "ADD", "ARG", "ENV", "LABEL",
        "EXPOSE", "VOLUME", "USER", "WORKDIR", "HEALTHCHECK", "STOPSIGNAL", "ONBUILD",
        "MAINTAINER",
    } <= keywords  # fmt: skip
    assert heredocs >= 8 and onbuild_heredocs >= 1 and backtick >= 1


FRAGMENTS = [
    "FROM a", "FROM --platform=x a AS b", "RUN echo hi", "RUN a \\", "  b", "# c", "  # d", "",
    "   ", "\\", "ENV A=1 B=\"x y\"", "ENV A b  c", 'LABEL "a b"=c', "LABEL a=b\\ c",
    "COPY --from=x a b", 'COPY --from="x y" a b', "RUN --mount=type=cache,target=/x y",
    'CMD ["a"]', "CMD [a", 'CMD ["a"] tail', "RUN <<EOF", "RUN <<-EOF cat", "RUN 3<<X", "X",
    "hello", "EOF", "\tEOF", "COPY <<A <<'B' /d", "A", "B", "ONBUILD RUN x",
    "ONBUILD COPY --link a b",
    "ARG a=1 b", "ARG x=\"a b\" y='c d'", "EXPOSE 1 2/udp", 'VOLUME ["/a"]', "VOLUME /a /b",
    "HEALTHCHECK --interval=1s CMD x", 'HEALTHCHECK CMD ["a"]', "HEALTHCHECK NONE", "USER u",
    "WORKDIR /w", "RUN echo \\\\", "RUN x \\  ", "RUN x `", "ENV a=`", "RUN -- x",
    'SHELL ["sh", "-c"]', "ENTRYPOINT x y", "RUN\tx", "cmd [ \"x\" ]  ", "RUN a#b",
    "ADD --checksum=sha256:00 http://x /y", "STOPSIGNAL 9", "MAINTAINER m <m@x>",
]  # fmt: skip


@settings(max_examples=400, derandomize=True, deadline=None)
@given(
    lines=st.lists(st.sampled_from(FRAGMENTS), min_size=1, max_size=10),
    backtick=st.booleans(),
    newline=st.sampled_from(["\n", "\r\n"]),
)
def test_random_files_agree_with_buildkit(lines: list[str], backtick: bool, newline: str) -> None:
    """Where both accept a file, both see the same instructions, lines, flags and values."""
    text = newline.join((["# escape=`"] if backtick else []) + lines) + newline
    try:
        theirs = dockerfile.parse_string(text)
    except dockerfile.GoParseError:
        return
    try:
        ours = parse(text).instructions
    except ContainerfileError:
        return  # we also check what BuildKit checks only later (keywords, arguments, flags)
    assert len(ours) == len(theirs)
    for mine, cmd in zip(ours, theirs, strict=True):
        assert mine.keyword == cmd.cmd.upper()
        assert (mine.span.line, mine.span.end_line) == (cmd.start_line, cmd.end_line)
        assert (mine.json, mine.args) == (cmd.json, tuple(cmd.value))
        assert mine.original == cmd.original.split("\n")[0]
        if not isinstance(mine, OnBuild):
            assert tuple(f.raw for f in mine.flags) == tuple(cmd.flags)
            assert _heredocs(mine) == _theirs_heredocs(cmd, mine)
