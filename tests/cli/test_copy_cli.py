# ruff: noqa: F811  (pytest fixtures imported from tests.ops.conftest)
"""The CLI of moving images: copy, login/logout, push, pull, list-tags, inspect, delete, sync."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lamina.cli.errors import EXIT_NOT_FOUND, EXIT_TRANSPORT, EXIT_USAGE
from tests.cli.conftest import Run
from tests.ops.conftest import (  # noqa: F401  (fixtures)
    PASSWORD,
    USER,
    lamina_auth_reg,
    lamina_reg,
    no_user_config,
)
from tests.ops.images import image_layout
from tests.server.servers import Server


def test_copy_push_pull_list_inspect_delete(
    lamina: Run,
    lamina_reg: Server,
    tmp_path: Path,
    no_user_config: Path,
) -> None:
    host = lamina_reg.host
    layout, img = image_layout(tmp_path, "src", seed=500)
    r = lamina("copy", "--retry-times", "2", f"oci:{layout}:v1", "lamina:localhost/cli:1")
    assert r.code == 0, r.err
    assert "Copying blob" in r.err and "Writing manifest" in r.err  # plain lines, no terminal
    r = lamina(
        "push", "-q", "--digestfile", str(tmp_path / "d"), "localhost/cli:1", f"{host}/cli/app:1"
    )
    assert r.code == 0, r.err
    assert r.err == "" and (tmp_path / "d").read_text() == str(img.digest())
    r = lamina("list-tags", "--format", "json", f"docker://{host}/cli/app")
    assert r.json() == {"Repository": f"{host}/cli/app", "Tags": ["1"]}
    r = lamina("--root", str(tmp_path / "fresh"), "pull", "-q", f"{host}/cli/app:1")
    assert r.code == 0, r.err
    assert r.out.strip() == img.manifest().config.digest.hex
    r = lamina(
        "copy", "--format", "v2s2", f"docker://{host}/cli/app:1", f"docker://{host}/cli/app:v2s2"
    )
    assert r.code == 0, r.err
    r = lamina("inspect", "--raw", f"docker://{host}/cli/app:1")
    assert r.code == 0, r.err
    assert json.loads(r.out)["config"]["digest"] == str(img.manifest().config.digest)
    r = lamina("delete", f"docker://{host}/cli/app:v2s2")
    assert r.code == 0 and r.out.startswith("sha256:")
    r = lamina("pull", f"{host}/cli/app:v2s2")
    assert r.code == EXIT_NOT_FOUND and "v2s2" in r.err


def test_bad_input_exit_codes(lamina: Run, tmp_path: Path, no_user_config: Path) -> None:
    r = lamina("copy", "docker:/x", f"oci:{tmp_path}/o:x")
    assert r.code == EXIT_USAGE and "docker://HOST" in r.err
    r = lamina("copy", "bogus:/x", f"oci:{tmp_path}/o:x")
    assert r.code == EXIT_USAGE and "lamina:NAME" in r.err
    conf = tmp_path / "registries.conf"
    conf.write_text('[[registry]]\nprefix = "127.0.0.1:9"\nblocked = true\n')
    r = lamina(
        "copy", "--registries-conf", str(conf), "docker://127.0.0.1:9/x:1", f"oci:{tmp_path}/o:x"
    )
    assert r.code == EXIT_USAGE and "blocked" in r.err and str(conf) in r.err
    for cmd in ("copy", "push", "pull", "login", "logout", "list-tags", "delete", "sync"):
        r = lamina(cmd, "--help")
        assert r.code == 0 and "Example:" in r.out, cmd


def test_login_logout_and_wrong_password(
    lamina: Run,
    lamina_auth_reg: Server,
    tmp_path: Path,
    no_user_config: Path,
) -> None:
    host = lamina_auth_reg.host
    auth = tmp_path / "auth.json"
    r = lamina("login", "--authfile", str(auth), "-u", USER, "-p", "nope", host)
    assert r.code == EXIT_TRANSPORT and host in r.err and str(auth) in r.err
    assert len(r.err.strip().splitlines()) == 2  # one error line and one hint
    r = lamina("login", "--authfile", str(auth), "-u", USER, "-p", PASSWORD, host)
    assert r.code == 0 and "Login Succeeded" in r.out
    assert host in json.loads(auth.read_text())["auths"]
    r = lamina("list-tags", "--authfile", str(auth), f"docker://{host}/none/here")
    assert r.code == EXIT_NOT_FOUND, r.err
    r = lamina("logout", "--authfile", str(auth), host)
    assert r.code == 0 and host not in json.loads(auth.read_text())["auths"]


def test_copy_as_a_program_exits_with_its_output_and_files_complete(
    tmp_path: Path, no_user_config: Path
) -> None:
    """Run as the program, an image copy's exit code, streams and files are complete."""
    import subprocess
    import sys

    layout, img = image_layout(tmp_path, "src", seed=510)
    argv = [sys.executable, "-m", "lamina", "--root", str(tmp_path / "store"), "copy"]
    digestfile = tmp_path / "digest"
    ok = subprocess.run(
        [*argv, "--digestfile", str(digestfile), f"oci:{layout}:v1", f"dir:{tmp_path}/d"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    assert "Writing manifest" in ok.stderr and ok.stderr.rstrip().endswith(f"({img.digest()})")
    assert digestfile.read_text() == str(img.digest())
    assert (tmp_path / "d" / "manifest.json").read_bytes() == img.raw_manifest()
    missing = subprocess.run(
        [*argv, f"oci:{layout}:nope", f"dir:{tmp_path}/e"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert missing.returncode == EXIT_NOT_FOUND and "nope" in missing.stderr


@pytest.mark.parametrize("raised", [KeyboardInterrupt, EOFError])
def test_an_interrupted_copy_exits_130(
    raised: type[BaseException], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ctrl-C (or end of input at a prompt) ends a command as click reports it: exit 130."""
    from lamina.cli.main import main

    def boom(*args: object, **kwargs: object) -> None:
        raise raised()

    monkeypatch.setattr("lamina.cli.copy_cmd.copy_image", boom)
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        main(["copy", "-q", "docker://127.0.0.1:5000/a:1", "dir:/tmp/out"])
    assert (exc.value.code, capsys.readouterr().err) == (130, "\naborted\n")
