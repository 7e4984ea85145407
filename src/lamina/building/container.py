"""Working-container records, persisted under the store root.

`<root>/containers/<id>.json` holds one record (written to a temp file and renamed), and
`<root>/containers/<id>/` its directories (overlay upper/work/merged, or the copied
rootfs). `<root>/containers/.lock` (flock) serialises creating, renaming and deleting, so
names stay unique across processes.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from lamina.content.fstree import remove_tree
from lamina.errors import Conflict, InvalidInput, NotFound
from lamina.oci import Healthcheck, ImageConfig

RootfsMode = Literal["overlay", "copy"]


@dataclass(kw_only=True)
class WorkingContainer:
    """One working container. `image_id` is None for scratch; `config` is the pending image
    config (JSON text) that config calls edit and commit writes; `mode` says whether the
    rootfs is an overlay or a copied tree (decided at creation)."""

    id: str
    name: str
    image_id: str | None
    image_name: str
    config: str
    manifest_type: str
    mode: RootfsMode
    created: str
    mounted: bool = False
    annotations: dict[str, str] = field(default_factory=dict)
    created_by: str | None = None
    comment: str | None = None
    notes: list[str] = field(default_factory=list)
    network: str | None = None  # `from --network`: the default of `run` (None: private)
    dns: list[str] = field(default_factory=list)
    add_hosts: list[str] = field(default_factory=list)

    def image_config(self) -> ImageConfig:
        return ImageConfig.parse(self.config.encode(), f"container {self.name}: config")

    def set_image_config(self, cfg: ImageConfig) -> None:
        self.config = (cfg if cfg.raw else cfg.reserialised()).raw.decode()


class Containers:
    """The records under one store root."""

    def __init__(self, store_root: Path) -> None:
        self.dir = Path(store_root) / "containers"
        self.dir.mkdir(parents=True, exist_ok=True)

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        fd = os.open(self.dir / ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def path(self, cid: str) -> Path:
        return self.dir / f"{cid}.json"

    def workdir(self, cid: str) -> Path:
        """The container's own directory (upper, work, merged or rootfs, runs)."""
        return self.dir / cid

    def list(self) -> list[WorkingContainer]:
        out = []
        for entry in sorted(self.dir.glob("*.json")):
            with contextlib.suppress(FileNotFoundError):
                out.append(self._read(entry))
        return sorted(out, key=lambda c: (c.created, c.name))

    def _read(self, path: Path) -> WorkingContainer:
        try:
            data: dict[str, Any] = json.loads(path.read_text())
            return WorkingContainer(**data)
        except (ValueError, TypeError) as exc:
            raise InvalidInput(f"{path}: not a working-container record ({exc})") from None

    def get(self, name_or_id: str) -> WorkingContainer:
        """By exact name, exact ID or unique ID prefix (at least 3 characters)."""
        found = [c for c in self.list() if name_or_id in (c.name, c.id)]
        if not found and len(name_or_id) >= 3:
            found = [c for c in self.list() if c.id.startswith(name_or_id)]
        if not found:
            raise NotFound(f"working container {name_or_id!r} does not exist")
        if len(found) > 1:
            raise Conflict(f"{name_or_id!r} matches {len(found)} working containers")
        return found[0]

    def save(self, c: WorkingContainer) -> None:
        tmp = self.dir / f".{c.id}.json.tmp"
        try:
            tmp.write_text(json.dumps(asdict(c), indent=1, sort_keys=True))
            os.replace(tmp, self.path(c.id))
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def create(self, c: WorkingContainer, *, base_name: str) -> WorkingContainer:
        """Save a new record, giving it `c.name` if set (Conflict if taken), else
        `<base_name>-working-container[-N]` as buildah names them."""
        with self.locked():
            taken = {x.name for x in self.list()}
            if c.name:
                if c.name in taken:
                    raise Conflict(f"the container name {c.name!r} is already in use")
            else:
                stem = f"{base_name}-working-container" if base_name else "working-container"
                name, n = stem, 1
                while name in taken:
                    name, n = f"{stem}-{n}", n + 1
                c.name = name
            self.workdir(c.id).mkdir(mode=0o700)
            self.save(c)
        return c

    def delete(self, c: WorkingContainer) -> None:
        with self.locked():
            with contextlib.suppress(OSError):
                remove_tree(self.workdir(c.id))
            with contextlib.suppress(FileNotFoundError):
                self.path(c.id).unlink()


def new_id() -> str:
    return secrets.token_hex(32)


def short_name(image_name: str) -> str:
    """buildah's stem for a default container name: the last path part, without tag/digest."""
    base = image_name.rsplit("/", 1)[-1]
    base = base.split("@", 1)[0].split(":", 1)[0]
    return "" if base == "scratch" else base


# -- config edits (buildah config) ---------------------------------------------------------

_DURATIONS = {"ns": 1, "us": 1_000, "ms": 1_000_000, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}


