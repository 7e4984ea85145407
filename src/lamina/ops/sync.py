"""`lamina sync`: copy many images between registries and directories, as skopeo sync does,
but incrementally.

Sources (`--src`): `docker` (a repository, every tag, or one `repo:tag`), `dir` (a tree of
`dir:` images) or `yaml` (see `sync_yaml`). Destinations (`--dest`): `docker` (a registry
and optional namespace), `dir` or `oci` (a directory). Destination names follow skopeo:
the source's `host/repo:tag` (for `dir` sources: the path under the source directory),
reduced to its last path element unless `scoped`.

An image whose destination already holds the digest the copy would write is skipped
without moving a byte (one HEAD at each end). Images are copied a few at a time.
"""

from __future__ import annotations

import os
import re
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from lamina import media_types as mt
from lamina.digest import Digest
from lamina.errors import ErrorCode, InvalidInput, LaminaError, NotFound
from lamina.oci import ImageIndex, parse_any
from lamina.ops.locations import registry_reference
from lamina.ops.sync_clients import Clients, Shared
from lamina.ops.sync_yaml import RepoSelection, load_yaml, matches, parse_constraint
from lamina.ops.trust import TrustOptions
from lamina.platform import Platform
from lamina.threads import map_in_threads
from lamina.transports.base import ImageReference
from lamina.transports.layout import LayoutReference
from lamina.transports.registries_conf import RegistriesConfig
from lamina.transports.registry import (
    RegistryOptions,
    RegistryReference,
    RegistrySource,
)

if TYPE_CHECKING:
    from lamina.copy.progress import ProgressCallback
    from lamina.ops.copying import CopyRequest
    from lamina.ops.trust import PreparedTrust

SOURCES = ("docker", "dir", "yaml")
DESTINATIONS = ("docker", "dir", "oci")
IMAGE_WORKERS = 8
CHECK_WORKERS = 8
TAG_WORKERS = 8

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


@dataclass(frozen=True, slots=True)
class _Pair:
    src: ImageReference
    dst: ImageReference


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
        pairs = [
            _Pair(
                _shared(src, clients), _shared(_destination(destination, suffix, options), clients)
            )
            for src, suffix in _sources(source, options, clients)
        ]
        return _run(pairs, options, on_item, progress)
    finally:
        clients.close()


