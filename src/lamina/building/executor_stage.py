"""One stage of a build: its instructions turned into Builder calls and stored images.

With layers (the default) every instruction ends in a stored, unnamed image whose cache
record is keyed by `lamina.building.cache.step_key`; a hit reuses the image and runs nothing.
Config-only instructions make images without a working container. Without layers (or for
a squashed target stage) one working container takes every change and is committed once.
A failure removes the stage's working containers; the error names file:line.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from lamina.building.builder import Builder
from lamina.building.cache import step_key
from lamina.building.containerfile import (
    Add,
    Arg,
    Copy,
    Instruction,
    Run,
    Workdir,
    expand,
    parse,
)
from lamina.building.executor_config import CONFIG_INSTRUCTIONS, DEFAULT_SHELL, apply_instruction
from lamina.building.executor_copystep import CopyScope, files_needed_after, plan_copy
from lamina.building.isolation.network import step_network
from lamina.building.isolation.spec import DEFAULT_PATH
from lamina.building.mounts import key_parts, parse_spec, prepare
from lamina.building.plan import PROXY_ARGS, Stage
from lamina.building.run_heredoc import PIPES, run_script
from lamina.building.workdir import make_workdir
from lamina.errors import ContainerfileError, InvalidInput, LaminaError, RunFailed
from lamina.image import Image
from lamina.image.mutate import empty_image, format_time, with_config, with_media_type
from lamina.media_types import DOCKER_MANIFEST, OCI_MANIFEST
from lamina.oci import History, ImageConfig

if TYPE_CHECKING:
    from lamina.building.executor import BuildRun


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
        if not any(e.startswith("PATH=") for e in self.cfg.config.env):
            # Docker's and buildah's default for a base without one (scratch, an import)
            env = (*self.cfg.config.env, f"PATH={DEFAULT_PATH}")
            self.cfg = self.cfg.evolve(config=replace(self.cfg.config, env=env))
            self.changed = True
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
        except PermissionError as err:
            if not isinstance(ins, Copy | Add):
                raise
            raise InvalidInput(
                f"{ins.span}: {ins.keyword}: cannot read {err.filename}: permission denied",
                hint="make it readable by the user running lamina, or leave it out of the "
                "context with .containerignore",
            ) from None
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
            if isinstance(ins, Workdir) and cfg.config.working_dir not in ("", "/"):
                return self._workdir(cfg, edit.created_by, ins)
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
            # what the logical line does not show: heredoc bodies, and the parse and
            # platform context (a FROM scratch stage has no parent image to tell them)
            "heredocs": [(h.name, h.content) for h in getattr(ins, "heredocs", ())],
            "escape": self.escape,
            "platform": str(self.run.plan.platform),
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
        pipe = None
        if ins.json:
            argv = tuple(ins.args)
        else:
            shell_script = run_script(ins)
            pipe = shell_script.pipe
            argv = (*(cc.shell or DEFAULT_SHELL), shell_script.script)
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
        sources = key_parts(specs, r.context, self._mount_sources(specs, ins))
        proxies = {k: v for k, v in r.plan.build_args.items() if k in PROXY_ARGS}
        extra_env = {**proxies, **run_args}

        def action(b: Builder, root: Path) -> None:
            with (
                prepare(
                    specs,
                    context=r.context,
                    open_tree=r.open_tree,
                    cache_root=r.cache_mounts,
                    secrets=r.secrets,
                    scratch=b.dir,
                ) as m,
                tempfile.TemporaryDirectory(dir=b.dir, prefix="pipes-") as pipes,
            ):
                if pipe is not None:  # `RUN <<EOF` whose body starts with `#!`
                    host = Path(pipes) / "script"
                    host.write_text(pipe[1], encoding="utf-8")
                    host.chmod(0o755)
                    m.mounts.append(f"type=bind,source={host},target={PIPES}/{pipe[0]},ro")
                code, output = self._exec(b, argv, {**extra_env, **m.env}, m.mounts, ins)
            if code != 0:
                raise RunFailed(
                    f"{ins.span}: RUN {text}: the command exited with code {code}",
                    exit_code=code,
                    hint=_failed_output_hint(output, shown=r.progress.stream is not None),
                )

        return self._fs_step(created_by, sources, ins, action)

    def _mount_sources(self, specs: list[str], ins: Run) -> dict[str, str]:
        """Each `from=` of the RUN's mounts → the image ID it names: a stage (any case)
        or an image, so a stage rebuilt or a name moved to another image changes the key."""
        r, ids = self.run, self.run.stage_ids()
        out: dict[str, str] = {}
        for spec in specs:
            ref = parse_spec(spec).get("from")
            if ref:
                out[ref] = ids.get(ref.lower()) or ids.get(ref) or r.base_image(ref, ins.span)
        return out

    def _exec(
        self,
        b: Builder,
        argv: tuple[str, ...],
        env: dict[str, str],
        mounts: list[str],
        ins: Run,
    ) -> tuple[int, list[str]]:
        """Run `argv` in `b`; its exit code and its output lines (also sent to progress)."""
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
            code = b.run(
                argv,
                isolation=r.options.isolation,
                network=step_network(ins.network, r.options.network, ins.span),
                dns=r.options.dns,
                add_hosts=r.options.add_hosts,
                mounts=mounts,
                env=[f"{k}={v}" for k, v in env.items()],
                stdin=None,
                stdout=write_fd,
                stderr=write_fd,
            )
        finally:
            os.close(write_fd)
            t.join()
        return code, lines

    # -- WORKDIR ------------------------------------------------------------------------------
    def _workdir(self, cfg: ImageConfig, created_by: str, ins: Workdir) -> bool:
        """A step that sets the working directory and creates it, owned by the USER."""
        self.cfg = cfg
        path, user = cfg.config.working_dir, cfg.config.user

        def action(b: Builder, root: Path) -> None:
            if not make_workdir(root, path, user):
                raise _Unchanged

        try:
            return self._fs_step(created_by, [], ins, action)
        except _Unchanged:
            if self.layers and self.builder is not None:  # nothing to commit
                self.builder.remove()
                self.builder = None
            return self._config_step(cfg, created_by, ins)

    # -- COPY / ADD ---------------------------------------------------------------------------
    def _copy(self, ins: Copy | Add) -> bool:
        """COPY / ADD, planned by executor_copystep; a `--from` tree stays open until the
        step has run."""
        r = self.run
        direct = self.layers and not files_needed_after(ins, self.steps, self.stage, r.plan)
        scope = CopyScope(
            env=self._env(),
            escape=self.escape,
            working_dir=self.cfg.config.working_dir,
            timestamp=r.timestamp or 0,
            direct=direct,
        )
        with contextlib.ExitStack() as stack:
            tree = lambda ref: stack.enter_context(r.open_tree(ref))  # noqa: E731
            plan = plan_copy(ins, scope, r.context, tree)
            return self._fs_step(plan.created_by, [plan.key], ins, plan.action)


FAILED_OUTPUT_LINES = 20


def _failed_output_hint(output: list[str], *, shown: bool) -> str:
    """The hint of a failed RUN: where its output is; with the steps' output hidden
    (--quiet), its last FAILED_OUTPUT_LINES lines themselves."""
    if shown:
        return "its output is above"
    if not output:
        return "it printed nothing"
    tail = output[-FAILED_OUTPUT_LINES:]
    head = "its output:" if len(tail) == len(output) else f"the last {len(tail)} lines:"
    return head + "".join("\n    " + line.rstrip("\n") for line in tail)


class _Unchanged(Exception):
    """A WORKDIR step found its directory made already."""


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
