# ruff: noqa: F811  (pytest fixtures imported from tests.ops.conftest)
"""Go-template `--format` on the registry commands: `list-tags`, `inspect docker://…` (the
same bytes as skopeo prints for the same template; skopeo has no `json`) and
`sync --dry-run --report-format`."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from lamina.ops.copying import copy
from tests.cli.conftest import Run
from tests.ops.conftest import lamina_reg, no_user_config  # noqa: F401  (fixtures)
from tests.ops.images import image_layout
from tests.server.servers import Server


def test_list_tags_and_sync_dry_run_templates(
    lamina: Run, lamina_reg: Server, tmp_path: Path, no_user_config: Path
) -> None:
    host = lamina_reg.host
    layout, img = image_layout(tmp_path, "src", seed=710)
    for tag in ("1", "2"):
        copy(f"oci:{layout}:v1", f"docker://{host}/fmt/app:{tag}", None)
    repo = f"docker://{host}/fmt/app"
    r = lamina("list-tags", "--format", '{{.Repository}}: {{join .Tags ","}}', repo)
    assert r.code == 0, r.err
    assert r.out == f"{host}/fmt/app: 1,2\n"
    r = lamina("list-tags", "--format", "{{range .Tags}}{{.}}\\n{{end}}", repo)
    assert r.out == "1\n2\n\n"
    r = lamina("list-tags", "--format", "{{.Nope}}", repo)
    assert r.code == 2 and "--format: template line 1, column 3" in r.err
    args = ["sync", "--src", "docker", "--dest", "dir", f"{host}/fmt/app", str(tmp_path / "d")]
    r = lamina(*args, "--dry-run", "--report-format", "{{.Status}} {{.Source}}")
    assert r.code == 0, r.err
    assert sorted(r.out.splitlines()) == [
        f"would-copy docker://{host}/fmt/app:1",
        f"would-copy docker://{host}/fmt/app:2",
    ]
    assert not (tmp_path / "d").exists()
    r = lamina(*args, "--dry-run", "--report-format", "{{if .Status}}x")
    assert r.code == 2 and "missing {{end}}" in r.err
    assert not (tmp_path / "d").exists()
    r = lamina("inspect", "--format", "{{.Digest}}", f"{repo}:1")
    assert r.out == f"{img.digest()}\n"
    r = lamina("inspect", "--raw", "--format", "{{.Digest}}", f"{repo}:1")
    assert r.code == 2 and "--raw" in r.err


@pytest.mark.interop
@pytest.mark.skipif(shutil.which("skopeo") is None, reason="skopeo not installed")
def test_inspect_docker_template_as_skopeo_prints_it(
    lamina: Run, lamina_reg: Server, tmp_path: Path, no_user_config: Path
) -> None:
    host = lamina_reg.host
    layout, _ = image_layout(tmp_path, "src", seed=720)
    copy(f"oci:{layout}:v1", f"docker://{host}/fmt/sk:1", None)
    template = (
        "{{.Name}} {{.Digest}} {{.Architecture}}/{{.Os}} {{len .Layers}} {{.RepoTags}}"
        ' {{.Labels}} {{range .Layers}}{{printf "%.15s" .}},{{end}} {{printf "%.8s" .Digest}}'
    )
    ours = lamina("inspect", "--format", template, f"docker://{host}/fmt/sk:1")
    assert ours.code == 0, ours.err
    theirs = subprocess.run(
        [
            "skopeo",
            "inspect",
            "--tls-verify=false",
            "--format",
            template,
            f"docker://{host}/fmt/sk:1",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    assert ours.out == theirs
