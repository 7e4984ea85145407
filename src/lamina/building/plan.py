"""The build plan: stages, the DAG between them, the target, and the build arguments.

Stages depend on each other through `FROM <earlier stage>`, `COPY --from=<stage>` and
`RUN --mount=…,from=<stage>`; anything else named there is an image. Only the stages the
target needs are built, in an order where dependencies come first. ARG scoping follows the
Dockerfile reference: ARGs before the first FROM are visible in FROM lines only (a stage
sees one when it re-declares it without a value); automatic platform args likewise; a
stage built FROM another inherits its args; ENV wins over ARG (the executor's job).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from lamina.building.containerfile import (
    Arg,
    Containerfile,
    Copy,
    From,
    Instruction,
    OnBuild,
    Run,
    expand,
)
from lamina.errors import BuildError, ContainerfileError, InvalidInput, NotFound, SourceSpan
from lamina.platform import Platform

PROXY_ARGS = frozenset(
    name
    for p in ("http", "https", "ftp", "no", "all")
    for name in (f"{p.upper()}_PROXY", f"{p}_proxy")
)

PLATFORM_ARGS = (
    "TARGETPLATFORM",
    "TARGETOS",
    "TARGETARCH",
    "TARGETVARIANT",
    "BUILDPLATFORM",
    "BUILDOS",
    "BUILDARCH",
    "BUILDVARIANT",
)


def platform_args(target: Platform, build: Platform) -> dict[str, str]:
    return {
        "TARGETPLATFORM": str(target),
        "TARGETOS": target.os,
        "TARGETARCH": target.architecture,
        "TARGETVARIANT": target.variant,
        "BUILDPLATFORM": str(build),
        "BUILDOS": build.os,
        "BUILDARCH": build.architecture,
        "BUILDVARIANT": build.variant,
    }


@dataclass(kw_only=True)
class Stage:
    """One FROM and its instructions. `base_stage` is set when FROM names an earlier
    stage; `deps` are the stage indices this one needs; `images` the images it reads."""

    index: int
    name: str | None
    from_: From
    base: str
    base_stage: int | None
    instructions: list[Instruction]
    deps: set[int] = field(default_factory=set)
    images: set[str] = field(default_factory=set)

    @property
    def label(self) -> str:
        return self.name or str(self.index)


@dataclass(kw_only=True)
class Plan:
    file: Containerfile
    stages: list[Stage]
    target: int
    order: list[int]
    global_args: dict[str, str]
    build_args: dict[str, str]
    platform: Platform
    unused_args: list[str]

    def needed(self) -> list[Stage]:
        return [self.stages[i] for i in self.order]


def parse_build_args(
    items: Sequence[str], files: Sequence[str | Path] = (), environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """`--build-arg-file` lines (KEY=VALUE, `#` comments) then `--build-arg K=V` / `K`
    (K from the environment; skipped when unset there)."""
    env = os.environ if environ is None else environ
    out: dict[str, str] = {}
    lines: list[str] = []
    for f in files:
        try:
            text = Path(f).read_text(encoding="utf-8")
        except OSError as exc:
            raise NotFound(f"--build-arg-file {f}: {exc.strerror}") from None
        lines += [ln.strip() for ln in text.splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith("#")]
    for item in [*lines, *items]:
        key, eq, value = item.partition("=")
        key = key.strip()
        if not key:
            raise InvalidInput(f"--build-arg {item!r}: expected KEY=VALUE or KEY")
        if eq:
            out[key] = value
        elif key in env:
            out[key] = env[key]
    return out


def mount_from(spec: str) -> str | None:
    """The `from=` of a RUN --mount value, if any."""
    for part in spec.split(","):
        k, _, v = part.partition("=")
        if k.strip().lower() == "from":
            return v.strip()
    return None


def make_plan(
    file: Containerfile,
    *,
    build_args: Mapping[str, str] | None = None,
    target: str | None = None,
    platform: Platform | None = None,
) -> Plan:
    """Split `file` into stages, resolve references, and order what `target` needs."""
    args = dict(build_args or {})
    host = Platform.host()
    plat = platform or host
    instrs = file.instructions
    global_args: dict[str, str] = platform_args(plat, host)
    declared: set[str] = set()
    i = 0
    while i < len(instrs) and not isinstance(instrs[i], From):
        ins = instrs[i]
        if not isinstance(ins, Arg):
            raise ContainerfileError(
                f"{ins.keyword} is not allowed before the first FROM (only ARG is)", ins.span
            )
        for d in ins.decls:
            declared.add(d.name)
            if d.name in args:
                global_args[d.name] = args[d.name]
            elif d.default is not None:
                global_args[d.name] = expand(d.default, global_args, span=ins.span)
            else:
                global_args.setdefault(d.name, "")
        i += 1
    if i == len(instrs):
        raise ContainerfileError(
            "no FROM instruction: a build needs at least one stage",
            instrs[-1].span if instrs else _file_span(file),
        )
    stages: list[Stage] = []
    by_name: dict[str, int] = {}
    for ins in instrs[i:]:
        if isinstance(ins, From):
            base = expand(ins.image, global_args, span=ins.span)
            if not base:
                raise ContainerfileError(
                    f"FROM {ins.image}: the base image name is empty", ins.span
                )
            base_stage = by_name.get(base.lower())
            st = Stage(
                index=len(stages),
                name=ins.stage_name,
                from_=ins,
                base=base,
                base_stage=base_stage,
                instructions=[],
            )
            if base_stage is not None:
                st.deps.add(base_stage)
            elif base.lower() != "scratch":
                st.images.add(base)
            if ins.stage_name:
                if ins.stage_name in by_name:
                    raise ContainerfileError(f"duplicate stage name {ins.stage_name!r}", ins.span)
                by_name[ins.stage_name] = st.index
            stages.append(st)
        else:
            stages[-1].instructions.append(ins)
            if isinstance(ins, Arg):
                declared.update(d.name for d in ins.decls)
    for st in stages:
        for ins in st.instructions:
            for ref in _references(ins):
                ref = expand(ref, {**global_args, **args}, span=ins.span)
                idx = _stage_ref(ref, by_name, len(stages))
                if idx is None:
                    st.images.add(ref)
                elif idx == st.index:
                    raise BuildError(f"{ins.span}: stage {st.label} refers to itself")
                else:
                    st.deps.add(idx)
    if target is None:
        tindex = len(stages) - 1
    else:
        found = by_name.get(target.lower())
        if found is None:
            names = ", ".join(s.name for s in stages if s.name) or "none"
            raise NotFound(
                f"the target stage {target!r} is not in {file.file}",
                hint=f"stage names: {names}",
            )
        tindex = found
    order = _order(stages, tindex)
    used = declared | PROXY_ARGS
    unused = sorted(k for k in args if k not in used)
    return Plan(
        file=file,
        stages=stages,
        target=tindex,
        order=order,
        global_args=global_args,
        build_args=args,
        platform=plat,
        unused_args=unused,
    )


def _file_span(file: Containerfile) -> SourceSpan:
    return SourceSpan(file.file, 1)


def _references(ins: Instruction) -> list[str]:
    if isinstance(ins, OnBuild):
        return []
    out: list[str] = []
    if isinstance(ins, Copy) and ins.from_:
        out.append(ins.from_)
    if isinstance(ins, Run):
        for m in ins.mounts:
            ref = mount_from(m)
            if ref:
                out.append(ref)
    return out


def _stage_ref(ref: str, by_name: Mapping[str, int], count: int) -> int | None:
    if ref.lower() in by_name:
        return by_name[ref.lower()]
    if ref.isdigit():
        n = int(ref)
        if n >= count:
            raise InvalidInput(f"--from={ref}: there are only {count} stages")
        return n
    return None


def _order(stages: list[Stage], target: int) -> list[int]:
    """Needed stages, dependencies first; BuildError naming the cycle if there is one."""
    order: list[int] = []
    state: dict[int, int] = {}  # 1 visiting, 2 done
    path: list[int] = []

    def visit(n: int) -> None:
        if state.get(n) == 2:
            return
        if state.get(n) == 1:
            cycle = [*path[path.index(n) :], n]
            names = " -> ".join(stages[c].label for c in cycle)
            raise BuildError(
                f"{stages[n].from_.span}: the stages form a cycle: {names}",
                hint="a stage cannot depend, directly or not, on itself",
            )
        state[n] = 1
        path.append(n)
        for d in sorted(stages[n].deps):
            visit(d)
        path.pop()
        state[n] = 2
        order.append(n)

    visit(target)
    return order
