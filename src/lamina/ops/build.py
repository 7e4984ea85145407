"""`lamina build`: strings in, a built image out (see `lamina.building.executor`)."""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

from lamina.building.base_image import Puller
from lamina.building.cache import prune_build_cache
from lamina.building.executor import BuildOptions, BuildResult, build
from lamina.ops.build_output import parse_output, write_output
from lamina.store import Store
from lamina.transports.registry.options import RegistryOptions

__all__ = ["BuildOptions", "BuildResult", "build_image", "from_puller", "prune_build_cache"]


def from_puller(store: Store, registry: RegistryOptions | None = None) -> Puller:
    """The pull behind every FROM image (a build's FROM lines, `lamina from`): a registry
    pull into `store` under the default trust policy, with `registry`'s credentials, auth
    file, certificates and TLS choice (None: the defaults). The registry client is imported
    only when an image is actually pulled, so local builds start fast."""

    def do(name: str) -> str:
        from lamina.ops.pulling import pull

        pulled = pull(store, name, options=registry)
        return str(pulled[0].image_id)

    return do


def build_image(
    store: Store,
    context: str | Path,
    options: BuildOptions,
    *,
    stream: TextIO | None = None,
    summary_stream: TextIO | None = None,
    registry: RegistryOptions | None = None,
) -> BuildResult:
    """Build `context` per `options` into `store`; progress to `stream`, the summary to
    `summary_stream` (None: `stream`); FROM images are pulled with `registry`'s options.
    `options.output` (`lamina.ops.build_output`) is checked before the build and written
    after it."""
    output = parse_output(options.output) if options.output else None
    result = build(
        store,
        context,
        options,
        stream=stream,
        puller=from_puller(store, registry),
        summary_stream=summary_stream,
    )
    if output is not None:
        write_output(store, result.image.id, output)
    return result
