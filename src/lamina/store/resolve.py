"""Turning what a user types into a stored entry: ID, ID prefix, full or short name, digest.

Order, as podman's local lookup: a unique ID prefix (3+ hex digits) or `sha256:<id>` first;
then names — a full name matches exactly, a short one by repository suffix (see
`lamina.store.names`); `name@digest` matches an entry (or an index child) holding that
manifest whose own name (or its index's) has that repository.
"""

from __future__ import annotations

import sqlite3

from lamina.errors import Conflict, NotFound
from lamina.reference import Reference
from lamina.store.names import Query, parse_query


def resolve(conn: sqlite3.Connection, text: str) -> tuple[str, str | None]:
    """(entry id, the stored name it was found by or None) for `text`."""
    q = parse_query(text)
    ids: list[str] = []
    if q.id_prefix:
        ids = [
            r[0]
            for r in conn.execute(
                "SELECT id FROM images WHERE id LIKE ? ORDER BY id LIMIT 6", (q.id_prefix + "%",)
            )
        ]
        if len(ids) == 1:
            return ids[0], None
    if q.full is not None or q.short_path is not None:
        found = _by_digest(conn, q) if q.digest is not None else _by_name(conn, q, text)
        if found is not None:
            return found
    if len(ids) > 1:
        raise Conflict(
            f"image ID prefix {text!r} is ambiguous: it matches "
            + ", ".join(i[:12] for i in ids[:5]),
            hint="give more digits of the ID",
        )
    raise NotFound(f"{text}: image not known", hint="`lamina images` lists the stored images")


def _by_name(conn: sqlite3.Connection, q: Query, text: str) -> tuple[str, str] | None:
    if q.full is not None:
        row = conn.execute("SELECT image_id FROM names WHERE name = ?", (q.full,)).fetchone()
        return (str(row[0]), q.full) if row else None
    assert q.short_path is not None
    pattern = "%" + q.short_path + ":" + (q.tag or "")
    matches = [
        (str(name), str(image_id))
        for name, image_id in conn.execute(
            "SELECT name, image_id FROM names WHERE name LIKE ? ORDER BY name", (pattern,)
        )
        if q.matches_name(name)
    ]
    if not matches:
        return None
    distinct = {image_id for _, image_id in matches}
    if len(distinct) > 1:
        raise Conflict(
            f"short name {text!r} is ambiguous: it matches "
            + ", ".join(name for name, _ in matches),
            hint="use the full name",
        )
    # Prefer localhost/, as podman does for its own images.
    matches.sort(key=lambda m: (not m[0].startswith("localhost/"), m[0]))
    return matches[0][1], matches[0][0]


def _by_digest(conn: sqlite3.Connection, q: Query) -> tuple[str, None] | None:
    assert q.digest is not None
    row = conn.execute(
        "SELECT image_id FROM manifests WHERE digest = ?", (str(q.digest),)
    ).fetchone()
    if row is None:  # an index's digest, of which one platform was pulled
        pulled = conn.execute(
            "SELECT repo, image_id FROM repo_digests WHERE digest = ? ORDER BY repo",
            (str(q.digest),),
        )
        for repo, image_id in pulled:
            if _repo_matches(q, str(repo)):
                return str(image_id), None
        return None
    entry = str(row[0])
    owners = [entry] + [
        r[0]
        for r in conn.execute("SELECT index_id FROM index_children WHERE child_id = ?", (entry,))
    ]
    repos = [
        Reference.parse(name).name
        for owner in owners
        for (name,) in conn.execute("SELECT name FROM names WHERE image_id = ?", (owner,))
    ]
    repos += [
        str(r[0])
        for r in conn.execute("SELECT repo FROM repo_digests WHERE image_id = ?", (entry,))
    ]
    if any(_repo_matches(q, repo) for repo in repos):
        return entry, None
    return None


def _repo_matches(q: Query, repo: str) -> bool:
    """True if the query's name (full or short) denotes repository `repo`."""
    if q.repo is not None:
        return repo == q.repo
    path = Reference.parse(repo, default_tag=False).path
    return q.short_path is not None and (path == q.short_path or path.endswith("/" + q.short_path))


def manifest_of(
    conn: sqlite3.Connection, text: str, image_id: str, by_name: str | None
) -> tuple[str, str] | None:
    """(manifest digest, media type) `text` denotes when it is not the entry's primary
    manifest: the digest of `name@digest`, or the manifest the name `by_name` was given.
    None means the entry's primary manifest."""
    q = parse_query(text)
    wanted: str | None = None
    if q.digest is not None and q.id_prefix is None:
        wanted = str(q.digest)
    elif by_name is not None:
        row = conn.execute(
            "SELECT manifest_digest FROM names WHERE name = ?", (by_name,)
        ).fetchone()
        wanted = row[0] if row else None
    if wanted is None:
        return None
    row = conn.execute(
        "SELECT digest, media_type FROM manifests WHERE digest = ? AND image_id = ?",
        (wanted, image_id),
    ).fetchone()
    return (str(row[0]), str(row[1])) if row else None
