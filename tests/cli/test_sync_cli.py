# ruff: noqa: F811  (pytest fixtures imported from tests.ops.conftest)
"""`lamina sync` from the command line: JSON report, incremental second run, exit codes."""

from __future__ import annotations

from pathlib import Path

from lamina.ops.copying import copy
from tests.cli.conftest import Run
from tests.ops.conftest import lamina_reg, no_user_config  # noqa: F401  (fixtures)
from tests.ops.images import image_layout
from tests.server.servers import Server


def test_sync_yaml_json_report(
    lamina: Run,
    lamina_reg: Server,
    tmp_path: Path,
    no_user_config: Path,
) -> None:
    host = lamina_reg.host
    layout, _ = image_layout(tmp_path, "src", seed=600)
    copy(f"oci:{layout}:v1", f"docker://{host}/clisync/app:1", None)
    spec = tmp_path / "s.yaml"
    spec.write_text(f"{host}:\n  images:\n    clisync/app: ['1', 'gone']\n")
    args = ["sync", "--src", "yaml", "--dest", "docker", str(spec), f"{host}/copy"]
    r = lamina(*args, "--keep-going", "--report-format", "json")
    assert r.code == 1
    report = r.json()
    assert (report["copied"], report["failed"]) == (1, 1)
    r = lamina(*args, "--keep-going")
    assert r.code == 1 and "1 skipped" in r.out and "gone" in r.err
    r = lamina(*args)
    assert r.code != 0 and "--keep-going" in r.err
