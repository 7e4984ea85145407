"""Lexer corners BuildKit handles, checked against BuildKit's own parser (`dockerfile`):
only Go's white space separates words (not the separators \\x1c-\\x1f, which Python's
isspace counts), a lone JSON surrogate decodes to U+FFFD, and `<< EOF` (blanks after `<<`,
BuildKit >= 0.22) opens a heredoc."""

from __future__ import annotations

import dockerfile
import pytest

from lamina.building.containerfile import parse

SEPARATORS = [chr(c) for c in range(0x1C, 0x20)]


@pytest.mark.parametrize("sep", SEPARATORS, ids=lambda s: f"x{ord(s):02x}")
@pytest.mark.parametrize(
    "line",
    ["ENV A=1{s}B=2", "LABEL a=b{s}c=d", "ARG a=1{s}b=2", "RUN --mount=type=tmpfs{s}x echo"],
)
def test_info_separators_are_word_characters(line: str, sep: str) -> None:
    text = "FROM x\n" + line.format(s=sep) + "\n"
    theirs = dockerfile.parse_string(text)[1]
    ours = parse(text).instructions[1]
    assert ours.args == tuple(theirs.value)
    assert tuple(f.raw for f in ours.flags) == tuple(theirs.flags)
    # Go's white space (here NEL and the ideographic space) still separates
    more = "FROM x\nENV A=1\x85B=2\u3000C=3\n"
    assert parse(more).instructions[1].args == tuple(dockerfile.parse_string(more)[1].value)


@pytest.mark.parametrize(
    "json",
    ['["\\ud800", "a"]', '["\\udc00x\\ud83d\\ude00"]', '["a\\udbff"]'],
)
def test_lone_json_surrogate_becomes_replacement_character(json: str) -> None:
    text = f"FROM x\nCMD {json}\n"
    ours = parse(text).instructions[1].args
    assert ours == tuple(dockerfile.parse_string(text)[1].value)
    assert all("\ufffd" in a for a in ours if a != "a")
    for arg in ours:
        arg.encode("utf-8")  # no surrogate left to fail on


@pytest.mark.parametrize("marker", ["<< EOF", "<<  EOF", "<<\tEOF", '<< "EOF"', "3<< EOF"])
def test_blank_after_double_less_than_opens_a_heredoc(marker: str) -> None:
    text = f"FROM x\nRUN cat {marker} > /out\nbody $HOME\nEOF\nRUN echo done\n"
    runs = parse(text).instructions[1:]
    assert len(runs) == 2
    doc = runs[0].heredocs[0]  # type: ignore[attr-defined]
    assert (doc.name, doc.content) == ("EOF", "body $HOME\n")
    assert doc.expand == ('"' not in marker)
    assert runs[1].args == ("echo done",)

    # BuildKit reads only blanks right after `<<` into the word: `<<- EOF` is not a marker
    assert parse("FROM x\nRUN cat <<- EOF\nRUN echo x\n").instructions[1].heredocs == ()  # type: ignore[attr-defined]