def _duration(value: Any, what: str) -> int:
    """Seconds (int/float) or a Go duration string ("30s", "1m30s", "500ms") to ns."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return int(value * 10**9)
    if not isinstance(value, str) or not value:
        raise InvalidInput(f"config {what}: {value!r} is not a duration")
    total, num = 0, ""
    i = 0
    while i < len(value):
        ch = value[i]
        if ch.isdigit() or ch == ".":
            num += ch
            i += 1
            continue
        unit = next((u for u in ("ns", "us", "ms", "s", "m", "h") if value.startswith(u, i)), None)
        if unit is None or not num:
            raise InvalidInput(f"config {what}: {value!r} is not a duration (e.g. 30s, 1m30s)")
        total += int(float(num) * _DURATIONS[unit])
        num, i = "", i + len(unit)
    if num:
        raise InvalidInput(f"config {what}: {value!r} lacks a unit (e.g. 30s)")
    return total


def _strings(value: Any, what: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise InvalidInput(f"config {what}: expected a string or a list of strings")


def _command(value: Any, what: str) -> tuple[str, ...]:
    """A list is exec form; a string is shell form (`/bin/sh -c STRING`)."""
    if isinstance(value, str):
        return ("/bin/sh", "-c", value)
    return _strings(value, what)


def _pairs(value: Any, what: str) -> dict[str, str]:
    if isinstance(value, dict):
        return {str(k): str(v) for k, v in value.items()}
    out = {}
    for item in _strings(value, what):
        k, _, v = item.partition("=")
        if not k:
            raise InvalidInput(f"config {what}: {item!r} is not KEY=VALUE")
        out[k] = v
    return out


_UNSETTABLE = ("env", "label", "annotation", "port", "volume")


def apply_config(c: WorkingContainer, fields: dict[str, Any]) -> None:
    """Apply buildah-config edits to `c`: port, entrypoint, cmd (list: exec form; str:
    shell form), env and label (dict or KEY=VALUE list; merged), annotation, workingdir,
    user, volume, stop_signal, healthcheck (list, "NONE" disables) with healthcheck_interval
    / _timeout / _start_period / _start_interval (seconds or "30s") and _retries, shell,
    onbuild (appended), author, created_by, comment; unset_env / unset_label /
    unset_annotation / unset_port / unset_volume (names to remove). Unknown names raise
    InvalidInput. Fields are applied together: call once per field for ordered edits."""
    cfg = c.image_config()
    cc = cfg.config
    edits: dict[str, Any] = {}
    hc = cc.healthcheck or Healthcheck()
    hc_edits: dict[str, Any] = {}
    clear_hc = False
    author = cfg.author
    for key, value in fields.items():
        if key == "port":
            ports = list(cc.exposed_ports)
            for p in _strings(value, key):
                p = p if "/" in p else f"{p}/tcp"
                if p not in ports:
                    ports.append(p)
            edits["exposed_ports"] = tuple(ports)
        elif key in ("entrypoint", "cmd"):  # an empty list clears
            edits[key] = _command(value, key) or None
        elif key == "env":
            env = cc.env_dict()
            env.update(_pairs(value, key))
            edits["env"] = tuple(f"{k}={v}" for k, v in env.items())
        elif key == "label":
            edits["labels"] = {**(cc.labels or {}), **_pairs(value, key)}
        elif key == "annotation":
            c.annotations.update(_pairs(value, key))
        elif key in ("workingdir", "user", "stop_signal"):
            field_name = {"workingdir": "working_dir"}.get(key, key)
            edits[field_name] = _strings(value, key)[0]
        elif key == "volume":
            vols = list(cc.volumes)
            vols += [v for v in _strings(value, key) if v not in vols]
            edits["volumes"] = tuple(vols)
        elif key == "shell":
            edits["shell"] = _strings(value, key)
        elif key == "onbuild":
            edits["on_build"] = cc.on_build + _strings(value, key)
        elif key == "healthcheck":
            test = _strings(value, key)
            if not test:  # cleared, with its settings
                hc, hc_edits, clear_hc = Healthcheck(), {}, True
            else:
                hc_edits["test"], clear_hc = test, False
        elif key.startswith("healthcheck_") and key[12:] in (
            "interval",
            "timeout",
            "start_period",
            "start_interval",
        ):
            hc_edits[key[12:]] = _duration(value, key)
        elif key == "healthcheck_retries":
            hc_edits["retries"] = int(value)
        elif key.startswith("unset_") and key[6:] in _UNSETTABLE:
            names = set(_strings(value, key))
            what = key[6:]
            if what == "env":
                edits["env"] = tuple(e for e in cc.env if e.partition("=")[0] not in names)
            elif what == "label":
                edits["labels"] = {k: v for k, v in (cc.labels or {}).items() if k not in names}
            elif what == "annotation":
                for n in names:
                    c.annotations.pop(n, None)
            elif what == "port":
                names |= {n if "/" in n else f"{n}/tcp" for n in names}
                edits["exposed_ports"] = tuple(p for p in cc.exposed_ports if p not in names)
            else:
                edits["volumes"] = tuple(v for v in cc.volumes if v not in names)
        elif key == "author":
            author = str(value)
        elif key == "created_by":
            c.created_by = str(value)
        elif key == "comment":
            c.comment = str(value)
        else:
            raise InvalidInput(f"config: unknown setting {key!r}")
    if hc_edits:
        edits["healthcheck"] = replace(hc, **hc_edits)
    elif clear_hc:
        edits["healthcheck"] = None
    c.set_image_config(cfg.evolve(config=replace(cc, **edits), author=author))
