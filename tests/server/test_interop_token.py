"""skopeo and podman against lamina's token auth: login, push, pull, refusals."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.server.layout import make_layout
from tests.server.servers import Server, start_lamina
from tests.server.test_token_auth import write_access

pytestmark = pytest.mark.interop


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("token-interop")
    s = start_lamina(root / "storage", "--auth-token-access", str(write_access(root)))
    yield s
    s.stop()


def run(*args: str, env: dict[str, str] | None = None, ok: bool = True) -> str:
    proc = subprocess.run(
        list(args), capture_output=True, text=True, timeout=180, check=False, env=env
    )
    if ok:
        assert proc.returncode == 0, f"{' '.join(args)}: {proc.stderr}"
    else:
        assert proc.returncode != 0, f"{' '.join(args)} should have failed"
    return proc.stdout + proc.stderr


def test_skopeo_token_push_pull_and_refusals(server: Server, tmp_path: Path) -> None:
    src = make_layout(tmp_path / "src", "v1", ["amd64"], payload=b"token skopeo")
    tls = "--dest-tls-verify=false"
    run("skopeo", "copy", tls, "--dest-creds", "alice:secret", f"oci:{src}:v1",
        f"docker://{server.host}/shared/app:v1")  # fmt: skip
    run("skopeo", "copy", tls, "--dest-creds", "alice:secret", f"oci:{src}:v1",
        f"docker://{server.host}/public/app:v1")  # fmt: skip
    # bob may pull shared/ but not push there.
    out = tmp_path / "out"
    run("skopeo", "copy", "--src-tls-verify=false", "--src-creds", "bob:pw",
        f"docker://{server.host}/shared/app:v1", f"oci:{out}:v1")  # fmt: skip
    assert (out / "index.json").is_file()
    err = run("skopeo", "copy", tls, "--dest-creds", "bob:pw", f"oci:{src}:v1",
              f"docker://{server.host}/shared/other:v1", ok=False)  # fmt: skip
    assert "denied" in err
    err = run("skopeo", "delete", "--tls-verify=false", "--creds", "bob:pw",
              f"docker://{server.host}/shared/app:v1", ok=False)  # fmt: skip
    assert "403" in err and "DENIED" in err
    # anonymous: public yes, shared no; wrong password refused.
    run("skopeo", "inspect", "--tls-verify=false", f"docker://{server.host}/public/app:v1")
    err = run("skopeo", "inspect", "--tls-verify=false",
              f"docker://{server.host}/shared/app:v1", ok=False)  # fmt: skip
    assert "unauthorized" in err.lower()
    err = run("skopeo", "inspect", "--tls-verify=false", "--creds", "alice:wrong",
              f"docker://{server.host}/shared/app:v1", ok=False)  # fmt: skip
    assert "401" in err or "unauthorized" in err.lower()
    # alice deletes (she has '*').
    run("skopeo", "delete", "--tls-verify=false", "--creds", "alice:secret",
        f"docker://{server.host}/public/app:v1")  # fmt: skip


@pytest.fixture
def short_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="lamina-pt-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_podman_login_push_pull_with_token(server: Server, tmp_path: Path, short_dir: Path) -> None:
    auth = tmp_path / "auth.json"
    auth.write_text('{"auths":{}}')
    env = {**os.environ, "REGISTRY_AUTH_FILE": str(auth)}
    podman = ["podman", "--root", str(short_dir / "root"), "--runroot", str(short_dir / "run"),
              "--storage-driver", "vfs"]  # fmt: skip
    src = make_layout(tmp_path / "src", "v1", ["amd64"], payload=b"token podman")
    run(*podman, "pull", "-q", f"oci:{src}:v1", env=env)
    image_id = run(*podman, "images", "-q", env=env).split()[0]
    image = f"{server.host}/team/podman:v1"
    run(*podman, "tag", image_id, image, env=env)
    err = run(*podman, "push", "--tls-verify=false", image, env=env, ok=False)
    assert "unauthorized" in err.lower() or "401" in err
    err = run(*podman, "login", "--tls-verify=false", "-u", "alice", "-p", "nope", server.host,
              env=env, ok=False)  # fmt: skip
    run(*podman, "login", "--tls-verify=false", "-u", "alice", "-p", "secret", server.host, env=env)
    run(*podman, "push", "--tls-verify=false", image, env=env)
    run(*podman, "rmi", "-a", "-f", env=env)
    run(*podman, "pull", "-q", "--tls-verify=false", image, env=env)
    assert image in run(*podman, "images", "--format", "{{.Repository}}:{{.Tag}}", env=env)
    run(*podman, "logout", server.host, env=env)
    run(*podman, "login", "--tls-verify=false", "-u", "bob", "-p", "pw", server.host, env=env)
    err = run(*podman, "push", "--tls-verify=false", image, env=env, ok=False)
    assert "403" in err  # a HEAD of a blob: no body, so no error code to show
