"""`lamina load` of broken archives: one line on stderr naming what is wrong, a non-zero
exit code, and the store exactly as before (listing and blob set)."""

from __future__ import annotations

import json
import shutil
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.cli.conftest import Run

pytestmark = pytest.mark.skipif(not Path("/bin/busybox").exists(), reason="busybox-static")


def _blobs(root: Path) -> set[str]:
    return {p.name for p in (root / "blobs").rglob("*") if p.is_file()}


def _layout(tmp: Path, lamina: Run) -> Path:
    """An OCI layout holding the imported test image, and its manifest path."""
    src = tmp / "tree"
    (src / "etc").mkdir(parents=True)
    (src / "etc" / "motd").write_text("hello\n")
    assert lamina("import", str(src), "localhost/victim:1").code == 0
    out = tmp / "layout"
    assert lamina("save", "--format", "oci-dir", "-o", str(out), "localhost/victim:1").code == 0
    assert lamina("rmi", "localhost/victim:1").code == 0
    return out


def _manifest_path(layout: Path) -> Path:
    index = json.loads((layout / "index.json").read_text())
    digest = str(index["manifests"][0]["digest"]).split(":")[1]
    return layout / "blobs" / "sha256" / digest


def _rewrite_manifest(layout: Path, edit: Callable[[dict[str, object]], None]) -> None:
    """Edit the manifest JSON and re-point index.json at the new bytes (a valid chain)."""
    import hashlib

    old = _manifest_path(layout)
    manifest = json.loads(old.read_text())
    edit(manifest)
    raw = json.dumps(manifest).encode()
    digest = hashlib.sha256(raw).hexdigest()
    (layout / "blobs" / "sha256" / digest).write_bytes(raw)
    index = json.loads((layout / "index.json").read_text())
    index["manifests"][0]["digest"] = f"sha256:{digest}"
    index["manifests"][0]["size"] = len(raw)
    (layout / "index.json").write_text(json.dumps(index))


def _corrupt_layer(layout: Path) -> None:
    manifest = json.loads(_manifest_path(layout).read_text())
    layer = manifest["layers"][0]["digest"].split(":")[1]
    path = layout / "blobs" / "sha256" / layer
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _remove_layer(layout: Path) -> None:
    manifest = json.loads(_manifest_path(layout).read_text())
    (layout / "blobs" / "sha256" / manifest["layers"][0]["digest"].split(":")[1]).unlink()


def _unknown_media_type(layout: Path) -> None:
    def edit(m: dict[str, object]) -> None:
        m["mediaType"] = "application/vnd.example.unknown+json"

    _rewrite_manifest(layout, edit)


def _invalid_json(layout: Path) -> None:
    path = _manifest_path(layout)
    raw = b'{"schemaVersion": 2, "config": '
    import hashlib

    digest = hashlib.sha256(raw).hexdigest()
    (layout / "blobs" / "sha256" / digest).write_bytes(raw)
    index = json.loads((layout / "index.json").read_text())
    index["manifests"][0]["digest"] = f"sha256:{digest}"
    index["manifests"][0]["size"] = len(raw)
    (layout / "index.json").write_text(json.dumps(index))
    path.unlink()


def _bad_digest_field(layout: Path) -> None:
    def edit(m: dict[str, object]) -> None:
        layers = m["layers"]
        assert isinstance(layers, list)
        layers[0]["digest"] = "sha256:xyz"

    _rewrite_manifest(layout, edit)


CASES: dict[str, tuple[Callable[[Path], None], str]] = {
    "blob bytes do not match digest": (_corrupt_layer, "digest"),
    "manifest names a missing blob": (_remove_layer, "is missing"),
    "unknown media type": (_unknown_media_type, "application/vnd.example.unknown+json"),
    "invalid manifest JSON": (_invalid_json, "invalid JSON"),
    "malformed digest in manifest": (_bad_digest_field, "digest"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_broken_layout(lamina: Run, tmp_path: Path, store_root: Path, case: str) -> None:
    lamina("base")
    layout = _layout(tmp_path, lamina)
    breaker, needle = CASES[case]
    breaker(layout)
    before = (lamina("images", "--format", "json").out, _blobs(store_root))
    r = lamina("load", "-i", str(layout))
    assert r.code != 0, r.out
    lines = [line for line in r.err.splitlines() if not line.startswith("  hint:")]
    assert len(lines) == 1, r.err
    assert lines[0].startswith("error["), r.err
    assert needle in lines[0], r.err
    assert (lamina("images", "--format", "json").out, _blobs(store_root)) == before


def test_truncated_archive(lamina: Run, tmp_path: Path, store_root: Path) -> None:
    lamina("base")
    archive = tmp_path / "full.tar"
    assert lamina("save", "--format", "oci-archive", "-o", str(archive), "busybox").code == 0
    cut = tmp_path / "cut.tar"
    data = archive.read_bytes()
    cut.write_bytes(data[: len(data) * 2 // 3])
    lamina("rmi", "-a")
    before = (lamina("images", "--format", "json").out, _blobs(store_root))
    r = lamina("load", "-i", str(cut))
    assert r.code != 0
    assert r.err.startswith("error[") and "cut.tar" in r.err, r.err
    assert (lamina("images", "--format", "json").out, _blobs(store_root)) == before


def test_docker_archive_with_corrupt_layer(lamina: Run, tmp_path: Path, store_root: Path) -> None:
    lamina("base")
    archive = tmp_path / "d.tar"
    assert lamina("save", "--format", "docker-archive", "-o", str(archive), "busybox").code == 0
    work = tmp_path / "x"
    with tarfile.open(archive) as tar:
        tar.extractall(work, filter="tar")
    manifest = json.loads((work / "manifest.json").read_text())
    layer = work / manifest[0]["Layers"][0]
    data = bytearray(layer.read_bytes())
    data[600] ^= 0x01  # inside the first file's content
    layer.write_bytes(bytes(data))
    broken = tmp_path / "broken.tar"
    with tarfile.open(broken, "w") as tar:
        for p in sorted(work.rglob("*")):
            tar.add(p, arcname=str(p.relative_to(work)), recursive=False)
    lamina("rmi", "-a")
    before = (lamina("images", "--format", "json").out, _blobs(store_root))
    r = lamina("load", "-i", str(broken))
    assert r.code != 0
    assert r.err.startswith("error["), r.err
    assert (lamina("images", "--format", "json").out, _blobs(store_root)) == before
    shutil.rmtree(work)
