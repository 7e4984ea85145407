"""The store's SQLite metadata: connection set-up, schema migrations, write transactions.

WAL mode, a generous busy_timeout, and `BEGIN IMMEDIATE` for every write transaction, so
several processes can read while one writes and writers queue instead of failing.
Digests are stored as their canonical text (`sha256:<hex>`); image IDs as bare hex.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from lamina.errors import ErrorCode, LaminaError

BUSY_TIMEOUT_MS = 60_000

# Each entry upgrades the schema by one version; never edit a shipped entry, append one.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE images (
        id TEXT PRIMARY KEY,              -- config digest hex, or the index digest hex
        is_index INTEGER NOT NULL,
        manifest_digest TEXT NOT NULL,    -- the primary manifest (the last one stored)
        media_type TEXT NOT NULL,
        config_digest TEXT,
        created TEXT,
        size INTEGER NOT NULL,
        top_layer TEXT,                   -- diff_id of the last layer
        added REAL NOT NULL
    );
    CREATE TABLE manifests (             -- every manifest known for an entry
        digest TEXT PRIMARY KEY,
        image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
        media_type TEXT NOT NULL,
        size INTEGER NOT NULL
    );
    CREATE INDEX manifests_image ON manifests(image_id);
    CREATE TABLE names (
        name TEXT PRIMARY KEY,            -- normalised reference, domain/path:tag
        image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
        added REAL NOT NULL
    );
    CREATE INDEX names_image ON names(image_id);
    CREATE TABLE image_blobs (            -- every blob an entry needs: gc marks from here
        image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
        digest TEXT NOT NULL,
        PRIMARY KEY (image_id, digest)
    );
    CREATE INDEX image_blobs_digest ON image_blobs(digest);
    CREATE TABLE image_layers (
        image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        diff_id TEXT NOT NULL,
        blob_digest TEXT NOT NULL,
        PRIMARY KEY (image_id, position)
    );
    CREATE INDEX image_layers_diff ON image_layers(diff_id);
    CREATE TABLE index_children (
        index_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
        child_id TEXT NOT NULL,
        PRIMARY KEY (index_id, child_id)
    );
    CREATE INDEX index_children_child ON index_children(child_id);
    CREATE TABLE layers (                 -- facts about a compressed layer blob
        blob_digest TEXT PRIMARY KEY,
        diff_id TEXT NOT NULL,
        uncompressed_size INTEGER NOT NULL
    );
    CREATE TABLE holds (                  -- pins: working containers and the like
        image_id TEXT NOT NULL,
        holder TEXT NOT NULL,
        PRIMARY KEY (image_id, holder)
    );
    CREATE TABLE snapshots (
        diff_id TEXT PRIMARY KEY,
        whiteouts TEXT NOT NULL,          -- JSON list of whiteout paths found in the layer
        created REAL NOT NULL
    );
    """,
    """
    CREATE TABLE signatures (             -- simple-signing signatures, by manifest
        manifest_digest TEXT NOT NULL REFERENCES manifests(digest) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        data BLOB NOT NULL,
        PRIMARY KEY (manifest_digest, position)
    );
    """,
    """
    ALTER TABLE names ADD COLUMN manifest_digest TEXT;  -- the manifest the name was given
    CREATE TABLE repo_digests (           -- images pulled by REPO@DIGEST (no tag)
        repo TEXT NOT NULL,
        digest TEXT NOT NULL,
        image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
        PRIMARY KEY (repo, digest)
    );
    CREATE INDEX repo_digests_image ON repo_digests(image_id);
    """,
)


class StoreCorrupt(LaminaError):
    """The store's database is unreadable or from a newer lamina."""


class StoreAccessDenied(LaminaError):
    """This user may not write the store (a store made by root, opened by an ordinary
    user): nothing is wrong with the store itself."""


def access_denied(path: Path) -> StoreAccessDenied:
    """The one-line error for a store path this user cannot create or write."""
    return StoreAccessDenied(
        f"cannot write the store at {path}: permission denied",
        code=ErrorCode.DENIED,
        hint="run as the user who owns it, or use a store you own (--root DIR or LAMINA_ROOT)",
    )


# SQLite's primary result codes (https://sqlite.org/rescode.html) that mean "this user may
# not write here" and "the file is damaged" respectively.
_SQLITE_DENIED = frozenset({3, 8, 14, 23})  # PERM, READONLY, CANTOPEN, AUTH
_SQLITE_CORRUPT = frozenset({11, 26})  # CORRUPT, NOTADB


def connect(path: Path) -> sqlite3.Connection:
    """Open (creating and migrating if needed) the metadata database."""
    conn: sqlite3.Connection | None = None
    try:
        conn = sqlite3.connect(
            path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
        )
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        _migrate(conn)
    except StoreCorrupt:
        conn.close()  # type: ignore[union-attr]
        raise
    except sqlite3.DatabaseError as exc:
        if conn is not None:
            conn.close()
        raise _open_error(path, exc) from None
    return conn


def _open_error(path: Path, exc: sqlite3.DatabaseError) -> LaminaError:
    """Why `path` did not open: no write access (the user's fix: another store or user),
    corruption as SQLite itself reports it (only then: move the file aside), or else
    SQLite's own words."""
    primary = getattr(exc, "sqlite_errorcode", 0) & 0xFF
    writable = all(
        os.access(p, os.W_OK) for p in (path.parent, path, *_sidecars(path)) if p.exists()
    )
    if primary in _SQLITE_DENIED and not writable:
        return access_denied(path.parent)
    if primary in _SQLITE_CORRUPT:
        return StoreCorrupt(
            f"store database {path} cannot be opened: {exc} (SQLite reports it damaged)",
            hint="move it aside and re-import images, or point LAMINA_ROOT elsewhere",
        )
    return StoreCorrupt(f"store database {path} cannot be opened: {exc}")


def _sidecars(path: Path) -> tuple[Path, Path]:
    return path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")


def _migrate(conn: sqlite3.Connection) -> None:
    with transaction(conn):
        conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        row = conn.execute("SELECT version FROM schema_version").fetchone()
        version = int(row[0]) if row else 0
        if row is None:
            conn.execute("INSERT INTO schema_version VALUES (0)")
        if version > len(MIGRATIONS):
            raise StoreCorrupt(
                f"store schema version {version} is newer than this lamina knows "
                f"({len(MIGRATIONS)}); upgrade lamina"
            )
        for step in range(version, len(MIGRATIONS)):
            for statement in MIGRATIONS[step].split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute("UPDATE schema_version SET version = ?", (step + 1,))


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """A write transaction (`BEGIN IMMEDIATE`): committed on success, rolled back on error."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def schema_version(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT version FROM schema_version").fetchone()
    return int(row[0]) if row else 0
