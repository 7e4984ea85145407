"""Working containers with buildah's verbs: from, containers, rm, mount, umount, run, copy,
add, config, inspect, commit, unshare. Strings in (as a user types them), `Builder`s and
plain values out; the CLI only parses flags and prints.
"""

from __future__ import annotations

import errno
import json
import os
import shlex
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from lamina.building.base_image import base_image, check_policy
from lamina.building.builder import Builder, containers
from lamina.building.container import Containers, WorkingContainer
from lamina.building.isolation.network import check_all
from lamina.errors import BuildError, InvalidInput, LaminaError, NotFound
from lamina.ops.build import from_puller
from lamina.store import Store, StoredImage
from lamina.transports.registry.options import RegistryOptions


def create(
    store: Store,
    image: str,
    *,
    name: str | None = None,
    pull: str = "missing",
    network: str | None = None,
    dns: Sequence[str] = (),
    add_hosts: Sequence[str] = (),
    registry: RegistryOptions | None = None,
) -> Builder:
    """`buildah from`: a new working container from `image` (name, ID or "scratch");
    `network`, `dns` and `add_hosts` are its `run`'s defaults; a pull uses `registry`'s
    credentials, auth file, certificates and TLS choice.

    `pull`: "never" (NotFound if absent), "missing" (pull if absent), "always" (a failing
    pull is raised, not answered with the local image): `lamina.building.base_image`, as a
    build's FROM."""
    check_policy(pull)
    check_all(network or "private", dns, add_hosts)
    if image != "scratch":
        image_id = base_image(store, image, pull, from_puller(store, registry))
        image = _name_for(store, image, image_id)
    return Builder.from_image(
        store, image, name=name, network=network, dns=dns, add_hosts=add_hosts
    )


def _name_for(store: Store, image: str, image_id: str) -> str:
    """`image` when it names the image `image_id` in `store`; else (a short name pulled under
    its full one) that image's first name, or its ID."""
    try:
        if store.lookup(image).id == image_id:
            return image
    except NotFound:
        pass
    names = store.get(image_id).names
    return names[0] if names else image_id


def _image_name(store: Store, c: WorkingContainer) -> str:
    if c.image_id is None:
        return "scratch"
    try:
        names = store.get(c.image_id).names
    except NotFound:
        return c.image_name
    return names[0] if names else c.image_name


def listing(store: Store) -> list[dict[str, Any]]:
    """`buildah containers --json`: id, builder, imageid, imagename, containername."""
    return [
        {
            "id": c.id,
            "builder": True,
            "imageid": c.image_id or "",
            "imagename": _image_name(store, c),
            "containername": c.name,
        }
        for c in containers(store)
    ]


def remove(store: Store, names: Sequence[str], *, all: bool = False) -> list[str]:
    """Remove working containers (unmounting them); their IDs. Every name is checked
    before any container is removed."""
    if all:
        found = [Builder(store, c) for c in containers(store)]
    else:
        if not names:
            raise InvalidInput("rm: name at least one container, or pass --all")
        found = [Builder.load(store, n) for n in names]
    out = []
    for b in found:
        b.remove()
        out.append(b.record.id)
    return out


def mount(store: Store, name: str) -> Path:
    return Builder.load(store, name).mount()


def umount(store: Store, name: str) -> None:
    Builder.load(store, name).umount()


def run(
    store: Store,
    name: str,
    argv: Sequence[str],
    *,
    isolation: str | None = None,
    network: str | None = None,
    dns: Sequence[str] = (),
    add_hosts: Sequence[str] = (),
    volumes: Sequence[str] = (),
    mounts: Sequence[str] = (),
    env: Sequence[str] = (),
    user: str | None = None,
    workdir: str | None = None,
    stdin: int | IO[Any] | None = None,
    timeout: float | None = None,
) -> int:
    """`buildah run`: the command's exit code; stdout/stderr are inherited. `network`
    None: the container's (`create`), else private."""
    if network is not None:
        check_all(network, dns, add_hosts)
    for e in env:
        if "=" not in e or e.startswith("="):
            raise InvalidInput(f"run: --env {e!r} is not KEY=VALUE")
    b = Builder.load(store, name)
    try:
        code = b.run(
            argv,
            isolation=isolation,
            network=network,
            dns=dns,
            add_hosts=add_hosts,
            volumes=volumes,
            mounts=mounts,
            env=env,
            user=user,
            workdir=workdir,
            stdin=stdin,
            timeout=timeout,
        )
    except OSError as exc:
        raise _io_error(f"running {argv[0]} in {name}", exc, store) from None
    if code != 0 and _nearly_full(b.dir):
        # The runtime's own message ("unable to store init state") would not say why.
        raise BuildError(
            f"running {argv[0]} in {name}: exit code {code}, and the file system holding "
            f"{store.root} is full",
            hint="free space there, or use --root on a larger file system",
        )
    return code


def _nearly_full(path: Path) -> bool:
    try:
        st = os.statvfs(path)
    except OSError:
        return False
    return st.f_bavail * st.f_frsize < 1 << 20


