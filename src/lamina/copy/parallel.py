"""`copy_with`: copy_image with a pool of blob transfers and the conversions skopeo offers.

The blobs of one image (config and layers) move on a thread pool of `workers` threads when
both ends declare `ConcurrentBlobs` (registries, the store, OCI layouts, `dir:`); otherwise
(archives) one blob at a time. A destination that declares `VerifiesOnPut` is handed the
source's bytes unhashed (it checks them); any other gets them through a VerifyingReader.
Blobs are mounted instead of copied when both references name repositories of one registry
(`NamesRepository`) and the destination `MountsBlobs`. Manifests are written after their
blobs, children before their index. Manifests are copied verbatim unless a conversion is
asked for (`manifest_format`, `compression`) or needed (the destination cannot hold the type;
Docker schema2 cannot hold zstd layers); with `preserve_digests` such a change is an error
raised before any byte moves.
Progress events are delivered from worker threads one at a time (the callback is locked).
"""

from __future__ import annotations

import tempfile
import threading
from concurrent.futures import FIRST_EXCEPTION, wait
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lamina import media_types as mt
from lamina.copy.admission import AdmissionCheck, admit_instance
from lamina.copy.blobs import BlobMover, mount_source
from lamina.copy.convert import (
    FORMATS,
    INDEX_FOR,
    LayerPlan,
    changes_digest,
    plan_layers,
    rebuild,
)
from lamina.digest import Digest
from lamina.errors import ErrorCode, IntegrityError, InvalidInput, NotFound
from lamina.oci import Descriptor, ImageIndex, ImageManifest, parse_any
from lamina.platform import Platform
from lamina.transports.base import (
    ConcurrentBlobs,
    GzipLayersOnly,
    ImageDestination,
    ImageReference,
    ImageSource,
    ManifestTypeLimited,
)

if TYPE_CHECKING:  # events are built only for a progress callback (start-up time)
    from lamina.copy.progress import ProgressCallback, ProgressEvent

MULTI_ARCH = ("system", "all", "index-only")
DEFAULT_WORKERS = 6  # as containers/image (skopeo): a 5-layer image moves at once


@dataclass(frozen=True, slots=True, kw_only=True)
class CopyOptions:
    """`multi_arch`: for an index, `system` copies the one image for `platform` (the host's
    by default), `all` every child and the index, `index-only` the index alone.
    `manifest_format`: `oci` or `v2s2` (None keeps the source's). `compression`: `gzip` or
    `zstd` to recompress layers (None keeps them)."""

    multi_arch: str = "system"
    platform: Platform | None = None
    preserve_digests: bool = False
    manifest_format: str | None = None
    compression: str | None = None
    remove_signatures: bool = False
    workers: int = DEFAULT_WORKERS


@dataclass(frozen=True, slots=True)
class Copied:
    """What `copy_reporting` did: the top manifest's digest as written, and the source's
    top manifest (raw bytes, media type) as the copy read it."""

    digest: Digest
    source_manifest: tuple[bytes, str]


def copy_with(
    src_ref: ImageReference,
    dst_ref: ImageReference,
    options: CopyOptions | None = None,
    progress: ProgressCallback | None = None,
    *,
    admission: AdmissionCheck | None = None,
) -> Digest:
    """Copy `src_ref` to `dst_ref` as `options` say; return the top manifest's digest as
    written. The destination is committed only if everything succeeded. `admission` is
    asked, before any blob is read, about what containers/image's policy check sees (see
    `lamina.copy.admission`): a single image's manifest, or each index instance copied
    (with its own signatures), not the index; with `index-only`, the index."""
    return copy_reporting(src_ref, dst_ref, options, progress, admission=admission).digest


