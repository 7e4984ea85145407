# ruff: noqa: F811  (pytest fixtures imported from tests.ops.conftest)
"""Issue 15 item 9: small differences from podman/skopeo that surprised users."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from datetime import datetime
from pathlib import Path

import pytest

from lamina.ops.copying import copy
from tests.cli.conftest import Run
from tests.ops.conftest import lamina_reg, no_user_config  # noqa: F401  (fixtures)
from tests.ops.images import image_layout
from tests.server.servers import Server

needs_busybox = pytest.mark.skipif(not Path("/bin/busybox").exists(), reason="busybox-static")


def _created(lamina: Run) -> float:
    info = lamina("inspect", "localhost/busybox:latest").json()[0]
    return datetime.fromisoformat(info["Created"].replace("Z", "+00:00")).timestamp()


@needs_busybox
def test_base_is_dated_now_without_source_date_epoch(
    lamina: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SOURCE_DATE_EPOCH")
    before = time.time()
    assert lamina("base").code == 0
    assert before - 2 <= _created(lamina) <= time.time() + 1


@needs_busybox
def test_base_is_dated_source_date_epoch(lamina: Run) -> None:
    assert lamina("base").code == 0  # the fixture sets SOURCE_DATE_EPOCH=1700000000
    assert _created(lamina) == 1700000000


def _names(table: str) -> list[str]:
    return [line.split()[1] for line in table.splitlines()[1:]]


@pytest.mark.skipif(shutil.which("podman") is None, reason="podman")
def test_trust_show_names_the_default_scope_default(lamina: Run, tmp_path: Path) -> None:
    policy = tmp_path / "policy.json"
    policy.write_text(
        json.dumps(
            {
                "default": [{"type": "insecureAcceptAnything"}],
                "transports": {"docker": {"quay.io": [{"type": "reject"}]}},
            }
        )
    )
    r = lamina("trust", "show", "--policypath", str(policy))
    assert r.code == 0, r.err
    podman = subprocess.run(
        ["podman", "image", "trust", "show", "--policypath", str(policy)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert _names(r.out) == _names(podman) == ["default", "quay.io"]
    # --json keeps podman's "* (default)" name beside repo_name "default"
    shown = lamina("trust", "show", "--policypath", str(policy), "--json").json()
    assert (shown[0]["name"], shown[0]["repo_name"]) == ("* (default)", "default")


@pytest.mark.skipif(shutil.which("skopeo") is None, reason="skopeo")
def test_list_tags_prints_skopeos_json_by_default(
    lamina: Run, lamina_reg: Server, tmp_path: Path, no_user_config: Path
) -> None:
    layout, _ = image_layout(tmp_path, "src", seed=915)
    for tag in ("1", "2"):
        copy(f"oci:{layout}:v1", f"docker://{lamina_reg.host}/small/app:{tag}", None)
    repo = f"docker://{lamina_reg.host}/small/app"
    r = lamina("list-tags", repo)
    assert r.code == 0, r.err
    skopeo = subprocess.run(
        ["skopeo", "list-tags", "--tls-verify=false", repo],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert r.out == skopeo
    assert json.loads(r.out) == {"Repository": f"{lamina_reg.host}/small/app", "Tags": ["1", "2"]}
    assert lamina("list-tags", "--format", "table", repo).out == "1\n2\n"
