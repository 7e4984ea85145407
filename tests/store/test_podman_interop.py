"""lamina's store agrees with podman on image ID and SIZE for the same image."""

from __future__ import annotations

import io
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import BinaryIO

import pytest

from lamina.image.model import BlobSourceImage
from lamina.oci import Descriptor
from lamina.store import Store

pytestmark = [
    pytest.mark.interop,
    pytest.mark.skipif(
        shutil.which("podman") is None or shutil.which("skopeo") is None,
        reason="needs podman and skopeo",
    ),
]


class DirSource:
    """Blobs of a skopeo `dir:` copy (one file per blob, named by hex)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def open_blob(self, desc: Descriptor) -> BinaryIO:
        return open(self.root / desc.digest.hex, "rb")


def test_size_and_id_match_podman(tmp_path: Path) -> None:
    tar_path = tmp_path / "rootfs.tar"
    with tarfile.open(tar_path, "w") as tar:
        for i in range(3):
            data = bytes(range(256)) * (400 * (i + 1))
            info = tarfile.TarInfo(f"data/f{i}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    root = tmp_path / "proot"
    runroot = Path(tempfile.mkdtemp(prefix="lrun", dir="/tmp"))  # podman wants <= 50 chars
    try:
        _compare(tmp_path, tar_path, root, runroot)
    finally:
        shutil.rmtree(runroot, ignore_errors=True)


def _compare(tmp_path: Path, tar_path: Path, root: Path, runroot: Path) -> None:
    podman = ["podman", "--root", str(root), "--runroot", str(runroot), "--storage-driver", "vfs"]
    name = "localhost/sizecheck:latest"
    subprocess.run([*podman, "import", "-q", str(tar_path), name], check=True, capture_output=True)
    out = subprocess.run(
        [*podman, "image", "inspect", "--format", "{{.Id}} {{.Size}}", name],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    podman_id, podman_size = out[0], int(out[1])
    copied = tmp_path / "dir"
    subprocess.run(
        [
            "skopeo",
            "copy",
            "-q",
            f"containers-storage:[vfs@{root}+{runroot}]{name}",
            f"dir:{copied}",
        ],
        check=True,
        capture_output=True,
    )
    with Store.open(tmp_path / "lamina") as store:
        raw = (copied / "manifest.json").read_bytes()
        s = store.put_image(BlobSourceImage(raw, DirSource(copied)), [name])
        assert s.id == podman_id
        assert s.size == podman_size
