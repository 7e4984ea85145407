"""`lamina copy SRC DST` with only common flags runs without click (`cli.copy_fast`): it
must read those command lines exactly as click reads them, leave every other line to
click, and copy, print and exit as the click command does."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest

from lamina.cli.copy_cmd import copy
from lamina.cli.copy_fast import parse
from tests.ops.images import image_layout

SRC, DST = "docker://127.0.0.1:5000/a:1", "dir:/tmp/out"

READ_BY_BOTH = [
    [SRC, DST],
    ["-q", "--policy", "/p.json", SRC, DST],
    ["--policy=/p.json", SRC, "-q", DST],
    [SRC, "--quiet", DST, "--insecure-policy"],
    ["--policy", "/a", "--policy", "/b", SRC, DST],  # the last one wins
    ["--policy=", SRC, DST],
    ["--policy=a=b", SRC, DST],
    ["-a", "--all", "--preserve-digests", "--remove-signatures", SRC, DST],
    ["--platform", "linux/arm64", "--digestfile", "/d", SRC, DST],
    ["--authfile", "/auth.json", "--src-creds", "u:p", "--dest-creds", "v:q", SRC, DST],
    ["--src-authfile=/s", "--dest-authfile=/d", SRC, DST],
    ["--src-cert-dir", "/c", "--dest-cert-dir", "/e", SRC, DST],
    ["", DST],
]

LEFT_TO_CLICK = [
    [SRC],  # click reports the missing argument
    [SRC, DST, "extra"],
    ["--", SRC, DST],
    ["-qa", SRC, DST],
    ["--quiet=1", SRC, DST],
    ["--policy"],
    [SRC, DST, "--policy"],
    ["--policy", "-q", SRC, DST],  # click would take -q as the policy path
    ["--retry-times", "2", SRC, DST],
    ["--src-tls-verify=false", SRC, DST],
    ["--multi-arch", "all", SRC, DST],
    ["--sign-by", "FPR", SRC, DST],
    ["--registries-conf", "/r", SRC, DST],
    ["--help"],
    [SRC, DST, "-h"],
    ["--debug", SRC, DST],
    ["-", DST],
    ["--pol", "/p", SRC, DST],
]


def _click_reading(args: list[str]) -> dict[str, Any] | None:
    """The values click gives the copy command's parameters (those not at their
    defaults), or None when click refuses `args`."""
    try:
        ctx = copy.make_context("copy", list(args), resilient_parsing=False)
    except (click.ClickException, click.exceptions.Exit):
        return None
    values = {**ctx.params, **ctx.meta.get("lamina.trust", {})}
    return {
        k: v
        for k, v in values.items()
        if v is not None and v is not False and not (k == "retry_times" and v == 0)
    }


@pytest.mark.parametrize("args", READ_BY_BOTH)
def test_common_command_lines_are_read_as_click_reads_them(args: list[str]) -> None:
    parsed = parse(args)
    assert parsed is not None
    (source, destination), values = parsed
    assert {"source": source, "destination": destination, **values} == _click_reading(args)


@pytest.mark.parametrize("args", LEFT_TO_CLICK)
def test_other_command_lines_are_left_to_click(args: list[str]) -> None:
    assert parse(args) is None


def _run(code: str, tmp_path: Path) -> list[str]:
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    return [str(proc.returncode), *proc.stderr.splitlines(), *proc.stdout.splitlines()]


def test_an_image_copy_runs_without_click_and_as_the_click_command_does(
    tmp_path: Path,
) -> None:
    layout, img = image_layout(tmp_path, "src", seed=520)
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"default": [{"type": "insecureAcceptAnything"}]}))
    out = tmp_path / "out"
    args = ["copy", "--policy", str(policy), f"oci:{layout}:v1", f"dir:{out}"]

    def program(prefix: list[str]) -> str:
        return (
            "import sys\n"
            "from lamina.cli.main import main\n"
            "try:\n"
            f"    main({[*prefix, *args]!r})\n"
            "except SystemExit as e:\n"
            "    print('exit', e.code, 'click' in sys.modules)\n"
        )

    quiet = _run(program([]).replace("'copy', ", "'copy', '-q', "), tmp_path)
    assert quiet == ["0", "exit 0 False"]  # copied, silently, and click never loaded
    assert (out / "manifest.json").read_bytes() == img.raw_manifest()
    shutil.rmtree(out)
    fast = _run(program([]), tmp_path)  # click loads to print the progress lines
    assert fast[-1] == "exit 0 True"
    shutil.rmtree(out)
    # `--debug` before the command sends the same copy through click
    slow = _run(program(["--debug"]), tmp_path)
    assert slow[-1] == "exit 0 True"
    assert fast[:-1] == slow[:-1]  # the same progress lines
    assert any(line.startswith("Copied to dir:") for line in fast)
    assert (out / "manifest.json").read_bytes() == img.raw_manifest()
    # errors: the same message and exit code
    args[-2] = f"oci:{layout}:nope"
    fast_err, slow_err = _run(program([]), tmp_path), _run(program(["--debug"]), tmp_path)
    assert fast_err[-1] == "exit 3 True"  # click loads to print the error, as before
    assert [line for line in fast_err if "error[" in line] == [
        line for line in slow_err if "error[" in line
    ]
    assert len([line for line in fast_err if "error[" in line]) == 1


@pytest.mark.parametrize("raised", [KeyboardInterrupt, EOFError])
def test_interruptions_end_as_they_do_through_click(
    raised: type[BaseException], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from lamina.cli.main import main

    def boom(*args: object, **kwargs: object) -> None:
        raise raised()

    monkeypatch.setattr("lamina.cli.image_copy.copy_image", boom)
    monkeypatch.setattr("lamina.cli.copy_cmd.copy_image", boom)
    ends = []
    for prefix in ([], ["--debug"]):  # the fast path, then click
        capsys.readouterr()
        with pytest.raises(SystemExit) as exc:
            main([*prefix, "copy", "-q", SRC, DST])
        ends.append((exc.value.code, capsys.readouterr().err))
    assert ends[0] == ends[1]
    assert ends[0] == (130, "\naborted\n")
