"""Ignore files with Docker's semantics: a table of patterns and paths, the file format,
and the same table checked by a real build (what `COPY . /ctx/` takes)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lamina.building.context import SourceTree
from lamina.building.ignore import IgnoreMatcher, find_ignore_file, go_clean, read_patterns
from lamina.errors import InvalidInput

# (patterns, path, excluded)
CASES: list[tuple[list[str], str, bool]] = [
    (["*.log"], "a.log", True),
    (["*.log"], "dir/a.log", False),
    (["**/*.log"], "dir/a.log", True),
    (["**/*.log"], "a.log", True),
    (["**/*.log"], "a/b/c.log", True),
    (["dir"], "dir/file", True),
    (["dir"], "dir", True),
    (["dir"], "other/dir", False),
    (["dir/*"], "dir/file", True),
    (["dir/*"], "dir/sub/file", True),
    (["dir/*"], "dir", False),
    (["/dir"], "dir/x", True),
    (["./dir"], "dir/x", True),
    (["dir/"], "dir/x", True),
    (["a?c"], "abc", True),
    (["a?c"], "a/c", False),
    (["*"], "anything", True),
    (["*"], "d/file", True),
    (["*", "!keep"], "keep", False),
    (["*", "!keep"], "other", True),
    (["*", "!keep"], "keep/inner", False),
    (["!keep", "*"], "keep", True),
    (["dir", "!dir/keep"], "dir/keep", False),
    (["dir", "!dir/keep"], "dir/other", True),
    (["dir", "!dir/keep"], "dir/keep/sub", False),
    (["**"], "x/y", True),
    (["dir/**"], "dir/a/b", True),
    (["dir/**"], "dir", False),
    (["dir/**/x"], "dir/x", True),
    (["dir/**/x"], "dir/a/b/x", True),
    (["dir/**/x"], "dir/a/b/y", False),
    (["[ab].txt"], "a.txt", True),
    (["[ab].txt"], "c.txt", False),
    (["[^a].txt"], "a.txt", False),
    (["[^a].txt"], "b.txt", True),
    (["\\*.txt"], "*.txt", True),
    (["\\*.txt"], "a.txt", False),
    (["a/../b"], "b", True),
    (["*.md", "!README.md"], "README.md", False),
    (["*.md", "!README.md"], "docs/x.md", False),
    (["**/*.md", "!README.md"], "docs/README.md", True),
    (["!x"], "x", False),
    (["a.b"], "axb", False),
    (["a+b"], "a+b", True),
    (["(x)"], "(x)", True),
    (["dir/*.go"], "dir/sub/a.go", False),
    (["*/*.go"], "dir/a.go", True),
    (["*/*.go"], "a.go", False),
    (["*.tmp", "!*.tmp", "*.tmp"], "a.tmp", True),
]


@pytest.mark.parametrize(("patterns", "path", "excluded"), CASES)
def test_pattern_table(patterns: list[str], path: str, excluded: bool) -> None:
    assert IgnoreMatcher(read_patterns("\n".join(patterns))).excluded(path) is excluded


def test_file_format_comments_bom_blank_and_cleaning() -> None:
    text = "\ufeff# a comment\n\n  *.tmp  \n!  keep.tmp\n/abs/path\n./rel//x/\n #not-comment\n"
    assert read_patterns(text) == ["*.tmp", "!keep.tmp", "abs/path", "rel/x", "#not-comment"]


def test_lone_exclamation_is_an_error() -> None:
    with pytest.raises(InvalidInput):
        IgnoreMatcher(["!"])


def test_go_clean() -> None:
    assert [go_clean(p) for p in ("", "a//b/", "./a/./b", "a/../../b", "/../a")] == [
        ".",
        "a/b",
        "a/b",
        "../b",
        "/a",
    ]


def test_which_ignore_file(tmp_path: Path) -> None:
    cf = tmp_path / "build" / "App.containerfile"
    cf.parent.mkdir()
    cf.write_text("FROM scratch\n")
    assert find_ignore_file(tmp_path, cf) is None
    (tmp_path / ".dockerignore").write_text("a\n")
    assert find_ignore_file(tmp_path, cf) == tmp_path / ".dockerignore"
    (tmp_path / ".containerignore").write_text("b\n")
    assert find_ignore_file(tmp_path, cf) == tmp_path / ".containerignore"
    beside = cf.with_name("App.containerfile.dockerignore")
    beside.write_text("c\n")
    assert find_ignore_file(tmp_path, cf) == beside


def _tree_case(tmp_path: Path, patterns: list[str], path: str) -> Path:
    ctx = tmp_path / "ctx"
    target = ctx / path
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        target.write_text(path)
    (ctx / ".containerignore").write_text("\n".join(patterns) + "\n")
    return ctx


def test_walk_applies_the_table(tmp_path: Path) -> None:
    """Every case with a file path: the context walk includes it exactly when not excluded."""
    for n, (patterns, path, excluded) in enumerate(CASES):
        if path in ("dir", "keep", "x") and any(p for p in patterns if p.startswith(path + "/")):
            continue
        ctx = _tree_case(tmp_path / str(n), patterns, path)
        tree = SourceTree.context(ctx, None)
        seen = {e.rel for e in tree.walk(".")}
        assert (path not in seen) is excluded, (patterns, path)


def _all_files(root: Path) -> set[str]:
    out = set()
    for dirpath, _dirs, files in os.walk(root):
        for f in files:
            out.add(os.path.relpath(os.path.join(dirpath, f), root))
    return out


@pytest.mark.root
def test_a_real_build_copies_only_what_is_not_ignored(tmp_path: Path) -> None:
    from lamina.building.executor import BuildOptions, build
    from lamina.building.executor_stage import opened_image
    from lamina.store import Store

    ctx = tmp_path / "ctx"
    files = [
        "a.log",
        "dir/a.log",
        "dir/keep/x",
        "dir/other",
        "README.md",
        "docs/README.md",
        "docs/x.md",
        "src/main.go",
        "src/sub/a.go",
        "tmp/t",
        "Containerfile",
    ]
    for f in files:
        (ctx / f).parent.mkdir(parents=True, exist_ok=True)
        (ctx / f).write_text(f)
    (ctx / ".containerignore").write_text(
        "*.log\n**/*.md\n!README.md\ndir\n!dir/keep\ntmp/\nsrc/*/*.go\n"
    )
    (ctx / "Containerfile").write_text("FROM scratch\nCOPY . /ctx/\n")
    store = Store.open(tmp_path / "store")
    result = build(store, ctx, BuildOptions(tags=["localhost/ignored:1"]))
    with opened_image(store, result.image.id) as (root, _):
        got = _all_files(root / "ctx")
    matcher = IgnoreMatcher(read_patterns((ctx / ".containerignore").read_text()))
    want = {f for f in [*files, ".containerignore"] if not matcher.excluded(f)}
    assert got == want
    assert got == {"README.md", "dir/keep/x", "src/main.go", "Containerfile", ".containerignore"}
