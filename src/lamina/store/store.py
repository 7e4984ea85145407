"""lamina's local image store: names and tags over verified blobs, with unpacked snapshots.

An image is identified as podman does: its ID is the config digest's hex. A name points at
exactly one entry; re-tagging moves it, and an image left without names is dangling
(`<none>`). A multi-platform index is an entry of its own whose child images are stored as
unnamed entries, reachable through it. Metadata lives in SQLite (`lamina.store.db`), blobs in
a `BlobStore`; `lamina.store.locks` describes the protocol that keeps gc safe against
concurrent writers. `remove`/`prune` drop metadata and then collect garbage if no writer is
active (otherwise the next `gc` frees the space).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from lamina import media_types as mt
from lamina.content import BlobStore
from lamina.digest import Digest
from lamina.errors import ErrorCode, InvalidInput, NotFound
from lamina.store import db
from lamina.store.locks import GCLock
from lamina.store.names import normalize_new_name, split_new_names
from lamina.store.paths import StorePaths, default_root
from lamina.store.records import IMAGE_COLUMNS, GCReport, HistoryEntry, StoredImage, image_from_row
from lamina.store.resolve import manifest_of, resolve

if TYPE_CHECKING:  # the image model is imported when an image is opened, not for listings
    from lamina.content.layers import LayerBlob
    from lamina.image import Image, ImageIndexView
    from lamina.store import ingest


class Store:
    """The store at one root. Safe to use from several processes at once; one instance may be
    shared by threads (each thread gets its own database connection)."""

    def __init__(self, root: Path) -> None:
        self.paths = StorePaths(root)
        try:
            self.paths.make()
        except PermissionError:
            raise db.access_denied(root) from None
        self.blobs = BlobStore(root)
        self._gc_lock = GCLock(self.paths.locks)
        self._local = threading.local()
        self._conns: list[sqlite3.Connection] = []
        self._conns_lock = threading.Lock()
        self._conn()  # create and migrate now, so errors surface at open
        self.collected = GCReport()  # what this instance's collections have freed
        self._clear_partials()

    @classmethod
    def open(cls, root: Path | None = None) -> Store:
        """The store at `root` (default: `lamina.store.paths.default_root()`), created if new."""
        return cls(Path(root) if root is not None else default_root())

    @property
    def root(self) -> Path:
        return self.paths.root

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = db.connect(self.paths.db)
            self._local.conn = conn
            with self._conns_lock:
                self._conns.append(conn)
        return conn

    def close(self) -> None:
        with self._conns_lock:
            for conn in self._conns:
                conn.close()
            self._conns.clear()
        self._local = threading.local()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def ingest(self) -> Iterator[BlobStore]:
        """Hold off gc while the caller writes blobs into `self.blobs` by hand (e.g. with
        `content.layers.pack_dir`) and then registers them with `put_image` in the block."""
        with self._gc_lock.shared():
            yield self.blobs

    def put_image(
        self, img: Image, names: Sequence[str] = (), *, packed: Sequence[LayerBlob] = ()
    ) -> StoredImage:
        """Stream every blob of `img` in (verified; diff_ids checked) and record it under
        `names`. Idempotent. On failure the store is left as it was. `packed` are layers the
        caller just wrote with the layer engine: their diff_ids are taken as it measured them
        instead of decompressing the blobs again."""
        from lamina.store import ingest  # imported late: heavy

        wanted, repos = split_new_names(names)
        added: list[Digest] = []
        try:
            with self._gc_lock.shared():
                conn = self._conn()
                facts, size = ingest.write_image_blobs(
                    self.blobs,
                    conn,
                    img,
                    added,
                    {b.digest: (b.diff_id, b.uncompressed_size) for b in packed},
                )
                with db.transaction(conn):
                    ingest.register_image(conn, facts, size)
                    ingest.set_names(conn, facts.id, wanted, facts.manifest_digest)
                    ingest.set_repo_digests(conn, facts.id, repos)
        except BaseException:
            self.discard_unregistered(added)
            raise
        return self.get(facts.id)

    def put_index(self, index: ImageIndexView, names: Sequence[str] = ()) -> StoredImage:
        """Store a multi-platform index: its image children as unnamed entries (nested
        indexes likewise), the index as an entry under `names`. Children of other media
        types (artifacts) are not stored."""
        wanted, repos = split_new_names(names)
        added: list[Digest] = []
        try:
            with self._gc_lock.shared():
                index_id = self._put_index_tree(self._conn(), index, added, wanted, repos)
        except BaseException:
            self.discard_unregistered(added)
            raise
        return self.get(index_id)

    def _put_index_tree(
        self,
        conn: sqlite3.Connection,
        index: ImageIndexView,
        added: list[Digest],
        names: list[str],
        repos: Sequence[str] = (),
    ) -> str:
        from lamina.store import ingest  # imported late: heavy

        parsed = index.manifest()
        children_images: list[tuple[ingest.ImageFacts, int]] = []
        child_indexes: list[str] = []
        for desc in parsed.manifests:
            if desc.media_type in mt.MANIFEST_TYPES:
                children_images.append(
                    ingest.write_image_blobs(self.blobs, conn, index.image(desc), added)
                )
            elif desc.media_type in mt.INDEX_TYPES:
                child_indexes.append(self._put_index_tree(conn, index.index(desc), added, []))
        raw = index.raw_manifest()
        digest = Digest.of_bytes(raw, index.digest().algorithm)
        if not self.blobs.has(digest):
            self.blobs.put_bytes(raw, digest)
            added.append(digest)
        with db.transaction(conn):
            children: list[tuple[str, int, str | None]] = []
            for facts, size in children_images:
                ingest.register_image(conn, facts, size)
                children.append((facts.id, size, facts.created))
            for cid in child_indexes:
                row = conn.execute(
                    "SELECT size, created FROM images WHERE id = ?", (cid,)
                ).fetchone()
                children.append((cid, int(row[0]), row[1]))
            index_id = ingest.register_index(conn, digest, parsed.media_type, len(raw), children)
            ingest.set_names(conn, index_id, names, digest)
            ingest.set_repo_digests(conn, index_id, list(repos))
        return index_id

    def discard_unregistered(self, added: Sequence[Digest]) -> None:
        """Delete blobs a failed write created, if no writer is active and no entry references
        them (else the next gc does). Call without holding `ingest()`."""
        if added:
            with self._gc_lock.exclusive(blocking=False) as got:
                if got:
                    from lamina.store import maintenance

                    maintenance.delete_unreferenced(self._conn(), self.blobs, added)

    # -- reading ---------------------------------------------------------------------------

    def get(self, image_id: str) -> StoredImage:
        """The entry with exactly this ID."""
        conn = self._conn()
        row = conn.execute(
            f"SELECT {IMAGE_COLUMNS} FROM images WHERE id = ?", (image_id,)
        ).fetchone()
        if row is None:
            raise NotFound(f"{image_id}: image not known")
        return image_from_row(conn, row)

    def lookup(self, name_or_id: str) -> StoredImage:
        """Find an entry by name (full or short), `name@digest`, ID or unique ID prefix.
        Its `manifest_digest` is the manifest asked for: `name@digest`'s, the one a name
        was given (an entry may hold several, e.g. differently compressed), else the
        entry's primary one.

        Raises NotFound, Conflict (an ambiguous short name or ID prefix) or InvalidInput."""
        conn = self._conn()
        image_id, by_name = resolve(conn, name_or_id)
        entry = self.get(image_id)
        chosen = manifest_of(conn, name_or_id, image_id, by_name)
        if chosen is None:
            return entry
        return replace(entry, manifest_digest=Digest.parse(chosen[0]), media_type=chosen[1])

    def list_images(self, *, all: bool = False) -> list[StoredImage]:
        """Entries, newest first; children of indexes only with `all` (as `podman images -a`)."""
        conn = self._conn()
        where = "" if all else "WHERE id NOT IN (SELECT child_id FROM index_children)"
        rows = conn.execute(f"SELECT {IMAGE_COLUMNS} FROM images {where} ORDER BY added DESC, id")
        return [image_from_row(conn, r) for r in rows.fetchall()]

    def image(self, s: StoredImage) -> Image:
        """A lazy Image reading from the store's blobs (verified as read)."""
        if s.is_index:
            raise InvalidInput(
                f"{s.short_id} is a multi-platform index, not an image",
                code=ErrorCode.MANIFEST_INVALID,
                hint="use Store.index() and pick a platform",
            )
        from lamina.image.model import BlobSourceImage
        from lamina.store.view import StoreBlobSource

        source = StoreBlobSource(self.blobs)
        raw, media_type = source.get_manifest(s.manifest_digest)
        return BlobSourceImage(raw, source, media_type)

    def index(self, s: StoredImage) -> ImageIndexView:
        if not s.is_index:
            raise InvalidInput(f"{s.short_id} is an image, not a multi-platform index")
        from lamina.image.model import BlobSourceIndex
        from lamina.store.view import StoreBlobSource

        source = StoreBlobSource(self.blobs)
        raw, media_type = source.get_manifest(s.manifest_digest)
        return BlobSourceIndex(raw, source, media_type)

    def history(self, name_or_id: str) -> list[HistoryEntry]:
        """`podman history` rows, newest first."""
        from lamina.store import maintenance

        return maintenance.history(self._conn(), self, self.lookup(name_or_id))

    def layers_by_diff_id(self, diff_id: Digest) -> list[StoredImage]:
        """The entries whose top layer is `diff_id` (what `image tree` prints per layer)."""
        conn = self._conn()
        rows = conn.execute(
            f"SELECT {IMAGE_COLUMNS} FROM images WHERE top_layer = ? ORDER BY added",
            (str(diff_id),),
        ).fetchall()
        return [image_from_row(conn, r) for r in rows]

    def layer_diff_ids(self, s: StoredImage) -> list[Digest]:
        """An image's layers by diff_id, lowest first."""
        rows = self._conn().execute(
            "SELECT diff_id FROM image_layers WHERE image_id = ? ORDER BY position", (s.id,)
        )
        return [Digest.parse(r[0]) for r in rows]

    def manifest_entry(self, digest: Digest) -> str | None:
        """The ID of the entry that holds the manifest `digest`, if any."""
        row = (
            self._conn()
            .execute("SELECT image_id FROM manifests WHERE digest = ?", (str(digest),))
            .fetchone()
        )
        return str(row[0]) if row else None

    def is_child(self, index_id: str, child_id: str) -> bool:
        row = (
            self._conn()
            .execute(
                "SELECT 1 FROM index_children WHERE index_id = ? AND child_id = ?",
                (index_id, child_id),
            )
            .fetchone()
        )
        return row is not None

    def signatures(self, manifest_digest: Digest) -> list[bytes]:
        """Simple-signing signatures stored for a manifest, in order."""
        rows = self._conn().execute(
            "SELECT data FROM signatures WHERE manifest_digest = ? ORDER BY position",
            (str(manifest_digest),),
        )
        return [bytes(r[0]) for r in rows]

    def put_signatures(self, manifest_digest: Digest, signatures: Sequence[bytes]) -> None:
        """Replace the signatures of a stored manifest (NotFound if it is not stored)."""
        conn = self._conn()
        with db.transaction(conn):
            if self.manifest_entry(manifest_digest) is None:
                raise NotFound(
                    f"manifest {manifest_digest} is not in the store",
                    code=ErrorCode.MANIFEST_UNKNOWN,
                )
            conn.execute(
                "DELETE FROM signatures WHERE manifest_digest = ?", (str(manifest_digest),)
            )
            conn.executemany(
                "INSERT INTO signatures (manifest_digest, position, data) VALUES (?, ?, ?)",
                [(str(manifest_digest), i, bytes(sig)) for i, sig in enumerate(signatures)],
            )

    # -- names -----------------------------------------------------------------------------

    def tag(self, name_or_id: str, new_name: str) -> StoredImage:
        """Point `new_name` at the entry; it moves off any other entry it named."""
        from lamina.store import ingest  # imported late: heavy

        name = normalize_new_name(new_name)
        conn = self._conn()
        with db.transaction(conn):
            image_id, by_name = resolve(conn, name_or_id)
            chosen = manifest_of(conn, name_or_id, image_id, by_name)
            kept = chosen[0] if chosen is not None else str(self.get(image_id).manifest_digest)
            ingest.set_names(conn, image_id, [name], Digest.parse(kept))
        return self.get(image_id)

    def untag(self, name: str) -> StoredImage:
        """Remove one name; the entry stays (dangling if it was the last)."""
        from lamina.store import maintenance

        return maintenance.untag(self._conn(), self, name)

    # -- removal and maintenance -----------------------------------------------------------

    def remove(self, name_or_id: str, *, force: bool = False) -> list[str]:
        """`podman rmi`: lines `Untagged: NAME` / `Deleted: ID`. By a name of an image with
        other names, only that name goes. Refuses (Conflict) an image pinned in `holds`
        unless `force`, and an index child always (remove the index)."""
        from lamina.store import maintenance

        out = maintenance.remove(self._conn(), name_or_id, force=force)
        self.gc(blocking=False)
        return out

    def prune(self, *, all: bool = False) -> list[StoredImage]:
        """Remove dangling entries (or, with `all`, every entry nothing holds)."""
        from lamina.store import maintenance

        out = maintenance.prune(self._conn(), all_unused=all)
        self.gc(blocking=False)
        return out

    def hold(self, name_or_id: str, holder: str) -> StoredImage:
        """Pin an entry (a working container's base): `remove`/`prune` leave it alone."""
        conn = self._conn()
        with db.transaction(conn):
            image_id, _ = resolve(conn, name_or_id)
            conn.execute("INSERT OR IGNORE INTO holds VALUES (?, ?)", (image_id, holder))
        return self.get(image_id)

    def release(self, image_id: str, holder: str) -> None:
        conn = self._conn()
        with db.transaction(conn):
            conn.execute("DELETE FROM holds WHERE image_id = ? AND holder = ?", (image_id, holder))

    def gc(self, *, blocking: bool = True, temp_grace: float = 0.0) -> GCReport:
        """Mark and sweep: delete blobs and snapshots no entry references, unfinished
        extractions, and partial blobs under ingest/ older than `temp_grace` seconds; none
        is a live writer's, as every writer holds the gc lock shared and gc takes it
        exclusive. Without `blocking`, does nothing if a writer is active. What it frees
        is added to `collected`."""
        with self._gc_lock.exclusive(blocking=blocking) as got:
            if not got:
                return GCReport()
            from lamina.store import maintenance

            report = maintenance.sweep(self._conn(), self.blobs, self.paths, temp_grace)
        self.collected = self.collected.plus(report)
        return report

    def _clear_partials(self) -> None:
        """At open: remove the partial blobs killed writers left under ingest/, if no
        writer is active (one directory listing when there are none)."""
        with os.scandir(self.blobs.ingest_dir) as it:
            if next(it, None) is None:
                return
        with self._gc_lock.exclusive(blocking=False) as got:
            if got:
                files, size = self.blobs.clean_ingest(older_than=0.0)
                self.collected = GCReport(temp_files_removed=files, bytes_freed=size)

    def check(self) -> list[str]:
        """Consistency problems, one line each; empty means every referenced blob is present
        and verifies and no reference dangles."""
        from lamina.store import maintenance

        return maintenance.check(self._conn(), self.blobs)

    # -- snapshots -------------------------------------------------------------------------

    def snapshot(self, diff_id: Digest) -> Path:
        """The layer with this diff_id unpacked under `snapshots/<hex>/` (extracted once)."""
        from lamina.store import snapshots  # imported late: heavy

        with self._gc_lock.shared():
            return snapshots.ensure(self._conn(), self.blobs, self.paths, diff_id)

    def rootfs(self, s: StoredImage) -> list[Path]:
        """The image's snapshot dirs, lowest layer first (extracting as needed)."""
        return [self.snapshot(d) for d in self.layer_diff_ids(s)]

    def adopt_snapshot(
        self, diff_id: Digest, directory: Path, *, source_date_epoch: int | None = None
    ) -> bool:
        """Make `directory` the snapshot of layer `diff_id` instead of extracting the layer
        later: it must be an overlay upper dir every entry of which was just packed into
        that layer (`pack_dir(directory, changes=upper_changes(directory),
        source_date_epoch=...)`, nothing squashed or left out) and must not change
        meanwhile. It is converted in place to a snapshot's stand-alone form (see
        `lamina.store.adopt`) and moved; True if adopted. False (untouched; the caller
        deletes it) if the layer has a snapshot already, no stored image has the layer, not
        running as root, or `directory` is on another file system. If the conversion
        fails, it raises and `directory` is left half converted: delete it."""
        from lamina.store import snapshots  # imported late: heavy

        with self._gc_lock.shared():
            return snapshots.adopt(
                self._conn(), self.paths, diff_id, Path(directory), source_date_epoch
            )

    def whiteouts(self, diff_id: Digest) -> list[str]:
        """The whiteout entries of a snapshotted layer (see `lamina.store.snapshots`)."""
        from lamina.store import snapshots  # imported late: heavy

        return snapshots.whiteouts(self._conn(), diff_id)
