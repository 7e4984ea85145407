"""podman login/push/pull over TLS with htpasswd, and buildah push, against lamina."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.server.client import Client, error_codes
from tests.server.layout import make_layout
from tests.server.servers import Server, free_port, start_lamina

pytestmark = pytest.mark.interop


def run(*args: str, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(
        list(args), capture_output=True, text=True, timeout=180, check=False, env=env
    )
    assert proc.returncode == 0, f"{' '.join(args)}: {proc.stderr}"
    return proc.stdout


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[Server, Path]]:
    """lamina with TLS (self-signed, trusted via certs.d) and htpasswd user/secret."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    run(
        "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
        "-addext", "subjectAltName=IP:127.0.0.1",
    )  # fmt: skip
    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_text(run("htpasswd", "-Bbn", "user", "secret"))
    port = free_port()
    certs_d = Path(f"/etc/containers/certs.d/127.0.0.1:{port}")
    certs_d.mkdir(parents=True, exist_ok=True)
    shutil.copy(cert, certs_d / "ca.crt")
    try:
        server = start_lamina(
            tmp_path / "storage",
            "--tls-cert", str(cert), "--tls-key", str(key), "--htpasswd", str(htpasswd),
            port=port, ca=cert,
        )  # fmt: skip
        try:
            yield server, cert
        finally:
            server.stop()
    finally:
        shutil.rmtree(certs_d)


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """podman refuses a runroot longer than 50 characters; pytest's tmp_path is longer."""
    path = Path(tempfile.mkdtemp(prefix="lamina-pm-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _podman(root: Path) -> list[str]:
    return [
        "podman",
        "--root", str(root / "root"),
        "--runroot", str(root / "run"),
        "--storage-driver", "vfs",
    ]  # fmt: skip


def test_podman_login_push_pull_over_tls(
    tls_server: tuple[Server, Path], tmp_path: Path, short_dir: Path
) -> None:
    server, _ = tls_server
    auth = tmp_path / "auth.json"
    auth.write_text('{"auths":{}}')
    env = {**os.environ, "REGISTRY_AUTH_FILE": str(auth)}
    podman = _podman(short_dir)
    src = make_layout(tmp_path / "src", "v1", ["amd64"], payload=b"podman payload")
    run(*podman, "pull", "-q", f"oci:{src}:v1", env=env)
    image = f"{server.host}/podman/hello:v1"
    image_id = run(*podman, "images", "-q", env=env).split()[0]
    run(*podman, "tag", image_id, image, env=env)
    push = subprocess.run(
        [*podman, "push", image], capture_output=True, text=True, env=env, check=False
    )
    assert push.returncode != 0
    assert "401" in push.stderr or "unauthorized" in push.stderr.lower()
    run(*podman, "login", "-u", "user", "-p", "secret", server.host, env=env)
    run(*podman, "push", image, env=env)
    run(*podman, "rmi", "-a", "-f", env=env)
    run(*podman, "pull", "-q", image, env=env)
    assert image in run(*podman, "images", "--format", "{{.Repository}}:{{.Tag}}", env=env)


def test_unauthenticated_request_gets_basic_challenge(tls_server: tuple[Server, Path]) -> None:
    import ssl

    import urllib3

    server, cert = tls_server
    pool = urllib3.PoolManager(ssl_context=ssl.create_default_context(cafile=str(cert)))
    client = Client(server.url, pool)
    r = client.request("GET", "/v2/")
    assert r.status == 401
    assert r.headers["WWW-Authenticate"].startswith("Basic realm=")
    assert error_codes(r) == ["UNAUTHORIZED"]
    bad = urllib3.make_headers(basic_auth="user:wrong")
    assert client.request("GET", "/v2/", headers=bad).status == 401
    good = urllib3.make_headers(basic_auth="user:secret")
    assert client.request("GET", "/v2/", headers=good).status == 200


def test_buildah_push(lamina_server: Server, tmp_path: Path) -> None:
    buildah = [
        "buildah",
        "--root", str(tmp_path / "root"),
        "--runroot", str(tmp_path / "runroot"),
        "--storage-driver", "vfs",
    ]  # fmt: skip
    src = make_layout(tmp_path / "src", "v1", ["amd64"], payload=b"buildah payload")
    image_id = run(*buildah, "pull", "-q", f"oci:{src}:v1").strip().splitlines()[-1]
    run(
        *buildah, "push", "--tls-verify=false", image_id,
        f"docker://{lamina_server.host}/buildah/hello:v1",
    )  # fmt: skip
    client = Client(lamina_server.url)
    r = client.request("GET", "/v2/buildah/hello/manifests/v1")
    assert r.status == 200
