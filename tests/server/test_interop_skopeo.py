"""Real clients against lamina's registry: skopeo copy/list-tags/delete/sync."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.server.client import DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST, Client
from tests.server.layout import make_layout
from tests.server.servers import Server

pytestmark = pytest.mark.interop

NO_TLS = ["--src-tls-verify=false", "--dest-tls-verify=false"]


def skopeo(*args: str) -> str:
    proc = subprocess.run(
        ["skopeo", *args], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, f"skopeo {' '.join(args)}: {proc.stderr}"
    return proc.stdout


def _raw(server: Server, ref: str) -> dict[str, object]:
    out = json.loads(
        skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{server.host}/{ref}")
    )
    assert isinstance(out, dict)
    return out


@pytest.mark.parametrize("fmt", ["oci", "v2s2"])
def test_skopeo_push_and_pull(lamina_server: Server, tmp_path: Path, fmt: str) -> None:
    src = make_layout(tmp_path / "src", "v1", ["amd64"])
    dest = f"{lamina_server.host}/skopeo/{fmt}:v1"
    skopeo("copy", *NO_TLS, "--format", fmt, f"oci:{src}:v1", f"docker://{dest}")
    manifest = _raw(lamina_server, f"skopeo/{fmt}:v1")
    assert manifest["mediaType"] == (OCI_MANIFEST if fmt == "oci" else DOCKER_MANIFEST)
    out = tmp_path / "out"
    skopeo("copy", *NO_TLS, f"docker://{dest}", f"oci:{out}:back")
    index = json.loads((out / "index.json").read_text())
    digest = index["manifests"][0]["digest"]
    pulled = json.loads((out / "blobs" / "sha256" / digest.split(":")[1]).read_bytes())
    original = json.loads((src / "index.json").read_text())["manifests"][0]["digest"]
    src_manifest = json.loads((src / "blobs" / "sha256" / original.split(":")[1]).read_bytes())
    assert [layer["digest"] for layer in pulled["layers"]] == [
        layer["digest"] for layer in src_manifest["layers"]
    ]


def test_skopeo_multi_arch_all(lamina_server: Server, tmp_path: Path) -> None:
    src = make_layout(tmp_path / "src", "multi", ["amd64", "arm64", "s390x"])
    dest = f"docker://{lamina_server.host}/skopeo/multi:v1"
    skopeo("copy", *NO_TLS, "--all", f"oci:{src}:multi", dest)
    index = _raw(lamina_server, "skopeo/multi:v1")
    assert index["mediaType"] == OCI_INDEX
    manifests = index["manifests"]
    assert isinstance(manifests, list) and len(manifests) == 3
    out = tmp_path / "out"
    skopeo("copy", *NO_TLS, "--all", dest, f"oci:{out}:back")
    for m in manifests:
        assert (out / "blobs" / "sha256" / m["digest"].split(":")[1]).is_file()


def test_skopeo_list_tags_and_delete(lamina_server: Server, tmp_path: Path) -> None:
    src = make_layout(tmp_path / "src", "v1", ["amd64"])
    for tag in ("one", "two"):
        skopeo("copy", *NO_TLS, f"oci:{src}:v1", f"docker://{lamina_server.host}/skopeo/tags:{tag}")
    listed = json.loads(
        skopeo("list-tags", "--tls-verify=false", f"docker://{lamina_server.host}/skopeo/tags")
    )
    assert listed["Tags"] == ["one", "two"]
    skopeo("delete", "--tls-verify=false", f"docker://{lamina_server.host}/skopeo/tags:one")
    client = Client(lamina_server.url)
    assert client.request("GET", "/v2/skopeo/tags/manifests/two").status == 404
    assert client.request("GET", "/v2/skopeo/tags/tags/list").status == 200


def test_skopeo_sync_yaml_to_docker(lamina_server: Server, tmp_path: Path) -> None:
    src = make_layout(tmp_path / "src", "v1", ["amd64"])
    skopeo("copy", *NO_TLS, f"oci:{src}:v1", f"docker://{lamina_server.host}/sync/src:v1")
    config = tmp_path / "sync.yml"
    config.write_text(
        f"{lamina_server.host}:\n  tls-verify: false\n  images:\n    sync/src:\n      - v1\n"
    )
    skopeo(
        "sync",
        "--src",
        "yaml",
        "--dest",
        "docker",
        "--dest-tls-verify=false",
        str(config),
        f"{lamina_server.host}/mirror",
    )
    listed = json.loads(
        skopeo("list-tags", "--tls-verify=false", f"docker://{lamina_server.host}/mirror/src")
    )
    assert listed["Tags"] == ["v1"]
