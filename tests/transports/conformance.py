"""The conformance suite every transport runs.

To use it for a transport, subclass `ConformanceSuite` in a `test_*.py` module and provide a
`case` fixture returning a `ConformanceCase`:

    class TestMyTransport(ConformanceSuite):
        @pytest.fixture
        def case(self, tmp_path: Path) -> ConformanceCase:
            return MyCase(tmp_path)

A case makes fresh references, says what the format can hold, tells whether a reference's
output exists, and can damage a stored blob (corrupt it, remove it) for the negative tests;
a case that cannot damage blobs returns False from those hooks and the tests skip.
"""

from __future__ import annotations

import io
from typing import Protocol

import pytest

from lamina import media_types as mt
from lamina.copy import ProgressEvent, copy_image
from lamina.copy.progress import BlobDone, BlobSkipped, CopyDone
from lamina.digest import Digest
from lamina.errors import IntegrityError, InvalidInput, LaminaError, NotFound
from lamina.image.model import Image, ImageIndexView, load
from lamina.image.validate import validate
from lamina.oci import Descriptor, ImageConfig, ImageManifest
from lamina.platform import Platform
from lamina.transports.base import ImageReference, ImageSource
from tests.transports.images import SampleImage, make_image, make_index, put_image, put_index


class ConformanceCase(Protocol):
    supports_index: bool
    """The format stores image indexes (all but docker-archive)."""
    preserves_manifest: bool
    """Manifests read back byte for byte (docker-archive generates its own)."""

    def new_ref(self, name: str) -> ImageReference:
        """A fresh reference nothing has been written to; `name` is a short word."""
        ...

    def exists(self, ref: ImageReference) -> bool:
        """Whether any output for `ref` is visible (a file, a directory, an image)."""
        ...

    def corrupt_blob(self, ref: ImageReference, digest: Digest) -> bool:
        """Change one byte of the stored blob `digest` (as the source names it)."""
        ...

    def remove_blob(self, ref: ImageReference, digest: Digest) -> bool: ...


def write(ref: ImageReference, img: SampleImage) -> None:
    dst = ref.new_destination()
    try:
        put_image(dst, img)
        dst.commit()
    finally:
        dst.close()


def read(src: ImageSource) -> Image | ImageIndexView:
    raw, media_type = src.get_manifest()
    return load(raw, src, media_type)


def layer_digest(case: ConformanceCase, ref: ImageReference) -> Digest:
    """The digest the source uses for the first layer (diff_id for docker-archive)."""
    src = ref.new_source()
    try:
        raw, media_type = src.get_manifest()
        return ImageManifest.parse(raw, media_type).layers[0].digest
    finally:
        src.close()


