"""`build`: a Containerfile and a context in, a stored (and tagged) image out.

Call order: parse → plan (stages the target needs) → run stages (dependencies first; with
`jobs` > 1 independent stages run in threads) → final labels/annotations → tags. Names are
checked before anything runs and applied only after every stage succeeded, so a failed
build tags nothing; working containers of a failed stage are removed; nothing stays
mounted.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator, Mapping
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from lamina.building.base_image import Puller, base_image, check_policy
from lamina.building.cache import BuildCache, cache_dir
from lamina.building.containerfile import parse
from lamina.building.context import SourceTree, find_containerfile
from lamina.building.executor_stage import StageRunner, opened_image
from lamina.building.isolation.network import check_all
from lamina.building.plan import Plan, make_plan, parse_build_args
from lamina.building.progress import Progress
from lamina.building.secrets import Secret, parse_secrets, sweep_stale
from lamina.errors import InvalidInput, SourceSpan
from lamina.image.mutate import with_annotations, with_config
from lamina.platform import Platform
from lamina.store import Store, StoredImage
from lamina.store.names import normalize_new_name


@dataclass(kw_only=True)
class BuildOptions:
    file: str | None = None  # None: Containerfile/Dockerfile in the context; "-": stdin
    tags: list[str] = field(default_factory=list)
    build_args: list[str] = field(default_factory=list)
    build_arg_files: list[str] = field(default_factory=list)
    target: str | None = None
    no_cache: bool = False
    layers: bool = True
    squash: bool = False
    squash_all: bool = False
    format: str = "oci"
    secrets: list[str] = field(default_factory=list)
    iidfile: str | None = None
    timestamp: int | None = None
    labels: list[str] = field(default_factory=list)
    annotations: list[str] = field(default_factory=list)
    env: list[str] = field(
        default_factory=list
    )  # KEY=VALUE (or KEY: from `environ`) set in the image
    unsetenv: list[str] = field(default_factory=list)  # names removed from the image's Env
    ignorefile: str | None = None  # replaces .containerignore/.dockerignore
    output: str | None = None  # -o: written by lamina.ops.build.build_image after the build
    omit_history: bool = False  # the image config carries no history entries
    pull: str = "missing"  # never | missing | always
    isolation: str | None = None  # oci | chroot (None: the builder's choice)
    network: str = "private"  # RUN's unless --network=: private | host | none | slirp4netns[:OPTS]
    dns: list[str] = field(default_factory=list)  # nameservers in RUN's /etc/resolv.conf
    add_hosts: list[str] = field(default_factory=list)  # NAME:IP lines for RUN's /etc/hosts
    platform: str | None = None
    jobs: int = 1
    cache_ttl: float | None = None
    environ: Mapping[str, str] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class BuildResult:
    image: StoredImage
    names: tuple[str, ...]
    steps: int
    cached: int
    unused_args: tuple[str, ...]


class BuildRun:
    """The shared state of one build, handed to each StageRunner."""

    def __init__(
        self,
        store: Store,
        plan: Plan,
        context: SourceTree,
        options: BuildOptions,
        progress: Progress,
        puller: Puller | None,
        secrets: Mapping[str, Secret],
    ) -> None:
        self.store = store
        self.plan = plan
        self.context = context
        self.options = options
        self.progress = progress
        self.puller = puller
        self.secrets = secrets
        self.cache = BuildCache(store)
        self.cache_mounts = cache_dir(store) / "mounts"
        self.stage_count = len(plan.order)
        self.results: dict[int, tuple[str, dict[str, str | None]]] = {}
        self._lock = threading.Lock()
        env = os.environ if options.environ is None else options.environ
        ts = options.timestamp
        if ts is None and env.get("SOURCE_DATE_EPOCH", "").isdigit():
            ts = int(env["SOURCE_DATE_EPOCH"])
        self.timestamp = ts

    def stage_result(self, index: int) -> tuple[str, dict[str, str | None]]:
        with self._lock:
            return self.results[index]

    def stage_ids(self) -> dict[str, str]:
        """Stage references (name and index) → built image IDs, for cache keys."""
        out: dict[str, str] = {}
        with self._lock:
            for i, (image_id, _) in self.results.items():
                out[str(i)] = image_id
                name = self.plan.stages[i].name
                if name:
                    out[name] = image_id
        return out

    def base_image(self, name: str, span: SourceSpan) -> str:
        """The store ID of image `name`, pulled per the pull policy
        (`lamina.building.base_image`: a failing pull is raised, never hidden)."""
        where = f"{span}: FROM {name}"
        return base_image(self.store, name, self.options.pull, self.puller, where=where)

    @contextlib.contextmanager
    def open_tree(self, ref: str) -> Iterator[tuple[Path, str]]:
        """The root of a stage (by name or index) or image, mounted for reading."""
        ids = self.stage_ids()
        image = ids.get(ref.lower()) or ids.get(ref)
        if image is None:
            image = self.base_image(ref, SourceSpan(self.plan.file.file, 1))
        with opened_image(self.store, image) as opened:
            yield opened


def build(
    store: Store,
    context_dir: str | Path,
    options: BuildOptions,
    *,
    stream: TextIO | None = None,
    puller: Puller | None = None,
    summary_stream: TextIO | None = None,
) -> BuildResult:
    """Build per `options`; progress lines go to `stream` (None: silent), the closing
    summary to `summary_stream` (None: `stream`)."""
    sweep_stale()  # secret files a killed build left behind
    if options.format not in ("oci", "docker"):
        raise InvalidInput(f"--format {options.format!r}: use oci or docker")
    check_policy(options.pull)
    check_all(options.network, options.dns, options.add_hosts)
    final_env([], options)  # a bad --env fails before any step runs
    names = [normalize_new_name(t) for t in options.tags]
    platform = _platform(options.platform)
    context_path = Path(context_dir)
    text, file_path, display = find_containerfile(context_path, options.file)
    file = parse(text, display)
    args = parse_build_args(options.build_args, options.build_arg_files, options.environ)
    plan = make_plan(file, build_args=args, target=options.target, platform=platform)
    context = SourceTree.context(
        context_path, file_path, Path(options.ignorefile) if options.ignorefile else None
    )
    cache = BuildCache(store)
    context.memo = cache.load_memo()
    progress = Progress(stream, summary_stream)
    run = BuildRun(store, plan, context, options, progress, puller, parse_secrets(options.secrets))
    if plan.unused_args:
        progress.note(
            "[Warning] one or more build args were not consumed: " + ", ".join(plan.unused_args)
        )
    _run_stages(run, options)
    cache.save_memo(context.memo)
    final_id, _ = run.results[plan.target]
    stored = store.get(final_id)
    img = store.image(stored)
    if options.squash_all:
        stored = _squash_all(run, final_id)
        img = store.image(stored)
    if options.labels or options.annotations or options.env or options.unsetenv:
        labels = dict(kv.partition("=")[::2] for kv in options.labels)
        cfg = img.config()
        cc = cfg.config
        from dataclasses import replace

        env = tuple(final_env(list(cc.env), options))
        cfg = cfg.evolve(config=replace(cc, labels={**(cc.labels or {}), **labels}, env=env))
        img = with_config(img, cfg)
    if options.omit_history:
        img = with_config(img, img.config().evolve(history=()))
    if options.annotations and options.format == "oci":
        ann = dict(kv.partition("=")[::2] for kv in options.annotations)
        img = with_annotations(img, {**(img.manifest().annotations or {}), **ann})
    stored = store.put_image(img, names)
    if options.iidfile:
        Path(options.iidfile).write_text(f"sha256:{stored.id}")
    progress.summary(stored.id, stored.size, names)
    return BuildResult(
        image=stored,
        names=tuple(names),
        steps=progress.steps,
        cached=progress.cached,
        unused_args=tuple(plan.unused_args),
    )


def final_env(env: list[str], options: BuildOptions) -> list[str]:
    """The image's Env after --env (KEY=VALUE; a bare KEY takes the caller's environment
    value, InvalidInput when unset there) and --unsetenv (names dropped), order kept."""
    environ = options.environ if options.environ is not None else os.environ
    values = dict(kv.partition("=")[::2] for kv in env)
    for item in options.env:
        key, eq, value = item.partition("=")
        if not key:
            raise InvalidInput(f"--env {item!r}: expected KEY=VALUE", hint="e.g. --env PATH=/bin")
        if not eq:
            if key not in environ:
                raise InvalidInput(
                    f"--env {key}: {key} is not set in the environment",
                    hint=f"give a value: --env {key}=VALUE",
                )
            value = environ[key]
        values.pop(key, None)
        values[key] = value
    for key in options.unsetenv:
        values.pop(key, None)
    return [f"{k}={v}" for k, v in values.items()]


def _platform(text: str | None) -> Platform | None:
    if text is None:
        return None
    wanted = Platform.parse(text)
    host = Platform.host()
    if not wanted.matches(host):
        raise InvalidInput(
            f"--platform {text}: this host ({host}) cannot run {wanted} steps",
            hint="build on a matching host, or drop --platform",
        )
    return wanted


def _run_stages(run: BuildRun, options: BuildOptions) -> None:
    plan = run.plan
    positions = {idx: n for n, idx in enumerate(plan.order, start=1)}

    def one(idx: int) -> None:
        layers = options.layers and not (options.squash and idx == plan.target)
        runner = StageRunner(run, plan.stages[idx], positions[idx], layers)
        result = runner.execute()
        with run._lock:
            run.results[idx] = result

    if options.jobs <= 1:
        for idx in plan.order:
            one(idx)
        return
    pending = list(plan.order)
    running: dict[Future[None], int] = {}
    with ThreadPoolExecutor(max_workers=options.jobs) as pool:
        while pending or running:
            for idx in list(pending):
                if len(running) >= options.jobs:
                    break
                if all(d in run.results for d in plan.stages[idx].deps):
                    pending.remove(idx)
                    running[pool.submit(one, idx)] = idx
            done, _ = wait(list(running), return_when=FIRST_EXCEPTION)
            for fut in done:
                running.pop(fut)
                fut.result()


def _squash_all(run: BuildRun, image_id: str) -> StoredImage:
    from lamina.building.builder import Builder

    b = Builder.from_image(run.store, image_id)
    try:
        b.set_config(created_by="/bin/sh -c #(nop) squashed")
        return b.commit(None, format=run.options.format, squash=True, timestamp=run.timestamp)
    finally:
        b.remove()
