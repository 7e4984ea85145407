"""Files that uploads leave behind: `uploads/<id>` of sessions nobody continues, and
`ingest/` temp files of monolithic uploads or completions cut short by a killed worker.

A file is *stale* when it has not been written for the grace window (its mtime: every
append, completion and monolithic body writes to it). A file that a request holds (the
session's `flock`, or the lock a monolithic upload takes on its temp file) is never stale,
whatever its age. Sweeping a stale upload file also deletes its session: a client that
comes back to it gets BLOB_UPLOAD_UNKNOWN and starts again.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

from lamina.errors import NotFound
from lamina.server.storage.base import MetadataStore
from lamina.server.storage.uploads import UploadFiles, try_flock


@dataclass(frozen=True, slots=True)
class Leftover:
    """A file in `uploads/` (`upload_id` set) or `ingest/`."""

    path: Path
    size: int
    mtime: float
    upload_id: str | None


@dataclass(frozen=True, slots=True)
class LeftoverUsage:
    files: int
    bytes: int
    stale_files: int
    stale_bytes: int


def scan(uploads: UploadFiles) -> list[Leftover]:
    """Every file in `uploads/` and `ingest/` (sizes and mtimes as they are now)."""
    found: list[Leftover] = []
    for directory, is_upload in ((uploads.dir, True), (uploads.blobs.ingest_dir, False)):
        with os.scandir(directory) as entries:
            for entry in entries:
                with contextlib.suppress(FileNotFoundError):
                    if not entry.is_file(follow_symlinks=False):
                        continue
                    st = entry.stat(follow_symlinks=False)
                    found.append(
                        Leftover(
                            Path(entry.path),
                            st.st_size,
                            st.st_mtime,
                            entry.name if is_upload else None,
                        )
                    )
    return found


def usage(uploads: UploadFiles, cutoff: float) -> LeftoverUsage:
    """What the leftovers take, and how much of it is older than `cutoff` (an mtime)."""
    files = scan(uploads)
    stale = [f for f in files if f.mtime < cutoff]
    return LeftoverUsage(
        files=len(files),
        bytes=sum(f.size for f in files),
        stale_files=len(stale),
        stale_bytes=sum(f.size for f in stale),
    )


def sweep(
    uploads: UploadFiles, meta: MetadataStore, cutoff: float, *, dry_run: bool = False
) -> tuple[int, int]:
    """Remove the files not written since `cutoff` that no request holds (and the
    sessions of such upload files); returns (files, bytes) removed (or, with `dry_run`,
    that would be)."""
    removed = freed = 0
    for item in scan(uploads):
        if item.mtime >= cutoff:
            continue
        if dry_run:
            removed, freed = removed + 1, freed + item.size
            continue
        if _remove(uploads, meta, item, cutoff):
            removed, freed = removed + 1, freed + item.size
    return removed, freed


def _remove(uploads: UploadFiles, meta: MetadataStore, item: Leftover, cutoff: float) -> bool:
    """Under the file's lock, and only if it is still stale: delete it (and its session)."""
    if item.upload_id is not None:
        try:
            fd = uploads.lock(item.upload_id)
        except NotFound:
            return False
    else:
        fd = _try_lock(item.path)
    if fd is None:
        return False  # a request holds it: live, whatever its age
    try:
        if os.fstat(fd).st_mtime >= cutoff:
            return False  # written since the scan
        if item.upload_id is not None:
            meta.delete_upload(item.upload_id)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(item.path)
        return True
    finally:
        uploads.release(fd)


def _try_lock(path: Path) -> int | None:
    try:
        return try_flock(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
