"""`copy_image`: move an image or an index from any source to any destination.

Manifests are copied verbatim (digests never change). Each blob is read from the source
through a VerifyingReader and handed to the destination, which verifies again before the
blob becomes visible. Blobs the destination already has are skipped. On any error the
destination is closed without commit, which removes partial output.
"""

from __future__ import annotations

import io
from typing import BinaryIO, Protocol, runtime_checkable

from lamina import media_types as mt
from lamina.content import VerifyingReader
from lamina.copy.admission import AdmissionCheck, admit_instance
from lamina.copy.progress import (
    BlobDone,
    BlobProgress,
    BlobSkipped,
    BlobStarted,
    CopyDone,
    ManifestWritten,
    ProgressCallback,
)
from lamina.digest import Digest
from lamina.errors import ErrorCode, IntegrityError, InvalidInput, NotFound
from lamina.oci import Descriptor, ImageIndex, ImageManifest, parse_any
from lamina.platform import Platform
from lamina.transports.base import ImageDestination, ImageReference, ImageSource

_PROGRESS_STEP = 4 << 20


@runtime_checkable
class ManifestTypeLimited(Protocol):
    """Optional destination capability: the manifest types it can store at all."""

    def supported_manifest_types(self) -> frozenset[str]: ...


def copy_image(
    src_ref: ImageReference,
    dst_ref: ImageReference,
    *,
    all_platforms: bool = True,
    platform: Platform | None = None,
    progress: ProgressCallback | None = None,
    admission: AdmissionCheck | None = None,
) -> Digest:
    """Copy the image `src_ref` names to `dst_ref`; return the digest of the top manifest
    written. For an index: every child when `all_platforms` and no `platform` is given,
    else only the child for `platform` (the host's by default), written as a single image.
    `admission` is asked, before any blob is read, about what containers/image's policy
    check sees (see `lamina.copy.admission`): a single image's manifest, or each index
    instance copied (with its own signatures), not the index."""
    src = src_ref.new_source()
    try:
        dst = dst_ref.new_destination()
        try:
            copier = _Copier(src, dst, progress)
            copier.admission = admission
            digest = copier.run(all_platforms=all_platforms and platform is None, platform=platform)
            dst.commit()
        finally:
            dst.close()
    finally:
        src.close()
    if progress is not None:
        progress(CopyDone(digest=digest, destination=dst_ref.describe()))
    return digest


class _Counting(io.RawIOBase):
    """Passes reads through, reporting BlobProgress every few MiB."""

    def __init__(self, inner: BinaryIO, desc: Descriptor, progress: ProgressCallback) -> None:
        super().__init__()
        self._inner = inner
        self._desc = desc
        self._progress = progress
        self._done = 0
        self._next = _PROGRESS_STEP

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self._inner.read(len(b))
        n = len(data)
        b[:n] = data
        self._done += n
        if self._done >= self._next or (n == 0 and self._done):
            self._next = self._done + _PROGRESS_STEP
            self._progress(
                BlobProgress(digest=self._desc.digest, done=self._done, total=self._desc.size)
            )
        return n


