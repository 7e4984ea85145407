"""registry:2 (Distribution) compatibility of the registry's configuration: the `REGISTRY_*`
environment overrides, and a word for every key lamina does not support.

Distribution's rule: `REGISTRY_` + the config path upper-cased, `_` between levels, sets that
key (`REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY` → storage.filesystem.rootdirectory). A value
for a section that chooses one driver (`REGISTRY_AUTH=htpasswd`, `REGISTRY_STORAGE=filesystem`)
replaces the section by that driver's empty one; shorter names apply first, so
`REGISTRY_AUTH_HTPASSWD_PATH` then fills it in.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping
from typing import Any

from lamina.errors import InvalidInput

log = logging.getLogger("lamina.server")

ENV_PREFIX = "REGISTRY_"
# containers' (podman, skopeo, lamina's own client) credentials file: not a registry setting
_NOT_CONFIG = frozenset({"REGISTRY_AUTH_FILE"})
_CHOICE = frozenset({("auth",), ("storage",)})
# ignoring an unknown key under these would serve without the auth or TLS that was asked for
_REFUSED = (("auth",), ("http", "tls"))

_LEAF: dict[str, Any] = {}
KNOWN: dict[str, Any] = {
    "version": _LEAF,
    "log": {"accesslog": {"disabled": _LEAF}},
    "http": {
        "addr": _LEAF,
        "tls": {"certificate": _LEAF, "key": _LEAF},
        "workers": _LEAF,
        "accesslog": {"disabled": _LEAF, "path": _LEAF},
        "metrics": _LEAF,
        "shutdowntimeout": _LEAF,
        "timeouts": {"header": _LEAF, "body": _LEAF},
        "maxconnections": _LEAF,
    },
    "storage": {
        "rootdirectory": _LEAF,
        "readonly": _LEAF,
        "filesystem": {"rootdirectory": _LEAF},
        "delete": {"enabled": _LEAF},
        "maintenance": {
            "readonly": {"enabled": _LEAF},
            "uploadpurging": {"age": _LEAF, "interval": _LEAF},
        },
    },
    "auth": {
        "htpasswd": {"realm": _LEAF, "path": _LEAF},
        "token": dict.fromkeys(
            ("access", "key", "realm", "service", "issuer", "expiry", "refreshexpiry"), _LEAF
        ),
        "throttle": {"attempts": _LEAF, "window": _LEAF},
    },
    "uploads": {"expiry": _LEAF, "purgeinterval": _LEAF},
    "gc": {"grace": _LEAF},
}


def _scalar(text: str) -> object:
    """An environment value as Distribution's YAML reading would type it, where it matters
    to lamina: true/false are booleans; the rest stays text (fields convert it)."""
    low = text.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    return text


def overlay_environment(
    doc: dict[str, Any], environ: Mapping[str, str]
) -> tuple[dict[str, Any], dict[tuple[str, ...], str]]:
    """`doc` with every `REGISTRY_*` variable of `environ` applied (a new dict), and which
    variable set each path (for messages). `REGISTRY_AUTH_FILE` is not a registry setting
    and is left alone."""
    out = copy.deepcopy(doc)
    origin: dict[tuple[str, ...], str] = {}
    names = [
        n for n in environ if n.startswith(ENV_PREFIX) and n not in _NOT_CONFIG and n != ENV_PREFIX
    ]
    for name in sorted(names, key=lambda n: (n.count("_"), n)):
        path = tuple(name[len(ENV_PREFIX) :].lower().split("_"))
        if not all(path):
            raise InvalidInput(f"{name}: not a config path (empty level between '_')")
        node = out
        for part in path[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        value = _scalar(environ[name])
        if path in _CHOICE and isinstance(value, str) and value:
            node[path[-1]] = {value.lower(): {}}
            origin[(*path, value.lower())] = name
        else:
            node[path[-1]] = value
        origin[path] = name
    return out, origin


def _unknown(
    doc: Mapping[Any, Any], known: Mapping[str, Any], at: tuple[str, ...]
) -> list[tuple[str, ...]]:
    found: list[tuple[str, ...]] = []
    for key, value in doc.items():
        path = (*at, str(key))
        if str(key) not in known:
            found.append(path)
        elif isinstance(value, dict) and known[str(key)]:
            found.extend(_unknown(value, known[str(key)], path))
    return found


def _source(path: tuple[str, ...], where: str, origin: Mapping[tuple[str, ...], str]) -> str:
    """Who set `path`: the variables that set it or a key below it, else one above, else
    the file."""
    below = sorted((name, p) for p, name in origin.items() if p[: len(path)] == path)
    above = sorted((name, p) for p, name in origin.items() if path[: len(p)] == p)
    if below:
        return ", ".join(f"{name} ({'.'.join(p)})" for name, p in below)
    if above:
        return f"{above[0][0]} ({'.'.join(path)})"
    return f"{where}: {'.'.join(path)}"


def check_keys(doc: Mapping[str, Any], where: str, origin: Mapping[tuple[str, ...], str]) -> None:
    """Warn (logger `lamina.server`) naming each key lamina does not support, or the
    `REGISTRY_*` variable that set it; an unsupported key under `auth` or `http.tls` is
    refused (InvalidInput): ignoring it would serve without what it asked for."""
    for path in _unknown(doc, KNOWN, ()):
        source = _source(path, where, origin)
        if any(path[: len(p)] == p for p in _REFUSED):
            raise InvalidInput(
                f"{source} is not supported by lamina's registry (auth: htpasswd or token; "
                "TLS: certificate and key); remove it or configure a supported one"
            )
        log.warning("warning: %s is not supported by lamina's registry; ignored", source)
