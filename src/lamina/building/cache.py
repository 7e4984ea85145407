"""The build cache: step keys → stored intermediate images, surviving between builds.

A step's key is the sha256 of its parent image ID, the instruction after expansion, the
build args and ENV in scope, and for COPY/ADD and RUN mounts the content hashes of their
sources (never a secret's bytes: secret mounts contribute only their ids). A record is a
small JSON file `<store>/build-cache/steps/<key>.json` naming the image; a hit is a record
whose image is still in the store. Records' mtimes are refreshed on use, so `--cache-ttl`
expires entries unused for that long. Cache mounts (`RUN --mount=type=cache`) live beside,
under `mounts/`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from lamina.content.fstree import remove_tree
from lamina.errors import LaminaError, NotFound
from lamina.store import Store, StoredImage


def cache_dir(store: Store) -> Path:
    return store.root / "build-cache"


def step_key(
    parent: str | None,
    instruction: str,
    scope: Mapping[str, str],
    sources: Sequence[str] = (),
    extra: Mapping[str, Any] | None = None,
) -> str:
    """The cache key of one step (hex)."""
    doc = {
        "parent": parent or "scratch",
        "instruction": instruction,
        "scope": sorted(scope.items()),
        "sources": list(sources),
        "extra": dict(sorted((extra or {}).items())),
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


class BuildCache:
    """Step records of one store."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.dir = cache_dir(store) / "steps"
        self.dir.mkdir(parents=True, exist_ok=True)

    def lookup(self, key: str, ttl: float | None = None) -> StoredImage | None:
        path = self.dir / f"{key}.json"
        try:
            st = path.stat()
            if ttl is not None and time.time() - st.st_mtime > ttl:
                return None
            record = json.loads(path.read_text())
            found = self.store.get(str(record["image"]))
        except (OSError, ValueError, KeyError, NotFound):
            return None
        with contextlib.suppress(OSError):
            os.utime(path)
        return found

    def record(self, key: str, image_id: str) -> None:
        path = self.dir / f"{key}.json"
        tmp = self.dir / f".{key}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps({"image": image_id, "recorded": time.time()}))
        os.replace(tmp, path)

    def load_memo(self) -> dict[str, str]:
        """File-hash memo (stat signature → sha256) kept between builds."""
        try:
            data = json.loads((self.dir.parent / "hashes.json").read_text())
            return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def save_memo(self, memo: Mapping[str, str]) -> None:
        path = self.dir.parent / "hashes.json"
        tmp = path.with_name(f".hashes.{os.getpid()}.tmp")
        items = list(memo.items())[-200_000:]
        tmp.write_text(json.dumps(dict(items)))
        os.replace(tmp, path)


def prune_build_cache(store: Store, *, older_than: float | None = None) -> list[str]:
    """Forget step records (all, or those unused for `older_than` seconds), remove their
    images where nothing else names or builds on them, and drop cache mounts when pruning
    all. Returns the removed image IDs."""
    steps = cache_dir(store) / "steps"
    now = time.time()
    images: set[str] = set()
    for path in sorted(steps.glob("*.json")) if steps.is_dir() else []:
        try:
            if older_than is not None and now - path.stat().st_mtime <= older_than:
                continue
            images.add(str(json.loads(path.read_text())["image"]))
        except (OSError, ValueError, KeyError):
            pass
        with contextlib.suppress(OSError):
            path.unlink()
    if older_than is None:
        with contextlib.suppress(OSError):
            remove_tree(cache_dir(store) / "mounts")
        with contextlib.suppress(OSError):
            (cache_dir(store) / "hashes.json").unlink()
    removed: list[str] = []
    for image_id in sorted(images):
        try:
            stored = store.get(image_id)
        except NotFound:
            continue
        if stored.names:
            continue
        try:
            removed += store.remove(image_id)
        except LaminaError:
            continue
    return removed
