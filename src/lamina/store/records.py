"""The records the store hands out: stored images, gc reports, history rows."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from lamina.digest import Digest
from lamina.reference import Reference


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredImage:
    """An image (or multi-platform index) in the store, as `podman images` lists it.

    `id` is the config digest's hex (podman's image ID; an index's is its own digest's hex);
    `names` are normalised references (`localhost/busybox:latest`), empty for a dangling image;
    `size` is podman's SIZE: uncompressed layer bytes + config + manifest bytes (podman keeps
    the manifest twice, under `manifest` and `manifest-<digest>`, and counts both).
    """

    id: str
    manifest_digest: Digest
    media_type: str
    names: tuple[str, ...]
    created: datetime | None
    size: int
    config_digest: Digest | None
    top_layer: Digest | None
    is_index: bool
    # `REPO@DIGEST` for each repository named and each manifest stored (podman's
    # RepoDigests), and for each pull by digest; sorted
    repo_digests: tuple[str, ...] = ()

    @property
    def short_id(self) -> str:
        return self.id[:12]

    @property
    def dangling(self) -> bool:
        return not self.names


@dataclass(frozen=True, slots=True, kw_only=True)
class GCReport:
    """What a collection removed (and how many bytes it freed)."""

    blobs_removed: tuple[Digest, ...] = ()
    snapshots_removed: tuple[Digest, ...] = ()
    temp_files_removed: int = 0
    bytes_freed: int = 0  # of blobs and temp files (partial blobs under ingest/)

    def plus(self, other: GCReport) -> GCReport:
        """Both collections' removals together."""
        return GCReport(
            blobs_removed=self.blobs_removed + other.blobs_removed,
            snapshots_removed=self.snapshots_removed + other.snapshots_removed,
            temp_files_removed=self.temp_files_removed + other.temp_files_removed,
            bytes_freed=self.bytes_freed + other.bytes_freed,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class HistoryEntry:
    """One row of `podman history`: the layer it made (None for config-only steps)."""

    created: datetime | None
    created_by: str
    comment: str
    size: int
    layer: Digest | None
    empty_layer: bool


def parse_time(text: str | None) -> datetime | None:
    """An RFC 3339 time as Go writes it (nanoseconds allowed), or None if absent/invalid."""
    if not text:
        return None
    head, dot, rest = text.partition(".")
    if dot:
        digits = ""
        i = 0
        while i < len(rest) and rest[i].isdigit():
            digits += rest[i]
            i += 1
        text = f"{head}.{(digits + '000000')[:6]}{rest[i:]}"
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when


IMAGE_COLUMNS = "id, manifest_digest, media_type, created, size, config_digest, top_layer, is_index"


def image_from_row(conn: sqlite3.Connection, row: tuple[Any, ...]) -> StoredImage:
    """A StoredImage from a row selected with IMAGE_COLUMNS (names read from `conn`)."""
    image_id = str(row[0])
    names = tuple(
        r[0]
        for r in conn.execute(
            "SELECT name FROM names WHERE image_id = ? ORDER BY added, name", (image_id,)
        )
    )
    digests = [
        str(r[0])
        for r in conn.execute("SELECT digest FROM manifests WHERE image_id = ?", (image_id,))
    ]
    repos = {Reference.parse(n).name for n in names}
    pulled = conn.execute("SELECT repo, digest FROM repo_digests WHERE image_id = ?", (image_id,))
    repo_digests = {f"{r}@{d}" for r in repos for d in digests} | {f"{r}@{d}" for r, d in pulled}
    return StoredImage(
        repo_digests=tuple(sorted(repo_digests)),
        id=image_id,
        manifest_digest=Digest.parse(str(row[1])),
        media_type=str(row[2]),
        names=names,
        created=parse_time(row[3] if isinstance(row[3], str) else None),
        size=int(row[4]),
        config_digest=Digest.parse(str(row[5])) if row[5] else None,
        top_layer=Digest.parse(str(row[6])) if row[6] else None,
        is_index=bool(row[7]),
    )
