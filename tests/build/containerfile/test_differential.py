"""Our parser against BuildKit's own (the `dockerfile` package) on every corpus file.

Intentional differences, normalised below:
- keywords: `dockerfile` keeps the case as written; ours are upper case.
- heredoc bodies: `dockerfile` keeps the leading tabs of `<<-` bodies (BuildKit strips
  them later); ours are already stripped. An absent fd is 0 there, None here.
- `original` of an instruction with heredocs: `dockerfile` appends the bodies; ours is the
  logical line only, so only the first line is compared.
- ONBUILD: `dockerfile` drops the trigger's flags and heredocs; ours keeps them on the
  trigger (`OnBuild.trigger`), and `OnBuild.flags` are ONBUILD's own (always none).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dockerfile
import pytest

from lamina.build.containerfile import Instruction, OnBuild, parse
from lamina.build.containerfile.heredocs import chomp

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
