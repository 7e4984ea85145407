"""Upload session files, the one-request-at-a-time rule, resumable hashing, and moving a
verified upload into the blob store.

Bytes of an upload live in `ROOT/uploads/<id>`; the metadata store holds the committed
offset. Only the first `offset` bytes count: a worker killed mid-write may leave more, and
the next append truncates them away.

**One request at a time per session.** Every request that writes to, completes or cancels a
session first takes `lock`: an exclusive, non-blocking `flock` on the session's file, which
works across worker processes; a second request on a busy session is refused at once (the
caller answers 416). The holder then re-reads the session (its offset, or that it is gone:
`lock` also refuses a file that is no longer the session's). So the committed bytes
`0..offset` are only ever written by the one request that commits them, and never again
(offsets only grow, an append truncates only what is past the committed offset), which is
what makes the in-memory hash below the hash of the bytes on disk.

Resumable hashing: hashlib objects cannot be pickled, so the hash of the committed prefix is
kept in this process's memory keyed by upload id and offset. When the next chunk arrives at
a worker that holds the state for exactly that offset, no byte is hashed twice; on a miss
(another worker took the previous chunk, or the server restarted) the prefix is re-hashed
from the file, which is always correct. Completing with a digest of another algorithm
(sha512) re-hashes the file once with that algorithm.

The hash of a body may still be running after its response, and after the lock is released
(see `appender`): it reads committed bytes only. The next chunk's hashing, and the final
digest check, wait for exactly their start offset.

**A stored blob is never replaced.** Completing checks the digest of exactly the bytes that
will be stored (the file is cut to the committed offset first), fsyncs, moves the file out of
`uploads/` into `ingest/` and hard-links it to its place in the blob store only if no blob is
there (`os.link` fails with EEXIST): a second upload of the same digest just links its
repository to the stored one. The upload file is fsynced only when it is completed: until
then a lost tail is caught by the digest check (`appender` starts writeback as it goes, so
that this one fsync does not wait for the whole file).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from lamina.content import BlobStore
from lamina.digest import Digest, new_hash
from lamina.errors import ErrorCode, IntegrityError, NotFound
from lamina.server.storage.appender import Appender, HashState, hash_prefix

_DEFAULT_ALGORITHM = "sha256"
_MAX_CACHED = 4096
_STORE_TRIES = 8  # put-if-absent retries when GC moves the stored blob aside meanwhile
# Unlinks a duplicate upload's file after the response: unlinking a large file frees its
# blocks inside the call (90 ms for 300 MB on ext4).
_reaper = ThreadPoolExecutor(1, thread_name_prefix="lamina-reaper")


def _unlink(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def _cut_to(fd: int, upload_id: str, offset: int) -> None:
    """Cut the session's file to its committed `offset` (a worker killed mid-write may have
    left more); a shorter file is an IntegrityError(BLOB_UPLOAD_INVALID)."""
    size = os.fstat(fd).st_size
    if size < offset:
        raise IntegrityError(
            f"upload {upload_id}: file has {size} bytes, session says {offset}",
            code=ErrorCode.BLOB_UPLOAD_INVALID,
        )
    if size > offset:
        os.ftruncate(fd, offset)


def try_flock(path: Path, flags: int) -> int | None:
    """An fd of `path` (opened with `flags`) holding an exclusive `flock`, or None when
    another holder (in any process) has it; FileNotFoundError passes through."""
    fd = os.open(path, flags | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    except BaseException:
        os.close(fd)
        raise
    return fd


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

    def lock(self, upload_id: str) -> int | None:
        """Take the session's one-request lock: an fd of its file holding an exclusive
        `flock` until `release`; None when another request (in any process) holds it.
        NotFound(BLOB_UPLOAD_UNKNOWN) when the file is gone or is no longer the session's
        (completed or cancelled meanwhile). Quick: callable on the event loop."""
        path = self.path(upload_id)
        try:
            fd = try_flock(path, os.O_RDWR)
        except FileNotFoundError:
            raise _gone(upload_id) from None
        if fd is None:
            return None
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(path))
        except FileNotFoundError:
            same = False
        if not same:
            self.release(fd)
            raise _gone(upload_id)
        return fd

    @staticmethod
    def release(fd: int) -> None:
        """Release a `lock` (explicitly: an appender may keep a dup of the fd open while
        its hashing finishes)."""
        try:
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def open_append(self, upload_id: str, offset: int, locked: int | None = None) -> Appender:
        """Open for appending at the committed `offset` (through a dup of the `locked` fd
        when the caller holds the lock); may re-hash the prefix (blocking)."""
        try:
            fd = os.dup(locked) if locked is not None else os.open(self.path(upload_id), os.O_RDWR)
        except FileNotFoundError:
            raise _gone(upload_id) from None
        try:
            _cut_to(fd, upload_id, offset)
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

    def verify(self, upload_id: str, fd: int, offset: int, expected: Digest) -> None:
        """Under the session's lock (`fd` from `lock`): check that the file's first `offset`
        bytes have digest `expected`, cut anything after them, give the file a fresh mtime
        (GC's grace window then covers the new blob) and fsync it (blocking). Raises
        IntegrityError(DIGEST_INVALID); the session stays as it was."""
        _cut_to(fd, upload_id, offset)
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
        os.utime(fd)
        os.fsync(fd)

    def store(self, upload_id: str, digest: Digest) -> None:
        """After `verify`, under the lock, once the session is deleted from the metadata
        store: move the file out of `uploads/` (so no request can open it any more) and put
        it in the blob store unless `digest` is already there (blocking)."""
        self._hashes.pop(upload_id, None)
        temp = self.blobs.ingest_dir / f"done-{upload_id}"
        os.rename(self.path(upload_id), temp)
        self._into_store(temp, digest)

    def finish(self, upload_id: str, offset: int, expected: Digest) -> None:
        """`lock`, `verify` and `store` in one call, for a caller that keeps no session
        metadata (the server deletes the session between `verify` and `store`)."""
        fd = self.lock(upload_id)
        if fd is None:
            raise IntegrityError(
                f"upload {upload_id} is busy with another request",
                code=ErrorCode.BLOB_UPLOAD_INVALID,
            )
        try:
            self.verify(upload_id, fd, offset, expected)
            self.store(upload_id, expected)
        finally:
            self.release(fd)

    def ingest(self, algorithm: str) -> tuple[Appender, Path]:
        """A fresh temp file in the blob store's ingest dir, locked while open (a worker that
        dies leaves it to `leftovers.sweep`), for a monolithic upload; `publish` or
        `abandon` it."""
        fd, name = tempfile.mkstemp(dir=self.blobs.ingest_dir, prefix="upload-")
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # GC's sweep leaves a held file alone
        return Appender(fd, 0, HashState(new_hash(algorithm), 0)), Path(name)

    def publish(self, appender: Appender, temp: Path, expected: Digest) -> None:
        """Verify an `ingest` file against `expected`, fsync it and put it in the blob store
        unless the blob is there already (blocking). Closes the appender. Raises
        IntegrityError(DIGEST_INVALID)."""
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

    def _into_store(self, temp: Path, digest: Digest) -> None:
        """Hard-link a verified, fsynced file in the ingest dir to `digest`'s place in the
        blob store unless a blob is there already (put-if-absent: a stored blob, verified
        when it was stored, is never replaced), then drop the temp name. An existing blob
        is vouched for (touched) instead; should GC move it aside meanwhile, ours is linked
        after all. A worker that dies here leaves the temp file to GC's ingest sweep."""
        final = self.blobs.path(digest)
        final.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(_STORE_TRIES):
            try:
                os.link(temp, final)
            except FileExistsError:
                try:
                    os.utime(final)
                except FileNotFoundError:
                    continue  # collected between the two calls: link ours
                _reaper.submit(_unlink, temp)  # a duplicate: its blocks are freed later
                return
            _unlink(temp)  # only a name: the blob keeps the inode
            return
        raise IntegrityError(f"blob {digest}: could not be stored (the blob store keeps changing)")

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


def _gone(upload_id: str) -> NotFound:
    return NotFound(
        f"upload {upload_id}: its data file is gone", code=ErrorCode.BLOB_UPLOAD_UNKNOWN
    )
