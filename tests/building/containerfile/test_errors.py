# ruff: noqa: E501  (a table reads better one case a line)
"""Malformed Containerfiles: each raises ContainerfileError at an exact line and column."""

from __future__ import annotations

import pytest

from lamina.building.containerfile import parse
from lamina.errors import ContainerfileError, ErrorCode

# (id, source, message fragment, line, column)
BAD: list[tuple[str, str, str, int, int]] = [
    ("unknown", "FROM a\nFOO bar", "unknown instruction: FOO", 2, 1),
    ("misspelt-run", "FROM a\n  RUNN echo", "unknown instruction: RUNN", 2, 3),
    ("misspelt-copy", "FROM a\nCOYP a b", "unknown instruction: COYP", 2, 1),
    ("empty-file", "", "file with no instructions", 1, 1),
    ("only-comments", "# a\n# b\n", "file with no instructions", 2, 1),
    ("bad-escape", "# escape=x\nFROM a", "invalid escape token 'x'", 1, 10),
    ("bad-escape-long", "#escape = \\\\\nFROM a", "invalid escape token", 1, 11),
    ("escape-twice", "# escape=`\n# escape=\\\nFROM a", "only one escape parser directive", 2, 1),
    ("syntax-twice", "# syntax=a\n# syntax=b\nFROM a", "only one syntax parser directive", 2, 1),
    ("from-empty", "FROM", "FROM requires an image", 1, 1),
    ("from-two", "FROM a b", "FROM requires either one or three arguments", 1, 8),
    ("from-as-no-name", "FROM a AS", "FROM requires either one or three arguments", 1, 8),
    ("from-four", "FROM a AS b c", "either one or three", 1, 8),
    ("from-bad-stage", "FROM a AS 1st", 'invalid name for build stage: "1st"', 1, 11),
    ("from-stage-symbol", "FROM a AS b$c", "invalid name for build stage", 1, 11),
    ("from-bad-flag", "FROM --platfrom=x a", "unknown flag for FROM: --platfrom", 1, 6),
    ("run-empty", "FROM a\nRUN", "RUN requires at least one argument", 2, 1),
    ("run-exec-empty", "FROM a\nRUN []", "RUN requires at least one argument", 2, 1),
    ("run-bad-flag", "FROM a\nRUN --mount=x --netwrk=none y", "unknown flag for RUN: --netwrk", 2, 15),
    ("run-flag-no-value", "FROM a\nRUN --network x", "missing a value on flag: --network", 2, 5),
    ("run-dup-flag", "FROM a\nRUN --network=a --network=b x", "duplicate flag specified: --network", 2, 17),
    ("run-json-numbers", 'FROM a\nRUN ["a", 1]', "arrays must be comprised of strings only", 2, 5),
    ("copy-one-arg", "FROM a\nCOPY a", "COPY requires at least two arguments", 2, 1),
    ("copy-bad-flag", "FROM a\nCOPY --checksum=x a b", "unknown flag for COPY: --checksum", 2, 6),
    ("copy-bool-flag", "FROM a\nCOPY --link=yes a b", "expecting boolean value for flag --link", 2, 6),
    ("copy-heredoc-dest", "FROM a\nCOPY a <<EOF\nx\nEOF", "cannot accept a heredoc as a destination", 2, 1),
    ("add-one-arg", "FROM a\nADD", "ADD requires at least two arguments", 2, 1),
    ("add-from-flag", "FROM a\nADD --from=x a b", "unknown flag for ADD: --from", 2, 5),
    ("env-flag", "FROM a\nENV --x=1 A=b", "unknown flag for ENV: --x", 2, 5),
    ("env-empty", "FROM a\nENV", "ENV requires at least one argument", 2, 1),
    ("env-legacy-one", "FROM a\nENV A", "ENV must have two arguments", 2, 5),
    ("env-no-equals", "FROM a\nENV A=1 B", 'can\'t find = in "B"', 2, 9),
    ("env-blank-name", "FROM a\nENV =x", "ENV names can not be blank", 2, 5),
    ("label-no-equals", "FROM a\nLABEL a=1 \\\n  b c=2", 'can\'t find = in "b"', 3, 3),
    ("arg-empty", "ARG", "ARG requires at least one argument", 1, 1),
    ("arg-blank-name", "ARG =1", "ARG names can not be blank", 1, 5),
    ("expose-empty", "FROM a\nEXPOSE", "EXPOSE requires at least one argument", 2, 1),
    ("volume-empty", "FROM a\nVOLUME", "VOLUME requires at least one argument", 2, 1),
    ("volume-empty-string", 'FROM a\nVOLUME ["/a", ""]', "can not be an empty string", 2, 8),
    ("user-empty", "FROM a\nUSER", "USER requires exactly one argument", 2, 1),
    ("workdir-empty", "FROM a\nWORKDIR   ", "WORKDIR requires exactly one argument", 2, 1),
    ("stopsignal-empty", "FROM a\nSTOPSIGNAL", "STOPSIGNAL requires exactly one argument", 2, 1),
    ("maintainer-empty", "MAINTAINER", "MAINTAINER requires exactly one argument", 1, 1),
    ("shell-not-json", "FROM a\nSHELL /bin/sh -c", "SHELL requires the arguments to be in JSON form", 2, 7),
    ("shell-bad-json", 'FROM a\nSHELL ["sh", "-c"', "JSON form", 2, 7),
    ("shell-empty", "FROM a\nSHELL", "SHELL requires at least one argument", 2, 1),
    ("shell-empty-array", "FROM a\nSHELL []", "SHELL requires at least one argument", 2, 7),
    ("hc-empty", "FROM a\nHEALTHCHECK", "HEALTHCHECK requires at least one argument", 2, 1),
    ("hc-none-args", "FROM a\nHEALTHCHECK NONE x", "HEALTHCHECK NONE takes no arguments", 2, 18),
    ("hc-bad-type", "FROM a\nHEALTHCHECK RUN x", 'Unknown type "RUN" in HEALTHCHECK', 2, 13),
    ("hc-no-command", "FROM a\nHEALTHCHECK CMD", "Missing command after HEALTHCHECK CMD", 2, 13),
    ("hc-bad-duration", "FROM a\nHEALTHCHECK --interval=5 CMD x", "invalid duration for --interval", 2, 13),
    ("hc-tiny-duration", "FROM a\nHEALTHCHECK --timeout=10us CMD x", "cannot be less than 1ms", 2, 13),
    ("hc-retries-zero", "FROM a\nHEALTHCHECK --retries=0 CMD x", "--retries must be at least 1", 2, 1),
    ("hc-retries-text", "FROM a\nHEALTHCHECK --retries=many CMD x", "invalid --retries value", 2, 1),
    ("hc-bad-flag", "FROM a\nHEALTHCHECK --intervall=5s CMD x", "unknown flag for HEALTHCHECK: --intervall", 2, 13),
    ("onbuild-empty", "FROM a\nONBUILD", "ONBUILD requires at least one argument", 2, 1),
    ("onbuild-onbuild", "FROM a\nONBUILD ONBUILD RUN x", "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed", 2, 9),
    ("onbuild-from", "FROM a\nONBUILD FROM b", "FROM isn't allowed as an ONBUILD trigger", 2, 9),
    ("onbuild-maintainer", "FROM a\nonbuild maintainer me", "MAINTAINER isn't allowed as an ONBUILD trigger", 2, 9),
    ("onbuild-unknown", "FROM a\nONBUILD RUNX y", "unknown instruction: RUNX", 2, 9),
    ("onbuild-inner-error", "FROM a\nONBUILD COPY a", "COPY requires at least two arguments", 2, 9),
    ("heredoc-unterminated", "FROM a\nRUN cat <<EOF\nhello\n", "unterminated heredoc EOF", 2, 9),
    ("heredoc-second-open", "FROM a\nRUN cat <<A <<B\n1\nA\n2\n", "unterminated heredoc B", 2, 13),
    ("heredoc-chomp-open", "FROM a\nRUN <<-END\n\tx\n\tEN\n", "unterminated heredoc END", 2, 5),
    ("error-after-continuation", "FROM a\nRUN a \\\n  b\nFOO", "unknown instruction: FOO", 4, 1),
    ("lone-continuation", "FROM a\n  \\\n\n", "line continuation with no instruction", 2, 3),
    ("flag-on-second-line", "FROM a\nRUN --network=none \\\n  --bogus=1 x", "unknown flag for RUN: --bogus", 3, 3),
]  # fmt: skip


