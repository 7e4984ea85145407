"""COPY written straight into the upper directory (build/rootfs/fresh.py) gives the same
layers as COPY written through the overlay mount: the same Containerfile is built with
the shortcut and with it switched off, and every layer is compared entry by entry."""

from __future__ import annotations

import io
import os
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from lamina.building import executor_copystep
from lamina.building.builder import containers
from lamina.building.executor import BuildOptions, build
from lamina.building.rootfs import fresh
from lamina.building.rootfs.overlay import is_mounted
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
OLD = 1_000_000_000  # the context's mtimes
STAMP = 1_500_000_000  # --timestamp: what the build creates now is clamped to it


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
    for path in [ctx, *ctx.rglob("*")]:  # older than the build's --timestamp: kept as is
        os.utime(path, (OLD, OLD), follow_symlinks=False)
    return ctx


def _layers(store: Store, image_id: str) -> list[dict[str, tuple[object, ...]]]:
    out = []
    for layer in store.image(store.get(image_id)).layers():
        entries: dict[str, tuple[object, ...]] = {}
        with layer.open() as f, tarfile.open(fileobj=io.BytesIO(f.read())) as tar:
            for m in tar.getmembers():
                body = tar.extractfile(m).read() if m.isfile() else b""  # type: ignore[union-attr]
                xattrs = sorted((k, v) for k, v in m.pax_headers.items() if "xattr" in k)
                entries[m.name] = (m.type, m.mode, m.uid, m.gid, body, m.linkname, m.mtime, xattrs)
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
    stamp = STAMP
    taken: list[str] = []

    on_tmpfs: list[str] = []

    def spy(merged: Path, upper: Path, dest: str, unmount: object, **kw: object) -> Path | None:
        got = fresh.direct_upper(merged, upper, dest, unmount, **kw)  # type: ignore[arg-type]
        if got is not None:
            taken.append(dest)
            if is_mounted(upper):
                on_tmpfs.append(dest)
        return got

    monkeypatch.setattr(executor_copystep, "direct_upper", spy)
    direct = build(stores[0], ctx, BuildOptions(timestamp=stamp), stream=io.StringIO())
    assert len(taken) == DIRECT, taken
    # Only the stage's last file-changing step, whose files no later step reads, goes to
    # a tmpfs; the others' upper dirs become their layers' snapshots.
    assert on_tmpfs == ["/tree-root"]

    monkeypatch.setattr(executor_copystep, "direct_upper", lambda *a, **kw: None)
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


def test_image_whose_last_copy_went_to_tmpfs_builds_on(
    stores: tuple[Store, Store], tmp_path: Path
) -> None:
    """The tmpfs upper dir is not kept as a snapshot: a build FROM the image extracts the
    layer and sees the files."""
    store = stores[0]
    ctx = _context(tmp_path)
    first = build(store, ctx, BuildOptions(tags=["localhost/first"]), stream=io.StringIO())
    (ctx / "Containerfile").write_text(
        "FROM localhost/first\nRUN cat /tree-root/top /tree-root/d/hard > /seen\n"
    )
    second = build(store, ctx, BuildOptions(), stream=io.StringIO())
    assert first.image.id != second.image.id
    seen = _layers(store, second.image.id)[-1]["seen"]
    assert seen[4] == b"top\ntop\n"
