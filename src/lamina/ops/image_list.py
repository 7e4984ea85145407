"""What `lamina images` lists, as podman decides it: parents and children by history,
intermediate images (untagged parents, and untagged images the build cache records: the
cache of `--layers` builds), dangling images (the other untagged ones), the `--filter`
keys, `--sort`, and `image prune`."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from lamina.errors import InvalidInput, LaminaError, NotFound
from lamina.store import Store, StoredImage

FILTER_KEYS = ("dangling", "reference", "label", "before", "since", "intermediate")
SORT_KEYS = ("created", "id", "repository", "size", "tag")


@dataclass(frozen=True, slots=True)
class Listed:
    """One stored entry with what podman derives from the others: its closest parent,
    whether it has children, and its config's labels."""

    image: StoredImage
    parent: str
    has_children: bool
    labels: dict[str, str] | None
    cached: bool = False  # a step image the build cache records

    @property
    def intermediate(self) -> bool:
        """Untagged, and another image builds on it or the build cache holds it (the end
        of a non-final stage has no children but is cache all the same)."""
        return not self.image.names and (self.has_children or self.cached)

    @property
    def dangling(self) -> bool:
        """No name at all: no tag, and not pulled as REPO@DIGEST (containers-storage keeps
        that as a name, so podman does not prune such an image)."""
        return not self.image.names and not self.image.repo_digests and not self.intermediate


def _shape(
    store: Store, s: StoredImage
) -> tuple[tuple[str, ...], list[Any], dict[str, str] | None]:
    if s.is_index:
        return (), [], None
    cfg = store.image(s).config()
    history = [h.to_json() for h in cfg.history]
    return tuple(str(d) for d in cfg.rootfs.diff_ids), history, cfg.config.labels


def listed(store: Store, *, all: bool = False) -> list[Listed]:
    """Every entry (index children only with `all`), newest first. B is A's child when B's
    layers start with A's and A's history is a strict prefix of B's (libimage's rule), so
    config-only build steps count too."""
    images = store.list_images(all=True)
    shapes = {s.id: _shape(store, s) for s in images}
    cached = build_cache_images(store)
    out: list[Listed] = []
    shown = {s.id for s in store.list_images(all=all)}
    for s in images:
        if s.id not in shown:
            continue
        layers, history, labels = shapes[s.id]
        parent, parent_len, children = "", -1, False
        for other in images:
            if other.id == s.id or other.is_index or s.is_index:
                continue
            o_layers, o_history, _ = shapes[other.id]
            if _is_parent(layers, history, o_layers, o_history):
                children = True
            if _is_parent(o_layers, o_history, layers, history) and len(o_history) > parent_len:
                parent, parent_len = other.id, len(o_history)
        out.append(Listed(s, parent, children, labels, s.id in cached))
    return out


def build_cache_images(store: Store) -> set[str]:
    """The image IDs lamina build's step records name (`{"image": ID}` per record)."""
    from lamina.building.cache import cache_dir

    found: set[str] = set()
    steps = cache_dir(store) / "steps"
    for path in steps.glob("*.json") if steps.is_dir() else ():
        try:
            found.add(str(json.loads(path.read_text())["image"]))
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return found


def _is_parent(
    p_layers: tuple[str, ...], p_history: list[Any], c_layers: tuple[str, ...], c_history: list[Any]
) -> bool:
    if not p_history or len(p_history) >= len(c_history) or len(p_layers) > len(c_layers):
        return False
    return c_layers[: len(p_layers)] == p_layers and c_history[: len(p_history)] == p_history


# -- filters ------------------------------------------------------------------------------


def _glob(pattern: str) -> re.Pattern[str]:
    """Go's path.Match: `*` and `?` do not cross `/`."""
    out = ""
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "*":
            out += "[^/]*"
        elif c == "?":
            out += "[^/]"
        elif c == "[":
            j = pattern.find("]", i + 1)
            if j < 0:
                raise InvalidInput(f"--filter reference={pattern}: unclosed [ in the pattern")
            body = pattern[i + 1 : j]
            out += "[" + ("^" + body[1:] if body.startswith("^") else body) + "]"
            i = j
        else:
            out += re.escape(c)
        i += 1
    return re.compile(out + r"\Z")


def _candidates(name: str) -> list[str]:
    """`localhost/app:1` is matched as itself, `localhost/app`, `app:1` and `app`."""
    repo, sep, tag = name.rpartition(":") if "@" not in name else name.partition("@")
    if "/" in tag or not sep:
        repo, tag = name, ""
    out = [name, repo]
    parts = repo.split("/")
    for k in range(1, len(parts)):
        tail = "/".join(parts[k:])
        out += [f"{tail}{sep}{tag}" if tag else tail, tail]
    return out


