"""registry:2's configuration as deployments write it: the `REGISTRY_*` environment
overrides and the same keys in a Distribution `config.yml` mean the same to lamina, and a
key lamina does not support is named in a warning (or refused, for auth and TLS)."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from lamina.errors import InvalidInput
from lamina.server.config import load_config
from tests.server.client import Client, error_codes, make_image, sha256
from tests.server.servers import DISTRIBUTION, LAMINA, Server, free_port, wait_ready

# registry:2's own /etc/docker/registry/config.yml
REGISTRY2_IMAGE_CONFIG = """\
version: 0.1
log:
  fields:
    service: registry
storage:
  cache:
    blobdescriptor: inmemory
  filesystem:
    rootdirectory: {root}
http:
  addr: :5000
  headers:
    X-Content-Type-Options: [nosniff]
health:
  storagedriver:
    enabled: true
    interval: 10s
    threshold: 3
"""


def _run(*args: str) -> str:
    return subprocess.run(args, capture_output=True, text=True, check=True).stdout


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("r2")
    cert, key = root / "domain.crt", root / "domain.key"
    _run(
        "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
        "-addext", "subjectAltName=IP:127.0.0.1",
    )  # fmt: skip
    htpasswd = root / "htpasswd"
    htpasswd.write_text(_run("htpasswd", "-Bbn", "testuser", "testpassword"))
    return {"root": root, "cert": cert, "key": key, "htpasswd": htpasswd}


def seed_environment(files: dict[str, Path], port: int, storage: Path) -> dict[str, str]:
    """The variables a registry:2 deployment sets (`docker run -e ...`)."""
    return {
        "REGISTRY_HTTP_ADDR": f"127.0.0.1:{port}",
        "REGISTRY_HTTP_TLS_CERTIFICATE": str(files["cert"]),
        "REGISTRY_HTTP_TLS_KEY": str(files["key"]),
        "REGISTRY_AUTH": "htpasswd",
        "REGISTRY_AUTH_HTPASSWD_REALM": "Registry Realm",
        "REGISTRY_AUTH_HTPASSWD_PATH": str(files["htpasswd"]),
        "REGISTRY_STORAGE_DELETE_ENABLED": "true",
        "REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY": str(storage),
    }


def test_environment_overrides_are_honoured(files: dict[str, Path], tmp_path: Path) -> None:
    env = seed_environment(files, 6123, tmp_path / "data")
    cfg = load_config(None, environ=env)
    assert cfg.addr == "127.0.0.1:6123"
    assert cfg.tls_cert == files["cert"] and cfg.tls_key == files["key"]
    assert cfg.htpasswd == files["htpasswd"] and cfg.realm == "Registry Realm"
    assert cfg.storage == tmp_path / "data"
    assert cfg.delete_enabled
    # the environment overrides the file; flags override both
    cfg_file = tmp_path / "config.yml"
    cfg_file.write_text("http:\n  addr: 127.0.0.1:7000\nstorage:\n  readonly: true\n")
    both = load_config(cfg_file, environ={"REGISTRY_HTTP_ADDR": "127.0.0.1:7001"})
    assert both.addr == "127.0.0.1:7001" and both.read_only
    flag = load_config(cfg_file, environ={"REGISTRY_HTTP_ADDR": ":7001"}, addr="127.0.0.1:7002")
    assert flag.addr == "127.0.0.1:7002"
    off = load_config(None, environ={"REGISTRY_STORAGE_DELETE_ENABLED": "false"}, storage=tmp_path)
    assert not off.delete_enabled


def test_registry2_config_file_keys(files: dict[str, Path], tmp_path: Path) -> None:
    cfg_file = tmp_path / "config.yml"
    cfg_file.write_text(
        "version: 0.1\n"
        f"storage:\n  filesystem:\n    rootdirectory: {tmp_path / 'data'}\n"
        "  delete:\n    enabled: true\n  maintenance:\n    readonly:\n      enabled: true\n"
        f"http:\n  addr: :5000\n  tls:\n    certificate: {files['cert']}\n"
        f"    key: {files['key']}\n"
        f"auth:\n  htpasswd:\n    realm: basic-realm\n    path: {files['htpasswd']}\n"
    )
    cfg = load_config(cfg_file, environ={})
    assert cfg.storage == tmp_path / "data"
    assert cfg.host == "0.0.0.0" and cfg.port == 5000
    assert cfg.tls_cert == files["cert"] and cfg.tls_key == files["key"]
    assert cfg.htpasswd == files["htpasswd"] and cfg.realm == "basic-realm"
    assert cfg.read_only and cfg.delete_enabled


def test_unsupported_keys_are_named_in_warnings(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cfg_file = tmp_path / "config.yml"
    cfg_file.write_text(REGISTRY2_IMAGE_CONFIG.format(root=tmp_path / "data"))
    with caplog.at_level(logging.WARNING, logger="lamina.server"):
        cfg = load_config(
            cfg_file, environ={"REGISTRY_NOTIFICATIONS_EVENTS_INCLUDEREFERENCES": "1"}
        )
    assert cfg.storage == tmp_path / "data" and cfg.port == 5000
    text = caplog.text
    for key in ("log.fields", "storage.cache", "http.headers", "health"):
        assert f"{cfg_file}: {key} is not supported" in text, text
    assert "REGISTRY_NOTIFICATIONS_EVENTS_INCLUDEREFERENCES (notifications.events." in text
    assert "version" not in text and "filesystem" not in text and "http.addr" not in text


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"REGISTRY_AUTH": "silly"}, "REGISTRY_AUTH (auth.silly)"),
        ({"REGISTRY_AUTH_TOKEN_ROOTCERTBUNDLE": "/x.pem"}, "auth.token.rootcertbundle"),
        ({"REGISTRY_HTTP_TLS_LETSENCRYPT_EMAIL": "a@b"}, "http.tls.letsencrypt"),
        ({"REGISTRY_AUTH": "htpasswd"}, "auth.htpasswd needs path"),
        ({"REGISTRY_AUTH": "token", "REGISTRY_AUTH_TOKEN_REALM": "x"}, "auth.token needs access"),
    ],
)
def test_unsupported_auth_or_tls_is_refused(
    tmp_path: Path, env: dict[str, str], named: str
) -> None:
    """Ignoring these would serve without the authentication or TLS that was asked for."""
    with pytest.raises(InvalidInput, match=named.replace("(", r"\(").replace(")", r"\)")):
        load_config(None, environ=env, storage=tmp_path)


def _start(kind: str, env: dict[str, str], root: Path, port: int) -> Server:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    clean["LAMINA_ROOT"] = str(root / "lamina-root")  # where lamina would store by default
    log = root / f"{kind}.log"
    if kind == LAMINA:
        args = [sys.executable, "-m", "lamina.server", "serve"]
    else:
        base = root / "distribution.yml"
        base.write_text("version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem: {}\n")
        args = ["docker-registry", "serve", str(base)]
    with log.open("ab") as out:
        proc = subprocess.Popen(args, env={**clean, **env}, stdout=out, stderr=subprocess.STDOUT)
    return Server(
        kind=kind, host=f"127.0.0.1:{port}", proc=proc, storage=root, log=log, scheme="https"
    )


@pytest.fixture(params=[LAMINA, pytest.param(DISTRIBUTION, marks=pytest.mark.interop)])
def seeded(
    request: pytest.FixtureRequest, files: dict[str, Path], tmp_path: Path
) -> Iterator[Server]:
    if request.param == DISTRIBUTION and shutil.which("docker-registry") is None:
        pytest.skip("docker-registry (Debian package) is not installed")
    port = free_port()
    storage = tmp_path / "storage"
    server = _start(request.param, seed_environment(files, port, storage), tmp_path, port)
    try:
        wait_ready(server, ca=files["cert"])
        yield server
    finally:
        server.stop()


def _curl(server: Server, cert: Path, *args: str) -> tuple[int, str]:
    out = subprocess.run(
        ["curl", "-sS", "-D", "-", "-o", "/dev/null", "-w", "%{http_code}",
         "--cacert", str(cert), *args],
        capture_output=True, text=True, check=True, timeout=30,
    )  # fmt: skip
    headers, _, code = out.stdout.rpartition("\n")
    return int(code.strip() or headers.strip().split()[-1]), out.stdout


def test_seed_environment_serves_tls_and_htpasswd(
    seeded: Server, files: dict[str, Path], tmp_path: Path
) -> None:
    url = f"{seeded.url}/v2/"
    status, head = _curl(seeded, files["cert"], url)
    assert status == 401, head
    assert 'www-authenticate: basic realm="registry realm"' in head.lower(), head
    status, head = _curl(seeded, files["cert"], "-u", "testuser:wrong", url)
    assert status == 401, head
    status, head = _curl(seeded, files["cert"], "-u", "testuser:testpassword", url)
    assert status == 200, head
    # a blob pushed with those credentials lands under the configured root directory
    blob = tmp_path / "blob"
    blob.write_bytes(b"seeded" * 100)
    digest = "sha256:" + _run("sha256sum", str(blob)).split()[0]
    creds = ("-u", "testuser:testpassword")
    status, head = _curl(
        seeded, files["cert"], *creds, "-X", "POST", f"{url}seed/app/blobs/uploads/"
    )
    assert status == 202, head
    location = next(
        line.split(":", 1)[1].strip() for line in head.splitlines()
        if line.lower().startswith("location:")
    )  # fmt: skip
    location = location if location.startswith("https://") else f"{seeded.url}{location}"
    sep = "&" if "?" in location else "?"
    status, head = _curl(
        seeded, files["cert"], *creds, "-X", "PUT",
        "-H", "Content-Type: application/octet-stream", "--data-binary", f"@{blob}",
        f"{location}{sep}digest={digest}",
    )  # fmt: skip
    assert status == 201, head
    stored = [p for p in (tmp_path / "storage").rglob("*") if p.is_file()]
    assert stored, "nothing was written under REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY"
    # deletes are enabled (REGISTRY_STORAGE_DELETE_ENABLED=true)
    status, head = _curl(
        seeded, files["cert"], *creds, "-X", "DELETE",
        f"{seeded.url}/v2/seed/app/blobs/{digest}",
    )  # fmt: skip
    assert status == 202, head
    # and plain HTTP is not served
    plain = subprocess.run(
        ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", f"http://{seeded.host}/v2/"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert plain.stdout.strip() in ("000", "400"), plain


@pytest.mark.parametrize("kind", [LAMINA, pytest.param(DISTRIBUTION, marks=pytest.mark.interop)])
def test_delete_disabled_is_refused(kind: str, tmp_path: Path) -> None:
    """REGISTRY_STORAGE_DELETE_ENABLED=false: DELETE is 405 UNSUPPORTED, as Distribution's."""
    if kind == DISTRIBUTION and shutil.which("docker-registry") is None:
        pytest.skip("docker-registry (Debian package) is not installed")
    port = free_port()
    env = {
        "REGISTRY_HTTP_ADDR": f"127.0.0.1:{port}",
        "REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY": str(tmp_path / "storage"),
        "REGISTRY_STORAGE_DELETE_ENABLED": "false",
    }
    server = _start(kind, env, tmp_path, port)
    server.scheme = "http"
    try:
        wait_ready(server)
        client = Client(server.url)
        image = make_image("no-deletes")
        client.push_image("nodel/app", image, "v1")
        for path in (
            f"/v2/nodel/app/manifests/{image.digest}",
            f"/v2/nodel/app/blobs/{sha256(image.layers[0])}",
        ):
            r = client.request("DELETE", path)
            assert r.status == 405, (path, r.data)
            assert error_codes(r) == ["UNSUPPORTED"]
        accept = {"Accept": image.media_type}
        r = client.request("GET", f"/v2/nodel/app/manifests/{image.digest}", headers=accept)
        assert r.status == 200
    finally:
        server.stop()
