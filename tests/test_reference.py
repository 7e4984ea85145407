"""The name grammar is the distribution spec's regexes: ASCII only, nothing after the end
(Python's `$` matches before a trailing newline and `\\w` matches 'ä')."""

from __future__ import annotations

import pytest

from lamina.errors import ErrorCode, InvalidInput
from lamina.reference import Reference, validate_repository, validate_tag

GOOD_DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize("name", ["a", "a/b", "a-b/c__d/e.f", "x" * 255, "a0/9z"])
def test_valid_repositories(name: str) -> None:
    assert validate_repository(name) == name


@pytest.mark.parametrize(
    "name", ["a\n", "a/b\n", "\na", "ä", "aä/b", "a/\u0662", "A", "a//b", "a/", "", "x" * 256]
)
def test_invalid_repositories(name: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        validate_repository(name)
    assert exc.value.code is ErrorCode.NAME_INVALID


@pytest.mark.parametrize("tag", ["v1", "latest", "_x", "V1.0-rc_2", "a" * 128])
def test_valid_tags(tag: str) -> None:
    assert validate_tag(tag) == tag


@pytest.mark.parametrize(
    "tag", ["v1\n", "ä", "vä", "\u0661", "-x", ".x", "a" * 129, "v 1", "", "v1\r"]
)
def test_invalid_tags(tag: str) -> None:
    with pytest.raises(InvalidInput):
        validate_tag(tag)


@pytest.mark.parametrize(
    "text",
    [
        "localhost/app:v1\n",
        "localhost/app\n",
        "localhost/app:vä",
        "localhost/äpp:v1",
        "localhost\n/app",
        "exämple.com/app",
        f"localhost/app@{GOOD_DIGEST}\n",
    ],
)
def test_invalid_references(text: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        Reference.parse(text)
    assert exc.value.code is ErrorCode.NAME_INVALID


def test_valid_reference_still_parses() -> None:
    ref = Reference.parse(f"localhost:5000/team/app:v1.0@{GOOD_DIGEST}")
    assert (ref.domain, ref.path, ref.tag) == ("localhost:5000", "team/app", "v1.0")
    assert str(ref.digest) == GOOD_DIGEST


def test_image_id_needs_exactly_64_hex() -> None:
    assert Reference.is_image_id("a" * 64)
    assert not Reference.is_image_id("a" * 64 + "\n")
