"""Listing and describing stored images: the data behind `images`, `image tree`, `history`
and `inspect`, as plain values a script can use."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from lamina.digest import Digest
from lamina.ops.image_list import Listed, listed
from lamina.reference import Reference
from lamina.store import HistoryEntry, Store, StoredImage
from lamina.store.records import parse_time


@dataclass(frozen=True, slots=True)
class ImageRow:
    repository: str
    tag: str
    image: StoredImage
    item: Listed


def image_rows(items: list[Listed]) -> list[ImageRow]:
    """One row per name (or one `<none>` row per untagged image), in the items' order."""
    rows: list[ImageRow] = []
    for item in items:
        if not item.image.names:
            rows.append(ImageRow("<none>", "<none>", item.image, item))
            continue
        for name in item.image.names:
            repo, tag = split_name(name)
            rows.append(ImageRow(repo, tag, item.image, item))
    return rows


def split_name(name: str) -> tuple[str, str]:
    """`localhost/a:1` → (`localhost/a`, `1`); a digest-only name gets tag `<none>`."""
    try:
        ref = Reference.parse(name, default_tag=False)
    except Exception:  # a stored name is always valid; be lenient when printing
        return name, "<none>"
    return ref.name, ref.tag or "<none>"


def rfc3339(when: datetime | None, *, nano: bool = False) -> str:
    """Go's time.RFC3339 (seconds) or RFC3339Nano (trailing zeros dropped), in UTC with Z."""
    if when is None:
        return "0001-01-01T00:00:00Z"
    when = when.astimezone(UTC)
    text = when.strftime("%Y-%m-%dT%H:%M:%S")
    if nano and when.microsecond:
        text += f".{when.microsecond:06d}".rstrip("0")
    return text + "Z"


def _created_text(raw: str | None) -> str:
    """A config's `created` as podman prints it: RFC3339Nano in UTC (nanoseconds kept)."""
    if raw and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", raw):
        head, _, frac = raw[:-1].partition(".")
        frac = frac.rstrip("0")
        return f"{head}.{frac}Z" if frac else f"{head}Z"
    return rfc3339(parse_time(raw), nano=True)


def repo_digests(img: StoredImage) -> list[str]:
    """`REPO@DIGEST` for each repository the image is named in and each manifest the store
    holds for it (and each pull by digest), as podman's RepoDigests."""
    return list(img.repo_digests)


def container_counts(store: Store) -> dict[str, int]:
    """Working containers per image ID (podman's `Containers`)."""
    from lamina.building.container import Containers  # not ops.containers: light to import

    counts: dict[str, int] = {}
    for c in Containers(store.root).list():
        if c.image_id:
            counts[c.image_id] = counts.get(c.image_id, 0) + 1
    return counts


def image_json(item: Listed, containers: int = 0) -> dict[str, Any]:
    """One entry of `podman images --format json` (podman's ImageSummary). Unlike podman
    4.x, which leaves it null, `RepoTags` lists the names."""
    img = item.image
    out: dict[str, Any] = {
        "Id": img.id,
        "ParentId": item.parent,
        "RepoTags": list(img.names),
        "RepoDigests": repo_digests(img),
        "Size": img.size,
        "SharedSize": 0,
        "VirtualSize": img.size,
        "Labels": dict(item.labels) if item.labels else None,
        "Containers": containers,
        "Names": list(img.names),
        "Digest": str(img.manifest_digest),
        "History": list(img.names),
        "Created": int(img.created.timestamp()) if img.created else 0,
        "CreatedAt": rfc3339(img.created),
    }
    if item.dangling:
        out["Dangling"] = True
    if img.is_index:
        out["IsManifestList"] = True
    return out


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


def history_ids(store: Store, img: StoredImage, entries: list[HistoryEntry]) -> list[str]:
    """The ID column of `podman history` for `entries` (newest first): the top entry shows
    the image's own ID; then, walking down from the top layer (one layer down after each
    entry that made one), an entry shows the ID of the first image (oldest added) whose top
    is the layer reached, as podman does (so a base image's ID, or a build-cache step's,
    shows where it ends), each ID once; every other entry is `<missing>`."""
    diff_ids = store.layer_diff_ids(img)
    depth = len(diff_ids)
    used: set[str] = set()
    ids: list[str] = []
    for i, e in enumerate(entries):
        shown = "<missing>"
        if i == 0:
            shown = img.id
            used.add(img.id)
        elif depth:
            prefix = diff_ids[:depth]
            for other in store.layers_by_diff_id(prefix[-1]):
                if store.layer_diff_ids(other) == prefix:
                    if other.id not in used:
                        shown = other.id
                        used.add(other.id)
                    break  # podman looks at the first image on the layer only
        if not e.empty_layer and depth > 1:
            depth -= 1
        ids.append(shown)
    return ids


def history_json(ids: list[str], entries: list[HistoryEntry]) -> list[dict[str, Any]]:
    """`podman history --format json`: newest first, IDs from `history_ids`."""
    out: list[dict[str, Any]] = []
    for shown, e in zip(ids, entries, strict=True):
        row: dict[str, Any] = {
            "id": shown,
            "created": rfc3339(e.created, nano=True),
            "CreatedBy": e.created_by,
            "size": e.size,
        }
        if e.comment:
            row["comment"] = e.comment
        row["Created"] = rfc3339(e.created)
        out.append(row)
    return out


def inspect(store: Store, name_or_id: str) -> dict[str, Any]:
    """`podman image inspect`'s shape (podman's ImageData). An index is described by its
    summary and its manifest."""
    stored = store.lookup(name_or_id)
    if stored.is_index:
        index = store.index(stored)
        item = Listed(stored, "", False, None)
        return {**image_json(item), "Manifest": json.loads(index.raw_manifest())}
    img = store.image(stored)
    cfg = img.config()
    parent = next((i.parent for i in listed(store, all=True) if i.image.id == stored.id), "")
    out: dict[str, Any] = {
        "Id": stored.id,
        "Digest": str(stored.manifest_digest),
        "RepoTags": list(stored.names),
        "RepoDigests": repo_digests(stored),
        "Parent": parent,
        "Comment": cfg.history[-1].comment or "" if cfg.history else "",
        "Created": _created_text(cfg.created),
        "Config": cfg.config.to_json(),
        "Version": str(cfg.extra.get("docker_version", "")),
        "Author": cfg.author or "",
        "Architecture": cfg.architecture,
        "Os": cfg.os,
    }
    if cfg.variant:
        out["Variant"] = cfg.variant
    out |= {
        "Size": stored.size,
        "VirtualSize": stored.size,
        "GraphDriver": {"Name": "lamina", "Data": None},
        "RootFS": {"Type": cfg.rootfs.type, "Layers": [str(d) for d in cfg.rootfs.diff_ids]},
        "Labels": dict(cfg.config.labels) if cfg.config.labels else None,
        "Annotations": dict(img.manifest().annotations or {}),
        "ManifestType": stored.media_type,
        "User": cfg.config.user,
        "History": [h.to_json() for h in cfg.history],
        "NamesHistory": list(stored.names),
    }
    return out
