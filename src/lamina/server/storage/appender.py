"""Appending to an upload file, and the upload's resumable hash.

An upload's hash (`HashState`) is advanced by one body at a time, strictly in offset order:
the hashing of a body starts once exactly its start offset is hashed. A body hashes its
bytes in memory (`Appender.hash`, in a worker thread while `store` writes them in another,
see `lamina.server.body`). Whoever needs the digest (the final PUT) waits for exactly the
committed offset to be hashed.

So that the final fsync does not wait for the whole file to reach the disk, the appender
asks the kernel to start writing back every `WRITEBACK` bytes as it goes (Linux
`sync_file_range(SYNC_FILE_RANGE_WRITE)`: a hint that does not wait and promises nothing;
the fsync is still what makes it durable).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable

from lamina.content.writeback import SYNC_FILE_RANGE_WRITE as _SYNC_FILE_RANGE_WRITE
from lamina.content.writeback import sync_file_range as _sync_file_range
from lamina.digest import Hash, new_hash
from lamina.errors import IntegrityError

WRITEBACK = 8 << 20
READBACK = 512 << 10  # the file is read back to hash in pieces this big (stays in L2)


class HashState:
    """The hash of an upload's first `hashed` bytes. `broken`: a hashing failed part-way,
    so the state is worthless (re-hash from the file)."""

    def __init__(self, hasher: Hash, hashed: int) -> None:
        self.hasher = hasher
        self.hashed = hashed
        self.broken = False
        self._cond = threading.Condition()
        self._waiting: list[int] = []  # the offsets threads wait for

    def wait_for(self, offset: int) -> bool:
        """Block until hashing has reached `offset`; True if exactly `offset` bytes are
        hashed (False: broken, or hashing went past it with bytes that were not kept)."""
        with self._cond:
            self._waiting.append(offset)
            try:
                while not (self.broken or self.hashed >= offset):
                    self._cond.wait()
            finally:
                self._waiting.remove(offset)
            return not self.broken and self.hashed == offset

    def update(self, data: bytes | memoryview) -> None:
        self.hasher.update(data)
        with self._cond:
            self.hashed += len(data)
            # Wake waiters only when one may be done: a wake-up per piece (a futex call
            # with the GIL held, then the woken thread taking the GIL) showed in profiles
            # of a chunked upload (its throughput: `python -m bench.registry_upload`).
            if self._waiting and self.hashed >= min(self._waiting):
                self._cond.notify_all()

    def fail(self) -> None:
        with self._cond:
            self.broken = True
            self._cond.notify_all()


class Appender:
    """Appends to an upload file from `offset`, hashing what it appends into `state`. Not
    thread-safe, but hashing and `store` may each run in their own thread (one caller
    each, same bytes in the same order)."""

    def __init__(self, fd: int, offset: int, state: HashState) -> None:
        self._fd = fd
        self.start = offset
        self.offset = offset
        self.state = state
        self._flushed = offset  # writeback started up to here
        self._hashing = 0  # bytes hashed by this appender
        self._began = False
        self._skip = False  # the state is no good for this body: hash nothing

    def write(self, data: bytes | memoryview) -> None:
        self.hash(data)
        self.store(data)

    def _ready(self) -> bool:
        """Before this appender's first byte is hashed, wait for the bodies before it."""
        if not self._began:
            self._began = True
            self._skip = not self.state.wait_for(self.start)
        return not self._skip

    def hash(self, data: bytes | memoryview) -> None:
        if self._ready():
            self.state.update(data)
            self._hashing += len(data)

    def hashed(self, ok: bool) -> None:
        """This body's hashing is over. Not ok: the state is worthless from here on."""
        if not ok:
            self.state.fail()

    def hashing_over(self) -> bool:
        """Block until everything appended so far is hashed (True), or hashing failed."""
        return self.state.wait_for(self.offset)

    def store(self, data: bytes | memoryview) -> None:
        """Write at the end; hashing must see the same bytes (maybe from another thread)."""
        n = os.write(self._fd, data)
        if n < len(data):
            view = memoryview(data)[n:]
            while view:
                view = view[os.write(self._fd, view) :]
        self.offset += len(data)
        if _sync_file_range is not None and self.offset - self._flushed >= WRITEBACK:
            _sync_file_range(
                self._fd, self._flushed, self.offset - self._flushed, _SYNC_FILE_RANGE_WRITE
            )
            self._flushed = self.offset

    def start_writeback(self) -> None:
        """Start writing back the tail that `store` has not handed to the kernel yet (less
        than `WRITEBACK` bytes). Called when a chunk ends: otherwise that tail of every
        chunk sits in the page cache until the final fsync, which then waits for it all
        (measured: ~half of a 16 MB-chunked upload, 90 ms of fsync for 300 MB). A hint,
        as in `store`: it does not wait and promises nothing."""
        if _sync_file_range is not None and self._fd >= 0 and self.offset > self._flushed:
            _sync_file_range(
                self._fd, self._flushed, self.offset - self._flushed, _SYNC_FILE_RANGE_WRITE
            )
            self._flushed = self.offset

    @property
    def fd(self) -> int:
        return self._fd

    def close(self) -> None:
        if self._fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = -1


def hash_prefix(fd: int, length: int, algorithm: str) -> Hash:
    """The hash of the first `length` bytes of `fd` (blocking)."""
    hasher = new_hash(algorithm)
    _read_back(fd, 0, length, bytearray(min(READBACK, length)), hasher.update)
    return hasher


def _read_back(
    fd: int, pos: int, end: int, buffer: bytearray, update: Callable[[memoryview], None]
) -> None:
    """Feed bytes `pos`..`end` of `fd` to `update`, read into `buffer` piece by piece."""
    view = memoryview(buffer)
    while pos < end:
        got = os.preadv(fd, [view[: min(len(view), end - pos)]], pos)
        if got == 0:
            raise IntegrityError(f"upload file ends at {pos}, expected {end} bytes")
        update(view[:got])
        pos += got
