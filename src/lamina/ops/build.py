"""`lamina build`: strings in, a built image out (see `lamina.build.executor`)."""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

from lamina.build.cache import prune_build_cache
from lamina.build.executor import BuildOptions, BuildResult, Puller, build
from lamina.store import Store

__all__ = ["BuildOptions", "BuildResult", "build_image", "prune_build_cache"]


def _puller(store: Store) -> Puller:
    """A registry pull for FROM lines (under the default trust policy). The registry client
    is imported only when a FROM actually needs a pull, so local builds start fast."""

    def do(name: str) -> str:
        from lamina.ops.pulling import pull

        pulled = pull(store, name)
        return str(pulled[0].image_id)

    return do


def build_image(
    store: Store, context: str | Path, options: BuildOptions, *, stream: TextIO | None = None
) -> BuildResult:
    """Build `context` per `options` into `store`; progress to `stream`."""
    return build(store, context, options, stream=stream, puller=_puller(store))
