from __future__ import annotations

import pytest

from lamina.digest import Digest
from lamina.errors import ErrorCode, InvalidInput

GOOD = "sha256:" + "a" * 64


def test_parse_roundtrip() -> None:
    d = Digest.parse(GOOD)
    assert str(d) == GOOD
    assert d.short == "a" * 12


def test_sha512() -> None:
    d = Digest.of_bytes(b"x", "sha512")
    assert Digest.parse(str(d)) == d
    assert len(d.hex) == 128


@pytest.mark.parametrize(
    "text",
    [
        "",
        "sha256",
        "sha256:",
        "sha256:" + "a" * 63,
        "sha256:" + "A" * 64,
        "md5:" + "a" * 32,
        "sha256:" + "g" * 64,
        "SHA256:" + "a" * 64,
        "sha512:" + "a" * 64,
        " sha256:" + "a" * 64,
        "sha256:" + "a" * 64 + "\n",
        "sha256:" + "a" * 63 + "\n",
        "sha256\n:" + "a" * 64,
        "sha256:" + "a" * 63 + "\u0661",
        "sha256:" + "a" * 63 + "ä",
    ],
)
def test_invalid(text: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        Digest.parse(text)
    assert exc.value.code is ErrorCode.DIGEST_INVALID


def test_of_bytes() -> None:
    assert str(Digest.of_bytes(b"hello")) == (
        "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    )
