from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lamina.content.blobstore import BlobStore
from tests.transports.registry.servers import Distribution, LaminaServer, TLSFiles, make_tls

USER, PASSWORD = "tester", "s3cret-pass"


@pytest.fixture(scope="module")
def distribution(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Distribution]:
    reg = Distribution(tmp_path_factory.mktemp("distribution")).start()
    try:
        yield reg
    finally:
        reg.stop()


@pytest.fixture(scope="module")
def auth_distribution(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Distribution]:
    reg = Distribution(tmp_path_factory.mktemp("auth-registry"), htpasswd=(USER, PASSWORD))
    reg.start()
    try:
        yield reg
    finally:
        reg.stop()


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TLSFiles:
    return make_tls(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def tls_distribution(
    tmp_path_factory: pytest.TempPathFactory, tls_files: TLSFiles
) -> Iterator[Distribution]:
    reg = Distribution(tmp_path_factory.mktemp("tls-registry"), tls=tls_files).start()
    try:
        yield reg
    finally:
        reg.stop()


@pytest.fixture(scope="module")
def lamina_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LaminaServer]:
    srv = LaminaServer(tmp_path_factory.mktemp("lamina-server")).start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(params=["distribution", "lamina"])
def any_registry(request: pytest.FixtureRequest) -> str:
    """The host of each real registry in turn."""
    fixture = "distribution" if request.param == "distribution" else "lamina_server"
    server: Distribution | LaminaServer = request.getfixturevalue(fixture)
    return server.host


@pytest.fixture
def store(tmp_path: Path) -> BlobStore:
    return BlobStore(tmp_path / "blobs")