def copy(
    store: Store,
    name: str,
    srcs: Sequence[str],
    dest: str,
    *,
    chown: str | None = None,
    chmod: str | None = None,
    add: bool = False,
) -> list[str]:
    """`buildah copy` (and `add`, which also extracts local archives)."""
    for s in srcs:
        if "://" in s:
            raise InvalidInput(f"{'add' if add else 'copy'}: {s}: URLs are not supported")
    b = Builder.load(store, name)
    try:
        return b.copy(srcs, dest, chown=chown, chmod=chmod, extract_archives=add)
    except OSError as exc:
        raise _io_error(f"copying into {name}", exc, store) from None


# -- config: buildah's flag syntaxes ---------------------------------------------------------


@dataclass(kw_only=True)
class ConfigFlags:
    """`buildah config` flags as typed (None / empty: not given)."""

    author: str | None = None
    created_by: str | None = None
    comment: str | None = None
    user: str | None = None
    workingdir: str | None = None
    stop_signal: str | None = None
    entrypoint: str | None = None
    cmd: str | None = None
    shell: str | None = None
    port: Sequence[str] = ()
    env: Sequence[str] = ()
    label: Sequence[str] = ()
    annotation: Sequence[str] = ()
    volume: Sequence[str] = ()
    onbuild: Sequence[str] = ()
    healthcheck: str | None = None
    healthcheck_interval: str | None = None
    healthcheck_timeout: str | None = None
    healthcheck_start_period: str | None = None
    healthcheck_start_interval: str | None = None
    healthcheck_retries: int | None = None


def _json_array(value: str) -> list[str] | None:
    """`value` as a JSON array of strings, else None."""
    text = value.strip()
    if not text.startswith("["):
        return None
    try:
        parsed = json.loads(text)
    except ValueError:
        return None
    if isinstance(parsed, list) and all(isinstance(x, str) for x in parsed):
        return parsed
    return None


def _words(value: str, what: str) -> list[str]:
    """A JSON array of strings, else shell words."""
    parsed = _json_array(value)
    if parsed is not None:
        return parsed
    try:
        return shlex.split(value)
    except ValueError as exc:
        raise InvalidInput(f"config --{what} {value!r}: {exc}") from None


def _json_or_shell(value: str) -> list[str] | str:
    """Entrypoint: a JSON array is exec form; any other string is shell form."""
    parsed = _json_array(value)
    if parsed is not None:
        return parsed
    return value


def _keyed(
    key: str, items: Sequence[str], current: Sequence[str], *, from_env: bool = False
) -> list[tuple[str, Any]]:
    """KEY=VALUE sets, KEY- removes, "-" removes all; a bare KEY is "" (env: the host's)."""
    steps: list[tuple[str, Any]] = []
    for item in items:
        if item == "-":
            steps.append((f"unset_{key}", list(current)))
        elif item.endswith("-") and "=" not in item:
            steps.append((f"unset_{key}", [item[:-1]]))
        elif "=" in item:
            k, _, v = item.partition("=")
            if not k:
                raise InvalidInput(f"config --{key} {item!r}: the key is empty")
            steps.append((key, {k: v}))
        else:
            steps.append((key, {item: os.environ.get(item, "") if from_env else ""}))
    return steps


def _listed(key: str, items: Sequence[str], current: Sequence[str]) -> list[tuple[str, Any]]:
    steps: list[tuple[str, Any]] = []
    for item in items:
        if item == "-":
            steps.append((f"unset_{key}", list(current)))
        elif item.endswith("-"):
            steps.append((f"unset_{key}", [item[:-1]]))
        else:
            steps.append((key, [item]))
    return steps


def _healthcheck(value: str) -> list[str]:
    if not value.strip():
        return []
    words = _words(value, "healthcheck")
    if value.strip().startswith("["):
        return words
    kind = words[0].upper()
    if kind == "NONE":
        return ["NONE"]
    if kind == "CMD-SHELL":
        return ["CMD-SHELL", value.strip()[len(words[0]) :].strip()]
    if kind == "CMD":
        return ["CMD", *words[1:]]
    return ["CMD-SHELL", value.strip()]


