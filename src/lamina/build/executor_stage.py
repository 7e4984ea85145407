"""One stage of a build: its instructions turned into Builder calls and stored images.

With layers (the default) every instruction ends in a stored, unnamed image whose cache
record is keyed by `lamina.build.cache.step_key`; a hit reuses the image and runs nothing.
Config-only instructions make images without a working container. Without layers (or for
a squashed target stage) one working container takes every change and is committed once.
A failure removes the stage's working containers; the error names file:line.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import posixpath
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from lamina.build.builder import Builder
from lamina.build.cache import step_key
from lamina.build.containerfile import Add, Arg, Copy, Instruction, Run, expand, parse
from lamina.build.context import SourceTree
from lamina.build.executor_config import CONFIG_INSTRUCTIONS, DEFAULT_SHELL, apply_instruction
from lamina.build.executor_copy import (
    CopyOptions,
    chown_owner,
    container_dest,
    copy_sources,
    fetch_url,
    heredoc_name,
    kept_path,
    split_pivot,
    temp_download_dir,
    write_heredocs,
)
from lamina.build.ignore import IgnoreMatcher
from lamina.build.isolation.spec import Network
from lamina.build.mounts import key_parts, prepare
from lamina.build.plan import PROXY_ARGS, Stage
from lamina.build.rootfs.fresh import direct_upper, scratch_size
from lamina.errors import BuildError, ContainerfileError, LaminaError, NotFound
from lamina.image import Image
from lamina.image.mutate import empty_image, format_time, with_config, with_media_type
from lamina.media_types import DOCKER_MANIFEST, OCI_MANIFEST
from lamina.oci import History, ImageConfig

if TYPE_CHECKING:
    from lamina.build.executor import BuildRun


class StageRunner:
    def __init__(self, run: BuildRun, stage: Stage, position: int, layers: bool) -> None:
        self.run = run
        self.stage = stage
        self.position = position
        self.layers = layers
        self.escape = run.plan.file.escape
        self.image_id: str | None = None
        self.cfg: ImageConfig = empty_image(run.plan.platform).config()
        self.args: dict[str, str | None] = {}
        self.cmd_set = False
        self.builder: Builder | None = None
        self.pending: list[History] = []
        self.changed = False
        self.steps: list[Instruction] = []

    # -- driving ------------------------------------------------------------------------------
    def execute(self) -> tuple[str, dict[str, str | None]]:
        """Run the stage; (image ID, its args in scope at the end)."""
        try:
            steps = self._start()
            self.steps = steps
            total = len(steps) + 1
            for k, ins in enumerate(steps, start=2):
                self._step(ins, k, total)
            self._finish()
        except BaseException:
            if self.builder is not None:
                self.builder.remove()
                self.builder = None
            raise
        assert self.image_id is not None
        return self.image_id, self.args

    def _start(self) -> list[Instruction]:
        st, r = self.stage, self.run
        prefix = r.progress.step(
            self.position, r.stage_count, 1, len(st.instructions) + 1, st.from_.original
        )
        t0 = time.monotonic()
        if st.base_stage is not None:
            base_id, args = r.stage_result(st.base_stage)
            self.args = dict(args)
            self.image_id = base_id
        elif st.base.lower() == "scratch":
            self.image_id = None
        else:
            self.image_id = r.base_image(st.base, st.from_.span)
        if self.image_id is not None:
            self.cfg = r.store.image(r.store.get(self.image_id)).config()
        r.progress.done(prefix, cached=False, elapsed=time.monotonic() - t0)
        triggers = list(self.cfg.config.on_build)
        if not triggers:
            return list(st.instructions)
        self.cfg = self.cfg.evolve(config=replace(self.cfg.config, on_build=()))
        self.changed = True
        parsed = parse("\n".join(triggers) + "\n", f"{st.base} (ONBUILD)")
        return [*parsed.instructions, *st.instructions]

    def _step(self, ins: Instruction, k: int, total: int) -> None:
        r = self.run
        prefix = r.progress.step(self.position, r.stage_count, k, total, ins.original)
        t0 = time.monotonic()
        try:
            cached = self._dispatch(ins)
        except ContainerfileError:
            raise
        except LaminaError as err:
            if str(ins.span) in str(err):
                raise
            raise type(err)(f"{ins.span}: {ins.keyword}: {err}", hint=err.hint) from None
        r.progress.done(prefix, cached=cached, elapsed=time.monotonic() - t0)

    def _env(self) -> dict[str, str]:
        """What `$VAR` expands to: the args in scope, then ENV over them."""
        out = {k: v for k, v in self.args.items() if v is not None}
        out.update(e.partition("=")[::2] for e in self.cfg.config.env)
        return out

    def _dispatch(self, ins: Instruction) -> bool:
        if isinstance(ins, Arg):
            return self._arg(ins)
        if isinstance(ins, CONFIG_INSTRUCTIONS):
            edit = apply_instruction(
                ins, self.cfg.config, self._env(), escape=self.escape, cmd_set=self.cmd_set
            )
            self.cmd_set = edit.cmd_set
            cfg = self.cfg.evolve(config=edit.config)
            if edit.author is not None:
                cfg = cfg.evolve(author=edit.author)
            return self._config_step(cfg, edit.created_by, ins)
        if isinstance(ins, Run):
            return self._run(ins)
        if isinstance(ins, Copy | Add):
            return self._copy(ins)
        raise ContainerfileError(f"{ins.keyword} cannot be used here", ins.span)

    # -- ARG ----------------------------------------------------------------------------------
    def _arg(self, ins: Arg) -> bool:
        plan = self.run.plan
        for d in ins.decls:
            if d.name in plan.build_args:
                value: str | None = plan.build_args[d.name]
            elif d.default is not None:
                value = expand(d.default, self._env(), escape=self.escape, span=ins.span)
            elif d.name in plan.global_args:
                value = plan.global_args[d.name]
            else:
                value = self.args.get(d.name)
            self.args.pop(d.name, None)
            self.args[d.name] = value
        names = " ".join(sorted(self.args))
        return self._config_step(self.cfg, f"/bin/sh -c #(nop) ARG {names}", ins)

    def _scope(self) -> dict[str, str]:
        return {k: v for k, v in sorted(self.args.items()) if v is not None}

    # -- storing steps ------------------------------------------------------------------------
    def _stamp(self) -> str:
        ts = self.run.timestamp
        when = datetime.fromtimestamp(ts, UTC) if ts is not None else datetime.now(UTC)
        return format_time(when)

    def _key(self, text: str, sources: list[str], ins: Instruction) -> str:
        extra = {
            "format": self.run.options.format,
            "timestamp": self.run.timestamp,
            "config": self.cfg.config.to_json() if self.changed else None,
            "original": ins.original,
        }
        return step_key(self.image_id, text, self._scope(), sources, extra)

    def _lookup(self, key: str) -> bool:
        r = self.run
        if not self.layers or r.options.no_cache:
            return False
        hit = r.cache.lookup(key, r.options.cache_ttl)
        if hit is None:
            return False
        self.image_id = hit.id
        self.cfg = r.store.image(hit).config()
        self.changed = False
        return True

    def _config_step(self, cfg: ImageConfig, created_by: str, ins: Instruction) -> bool:
        if not self.layers:
            self.cfg = cfg
            self.pending.append(
                History(created=self._stamp(), created_by=created_by, empty_layer=True)
            )
            return False
        key = self._key(created_by, [], ins)
        if self._lookup(key):
            return True
        r = self.run
        base: Image
        if self.image_id is None:
            base = empty_image(r.plan.platform, docker=r.options.format == "docker")
        else:
            base = r.store.image(r.store.get(self.image_id))
        stamp = self._stamp()
        entry = History(created=stamp, created_by=created_by, empty_layer=True)
        new_cfg = cfg.evolve(
            created=stamp, history=(*base.config().history, entry), rootfs=base.config().rootfs
        )
        img = with_media_type(with_config(base, new_cfg), self._media_type())
        stored = r.store.put_image(img)
        self.image_id, self.cfg, self.changed = stored.id, new_cfg, False
        r.cache.record(key, stored.id)
        return False

    def _media_type(self) -> str:
        return DOCKER_MANIFEST if self.run.options.format == "docker" else OCI_MANIFEST

    def _fs_step(
        self,
        created_by: str,
        sources: list[str],
        ins: Instruction,
        action: Callable[[Builder, Path], None],
    ) -> bool:
        r = self.run
        key = self._key(created_by, sources, ins)
        if self._lookup(key):
            return True
        if self.builder is None:
            self.builder = Builder.from_image(r.store, self.image_id or "scratch")
            self.builder.record.set_image_config(self.cfg)
        b = self.builder
        b.record.set_image_config(self.cfg)
        root = b.mount()
        try:
            action(b, root)
        finally:
            b.umount()
        self.last_created_by = created_by
        if not self.layers:
            self.pending.append(History(created=self._stamp(), created_by=created_by))
            return False
        b.set_config(created_by=created_by)
        # rm: its upper dir may become the new layer's snapshot (no extraction next step)
        stored = b.commit(None, format=r.options.format, timestamp=r.timestamp, rm=True)
        self.builder = None
        self.image_id, self.changed = stored.id, False
        self.cfg = r.store.image(stored).config()
        r.cache.record(key, stored.id)
        return False

    def _finish(self) -> None:
        r = self.run
        if self.layers:
            if self.image_id is None or self.changed:
                self._config_step(self.cfg, "/bin/sh -c #(nop) FROM scratch", self.stage.from_)
            return
        if self.builder is None:
            base: Image
            if self.image_id is None:
                base = empty_image(r.plan.platform, docker=r.options.format == "docker")
            else:
                base = r.store.image(r.store.get(self.image_id))
            history = (*base.config().history, *self.pending)
            rootfs = base.config().rootfs
        else:
            b = self.builder
            b.record.set_image_config(self.cfg)
            b.set_config(created_by=self.last_created_by)
            stored = b.commit(None, format=r.options.format, timestamp=r.timestamp, rm=True)
            self.builder = None
            base = r.store.image(stored)
            made = base.config().history[-1]
            kept = [h for h in self.pending if h.empty_layer]
            start = len(base.config().history) - 1
            history = (*base.config().history[:start], *kept, made)
            rootfs = base.config().rootfs
        stamp = self._stamp()
        cfg = self.cfg.evolve(created=stamp, history=history, rootfs=rootfs)
        img = with_media_type(with_config(base, cfg), self._media_type())
        self.image_id = r.store.put_image(img).id

    # -- RUN ----------------------------------------------------------------------------------
    def _run(self, ins: Run) -> bool:
        r = self.run
        env = self._env()
        cc = self.cfg.config
        if ins.json:
            argv = tuple(ins.args)
        else:
            script = ins.args[0] if ins.args else ""
            if ins.heredocs and script.strip().startswith("<<"):
                script = ins.heredocs[0].content
            argv = (*(cc.shell or DEFAULT_SHELL), script)
        envnames = {e.partition("=")[0] for e in cc.env}
        run_args = {
            k: v for k, v in self._scope().items() if k not in envnames and k not in PROXY_ARGS
        }
        text = ins.original.split(None, 1)[1] if len(ins.original.split(None, 1)) > 1 else ""
        created_by = f"/bin/sh -c {text}"
        if run_args:
            pairs = " ".join(f"{k}={v}" for k, v in run_args.items())
            created_by = f"|{len(run_args)} {pairs} {created_by}"
        specs = [expand(m, env, escape=self.escape, span=ins.span) for m in ins.mounts]
        sources = key_parts(specs, r.context, r.stage_ids())
        proxies = {k: v for k, v in r.plan.build_args.items() if k in PROXY_ARGS}
        extra_env = {**proxies, **run_args}

        def action(b: Builder, root: Path) -> None:
            with prepare(
                specs,
                context=r.context,
                open_tree=r.open_tree,
                cache_root=r.cache_mounts,
                secrets=r.secrets,
                scratch=b.dir,
            ) as m:
                code = self._exec(b, argv, {**extra_env, **m.env}, m.mounts, ins)
            if code != 0:
                raise BuildError(
                    f"{ins.span}: RUN {text}: the command exited with code {code}",
                    hint="its output is above",
                )

        return self._fs_step(created_by, sources, ins, action)

    def _exec(
        self,
        b: Builder,
        argv: tuple[str, ...],
        env: dict[str, str],
        mounts: list[str],
        ins: Run,
    ) -> int:
        r = self.run
        read_fd, write_fd = os.pipe()
        lines: list[str] = []

        def pump() -> None:
            with os.fdopen(read_fd, "r", encoding="utf-8", errors="replace") as f:
                for line in f:
                    lines.append(line)
                    r.progress.output(line)

        t = threading.Thread(target=pump, daemon=True)
        t.start()
        try:
            network: Network = "host" if ins.network == "host" else "none"
            return b.run(
                argv,
                isolation=r.options.isolation,
                network=network,
                mounts=mounts,
                env=[f"{k}={v}" for k, v in env.items()],
                stdin=None,
                stdout=write_fd,
                stderr=write_fd,
            )
        finally:
            os.close(write_fd)
            t.join()

    # -- COPY / ADD ---------------------------------------------------------------------------
    def _copy(self, ins: Copy | Add) -> bool:
        r = self.run
        env = self._env()

        def x(w: str) -> str:
            return expand(w, env, escape=self.escape, span=ins.span)

        docs = self._heredocs(ins, env)
        srcs = [x(s) for s in ins.sources if heredoc_name(s) is None or not ins.heredocs]
        dest = container_dest(x(ins.dest), self.cfg.config.working_dir)
        ref = x(ins.from_) if isinstance(ins, Copy) and ins.from_ else None
        parents = isinstance(ins, Copy) and ins.parents
        urls = [s for s in srcs if isinstance(ins, Add) and _is_url(s)]
        excludes = [x(e) for e in ins.excludes]
        exclude = IgnoreMatcher(excludes) if excludes else None
        chmod = None
        if ins.chmod:
            try:
                chmod = int(x(ins.chmod), 8)
            except ValueError:
                raise ContainerfileError(
                    f"--chmod={ins.chmod}: not an octal mode", ins.span
                ) from None
        with contextlib.ExitStack() as stack:
            if ref is not None:
                root, image_id = stack.enter_context(r.open_tree(ref))
                tree = SourceTree(root=root, name=f"stage {ref}")
            else:
                tree, image_id = r.context, ""
            local = [s for s in srcs if s not in urls]
            matched: list[str] = []
            kept: dict[str, str] = {}
            for s in local:
                pivot, _ = split_pivot(s)
                for m in tree.matches(s):
                    if exclude is not None and (
                        exclude.excluded(m) or exclude.excluded(posixpath.basename(m))
                    ):
                        continue
                    matched.append(m)
                    kept[m] = kept_path(m, pivot)
            if local and not matched and not docs:
                raise NotFound(f"{ins.keyword}: every source is excluded by --exclude")
            digest = (
                image_id + ":" + ",".join(matched) + f":{excludes}"
                if ref
                else tree.digest(matched, exclude)
            )
            extra = f"|{getattr(ins, 'checksum', None)}|{parents}|{sorted(kept.items())}"
            extra += "|" + "|".join(f"{n}:{c}" for n, c in docs)
            digest = hashlib.sha256((digest + "|" + "|".join(urls) + extra).encode()).hexdigest()
            count = len(matched) + len(urls) + len(docs)
            kind = "dir" if len(matched) == 1 and tree.host_path(matched[0]).is_dir() else "file"
            if count > 1:
                kind = "multi"
            created_by = f"/bin/sh -c #(nop) {ins.keyword} {kind}:{digest} in {dest} "
            owner_spec = x(ins.chown) if ins.chown else None
            checksum = ins.checksum if isinstance(ins, Add) else None
            stamp = r.timestamp or 0

            def action(b: Builder, root: Path) -> None:
                owner: tuple[int, int] | None = (0, 0) if ref is None else None
                if owner_spec:
                    owner = chown_owner(root, owner_spec)
                opts = CopyOptions(
                    owner=owner, mode=chmod, extract=isinstance(ins, Add), exclude=exclude
                )
                if b.record.mode == "overlay":
                    scratch = None
                    if (
                        self.layers
                        and not urls
                        and isinstance(ins, Copy)
                        and not self._files_needed_after(ins)
                    ):
                        scratch = self._copy_size(tree, matched, exclude, docs)
                    upper = b.dir / "upper"
                    root = direct_upper(root, upper, dest, b.umount, scratch=scratch) or root
                copy_sources(
                    tree, matched, root, dest, opts, many=count > 1, kept=kept if parents else None
                )
                if docs:
                    with temp_download_dir(b.dir) as tmp:
                        write_heredocs(Path(tmp), docs, stamp)
                        hd = SourceTree(root=Path(tmp), name="heredoc")
                        hd_opts = CopyOptions(owner=owner or (0, 0), mode=chmod)
                        copy_sources(hd, [n for n, _ in docs], root, dest, hd_opts, many=count > 1)
                for url in urls:
                    with temp_download_dir(b.dir) as tmp:
                        got = fetch_url(url, Path(tmp), checksum)
                        dl = SourceTree(root=Path(tmp), name="download")
                        url_opts = CopyOptions(owner=owner or (0, 0), mode=chmod)
                        copy_sources(dl, [got.name], root, dest, url_opts, many=count > 1)

            return self._fs_step(created_by, [digest], ins, action)

    def _files_needed_after(self, ins: Instruction) -> bool:
        """Whether a step after `ins` may need this step's files on disk: a later step of
        the stage that changes files, or another stage built on or reading this one."""
        later = self.steps[next(n for n, i in enumerate(self.steps) if i is ins) + 1 :]
        if any(isinstance(i, (Run, Copy, Add)) for i in later):
            return True
        me = self.stage.index
        return me != self.run.plan.target or any(
            me in s.deps or s.base_stage == me for s in self.run.plan.stages
        )

    @staticmethod
    def _copy_size(
        tree: SourceTree,
        matched: list[str],
        exclude: IgnoreMatcher | None,
        docs: list[tuple[str, str]],
    ) -> int | None:
        """A tmpfs size for this COPY's files (see build.rootfs.fresh), None if too big."""
        size = sum(len(c.encode()) for _, c in docs)
        count = len(docs)
        for rel in matched:
            for e in tree.walk(rel, exclude):
                size += e.st.st_size
                count += 1
        return scratch_size(size, count)

    def _heredocs(self, ins: Copy | Add, env: dict[str, str]) -> list[tuple[str, str]]:
        """(file name, content) of each heredoc source; content expanded unless the
        delimiter was quoted (as BuildKit does for COPY/ADD)."""
        out: list[tuple[str, str]] = []
        for doc in ins.heredocs:
            text = doc.content
            if doc.expand:
                text = expand(text, env, escape=self.escape, span=ins.span)
            out.append((doc.name, text))
        return out


def _is_url(s: str) -> bool:
    return s.startswith(("http://", "https://"))


@contextlib.contextmanager
def opened_image(store: object, image: str) -> Iterator[tuple[Path, str]]:
    """A throw-away working container over `image`, mounted; removed on exit."""
    from lamina.store import Store

    assert isinstance(store, Store)
    b = Builder.from_image(store, image)
    try:
        yield b.mount(), b.record.image_id or ""
    finally:
        b.remove()