def _run(
    pairs: list[_Pair],
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

    # Up-to-date checks are two small requests each (the source's manifest, the
    # destination's digest), independent of each other: all of them go out many at a time,
    # both registries' at once, on kept-alive connections. Copies move blobs (each copy has
    # its own blob pool): a few at a time.
    todo: list[_Pair] = []
    for checked in _check_all(pairs, options):
        if isinstance(checked, _Pair):
            todo.append(checked)
        else:
            record(checked)
    if todo and not stop.is_set():
        _copy_all(todo, options, progress, stop, record)
    order = {p.src.describe(): i for i, p in enumerate(pairs)}
    report = SyncReport(items=tuple(sorted(items, key=lambda i: order.get(i.source, 0))))
    if report.failed and not options.keep_going:
        first = report.failed[0]
        raise LaminaError(
            f"sync: copying {first.source} to {first.destination} failed: {first.error}",
            code=ErrorCode.TRANSPORT,
            hint="--keep-going copies the other images and reports the failures",
        )
    return report


def _copy_all(
    todo: list[_Pair],
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

    def one(pair: _Pair) -> None:
        if not stop.is_set():
            record(_copy_one(pair, request, progress, trust))

    # Images of one OCI layout share its index.json: write them one at a time.
    limit = 1 if options.dest == "oci" else options.image_workers
    map_in_threads(one, todo, limit, "lamina-sync")


_Expected = tuple[Digest | None, tuple[bytes, str] | None]


def _check_all(pairs: list[_Pair], options: SyncOptions) -> list[SyncItem | _Pair]:
    """Each pair's check, in order (see `_checked`)."""
    checks = [_Check(pair, options) for pair in pairs]
    # The source's and the destination's request of each pair, one after the other, so
    # that both registries are busy from the start.
    jobs = [job for check in checks for job in (check.read_source, check.read_destination)]
    map_in_threads(_call, jobs, CHECK_WORKERS, "lamina-check")
    return [_checked(c.pair, c.expected, c.existing, options) for c in checks]


def _call(job: Callable[[], None]) -> None:
    job()


class _Check:
    """One pair's two requests; each keeps its answer or its LaminaError."""

    def __init__(self, pair: _Pair, options: SyncOptions) -> None:
        self.pair, self.options = pair, options
        self.expected: _Expected | LaminaError = (None, None)
        self.existing: Digest | LaminaError | None = None

    def read_source(self) -> None:
        if self.options.manifest_format:
            return  # (a converted copy's digest is not known before it is made)
        try:
            self.expected = _expected_digest(self.pair.src, self.options.all)
        except LaminaError as err:
            self.expected = err

    def read_destination(self) -> None:
        if self.options.manifest_format:
            return
        try:
            self.existing = _existing_digest(self.pair.dst)
        except LaminaError as err:
            self.existing = err


def _checked(
    pair: _Pair,
    expected: _Expected | LaminaError,
    existing: Digest | LaminaError | None,
    options: SyncOptions,
) -> SyncItem | _Pair:
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
        return _Pair(replace(pair.src, manifest=manifest), pair.dst)
    return pair


def _copy_one(
    pair: _Pair, request: CopyRequest, progress: ProgressCallback | None, trust: PreparedTrust
) -> SyncItem:
    src, dst = pair.src.describe(), pair.dst.describe()
    try:
        target = _dir_path(pair.dst)
        if target is None and isinstance(pair.dst, LayoutReference):
            target = pair.dst.path
        if target is not None:
            Path(target).parent.mkdir(parents=True, exist_ok=True)
        from lamina.ops.copying import copy_refs

        digest = copy_refs(pair.src, pair.dst, request, progress, trust=trust)
        return SyncItem(source=src, destination=dst, status=COPIED, digest=str(digest))
    except LaminaError as err:
        return SyncItem(source=src, destination=dst, status=FAILED, error=err.message)


def _dir_path(ref: ImageReference) -> str | None:
    """The directory of a `dir:` reference, else None (the `dir:` module, with its writer,
    loads only when such a reference is made)."""
    module = sys.modules.get("lamina.transports.directory")
    if module is not None and isinstance(ref, module.DirReference):
        return str(ref.path)
    return None


def _expected_digest(
    ref: ImageReference, all_platforms: bool
) -> tuple[Digest | None, tuple[bytes, str]]:
    """The digest a plain copy of `ref` writes (its own, or for an index without `all`
    the host platform's child; None when unknown), and the manifest it was read from."""
    source = ref.new_source()
    try:
        raw, media_type = source.get_manifest()
    finally:
        source.close()
    if media_type in mt.INDEX_TYPES and not all_platforms:
        index = parse_any(raw, media_type, ref.describe())
        assert isinstance(index, ImageIndex)
        desc = index.for_platform(Platform.host())
        return (desc.digest if desc is not None else None), (raw, media_type)
    return Digest.of_bytes(raw), (raw, media_type)


def _existing_digest(ref: ImageReference) -> Digest | None:
    """The digest of what the destination holds now, or None (nothing, or unreadable)."""
    try:
        dir_path = _dir_path(ref)
        if dir_path is not None and not (Path(dir_path) / "manifest.json").is_file():
            return None
        if isinstance(ref, LayoutReference) and not (Path(ref.path) / "index.json").is_file():
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


# -- naming sources and destinations -------------------------------------------------------


def _sources(
    source: str, options: SyncOptions, clients: Clients
) -> list[tuple[ImageReference, str]]:
    if options.src == "yaml":
        return _yaml_sources(source, options, clients)
    if options.src == "dir":
        return _dir_sources(source)
    text = source.removeprefix("docker://")
    ref = registry_reference(f"//{text}", options.src_options, options.registries)
    if _names_tag(text):
        return [(ref, str(ref.ref))]
    return [(r, str(r.ref)) for r in _all_tags(ref, options.src_options, clients)]


def _names_tag(text: str) -> bool:
    slash, colon = text.rfind("/"), text.rfind(":")
    return "@" in text or colon > slash


def _all_tags(
    ref: RegistryReference, opts: RegistryOptions, clients: Clients
) -> list[RegistryReference]:
    src = RegistrySource(ref, clients.for_ref(ref))
    try:
        tags = src.list_tags()
    finally:
        src.close()
    return [RegistryReference(ref.ref.with_tag(t), opts) for t in sorted(tags)]


def _dir_sources(source: str) -> list[tuple[ImageReference, str]]:
    base = Path(source)
    if not base.is_dir():
        raise NotFound(f"sync source directory {base} does not exist")
    found: list[tuple[ImageReference, str]] = []
    for root, dirs, files in os.walk(base):
        dirs.sort()
        if "manifest.json" in files:
            rel = os.path.relpath(root, base)
            suffix = base.name if rel == "." else rel
            from lamina.transports.directory import DirReference

            found.append((DirReference(root), suffix))
            dirs[:] = []
    if not found:
        raise NotFound(f"sync source directory {base} holds no dir: images (no manifest.json)")
    return found


def _yaml_sources(
    path: str, options: SyncOptions, clients: Clients
) -> list[tuple[ImageReference, str]]:
    wanted: list[tuple[RegistryReference, RegistryOptions, RepoSelection]] = []
    for section in load_yaml(path):
        opts = options.src_options
        if section.username is not None:
            opts = replace(opts, creds=f"{section.username}:{section.password or ''}")
        if section.tls_verify is not None:
            opts = replace(opts, tls_verify=section.tls_verify)
        if section.cert_dir is not None:
            opts = replace(opts, cert_dir=section.cert_dir)
        for repo in section.repos:
            base = registry_reference(
                f"//{section.registry}/{repo.repository}", opts, options.registries
            )
            wanted.append((base, opts, repo))

    def refs_of(
        entry: tuple[RegistryReference, RegistryOptions, RepoSelection],
    ) -> list[RegistryReference]:
        base, opts, repo = entry
        if repo.tags:
            return [_tagged(base, t, opts) for t in repo.tags]
        refs = _all_tags(base, opts, clients)
        if repo.regex is not None:
            pattern = re.compile(repo.regex)
            return [r for r in refs if r.ref.tag and pattern.search(r.ref.tag)]
        if repo.semver is not None:
            constraint = parse_constraint(repo.semver, f"{path}: {repo.repository}")
            return [r for r in refs if r.ref.tag and matches(r.ref.tag, constraint)]
        return refs

    # Tag lists are one small request per repository: fetch them concurrently.
    listed = map_in_threads(refs_of, wanted, TAG_WORKERS, "lamina-tags")
    return [(r, str(r.ref)) for refs in listed for r in refs]


def _tagged(base: RegistryReference, tag: str, opts: RegistryOptions) -> RegistryReference:
    if tag.startswith("sha256:"):
        return RegistryReference(base.ref.with_digest(Digest.parse(tag)), opts)
    return RegistryReference(base.ref.with_tag(tag), opts)


def _destination(destination: str, suffix: str, options: SyncOptions) -> ImageReference:
    if not options.scoped:
        suffix = _base(suffix)
    if options.dest == "docker":
        target = f"{destination.removeprefix('docker://').rstrip('/')}/{suffix}"
        return registry_reference(f"//{target}", options.dst_options, options.registries)
    path = os.path.join(destination, suffix)
    if options.dest == "dir":
        from lamina.transports.directory import DirReference

        return DirReference(path)
    # oci: DEST/NAME:TAG is the layout DEST/NAME holding the image under TAG
    name, tag = _split_suffix(path)
    return LayoutReference(name, tag)


def _base(suffix: str) -> str:
    at = suffix.find("@")
    head = suffix if at < 0 else suffix[:at]
    return head.rsplit("/", 1)[-1] + ("" if at < 0 else suffix[at:])


def _split_suffix(path: str) -> tuple[str, str]:
    if "@" in path:
        name, _, digest = path.partition("@")
        return name, digest.replace(":", "-")
    slash, colon = path.rfind("/"), path.rfind(":")
    if colon > slash:
        return path[:colon], path[colon + 1 :]
    return path, "latest"
