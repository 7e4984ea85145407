"""Writing an image's blobs into the store and registering it in the database.

Contract: `write_image_blobs` streams every blob in through the BlobStore (verified against
its descriptor before it becomes visible), checks each layer's diff_id against the config,
and records in `added` every blob it created, so a failed put can take them back. The caller
holds the shared gc lock from before the first write until `register_*` has committed.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Mapping
from dataclasses import dataclass

from lamina import media_types as mt
from lamina.content import CHUNK, BlobStore, decompress_reader
from lamina.digest import Digest, new_hash
from lamina.errors import ErrorCode, IntegrityError
from lamina.image import Image
from lamina.oci import ImageManifest


@dataclass(frozen=True, slots=True, kw_only=True)
class LayerFacts:
    blob_digest: Digest
    diff_id: Digest
    uncompressed_size: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageFacts:
    """Everything the database records about one single-platform image."""

    id: str
    manifest_digest: Digest
    media_type: str
    manifest_size: int
    config_digest: Digest
    created: str | None
    layers: tuple[LayerFacts, ...]
    blobs: tuple[Digest, ...]


def image_size(manifest: ImageManifest, layers: tuple[LayerFacts, ...]) -> int:
    """podman's SIZE: uncompressed layers + the config + the manifest, counted twice."""
    return (
        sum(layer.uncompressed_size for layer in layers)
        + manifest.config.size
        + 2 * len(manifest.raw)
    )


def _put_bytes(blobs: BlobStore, data: bytes, digest: Digest, added: list[Digest]) -> None:
    if not blobs.has(digest):
        blobs.put_bytes(data, digest)
        added.append(digest)


def write_image_blobs(
    blobs: BlobStore,
    conn: sqlite3.Connection,
    img: Image,
    added: list[Digest],
    measured: Mapping[Digest, tuple[Digest, int]] | None = None,
) -> tuple[ImageFacts, int]:
    """Stream `img` in; returns its facts and its podman size. `measured` maps a layer blob
    the caller packed itself to its (diff_id, uncompressed size), so it is not decompressed
    again here."""
    raw = img.raw_manifest()
    manifest = img.manifest()
    digest = Digest.of_bytes(raw, manifest.digest.algorithm)
    raw_config = img.raw_config()
    cdesc = manifest.config
    if len(raw_config) != cdesc.size:
        raise IntegrityError(
            f"config {cdesc.digest} is {len(raw_config)} bytes, expected {cdesc.size}",
            code=ErrorCode.SIZE_INVALID,
        )
    _put_bytes(blobs, raw_config, cdesc.digest, added)
    config = img.config()
    layers = img.layers()
    if len(layers) != len(manifest.layers):
        raise IntegrityError(
            f"image {digest}: manifest has {len(manifest.layers)} layers, image gives {len(layers)}"
        )
    facts: list[LayerFacts] = []
    for desc, layer, diff_id in zip(manifest.layers, layers, config.rootfs.diff_ids, strict=False):
        if not blobs.has(desc.digest):
            with layer.open() as stream:
                blobs.put_stream(stream, desc.digest, desc.size)
            added.append(desc.digest)
        facts.append(
            _layer_facts(blobs, conn, desc.digest, desc.media_type, diff_id, measured or {})
        )
    if len(config.rootfs.diff_ids) != len(facts):
        raise IntegrityError(
            f"image {digest}: manifest has {len(facts)} layers but config lists "
            f"{len(config.rootfs.diff_ids)} diff_ids",
            code=ErrorCode.MANIFEST_INVALID,
        )
    _put_bytes(blobs, raw, digest, added)
    info = ImageFacts(
        id=cdesc.digest.hex,
        manifest_digest=digest,
        media_type=manifest.media_type,
        manifest_size=len(raw),
        config_digest=cdesc.digest,
        created=config.created,
        layers=tuple(facts),
        blobs=(digest, cdesc.digest, *(d.digest for d in manifest.layers)),
    )
    return info, image_size(manifest, info.layers)


def _layer_facts(
    blobs: BlobStore,
    conn: sqlite3.Connection,
    blob: Digest,
    media_type: str,
    diff_id: Digest,
    measured: Mapping[Digest, tuple[Digest, int]],
) -> LayerFacts:
    row = conn.execute(
        "SELECT diff_id, uncompressed_size FROM layers WHERE blob_digest = ?", (str(blob),)
    ).fetchone()
    if row is not None:
        known, size = Digest.parse(row[0]), int(row[1])
    elif blob in measured:
        known, size = measured[blob]
    elif not mt.is_layer(media_type):
        # An artifact's "layer" (attestations, SBOMs) is not a tar: count it as it is.
        known, size = diff_id, blobs.size(blob)
    else:
        known, size = _measure(blobs, blob, diff_id.algorithm)
    if known != diff_id:
        raise IntegrityError(
            f"layer {blob} has diff_id {known}, the config says {diff_id}",
            code=ErrorCode.DIGEST_INVALID,
        )
    return LayerFacts(blob_digest=blob, diff_id=known, uncompressed_size=size)


