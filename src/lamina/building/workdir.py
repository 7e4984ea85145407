"""WORKDIR's directory, made when the instruction runs (as BuildKit's Mkdir with parents):
each missing directory of the path is created 0755 and owned by the current USER, so it
exists in the image even when no later step uses it; existing ones are left alone (and a
WORKDIR that makes nothing is a config-only step, with no empty layer)."""

from __future__ import annotations

import os
from pathlib import Path

from lamina.building.executor_copy import chown_owner
from lamina.building.isolation.spec import resolve_in_root


def make_workdir(root: Path, path: str, user: str) -> bool:
    """Create `path` (absolute, in the container at `root`) and its missing parents;
    False when it existed already (nothing changed)."""
    uid, gid = chown_owner(root, user or "0")
    target = resolve_in_root(root, path)
    missing: list[Path] = []
    cur = target
    while not os.path.lexists(cur) and cur != root:
        missing.append(cur)
        cur = cur.parent
    for d in reversed(missing):
        d.mkdir(mode=0o755)
        os.chmod(d, 0o755)
        os.lchown(d, uid, gid)
    return bool(missing)
