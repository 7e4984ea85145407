"""What to run and how, independent of the isolation that runs it: `RunSpec`, volume and
`--mount` parsing, and lookups inside the container's root (users, groups, executables)
that never follow a symlink out of it."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from lamina.errors import BuildError, InvalidInput, NotFound

Network = Literal["none", "host", "private"]
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_MAX_LINKS = 40


@dataclass(frozen=True, slots=True, kw_only=True)
class Mount:
    """A bind or tmpfs mount into the container; `options` as mount(8) spells them."""

    type: Literal["bind", "tmpfs"]
    destination: str
    source: str = ""
    options: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class RunSpec:
    """One command in a root filesystem. `network` "none": a new network namespace with
    only `lo`; "private": one with outbound access too (`lamina.building.isolation.network`),
    where the gateway reaches the host's loopback only if `host_loopback` (podman's
    `slirp4netns:allow_host_loopback=true`); "host": the host's. `hosts`/`resolv` are host files
    bind-mounted over /etc/hosts and /etc/resolv.conf (never part of the rootfs)."""

    argv: tuple[str, ...]
    rootfs: Path
    env: tuple[str, ...] = ()
    cwd: str = "/"
    uid: int = 0
    gid: int = 0
    groups: tuple[int, ...] = ()
    hostname: str = "lamina"
    network: Network = "none"
    host_loopback: bool = False
    mounts: tuple[Mount, ...] = ()
    hosts: Path | None = None
    resolv: Path | None = None


def parse_volume(spec: str) -> Mount:
    """`SRC:DST[:OPTS]` (OPTS comma-separated: ro, rw, z/Z ignored) as a bind mount."""
    parts = spec.split(":")
    if len(parts) not in (2, 3) or not parts[0] or not parts[1]:
        raise InvalidInput(f"volume {spec!r}: expected SRC:DST[:ro]")
    src, dst = parts[0], parts[1]
    opts = [o for o in (parts[2].split(",") if len(parts) == 3 else []) if o not in ("z", "Z")]
    for o in opts:
        if o not in ("ro", "rw"):
            raise InvalidInput(f"volume {spec!r}: unknown option {o!r} (ro, rw)")
    if not dst.startswith("/"):
        raise InvalidInput(f"volume {spec!r}: destination must be absolute")
    if not os.path.exists(src):
        raise NotFound(f"volume {spec!r}: source {src} does not exist")
    return Mount(
        type="bind", source=os.path.abspath(src), destination=dst, options=("rbind", *opts)
    )


def parse_mount(spec: str) -> Mount:
    """`type=bind,source=S,target=D[,ro]` or `type=tmpfs,target=D[,tmpfs-size=N][,tmpfs-mode=M]`
    (`src`, `dst`, `destination`, `readonly` accepted as buildah does)."""
    kv: dict[str, str] = {}
    for item in spec.split(","):
        key, eq, value = item.partition("=")
        key = key.strip()
        if not key:
            continue
        kv[key] = value if eq else "true"
    kind = kv.pop("type", "")
    dst = kv.pop("target", "") or kv.pop("dst", "") or kv.pop("destination", "")
    if not dst.startswith("/"):
        raise InvalidInput(f"mount {spec!r}: target must be an absolute path")
    ro = kv.pop("ro", kv.pop("readonly", "false")) in ("true", "1", "")
    if kind == "bind":
        src = kv.pop("source", "") or kv.pop("src", "")
        if not src:
            raise InvalidInput(f"mount {spec!r}: a bind mount needs source=")
        if not os.path.exists(src):
            raise NotFound(f"mount {spec!r}: source {src} does not exist")
        opts = ["rbind", "ro" if ro else "rw"]
        src = os.path.abspath(src)
    elif kind == "tmpfs":
        src = "tmpfs"
        opts = ["nosuid", "nodev"] + (["ro"] if ro else [])
        if "tmpfs-size" in kv:
            opts.append(f"size={kv.pop('tmpfs-size')}")
        if "tmpfs-mode" in kv:
            opts.append(f"mode={int(kv.pop('tmpfs-mode'), 8):o}")
    else:
        raise InvalidInput(f"mount {spec!r}: type must be bind or tmpfs")
    if kv:
        raise InvalidInput(f"mount {spec!r}: unknown option(s) {', '.join(sorted(kv))}")
    return Mount(
        type="bind" if kind == "bind" else "tmpfs", source=src, destination=dst, options=tuple(opts)
    )


def resolve_in_root(root: Path, path: str) -> Path:
    """`path` inside `root` with every symlink resolved as if `root` were `/`. The result
    may not exist; it is never outside `root`."""
    parts = [p for p in path.split("/") if p not in ("", ".")]
    done: list[str] = []
    links = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            if done:
                done.pop()
            continue
        full = os.path.join(root, *done, part)
        try:
            st = os.lstat(full)
        except (FileNotFoundError, NotADirectoryError):
            return Path(os.path.join(root, *done, part, *parts))
        if stat.S_ISLNK(st.st_mode):
            links += 1
            if links > _MAX_LINKS:
                raise InvalidInput(f"{path}: too many levels of symbolic links in the container")
            target = os.readlink(full)
            if target.startswith("/"):
                done = []
            parts = [p for p in target.split("/") if p not in ("", ".")] + parts
            continue
        done.append(part)
    return Path(os.path.join(root, *done))


def _table(root: Path, name: str) -> list[list[str]]:
    p = resolve_in_root(root, f"/etc/{name}")
    try:
        text = p.read_text(encoding="utf-8", errors="replace")
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return []
    return [line.split(":") for line in text.splitlines() if line and not line.startswith("#")]


def resolve_user(root: Path, user: str) -> tuple[int, int, tuple[int, ...]]:
    """`user[:group]` (names or numbers) to (uid, gid, supplementary gids) using the
    container's /etc/passwd and /etc/group, as buildah does; "" means root."""
    name, _, group = user.partition(":")
    name = name or "0"
    passwd = _table(root, "passwd")
    entry = next((e for e in passwd if len(e) >= 4 and e[0] == name), None)
    if entry is None and name.isdigit():
        entry = next((e for e in passwd if len(e) >= 4 and e[2] == name), None)
    if entry is not None:
        uid, gid = int(entry[2]), int(entry[3])
        login = entry[0]
    elif name.isdigit():
        uid, gid, login = int(name), 0, ""
    else:
        raise BuildError(f"user {name!r} not found in the container's /etc/passwd")
    groups = _table(root, "group")
    if group:
        if group.isdigit():
            gid = int(group)
        else:
            g = next((e for e in groups if len(e) >= 3 and e[0] == group), None)
            if g is None:
                raise BuildError(f"group {group!r} not found in the container's /etc/group")
            gid = int(g[2])
        return uid, gid, (gid,)  # buildah lists the named group as a supplementary one too
    extra = tuple(
        int(e[2])
        for e in groups
        if len(e) >= 4 and login and login in e[3].split(",") and int(e[2]) != gid
    )
    return uid, gid, extra


def find_executable(root: Path, argv0: str, env: tuple[str, ...]) -> str:
    """The container path `argv0` runs, looked up in the container's PATH; BuildError if
    there is none (a clear message instead of the runtime's)."""

    def runnable(p: str) -> bool:
        full = resolve_in_root(root, p)
        return full.is_file() and os.access(full, os.X_OK)

    if "/" in argv0:
        if runnable(argv0):
            return argv0
        raise BuildError(f"running {argv0}: no such executable in the container")
    path = next((e[5:] for e in env if e.startswith("PATH=")), DEFAULT_PATH)
    for d in path.split(":"):
        cand = f"{d.rstrip('/') or ''}/{argv0}"
        if d and runnable(cand):
            return cand
    raise BuildError(f"running {argv0}: executable not found in the container's PATH ({path})")
