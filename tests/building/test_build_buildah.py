"""The multi-stage example built by lamina and by `buildah bud`: the same config as
`podman image inspect` shows it. Documented difference: buildah adds the label
io.buildah.version."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from lamina.building.executor import BuildOptions, build
from lamina.ops.base import make_busybox
from lamina.store import Store

pytestmark = [pytest.mark.root, pytest.mark.interop, pytest.mark.slow]
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _need(*tools: str) -> None:
    for t in tools:
        if shutil.which(t) is None:
            pytest.skip(f"{t} is not installed")


def test_multistage_config_matches_buildah(tmp_path: Path) -> None:
    _need("buildah", "podman", "skopeo")
    store = Store.open(tmp_path / "store")
    make_busybox(store, "localhost/busybox:latest")
    archive = tmp_path / "bb.tar"
    subprocess.run(
        [
            "lamina",
            "--root",
            str(store.root),
            "save",
            "--format",
            "oci-archive",
            "-o",
            str(archive),
            "localhost/busybox:latest",
        ],
        check=True,
    )
    subprocess.run(
        [
            "skopeo",
            "copy",
            "-q",
            f"oci-archive:{archive}",
            "containers-storage:localhost/busybox:latest",
        ],
        check=True,
    )
    name = f"localhost/lamina-test-ms:{tmp_path.name[-12:].lower()}"
    subprocess.run(
        [
            "buildah",
            "bud",
            "-q",
            "--format",
            "docker",
            "--isolation",
            "chroot",
            "--layers",
            "-t",
            name,
            str(EXAMPLES / "multistage"),
        ],
        check=True,
        capture_output=True,
    )
    try:
        out = subprocess.run(
            ["podman", "image", "inspect", name], check=True, capture_output=True, text=True
        ).stdout
        theirs: dict[str, Any] = json.loads(out)[0]
    finally:
        subprocess.run(["buildah", "rmi", name], check=False, capture_output=True)
    result = build(store, EXAMPLES / "multistage", BuildOptions(format="docker"))
    ours = json.loads(store.image(result.image).raw_config())["config"]
    want = dict(theirs["Config"])
    want["Labels"] = {k: v for k, v in want["Labels"].items() if k != "io.buildah.version"}
    for key in ("Env", "Entrypoint", "Cmd", "WorkingDir", "User", "ExposedPorts", "Labels"):
        assert ours.get(key) == want.get(key), key
    assert ours["Healthcheck"] == theirs["Healthcheck"]
    store.close()