class _Copier:
    def __init__(
        self, src: ImageSource, dst: ImageDestination, progress: ProgressCallback | None
    ) -> None:
        self.src = src
        self.dst = dst
        self.progress = progress
        self.copied: set[Digest] = set()
        self.admission: AdmissionCheck | None = None

    def _emit(self, event: object) -> None:
        if self.progress is not None:
            self.progress(event)  # type: ignore[arg-type]

    def run(self, *, all_platforms: bool, platform: Platform | None) -> Digest:
        raw, media_type = self.src.get_manifest()
        parsed = parse_any(raw, media_type, f"{self.src.describe()}: manifest")
        if isinstance(parsed, ImageManifest):
            if self.admission is not None:  # copySingleImage(unparsedToplevel)
                signatures = self.src.signatures(Digest.of_bytes(raw))
                self.admission.check(self.src.describe(), None, raw, signatures)
            self._copy_image(raw, parsed, instance=None)
            return parsed.digest
        if not all_platforms:
            return self._copy_one_platform(parsed, platform or Platform.host())
        if isinstance(self.dst, ManifestTypeLimited):
            supported = self.dst.supported_manifest_types()
            if parsed.media_type not in supported:
                raise InvalidInput(
                    f"{self.dst.describe()}: cannot store an image index "
                    f"({parsed.media_type}); {self.src.describe()} is multi-platform",
                    code=ErrorCode.UNSUPPORTED,
                    hint="copy one platform (all_platforms=False, or give a platform)",
                )
        self._admit_all(parsed)
        self._copy_index(raw, parsed, instance=None)
        return parsed.digest

    def _admit_all(self, index: ImageIndex) -> None:
        """Judge every image instance (those of nested indexes too) before any blob of any
        of them moves; indexes themselves are not judged (containers/image's
        copyMultipleImages calls copySingleImage, and so the policy, per instance only)."""
        if self.admission is None:
            return
        for desc in index.manifests:
            if desc.media_type in mt.INDEX_TYPES:
                what = f"{self.src.describe()}@{desc.digest}"
                self._admit_all(ImageIndex.parse(self._child(desc), desc.media_type, what))
            elif desc.media_type in mt.MANIFEST_TYPES:
                raw = self._child(desc)
                admit_instance(self.admission, self.src, self.src.describe(), desc.digest, raw)

    def _child(self, desc: Descriptor) -> bytes:
        raw, _ = self.src.get_manifest(desc.digest)
        if len(raw) != desc.size or Digest.of_bytes(raw, desc.digest.algorithm) != desc.digest:
            raise IntegrityError(
                f"{self.src.describe()}: manifest {desc.digest} does not match its descriptor"
            )
        return raw

    def _copy_one_platform(self, index: ImageIndex, wanted: Platform) -> Digest:
        desc = index.for_platform(wanted)
        if desc is None or desc.media_type not in mt.MANIFEST_TYPES:
            have = ", ".join(str(d.platform) for d in index.manifests if d.platform) or "none"
            raise NotFound(
                f"{self.src.describe()}: no image for platform {wanted} (has: {have})",
                code=ErrorCode.MANIFEST_UNKNOWN,
            )
        raw = self._child(desc)
        if self.admission is not None:  # copy.Image: copySingleImage(UnparsedInstance)
            admit_instance(self.admission, self.src, self.src.describe(), desc.digest, raw)
        manifest = ImageManifest.parse(raw, desc.media_type, f"{self.src.describe()}@{desc.digest}")
        self._copy_image(raw, manifest, instance=None)
        return desc.digest

    def _copy_index(self, raw: bytes, index: ImageIndex, *, instance: Digest | None) -> None:
        for desc in index.manifests:
            child = self._child(desc)
            what = f"{self.src.describe()}@{desc.digest}"
            if desc.media_type in mt.INDEX_TYPES:
                self._copy_index(
                    child, ImageIndex.parse(child, desc.media_type, what), instance=desc.digest
                )
            elif desc.media_type in mt.MANIFEST_TYPES:
                manifest = ImageManifest.parse(child, desc.media_type, what)
                self._copy_image(child, manifest, instance=desc.digest)
            else:
                raise InvalidInput(
                    f"{what}: index entry has unsupported media type {desc.media_type!r}",
                    code=ErrorCode.MANIFEST_INVALID,
                )
        self._put_manifest(raw, index.media_type, instance)

    def _copy_image(self, raw: bytes, manifest: ImageManifest, *, instance: Digest | None) -> None:
        for desc in manifest.blobs():
            self._copy_blob(desc)
        self._put_manifest(raw, manifest.media_type, instance)

    def _put_manifest(self, raw: bytes, media_type: str, instance: Digest | None) -> None:
        self.dst.put_manifest(raw, media_type, instance=instance)
        digest = Digest.of_bytes(raw, instance.algorithm if instance else "sha256")
        self._emit(ManifestWritten(digest=digest, media_type=media_type, instance=bool(instance)))
        signatures = self.src.signatures(digest)
        if signatures:
            self.dst.put_signatures(digest, signatures)

    def _copy_blob(self, desc: Descriptor) -> None:
        if desc.digest in self.copied:
            return
        if mt.is_non_distributable(desc.media_type) and desc.urls:
            self._emit(BlobSkipped(digest=desc.digest, size=desc.size, reason="foreign"))
            return
        if self.dst.has_blob(desc):
            self.copied.add(desc.digest)
            self._emit(BlobSkipped(digest=desc.digest, size=desc.size, reason="exists"))
            return
        self._emit(BlobStarted(digest=desc.digest, size=desc.size, media_type=desc.media_type))
        what = f"{self.src.describe()}: blob"
        with VerifyingReader(self.src.open_blob(desc), desc.digest, desc.size, what) as reader:
            stream: BinaryIO = reader  # type: ignore[assignment]
            if self.progress is not None:
                stream = _Counting(stream, desc, self.progress)  # type: ignore[assignment]
            self.dst.put_blob(stream, desc)
            if not reader.verified:
                reader.read_all_chunks()
        self.copied.add(desc.digest)
        self._emit(BlobDone(digest=desc.digest, size=desc.size))
