"""File locks (fcntl.flock) that keep gc from deleting what another process is writing.

Protocol:
- `locks/gc.lock`: every writer (put_image, a caller writing blobs into `store.blobs` by hand
  through `Store.ingest()`, a snapshot extraction) holds it SHARED from before its first
  blob/snapshot write until the DB transaction that references it has committed. gc takes it
  EXCLUSIVE for its mark and sweep, so no blob can be written-but-unregistered while gc looks.
  A put that fails releases its shared lock and then deletes the blobs it added only if it
  gets the exclusive lock without waiting and they are still unreferenced (else gc will).
- `locks/snapshot-<hex>.lock`: EXCLUSIVE while one layer is being extracted, so two
  processes never extract the same layer at once; the second waits and reuses the result.
  Extractors take it while holding the shared gc lock, so gc may delete unused ones.

flock locks belong to an open file description: each acquisition opens its own fd, so shared
locks nest freely, but a process must not ask for the exclusive gc lock while it holds a
shared one (it would wait on itself); `GCLock` counts in-process holders to refuse that.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from collections.abc import Iterator
from pathlib import Path

from lamina.errors import Conflict

_counts: dict[int, int] = {}
_counts_lock = threading.Lock()


def _shared_count() -> int:
    with _counts_lock:
        return _counts.get(threading.get_ident(), 0)


def _add_shared(ident: int, delta: int) -> None:
    with _counts_lock:
        n = _counts.get(ident, 0) + delta
        if n:
            _counts[ident] = n
        else:
            _counts.pop(ident, None)


@contextlib.contextmanager
def flock(path: Path, *, exclusive: bool, blocking: bool = True) -> Iterator[bool]:
    """Hold a lock on `path` for the block; yields False (lock not held) only when
    `blocking` is False and the lock is busy."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        mode = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
        if not blocking:
            mode |= fcntl.LOCK_NB
        try:
            fcntl.flock(fd, mode)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


class GCLock:
    """The store-wide writer/collector lock (see the module docstring)."""

    def __init__(self, locks_dir: Path) -> None:
        self.path = locks_dir / "gc.lock"

    @contextlib.contextmanager
    def shared(self) -> Iterator[None]:
        # Counted against the thread that took it, even if another thread releases it.
        ident = threading.get_ident()
        with flock(self.path, exclusive=False):
            _add_shared(ident, 1)
            try:
                yield
            finally:
                _add_shared(ident, -1)

    @contextlib.contextmanager
    def exclusive(self, *, blocking: bool = True) -> Iterator[bool]:
        """Yields whether the lock is held (always True when `blocking`)."""
        if _shared_count():
            if not blocking:
                yield False
                return
            raise Conflict(
                "cannot collect garbage while this thread is writing to the store; "
                "finish the ingest first"
            )
        with flock(self.path, exclusive=True, blocking=blocking) as got:
            yield got


def snapshot_lock(locks_dir: Path, hex_digest: str) -> contextlib.AbstractContextManager[bool]:
    return flock(locks_dir / f"snapshot-{hex_digest}.lock", exclusive=True)