def _matches_reference(store: Store, value: str) -> Callable[[Listed], bool]:
    pattern = _glob(value)
    try:
        looked_up: str | None = store.lookup(value).id
    except (LaminaError, ValueError):
        looked_up = None

    def match(item: Listed) -> bool:
        if item.image.id == looked_up:
            return True
        return any(pattern.match(c) for n in item.image.names for c in _candidates(n))

    return match


def _boolean(key: str, value: str) -> bool:
    if value.lower() not in ("true", "false"):
        raise InvalidInput(f"--filter {key}={value}: want true or false")
    return value.lower() == "true"


def _created(store: Store, key: str, value: str) -> datetime:
    try:
        found = store.lookup(value)
    except NotFound:
        raise NotFound(f"--filter {key}={value}: no such image") from None
    if found.created is None:
        raise InvalidInput(f"--filter {key}={value}: the image has no creation time")
    return found.created


def make_filter(store: Store, spec: str) -> tuple[str, Callable[[Listed], bool]]:
    """One `--filter KEY=VALUE` → (key, predicate)."""
    key, eq, value = spec.partition("=")
    if key not in FILTER_KEYS:
        raise InvalidInput(
            f"--filter {spec}: unsupported image filter {key!r}",
            hint=f"use one of {', '.join(FILTER_KEYS)}",
        )
    if not eq:
        raise InvalidInput(f"--filter {spec}: want {key}=VALUE")
    if key == "dangling":
        want = _boolean(key, value)
        return key, lambda i: i.dangling == want
    if key == "intermediate":
        want = _boolean(key, value)
        return key, lambda i: i.intermediate == want
    if key == "reference":
        return key, _matches_reference(store, value)
    if key == "label":
        name, has_value, label_value = value.partition("=")
        return (
            key,
            lambda i: (
                i.labels is not None
                and name in i.labels
                and (not has_value or i.labels[name] == label_value)
            ),
        )
    when = _created(store, key, value)
    if key == "before":
        return key, lambda i: i.image.created is not None and i.image.created < when
    return key, lambda i: i.image.created is not None and i.image.created > when


def select(
    store: Store,
    *,
    all: bool = False,
    filters: Sequence[str] = (),
    references: Sequence[str] = (),
) -> list[Listed]:
    """`podman images [REFERENCE] [--filter …] [-a]`: filters of one key are ORed, of
    different keys ANDed; intermediate images only with `all` (or an `intermediate`
    filter)."""
    preds: dict[str, list[Callable[[Listed], bool]]] = {}
    for spec in filters:
        key, pred = make_filter(store, spec)
        preds.setdefault(key, []).append(pred)
    for ref in references:
        preds.setdefault("reference", []).append(_matches_reference(store, ref))
    if not all and "intermediate" not in preds:
        preds["intermediate"] = [lambda i: not i.intermediate]
    out = []
    for item in listed(store, all=all):
        if not [ps for ps in preds.values() if not any(p(item) for p in ps)]:
            out.append(item)
    return out


def prune(store: Store, *, all: bool = False, build_cache: bool = False) -> list[str]:
    """`podman image prune`: remove dangling images (untagged, no children, not in the build
    cache) until none is left, keeping intermediate images; with `all` every image nothing
    uses; with `build_cache` also lamina build's step records, mounts and their images.
    Images a working container holds are kept. Returns the removed IDs."""
    removed: list[str] = []
    if build_cache:
        from lamina.building.cache import prune_build_cache

        for line in prune_build_cache(store):  # store.remove's `Deleted: ID` lines
            if line.startswith("Deleted: "):
                removed.append(line.removeprefix("Deleted: "))
    if all:
        return removed + [img.id for img in store.prune(all=True)]
    while True:
        victims = [i.image.id for i in listed(store) if i.dangling]
        gone = []
        for image_id in victims:
            try:
                store.remove(image_id)
            except LaminaError:  # held by a working container
                continue
            gone.append(image_id)
        removed += gone
        if not gone:
            return removed


def sort_rows(rows: list[Any], key: str, field: Callable[[Any, str], Any]) -> list[Any]:
    """podman's `--sort`: created newest first (ties by ID), the others ascending."""
    if key not in SORT_KEYS:
        raise InvalidInput(
            f"--sort {key}: not a valid field for sorting",
            hint=f"choose from {', '.join(SORT_KEYS)}",
        )
    if key == "created":
        rows = sorted(rows, key=lambda r: field(r, "id"))
        return sorted(rows, key=lambda r: field(r, "created"), reverse=True)
    return sorted(rows, key=lambda r: field(r, key))
