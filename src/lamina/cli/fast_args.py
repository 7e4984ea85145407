"""Reading a command line without click, for the commands whose common lines skip it
(`copy_fast`, `sync_fast`): plain flags, and options with one value written `--NAME VALUE`
or `--NAME=VALUE` (short ones only as `-X VALUE`). Anything else — an unknown option, a
clustered `-qa`, `--`, a value that looks like an option, a wrong number of arguments —
is None, and click reads the line as always."""

from __future__ import annotations

import os
import stat
from typing import Any


def read(
    args: list[str], flags: dict[str, str], values: dict[str, str], count: int
) -> tuple[list[str], dict[str, Any]] | None:
    """The `count` positional arguments and the options' values by parameter name (a flag
    is True; an option given twice keeps its last value, as click does), or None."""
    positional: list[str] = []
    found: dict[str, Any] = {}
    i = 0
    while i < len(args):
        word = args[i]
        i += 1
        if word in flags:
            found[flags[word]] = True
            continue
        name, eq, value = word.partition("=")
        if name in values and (not eq or name.startswith("--")):
            if not eq:
                if i == len(args) or args[i].startswith("-"):
                    return None  # a missing value, or one that looks like an option
                value = args[i]
                i += 1
            found[values[name]] = value
            continue
        if word.startswith("-"):
            return None
        positional.append(word)
    if len(positional) != count:
        return None
    return positional, found


def lamina_root() -> tuple[bool, str | None]:
    """LAMINA_ROOT as the group's `--root` option reads it (click.Path(file_okay=False)):
    (False, None) when click would refuse it."""
    root = os.environ.get("LAMINA_ROOT") or None
    if root is None:
        return True, None
    try:
        st = os.stat(root)
    except OSError:
        return True, root
    if stat.S_ISREG(st.st_mode) or not os.access(root, os.R_OK):
        return False, None
    return True, root