def copy_reporting(
    src_ref: ImageReference,
    dst_ref: ImageReference,
    options: CopyOptions | None = None,
    progress: ProgressCallback | None = None,
    *,
    admission: AdmissionCheck | None = None,
) -> Copied:
    """`copy_with`, also handing back the source's top manifest it read (so that a caller
    needing it, as `copy --all` for the referrers, does not fetch it again)."""
    opts = options or CopyOptions()
    if opts.multi_arch not in MULTI_ARCH:
        raise InvalidInput(
            f"unknown multi-arch mode {opts.multi_arch!r}", hint="use system, all or index-only"
        )
    if opts.manifest_format is not None and opts.manifest_format not in FORMATS:
        raise InvalidInput(
            f"unknown manifest format {opts.manifest_format!r}", hint="use oci or v2s2"
        )
    if opts.compression is not None and opts.compression not in ("gzip", "zstd"):
        raise InvalidInput(f"unknown compression {opts.compression!r}", hint="use gzip or zstd")
    locked = _locked(progress)
    src = src_ref.new_source()
    try:
        dst = dst_ref.new_destination()
        try:
            concurrent = isinstance(src, ConcurrentBlobs) and isinstance(dst, ConcurrentBlobs)
            workers = max(1, opts.workers) if concurrent else 1
            with tempfile.TemporaryDirectory(prefix="lamina-copy-") as work:
                copier = _Copier(src, dst, opts, locked, workers, Path(work))
                copier.admission = admission
                copier.blobs.mount_from = mount_source(src_ref, dst_ref, dst)
                try:
                    digest = copier.run()
                finally:
                    copier.shutdown()
                assert copier.source_manifest is not None  # read first by run()
            dst.commit()
        finally:
            dst.close()
    finally:
        src.close()
    if locked is not None:
        from lamina.copy.progress import CopyDone

        locked(CopyDone(digest=digest, destination=dst_ref.describe()))
    return Copied(digest, copier.source_manifest)


def _locked(progress: ProgressCallback | None) -> ProgressCallback | None:
    if progress is None:
        return None
    lock = threading.Lock()

    def call(event: ProgressEvent) -> None:
        with lock:
            progress(event)

    return call


