"""Builders of the instructions that take a command or files: RUN, CMD, ENTRYPOINT, SHELL,
COPY, ADD and HEALTHCHECK (JSON exec form, else shell form; heredocs on RUN/COPY/ADD)."""

from __future__ import annotations

import re

from lamina.building.containerfile import nodes
from lamina.building.containerfile.errors import fail
from lamina.building.containerfile.heredocs import find_markers
from lamina.building.containerfile.instructions import Common
from lamina.building.containerfile.words import blank_split, is_space, skip_space

_DURATION_PART = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_UNIT_SECONDS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}


def _command(c: Common) -> tuple[tuple[str, ...], bool]:
    """(args, json): the decoded JSON array, or `(rest,)` in shell form."""
    argv = c.json_or_none()
    if argv is not None:
        return argv, True
    return ((c.rest,) if c.rest else ()), False


def build_run(c: Common) -> nodes.Run:
    args, json = _command(c)
    heredocs = () if json else c.heredocs()
    if not args:
        c.fail_here("RUN requires at least one argument", hint="write RUN COMMAND")
    return nodes.Run(
        **c.base(args, json=json, heredocs=heredocs),
        heredocs=heredocs,
        mounts=c.flags.strings("mount"),
        network=c.flags.string("network"),
        security=c.flags.string("security"),
    )


def build_cmd(c: Common) -> nodes.Cmd:
    args, json = _command(c)
    return nodes.Cmd(**c.base(args, json=json))


def build_entrypoint(c: Common) -> nodes.Entrypoint:
    args, json = _command(c)
    return nodes.Entrypoint(**c.base(args, json=json))


def build_shell(c: Common) -> nodes.Shell:
    hint = 'write SHELL ["/bin/sh", "-c"]'
    if not c.rest:
        c.fail_here("SHELL requires at least one argument", hint=hint)
    argv = c.json_or_none()
    if argv is None:
        c.fail_at(c.args_at, "SHELL requires the arguments to be in JSON form", hint=hint)
    if not argv:
        c.fail_at(c.args_at, "SHELL requires at least one argument", hint=hint)
    return nodes.Shell(**c.base(argv, json=True))


def _files(c: Common) -> tuple[tuple[str, ...], bool, tuple[nodes.Heredoc, ...]]:
    argv = c.json_or_none()
    json = argv is not None
    if argv is None:
        argv = tuple(w for w, _ in blank_split(c.text, c.args_at))
    heredocs = () if json else c.heredocs()
    if len(argv) < 2:
        c.fail_here(
            f"{c.keyword} requires at least two arguments: source(s) and destination",
            hint=f"write {c.keyword} SRC... DEST",
        )
    if find_markers(argv[-1]):
        c.fail_here(f"{c.keyword} cannot accept a heredoc as a destination")
    return argv, json, heredocs


def build_copy(c: Common) -> nodes.Copy:
    argv, json, heredocs = _files(c)
    f = c.flags
    return nodes.Copy(
        **c.base(argv, json=json, heredocs=heredocs),
        sources=argv[:-1],
        dest=argv[-1],
        heredocs=heredocs,
        from_=f.string("from"),
        chown=f.string("chown"),
        chmod=f.string("chmod"),
        link=bool(f.boolean("link")),
        parents=bool(f.boolean("parents")),
        excludes=f.strings("exclude"),
    )


def build_add(c: Common) -> nodes.Add:
    argv, json, heredocs = _files(c)
    f = c.flags
    return nodes.Add(
        **c.base(argv, json=json, heredocs=heredocs),
        sources=argv[:-1],
        dest=argv[-1],
        heredocs=heredocs,
        chown=f.string("chown"),
        chmod=f.string("chmod"),
        link=bool(f.boolean("link")),
        excludes=f.strings("exclude"),
        checksum=f.string("checksum"),
        keep_git_dir=bool(f.boolean("keep-git-dir")),
        unpack=f.boolean("unpack"),
    )


def duration_seconds(text: str) -> float | None:
    """Seconds in a Go duration (`30s`, `1m30s`, `1.5h`), None when it is not one."""
    if text == "0":
        return 0.0
    body = text[1:] if text[:1] in "+-" else text
    pos, total = 0, 0.0
    while pos < len(body):
        match = _DURATION_PART.match(body, pos)
        if match is None:
            return None
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if not body:
        return None
    return -total if text.startswith("-") else total


def _check_durations(c: Common) -> None:
    for f in c.flags.flags:
        if f.name == "retries" or f.value is None or f.value == "":
            continue
        seconds = duration_seconds(f.value)
        if seconds is None:
            fail(
                f.span,
                f"invalid duration for --{f.name}: {f.value!r}",
                hint="use a Go duration such as 30s, 1m30s or 500ms",
            )
        if seconds < 0.001:
            fail(f.span, f"Interval --{f.name} cannot be less than 1ms")


def _retries(c: Common) -> int | None:
    value = c.flags.string("retries")
    if value is None or value == "":
        return None
    try:
        retries = int(value, 10)
    except ValueError:
        c.fail_here(f"invalid --retries value {value!r}: not an integer")
    if retries < 1:
        c.fail_here(f"--retries must be at least 1 (not {retries})")
    return retries


def build_healthcheck(c: Common) -> nodes.Healthcheck:
    if not c.rest:
        c.fail_here("HEALTHCHECK requires at least one argument", hint="write HEALTHCHECK CMD ...")
    kind_at = c.args_at
    end = kind_at
    while end < len(c.text) and not is_space(c.text[end]):
        end += 1
    kind = c.text[kind_at:end].upper()
    cmd_at = skip_space(c.text, end)
    inner = Common(
        keyword=c.keyword, line=c.line, start=c.start, args_at=cmd_at, flags=c.flags, lexer=c.lexer
    )
    if kind == "NONE":
        if inner.rest:
            c.fail_at(cmd_at, "HEALTHCHECK NONE takes no arguments")
        return nodes.Healthcheck(**c.base(("NONE",)), kind="NONE")
    if kind != "CMD":
        c.fail_at(
            kind_at,
            f'Unknown type "{c.text[kind_at:end]}" in HEALTHCHECK (try CMD)',
            hint="write HEALTHCHECK [OPTIONS] CMD command, or HEALTHCHECK NONE",
        )
    command, json = _command(inner)
    if not command:
        c.fail_at(kind_at, "Missing command after HEALTHCHECK CMD")
    _check_durations(c)
    f = c.flags
    return nodes.Healthcheck(
        **c.base(("CMD", *command), json=json),
        kind="CMD",
        command=command,
        interval=f.string("interval"),
        timeout=f.string("timeout"),
        start_period=f.string("start-period"),
        start_interval=f.string("start-interval"),
        retries=_retries(c),
    )
