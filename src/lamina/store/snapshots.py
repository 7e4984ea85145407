"""Unpacked layers: each layer extracted once into `snapshots/<diff_id hex>/`.

Extraction goes into `snapshots/.tmp-*` with `content.layers.apply_layer` and is renamed into
place only when the layer's diff_id checked out; a per-layer lock keeps two processes from
extracting the same layer (the second waits and reuses). A snapshot is referenced by every
image with that layer (the `image_layers` table); gc removes the unreferenced ones.

Whiteouts: a stand-alone snapshot has nothing below it, so `.wh.NAME` and `.wh..wh..opq`
entries delete nothing and are not materialised on disk. They are recorded instead, as the
layer's whiteout entry paths (`etc/.wh.passwd`, `var/cache/.wh..wh..opq`), in the
`snapshots` table (`Store.whiteouts(diff_id)`); the working-container feature turns them
into overlayfs 0/0 character devices / opaque xattrs when it stacks snapshots.
"""

from __future__ import annotations

import json
import os
import sqlite3
import tarfile
import tempfile
import time
from pathlib import Path

from lamina.content import CHUNK, BlobStore, decompress_reader
from lamina.content.fstree import remove_tree as rmtree
from lamina.content.layers import OPAQUE, WHITEOUT_PREFIX, apply_layer
from lamina.digest import Digest
from lamina.errors import IntegrityError, NotFound
from lamina.store.db import transaction
from lamina.store.locks import snapshot_lock
from lamina.store.paths import StorePaths


def _ready(conn: sqlite3.Connection, final: Path, diff_id: Digest) -> bool:
    row = conn.execute("SELECT 1 FROM snapshots WHERE diff_id = ?", (str(diff_id),)).fetchone()
    return row is not None and final.is_dir()


def ensure(conn: sqlite3.Connection, blobs: BlobStore, paths: StorePaths, diff_id: Digest) -> Path:
    """The snapshot dir of `diff_id`, extracting it first if needed (caller holds the shared
    gc lock)."""
    final = paths.snapshot(diff_id.hex)
    if _ready(conn, final, diff_id):
        return final
    row = conn.execute(
        "SELECT blob_digest FROM image_layers WHERE diff_id = ? LIMIT 1", (str(diff_id),)
    ).fetchone()
    if row is None:
        raise NotFound(f"layer {diff_id}: no stored image has this layer")
    blob = Digest.parse(row[0])
    with snapshot_lock(paths.locks, diff_id.hex):
        if _ready(conn, final, diff_id):
            return final
        rmtree(final)  # a crash's leftover: renamed but never recorded
        tmp = Path(tempfile.mkdtemp(dir=paths.snapshots, prefix=f".tmp-{diff_id.hex[:12]}-"))
        try:
            os.chmod(tmp, 0o755)
            with blobs.open(blob, verify=True) as f:
                stats = apply_layer(f, tmp, what=f"layer {blob}")
                while f.read(CHUNK):  # to EOF, so the blob digest is checked
                    pass
            if stats.diff_id is not None and stats.diff_id != diff_id:
                raise IntegrityError(
                    f"layer {blob} has diff_id {stats.diff_id}, expected {diff_id}"
                )
            found = _whiteouts(blobs, blob) if stats.whiteouts else []
            os.rename(tmp, final)
        except BaseException:
            rmtree(tmp)
            raise
        with transaction(conn):
            conn.execute(
                "INSERT OR REPLACE INTO snapshots (diff_id, whiteouts, created) VALUES (?, ?, ?)",
                (str(diff_id), json.dumps(found), time.time()),
            )
    return final


def adopt(
    conn: sqlite3.Connection, paths: StorePaths, diff_id: Digest, directory: Path, epoch: int | None
) -> bool:
    """Make `directory` (an overlay upper dir holding exactly the layer `diff_id`, see
    `lamina.store.adopt`) that layer's snapshot; False, leaving it untouched, if a snapshot
    exists already, no stored image has the layer, this is not root, or the dir is on
    another file system (caller holds the shared gc lock)."""
    final = paths.snapshot(diff_id.hex)
    if os.geteuid() != 0 or _ready(conn, final, diff_id):
        return False
    row = conn.execute(
        "SELECT 1 FROM image_layers WHERE diff_id = ? LIMIT 1", (str(diff_id),)
    ).fetchone()
    if row is None or os.stat(directory).st_dev != os.stat(paths.snapshots).st_dev:
        return False
    from lamina.store.adopt import make_standalone

    with snapshot_lock(paths.locks, diff_id.hex):
        if _ready(conn, final, diff_id):
            return False
        rmtree(final)  # a crash's leftover: renamed but never recorded
        found = make_standalone(directory, epoch)
        os.rename(directory, final)
        with transaction(conn):
            conn.execute(
                "INSERT OR REPLACE INTO snapshots (diff_id, whiteouts, created) VALUES (?, ?, ?)",
                (str(diff_id), json.dumps(found), time.time()),
            )
    return True


def _whiteouts(blobs: BlobStore, blob: Digest) -> list[str]:
    """The whiteout entry paths of a layer, in tar order (a second streamed pass)."""
    out: list[str] = []
    plain, _ = decompress_reader(blobs.open(blob), f"layer {blob}")
    with plain, tarfile.open(fileobj=plain, mode="r|") as tar:
        for member in tar:
            name = member.name.lstrip("/").removeprefix("./")
            base = name.rstrip("/").rpartition("/")[2]
            if base == OPAQUE or base.startswith(WHITEOUT_PREFIX):
                out.append(name)
    return out


def whiteouts(conn: sqlite3.Connection, diff_id: Digest) -> list[str]:
    row = conn.execute(
        "SELECT whiteouts FROM snapshots WHERE diff_id = ?", (str(diff_id),)
    ).fetchone()
    if row is None:
        raise NotFound(f"layer {diff_id} has no snapshot", hint="call Store.snapshot() first")
    found = json.loads(row[0])
    return [str(x) for x in found]
