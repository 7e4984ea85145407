"""Issue 12, defect 3: one deep layer must not break the store.

Through the `lamina` command as users run it (open files limited to 1,024): a 1,100-deep
layer imports, pulls (from an OCI layout), mounts, and its image, container and snapshot are
removed by `rm`, `rmi` and `image prune`, after which every other image still removes. A
10,000-deep path (over PATH_MAX) or a 5,000-character name (over NAME_MAX) is refused with
exit 2 naming the entry: at import (as `podman import` refuses it), or, for a pulled image
(pull does not unpack), at `mount`; the store stays usable either way.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from lamina import media_types as mt
from lamina.content.blobstore import BlobStore
from lamina.digest import Digest
from lamina.image import mutate
from lamina.oci import Descriptor
from lamina.platform import Platform
from tests.content.deep import (
    clean_tmp,  # noqa: F401  (a fixture, by name)
    deep_name,
    deep_tar,
    lamina,
    long_name_tar,
    ok,
    refused,
)
from tests.transports.registry.images import write_oci_layout

pytestmark = [pytest.mark.root, pytest.mark.usefixtures("clean_tmp")]  # mounts overlayfs

DEPTH = 1100
TOO_DEEP = 10_000


@pytest.fixture(autouse=True)
def _root_only() -> None:
    if os.geteuid() != 0:
        pytest.skip("mounting a working container's root needs root")


def _leftovers(root: Path) -> list[str]:
    """What the store still holds on disk of images and containers."""
    found = [f"snapshots/{n}" for n in os.listdir(root / "snapshots")]
    if (root / "containers").is_dir():
        found += [f"containers/{n}" for n in os.listdir(root / "containers") if n != ".lock"]
    return found


def _small_tar(path: Path) -> Path:
    with tarfile.open(path, "w") as tar:
        info = tarfile.TarInfo("hello.txt")
        info.size = 6
        tar.addfile(info, io.BytesIO(b"hello\n"))
    return path


def _mount(root: Path, name: str) -> Path:
    return Path(ok(lamina(root, "mount", name)).strip())


def test_a_1100_deep_import_mounts_and_removes(tmp_path: Path) -> None:
    root = tmp_path / "store"
    ok(lamina(root, "import", str(deep_tar(tmp_path / "deep.tar", DEPTH)), "deep:1"))
    ok(lamina(root, "import", str(_small_tar(tmp_path / "small.tar")), "other:1"))
    ok(lamina(root, "from", "--name", "c1", "deep:1"))
    assert (_mount(root, "c1") / deep_name(DEPTH)).read_bytes() == b"deep\n"
    ok(lamina(root, "from", "--name", "c2", "other:1"))
    _mount(root, "c2")
    ok(lamina(root, "rm", "c1"))
    ok(lamina(root, "export", "-o", str(tmp_path / "flat.tar"), "deep:1"))
    with tarfile.open(tmp_path / "flat.tar") as tar:
        assert tar.getmember(deep_name(DEPTH)).size == len(b"deep\n")
    ok(lamina(root, "rmi", "deep:1"))  # sweeps the deep snapshot
    ok(lamina(root, "rm", "--all"))
    ok(lamina(root, "rmi", "other:1"))  # every other image still removes
    ok(lamina(root, "import", str(_small_tar(tmp_path / "small.tar")), "third:1"))
    ok(lamina(root, "image", "prune", "--all"))
    assert ok(lamina(root, "images", "-q")).split() == []
    assert _leftovers(root) == []


def test_too_deep_or_too_long_is_refused_at_import(tmp_path: Path) -> None:
    root = tmp_path / "store"
    deep = deep_tar(tmp_path / "deep.tar", TOO_DEEP, list_dirs=False)
    refused(lamina(root, "import", str(deep), "deep:2"), "deep.tar", "'d/d/d/d", "PATH_MAX")
    long = long_name_tar(tmp_path / "long.tar")
    refused(lamina(root, "import", str(long), "long:1"), "long.tar", "'xxxxxxx", "NAME_MAX")
    assert ok(lamina(root, "images", "-q")).split() == []
    assert list(BlobStore(root)) == []


def _layout(tmp_path: Path, name: str, tar: Path) -> Path:
    """An OCI layout holding a one-layer image of `tar` (gzip), tag v1."""
    blobs = BlobStore(tmp_path / f"{name}-blobs")
    raw = tar.read_bytes()
    gz = gzip.compress(raw, compresslevel=1)
    desc = Descriptor(media_type=mt.OCI_LAYER_GZIP, digest=blobs.put_bytes(gz), size=len(gz))
    layer = mutate.StoreLayer(desc, Digest("sha256", hashlib.sha256(raw).hexdigest()), blobs)
    base = mutate.empty_image(Platform(os="linux", architecture="amd64"))
    img = mutate.append_layers(base, [mutate.Addendum(layer)])
    write_oci_layout(img, tmp_path / name, "v1")
    return tmp_path / name


def test_pulled_deep_layers(tmp_path: Path) -> None:
    root = tmp_path / "store"
    layouts = {
        "deep": _layout(tmp_path, "deep", deep_tar(tmp_path / "deep.tar", DEPTH)),
        "toodeep": _layout(
            tmp_path, "toodeep", deep_tar(tmp_path / "toodeep.tar", TOO_DEEP, list_dirs=False)
        ),
        "long": _layout(tmp_path, "long", long_name_tar(tmp_path / "long.tar")),
    }
    for name, layout in layouts.items():
        ok(
            lamina(
                root, "copy", "--insecure-policy", f"oci:{layout}:v1", f"lamina:localhost/{name}:1"
            )
        )
        ok(lamina(root, "from", "--name", name, f"localhost/{name}:1"))
    assert (_mount(root, "deep") / deep_name(DEPTH)).read_bytes() == b"deep\n"
    refused(lamina(root, "mount", "toodeep"), "'d/d/d/d", "/d/f'", "PATH_MAX")
    refused(lamina(root, "mount", "long"), "'xxxxxxx", "5000 bytes", "NAME_MAX")
    ok(lamina(root, "rm", "--all"))
    assert ok(lamina(root, "containers", "-q")).split() == []
    ok(lamina(root, "rmi", "localhost/long:1"))
    ok(lamina(root, "rmi", "localhost/deep:1"))
    ok(lamina(root, "image", "prune", "--all"))
    assert ok(lamina(root, "images", "-q")).split() == []
    assert _leftovers(root) == []


# -- a full disk (issue 12, defect 10) -----------------------------------------------------


def _random_tar(path: Path, files: int, size: int) -> Path:
    with tarfile.open(path, "w") as tar:
        for i in range(files):
            info = tarfile.TarInfo(f"f{i}")
            info.size = size
            tar.addfile(info, io.BytesIO(os.urandom(size)))
    return path


def _no_space(result: subprocess.CompletedProcess[str], where: Path) -> None:
    """A one-line error naming the full device's path, and a hint saying what to free."""
    assert result.returncode not in (0, 2), result.stderr[-2000:]
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error[")]
    assert len(errors) == 1, result.stderr[-2000:]
    assert "no space left" in errors[0] and str(where) in errors[0], errors[0]
    assert "free space" in result.stderr and "lamina image prune" in result.stderr


def test_a_full_disk_names_the_path_and_what_to_free(tmp_path: Path) -> None:
    disk = tmp_path / "small"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)], check=True)
    try:
        root = disk / "store"
        big = _random_tar(tmp_path / "big.tar", 1, 3_000_000)
        _no_space(lamina(root, "import", str(big), "big:1"), root)
        layout = f"oci:{_layout(tmp_path, 'big', big)}:v1"
        _no_space(lamina(root, "copy", "--insecure-policy", layout, "lamina:big:2"), root)
        # Fits as a compressed blob (gzip of text), not once extracted beside it.
        text = tmp_path / "text.tar"
        with tarfile.open(text, "w") as tar:
            for i in range(3):
                body = (f"line {i}\n" * 100_000).encode()
                info = tarfile.TarInfo(f"t{i}")
                info.size = len(body)
                tar.addfile(info, io.BytesIO(body))
        ok(lamina(root, "import", str(text), "text:1"))
        ok(lamina(root, "from", "--name", "c", "text:1"))
        _no_space(lamina(root, "mount", "c"), root / "snapshots")
        ok(lamina(root, "rm", "--all"))
        ok(lamina(root, "rmi", "text:1"))
        assert _leftovers(root) == []
    finally:
        subprocess.run(["umount", str(disk)], check=True)
