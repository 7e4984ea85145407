"""Writing a Docker-format image to an OCI layout (`copy … oci:` / `oci-archive:`, `save
--format oci-dir|oci-archive`) converts it to OCI media types, as skopeo does: the manifest,
config and layer descriptors get OCI types, the layer and config bytes stay, the manifest
digest changes. `--preserve-digests` refuses that before anything is written. skopeo finds
the image by name and umoci reads it."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from lamina import media_types as mt
from lamina.copy.parallel import CopyOptions
from lamina.digest import Digest
from lamina.errors import InvalidInput
from lamina.ops.copying import CopyRequest, copy
from lamina.ops.saveload import save_images
from lamina.ops.sync import SyncOptions, sync
from lamina.store import Store
from lamina.transports.names import list_images
from tests.ops.images import image_layout, index_layout
from tests.server.servers import Server, start_lamina


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Server]:
    """lamina's registry on a free 127.0.0.1 port."""
    server = start_lamina(tmp_path / "registry")
    yield server
    server.stop()


V2S2 = CopyRequest(copy=CopyOptions(manifest_format="v2s2"))
PRESERVE = CopyRequest(copy=CopyOptions(preserve_digests=True))


def _docker_dir(tmp_path: Path) -> tuple[Path, dict[str, object]]:
    """A Docker schema2 image as `dir:`; (the dir, its manifest)."""
    layout, _ = image_layout(tmp_path, "src", seed=601)
    out = tmp_path / "docker"
    copy(f"oci:{layout}:v1", f"dir:{out}", None, V2S2)
    manifest = json.loads((out / "manifest.json").read_bytes())
    assert manifest["mediaType"] == mt.DOCKER_MANIFEST
    assert [la["mediaType"] for la in manifest["layers"]] == [mt.DOCKER_LAYER_GZIP]
    return out, manifest


def _written(location: str) -> tuple[bytes, dict[str, object]]:
    """The manifest stored at an oci:/oci-archive: location, as skopeo reads it."""
    raw = subprocess.run(
        ["skopeo", "inspect", "--raw", location], check=True, capture_output=True, timeout=60
    ).stdout
    return raw, json.loads(raw)


def _check_converted(docker: dict[str, object], oci: dict[str, object]) -> None:
    assert oci["mediaType"] == mt.OCI_MANIFEST
    config, layers = oci["config"], oci["layers"]
    old_config, old_layers = docker["config"], docker["layers"]
    assert isinstance(config, dict) and isinstance(old_config, dict)
    assert isinstance(layers, list) and isinstance(old_layers, list)
    assert config["mediaType"] == mt.OCI_CONFIG
    assert config["digest"] == old_config["digest"]
    assert [la["mediaType"] for la in layers] == [mt.OCI_LAYER_GZIP]
    assert [(la["digest"], la["size"]) for la in layers] == [
        (la["digest"], la["size"]) for la in old_layers
    ]


@pytest.mark.interop
@pytest.mark.parametrize("transport", ["oci", "oci-archive"])
def test_copy_to_a_layout_converts_to_oci(tmp_path: Path, transport: str) -> None:
    src, docker = _docker_dir(tmp_path)
    dest = f"{transport}:{tmp_path / 'out'}:v1"
    digest = copy(f"dir:{src}", dest, None)
    raw, oci = _written(dest)  # skopeo finds it by its name
    assert Digest.of_bytes(raw) == digest
    assert digest != Digest.of_bytes((src / "manifest.json").read_bytes())
    _check_converted(docker, oci)


def test_preserve_digests_refuses_before_writing(tmp_path: Path) -> None:
    src, _ = _docker_dir(tmp_path)
    for transport in ("oci", "oci-archive"):
        out = tmp_path / f"out-{transport}"
        with pytest.raises(InvalidInput, match="preserve-digests"):
            copy(f"dir:{src}", f"{transport}:{out}:v1", None, PRESERVE)
        assert not out.exists()
        assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out")] == []


