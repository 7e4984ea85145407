from __future__ import annotations

from collections.abc import Iterator

import pytest

from lamina.copy import alltransports
from lamina.errors import InvalidInput
from lamina.transports.base import ImageReference
from lamina.transports.directory import DirReference
from lamina.transports.docker_archive import DockerArchiveReference
from lamina.transports.layout import LayoutReference
from lamina.transports.oci_archive import OCIArchiveReference


def test_parses_the_file_transports() -> None:
    ref = alltransports.parse("oci:/tmp/x:latest")
    assert isinstance(ref, LayoutReference)
    assert (ref.path, ref.ref) == ("/tmp/x", "latest")
    assert ref.describe() == "oci:/tmp/x:latest"
    arch = alltransports.parse("oci-archive:/tmp/a.tar")
    assert isinstance(arch, OCIArchiveReference)
    assert arch.ref is None
    d = alltransports.parse("docker-archive:/tmp/d.tar:busybox")
    assert isinstance(d, DockerArchiveReference)
    assert str(d.name.ref) == "docker.io/library/busybox:latest"
    assert d.describe() == "docker-archive:/tmp/d.tar:docker.io/library/busybox:latest"
    assert alltransports.parse("docker-archive:/tmp/d.tar:@2").describe().endswith(":@2")
    assert isinstance(alltransports.parse("dir:/tmp/d"), DirReference)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("nothing", "TRANSPORT:DETAILS"),
        ("ftp:/x", "oci:DIR[:REF]"),
        ("oci:", "oci:DIR[:REF]"),
        ("oci:/x:", "oci:DIR[:REF]"),
        ("oci:/x:bad name", "oci:DIR[:REF]"),
        ("docker-archive:/x:@a", "docker-archive:FILE"),
        ("docker-archive:/x:busybox@sha256:" + "a" * 64, "docker-archive:FILE"),
        ("docker-archive:/x:UPPER", "docker-archive:FILE"),
        ("dir:", "dir:DIR"),
    ],
)
def test_malformed_strings_show_the_syntax(text: str, expected: str) -> None:
    with pytest.raises(InvalidInput) as info:
        alltransports.parse(text)
    assert expected in (info.value.hint or "")
    assert repr(text) in info.value.message


@pytest.fixture
def custom() -> Iterator[None]:
    yield
    alltransports.unregister("custom")


def test_register_plugs_in_a_transport(custom: None) -> None:
    seen: list[str] = []

    def factory(rest: str) -> ImageReference:
        seen.append(rest)
        return DirReference(rest)

    alltransports.register("custom", factory, "custom:PATH")
    assert "custom" in alltransports.transports()
    assert isinstance(alltransports.parse("custom:/a:b"), DirReference)
    assert seen == ["/a:b"]
    with pytest.raises(InvalidInput) as info:
        alltransports.parse("nope:x")
    assert "custom:PATH" in (info.value.hint or "")
    with pytest.raises(ValueError):
        alltransports.register("a:b", factory)
