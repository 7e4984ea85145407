"""Checking a registry's stored blobs: re-hash every file in the blob store and move a
corrupt one aside into `quarantine/`.

Safe while servers run. A blob file is never rewritten once stored (uploads put it in place
only if absent), so a file that does not hash to its name is damaged, whoever did it. Moving
it out of `blobs/` makes every repository that links it answer 404 to a HEAD or GET, so
clients upload it again, and the next upload of that digest is stored afresh; the links
stay. The file is moved by rename and then checked to be the very file that was hashed (a
collected and freshly re-uploaded blob is put back, not quarantined).
"""

from __future__ import annotations

import contextlib
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from lamina.content import BlobStore
from lamina.digest import Digest
from lamina.errors import IntegrityError
from lamina.server.storage import SQLiteMetadata
from lamina.server.storage.appender import hash_prefix


@dataclass(frozen=True, slots=True)
class CorruptBlob:
    digest: Digest
    size: int
    actual: Digest | None  # what the bytes hash to (None: the file changed under us)
    quarantined: Path | None  # None: a dry run


@dataclass(slots=True)
class FsckReport:
    dry_run: bool
    checked: int = 0
    bytes: int = 0
    corrupt: list[CorruptBlob] = field(default_factory=list)
    # repository links whose blob file is missing (a quarantined blob until clients push it
    # again, or storage damaged another way)
    missing: list[tuple[str, Digest]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Checked:
    digest: Digest
    size: int
    actual: Digest | None
    ok: bool
    stat: os.stat_result


def _check(blobs: BlobStore, digest: Digest) -> _Checked | None:
    """Re-hash one blob file; None if it vanished (collected meanwhile)."""
    try:
        fd = os.open(blobs.path(digest), os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        st = os.fstat(fd)
        try:
            actual: Digest | None = Digest.from_hash(
                hash_prefix(fd, st.st_size, digest.algorithm), digest.algorithm
            )
        except IntegrityError:  # shorter than it was a moment ago
            actual = None
        return _Checked(digest, st.st_size, actual, actual == digest, st)
    finally:
        os.close(fd)


def _quarantine(blobs: BlobStore, checked: _Checked, into: Path) -> Path | None:
    """Move the blob file aside if it is still the file that was hashed; its new path."""
    path = blobs.path(checked.digest)
    into.mkdir(exist_ok=True)
    dest = into / f"{checked.digest.algorithm}-{checked.digest.hex}-{time.time_ns()}"
    try:
        os.rename(path, dest)
    except FileNotFoundError:
        return None
    if os.path.samestat(dest.stat(), checked.stat):
        return dest
    with contextlib.suppress(FileExistsError):  # another file now: put it back
        os.link(dest, path)
    dest.unlink()
    return None


def check(storage: Path, *, dry_run: bool = False, jobs: int = 2) -> FsckReport:
    """Re-hash every blob in `storage` (`jobs` files at a time); unless `dry_run`, move
    each corrupt one into `storage/quarantine/`. Also lists repository links whose blob
    file is missing."""
    blobs = BlobStore(storage)
    report = FsckReport(dry_run=dry_run)
    with ThreadPoolExecutor(max(1, jobs), thread_name_prefix="lamina-fsck") as pool:
        for checked in pool.map(lambda d: _check(blobs, d), sorted(blobs, key=str)):
            if checked is None:
                continue
            report.checked += 1
            report.bytes += checked.size
            if checked.ok:
                continue
            moved = None if dry_run else _quarantine(blobs, checked, storage / "quarantine")
            if not dry_run and moved is None:
                continue  # no longer the stored file
            report.corrupt.append(CorruptBlob(checked.digest, checked.size, checked.actual, moved))
    meta = SQLiteMetadata(storage / "metadata.db")
    try:
        report.missing = sorted(
            ((repo, d) for repo, d in meta.iter_blob_links() if not blobs.has(d)),
            key=lambda link: (link[0], str(link[1])),
        )
    finally:
        meta.close()
    return report
