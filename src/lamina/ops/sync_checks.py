"""Whether each image of a sync is already at its destination, before anything is copied.

An image is up to date when its destination holds the digest a plain copy would write: the
source manifest's own digest, or for an index without `--all` the host platform's child.
From registries both are asked by HEAD, many at a time: each registry's HEADs are pipelined
on a few kept-alive connections (`RegistryClient.request_all`), both registries at once. An
index, an answer without a digest, and directory or layout references are read one by one.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lamina import media_types as mt
from lamina.digest import Digest
from lamina.errors import InvalidInput, LaminaError, NotFound
from lamina.ops.sync_clients import Shared
from lamina.platform import Platform
from lamina.threads import map_in_threads
from lamina.transports.base import ImageReference
from lamina.transports.registry import RegistryClient, RegistrySource
from lamina.transports.registry.source import MANIFEST_ACCEPT, head_digest

if TYPE_CHECKING:
    from lamina.ops.sync import SyncOptions

CHUNK = 50  # HEADs per pipelined connection
Job = Callable[[], None]
_Items = list[tuple["Check", RegistrySource]]
_Reader = Callable[[RegistryClient, _Items, "SyncOptions"], None]


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
    """Fill in every check's `expected` and `existing`."""
    if options.manifest_format:
        return  # (a converted copy's digest is not known before it is made)
    jobs: list[Job] = []
    sources: dict[int, tuple[RegistryClient, _Items]] = {}
    dests: dict[int, tuple[RegistryClient, _Items]] = {}
    for check in checks:
        for ref, batches, alone in (
            (check.pair.src, sources, check.read_source),
            (check.pair.dst, dests, check.read_destination),
        ):
            if isinstance(ref, Shared):
                source = ref.new_source()
                batches.setdefault(id(source.client), (source.client, []))[1].append(
                    (check, source)
                )
            else:
                jobs.append(alone)
    for batches, read in ((sources, _read_sources), (dests, _read_destinations)):
        for client, items in batches.values():
            for at in range(0, len(items), CHUNK):
                jobs.append(_job(read, client, items[at : at + CHUNK], options))
    map_in_threads(_call, jobs, workers, "lamina-check")


def _call(job: Job) -> None:
    job()


def _job(read: _Reader, client: RegistryClient, items: _Items, options: SyncOptions) -> Job:
    return lambda: read(client, items, options)


def _read_sources(client: RegistryClient, items: _Items, options: SyncOptions) -> None:
    calls = [source.head_call() for _, source in items]
    answers = client.request_all("HEAD", calls, headers={"Accept": MANIFEST_ACCEPT})
    for (check, source), answer in zip(items, answers, strict=True):
        if isinstance(answer, LaminaError):
            check.expected = answer
            continue
        digest = _own_digest(*head_digest(answer), options.all)
        if digest is not None:
            check.expected = (digest, None)
            continue
        try:  # an index, or no digest said: the whole manifest
            check.expected = _from_manifest(check.pair.src, source.get_manifest(), options.all)
        except LaminaError as err:
            check.expected = err


def _read_destinations(client: RegistryClient, items: _Items, options: SyncOptions) -> None:
    calls = [source.head_call() for _, source in items]
    answers = client.request_all("HEAD", calls, headers={"Accept": MANIFEST_ACCEPT}, ok=(200, 404))
    for (check, _), answer in zip(items, answers, strict=True):
        if isinstance(answer, (NotFound, InvalidInput)):
            check.existing = None
        elif isinstance(answer, LaminaError):
            check.existing = answer
        elif answer.status == 404:
            check.existing = None
        else:
            digest, _ = head_digest(answer)
            if digest is None:
                check.read_destination()  # no digest said: the manifest, hashed
            else:
                check.existing = digest
