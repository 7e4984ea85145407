"""Config-only instructions: ENV, LABEL, EXPOSE, VOLUME, USER, WORKDIR, ENTRYPOINT, CMD,
SHELL, HEALTHCHECK, STOPSIGNAL, ONBUILD, MAINTAINER — each a new ContainerConfig (and, for
MAINTAINER, author) plus the history `created_by` buildah writes for it."""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from dataclasses import dataclass, replace

from lamina.building.containerfile import (
    Cmd,
    Entrypoint,
    Env,
    Expose,
    Healthcheck,
    Instruction,
    Label,
    Maintainer,
    OnBuild,
    Shell,
    StopSignal,
    User,
    Volume,
    Workdir,
    expand,
    expand_pairs,
    expand_words,
)
from lamina.building.containerfile.commands import duration_seconds
from lamina.errors import ContainerfileError
from lamina.oci import ContainerConfig
from lamina.oci import Healthcheck as HealthConfig

DEFAULT_SHELL = ("/bin/sh", "-c")
CONFIG_INSTRUCTIONS = (
    Env,
    Label,
    Expose,
    Volume,
    User,
    Workdir,
    Entrypoint,
    Cmd,
    Shell,
    Healthcheck,
    StopSignal,
    OnBuild,
    Maintainer,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class ConfigEdit:
    config: ContainerConfig
    created_by: str
    author: str | None = None
    cmd_set: bool = False


def nop(ins: Instruction) -> str:
    return f"/bin/sh -c #(nop) {ins.original}"


def _command(ins: Instruction, shell: tuple[str, ...]) -> tuple[str, ...]:
    if ins.json:
        return ins.args
    return (*shell, ins.args[0] if ins.args else "")


def _ns(value: str | None, ins: Instruction) -> int:
    if value is None or value == "":
        return 0
    seconds = duration_seconds(value)
    if seconds is None:
        raise ContainerfileError(f"invalid duration {value!r}", ins.span)
    return int(seconds * 10**9)


def apply_instruction(
    ins: Instruction,
    cc: ContainerConfig,
    env: Mapping[str, str],
    *,
    escape: str,
    cmd_set: bool,
) -> ConfigEdit:
    """`cc` after the config-only instruction `ins`; `env` is what `$VAR` expands to."""
    span = ins.span
    shell = cc.shell or DEFAULT_SHELL

    def x(word: str) -> str:
        return expand(word, env, escape=escape, span=span)

    edit: dict[str, object] = {}
    author = None
    if isinstance(ins, Env):
        current = dict(e.partition("=")[::2] for e in cc.env)
        for k, v in expand_pairs(
            [(p.key, p.value) for p in ins.pairs], env, escape=escape, span=span
        ):
            current[k] = v  # a name already set keeps its place (BuildKit's addEnv)
        edit["env"] = tuple(f"{k}={v}" for k, v in current.items())
    elif isinstance(ins, Label):
        labels = dict(cc.labels or {})
        for k, v in expand_pairs(
            [(p.key, p.value) for p in ins.pairs], env, escape=escape, span=span
        ):
            labels[k] = v
        edit["labels"] = labels
    elif isinstance(ins, Expose):
        ports = list(cc.exposed_ports)
        for word in ins.ports:
            for p in expand_words(word, env, escape=escape, span=span):
                p = p if "/" in p else f"{p}/tcp"
                if p not in ports:
                    ports.append(p)
        edit["exposed_ports"] = tuple(ports)
    elif isinstance(ins, Volume):
        vols = list(cc.volumes)
        for p in ins.paths:
            v = x(p) if ins.json else p
            for one in [v] if ins.json else expand_words(v, env, escape=escape, span=span):
                if one not in vols:
                    vols.append(one)
        edit["volumes"] = tuple(vols)
    elif isinstance(ins, User):
        edit["user"] = x(ins.user)
    elif isinstance(ins, Workdir):
        path = x(ins.path)
        edit["working_dir"] = posixpath.normpath(posixpath.join(cc.working_dir or "/", path))
    elif isinstance(ins, Entrypoint):
        edit["entrypoint"] = _command(ins, shell)
        if not cmd_set:
            edit["cmd"] = None
    elif isinstance(ins, Cmd):
        edit["cmd"] = _command(ins, shell)
        cmd_set = True
    elif isinstance(ins, Shell):
        if not ins.json:
            raise ContainerfileError("SHELL requires the JSON form", span)
        edit["shell"] = ins.args
    elif isinstance(ins, Healthcheck):
        if ins.kind == "NONE":
            edit["healthcheck"] = HealthConfig(test=("NONE",))
        else:
            test = ("CMD", *ins.command) if ins.json else ("CMD-SHELL", ins.command[0])
            edit["healthcheck"] = HealthConfig(
                test=test,
                interval=_ns(ins.interval, ins),
                timeout=_ns(ins.timeout, ins),
                start_period=_ns(ins.start_period, ins),
                start_interval=_ns(ins.start_interval, ins),
                retries=ins.retries or 0,
            )
    elif isinstance(ins, StopSignal):
        edit["stop_signal"] = x(ins.signal)
    elif isinstance(ins, OnBuild):
        edit["on_build"] = (*cc.on_build, ins.expression)
    elif isinstance(ins, Maintainer):
        author = x(ins.name)
    else:  # pragma: no cover - callers dispatch only config instructions here
        raise ContainerfileError(f"{ins.keyword} is not a config instruction", span)
    return ConfigEdit(
        config=replace(cc, **edit),  # type: ignore[arg-type]
        created_by=nop(ins),
        author=author,
        cmd_set=cmd_set,
    )
