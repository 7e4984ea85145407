"""lamina.platform: `os/arch[/variant]` parsed and normalised as containerd does, matching,
and malformed platforms refused."""

from __future__ import annotations

import pytest

from lamina.errors import InvalidInput
from lamina.platform import Platform

GOLDEN = [
    ("linux/amd64", "linux/amd64"),
    ("LINUX/AMD64", "linux/amd64"),
    ("linux/x86_64", "linux/amd64"),
    ("linux/x86-64", "linux/amd64"),
    ("amd64", "linux/amd64"),  # an architecture alone means linux
    ("linux/aarch64", "linux/arm64"),
    ("linux/arm64/v8", "linux/arm64/v8"),
    ("linux/arm64/8", "linux/arm64/v8"),
    ("linux/arm", "linux/arm/v7"),
    ("linux/armhf", "linux/arm/v7"),
    ("linux/armel", "linux/arm/v6"),
    ("linux/arm/6", "linux/arm/v6"),
    ("linux/arm/v5", "linux/arm/v5"),
    ("linux/i386", "linux/386"),
    ("linux/i686", "linux/386"),
    ("windows/amd64", "windows/amd64"),
    ("linux/riscv64", "linux/riscv64"),
    (" linux/s390x ", "linux/s390x"),
    ("freebsd/amd64", "freebsd/amd64"),
    ("linux/ppc64le", "linux/ppc64le"),
]


@pytest.mark.parametrize(("text", "normal"), GOLDEN)
def test_platforms_parse_and_normalise(text: str, normal: str) -> None:
    parsed = Platform.parse(text)
    assert str(parsed) == normal
    assert Platform.parse(str(parsed)) == parsed  # normal forms are fixed points


BAD = [
    "",
    "   ",
    "linux/",
    "/amd64",
    "linux//v7",
    "linux/arm/v7/extra",
    "linux/amd 64",
    "linux/../amd64",
    "linux/amd64/v8;rm",
    "lin*ux/amd64",
    "linux/arm/v7..1",
]


@pytest.mark.parametrize("text", BAD)
def test_malformed_platforms_are_refused(text: str) -> None:
    with pytest.raises(InvalidInput) as err:
        Platform.parse(text)
    assert "invalid platform" in err.value.message
    assert "OS/ARCH[/VARIANT]" in err.value.message


MATCHES = [
    ("linux/arm64", "linux/arm64/v8", True),  # no variant asked: any will do
    ("linux/arm64/v8", "linux/arm64", True),  # an image without one serves any
    ("linux/arm/v7", "linux/arm/v6", False),
    ("linux/arm/v7", "linux/arm/7", True),
    ("linux/amd64", "linux/arm64", False),
    ("linux/amd64", "windows/amd64", False),
]


@pytest.mark.parametrize(("wanted", "offered", "ok"), MATCHES)
def test_matching(wanted: str, offered: str, ok: bool) -> None:
    assert Platform.parse(wanted).matches(_as_listed(offered)) is ok


def _as_listed(text: str) -> Platform:
    """A platform as an index entry may carry it: not normalised."""
    os_name, arch, *rest = text.split("/")
    return Platform(os=os_name, architecture=arch, variant=rest[0] if rest else "")


def test_the_host_platform_is_normal() -> None:
    host = Platform.host()
    assert host.os == "linux"
    assert Platform.parse(str(host)) == host
