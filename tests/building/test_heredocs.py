"""RUN and COPY heredocs as BuildKit runs them (moby/buildkit dockerfile2llb dispatchRun):
a RUN whose command is one marker runs the body as its script (a `#!` body as an
executable file); any other RUN hands the line plus the bodies to the shell, which feeds
each body to its command. COPY heredocs expand variables but keep quotes, mode 0644."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from lamina.building.builder import containers
from lamina.building.executor import BuildOptions, build
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


def _build(store: Store, tmp_path: Path, text: str, **opts: object) -> str:
    ctx = tmp_path / "ctx"
    ctx.mkdir(exist_ok=True)
    (ctx / "Containerfile").write_text(text)
    return build(store, ctx, BuildOptions(timestamp=0, **opts)).image.id  # type: ignore[arg-type]


def _files(store: Store, image_id: str, *paths: str) -> dict[str, str]:
    with opened_image(store, image_id) as (root, _):
        return {p: (root / p.lstrip("/")).read_text() for p in paths}


def test_run_feeds_each_body_to_its_command(store: Store, tmp_path: Path) -> None:
    text = (
        f"FROM {BASE}\n"
        "ENV NAME=world\n"
        "RUN cat <<EOF > /before\n"
        "hello $NAME\n"
        "EOF\n"
        "RUN cat > /after <<EOF\n"
        "after\n"
        "EOF\n"
        "RUN cat <<A > /a && cat <<'B' > /b\n"
        "first $NAME\n"
        "A\n"
        "second $NAME\n"
        "B\n"
        "RUN cat <<-EOF > /chomped\n"
        "\t\ttabbed\n"
        "\tEOF\n"
        "RUN <<EOF cat > /leading\n"
        "leading\n"
        "EOF\n"
    )
    got = _files(
        store,
        _build(store, tmp_path, text),
        "/before",
        "/after",
        "/a",
        "/b",
        "/chomped",
        "/leading",
    )
    assert got == {
        "/before": "hello world\n",
        "/after": "after\n",
        "/a": "first world\n",
        "/b": "second $NAME\n",
        "/chomped": "tabbed\n",
        "/leading": "leading\n",
    }


def test_run_heredoc_with_interpreter_line_runs_as_a_file(store: Store, tmp_path: Path) -> None:
    text = (
        f"FROM {BASE}\n"
        "RUN <<EOF\n"
        "#!/usr/bin/awk -f\n"
        'BEGIN { print "from awk" > "/out" }\n'
        "EOF\n"
        "RUN <<EOF\n"
        "echo from sh > /sh-out\n"
        "EOF\n"
    )
    image = _build(store, tmp_path, text)
    assert _files(store, image, "/out", "/sh-out") == {
        "/out": "from awk\n",
        "/sh-out": "from sh\n",
    }
    with opened_image(store, image) as (root, _):
        assert not (root / "dev" / "pipes").exists() or not os.listdir(root / "dev" / "pipes")


def test_run_heredoc_with_a_blank_after_the_marker(store: Store, tmp_path: Path) -> None:
    text = f"FROM {BASE}\nRUN << EOF\necho spaced > /spaced\nEOF\nRUN cat << EOF > /fed\nfed\nEOF\n"
    got = _files(store, _build(store, tmp_path, text), "/spaced", "/fed")
    assert got == {"/spaced": "spaced\n", "/fed": "fed\n"}


def test_copy_heredoc_expands_variables_and_keeps_quotes(store: Store, tmp_path: Path) -> None:
    text = (
        f"FROM {BASE}\n"
        "ARG NAME=lamina\n"
        "COPY <<EOF /app.json\n"
        '{"name": "$NAME", \'single\': ${NAME}}\n'
        "it's $NAME \\$NAME\n"
        "EOF\n"
    )
    image = _build(store, tmp_path, text)
    with opened_image(store, image) as (root, _):
        path = root / "app.json"
        assert path.read_text() == '{"name": "lamina", \'single\': lamina}\nit\'s lamina $NAME\n'
        assert path.stat().st_mode & 0o7777 == 0o644


def test_chroot_isolation_mounts_under_dev(store: Store, tmp_path: Path) -> None:
    """Mount targets under /dev (a `#!` heredoc's /dev/pipes/NAME, a secret's target) are
    made in the run's own /dev, under chroot isolation as under runc."""
    (tmp_path / "tok").write_text("s3cret\n")
    text = (
        f"FROM {BASE}\n"
        "RUN <<EOF\n"
        "#!/usr/bin/awk -f\n"
        'BEGIN { print "from awk" > "/out" }\n'
        "EOF\n"
        "RUN --mount=type=secret,id=tok,target=/dev/x wc -c < /dev/x > /len\n"
    )
    image = _build(
        store, tmp_path, text, isolation="chroot", secrets=[f"id=tok,src={tmp_path / 'tok'}"]
    )
    assert _files(store, image, "/out", "/len") == {"/out": "from awk\n", "/len": "7\n"}
    with opened_image(store, image) as (root, _):
        assert not (root / "dev" / "pipes").exists() or not os.listdir(root / "dev" / "pipes")
        assert not (root / "dev" / "x").exists()
