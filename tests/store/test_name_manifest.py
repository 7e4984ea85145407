"""A name keeps the manifest it was given: loading another archive with the same image
(same config, so the same image ID) but differently compressed layers adds a manifest to the
entry; `save`/`push` of the first name still write the first manifest's bytes, and the
entry's RepoDigests list every manifest for every repository (as containers-storage)."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from lamina.copy.parallel import CopyOptions
from lamina.ops.copying import CopyRequest, copy
from lamina.ops.images import inspect
from lamina.ops.saveload import load_images, save_images
from lamina.store import Store
from tests.ops.images import image_layout

ZSTD = CopyRequest(copy=CopyOptions(compression="zstd"))


def _two_manifests(tmp_path: Path) -> tuple[Store, str, str]:
    """A store where `localhost/busybox:latest` came first (gzip layers) and
    `localhost/other:1` was then loaded: the same image, zstd layers. (first, second)
    manifest digests."""
    layout, img = image_layout(tmp_path, "src", seed=401)
    store = Store.open(tmp_path / "store")
    first = copy(f"oci:{layout}:v1", "lamina:localhost/busybox:latest", store)
    assert first == img.digest()
    other = tmp_path / "other"
    copy(f"oci:{layout}:v1", f"oci:{other}:localhost/other:1", None, ZSTD)
    assert load_images(store, other) == ["Loaded image: localhost/other:1"]
    second = store.lookup("localhost/other:1").manifest_digest
    assert second != first
    assert store.lookup("localhost/other:1").id == store.lookup("busybox").id
    return store, str(first), str(second)


@pytest.mark.parametrize("fmt", ["oci-dir", "oci-archive"])
def test_save_keeps_each_names_manifest(tmp_path: Path, fmt: str) -> None:
    store, first, second = _two_manifests(tmp_path)
    assert str(store.lookup("localhost/busybox:latest").manifest_digest) == first
    assert str(store.lookup("busybox").manifest_digest) == first
    out = tmp_path / "saved"
    save_images(store, ["busybox"], out, fmt)
    back = Store.open(tmp_path / "back")
    load_images(back, out)
    assert str(back.lookup("localhost/busybox:latest").manifest_digest) == first
    out2 = tmp_path / "saved2"
    save_images(store, ["localhost/other:1"], out2, fmt)
    load_images(back, out2)
    assert str(back.lookup("localhost/other:1").manifest_digest) == second


def test_tag_and_push_keep_the_names_manifest(tmp_path: Path) -> None:
    store, first, second = _two_manifests(tmp_path)
    store.tag("localhost/busybox:latest", "localhost/copy:1")
    assert str(store.lookup("localhost/copy:1").manifest_digest) == first
    store.tag("localhost/other:1", "localhost/copy:2")
    assert str(store.lookup("localhost/copy:2").manifest_digest) == second
    assert str(store.lookup(f"localhost/busybox@{second}").manifest_digest) == second
    pushed = copy("lamina:localhost/busybox:latest", f"oci:{tmp_path / 'pushed'}:x", store)
    assert str(pushed) == first


def test_repo_digests_list_every_manifest(tmp_path: Path) -> None:
    store, first, second = _two_manifests(tmp_path)
    expected = {f"localhost/{repo}@{d}" for repo in ("busybox", "other") for d in (first, second)}
    assert set(store.lookup("busybox").repo_digests) == expected
    shown = inspect(store, "localhost/busybox:latest")
    assert sorted(shown["RepoDigests"]) == sorted(expected)
    assert shown["Digest"] == first


@pytest.mark.interop
def test_skopeo_reads_the_first_manifest_back(tmp_path: Path) -> None:
    store, first, _ = _two_manifests(tmp_path)
    out = tmp_path / "saved.tar"
    save_images(store, ["localhost/busybox:latest"], out, "oci-archive")
    raw = subprocess.run(
        ["skopeo", "inspect", "--raw", f"oci-archive:{out}:localhost/busybox:latest"],
        check=True, capture_output=True, timeout=60,
    ).stdout  # fmt: skip
    assert f"sha256:{hashlib.sha256(raw).hexdigest()}" == first


@pytest.mark.interop
def test_repo_digests_match_podmans(tmp_path: Path) -> None:
    store, first, _ = _two_manifests(tmp_path)
    ours = store.lookup("busybox").repo_digests
    runroot = Path(tempfile.mkdtemp(prefix="lrun", dir="/tmp"))  # podman wants <= 50 chars
    podman = ["podman", "--root", str(tmp_path / "proot"), "--runroot", str(runroot),
              "--storage-driver", "vfs"]  # fmt: skip
    try:
        for name, out in (("localhost/busybox:latest", "a.tar"), ("localhost/other:1", "b.tar")):
            save_images(store, [name], tmp_path / out, "oci-archive")
            subprocess.run(
                [*podman, "load", "-q", "-i", str(tmp_path / out)],
                check=True, capture_output=True, timeout=120,
            )  # fmt: skip
        shown = subprocess.run(
            [*podman, "image", "inspect", "localhost/busybox:latest"],
            check=True, capture_output=True, timeout=60,
        ).stdout  # fmt: skip
    finally:
        shutil.rmtree(runroot, ignore_errors=True)
    theirs = json.loads(shown)[0]
    assert sorted(theirs["RepoDigests"]) == sorted(ours)
    assert theirs["Digest"] == first
