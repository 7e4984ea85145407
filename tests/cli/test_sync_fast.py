# ruff: noqa: F811  (pytest fixtures imported from tests.ops.conftest)
"""`lamina sync SRC DST` with only common flags runs without click (`cli.sync_fast`): it
must read those command lines exactly as click reads them, leave every other line to
click, and sync, print and exit as the click command does."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest

from lamina.cli.sync_cmd import sync
from lamina.cli.sync_fast import parse
from lamina.ops.copying import copy
from tests.ops.conftest import lamina_reg  # noqa: F401  (fixture)
from tests.ops.images import image_layout
from tests.server.servers import Server

S, D = "s.yaml", "127.0.0.1:5000/mirror"

READ_BY_BOTH = [
    ["--src", "yaml", "--dest", "docker", S, D],
    ["-s", "yaml", "-d", "docker", "-q", S, D],
    ["--src=docker", S, "--dest=dir", D, "--quiet"],
    ["-s", "dir", "-d", "oci", "--scoped", "-a", "--preserve-digests", S, D],
    ["-s", "yaml", "-d", "docker", "-f", "v2s2", "--remove-signatures", S, D],
    ["-s", "yaml", "-d", "docker", "--format=oci", "--keep-going", "--dry-run", S, D],
    ["-s", "yaml", "-d", "docker", "--retry-times", "3", S, D],
    ["-s", "yaml", "-d", "docker", "--retry-times=-1", S, D],
    ["-s", "yaml", "-d", "docker", "--report-format", "json", S, D],
    ["-s", "yaml", "-d", "docker", "--src-creds", "u:p", "--dest-creds=v:q", S, D],
    ["-s", "yaml", "-d", "docker", "--authfile", "/a", "--src-authfile", "/s", S, D],
    ["-s", "yaml", "-d", "docker", "--dest-authfile=/d", "--src-cert-dir", "/c", S, D],
    ["-s", "yaml", "-d", "docker", "--dest-cert-dir", "/e", "--registries-conf", "/r", S, D],
    ["-s", "yaml", "-d", "docker", "--policy", "/p.json", "--insecure-policy", S, D],
    ["-s", "yaml", "-s", "docker", "-d", "dir", S, D],  # the last one wins
]

LEFT_TO_CLICK = [
    ["--src", "yaml", S, D],  # click reports the missing --dest
    ["-s", "yaml", "-d", "docker", S],
    ["-s", "yaml", "-d", "docker", S, D, "extra"],
    ["-s", "git", "-d", "docker", S, D],
    ["-s", "yaml", "-d", "docker", "-f", "v2s1", S, D],
    ["-s", "yaml", "-d", "docker", "--report-format", "xml", S, D],
    ["-s", "yaml", "-d", "docker", "--retry-times", "many", S, D],
    ["-s", "yaml", "-d", "docker", "--retry-times", "-1", S, D],  # click: -1 is an option
    ["-syaml", "-d", "docker", S, D],
    ["-s=yaml", "-d", "docker", S, D],
    ["-s", "yaml", "-d", "docker", "-qa", S, D],
    ["-s", "yaml", "-d", "docker", "--", S, D],
    ["-s", "yaml", "-d", "docker", "--src-tls-verify=false", S, D],
    ["-s", "yaml", "-d", "docker", "--sign-by", "FPR", S, D],
    ["-s", "yaml", "-d", "docker", "--registries-conf", "/", S, D],  # a directory
    ["-s", "yaml", "-d", "docker", "--help"],
    ["--src", "yaml", "--dest", "docker", "--quiet=1", S, D],
]


def _click_reading(args: list[str]) -> dict[str, Any] | None:
    """The values click gives the sync command's parameters (those not at their
    defaults), or None when click refuses `args`."""
    try:
        ctx = sync.make_context("sync", list(args), resilient_parsing=False)
    except (click.ClickException, click.exceptions.Exit):
        return None
    values = {**ctx.params, **ctx.meta.get("lamina.trust", {})}
    defaults = {"retry_times": 0, "fmt": "table"}
    return {
        k: v
        for k, v in values.items()
        if v is not None and v is not False and defaults.get(k, object()) != v
    }


def _fast_reading(args: list[str]) -> dict[str, Any] | None:
    parsed = parse(args)
    if parsed is None:
        return None
    (source, destination), values = parsed
    defaults = {"retry_times": 0, "fmt": "table"}
    values = {k: v for k, v in values.items() if defaults.get(k, object()) != v}
    return {"source": source, "destination": destination, **values}


@pytest.mark.parametrize("args", READ_BY_BOTH)
def test_common_command_lines_are_read_as_click_reads_them(args: list[str]) -> None:
    fast = _fast_reading(args)
    assert fast is not None
    assert fast == _click_reading(args)


@pytest.mark.parametrize("args", LEFT_TO_CLICK)
def test_other_command_lines_are_left_to_click(args: list[str]) -> None:
    assert parse(args) is None


def _run(code: str, home: Path) -> list[str]:
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin", "HOME": str(home)},
    )
    return [str(proc.returncode), *proc.stderr.splitlines(), *proc.stdout.splitlines()]


def _shown(lines: list[str], dest: str) -> list[str]:
    """What the user reads (--debug adds a traceback), with the destination renamed."""
    keep = ("failed", "copied", "skipped", "Synced", "error[", "  hint")
    return [line.replace(dest, "/x/") for line in lines[:-1] if line.startswith(keep)]


def test_a_sync_runs_without_click_and_as_the_click_command_does(
    lamina_reg: Server, tmp_path: Path
) -> None:
    host = lamina_reg.host
    layout, _ = image_layout(tmp_path, "src", seed=610)
    copy(f"oci:{layout}:v1", f"docker://{host}/fastsync/app:1", None)
    spec = tmp_path / "s.yaml"
    spec.write_text(f"{host}:\n  images:\n    fastsync/app: ['1', 'gone']\n")

    def program(prefix: list[str], dest: str, *extra: str) -> str:
        args = [*prefix, "sync", "-s", "yaml", "-d", "docker", *extra, str(spec), dest]
        return (
            "import sys\n"
            "from lamina.cli.main import main\n"
            "try:\n"
            f"    main({args!r})\n"
            "except SystemExit as e:\n"
            "    print('exit', e.code, 'click' in sys.modules)\n"
        )

    # `--debug` before the command sends the same sync through click.
    for extra in (("--keep-going",), ()):
        fast = _run(program([], f"{host}/fast", *extra), tmp_path)
        slow = _run(program(["--debug"], f"{host}/slow", *extra), tmp_path)
        assert fast[-1].startswith("exit 1 ")  # the missing tag failed
        assert slow[-1] == "exit 1 True"
        assert _shown(fast, "/fast/") == _shown(slow, "/slow/")
    assert fast[-1] == "exit 1 True"  # click loads to print the error, as before
    again = _run(program([], f"{host}/fast", "--keep-going"), tmp_path)
    assert again[-1] == "exit 1 False"  # printed without click
    assert any(line.startswith("skipped    docker://") for line in again)
    assert "Synced 2 images: 0 copied, 1 skipped (up to date), 1 failed" in again
    assert len(_shown(fast, "/fast/")) >= 3  # the failed line, the error and its hint