def _measure(blobs: BlobStore, blob: Digest, algorithm: str) -> tuple[Digest, int]:
    """The diff_id and uncompressed size of a stored layer blob (one streamed pass)."""
    hasher = new_hash(algorithm)
    size = 0
    plain, _ = decompress_reader(blobs.open(blob, verify=True), f"layer {blob}")
    with plain:
        while chunk := plain.read(CHUNK):
            hasher.update(chunk)
            size += len(chunk)
    return Digest.from_hash(hasher, algorithm), size


def register_image(conn: sqlite3.Connection, info: ImageFacts, size: int) -> None:
    """Record the image (inside the caller's write transaction). Idempotent; a new manifest
    for a known image becomes its primary one."""
    now = time.time()
    top = str(info.layers[-1].diff_id) if info.layers else None
    conn.execute(
        "INSERT INTO images (id, is_index, manifest_digest, media_type, config_digest, created,"
        " size, top_layer, added) VALUES (?, 0, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT(id) DO UPDATE SET manifest_digest = excluded.manifest_digest,"
        " media_type = excluded.media_type, size = excluded.size",
        (
            info.id,
            str(info.manifest_digest),
            info.media_type,
            str(info.config_digest),
            info.created,
            size,
            top,
            now,
        ),
    )
    conn.execute(
        "INSERT OR REPLACE INTO manifests (digest, image_id, media_type, size) VALUES (?,?,?,?)",
        (str(info.manifest_digest), info.id, info.media_type, info.manifest_size),
    )
    conn.executemany(
        "INSERT OR IGNORE INTO image_blobs (image_id, digest) VALUES (?, ?)",
        [(info.id, str(d)) for d in info.blobs],
    )
    for pos, layer in enumerate(info.layers):
        conn.execute(
            "INSERT OR REPLACE INTO image_layers (image_id, position, diff_id, blob_digest)"
            " VALUES (?, ?, ?, ?)",
            (info.id, pos, str(layer.diff_id), str(layer.blob_digest)),
        )
        conn.execute(
            "INSERT OR IGNORE INTO layers (blob_digest, diff_id, uncompressed_size)"
            " VALUES (?, ?, ?)",
            (str(layer.blob_digest), str(layer.diff_id), layer.uncompressed_size),
        )


def register_index(
    conn: sqlite3.Connection,
    digest: Digest,
    media_type: str,
    raw_size: int,
    children: list[tuple[str, int, str | None]],
) -> str:
    """Record an index entry and its children (id, size, created); returns its id."""
    index_id = digest.hex
    created = max((c[2] for c in children if c[2]), default=None)
    size = raw_size + sum(c[1] for c in children)
    conn.execute(
        "INSERT INTO images (id, is_index, manifest_digest, media_type, config_digest, created,"
        " size, top_layer, added) VALUES (?, 1, ?, ?, NULL, ?, ?, NULL, ?)"
        " ON CONFLICT(id) DO NOTHING",
        (index_id, str(digest), media_type, created, size, time.time()),
    )
    conn.execute(
        "INSERT OR REPLACE INTO manifests (digest, image_id, media_type, size) VALUES (?,?,?,?)",
        (str(digest), index_id, media_type, raw_size),
    )
    conn.execute(
        "INSERT OR IGNORE INTO image_blobs (image_id, digest) VALUES (?, ?)",
        (index_id, str(digest)),
    )
    conn.executemany(
        "INSERT OR IGNORE INTO index_children (index_id, child_id) VALUES (?, ?)",
        [(index_id, c[0]) for c in children],
    )
    return index_id


def set_names(
    conn: sqlite3.Connection, image_id: str, names: list[str], manifest: Digest | None
) -> None:
    """Point each name at `image_id` and its manifest `manifest` (None: whichever manifest
    is the entry's primary one), moving it off whatever it named before. A name keeps the
    manifest it was given when the entry later gains others (as containers-storage)."""
    now = time.time()
    kept = str(manifest) if manifest is not None else None
    conn.executemany(
        "INSERT INTO names (name, image_id, added, manifest_digest) VALUES (?, ?, ?, ?)"
        " ON CONFLICT(name) DO UPDATE SET image_id = excluded.image_id, added = excluded.added,"
        " manifest_digest = excluded.manifest_digest",
        [(n, image_id, now, kept) for n in names],
    )


def set_repo_digests(conn: sqlite3.Connection, image_id: str, names: list[str]) -> None:
    """Record each `REPO@DIGEST` an image was stored as (a pull by digest: the image has no
    tag, but that name finds it), and `REPO@` its primary manifest's digest (which differs
    when DIGEST is a multi-platform index's and one platform's image was stored)."""
    row = conn.execute("SELECT manifest_digest FROM images WHERE id = ?", (image_id,)).fetchone()
    rows = []
    for name in names:
        repo, _, digest = name.partition("@")
        rows += [(repo, digest, image_id), (repo, str(row[0]), image_id)]
    conn.executemany(
        "INSERT OR REPLACE INTO repo_digests (repo, digest, image_id) VALUES (?, ?, ?)", rows
    )