@pytest.mark.parametrize(
    ("source", "fragment", "line", "column"), [b[1:] for b in BAD], ids=[b[0] for b in BAD]
)
def test_malformed(source: str, fragment: str, line: int, column: int) -> None:
    with pytest.raises(ContainerfileError) as info:
        parse(source, file="Containerfile")
    err = info.value
    assert fragment in err.message
    assert (err.span.line, err.span.column) == (line, column)
    assert err.message.startswith(f"Containerfile:{line}:{column}: ")
    assert err.code is ErrorCode.CONTAINERFILE
    assert err.span.text == [*source.split("\n"), ""][line - 1].rstrip("\r")


def test_bad_case_count() -> None:
    assert len(BAD) >= 30


@pytest.mark.parametrize(
    ("source", "hint"),
    [
        ("RUNN echo", "did you mean RUN?"),
        ("FROM a\nCOPPY a b", "did you mean COPY?"),
        ("FROM a\nENTRYPONT x", "did you mean ENTRYPOINT?"),
        ("FROM a\nworkdri /x", "did you mean WORKDIR?"),
        ("FROM a\nHEALTCHECK NONE", "did you mean HEALTHCHECK?"),
        ("FROM a\nCOPY --chwon=1 a b", "did you mean --chown?"),
        ("FROM a\nRUN --mounts=type=ssh x", "did you mean --mount?"),
    ],
)
def test_hints(source: str, hint: str) -> None:
    with pytest.raises(ContainerfileError) as info:
        parse(source)
    assert info.value.hint == hint


def test_no_hint_when_nothing_is_close() -> None:
    with pytest.raises(ContainerfileError) as info:
        parse("XYZZYQ a")
    assert info.value.hint is None


def test_flag_hint_lists_the_flags_when_nothing_is_close() -> None:
    with pytest.raises(ContainerfileError) as info:
        parse("FROM a\nUSER --qqq x")
    assert info.value.hint == "USER takes no flags"
