"""Starting a file's writeback without waiting: Linux `sync_file_range(SYNC_FILE_RANGE_WRITE)`.

A hint: the kernel starts writing the range to disk now; the call does not wait and promises
nothing (an fsync is still what makes data durable). Writers call it as they go so that
their final fsync finds the data already on its way. `sync_file_range` is None where the
call is missing (not Linux, or no such symbol in libc).
"""

from __future__ import annotations

import ctypes
import sys
from collections.abc import Callable

SYNC_FILE_RANGE_WRITE = 2


def _load() -> Callable[[int, int, int, int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        fn = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (OSError, AttributeError):
        return None
    fn.argtypes = (ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint)
    fn.restype = ctypes.c_int
    return fn


# sync_file_range(fd, offset, nbytes, flags); nbytes 0 means to the end of the file
sync_file_range = _load()


def start_writeback(fd: int, offset: int = 0, length: int = 0) -> None:
    """Start writing back `length` bytes of `fd` from `offset` (0: to the end); a no-op
    where the call is missing."""
    if sync_file_range is not None:
        sync_file_range(fd, offset, length, SYNC_FILE_RANGE_WRITE)
