"""`lamina build`: strings in, a built image out (see `lamina.build.executor`)."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TextIO

from lamina.build.cache import prune_build_cache
from lamina.build.executor import BuildOptions, BuildResult, Puller, build
from lamina.store import Store

__all__ = ["BuildOptions", "BuildResult", "build_image", "prune_build_cache"]


def _puller(store: Store) -> Puller | None:
    """A registry pull for FROM lines, when lamina's pull operation is available."""
    try:
        pulling = importlib.import_module("lamina.ops.pulling")
    except ImportError:
        return None
    pull = getattr(pulling, "pull", None)
    if pull is None:
        return None

    def do(name: str) -> str:
        pulled = pull(store, name)
        return str(pulled[0].image_id)

    return do


def build_image(
    store: Store, context: str | Path, options: BuildOptions, *, stream: TextIO | None = None
) -> BuildResult:
    """Build `context` per `options` into `store`; progress to `stream`."""
    return build(store, context, options, stream=stream, puller=_puller(store))