class ConformanceSuite:
    """Tests every transport passes. Subclasses provide the `case` fixture."""

    def test_image_roundtrip(self, case: ConformanceCase) -> None:
        img = make_image("round", layers=3)
        ref = case.new_ref("round")
        write(ref, img)
        assert case.exists(ref)
        src = ref.new_source()
        try:
            got = read(src)
            validate(got)
            assert isinstance(got, Image)
            assert got.config().digest == img.config.digest
            assert got.config().rootfs.diff_ids == tuple(img.diff_ids)
            if case.preserves_manifest:
                assert got.raw_manifest() == img.manifest.raw
                assert got.digest() == img.digest
                assert [x.descriptor.digest for x in got.layers()] == [
                    d.digest for d in img.manifest.layers
                ]
        finally:
            src.close()

    def test_copy_is_stable(self, case: ConformanceCase) -> None:
        """read → write → read keeps every manifest, config and blob digest."""
        first = case.new_ref("first")
        write(first, make_image("stable", layers=2))
        second = case.new_ref("second")
        events: list[ProgressEvent] = []
        digest = copy_image(first, second, progress=events.append)
        a, b = first.new_source(), second.new_source()
        try:
            raw_a, _ = a.get_manifest()
            raw_b, _ = b.get_manifest()
            assert raw_a == raw_b
            assert Digest.of_bytes(raw_b) == digest
            validate(read(b))
        finally:
            a.close()
            b.close()
        assert sum(isinstance(e, BlobDone) for e in events) == 3
        assert isinstance(events[-1], CopyDone)
        # Copying again into the same destination works (and replaces the image).
        again = copy_image(first, second)
        assert again == digest

    def test_index_roundtrip(self, case: ConformanceCase) -> None:
        idx = make_index("idx")
        ref = case.new_ref("idx")
        dst = ref.new_destination()
        try:
            if not case.supports_index:
                with pytest.raises(InvalidInput):
                    put_index(dst, idx)
                return
            put_index(dst, idx)
            dst.commit()
        finally:
            dst.close()
        src = ref.new_source()
        try:
            got = read(src)
            assert got.raw_manifest() == idx.index.raw
            validate(got)
            assert not isinstance(got, Image)
            for desc, child in zip(got.manifest().manifests, idx.children, strict=True):
                assert got.image(desc).raw_manifest() == child.manifest.raw
        finally:
            src.close()

    def test_copy_index_all_and_one_platform(self, case: ConformanceCase) -> None:
        if not case.supports_index:
            pytest.skip("the format holds no indexes")
        idx = make_index("cp")
        ref = case.new_ref("cpsrc")
        dst = ref.new_destination()
        try:
            put_index(dst, idx)
            dst.commit()
        finally:
            dst.close()
        all_ref = case.new_ref("cpall")
        assert copy_image(ref, all_ref) == idx.digest
        arm = case.new_ref("cparm")
        got = copy_image(ref, arm, platform=Platform.parse("linux/arm64"))
        assert got == idx.children[1].digest
        src = arm.new_source()
        try:
            raw, media_type = src.get_manifest()
            assert raw == idx.children[1].manifest.raw
            validate(load(raw, src, media_type))
        finally:
            src.close()
        with pytest.raises(NotFound, match="ppc64le"):
            copy_image(ref, case.new_ref("cpnone"), platform=Platform.parse("linux/ppc64le"))

    def test_put_blob_verifies(self, case: ConformanceCase) -> None:
        img = make_image("verify", layers=1)
        ref = case.new_ref("verify")
        dst = ref.new_destination()
        try:
            layer = img.manifest.layers[0]
            wrong = Descriptor(media_type=layer.media_type, digest=layer.digest, size=layer.size)
            data = bytearray(img.blobs[layer.digest])
            data[-1] ^= 0xFF
            with pytest.raises(IntegrityError):
                dst.put_blob(io.BytesIO(bytes(data)), wrong)
            assert not dst.has_blob(layer)
            with pytest.raises(IntegrityError):
                dst.put_blob(io.BytesIO(img.blobs[layer.digest][:-3]), layer)
            assert not dst.has_blob(layer)
            # The destination still works after refusing bad blobs.
            put_image(dst, img)
            dst.commit()
        finally:
            dst.close()
        src = ref.new_source()
        try:
            validate(read(src))
        finally:
            src.close()

    def test_close_without_commit_leaves_nothing(self, case: ConformanceCase) -> None:
        ref = case.new_ref("abandon")
        dst = ref.new_destination()
        put_image(dst, make_image("abandon", layers=2))
        dst.close()
        assert not case.exists(ref)

    def test_corrupt_blob_is_integrity_error(self, case: ConformanceCase) -> None:
        ref = case.new_ref("corrupt")
        write(ref, make_image("corrupt", layers=2))
        if not case.corrupt_blob(ref, layer_digest(case, ref)):
            pytest.skip("this case cannot corrupt a stored blob")
        src = ref.new_source()
        try:
            with pytest.raises(IntegrityError):
                validate(read(src))
        finally:
            src.close()
        out = case.new_ref("corruptcopy")
        with pytest.raises(IntegrityError):
            copy_image(ref, out)
        assert not case.exists(out)

    def test_missing_blob_is_not_found(self, case: ConformanceCase) -> None:
        ref = case.new_ref("missing")
        write(ref, make_image("missing", layers=2))
        digest = layer_digest(case, ref)
        if not case.remove_blob(ref, digest):
            pytest.skip("this case cannot remove a stored blob")
        out = case.new_ref("missingcopy")
        with pytest.raises(NotFound):
            src = ref.new_source()
            try:
                validate(read(src))
            finally:
                src.close()
        with pytest.raises(NotFound):
            copy_image(ref, out)
        assert not case.exists(out)

    def test_skips_blobs_the_destination_has(self, case: ConformanceCase) -> None:
        if not case.preserves_manifest:
            pytest.skip("each write makes a new archive")
        ref = case.new_ref("skipsrc")
        img = make_image("skip", layers=2)
        write(ref, img)
        out = case.new_ref("skipdst")
        copy_image(ref, out)
        events: list[ProgressEvent] = []
        copy_image(ref, out, progress=events.append)
        skipped = {e.digest for e in events if isinstance(e, BlobSkipped)}
        done = {e.digest for e in events if isinstance(e, BlobDone)}
        # Some formats are rewritten whole on each write, others keep what they have.
        assert skipped | done == {d.digest for d in img.manifest.blobs()}

    def test_read_errors_are_lamina_errors(self, case: ConformanceCase) -> None:
        ref = case.new_ref("absent")
        with pytest.raises(LaminaError):
            src = ref.new_source()
            try:
                src.get_manifest()
            finally:
                src.close()

    def test_docker_manifest_roundtrip(self, case: ConformanceCase) -> None:
        img = make_image("docker", layers=2, docker=True)
        ref = case.new_ref("docker")
        write(ref, img)
        src = ref.new_source()
        try:
            got = read(src)
            validate(got)
            assert isinstance(got, Image)
            assert got.manifest().media_type == mt.DOCKER_MANIFEST
            assert ImageConfig.parse(got.raw_config()).digest == img.config.digest
            if case.preserves_manifest:
                assert got.raw_manifest() == img.manifest.raw
        finally:
            src.close()
