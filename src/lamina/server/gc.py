"""Online garbage collection and storage usage for the registry's storage directory.

Safe while servers run and pushes continue. Two mechanisms, each covering what the other
cannot:

1. **Decisions and deletions happen inside one SQLite write transaction**
   (`BEGIN IMMEDIATE`), after re-reading every manifest row (parsing only the new ones). A
   manifest PUT checks its blobs' links and its children *inside its own write transaction*
   (`MetadataStore.put_manifest(blobs=, manifests=)`), so the two serialise: either the
   manifest is stored first, and GC sees it and keeps what it references, or GC's deletions
   come first, and the PUT is refused with MANIFEST_BLOB_UNKNOWN — never a stored manifest
   with a missing blob.
2. **A grace window on blob-file mtimes** keeps what is being pushed but not referenced yet
   (layers whose manifest has not arrived, children pushed before their index). Every path
   that vouches for a blob touches its file (`vouch`): completing an upload, a monolithic
   upload, a cross-repository mount, a blob HEAD (clients probe before skipping an upload),
   a manifest PUT (its own file, its blobs and children). GC removes an unreferenced link,
   an untagged manifest or a blob file only when that file's mtime is older than the grace.
   A blob file with no link left is removed by renaming it aside first and checking its
   mtime *after* the rename: a writer that touched it before the rename is seen (the file is
   put back); a writer touching it after gets FileNotFoundError and writes its own copy.

It also sweeps what uploads leave behind (`lamina.server.storage.leftovers`): upload files
and ingest temp files not written for the grace window and held by no request.

A mark/review queue in SQLite would avoid mtimes, but would turn every blob HEAD into a
database write; a utime is a cheaper vouch. The sweep holds the write lock for its length,
so writers wait (SQLite busy timeout, 10 s) while it runs; it only stats and renames.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from lamina.content import BlobStore
from lamina.digest import Digest
from lamina.errors import LaminaError
from lamina.oci import ImageIndex, parse_any
from lamina.server.storage import SQLiteMetadata, UploadFiles, leftovers


def vouch(blobs: BlobStore, digest: Digest) -> bool:
    """Touch `digest`'s file so GC keeps it for the grace window; False if it is gone."""
    try:
        os.utime(blobs.path(digest))
    except FileNotFoundError:
        return False
    except OSError:  # read-only storage: nothing is collected there either
        return blobs.has(digest)
    return True


@dataclass(slots=True)
class GCReport:
    dry_run: bool
    manifests_deleted: int = 0
    links_deleted: int = 0
    blobs_deleted: int = 0
    bytes_freed: int = 0
    blobs_kept: int = 0
    stale_files: int = 0  # upload and ingest files left behind (see `leftovers`)
    stale_bytes: int = 0
    deleted: list[str] = field(default_factory=list)


def _mtime(blobs: BlobStore, digest: str) -> float | None:
    try:
        return blobs.path(Digest.parse(digest)).stat().st_mtime
    except (FileNotFoundError, LaminaError):
        return None


def _refs(raw: bytes, media_type: str) -> tuple[set[str], set[str]] | None:
    """(blob digests, child manifest digests) a manifest references; None if unparsable."""
    try:
        m = parse_any(raw, media_type, "gc")
    except LaminaError:
        return None
    if isinstance(m, ImageIndex):
        return set(), {str(d.digest) for d in m.manifests}
    return {str(d.digest) for d in m.blobs()}, set()


Refs = dict[tuple[str, str], tuple[set[str], set[str]] | None]


def _load(db: sqlite3.Connection, cache: Refs) -> Refs:
    """Every manifest's references, parsing only rows not already in `cache`."""
    rows = db.execute("SELECT repo, digest FROM manifests").fetchall()
    out: Refs = {}
    for repo, digest in rows:
        key = (str(repo), str(digest))
        if key not in cache:
            raw = db.execute(
                "SELECT raw, media_type FROM manifests WHERE repo = ? AND digest = ?", key
            ).fetchone()
            cache[key] = _refs(bytes(raw[0]), str(raw[1])) if raw else None
        out[key] = cache[key]
    return out


@contextlib.contextmanager
def _exclusive(storage: Path) -> Iterator[None]:
    """One GC at a time per storage directory."""
    with open(storage / "gc.lock", "a+b") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


class _DryRun(Exception):
    pass


def collect(
    storage: Path, *, dry_run: bool = False, delete_untagged: bool = False, grace: float = 3600.0
) -> GCReport:
    """Collect garbage in `storage` (see the module doc); returns what was (or, with
    `dry_run`, would be) freed."""
    blobs = BlobStore(storage)
    meta = SQLiteMetadata(storage / "metadata.db")
    report = GCReport(dry_run=dry_run)
    try:
        with _exclusive(storage):
            cutoff = time.time() - grace
            cache: Refs = {}
            with meta.reader() as db:  # parse first, while writers may still run
                _load(db, cache)
            try:
                with meta.transaction() as db:
                    _sweep(db, blobs, storage, cache, cutoff, delete_untagged, report)
                    if dry_run:
                        raise _DryRun
            except _DryRun:
                pass
            uploads = UploadFiles(blobs, storage)
            report.stale_files, report.stale_bytes = leftovers.sweep(
                uploads, meta, cutoff, dry_run=dry_run
            )
    finally:
        meta.close()
    return report


