from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lamina.content import BlobStore
from lamina.store import Store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(tmp_path / "store")
    yield s
    s.close()


@pytest.fixture
def src(tmp_path: Path) -> BlobStore:
    """A scratch blob store the test images' layers live in before they are put."""
    return BlobStore(tmp_path / "src")
