"""`lamina build` output a script can use: the last line on stdout is the full image ID
(as podman's), the summary goes to stderr, and a failing RUN makes lamina exit with the
command's own exit code (as buildah does)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from lamina.store import Store

pytestmark = pytest.mark.root


def lamina(store: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LAMINA_ROOT": str(store), "SOURCE_DATE_EPOCH": "1700000000"}
    return subprocess.run(
        [sys.executable, "-m", "lamina", *argv],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("outstore") / "store"
    assert lamina(path, "base").returncode == 0
    return path


def _ctx(tmp_path: Path, text: str) -> Path:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Containerfile").write_text(text)
    return ctx


def test_last_stdout_line_is_the_full_image_id_and_the_summary_is_on_stderr(
    store: Path, tmp_path: Path
) -> None:
    ctx = _ctx(tmp_path, "FROM localhost/busybox\nRUN echo step-output\n")
    proc = lamina(store, "build", "--network", "none", "-t", "localhost/out:1", str(ctx))
    assert proc.returncode == 0, proc.stderr
    with Store.open(store) as s:
        image_id = s.lookup("localhost/out:1").id
    assert len(image_id) == 64
    assert proc.stdout.splitlines()[-1] == image_id
    assert "step-output" in proc.stdout
    assert "Built " in proc.stderr and "Built " not in proc.stdout
    quiet = lamina(store, "build", "-q", "--network", "none", str(ctx))
    assert quiet.stdout == f"{image_id}\n"


@pytest.mark.parametrize(("script", "code"), [("exit 7", 7), ("exit 255", 255)])
def test_a_failing_run_exits_with_the_commands_code(
    store: Path, tmp_path: Path, script: str, code: int
) -> None:
    ctx = _ctx(tmp_path, f"FROM localhost/busybox\nRUN {script}\n")
    proc = lamina(store, "build", "--network", "none", str(ctx))
    assert proc.returncode == code, proc.stderr
    assert f"the command exited with code {code}" in proc.stderr
