"""A step's cache key covers every input that changes its result: here the inputs the
logical line does not show (a RUN heredoc's body, the escape directive)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lamina.build.builder import containers
from lamina.build.executor import BuildOptions, BuildResult, build
from lamina.build.executor_stage import opened_image
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
