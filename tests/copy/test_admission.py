"""The admission seam from copy's side, judging what containers/image's copy.Image judges:
a single image's manifest (copySingleImage(unparsedToplevel)); for an index, each image
instance copied with its own manifest and signatures (copyMultipleImages → copySingleImage
per instance; one platform: copySingleImage(UnparsedInstance)), never the index itself; all
before any blob is read. An `InstanceCheck` decides whether instance signatures are fetched
at all."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

import pytest

from lamina.copy.admission import InstanceCheck
from lamina.copy.alltransports import parse
from lamina.copy.copier import copy_image
from lamina.copy.parallel import CopyOptions, copy_with
from lamina.digest import Digest
from lamina.errors import TrustError
from lamina.oci import Descriptor
from lamina.platform import Platform
from lamina.reference import Reference
from lamina.transports.base import ImageDestination, ImageSource
from lamina.transports.layout import LayoutReference
from tests.ops.images import index_layout


class Plain:
    """An AdmissionCheck without the instance capability: asked once per manifest."""

    def __init__(self, refuse: Digest | None = None) -> None:
        self.refuse = refuse
        self.seen: list[Digest] = []

    def check(
        self, desc: str, ref: Reference | None, raw: bytes, signatures: Sequence[bytes]
    ) -> None:
        digest = Digest.of_bytes(raw)
        self.seen.append(digest)
        if digest == self.refuse:
            raise TrustError(f"refused {digest}")


class Instances(Plain):
    def __init__(self, refuse: Digest | None = None, *, wants: bool = False) -> None:
        super().__init__(refuse)
        self.wants = wants
        self.instances: list[tuple[Digest, int]] = []

    def needs_signatures(self, src_ref_description: str) -> bool:
        return self.wants

    def check_instance(
        self,
        desc: str,
        ref: Reference | None,
        instance: Digest,
        raw: bytes,
        signatures: Sequence[bytes],
    ) -> None:
        assert Digest.of_bytes(raw) == instance
        self.instances.append((instance, len(signatures)))
        if instance == self.refuse:
            raise TrustError(f"index instance {instance}: refused")


class Spied:
    """A source reference that records which blobs and signatures are asked for."""

    def __init__(self, inner: LayoutReference) -> None:
        self.inner = inner
        self.blobs: list[Digest] = []
        self.sigs: list[Digest] = []

    @property
    def transport(self) -> str:
        return self.inner.transport

    def describe(self) -> str:
        return self.inner.describe()

    def new_source(self) -> ImageSource:
        src = self.inner.new_source()
        open_blob, signatures = src.open_blob, src.signatures

        def spy_open(desc: Descriptor) -> BinaryIO:
            self.blobs.append(desc.digest)
            return open_blob(desc)

        def spy_sigs(digest: Digest) -> list[bytes]:
            self.sigs.append(digest)
            return signatures(digest)

        src.open_blob = spy_open  # type: ignore[method-assign]
        src.signatures = spy_sigs  # type: ignore[method-assign]
        return src

    def new_destination(self) -> ImageDestination:
        raise AssertionError("a source only")


ALL = CopyOptions(multi_arch="all")


def test_every_instance_is_judged_before_any_blob(tmp_path: Path) -> None:
    layout, index, _ = index_layout(tmp_path, "src", seed=3)
    first, second = (d.digest for d in index.manifests)
    for check in (Instances(second), Plain(second)):
        src = Spied(LayoutReference(str(layout), "v1"))
        out = tmp_path / f"out-{type(check).__name__}"
        with pytest.raises(TrustError, match=f"{second}"):
            copy_with(src, parse(f"oci:{out}:x"), ALL, admission=check)
        assert src.blobs == []
        assert not (out / "index.json").exists()
    plain = Plain()
    src = Spied(LayoutReference(str(layout), "v1"))
    copy_with(src, parse(f"oci:{tmp_path / 'ok'}:x"), ALL, admission=plain)
    assert plain.seen == [first, second]  # the index is not judged (copyMultipleImages)
    assert src.blobs


def test_the_index_itself_is_not_judged(tmp_path: Path) -> None:
    """Mirrors containers/image copy.Image: copyMultipleImages and the one-platform branch
    call IsRunningImageAllowed (in copySingleImage) for instances only, so a policy that
    would refuse the index manifest does not stop the copy."""
    layout, index, _ = index_layout(tmp_path, "src", seed=9)
    amd64 = Platform(os="linux", architecture="amd64")
    for i, options in enumerate((ALL, CopyOptions(platform=amd64))):
        check = Plain(index.digest)
        copy_with(
            LayoutReference(str(layout), "v1"),
            parse(f"oci:{tmp_path / f'p{i}'}:x"),
            options,
            admission=check,
        )
        assert index.digest not in check.seen and check.seen
    for i, everything in enumerate((True, False)):
        check = Plain(index.digest)
        out = tmp_path / f"c{i}"
        copy_image(
            LayoutReference(str(layout), "v1"),
            parse(f"oci:{out}:x"),
            all_platforms=everything,
            platform=None if everything else amd64,
            admission=check,
        )
        expected = (
            [d.digest for d in index.manifests] if everything else [index.manifests[0].digest]
        )
        assert check.seen == expected
    # the plain copier refuses an instance before any blob, as the parallel one does
    src = Spied(LayoutReference(str(layout), "v1"))
    second = index.manifests[1].digest
    with pytest.raises(TrustError, match=str(second)):
        copy_image(src, parse(f"oci:{tmp_path / 'no'}:x"), admission=Plain(second))
    assert src.blobs == []


def test_instance_signatures_are_fetched_only_when_the_check_needs_them(tmp_path: Path) -> None:
    layout, index, _ = index_layout(tmp_path, "src", seed=5)
    first, second = (d.digest for d in index.manifests)
    quiet = Instances()
    assert isinstance(quiet, InstanceCheck) and not isinstance(Plain(), InstanceCheck)
    src = Spied(LayoutReference(str(layout), "v1"))
    dst = parse(f"oci:{tmp_path / 'a'}:x")
    copy_with(src, dst, ALL, admission=quiet)
    assert quiet.seen == []  # the index is not judged; instances go through check_instance
    assert quiet.instances == [(first, 0), (second, 0)]
    # asked once each (to copy them along), never twice: the admission pass fetched none
    assert sorted(src.sigs) == sorted([index.digest, first, second])
    wants = Instances(wants=True)
    src = Spied(LayoutReference(str(layout), "v1"))
    copy_with(src, parse(f"oci:{tmp_path / 'b'}:x"), ALL, admission=wants)
    assert [d for d, _ in wants.instances] == [first, second]
    assert sorted(src.sigs) == sorted([index.digest, first, second])  # reused, not refetched


def test_one_platform_of_an_index_is_judged_too(tmp_path: Path) -> None:
    layout, index, _ = index_layout(tmp_path, "src", seed=7)
    amd64 = index.manifests[0].digest
    check = Instances(amd64)
    src = Spied(LayoutReference(str(layout), "v1"))
    options = CopyOptions(platform=Platform(os="linux", architecture="amd64"))
    with pytest.raises(TrustError, match=str(amd64)):
        copy_with(src, parse(f"oci:{tmp_path / 'one'}:x"), options, admission=check)
    assert src.blobs == []
    assert check.seen == [] and check.instances == [(amd64, 0)]  # the instance alone
    # index-only copies no instance: containers/image then judges nothing at all; lamina
    # judges the index, the one manifest that moves
    only = Instances(amd64)
    copy_with(
        Spied(LayoutReference(str(layout), "v1")),
        parse(f"oci:{tmp_path / 'idx'}:x"),
        CopyOptions(multi_arch="index-only"),
        admission=only,
    )
    assert only.instances == [] and only.seen == [index.digest]
