"""Deep trees for the tests of issue 12 (defect 3): tars generated with tarfile, and the
`lamina` command run as users run it, under the common open-file limit of 1024."""

from __future__ import annotations

import contextlib
import io
import os
import resource
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from lamina.content.fstree import remove_tree

NOFILE = 1024  # the soft limit most distributions give a session


@pytest.fixture
def clean_tmp(tmp_path: Path) -> Iterator[None]:
    """The test's temp dir is removed at its end, passed or failed: pytest's own clean-up of
    old temp dirs is shutil.rmtree, which cannot remove a deep tree (left alone while a
    mount under it remains: the build tests' conftest reports that)."""
    yield
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        if any(line.split(" ")[4].startswith(str(tmp_path)) for line in f):
            return
    with contextlib.suppress(OSError):
        remove_tree(tmp_path)


def deep_name(depth: int, leaf: str = "f") -> str:
    return "/".join(["d"] * depth) + f"/{leaf}"


def deep_tar(path: Path, depth: int, *, list_dirs: bool = True, body: bytes = b"deep\n") -> Path:
    """A tar whose file `d/d/.../d/f` is `depth` directories deep; with `list_dirs` every
    directory has its own entry (as packed trees do), else only the leaf is listed."""
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        if list_dirs:
            name = ""
            for _ in range(depth):
                name = f"{name}/d" if name else "d"
                info = tarfile.TarInfo(name)
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
        info = tarfile.TarInfo(deep_name(depth))
        info.size, info.mode = len(body), 0o644
        tar.addfile(info, io.BytesIO(body))
    return path


def long_name_tar(path: Path, length: int = 5000) -> Path:
    """A tar holding a file whose one name is `length` characters."""
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("ok.txt")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"ok\n"))
        info = tarfile.TarInfo("x" * length)
        info.size = 3
        tar.addfile(info, io.BytesIO(b"xx\n"))
    return path


def _limit_files() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (NOFILE, hard))


def lamina(root: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """`lamina --root ROOT ARGS...` in a child process limited to NOFILE open files."""
    env = dict(os.environ)
    env.pop("LAMINA_ROOT", None)
    return subprocess.run(
        [sys.executable, "-m", "lamina", "--root", str(root), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        preexec_fn=_limit_files,
        timeout=300,
        check=False,
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    return result.stdout


def refused(result: subprocess.CompletedProcess[str], *needles: str) -> str:
    """Exit 2 with a one-line error naming what it must (no traceback)."""
    assert result.returncode == 2, (result.returncode, result.stderr[-3000:])
    assert "Traceback" not in result.stderr and "RecursionError" not in result.stderr
    first = result.stderr.splitlines()[0]
    assert first.startswith("error[INVALID_INPUT]"), first[:500]
    for needle in needles:
        assert needle in first, (needle, first[:500])
    return first
