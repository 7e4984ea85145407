"""`lamina copy SRC DST` for images, run without click when its command line uses only
the common flags below in their plain spellings: loading click and building the group and
the copy command's ~35 options costs more than reading these words.

Anything else (another flag, a clustered `-qa`, `--`, `-`, a wrong number of arguments,
help, a --root/LAMINA_ROOT click would refuse) returns False, and click parses and reports
as always. What this reads, click reads the same way (a test compares them)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lamina.cli.fast_args import lamina_root, read

if TYPE_CHECKING:
    from lamina.store import Store

# flag spelling -> parameter name (as the click command names it)
FLAGS = {
    "-q": "quiet",
    "--quiet": "quiet",
    "-a": "all_",
    "--all": "all_",
    "--preserve-digests": "preserve_digests",
    "--remove-signatures": "remove_signatures",
    "--insecure-policy": "insecure_policy",
}
# options that take one string value (`--NAME VALUE` or `--NAME=VALUE`)
VALUES = {
    name: name[2:].replace("-", "_")
    for name in (
        "--policy",
        "--platform",
        "--authfile",
        "--src-authfile",
        "--dest-authfile",
        "--src-creds",
        "--dest-creds",
        "--src-cert-dir",
        "--dest-cert-dir",
        "--digestfile",
    )
}
TRUST_FLAGS = ("policy", "insecure_policy")


def parse(args: list[str]) -> tuple[list[str], dict[str, Any]] | None:
    """The two arguments and the flags' values (by parameter name; a flag given twice
    keeps its last value, as click does), or None when click must read `args`."""
    return read(args, FLAGS, VALUES, 2)


def _store(root: str | None) -> Store:
    from lamina.store import Store

    return Store.open(Path(root) if root else None)


def image_copy(args: list[str]) -> Callable[[], None] | None:
    """The copy `lamina copy ARGS` asks for, to run; None when click must read `args`."""
    from lamina.cli.copy_form import surely_image_copy

    parsed = parse(args)
    if parsed is None or not surely_image_copy(args):
        return None
    ok, root = lamina_root()
    if not ok:
        return None
    (source, destination), values = parsed
    trust_flags = {name: values.pop(name) for name in TRUST_FLAGS if name in values}

    def run() -> None:
        from lamina.cli.image_copy import copy_image, trust_options

        copy_image(
            source,
            destination,
            store=lambda: _store(root),
            trust=lambda: trust_options(trust_flags),
            **values,
        )

    return run
