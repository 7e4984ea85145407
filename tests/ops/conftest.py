"""Live registries for the moving-images tests: lamina's own (plain and with htpasswd, an
access log to count requests) and the Distribution registry (plain and with htpasswd), each on
a free 127.0.0.1 port, stopped by PID."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.server.servers import Server, start_lamina
from tests.transports.registry.servers import Distribution

USER, PASSWORD = "mover", "m0ving-pass"


def htpasswd_file(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    out = subprocess.run(
        ["htpasswd", "-Bbn", USER, PASSWORD], check=True, capture_output=True, text=True
    ).stdout
    path = directory / "htpasswd"
    path.write_text(out)
    return path


@pytest.fixture(scope="module")
def lamina_reg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("lamina-reg")
    server = start_lamina(root / "storage", "--access-log", str(root / "access.jsonl"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def lamina_auth_reg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("lamina-auth-reg")
    server = start_lamina(root / "storage", "--htpasswd", str(htpasswd_file(root)))
    yield server
    server.stop()


def _need_distribution() -> None:
    if shutil.which("docker-registry") is None:
        pytest.skip("docker-registry (Debian package) is not installed")


@pytest.fixture(scope="module")
def distribution(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Distribution]:
    _need_distribution()
    reg = Distribution(tmp_path_factory.mktemp("dist")).start()
    yield reg
    reg.stop()


@pytest.fixture(scope="module")
def auth_distribution(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Distribution]:
    _need_distribution()
    reg = Distribution(tmp_path_factory.mktemp("auth-dist"), htpasswd=(USER, PASSWORD)).start()
    yield reg
    reg.stop()


@pytest.fixture(params=["lamina", pytest.param("distribution", marks=pytest.mark.interop)])
def any_host(request: pytest.FixtureRequest) -> str:
    """The host:port of each real registry in turn."""
    if request.param == "lamina":
        server: Server = request.getfixturevalue("lamina_reg")
        return server.host
    reg: Distribution = request.getfixturevalue("distribution")
    return reg.host


@pytest.fixture(params=["lamina", pytest.param("distribution", marks=pytest.mark.interop)])
def auth_host(request: pytest.FixtureRequest) -> str:
    """A registry demanding Basic auth (USER / PASSWORD), each kind in turn."""
    if request.param == "lamina":
        server: Server = request.getfixturevalue("lamina_auth_reg")
        return server.host
    reg: Distribution = request.getfixturevalue("auth_distribution")
    return reg.host


@pytest.fixture
def repo(request: pytest.FixtureRequest) -> str:
    """A repository name unique to the test."""
    name = request.node.name.lower()
    cleaned = "".join(c if c.isalnum() else "-" for c in name).strip("-")
    while "--" in cleaned:
        cleaned = cleaned.replace("--", "-")
    return f"t/{cleaned[:100]}"


@pytest.fixture
def no_user_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point HOME/XDG at a scratch directory so no real auth file or registries.conf leaks
    in; returns the scratch home."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(home / "run"))
    monkeypatch.delenv("REGISTRY_AUTH_FILE", raising=False)
    monkeypatch.delenv("CONTAINERS_REGISTRIES_CONF", raising=False)
    return home
