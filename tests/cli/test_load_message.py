"""`lamina load` of an image without a name (an untagged docker-archive, a docker-dir as
podman writes them) prints the image ID as podman does (`Loaded image: sha256:<ID>`), a
name `inspect` finds; not the manifest digest."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from lamina.ops.copying import copy
from tests.cli.conftest import Run
from tests.ops.images import image_layout


def _untagged(tmp_path: Path, kind: str) -> tuple[Path, str]:
    """An image without a name as `kind` (docker-archive or dir); (path, image ID)."""
    layout, img = image_layout(tmp_path, "src", seed=501)
    out = tmp_path / ("untagged.tar" if kind == "docker-archive" else "untagged")
    copy(f"oci:{layout}:v1", f"{kind}:{out}", None)
    return out, img.manifest().config.digest.hex


@pytest.mark.parametrize("kind", ["docker-archive", "dir"])
def test_load_untagged_prints_the_image_id(lamina: Run, tmp_path: Path, kind: str) -> None:
    path, image_id = _untagged(tmp_path, kind)
    r = lamina("load", "-i", str(path))
    assert r.code == 0, r.err
    assert r.out.splitlines() == [f"Loaded image: sha256:{image_id}"]
    shown = lamina("inspect", "--format", "{{.Id}}", r.out.split()[-1])
    assert shown.code == 0, shown.err
    assert shown.out.strip() == image_id


@pytest.mark.interop
def test_podman_prints_the_same_line(lamina: Run, tmp_path: Path) -> None:
    path, _ = _untagged(tmp_path, "docker-archive")
    ours = lamina("load", "-i", str(path)).out.strip()
    runroot = Path(tempfile.mkdtemp(prefix="lrun", dir="/tmp"))  # podman wants <= 50 chars
    try:
        theirs = subprocess.run(
            ["podman", "--root", str(tmp_path / "proot"), "--runroot", str(runroot),
             "--storage-driver", "vfs", "load", "-q", "-i", str(path)],
            check=True, capture_output=True, text=True, timeout=120,
        ).stdout.strip()  # fmt: skip
    finally:
        shutil.rmtree(runroot, ignore_errors=True)
    assert ours == theirs
