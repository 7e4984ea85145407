"""WORKDIR makes its directory (owned by the USER) even when nothing later uses it; a base
without PATH gets Docker's default one; ENV of a name already set replaces it in place."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lamina.building.builder import containers
from lamina.building.executor import BuildOptions, build
from lamina.building.executor_stage import opened_image
from lamina.building.isolation.spec import DEFAULT_PATH
from lamina.ops.base import make_busybox
from lamina.store import Store

pytestmark = pytest.mark.root
BASE = "localhost/busybox:latest"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(tmp_path / "store")
    make_busybox(s, BASE)
    yield s
    assert containers(s) == [], "a build left working containers behind"
    s.close()


def _build(store: Store, tmp_path: Path, text: str, files: dict[str, str] | None = None) -> str:
    ctx = tmp_path / "ctx"
    ctx.mkdir(exist_ok=True)
    (ctx / "Containerfile").write_text(text)
    for name, body in (files or {}).items():
        (ctx / name).write_text(body)
    return build(store, ctx, BuildOptions(timestamp=0)).image.id


def test_workdir_is_made_and_owned_by_the_user(store: Store, tmp_path: Path) -> None:
    text = f'FROM {BASE}\nUSER 1000\nWORKDIR /w/deep\nUSER 0\nWORKDIR /r\nWORKDIR /w\nCMD ["sh"]\n'
    image = _build(store, tmp_path, text)
    with opened_image(store, image) as (root, _):
        for path, owner in (("w", 1000), ("w/deep", 1000), ("r", 0)):
            st = (root / path).stat()
            assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (owner, owner, 0o755), path
    cfg = store.image(store.get(image)).config()
    assert cfg.config.working_dir == "/w"
    # a layer for /w/deep and one for /r; `WORKDIR /w` (made already) adds none
    base = store.image(store.lookup(BASE)).config()
    assert len(cfg.rootfs.diff_ids) == len(base.rootfs.diff_ids) + 2


def test_base_without_path_gets_the_default(store: Store, tmp_path: Path) -> None:
    text = "FROM scratch\nCOPY f /f\n"
    image = _build(store, tmp_path, text, {"f": "x"})
    assert store.image(store.get(image)).config().config.env == (f"PATH={DEFAULT_PATH}",)
    assert DEFAULT_PATH == "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def test_env_replaces_a_set_name_in_place(store: Store, tmp_path: Path) -> None:
    text = f"FROM {BASE}\nENV A=1 B=2 C=3\nENV B=changed\nENV PATH=/bin\n"
    env = store.image(store.get(_build(store, tmp_path, text))).config().config.env
    assert env == ("PATH=/bin", "A=1", "B=changed", "C=3")
