"""Upload session files and resumable hashing.

Bytes of an upload live in `ROOT/uploads/<id>`; the metadata store holds the committed
offset. Only the first `offset` bytes count: a worker killed mid-write may leave more, and
the next append truncates them away.

Resumable hashing: hashlib objects cannot be pickled, so the hash of the committed prefix is
kept in this process's memory keyed by upload id and offset. When the next chunk arrives at
a worker that holds the state for exactly that offset, no byte is hashed twice; on a miss
(another worker took the previous chunk, or the server restarted) the prefix is re-hashed
from the file, which is always correct. Completing with a digest of another algorithm
(sha512) re-hashes the file once with that algorithm.

The hash of a body may still be running after its response (see `appender`): the next
chunk's hashing, and the final digest check, wait for exactly their start offset.

The upload file is fsynced only when it is completed, just before its rename into the blob
store: until then a lost tail is caught by the digest check (`appender` starts writeback as
it goes, so that this one fsync does not wait for the whole file).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import uuid
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from lamina.content import BlobStore
from lamina.digest import Digest, new_hash
from lamina.errors import ErrorCode, IntegrityError, NotFound
from lamina.server.storage.appender import Appender, HashState, hash_prefix

_DEFAULT_ALGORITHM = "sha256"
_MAX_CACHED = 4096
_reaper = ThreadPoolExecutor(1, thread_name_prefix="lamina-reaper")  # unlinks replaced blobs


def _unlink(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


class UploadFiles:
    """The files behind upload sessions, next to (same filesystem as) the blob store."""

    def __init__(self, blobs: BlobStore, root: str | os.PathLike[str]) -> None:
        self.blobs = blobs
        self.dir = Path(root) / "uploads"
        self.dir.mkdir(parents=True, exist_ok=True)
        # upload id -> (committed offset, the hash that reaches it, maybe still hashing)
        self._hashes: OrderedDict[str, tuple[int, HashState]] = OrderedDict()

    def path(self, upload_id: str) -> Path:
        return self.dir / upload_id

    def create(self, upload_id: str) -> None:
        fd = os.open(self.path(upload_id), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
        self._remember(upload_id, 0, HashState(new_hash(_DEFAULT_ALGORITHM), 0))

    def hash_cached(self, upload_id: str, offset: int) -> bool:
        """Whether this process holds the hash of exactly `offset` bytes of the upload: then
        `open_append` re-hashes nothing and is quick enough to call on the event loop."""
        entry = self._hashes.get(upload_id)
        return entry is not None and entry[0] == offset

    def open_append(self, upload_id: str, offset: int) -> Appender:
        """Open for appending at the committed `offset`; may re-hash the prefix (blocking)."""
        try:
            fd = os.open(self.path(upload_id), os.O_RDWR)
        except FileNotFoundError:
            raise NotFound(
                f"upload {upload_id}: its data file is gone", code=ErrorCode.BLOB_UPLOAD_UNKNOWN
            ) from None
        try:
            size = os.fstat(fd).st_size
            if size < offset:
                raise IntegrityError(
                    f"upload {upload_id}: file has {size} bytes, session says {offset}",
                    code=ErrorCode.BLOB_UPLOAD_INVALID,
                )
            if size > offset:
                os.ftruncate(fd, offset)
            state = self._take(upload_id, offset)
            if state is None:
                state = HashState(hash_prefix(fd, offset, _DEFAULT_ALGORITHM), offset)
            os.lseek(fd, offset, os.SEEK_SET)
        except BaseException:
            os.close(fd)
            raise
        return Appender(fd, offset, state)

    def committed(self, upload_id: str, appender: Appender) -> None:
        """Record that the metadata store now says `appender.offset` bytes are committed
        (the appender may still be hashing the last of them)."""
        self._remember(upload_id, appender.offset, appender.state)

    def finish(self, upload_id: str, offset: int, expected: Digest) -> None:
        """Verify the first `offset` bytes against `expected` and move them into the blob
        store (blocking: fsync, maybe a re-hash). Raises IntegrityError(DIGEST_INVALID)."""
        path = self.path(upload_id)
        fd = os.open(path, os.O_RDWR)
        try:
            if os.fstat(fd).st_size != offset:
                os.ftruncate(fd, offset)
            state = None
            if expected.algorithm == _DEFAULT_ALGORITHM:
                state = self._take(upload_id, offset)
            if state is None or not state.wait_for(offset):
                state = HashState(hash_prefix(fd, offset, expected.algorithm), offset)
            got = Digest.from_hash(state.hasher, expected.algorithm)
            if got != expected:
                if expected.algorithm == _DEFAULT_ALGORITHM:
                    self._remember(upload_id, offset, state)
                raise IntegrityError(
                    f"uploaded content has digest {got}, expected {expected}",
                    code=ErrorCode.DIGEST_INVALID,
                )
            os.utime(fd)  # a fresh mtime: GC's grace window covers the new blob
            os.fsync(fd)
        finally:
            os.close(fd)
        self._into_store(path, expected)
        self._hashes.pop(upload_id, None)

    def ingest(self, algorithm: str) -> tuple[Appender, Path]:
        """A fresh temp file in the blob store's ingest dir (swept by `clean_ingest` if a
        worker dies) for a monolithic upload; `publish` or `abandon` it."""
        fd, name = tempfile.mkstemp(dir=self.blobs.ingest_dir, prefix="upload-")
        return Appender(fd, 0, HashState(new_hash(algorithm), 0)), Path(name)

    def publish(self, appender: Appender, temp: Path, expected: Digest) -> None:
        """Verify an `ingest` file against `expected`, fsync it and rename it into the blob
        store (blocking). Closes the appender. Raises IntegrityError(DIGEST_INVALID)."""
        try:
            hasher = appender.state.hasher
            if not appender.hashing_over():
                hasher = hash_prefix(appender.fd, appender.offset, expected.algorithm)
            got = Digest.from_hash(hasher, expected.algorithm)
            if got != expected:
                raise IntegrityError(
                    f"uploaded content has digest {got}, expected {expected}",
                    code=ErrorCode.DIGEST_INVALID,
                )
            os.fsync(appender.fd)
        except BaseException:
            self.abandon(appender, temp)
            raise
        appender.close()
        self._into_store(temp, expected)

    def _into_store(self, path: Path, digest: Digest) -> None:
        """Rename a verified, fsynced file to `digest`'s place in the blob store.

        Replace even when the blob exists (same bytes): an existing file might be in the
        middle of being collected, and a rename is as cheap as a check. But a rename over a
        file frees the old file's blocks inside the call (measured: 90 ms for 300 MB on
        ext4), so the old file is first linked aside in the ingest dir and unlinked by a
        background thread, after the response; a worker that dies first leaves the link to
        `clean_ingest`."""
        final = self.blobs.path(digest)
        final.parent.mkdir(parents=True, exist_ok=True)
        aside: Path | None = None
        spare = self.blobs.ingest_dir / f"replaced-{uuid.uuid4().hex}"
        with contextlib.suppress(OSError):  # no blob yet (or no hard links): plain rename
            os.link(final, spare)
            aside = spare
        os.replace(path, final)
        if aside is not None:
            _reaper.submit(_unlink, aside)

    def abandon(self, appender: Appender, temp: Path) -> None:
        appender.close()
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()

    def discard(self, upload_id: str) -> None:
        self._hashes.pop(upload_id, None)
        with contextlib.suppress(FileNotFoundError):
            self.path(upload_id).unlink()

    def _take(self, upload_id: str, offset: int) -> HashState | None:
        """The hash that reaches the committed `offset` (maybe still hashing towards it:
        `HashState.wait_for`); None when this process has none: re-hash from the file."""
        entry = self._hashes.pop(upload_id, None)
        if entry is None or entry[0] != offset:
            return None
        return entry[1]

    def _remember(self, upload_id: str, offset: int, state: HashState) -> None:
        self._hashes[upload_id] = (offset, state)
        self._hashes.move_to_end(upload_id)
        while len(self._hashes) > _MAX_CACHED:
            self._hashes.popitem(last=False)
