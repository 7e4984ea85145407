"""`lamina sync`: copy many images between registries and directories, as skopeo sync does,
but incrementally.

Sources (`--src`): `docker` (a repository, every tag, or one `repo:tag`), `dir` (a tree of
`dir:` images) or `yaml` (see `sync_yaml`). Destinations (`--dest`): `docker` (a registry
and optional namespace), `dir` or `oci` (a directory). Destination names follow skopeo:
the source's `host/repo:tag` (for `dir` sources: the path under the source directory),
reduced to its last path element unless `scoped`.

An image whose destination already holds the digest the copy would write is skipped
without moving a byte (a manifest HEAD at each end, many at a time: `sync_checks`). Images are
copied a few at a time. Which images a source names, and their names under the
destination, is `sync_sources`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from lamina.digest import Digest
from lamina.errors import ErrorCode, InvalidInput, LaminaError
from lamina.ops.sync_checks import (
    Check,
    Expected,
    Pair,
    dir_path,
    layout_path,
    run_checks,
)
from lamina.ops.sync_clients import Clients, Shared
from lamina.ops.sync_sources import destination_for, source_groups
from lamina.ops.trust import TrustOptions
from lamina.transports.base import ImageReference
from lamina.transports.registries_conf import RegistriesConfig
from lamina.transports.registry import (
    RegistryOptions,
    RegistryReference,
)

if TYPE_CHECKING:
    from lamina.copy.progress import ProgressCallback
    from lamina.ops.copying import CopyRequest
    from lamina.ops.trust import PreparedTrust

T = TypeVar("T")
SOURCES = ("docker", "dir", "yaml")
DESTINATIONS = ("docker", "dir", "oci")
IMAGE_WORKERS = 8
CHECK_WORKERS = 8  # tag listings and up-to-date checks at once

COPIED, SKIPPED, FAILED, WOULD_COPY = "copied", "skipped", "failed", "would-copy"


@dataclass(frozen=True, slots=True, kw_only=True)
class SyncOptions:
    src: str
    dest: str
    scoped: bool = False
    all: bool = False
    preserve_digests: bool = False
    keep_going: bool = False
    dry_run: bool = False
    retry_times: int = 0
    manifest_format: str | None = None
    remove_signatures: bool = False
    src_options: RegistryOptions = field(default_factory=RegistryOptions)
    dst_options: RegistryOptions = field(default_factory=RegistryOptions)
    registries: RegistriesConfig | None = None
    image_workers: int = IMAGE_WORKERS
    trust: TrustOptions = field(default_factory=TrustOptions)


@dataclass(frozen=True, slots=True, kw_only=True)
class SyncItem:
    source: str
    destination: str
    status: str
    digest: str | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SyncReport:
    items: tuple[SyncItem, ...]

    def count(self, status: str) -> int:
        return sum(1 for i in self.items if i.status == status)

    @property
    def failed(self) -> list[SyncItem]:
        return [i for i in self.items if i.status == FAILED]

    def summary(self) -> str:
        done = f"{self.count(COPIED)} copied"
        if self.count(WOULD_COPY):
            done = f"{self.count(WOULD_COPY)} would be copied"
        return (
            f"{len(self.items)} images: {done}, {self.count(SKIPPED)} skipped (up to date), "
            f"{self.count(FAILED)} failed"
        )


def _shared(ref: ImageReference, clients: Clients) -> ImageReference:
    return Shared(ref, clients) if isinstance(ref, RegistryReference) else ref


def sync(
    source: str,
    destination: str,
    options: SyncOptions,
    *,
    on_item: Callable[[SyncItem], None] | None = None,
    progress: ProgressCallback | None = None,
) -> SyncReport:
    """Sync every image `source` names to `destination`. Without `keep_going` the first
    failure is raised; with it, failures are reported in the returned SyncReport."""
    if options.src not in SOURCES:
        raise InvalidInput(f"--src {options.src!r}: expected one of {', '.join(SOURCES)}")
    if options.dest not in DESTINATIONS:
        raise InvalidInput(f"--dest {options.dest!r}: expected one of {', '.join(DESTINATIONS)}")
    if options.src == "dir" and options.dest in ("dir", "oci"):
        raise InvalidInput(
            "sync from dir to a directory is not supported", hint="use --dest docker"
        )
    clients = Clients()
    try:
        # Tag lists are one small request per repository: many at a time.
        groups = source_groups(source, options, clients)
        with ThreadPoolExecutor(CHECK_WORKERS, thread_name_prefix="lamina-list") as pool:
            listed = list(pool.map(_call, groups))
        checks = [
            Check(
                Pair(
                    _shared(src, clients),
                    _shared(destination_for(destination, suffix, options), clients),
                ),
                options,
            )
            for group in listed
            for src, suffix in group
        ]
        run_checks(checks, options, CHECK_WORKERS)
        return _run(checks, options, on_item, progress)
    finally:
        clients.close()


def _call(group: Callable[[], T]) -> T:
    return group()


def _run(
    checks: list[Check],
    options: SyncOptions,
    on_item: Callable[[SyncItem], None] | None,
    progress: ProgressCallback | None,
) -> SyncReport:
    lock = threading.Lock()
    items: list[SyncItem] = []
    stop = threading.Event()

    def record(item: SyncItem) -> None:
        with lock:
            items.append(item)
            if on_item is not None:
                on_item(item)
        if item.status == FAILED and not options.keep_going:
            stop.set()

    # Copies move blobs (each copy has its own blob pool): a few at a time.
    todo: list[tuple[Digest | None, Pair]] = []
    for check in checks:
        checked = _checked(check.pair, check.expected, check.existing, options)
        if isinstance(checked, Pair):
            digest = None if isinstance(check.expected, LaminaError) else check.expected[0]
            todo.append((digest, checked))
        else:
            record(checked)
    if todo and not stop.is_set():
        _copy_all(_repeats_last(todo), options, progress, stop, record)
    order = {c.pair.src.describe(): i for i, c in enumerate(checks)}
    report = SyncReport(items=tuple(sorted(items, key=lambda i: order.get(i.source, 0))))
    if report.failed and not options.keep_going:
        first = report.failed[0]
        raise LaminaError(
            f"sync: copying {first.source} to {first.destination} failed: {first.error}",
            code=ErrorCode.TRANSPORT,
            hint="--keep-going copies the other images and reports the failures",
        )
    return report


def _repeats_last(todo: list[tuple[Digest | None, Pair]]) -> list[list[Pair]]:
    """Two batches: the first copy of each source manifest, then the copies that repeat one
    (more tags of one image). The repeats start once the first batch is done, so their blobs
    are in place and no two copies upload one image's blobs to a repository at once
    (needless work, and Distribution can then fail a racing upload's digest check)."""
    seen: set[Digest] = set()
    firsts: list[Pair] = []
    repeats: list[Pair] = []
    for digest, pair in todo:
        if digest is not None and digest in seen:
            repeats.append(pair)
        else:
            if digest is not None:
                seen.add(digest)
            firsts.append(pair)
    return [batch for batch in (firsts, repeats) if batch]


def _copy_all(
    batches: list[list[Pair]],
    options: SyncOptions,
    progress: ProgressCallback | None,
    stop: threading.Event,
    record: Callable[[SyncItem], None],
) -> None:
    # Imported here: a sync with everything up to date never loads the copy machinery.
    from lamina.copy.parallel import CopyOptions
    from lamina.ops.copying import CopyRequest
    from lamina.ops.trust import PreparedTrust

    request = CopyRequest(
        copy=CopyOptions(
            multi_arch="all" if options.all else "system",
            preserve_digests=options.preserve_digests,
            manifest_format=options.manifest_format,
            remove_signatures=options.remove_signatures,
        ),
        retry_times=options.retry_times,
        trust=options.trust,
    )

    trust = PreparedTrust(options.trust)  # the policy and registries.d, read once

    def one(pair: Pair) -> None:
        if not stop.is_set():
            record(_copy_one(pair, request, progress, trust))

    # Images of one OCI layout share its index.json: write them one at a time.
    limit = 1 if options.dest == "oci" else options.image_workers
    with ThreadPoolExecutor(limit, thread_name_prefix="lamina-sync") as pool:
        for batch in batches:
            list(pool.map(one, batch))


def _checked(
    pair: Pair,
    expected: Expected | LaminaError,
    existing: Digest | LaminaError | None,
    options: SyncOptions,
) -> SyncItem | Pair:
    """SKIPPED (up to date), WOULD_COPY (dry run) or FAILED; else the pair to copy (its
    source holding the manifest the check fetched)."""
    src, dst = pair.src.describe(), pair.dst.describe()
    if isinstance(expected, LaminaError):
        return SyncItem(source=src, destination=dst, status=FAILED, error=expected.message)
    digest, manifest = expected
    if digest is not None:  # (else what the destination holds does not matter)
        if isinstance(existing, LaminaError):
            return SyncItem(source=src, destination=dst, status=FAILED, error=existing.message)
        if existing == digest:
            return SyncItem(source=src, destination=dst, status=SKIPPED, digest=str(digest))
    if options.dry_run:
        shown = str(digest) if digest else None
        return SyncItem(source=src, destination=dst, status=WOULD_COPY, digest=shown)
    if manifest is not None and isinstance(pair.src, Shared):
        return Pair(replace(pair.src, manifest=manifest), pair.dst)
    return pair


def _copy_one(
    pair: Pair, request: CopyRequest, progress: ProgressCallback | None, trust: PreparedTrust
) -> SyncItem:
    src, dst = pair.src.describe(), pair.dst.describe()
    try:
        target = dir_path(pair.dst) or layout_path(pair.dst)
        if target is not None:
            Path(target).parent.mkdir(parents=True, exist_ok=True)
        from lamina.ops.copying import copy_refs

        digest = copy_refs(pair.src, pair.dst, request, progress, trust=trust)
        return SyncItem(source=src, destination=dst, status=COPIED, digest=str(digest))
    except LaminaError as err:
        return SyncItem(source=src, destination=dst, status=FAILED, error=err.message)