def _kept_manifests(
    db: sqlite3.Connection, refs: Refs, blobs: BlobStore, cutoff: float, delete_untagged: bool
) -> set[tuple[str, str]]:
    if not delete_untagged:
        return set(refs)
    roots = {(str(r), str(d)) for r, d in db.execute("SELECT repo, digest FROM tags")}
    roots |= {k for k in refs if (_mtime(blobs, k[1]) or 0.0) >= cutoff}
    referrers: dict[tuple[str, str], list[str]] = {}
    for repo, subject, digest in db.execute("SELECT repo, subject, digest FROM referrers"):
        referrers.setdefault((str(repo), str(subject)), []).append(str(digest))
    kept: set[tuple[str, str]] = set()
    stack = [k for k in roots if k in refs]
    while stack:
        key = stack.pop()
        if key in kept:
            continue
        kept.add(key)
        r = refs.get(key)
        children = r[1] if r is not None else set()
        for d in [*children, *referrers.get(key, [])]:
            if (key[0], d) in refs and (key[0], d) not in kept:
                stack.append((key[0], d))
    return kept


def _sweep(
    db: sqlite3.Connection,
    blobs: BlobStore,
    storage: Path,
    cache: Refs,
    cutoff: float,
    delete_untagged: bool,
    report: GCReport,
) -> None:
    refs = _load(db, cache)
    kept = _kept_manifests(db, refs, blobs, cutoff, delete_untagged)
    for repo, digest in sorted(set(refs) - kept):
        for table in ("manifests", "tags", "referrers", "blob_links"):
            db.execute(f"DELETE FROM {table} WHERE repo = ? AND digest = ?", (repo, digest))
        report.manifests_deleted += 1
        report.deleted.append(f"manifest {repo}@{digest}")
    needed: set[tuple[str, str]] = set()
    unsafe: set[str] = set()  # repositories with a manifest GC could not read: keep all
    for repo, digest in kept:
        needed.add((repo, digest))
        r = refs[(repo, digest)]
        if r is None:
            unsafe.add(repo)
            continue
        needed |= {(repo, d) for d in r[0] | r[1]}
    for repo, digest in db.execute("SELECT repo, digest FROM blob_links").fetchall():
        key = (str(repo), str(digest))
        if key in needed or key[0] in unsafe:
            continue
        if (_mtime(blobs, key[1]) or 0.0) < cutoff:
            db.execute("DELETE FROM blob_links WHERE repo = ? AND digest = ?", key)
            report.links_deleted += 1
    live = {str(d) for (d,) in db.execute("SELECT DISTINCT digest FROM blob_links")}
    live |= {str(d) for (d,) in db.execute("SELECT DISTINCT digest FROM manifests")}
    trash = storage / "gc-trash"
    trash.mkdir(exist_ok=True)
    for blob in list(blobs):
        if str(blob) in live:
            report.blobs_kept += 1
            continue
        freed = _remove(blobs, blob, trash, cutoff, report.dry_run)
        if freed is None:
            report.blobs_kept += 1
            continue
        report.blobs_deleted += 1
        report.bytes_freed += freed
        report.deleted.append(f"blob {blob}")


def _remove(
    blobs: BlobStore, digest: Digest, trash: Path, cutoff: float, dry_run: bool
) -> int | None:
    """Remove an unlinked blob file older than `cutoff`; its size, or None if kept."""
    path = blobs.path(digest)
    if dry_run:
        try:
            st = path.stat()
        except FileNotFoundError:
            return None
        return st.st_size if st.st_mtime < cutoff else None
    aside = trash / f"{digest.algorithm}-{digest.hex}"
    try:
        os.rename(path, aside)
    except FileNotFoundError:
        return None
    st = aside.stat()
    if st.st_mtime >= cutoff:  # vouched for before the rename: put it back
        with contextlib.suppress(FileExistsError):
            os.link(aside, path)
        aside.unlink()
        return None
    aside.unlink()
    return st.st_size


@dataclass(frozen=True, slots=True)
class RepoUsage:
    repository: str
    blobs: int
    bytes: int


def usage(storage: Path) -> tuple[list[RepoUsage], int, int]:
    """Per-repository usage (distinct linked blobs and manifests, by file size), plus the
    total distinct blob files and bytes on disk."""
    blobs = BlobStore(storage)
    meta = SQLiteMetadata(storage / "metadata.db")
    sizes: dict[str, int] = {}
    per_repo: dict[str, tuple[int, int]] = {}
    try:
        for repo, digest in meta.iter_blob_links():
            key = str(digest)
            if key not in sizes:
                try:
                    sizes[key] = blobs.path(digest).stat().st_size
                except FileNotFoundError:
                    sizes[key] = 0
            n, b = per_repo.get(repo, (0, 0))
            per_repo[repo] = (n + 1, b + sizes[key])
    finally:
        meta.close()
    total_files = total_bytes = 0
    for digest in blobs:
        with contextlib.suppress(FileNotFoundError):
            total_bytes += blobs.path(digest).stat().st_size
            total_files += 1
    rows = [RepoUsage(r, n, b) for r, (n, b) in sorted(per_repo.items())]
    return rows, total_files, total_bytes


def leftover_usage(storage: Path, grace: float) -> leftovers.LeftoverUsage:
    """Upload and ingest files on disk, and those that GC with `grace` would remove."""
    return leftovers.usage(UploadFiles(BlobStore(storage), storage), time.time() - grace)
