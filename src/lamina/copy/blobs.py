"""Moving the blobs of a copy: each blob once, on a thread pool, checked once.

`BlobMover.submit(plan)` moves one blob (config or layer) from the source to the destination
and returns a future of its descriptor as written. A blob already at the destination, or
mounted there from another repository of its registry (`mount_from`), is skipped; a
destination that declares `VerifiesOnPut` is handed the source's bytes unhashed, any other
gets them through a VerifyingReader; a layer to recompress is read verified, recompressed
into `workdir` and put from there. Progress events go to `progress` from the pool's threads.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from lamina import media_types as mt
from lamina.content import VerifyingReader
from lamina.copy.convert import LayerPlan, recompress
from lamina.digest import Digest
from lamina.errors import AuthError, NotFound
from lamina.oci import Descriptor
from lamina.transports.base import (
    ImageDestination,
    ImageReference,
    ImageSource,
    MountsBlobs,
    NamesRepository,
    VerifiesOnPut,
)

if TYPE_CHECKING:  # events are built only for a progress callback (start-up time)
    from lamina.copy.progress import ProgressCallback


def mount_source(
    src_ref: ImageReference, dst_ref: ImageReference, dst: ImageDestination
) -> str | None:
    """The source's repository when source and destination are two repositories of one
    registry and the destination can mount (blobs are then linked, not copied). The
    registry decides with the destination's credentials; a refused mount is copied."""
    if not isinstance(dst, MountsBlobs):
        return None
    if not isinstance(src_ref, NamesRepository) or not isinstance(dst_ref, NamesRepository):
        return None
    if src_ref.registry != dst_ref.registry or src_ref.repository == dst_ref.repository:
        return None
    return src_ref.repository


class BlobMover:
    def __init__(
        self,
        src: ImageSource,
        dst: ImageDestination,
        progress: ProgressCallback | None,
        workers: int,
        workdir: Path,
    ) -> None:
        self.src, self.dst, self.progress = src, dst, progress
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lamina-copy")
        self.workdir = workdir
        self.mount_from: str | None = None  # the source repository, when blobs can mount
        self.lock = threading.Lock()
        self.blobs: dict[tuple[Digest, str, str | None], Future[Descriptor]] = {}

    def shutdown(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)

    def submit(self, plan: LayerPlan) -> Future[Descriptor]:
        """Start moving the blob `plan` describes (once per blob and plan, unless an earlier
        try failed); the future gives the descriptor as written."""
        key = (plan.source.digest, plan.media_type, plan.recompress)
        with self.lock:
            found = self.blobs.get(key)
            if found is None or (found.done() and found.exception() is not None):
                found = self.pool.submit(self._blob, plan)
                self.blobs[key] = found
            return found

    def _skipped(self, desc: Descriptor, reason: str) -> None:
        """Tell progress that `desc` is not copied (`reason`: "foreign" or "exists")."""
        if self.progress is not None:
            from lamina.copy.progress import BlobSkipped

            self.progress(
                BlobSkipped(
                    digest=desc.digest, size=desc.size, reason=reason, media_type=desc.media_type
                )
            )

    def _blob(self, plan: LayerPlan) -> Descriptor:
        desc = plan.source
        if plan.recompress is not None:
            return self._recompressed(plan)
        out = desc if plan.media_type == desc.media_type else desc.with_media_type(plan.media_type)
        if mt.is_non_distributable(desc.media_type) and desc.urls:
            self._skipped(out, "foreign")
            return out
        if self.dst.has_blob(out) or self._mounted(out):
            self._skipped(out, "exists")
            return out
        if self.progress is not None:
            from lamina.copy.progress import BlobStarted

            self.progress(
                BlobStarted(digest=desc.digest, size=desc.size, media_type=out.media_type)
            )
        if isinstance(self.dst, VerifiesOnPut):
            # The destination checks size and digest before the blob becomes visible;
            # hashing here too would only halve the speed.
            with self.src.open_blob(desc) as raw:
                stream = raw
                if self.progress is not None:
                    from lamina.copy.progress import Counting

                    stream = Counting(raw, desc, self.progress)  # type: ignore[assignment]
                self.dst.put_blob(stream, out)
            if self.progress is not None:
                from lamina.copy.progress import BlobDone

                self.progress(BlobDone(digest=desc.digest, size=desc.size))
            return out
        what = f"{self.src.describe()}: blob"
        with VerifyingReader(self.src.open_blob(desc), desc.digest, desc.size, what) as reader:
            stream = reader  # type: ignore[assignment]
            if self.progress is not None:
                from lamina.copy.progress import Counting

                stream = Counting(stream, desc, self.progress)  # type: ignore[assignment]
            self.dst.put_blob(stream, out)
            if not reader.verified:
                reader.read_all_chunks()
        if self.progress is not None:
            from lamina.copy.progress import BlobDone

            self.progress(BlobDone(digest=desc.digest, size=desc.size))
        return out

    def _mounted(self, desc: Descriptor) -> bool:
        """Link the blob from the source repository when both ends are one registry
        (no byte moves; the registry already verified it). False if it will not."""
        if self.mount_from is None:
            return False
        if not isinstance(self.dst, MountsBlobs):
            return False
        try:
            return self.dst.mount_blob(desc, self.mount_from)
        except (AuthError, NotFound):
            return False  # no pull access there for these credentials: copy the bytes

    def _recompressed(self, plan: LayerPlan) -> Descriptor:
        desc = plan.source
        if self.progress is not None:
            from lamina.copy.progress import BlobStarted

            self.progress(
                BlobStarted(digest=desc.digest, size=desc.size, media_type=plan.media_type)
            )
        what = f"{self.src.describe()}: blob"
        with VerifyingReader(self.src.open_blob(desc), desc.digest, desc.size, what) as reader:
            stream: BinaryIO = reader  # type: ignore[assignment]
            if self.progress is not None:
                from lamina.copy.progress import Counting

                stream = Counting(stream, desc, self.progress)  # type: ignore[assignment]
            path, out = recompress(stream, plan, self.workdir)
            if not reader.verified:
                reader.read_all_chunks()
        try:
            if not self.dst.has_blob(out):
                with open(path, "rb") as f:
                    self.dst.put_blob(f, out)
        finally:
            path.unlink(missing_ok=True)
        if self.progress is not None:
            from lamina.copy.progress import BlobDone

            self.progress(BlobDone(digest=desc.digest, size=desc.size))
        return out
