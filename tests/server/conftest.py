"""Fixtures: one lamina registry and one Distribution registry per test session, and a
`registry` fixture that runs a test against each (the same test proves the spec)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from tests.server.client import Client
from tests.server.servers import DISTRIBUTION, LAMINA, Server, start_distribution, start_lamina


@pytest.fixture(scope="session")
def lamina_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_lamina(tmp_path_factory.mktemp("lamina") / "storage")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def distribution_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    if shutil.which("docker-registry") is None:
        pytest.skip("docker-registry (Debian package) is not installed")
    server = start_distribution(tmp_path_factory.mktemp("distribution") / "storage")
    yield server
    server.stop()


@pytest.fixture(params=[LAMINA, pytest.param(DISTRIBUTION, marks=pytest.mark.interop)])
def registry(request: pytest.FixtureRequest) -> Server:
    server: Server = request.getfixturevalue(f"{request.param}_server")
    return server


@pytest.fixture
def client(registry: Server) -> Client:
    return Client(registry.url)


@pytest.fixture
def repo(request: pytest.FixtureRequest) -> str:
    """A repository name unique to the test."""
    name = request.node.name.lower()
    cleaned = "".join(c if c.isalnum() else "-" for c in name).strip("-")
    while "--" in cleaned:
        cleaned = cleaned.replace("--", "-")
    return f"t/{cleaned[:150]}"
