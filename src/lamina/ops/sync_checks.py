"""Whether each image of a sync is already at its destination, before anything is copied.

An image is up to date when its destination holds the digest a plain copy would write: the
source manifest's own digest, or for an index without `--all` the host platform's child.
From registries both are asked by HEAD: every check's two requests are jobs on one thread
pool, over each registry's kept-alive connections (a sync shares one client per registry).
An index, or an answer without a digest, is then read whole.
"""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lamina import media_types as mt
from lamina.digest import Digest
from lamina.errors import InvalidInput, LaminaError, NotFound
from lamina.platform import Platform
from lamina.transports.base import ImageReference
from lamina.transports.registry import RegistrySource

if TYPE_CHECKING:
    from lamina.ops.sync import SyncOptions


@dataclass(frozen=True, slots=True)
class Pair:
    src: ImageReference
    dst: ImageReference


Expected = tuple[Digest | None, tuple[bytes, str] | None]


class Check:
    """One pair's two requests (jobs: they run at once); each keeps its answer or its
    LaminaError."""

    def __init__(self, pair: Pair, options: SyncOptions) -> None:
        self.pair, self.options = pair, options
        self.expected: Expected | LaminaError = (None, None)
        self.existing: Digest | LaminaError | None = None

    def read_source(self) -> None:
        if self.options.manifest_format:
            return  # (a converted copy's digest is not known before it is made)
        try:
            self.expected = expected_digest(self.pair.src, self.options.all)
        except LaminaError as err:
            self.expected = err

    def read_destination(self) -> None:
        if self.options.manifest_format:
            return
        try:
            self.existing = existing_digest(self.pair.dst)
        except LaminaError as err:
            self.existing = err


def dir_path(ref: ImageReference) -> str | None:
    """The directory of a `dir:` reference, else None (the `dir:` module, with its writer,
    loads only when such a reference is made)."""
    module = sys.modules.get("lamina.transports.directory")
    if module is not None and isinstance(ref, module.DirReference):
        return str(ref.path)
    return None


def layout_path(ref: ImageReference) -> str | None:
    """The directory of an `oci:` reference, else None (as `dir_path`)."""
    module = sys.modules.get("lamina.transports.layout")
    if module is not None and isinstance(ref, module.LayoutReference):
        return str(ref.path)
    return None


def expected_digest(ref: ImageReference, all_platforms: bool) -> Expected:
    """The digest a plain copy of `ref` writes (its own, or for an index without `all`
    the host platform's child; None when unknown), and the manifest when it was read.

    From a registry, a HEAD tells the digest of an image's own manifest, with no body to
    read and hash; an index, or an answer without a digest, is read whole."""
    source = ref.new_source()
    try:
        if isinstance(source, RegistrySource):
            digest = _own_digest(*source.head_manifest(), all_platforms)
            if digest is not None:
                return digest, None
        return _from_manifest(ref, source.get_manifest(), all_platforms)
    finally:
        source.close()


def _own_digest(digest: Digest | None, media_type: str, all_platforms: bool) -> Digest | None:
    """What a manifest HEAD's answer says a copy writes: the manifest's own digest, unless
    it is an index whose child is wanted, or the answer did not say."""
    if digest is not None and media_type and (all_platforms or media_type not in mt.INDEX_TYPES):
        return digest
    return None


def _from_manifest(
    ref: ImageReference, manifest: tuple[bytes, str], all_platforms: bool
) -> Expected:
    """The digest a copy of `ref` writes, from its manifest (see `expected_digest`)."""
    raw, media_type = manifest
    if media_type in mt.INDEX_TYPES and not all_platforms:
        from lamina.oci import ImageIndex, parse_any

        index = parse_any(raw, media_type, ref.describe())
        assert isinstance(index, ImageIndex)
        desc = index.for_platform(Platform.host())
        return (desc.digest if desc is not None else None), (raw, media_type)
    return Digest.of_bytes(raw), (raw, media_type)


def existing_digest(ref: ImageReference) -> Digest | None:
    """The digest of what the destination holds now, or None (nothing, or unreadable)."""
    try:
        directory = dir_path(ref)
        if directory is not None and not (Path(directory) / "manifest.json").is_file():
            return None
        layout = layout_path(ref)
        if layout is not None and not (Path(layout) / "index.json").is_file():
            return None
        source = ref.new_source()
        try:
            if isinstance(source, RegistrySource):
                return source.manifest_digest()
            raw, _ = source.get_manifest()
            return Digest.of_bytes(raw)
        finally:
            source.close()
    except (NotFound, InvalidInput):
        return None


def run_checks(checks: list[Check], options: SyncOptions, workers: int) -> None:
    """Fill in every check's `expected` and `existing`, `workers` requests at a time."""
    if options.manifest_format:
        return  # (a converted copy's digest is not known before it is made)
    with ThreadPoolExecutor(workers, thread_name_prefix="lamina-check") as pool:
        done = [pool.submit(job) for c in checks for job in (c.read_source, c.read_destination)]
        for future in done:
            future.result()
