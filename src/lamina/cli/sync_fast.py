"""`lamina sync SRC DST` run without click when its command line uses only the flags
below in their plain spellings: loading click and building the group and the sync
command's options is a tenth of a sync that finds everything up to date
(`python -m bench.registry_small` times the same sync both ways).

Anything else (signing flags, the TLS switches, a value click would refuse, help, a
--root/LAMINA_ROOT click would refuse) returns None, and click parses and reports as
always. What this reads, click reads the same way (tests/cli/test_sync_fast.py)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from lamina.cli.fast_args import lamina_root, read

FLAGS = {
    "--scoped": "scoped",
    "-a": "all_",
    "--all": "all_",
    "--preserve-digests": "preserve_digests",
    "--remove-signatures": "remove_signatures",
    "--keep-going": "keep_going",
    "--dry-run": "dry_run",
    "-q": "quiet",
    "--quiet": "quiet",
    "--insecure-policy": "insecure_policy",
}
VALUES = {
    "-s": "src",
    "--src": "src",
    "-d": "dest",
    "--dest": "dest",
    "-f": "manifest_format",
    "--format": "manifest_format",
    "--retry-times": "retry_times",
    "--report-format": "fmt",
    **{
        name: name[2:].replace("-", "_")
        for name in (
            "--src-creds",
            "--dest-creds",
            "--authfile",
            "--src-authfile",
            "--dest-authfile",
            "--src-cert-dir",
            "--dest-cert-dir",
            "--registries-conf",
            "--policy",
        )
    },
}
CHOICES = {
    "src": ("docker", "dir", "yaml"),
    "dest": ("docker", "dir", "oci"),
    "manifest_format": ("oci", "v2s2"),
    "fmt": ("table", "json"),
}
TRUST_FLAGS = ("policy", "insecure_policy")


def parse(args: list[str]) -> tuple[list[str], dict[str, Any]] | None:
    """The two arguments and the options' values as the click command receives them (by
    parameter name), or None when click must read `args`."""
    parsed = read(args, FLAGS, VALUES, 2)
    if parsed is None:
        return None
    positional, values = parsed
    if "src" not in values or "dest" not in values:
        return None  # click reports the missing option
    for name, allowed in CHOICES.items():
        if name in values and values[name] not in allowed:
            return None
    if "retry_times" in values:
        try:
            values["retry_times"] = int(values["retry_times"])
        except ValueError:
            return None
    conf = values.get("registries_conf")
    if conf is not None and os.path.isdir(conf):
        return None  # click.Path(dir_okay=False) refuses it
    return positional, values


def sync_command(args: list[str]) -> Callable[[], int] | None:
    """The sync `lamina sync ARGS` asks for, to run (it returns the exit code); None when
    click must read `args`."""
    parsed = parse(args)
    if parsed is None or not lamina_root()[0]:
        return None
    (source, destination), values = parsed
    trust_flags = {name: values.pop(name) for name in TRUST_FLAGS if name in values}

    def run() -> int:
        from lamina.cli.image_copy import trust_options
        from lamina.cli.sync_run import run_sync

        return run_sync(source, destination, trust=lambda: trust_options(trust_flags), **values)

    return run
