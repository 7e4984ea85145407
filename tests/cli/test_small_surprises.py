"""Issue 15 item 9: small differences from podman/skopeo that surprised users."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

import pytest

from tests.cli.conftest import Run

needs_busybox = pytest.mark.skipif(not Path("/bin/busybox").exists(), reason="busybox-static")


def _created(lamina: Run) -> float:
    info = lamina("inspect", "localhost/busybox:latest").json()[0]
    return datetime.fromisoformat(info["Created"].replace("Z", "+00:00")).timestamp()


@needs_busybox
def test_base_is_dated_now_without_source_date_epoch(
    lamina: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SOURCE_DATE_EPOCH")
    before = time.time()
    assert lamina("base").code == 0
    assert before - 2 <= _created(lamina) <= time.time() + 1


@needs_busybox
def test_base_is_dated_source_date_epoch(lamina: Run) -> None:
    assert lamina("base").code == 0  # the fixture sets SOURCE_DATE_EPOCH=1700000000
    assert _created(lamina) == 1700000000
