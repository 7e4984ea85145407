"""Ignore files as current moby/patternmatcher reads them: a malformed pattern is an error
naming the file and line (Docker refuses it); `**x` is a suffix and `^` a literal; lines
end at `\\n` or `\\r\\n` only; no Python regex warnings."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from lamina.building.context import SourceTree
from lamina.building.ignore import IgnoreMatcher, load_matcher, read_patterns
from lamina.errors import InvalidInput

MALFORMED = ["[]a]", "[-]", "[x-]", "[a-b-c]", "trailing\\", "[a\\", "[abc", "ok/[z-"]


@pytest.mark.parametrize("bad", MALFORMED)
def test_malformed_pattern_names_file_and_line(tmp_path: Path, bad: str) -> None:
    (tmp_path / "Containerfile").write_text("FROM scratch\n")
    ignore = tmp_path / ".containerignore"
    ignore.write_text(f"# header\n*.log\n\n{bad}\nlast\n")
    with pytest.raises(InvalidInput) as err:
        load_matcher(tmp_path, tmp_path / "Containerfile")
    assert f"{ignore}:4:" in str(err.value)
    with pytest.raises(InvalidInput, match="malformed"):
        SourceTree.context(tmp_path, tmp_path / "Containerfile")


# (pattern, path, excluded) as patternmatcher decides them, grouped by topic
CASES = {
    "suffix-file": [
        ("**file", "myfile", True),
        ("**file", "d/e/xfile", True),
        ("**file", "file.txt", False),
    ],
    "suffix-ext": [
        ("**.txt", "a.txt", True),
        ("**.txt", "d/b.txt", True),
        ("**.txt", "d/b.txtx", False),
    ],
    "caret-literal": [("a^b", "a^b", True), ("^x", "^x", True), ("d/^*", "d/^y", True)],
    "classes": [("[[]x", "[x", True), ("[!a]", "!", True), ("[\\]]", "]", True)],
}


@pytest.mark.parametrize("cases", CASES.values(), ids=CASES.keys())
def test_patternmatcher_semantics(cases: list[tuple[str, str, bool]]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. FutureWarning: Possible nested set
        for pattern, path, excluded in cases:
            assert IgnoreMatcher([pattern]).excluded(path) is excluded, (pattern, path)


def test_lines_end_at_newline_only() -> None:
    text = "one\rtwo\n\u2028three\r\nfour\x1cfive\x0bsix\nseven\r\n"
    assert read_patterns(text) == ["one\rtwo", "three", "four\x1cfive\x0bsix", "seven"]
