"""Removing entries, pruning, garbage collection, consistency checks and history.

Metadata changes run in one write transaction each. `sweep` must run under the exclusive gc
lock (see `lamina.store.locks`): it trusts that no blob is written-but-unregistered.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterable
from typing import TYPE_CHECKING

from lamina import media_types as mt
from lamina.content import BlobStore
from lamina.content.fstree import remove_tree
from lamina.digest import Digest
from lamina.errors import Conflict, InvalidInput, LaminaError, NotFound
from lamina.store.db import transaction
from lamina.store.names import parse_query
from lamina.store.paths import StorePaths
from lamina.store.records import (
    IMAGE_COLUMNS,
    GCReport,
    HistoryEntry,
    StoredImage,
    image_from_row,
    parse_time,
)
from lamina.store.resolve import resolve

if TYPE_CHECKING:
    from lamina.store.store import Store


def remove(conn: sqlite3.Connection, text: str, *, force: bool) -> list[str]:
    with transaction(conn):
        image_id, by_name = resolve(conn, text)
        names = [
            r[0] for r in conn.execute("SELECT name FROM names WHERE image_id = ?", (image_id,))
        ]
        parent = conn.execute(
            "SELECT index_id FROM index_children WHERE child_id = ? LIMIT 1", (image_id,)
        ).fetchone()
        if by_name is not None and (len(names) > 1 or parent is not None):
            # the image stays: it has other names, or its index still reaches it
            conn.execute("DELETE FROM names WHERE name = ?", (by_name,))
            return [f"Untagged: {by_name}"]
        if parent is not None:
            raise Conflict(
                f"image {image_id[:12]} is part of the multi-platform index {parent[0][:12]}",
                hint="remove the index instead",
            )
        holders = [
            r[0] for r in conn.execute("SELECT holder FROM holds WHERE image_id = ?", (image_id,))
        ]
        if holders and not force:
            raise Conflict(
                f"image {image_id[:12]} is in use by {', '.join(sorted(holders))}",
                hint="remove those first, or force the removal",
            )
        return [f"Untagged: {n}" for n in names] + _delete_entry(conn, image_id)


def _delete_entry(conn: sqlite3.Connection, image_id: str) -> list[str]:
    """Delete an entry and, for an index, its children that nothing else names or holds."""
    children = [
        r[0]
        for r in conn.execute("SELECT child_id FROM index_children WHERE index_id = ?", (image_id,))
    ]
    conn.execute("DELETE FROM holds WHERE image_id = ?", (image_id,))
    conn.execute("DELETE FROM images WHERE id = ?", (image_id,))
    out = [f"Deleted: {image_id}"]
    for child in children:
        used = conn.execute(
            "SELECT 1 FROM names WHERE image_id = ?1 UNION ALL SELECT 1 FROM holds"
            " WHERE image_id = ?1 UNION ALL SELECT 1 FROM index_children WHERE child_id = ?1",
            (child,),
        ).fetchone()
        exists = conn.execute("SELECT 1 FROM images WHERE id = ?", (child,)).fetchone()
        if used is None and exists is not None:
            out += _delete_entry(conn, child)
    return out


def untag(conn: sqlite3.Connection, store: Store, text: str) -> StoredImage:
    q = parse_query(text)
    if (q.full is None and q.short_path is None) or q.digest is not None:
        raise InvalidInput(f"untag needs a name with a tag, got {text!r}")
    with transaction(conn):
        try:
            image_id, by_name = resolve(conn, text)
        except NotFound:
            by_name = None
        if by_name is None:
            raise NotFound(f"{text}: no image has this name")
        conn.execute("DELETE FROM names WHERE name = ?", (by_name,))
    return store.get(image_id)


def prune(conn: sqlite3.Connection, *, all_unused: bool) -> list[StoredImage]:
    with transaction(conn):
        cond = "" if all_unused else "AND id NOT IN (SELECT image_id FROM names)"
        rows = conn.execute(
            f"SELECT {IMAGE_COLUMNS} FROM images WHERE id NOT IN (SELECT image_id FROM holds)"
            f" AND id NOT IN (SELECT child_id FROM index_children) {cond}"
        ).fetchall()
        victims = [image_from_row(conn, r) for r in rows]
        for v in victims:
            if conn.execute("SELECT 1 FROM images WHERE id = ?", (v.id,)).fetchone():
                _delete_entry(conn, v.id)
    return victims


def delete_unreferenced(
    conn: sqlite3.Connection, blobs: BlobStore, digests: Iterable[Digest]
) -> int:
    """Delete the given blobs that no entry references (caller holds the exclusive lock)."""
    removed = 0
    for d in digests:
        row = conn.execute(
            "SELECT 1 FROM image_blobs WHERE digest = ? LIMIT 1", (str(d),)
        ).fetchone()
        if row is None and blobs.delete(d):
            removed += 1
    return removed


def sweep(
    conn: sqlite3.Connection, blobs: BlobStore, paths: StorePaths, temp_grace: float
) -> GCReport:
    live = {r[0] for r in conn.execute("SELECT DISTINCT digest FROM image_blobs")}
    removed: list[Digest] = []
    freed = 0
    for d in list(blobs):
        if str(d) in live:
            continue
        with contextlib.suppress(FileNotFoundError):
            freed += blobs.path(d).stat().st_size
        if blobs.delete(d):
            removed.append(d)
    live_layers = {r[0] for r in conn.execute("SELECT DISTINCT diff_id FROM image_layers")}
    gone_snapshots: list[Digest] = []
    temps = 0
    for entry in os.scandir(paths.snapshots):
        if entry.name.startswith(".tmp-"):
            remove_tree(entry.path)  # no extraction runs while we hold the lock
            temps += 1
            continue
        diff_id = f"sha256:{entry.name}"
        if diff_id not in live_layers:
            remove_tree(entry.path)
            gone_snapshots.append(Digest.parse(diff_id))
    for entry in os.scandir(paths.locks):
        # Extractors hold the shared gc lock while they wait on these: none is in use now.
        name = entry.name
        if name.startswith("snapshot-") and f"sha256:{name[9:-5]}" not in live_layers:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry.path)
    with transaction(conn):
        conn.execute("DELETE FROM layers WHERE blob_digest NOT IN (SELECT digest FROM image_blobs)")
        conn.execute(
            "DELETE FROM snapshots WHERE diff_id NOT IN (SELECT diff_id FROM image_layers)"
        )
    partials, partial_bytes = blobs.clean_ingest(older_than=temp_grace)
    temps += partials
    freed += partial_bytes
    return GCReport(
        blobs_removed=tuple(removed),
        snapshots_removed=tuple(gone_snapshots),
        temp_files_removed=temps,
        bytes_freed=freed,
    )


def check(conn: sqlite3.Connection, blobs: BlobStore) -> list[str]:
    problems: list[str] = []
    verified: dict[str, bool] = {}

    def blob_ok(entry: str, d: str) -> None:
        if d not in verified:
            verified[d] = blobs.has(Digest.parse(d)) and blobs.verify(Digest.parse(d))
            if not verified[d]:
                state = "corrupt" if blobs.has(Digest.parse(d)) else "missing"
                problems.append(f"image {entry[:12]}: blob {d} is {state}")

    entries = conn.execute("SELECT id, is_index FROM images ORDER BY id").fetchall()
    known = {r[0] for r in entries}
    for image_id, is_index in entries:
        refs = {
            r[0]
            for r in conn.execute("SELECT digest FROM image_blobs WHERE image_id = ?", (image_id,))
        }
        for d in sorted(refs):
            blob_ok(image_id, d)
        for (mdigest,) in conn.execute(
            "SELECT digest FROM manifests WHERE image_id = ?", (image_id,)
        ):
            if mdigest not in refs:
                problems.append(f"image {image_id[:12]}: manifest {mdigest} is not referenced")
                continue
            if not verified.get(mdigest):
                continue
            problems += _check_manifest(
                conn,
                blobs,
                image_id=image_id,
                is_index=bool(is_index),
                mdigest=mdigest,
                refs=refs,
                known=known,
            )
    for name, image_id in conn.execute("SELECT name, image_id FROM names"):
        if image_id not in known:
            problems.append(f"name {name} points at missing image {image_id[:12]}")
    for (image_id,) in conn.execute("SELECT DISTINCT image_id FROM holds"):
        if image_id not in known:
            problems.append(f"a hold pins missing image {image_id[:12]}")
    return problems


def _check_manifest(
    conn: sqlite3.Connection,
    blobs: BlobStore,
    *,
    image_id: str,
    is_index: bool,
    mdigest: str,
    refs: set[str],
    known: set[str],
) -> list[str]:
    out: list[str] = []
    from lamina.oci import ImageIndex, ImageManifest, parse_any

    where = f"image {image_id[:12]}"
    try:
        parsed = parse_any(blobs.read_bytes(Digest.parse(mdigest)))
    except LaminaError as exc:
        return [f"{where}: manifest {mdigest} does not parse: {exc}"]
    if isinstance(parsed, ImageManifest) and not is_index:
        for desc in parsed.blobs():
            if str(desc.digest) not in refs:
                out.append(f"{where}: blob {desc.digest} of manifest {mdigest} is not referenced")
        if parsed.config.digest.hex != image_id:
            out.append(f"{where}: manifest {mdigest} has config {parsed.config.digest}")
    elif isinstance(parsed, ImageIndex) and is_index:
        children = {
            r[0]
            for r in conn.execute(
                "SELECT child_id FROM index_children WHERE index_id = ?", (image_id,)
            )
        }
        for child in sorted(children - known):
            out.append(f"{where}: child image {child[:12]} is missing")
        for desc in parsed.manifests:
            if desc.media_type not in mt.ALL_MANIFEST_TYPES:
                continue
            row = conn.execute(
                "SELECT image_id FROM manifests WHERE digest = ?", (str(desc.digest),)
            ).fetchone()
            if row is None or row[0] not in children:
                out.append(f"{where}: child manifest {desc.digest} is not stored")
    else:
        out.append(f"{where}: manifest {mdigest} is of the wrong kind")
    return out


def history(conn: sqlite3.Connection, store: Store, s: StoredImage) -> list[HistoryEntry]:
    img = store.image(s)
    config = img.config()
    layer_rows = conn.execute(
        "SELECT l.diff_id, l.uncompressed_size FROM image_layers il JOIN layers l"
        " ON l.blob_digest = il.blob_digest WHERE il.image_id = ? ORDER BY il.position",
        (s.id,),
    ).fetchall()
    layers = [(Digest.parse(r[0]), int(r[1])) for r in layer_rows]
    entries: list[HistoryEntry] = []
    next_layer = 0
    if not config.history:  # no history recorded: one anonymous row per layer
        return [
            HistoryEntry(
                created=None, created_by="", comment="", size=size, layer=d, empty_layer=False
            )
            for d, size in reversed(layers)
        ]
    for h in config.history:
        layer: tuple[Digest, int] | None = None
        if not h.empty_layer and next_layer < len(layers):
            layer = layers[next_layer]
            next_layer += 1
        entries.append(
            HistoryEntry(
                created=parse_time(h.created),
                created_by=h.created_by or "",
                comment=h.comment or "",
                size=layer[1] if layer else 0,
                layer=layer[0] if layer else None,
                empty_layer=h.empty_layer,
            )
        )
    entries.reverse()
    return entries
