"""A COPY's cache key (SourceTree.digest) covers a context file's xattrs as a copy keeps
them (build.rootfs.xattrs): its own ones, not overlayfs's; a context is listed once."""

from __future__ import annotations

import os
from pathlib import Path

from lamina.building.context import SourceTree


def test_digest_covers_xattrs_a_copy_keeps(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("a\n")
    before = SourceTree(root=tmp_path).digest(["a.txt"])
    os.setxattr(tmp_path / "a.txt", "user.overlay.origin", b"x")  # overlayfs's: not kept
    assert SourceTree(root=tmp_path).digest(["a.txt"]) == before
    os.setxattr(tmp_path / "a.txt", "user.lamina.test", b"v")
    tagged = SourceTree(root=tmp_path).digest(["a.txt"])
    assert tagged != before
    os.setxattr(tmp_path / "a.txt", "user.lamina.test", b"w")
    assert SourceTree(root=tmp_path).digest(["a.txt"]) not in (before, tagged)


def test_a_context_is_listed_once(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "one").write_text("1\n")
    tree = SourceTree(root=tmp_path)
    first = [e.rel for e in tree.walk("d")]
    (tmp_path / "d" / "two").write_text("2\n")  # the build's context does not change
    assert [e.rel for e in tree.walk("d")] == first == [".", "one"]
    assert [e.rel for e in SourceTree(root=tmp_path).walk("d")] == [".", "one", "two"]
