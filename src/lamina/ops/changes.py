"""`--change` instructions (as `podman import --change` and `buildah commit --change` take
them): a Dockerfile instruction applied to an image's container config."""

from __future__ import annotations

import shlex
from dataclasses import replace

from lamina.errors import InvalidInput
from lamina.oci import ContainerConfig

SUPPORTED = (
    "CMD",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "LABEL",
    "ONBUILD",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
)


def _argv(value: str, *, shell_form: bool = True) -> tuple[str, ...]:
    """Exec form (a JSON array, read as a Containerfile's) or shell form."""
    from lamina.building.containerfile.words import NotStringArray, json_array

    text = value.strip()
    try:
        parsed = json_array(text)
    except NotStringArray as exc:
        raise InvalidInput(f"--change {text}: {exc}") from None
    if parsed is not None:
        return parsed
    return ("/bin/sh", "-c", text) if shell_form else tuple(shlex.split(text))


def _pairs(value: str, what: str) -> list[tuple[str, str]]:
    """`k=v k2="v 2"` or the legacy `k v` form."""
    words = shlex.split(value)
    if not words:
        raise InvalidInput(f"--change {what}: needs at least one KEY=VALUE")
    if "=" not in words[0]:
        key, _, rest = value.strip().partition(" ")
        return [(key, rest.strip())]
    out = []
    for w in words:
        key, eq, val = w.partition("=")
        if not eq or not key:
            raise InvalidInput(f"--change {what}: {w!r} is not KEY=VALUE")
        out.append((key, val))
    return out


def apply_change(cfg: ContainerConfig, change: str) -> ContainerConfig:
    """Apply one instruction such as `CMD ["sh"]` or `ENV A=1`; raise InvalidInput naming it."""
    keyword, _, value = change.strip().partition(" ")
    kw = keyword.upper()
    value = value.strip()
    if kw not in SUPPORTED:
        raise InvalidInput(
            f"--change {change!r}: unsupported instruction {keyword!r}",
            hint=f"supported: {', '.join(SUPPORTED)}",
        )
    if not value:
        raise InvalidInput(f"--change {change!r}: {kw} needs a value")
    if kw == "CMD":
        return replace(cfg, cmd=_argv(value))
    if kw == "ENTRYPOINT":
        return replace(cfg, entrypoint=_argv(value))
    if kw == "ENV":
        env = dict(cfg.env_dict())
        for key, val in _pairs(value, "ENV"):
            env[key] = val
        return replace(cfg, env=tuple(f"{k}={v}" for k, v in env.items()))
    if kw == "LABEL":
        labels = dict(cfg.labels or {})
        labels.update(_pairs(value, "LABEL"))
        return replace(cfg, labels=labels)
    if kw == "EXPOSE":
        ports = list(cfg.exposed_ports)
        for p in value.split():
            port = p if "/" in p else f"{p}/tcp"
            if port not in ports:
                ports.append(port)
        return replace(cfg, exposed_ports=tuple(ports))
    if kw == "VOLUME":
        vols = list(cfg.volumes)
        for v in _argv(value, shell_form=False):
            if v not in vols:
                vols.append(v)
        return replace(cfg, volumes=tuple(vols))
    if kw == "USER":
        return replace(cfg, user=value)
    if kw == "WORKDIR":
        return replace(cfg, working_dir=value)
    if kw == "STOPSIGNAL":
        return replace(cfg, stop_signal=value)
    return replace(cfg, on_build=(*cfg.on_build, value))


def apply_changes(cfg: ContainerConfig, changes: list[str] | tuple[str, ...]) -> ContainerConfig:
    for change in changes:
        cfg = apply_change(cfg, change)
    return cfg