def config_steps(flags: ConfigFlags, current: WorkingContainer) -> list[tuple[str, Any]]:
    """The ordered `apply_config` edits that `flags` ask for."""
    cc = current.image_config().config
    steps: list[tuple[str, Any]] = []
    for key in ("author", "created_by", "comment", "user", "workingdir", "stop_signal"):
        value = getattr(flags, key)
        if value is not None:
            steps.append((key, value))
    if flags.shell is not None:
        steps.append(("shell", _words(flags.shell, "shell")))
    if flags.entrypoint is not None:
        ep = flags.entrypoint
        steps.append(("entrypoint", [] if not ep.strip() else _json_or_shell(ep)))
    if flags.cmd is not None:
        steps.append(("cmd", [] if not flags.cmd.strip() else _words(flags.cmd, "cmd")))
    steps += _listed("port", flags.port, cc.exposed_ports)
    steps += _listed("volume", flags.volume, cc.volumes)
    steps += _keyed("env", flags.env, list(cc.env_dict()), from_env=True)
    steps += _keyed("label", flags.label, list(cc.labels or {}))
    steps += _keyed("annotation", flags.annotation, list(current.annotations))
    if flags.onbuild:
        steps.append(("onbuild", list(flags.onbuild)))
    if flags.healthcheck is not None:
        steps.append(("healthcheck", _healthcheck(flags.healthcheck)))
    for part in ("interval", "timeout", "start_period", "start_interval"):
        value = getattr(flags, f"healthcheck_{part}")
        if value is not None:
            steps.append((f"healthcheck_{part}", value))
    if flags.healthcheck_retries is not None:
        steps.append(("healthcheck_retries", flags.healthcheck_retries))
    return steps


def configure(store: Store, name: str, flags: ConfigFlags) -> Builder:
    """`buildah config`: apply `flags` to the pending config of container `name`."""
    b = Builder.load(store, name)
    b.configure(config_steps(flags, b.record))
    return b


def inspect(store: Store, name: str) -> dict[str, Any]:
    """A buildah-style description of a working container, with its pending config."""
    c = Builder.load(store, name).record
    cfg = c.image_config()
    merged = Containers(store.root).workdir(c.id) / ("rootfs" if c.mode == "copy" else "merged")
    return {
        "Type": "buildah 0.0.1",
        "FromImage": _image_name(store, c),
        "FromImageID": c.image_id or "",
        "Container": c.name,
        "ContainerID": c.id,
        "Created": c.created,
        "MountPoint": str(merged) if c.mounted else "",
        "RootfsMode": c.mode,
        "ManifestType": c.manifest_type,
        "ImageAnnotations": dict(c.annotations),
        "ImageCreatedBy": c.created_by or "",
        "Comment": c.comment or "",
        "OCIv1": json.loads(cfg.raw),
        "Config": cfg.config.to_json(),
    }


def is_container(store: Store, name: str) -> bool:
    try:
        Builder.load(store, name)
    except (NotFound, LaminaError):
        return False
    return True


def commit(
    store: Store,
    name: str,
    image: str | None,
    *,
    format: str = "oci",
    squash: bool = False,
    rm: bool = False,
    timestamp: int | None = None,
) -> StoredImage:
    """`buildah commit`: the new image (named `image`, or dangling)."""
    b = Builder.load(store, name)
    try:
        return b.commit(image, format=format, squash=squash, rm=rm, timestamp=timestamp)
    except OSError as exc:
        raise _io_error(f"committing {name}", exc, store) from None


def _io_error(what: str, exc: OSError, store: Store) -> LaminaError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return BuildError(
            f"{what}: no space left on the device holding {store.root}",
            hint="free space there (the container keeps what was written; `lamina rm` it), "
            "or use --root on a larger file system",
        )
    return BuildError(f"{what}: {exc.strerror or exc}")


# -- unshare ---------------------------------------------------------------------------------


def _has_subids(user: str, uid: int) -> bool:
    for kind in ("uid", "gid"):
        try:
            lines = Path(f"/etc/sub{kind}").read_text().splitlines()
        except OSError:
            return False
        if not any(line.split(":", 1)[0] in (user, str(uid)) for line in lines):
            return False
    return True


def unshare_command(cmd: Sequence[str], store_root: Path) -> tuple[list[str], dict[str, str]]:
    """`buildah unshare`: the argv and environment that run `cmd` (default: the user's
    shell) where mounting works and files keep their owners. Root: `cmd` as is. Others: a
    new user+mount namespace mapping the user to root and, when /etc/subuid and
    /etc/subgid grant ranges, those ranges to 1…N; `LAMINA_ROOT` keeps the user's store."""
    argv = list(cmd) or [os.environ.get("SHELL") or "/bin/sh"]
    env = dict(os.environ)
    if os.geteuid() == 0:
        return argv, env
    unshare = shutil.which("unshare")
    if unshare is None:
        raise BuildError("unshare: unshare(1) from util-linux is not installed")
    import pwd

    uid = os.geteuid()
    try:
        user = pwd.getpwuid(uid).pw_name
    except KeyError:
        user = str(uid)
    maps = ["--map-root-user"]
    if _has_subids(user, uid):
        maps.append("--map-auto")
    env["LAMINA_ROOT"] = str(store_root)
    env["LAMINA_UNSHARED"] = "1"
    return [unshare, "--user", *maps, "--mount", "--propagation", "private", "--", *argv], env


def unshare(cmd: Sequence[str], store_root: Path) -> int:
    """Run `cmd` as `unshare_command` says; its exit code."""
    argv, env = unshare_command(cmd, store_root)
    try:
        return subprocess.run(argv, env=env, check=False).returncode
    except FileNotFoundError:
        raise NotFound(f"unshare: {argv[0]}: command not found") from None