@pytest.mark.interop
@pytest.mark.parametrize("fmt", ["oci-dir", "oci-archive"])
def test_save_of_a_docker_image_writes_oci(tmp_path: Path, fmt: str) -> None:
    src, docker = _docker_dir(tmp_path)
    store = Store.open(tmp_path / "store")
    copy(f"dir:{src}", "lamina:localhost/dockerish:1", store)
    out = tmp_path / "saved"
    save_images(store, ["localhost/dockerish:1"], out, fmt)
    where = f"{'oci' if fmt == 'oci-dir' else 'oci-archive'}:{out}:localhost/dockerish:1"
    _, oci = _written(where)
    _check_converted(docker, oci)
    assert [names for names, _ in list_images(out)] == [["localhost/dockerish:1"]]


@pytest.mark.interop
def test_umoci_reads_the_converted_layout(tmp_path: Path) -> None:
    src, _ = _docker_dir(tmp_path)
    out = tmp_path / "out"
    copy(f"dir:{src}", f"oci:{out}:v1", None)
    stat = subprocess.run(
        ["umoci", "stat", "--json", "--image", f"{out}:v1"],
        check=False, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert stat.returncode == 0, stat.stderr
    assert json.loads(stat.stdout)["history"]


@pytest.mark.interop
def test_a_docker_manifest_list_becomes_an_oci_index(tmp_path: Path) -> None:
    layout, _, _ = index_layout(tmp_path, "idx", seed=611)
    docker = tmp_path / "docker"
    every = CopyOptions(multi_arch="all")
    copy(
        f"oci:{layout}:v1",
        f"dir:{docker}",
        None,
        CopyRequest(copy=replace(every, manifest_format="v2s2")),
    )
    assert (
        json.loads((docker / "manifest.json").read_bytes())["mediaType"] == mt.DOCKER_MANIFEST_LIST
    )
    out = tmp_path / "out"
    with pytest.raises(InvalidInput, match="preserve-digests"):
        copy(
            f"dir:{docker}",
            f"oci:{out}:v1",
            None,
            CopyRequest(copy=replace(every, preserve_digests=True)),
        )
    assert not out.exists()
    copy(f"dir:{docker}", f"oci:{out}:v1", None, CopyRequest(copy=every))
    _, index = _written(f"oci:{out}:v1")
    assert index["mediaType"] == mt.OCI_INDEX
    children = index["manifests"]
    assert isinstance(children, list) and len(children) == 2
    for child in children:
        assert child["mediaType"] == mt.OCI_MANIFEST
        blob = json.loads((out / "blobs" / "sha256" / child["digest"][7:]).read_bytes())
        assert blob["config"]["mediaType"] == mt.OCI_CONFIG


@pytest.mark.interop
def test_sync_to_oci_converts(registry: Server, tmp_path: Path) -> None:
    src, docker = _docker_dir(tmp_path)
    copy(f"dir:{src}", f"docker://{registry.host}/conv/app:v1", None)
    out = tmp_path / "mirror"
    report = sync(f"{registry.host}/conv/app:v1", str(out), SyncOptions(src="docker", dest="oci"))
    assert len(report.items) == 1 and not report.failed
    _, oci = _written(f"oci:{out / 'app'}:v1")
    _check_converted(docker, oci)


@pytest.mark.interop
def test_podman_pulls_the_converted_layout_by_name(tmp_path: Path) -> None:
    src, docker = _docker_dir(tmp_path)
    out = tmp_path / "out"
    copy(f"dir:{src}", f"oci:{out}:v1", None)
    runroot = Path(tempfile.mkdtemp(prefix="lrun", dir="/tmp"))  # podman wants <= 50 chars
    podman = ["podman", "--root", str(tmp_path / "proot"), "--runroot", str(runroot),
              "--storage-driver", "vfs"]  # fmt: skip
    try:
        pulled = subprocess.run(
            [*podman, "pull", "-q", f"oci:{out}:v1"],
            check=False, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    finally:
        shutil.rmtree(runroot, ignore_errors=True)
    assert pulled.returncode == 0, pulled.stderr
    config = docker["config"]
    assert isinstance(config, dict)
    assert pulled.stdout.strip() == str(config["digest"]).removeprefix("sha256:")
