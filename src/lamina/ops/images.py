"""Listing and describing stored images: the data behind `images`, `image tree`, `history`
and `inspect`, as plain values a script can use."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from lamina.digest import Digest
from lamina.reference import Reference
from lamina.store import HistoryEntry, Store, StoredImage


@dataclass(frozen=True, slots=True)
class ImageRow:
    repository: str
    tag: str
    image: StoredImage


def image_rows(store: Store, *, all: bool = False) -> list[ImageRow]:
    """One row per name (or one `<none>` row per dangling image), newest first."""
    rows: list[ImageRow] = []
    for img in store.list_images(all=all):
        if not img.names:
            rows.append(ImageRow("<none>", "<none>", img))
            continue
        for name in img.names:
            repo, tag = split_name(name)
            rows.append(ImageRow(repo, tag, img))
    return rows


def split_name(name: str) -> tuple[str, str]:
    """`localhost/a:1` → (`localhost/a`, `1`); a digest-only name gets tag `<none>`."""
    try:
        ref = Reference.parse(name, default_tag=False)
    except Exception:  # a stored name is always valid; be lenient when printing
        return name, "<none>"
    return ref.name, ref.tag or "<none>"


def image_json(img: StoredImage) -> dict[str, Any]:
    return {
        "Id": img.id,
        "Names": list(img.names),
        "Digest": str(img.manifest_digest),
        "MediaType": img.media_type,
        "Created": int(img.created.timestamp()) if img.created else 0,
        "CreatedAt": img.created.isoformat() if img.created else None,
        "Size": img.size,
        "Dangling": img.dangling,
        "IsIndex": img.is_index,
    }


def chain_ids(diff_ids: list[Digest]) -> list[Digest]:
    """Layer chain IDs (as containers/storage names layers of pulled images)."""
    out: list[Digest] = []
    for d in diff_ids:
        if not out:
            out.append(d)
        else:
            out.append(Digest.of_bytes(f"{out[-1]} {d}".encode()))
    return out


@dataclass(frozen=True, slots=True)
class TreeLayer:
    id: Digest
    diff_id: Digest
    size: int
    top_of: tuple[str, ...]


def image_tree(store: Store, name_or_id: str) -> tuple[StoredImage, list[TreeLayer]]:
    """The image and its layers bottom-up, each with the images whose top layer it is."""
    img = store.lookup(name_or_id)
    diff_ids = store.layer_diff_ids(img)
    sizes = [h.size for h in reversed(store.history(img.id)) if not h.empty_layer]
    if len(sizes) != len(diff_ids):
        sizes = [0] * len(diff_ids)
    layers: list[TreeLayer] = []
    for chain, diff_id, size in zip(chain_ids(diff_ids), diff_ids, sizes, strict=True):
        tops: list[str] = []
        for other in store.layers_by_diff_id(diff_id):
            if store.layer_diff_ids(other)[: len(layers) + 1] == diff_ids[: len(layers) + 1]:
                tops.extend(other.names or (f"<none> {other.short_id}",))
        layers.append(TreeLayer(chain, diff_id, size, tuple(tops)))
    return img, layers


def history(store: Store, name_or_id: str) -> tuple[StoredImage, list[HistoryEntry]]:
    img = store.lookup(name_or_id)
    return img, store.history(img.id)


def inspect(store: Store, name_or_id: str) -> dict[str, Any]:
    """A podman-style description plus the raw manifest and config, parsed."""
    stored = store.lookup(name_or_id)
    if stored.is_index:
        index = store.index(stored)
        return {**image_json(stored), "Manifest": json.loads(index.raw_manifest())}
    img = store.image(stored)
    cfg = img.config()
    repo_digests = sorted(
        {f"{Reference.parse(n).name}@{stored.manifest_digest}" for n in stored.names}
    )
    return {
        "Id": stored.id,
        "Digest": str(stored.manifest_digest),
        "RepoTags": list(stored.names),
        "RepoDigests": repo_digests,
        "Created": cfg.created,
        "Author": cfg.author or "",
        "Architecture": cfg.architecture,
        "Os": cfg.os,
        "Variant": cfg.variant or None,
        "Size": stored.size,
        "Config": cfg.config.to_json(),
        "RootFS": cfg.rootfs.to_json(),
        "History": [h.to_json() for h in cfg.history],
        "ManifestType": stored.media_type,
        "Manifest": json.loads(img.raw_manifest()),
        "ImageConfig": json.loads(img.raw_config()),
    }
