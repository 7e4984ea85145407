"""COPY written straight into the upper directory (build/rootfs/fresh.py) gives the same
layers as COPY written through the overlay mount: the same Containerfile is built with
the shortcut and with it switched off, and every layer is compared entry by entry."""

from __future__ import annotations

import io
import os
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lamina.build import executor_stage
from lamina.build.builder import containers
from lamina.build.executor import BuildOptions, build
from lamina.build.rootfs import fresh
from lamina.ops.base import make_busybox
from lamina.store import Store

pytestmark = pytest.mark.root

CONTAINERFILE = """\
FROM localhost/busybox:latest
RUN mkdir -p /opt/deep /empty /link-target && touch /opt/keep && \\
    chown 1000:50 /opt /opt/deep && chmod 0710 /opt && chmod 0700 /opt/deep && \\
    ln -s /link-target /link
COPY a.txt /opt/deep/new/a.txt
COPY tree /empty/
COPY --chown=1000:1000 --chmod=0640 b.txt /fresh/sub/
COPY b.txt /opt/
COPY b.txt /link/sub/
COPY tree /tree-root
"""

# Which COPY steps can take the shortcut: the destination is new or an empty directory
# and no symlink lies on the way (not /opt/, which has content, nor /link/sub/).
DIRECT = 4


def _context(tmp_path: Path) -> Path:
    ctx = tmp_path / "ctx"
    (ctx / "tree" / "d" / "e").mkdir(parents=True)
    (ctx / "Containerfile").write_text(CONTAINERFILE)
    (ctx / "a.txt").write_text("a\n")
    (ctx / "b.txt").write_text("b\n")
    (ctx / "tree" / "d" / "e" / "f").write_text("f\n")
    (ctx / "tree" / "top").write_text("top\n")
    os.chmod(ctx / "tree" / "top", 0o751)
    os.link(ctx / "tree" / "top", ctx / "tree" / "d" / "hard")
    os.symlink("../top", ctx / "tree" / "d" / "up")
    os.setxattr(ctx / "tree" / "top", "user.lamina.test", b"v")
    return ctx


def _layers(store: Store, image_id: str) -> list[dict[str, tuple[object, ...]]]:
    out = []
    for layer in store.image(store.get(image_id)).layers():
        entries: dict[str, tuple[object, ...]] = {}
        with layer.open() as f, tarfile.open(fileobj=io.BytesIO(f.read())) as tar:
            for m in tar.getmembers():
                body = tar.extractfile(m).read() if m.isfile() else b""  # type: ignore[union-attr]
                mtime = None if m.isdir() else m.mtime  # a directory's is "now" in both
                xattrs = sorted((k, v) for k, v in m.pax_headers.items() if "xattr" in k)
                entries[m.name] = (m.type, m.mode, m.uid, m.gid, body, m.linkname, mtime, xattrs)
        out.append(entries)
    return out


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[tuple[Store, Store]]:
    pair = (Store.open(tmp_path / "direct"), Store.open(tmp_path / "mounted"))
    for s in pair:
        make_busybox(s, "localhost/busybox:latest")
    yield pair
    for s in pair:
        assert containers(s) == [], "a build left working containers behind"
        s.close()


def test_direct_copy_layers_equal_mounted_copy(
    stores: tuple[Store, Store], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = _context(tmp_path)
    stamp = int(time.time()) + 3600  # clamps nothing: source mtimes are compared too
    taken: list[str] = []

    def spy(merged: Path, upper: Path, dest: str, unmount: object) -> Path | None:
        got = fresh.direct_upper(merged, upper, dest, unmount)  # type: ignore[arg-type]
        if got is not None:
            taken.append(dest)
        return got

    monkeypatch.setattr(executor_stage, "direct_upper", spy)
    direct = build(stores[0], ctx, BuildOptions(timestamp=stamp), stream=io.StringIO())
    assert len(taken) == DIRECT, taken

    monkeypatch.setattr(executor_stage, "direct_upper", lambda *a: None)
    mounted = build(stores[1], ctx, BuildOptions(timestamp=stamp), stream=io.StringIO())

    got, want = _layers(stores[0], direct.image.id), _layers(stores[1], mounted.image.id)
    assert len(got) == len(want)
    for n, (g, w) in enumerate(zip(got, want, strict=True)):
        assert sorted(g) == sorted(w), (n, set(g) ^ set(w))
        assert {p: (g[p], w[p]) for p in g if g[p] != w[p]} == {}, n
    first = got[-6]  # COPY a.txt /opt/deep/new/a.txt: /opt and /opt/deep copied up as they were
    assert first["opt"][1:4] == (0o710, 1000, 50)
    assert first["opt/deep"][1:4] == (0o700, 1000, 50)
    assert first["opt/deep/new"][1:4] == (0o755, 0, 0)
    assert "opt/keep" not in first and not any(".wh." in p for p in first)
