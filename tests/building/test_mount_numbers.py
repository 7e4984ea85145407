from __future__ import annotations

import pytest

from lamina.building.mounts import _number
from lamina.errors import InvalidInput


def test_mount_numbers_parse_and_reject_garbage() -> None:
    assert _number({"mode": "0644"}, "mode", "0400", 8) == 0o644
    assert _number({}, "uid", "0") == 0
    with pytest.raises(InvalidInput, match="uid='x'"):
        _number({"uid": "x"}, "uid", "0")
    with pytest.raises(InvalidInput, match="octal mode"):
        _number({"mode": "9"}, "mode", "0755", 8)
