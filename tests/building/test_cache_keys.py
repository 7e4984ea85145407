"""A step's cache key covers every input that changes its result: here the inputs the
logical line does not show (a RUN heredoc's body, the escape directive)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lamina.building.builder import containers
from lamina.building.executor import BuildOptions, BuildResult, build
from lamina.building.executor_stage import opened_image
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


def _build(store: Store, ctx: Path, text: str) -> BuildResult:
    ctx.mkdir(exist_ok=True)
    (ctx / "Containerfile").write_text(text)
    return build(store, ctx, BuildOptions(timestamp=0))


def _read(store: Store, image_id: str, path: str) -> str:
    with opened_image(store, image_id) as (root, _):
        return (root / path.lstrip("/")).read_text()


def test_changed_run_heredoc_body_reruns_the_step(store: Store, tmp_path: Path) -> None:
    text = f"FROM {BASE}\nRUN <<EOF\necho {{}} > /out\nEOF\nRUN cat > /fed <<EOF\n{{}}\nEOF\n"
    first = _build(store, tmp_path / "ctx", text.format("one", "one"))
    assert _read(store, first.image.id, "/out") == "one\n"
    again = _build(store, tmp_path / "ctx", text.format("one", "one"))
    assert again.image.id == first.image.id and again.cached == 2
    changed = _build(store, tmp_path / "ctx", text.format("two", "one"))
    assert _read(store, changed.image.id, "/out") == "two\n"
    fed = _build(store, tmp_path / "ctx", text.format("two", "three"))
    assert fed.cached == 1
    assert _read(store, fed.image.id, "/fed") == "three\n"


def test_escape_directive_is_part_of_the_key(store: Store, tmp_path: Path) -> None:
    # the same line means `a$b` with `\` as escape, and `a\` plus $b with a backtick
    body = f"FROM {BASE}\nARG b=B\nENV X=a\\$b\nRUN echo $X > /x\n"
    plain = _build(store, tmp_path / "ctx", body)
    assert _read(store, plain.image.id, "/x") == "a$b\n"
    tick = _build(store, tmp_path / "ctx", "# escape=`\n" + body)
    assert _read(store, tick.image.id, "/x") == "a\\B\n"


def test_run_bind_mount_from_is_keyed_by_the_image_it_names(store: Store, tmp_path: Path) -> None:
    src = f"FROM {BASE}\nRUN echo {{}} > /data\n"
    user = (
        f"FROM {BASE} AS Stage\nCOPY f /f\n"
        f"FROM {BASE}\n"
        "RUN --mount=type=bind,from=localhost/src:1,target=/m cat /m/data > /image\n"
        "RUN --mount=type=bind,from=Stage,target=/s cat /s/f > /stage\n"
    )

    def build_src(word: str) -> None:
        ctx = tmp_path / "src"
        ctx.mkdir(exist_ok=True)
        (ctx / "Containerfile").write_text(src.format(word))
        build(store, ctx, BuildOptions(timestamp=0, tags=["localhost/src:1"]))

    ctx = tmp_path / "user"
    ctx.mkdir()
    build_src("one")
    (ctx / "f").write_text("first\n")
    first = _build(store, ctx, user)
    assert (_read(store, first.image.id, "/image"), _read(store, first.image.id, "/stage")) == (
        "one\n",
        "first\n",
    )
    build_src("two")  # the name now points at another image
    (ctx / "f").write_text("second\n")  # and stage `Stage` changes
    again = _build(store, ctx, user)
    assert (_read(store, again.image.id, "/image"), _read(store, again.image.id, "/stage")) == (
        "two\n",
        "second\n",
    )
