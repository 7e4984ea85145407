"""Fixtures of the build tests: no stray mounts, root-only tests skipped otherwise."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from lamina.content.blobstore import BlobStore


def _mounts(under: str) -> list[str]:
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        points = [line.split(" ", 5)[4] for line in f]
    return sorted(p for p in points if p.startswith(under))


@pytest.fixture(autouse=True)
def no_stray_mounts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Mounts under this session's temp dirs (others' tests may mount elsewhere meanwhile)."""
    base = str(tmp_path_factory.getbasetemp())
    before = _mounts(base)
    yield
    assert _mounts(base) == before, "a test left mounts behind"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if os.geteuid() == 0:
        return
    skip = pytest.mark.skip(reason="needs root")
    for item in items:
        if "root" in item.keywords and str(item.fspath).startswith(str(Path(__file__).parent)):
            item.add_marker(skip)


@pytest.fixture
def blobs(tmp_path: Path) -> BlobStore:
    return BlobStore(tmp_path / "blobs")