class _Copier:
    def __init__(
        self,
        src: ImageSource,
        dst: ImageDestination,
        options: CopyOptions,
        progress: ProgressCallback | None,
        workers: int,
        workdir: Path,
    ) -> None:
        self.src, self.dst, self.options = src, dst, options
        self.progress = progress
        self.blobs = BlobMover(src, dst, progress, workers, workdir)
        self.admission: AdmissionCheck | None = None
        # Child manifests and signatures read by the admission pass, reused by the copy.
        self.manifests: dict[Digest, bytes] = {}
        self.signatures: dict[Digest, list[bytes]] = {}
        self.source_manifest: tuple[bytes, str] | None = None  # the top one, as read

    def shutdown(self) -> None:
        self.blobs.shutdown()

    # -- manifests ------------------------------------------------------------------------

    def run(self) -> Digest:
        raw, media_type = self.source_manifest = self.src.get_manifest()
        parsed = parse_any(raw, media_type, f"{self.src.describe()}: manifest")
        if isinstance(parsed, ImageManifest):
            self._admit_top(raw)  # copySingleImage(unparsedToplevel)
            return self._image(raw, parsed, child=False).digest
        mode = "system" if self.options.platform is not None else self.options.multi_arch
        if mode == "system":
            return self._one_platform(parsed, self.options.platform or Platform.host())
        dst = self.dst
        if isinstance(dst, ManifestTypeLimited) and (
            parsed.media_type not in dst.supported_manifest_types()
            and (mode == "index-only" or not dst.supported_manifest_types() & mt.INDEX_TYPES)
        ):
            raise InvalidInput(
                f"{self.dst.describe()}: cannot store an image index "
                f"({parsed.media_type}); {self.src.describe()} is multi-platform",
                code=ErrorCode.UNSUPPORTED,
                hint="copy one platform (--multi-arch system, or --platform)",
            )
        if mode == "index-only":
            self._check_index_format(parsed)
            # containers/image judges nothing here (no instance is copied); lamina judges
            # the one manifest that moves.
            self._admit_top(raw)
            self._put_manifest(raw, parsed.media_type, None)
            return parsed.digest
        self._admit_all(parsed)
        return self._index(raw, parsed, child=False).digest

    def _signatures(self, digest: Digest) -> list[bytes]:
        found = self.signatures.get(digest)
        if found is None:
            found = self.signatures[digest] = self.src.signatures(digest)
        return found

    def _admit_top(self, raw: bytes) -> None:
        if self.admission is not None:
            signatures = self._signatures(Digest.of_bytes(raw))
            self.admission.check(self.src.describe(), None, raw, signatures)

    def _admit(self, digest: Digest, raw: bytes) -> None:
        if self.admission is None:
            return
        sigs = admit_instance(self.admission, self.src, self.src.describe(), digest, raw)
        if sigs is not None:
            self.signatures[digest] = sigs

    def _admit_all(self, index: ImageIndex) -> None:
        """Judge every image instance `_index` will copy (the children of nested indexes
        too) before the first blob of any of them is read. Indexes are not judged:
        containers/image's copyMultipleImages has no policy check of its own, only the one
        in copySingleImage for each instance."""
        if self.admission is None:
            return
        for desc in index.manifests:
            if desc.media_type in mt.INDEX_TYPES:
                what = f"{self.src.describe()}@{desc.digest}"
                self._admit_all(ImageIndex.parse(self._child(desc), desc.media_type, what))
            elif desc.media_type in mt.MANIFEST_TYPES:
                self._admit(desc.digest, self._child(desc))

    def _check_index_format(self, index: ImageIndex) -> None:
        fmt = self.options.manifest_format
        if fmt is not None and INDEX_FOR[FORMATS[fmt]] != index.media_type:
            raise InvalidInput(
                f"{self.src.describe()}: --format {fmt} needs the images converted too; "
                "--multi-arch index-only copies the index alone",
                code=ErrorCode.UNSUPPORTED,
                hint="use --all (or --multi-arch all) to convert every image",
            )

    def _child(self, desc: Descriptor) -> bytes:
        cached = self.manifests.get(desc.digest)
        if cached is not None:
            return cached
        raw, _ = self.src.get_manifest(desc.digest)
        if len(raw) != desc.size or Digest.of_bytes(raw, desc.digest.algorithm) != desc.digest:
            raise IntegrityError(
                f"{self.src.describe()}: manifest {desc.digest} does not match its descriptor"
            )
        self.manifests[desc.digest] = raw
        return raw

    def _one_platform(self, index: ImageIndex, wanted: Platform) -> Digest:
        desc = index.for_platform(wanted)
        if desc is None or desc.media_type not in mt.MANIFEST_TYPES:
            have = ", ".join(str(d.platform) for d in index.manifests if d.platform) or "none"
            raise NotFound(
                f"{self.src.describe()}: no image for platform {wanted} (has: {have})",
                code=ErrorCode.MANIFEST_UNKNOWN,
                hint="choose one with --platform OS/ARCH, or copy all with --all",
            )
        raw = self._child(desc)
        self._admit(desc.digest, raw)  # copy.Image: copySingleImage(UnparsedInstance)
        what = f"{self.src.describe()}@{desc.digest}"
        manifest = ImageManifest.parse(raw, desc.media_type, what)
        return self._image(raw, manifest, child=False).digest

    def _index(self, raw: bytes, index: ImageIndex, *, child: bool) -> Descriptor:
        target = self._index_target(index)  # refused (if it is) before any blob moves
        children: list[Descriptor] = []
        for desc in index.manifests:
            body = self._child(desc)
            what = f"{self.src.describe()}@{desc.digest}"
            if desc.media_type in mt.INDEX_TYPES:
                new = self._index(body, ImageIndex.parse(body, desc.media_type, what), child=True)
            elif desc.media_type in mt.MANIFEST_TYPES:
                manifest = ImageManifest.parse(body, desc.media_type, what)
                new = self._image(body, manifest, child=True)
            else:
                raise InvalidInput(
                    f"{what}: index entry has unsupported media type {desc.media_type!r}",
                    code=ErrorCode.MANIFEST_INVALID,
                )
            children.append(
                Descriptor(
                    media_type=new.media_type,
                    digest=new.digest,
                    size=new.size,
                    urls=desc.urls,
                    annotations=desc.annotations,
                    platform=desc.platform,
                    artifact_type=desc.artifact_type,
                    extra=desc.extra,
                )
            )
        if target == index.media_type and all(
            a.digest == b.digest for a, b in zip(children, index.manifests, strict=True)
        ):
            out_raw, out_type = raw, index.media_type
        else:
            self._refuse_change(f"{self.src.describe()}: the index")
            docker = target == mt.DOCKER_MANIFEST_LIST
            rebuilt = ImageIndex.build(
                children,
                media_type=target,
                annotations=None if docker else index.annotations,
                subject=None if docker else index.subject,
                artifact_type=None if docker else index.artifact_type,
            )
            out_raw, out_type = rebuilt.raw, target
        digest = Digest.of_bytes(out_raw)
        self._put_manifest(out_raw, out_type, digest if child else None)
        return Descriptor(media_type=out_type, digest=digest, size=len(out_raw))

    def _limited(self, target: str, kinds: frozenset[str]) -> str:
        """`target`, or the type (of `kinds`) a ManifestTypeLimited destination converts
        it to, as containers/image does (an OCI layout takes OCI types only). A format the
        user forces (`--format`) is written as asked, as containers/image does."""
        if not isinstance(self.dst, ManifestTypeLimited) or self.options.manifest_format:
            return target
        supported = self.dst.supported_manifest_types()
        if target in supported:
            return target
        others = sorted(t for t in kinds if t in supported)
        if not others:
            raise InvalidInput(
                f"{self.dst.describe()}: cannot store a {target} manifest",
                code=ErrorCode.UNSUPPORTED,
                hint=f"it takes {', '.join(sorted(supported))}" if supported else None,
            )
        if self.options.preserve_digests:
            raise InvalidInput(
                f"{self.dst.describe()}: stores {', '.join(others)} only, so the source's "
                f"{target} manifest would be converted and change its digest; "
                "--preserve-digests forbids that",
                code=ErrorCode.UNSUPPORTED,
                hint="drop --preserve-digests (the image is converted as skopeo does), or "
                "copy to a destination that keeps the type (dir:, docker-archive:, a registry)",
            )
        return others[0]

    def _index_target(self, index: ImageIndex) -> str:
        fmt = self.options.manifest_format
        target = INDEX_FOR[FORMATS[fmt]] if fmt else index.media_type
        return self._limited(target, mt.INDEX_TYPES)

    def _target(self, manifest: ImageManifest) -> str:
        fmt = self.options.manifest_format
        target = self._limited(FORMATS[fmt] if fmt else manifest.media_type, mt.MANIFEST_TYPES)
        zstd = any(mt.layer_compression(d.media_type) == "zstd" for d in manifest.layers)
        if isinstance(self.dst, GzipLayersOnly) and zstd and self.options.compression != "zstd":
            target = mt.DOCKER_MANIFEST  # `docker load` reads gzip or plain layers only
        return target

    def _refuse_change(self, what: str) -> None:
        if self.options.preserve_digests:
            raise InvalidInput(
                f"{what} would change its digest (format conversion or recompression), and "
                "--preserve-digests forbids that",
                code=ErrorCode.UNSUPPORTED,
                hint="drop --preserve-digests, or the --format/--dest-compress-format that "
                "asks for the change",
            )

    def _image(self, raw: bytes, manifest: ImageManifest, *, child: bool) -> Descriptor:
        what = f"{self.src.describe()}@{manifest.digest}"
        target = self._target(manifest)
        plans = plan_layers(manifest, target, self.options.compression, what)
        changed = changes_digest(manifest, target, plans)
        if changed:
            self._refuse_change(what)
            if self._signatures(manifest.digest) and not self.options.remove_signatures:
                raise InvalidInput(
                    f"{what} is signed and converting it would invalidate its signatures",
                    code=ErrorCode.UNSUPPORTED,
                    hint="drop the conversion, or pass --remove-signatures",
                )
        config_plan = LayerPlan(manifest.config, manifest.config.media_type, None)
        # The config and the layers start at once (where the pool has the threads): a
        # destination that declares ConcurrentBlobs takes them in any order.
        futures = [self.blobs.submit(config_plan), *(self.blobs.submit(p) for p in plans)]
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        for f in futures:
            if f in done and f.exception() is not None:
                for other in futures:
                    other.cancel()
                wait(futures)
                raise f.exception()  # type: ignore[misc]
        results = [f.result() for f in futures]
        if changed:
            out = rebuild(manifest, target, results[1:])
            out_raw, out_type = out.raw, target
        else:
            out_raw, out_type = raw, manifest.media_type
        digest = Digest.of_bytes(out_raw)
        self._put_manifest(out_raw, out_type, digest if child else None, changed=changed)
        return Descriptor(media_type=out_type, digest=digest, size=len(out_raw))

    def _put_manifest(
        self, raw: bytes, media_type: str, instance: Digest | None, *, changed: bool = False
    ) -> None:
        self.dst.put_manifest(raw, media_type, instance=instance)
        digest = Digest.of_bytes(raw, instance.algorithm if instance else "sha256")
        if self.progress is not None:
            from lamina.copy.progress import ManifestWritten

            self.progress(
                ManifestWritten(digest=digest, media_type=media_type, instance=bool(instance))
            )
        if changed or self.options.remove_signatures:
            return
        signatures = self._signatures(digest)
        if signatures:
            self.dst.put_signatures(digest, signatures)
