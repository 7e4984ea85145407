"""lamina build features buildah 1.28 cannot be compared on: RUN bind mounts of the context
honour the ignore file; `--jobs 2` runs independent stages at once with the same result as
`--jobs 1`; COPY --exclude / --parents / heredoc edge cases."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from lamina.building.builder import containers
from lamina.building.executor import BuildOptions, build
from lamina.building.executor_stage import opened_image
from lamina.errors import LaminaError
from lamina.ops.base import make_busybox
from lamina.store import Store
from tests.building.trees import tree

pytestmark = pytest.mark.root
BASE = "localhost/busybox:latest"


def _store(path: Path) -> Store:
    """A store with the base image, dated alike in every store (`lamina base` dates it now
    otherwise), so that builds in two stores can be compared."""
    s = Store.open(path)
    make_busybox(s, BASE, source_date_epoch=0)
    return s


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = _store(tmp_path / "store")
    yield s
    assert containers(s) == [], "a build left working containers behind"
    s.close()


def _ctx(tmp_path: Path, containerfile: str, files: dict[str, str]) -> Path:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Containerfile").write_text(containerfile)
    for name, body in files.items():
        (ctx / name).parent.mkdir(parents=True, exist_ok=True)
        (ctx / name).write_text(body)
    return ctx


def _file(store: Store, image_id: str, path: str) -> str:
    with opened_image(store, image_id) as (root, _):
        return (root / path.lstrip("/")).read_text()


def test_bind_mount_of_context_honours_ignore_file(store: Store, tmp_path: Path) -> None:
    ctx = _ctx(
        tmp_path,
        "FROM localhost/busybox:latest\n"
        "RUN --mount=type=bind,target=/ctx cd /ctx && find . | sort > /listing\n"
        "RUN --mount=type=bind,source=src,target=/src,rw "
        "echo scribble > /src/new && find /src | sort > /src-listing\n",
        {
            "src/app.py": "print()\n",
            "src/debug.log": "noise\n",
            "src/keep.log": "kept\n",
            "secret.txt": "s3cret\n",
            ".containerignore": "secret.txt\n**/*.log\n!src/keep.log\n",
        },
    )
    result = build(store, ctx, BuildOptions(timestamp=0))
    listing = _file(store, result.image.id, "/listing").split()
    assert "./secret.txt" not in listing and "./src/debug.log" not in listing
    assert {"./src/app.py", "./src/keep.log", "./Containerfile"} <= set(listing)
    src = _file(store, result.image.id, "/src-listing").split()
    assert src == ["/src", "/src/app.py", "/src/keep.log", "/src/new"]
    assert not (ctx / "src" / "new").exists(), "an rw bind wrote into the context"
    assert (ctx / "src" / "debug.log").read_text() == "noise\n"


JOBS = """\
FROM localhost/busybox:latest AS a
RUN --mount=type=cache,id=sync,target=/sync touch /sync/a; \\
    i=0; while [ ! -e /sync/b ] && [ $i -lt 40 ]; do sleep 0.1; i=$((i+1)); done; \\
    [ -e /sync/b ] && echo "A-SAW""-B"; echo made-by-a > /a.txt

FROM localhost/busybox:latest AS b
RUN --mount=type=cache,id=sync,target=/sync touch /sync/b; \\
    i=0; while [ ! -e /sync/a ] && [ $i -lt 40 ]; do sleep 0.1; i=$((i+1)); done; \\
    [ -e /sync/a ] && echo "B-SAW""-A"; echo made-by-b > /b.txt

FROM localhost/busybox:latest
COPY --from=a /a.txt /
COPY --from=b /b.txt /
"""


def test_jobs_2_builds_independent_stages_at_once_same_result(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path, JOBS, {})
    results = {}
    logs = {}
    for jobs in (1, 2):
        s = _store(tmp_path / f"store{jobs}")
        try:
            out = io.StringIO()
            got = build(s, ctx, BuildOptions(jobs=jobs, timestamp=0), stream=out)
            results[jobs] = (got.image.id, tree(_root_copy(s, got.image.id, tmp_path / str(jobs))))
            logs[jobs] = out.getvalue()
            assert containers(s) == []
        finally:
            s.close()
    # with two jobs each stage saw the other's marker while it was running
    saw = {j: {ln.strip() for ln in log.splitlines() if "-SAW-" in ln} for j, log in logs.items()}
    assert saw[2] == {"A-SAW-B", "B-SAW-A"}
    assert saw[1] != {"A-SAW-B", "B-SAW-A"}
    assert results[1] == results[2]


def _root_copy(store: Store, image_id: str, into: Path) -> Path:
    import shutil

    with opened_image(store, image_id) as (root, _):
        shutil.copytree(root, into, symlinks=True)
    return into


def test_copy_exclude_everything_is_an_error(store: Store, tmp_path: Path) -> None:
    ctx = _ctx(
        tmp_path,
        "FROM localhost/busybox:latest\nCOPY --exclude=*.txt *.txt /d/\n",
        {"a.txt": "a\n"},
    )
    with pytest.raises(LaminaError, match="excluded"):
        build(store, ctx, BuildOptions())


def test_copy_heredoc_cache_follows_content(store: Store, tmp_path: Path) -> None:
    text = "FROM localhost/busybox:latest\nARG V=1\nCOPY <<EOF /v.txt\nv=$V\nEOF\n"
    ctx = _ctx(tmp_path, text, {})
    one = build(store, ctx, BuildOptions())
    again = build(store, ctx, BuildOptions())
    two = build(store, ctx, BuildOptions(build_args=["V=2"]))
    assert one.image.id == again.image.id and again.cached == again.steps - 1
    assert _file(store, one.image.id, "/v.txt") == "v=1\n"
    assert _file(store, two.image.id, "/v.txt") == "v=2\n"
