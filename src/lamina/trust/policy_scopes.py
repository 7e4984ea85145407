"""Policy scopes per transport, as containers/image defines them.

For an image, `lookup_order(transport, text)` gives the scopes tried in order, most specific
first: the transport's identity for the image, then its namespaces; the caller then tries the
transport's `""` scope, then `default`.

- `docker`, `atomic`, `lamina`: `host[:port]/repo:tag` (or `@digest`), then `host[:port]/repo`,
  each parent namespace, `host[:port]`, then `*.domain` wildcards of the host (port dropped):
  `a.example.com` gives `*.example.com`, `*.com`.
- `dir`, `oci`, `oci-archive`: the absolute path (the `oci` image name is not part of it),
  then each parent directory except `/`.
- `containers-storage`: `[driver@root+runroot]name:tag`, `[driver@root]name`, … `[root]`.
- `docker-daemon`, `docker-archive`: only `""`.
"""

from __future__ import annotations

import os
import re

from lamina.errors import InvalidInput
from lamina.reference import Reference

DOCKER_LIKE = ("docker", "atomic", "lamina")
PATH_BASED = ("dir", "oci", "oci-archive")
DEFAULT_ONLY = ("docker-daemon", "docker-archive")
STORAGE = "containers-storage"
KNOWN_TRANSPORTS = (*DOCKER_LIKE, *PATH_BASED, *DEFAULT_ONLY, STORAGE)

_WILDCARD = r"^\*\.(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)*[A-Za-z0-9-]+$"
_ATOMIC_SCOPE = r"^[^/]*(?:/[^:/]*(?:/[^:/]*(?::[^:/]*)?)?)?$"
_STORAGE_SCOPE = r"^\[(?:[^@\]+]+@)?/[^\]+]*(?:\+[^\]]*)?\](.*)$"


def scope_error(transport: str, scope: str) -> str | None:
    """Why `scope` cannot be a scope of `transport` (None when it can). `""` is always valid;
    scopes of transports lamina does not know are accepted unchecked, as containers/image
    does."""
    if scope == "":
        return None
    if transport in PATH_BASED:
        if not scope.startswith("/"):
            return "must be an absolute path"
        if scope == "/":
            return 'use the transport\'s default scope "" instead of "/"'
        cleaned = os.path.normpath(scope)
        if cleaned != scope:
            return f"is not in canonical form, perhaps {cleaned!r}"
        return None
    if transport in DEFAULT_ONLY:
        return f'{transport} supports no scopes except the default ""'
    if transport == STORAGE:
        return None if re.match(_STORAGE_SCOPE, scope) else "expected [driver@/graph/root]NAME"
    if transport == "atomic" and not re.match(_ATOMIC_SCOPE, scope):
        return "expected host[/namespace[/stream[:tag]]]"
    if scope.startswith("*"):
        return None if re.match(_WILDCARD, scope) else "a wildcard must look like *.example.com"
    return None


def docker_namespaces(ref: Reference) -> list[str]:
    """The repository, its parent namespaces, the host, then the host's `*.` wildcards."""
    out: list[str] = []
    name = ref.name
    while True:
        out.append(name)
        slash = name.rfind("/")
        if slash == -1:
            break
        name = name[:slash]
    host = name.split(":", 1)[0] if not name.startswith("[") else name
    while "." in host:
        host = host.split(".", 1)[1]
        out.append("*." + host)
    return out


def docker_identity(ref: Reference) -> str:
    return str(ref)


def path_namespaces(path: str) -> list[str]:
    out: list[str] = []
    while True:
        slash = path.rfind("/")
        if slash <= 0:
            break
        path = path[:slash]
        out.append(path)
    return out


def _resolve(path: str) -> str:
    return os.path.realpath(os.path.abspath(path))


def lookup_order(transport: str, text: str) -> list[str]:
    """Scopes to try for an image named `text` (the part after `transport:`), most specific
    first, without `""`. Raises InvalidInput if `text` is not a valid name for `transport`."""
    if transport in DOCKER_LIKE:
        body = text.removeprefix("//") if transport == "docker" else text
        if transport == "lamina" and Reference.is_image_id(body):
            return [body]
        ref = Reference.parse(body)
        return [docker_identity(ref), *docker_namespaces(ref)]
    if transport in ("oci", "oci-archive"):
        path = _resolve(text.partition(":")[0])
        return [path, *path_namespaces(path)]
    if transport == "dir":
        path = _resolve(text)
        return [path, *path_namespaces(path)]
    if transport == STORAGE:
        return _storage_order(text)
    return []


def _storage_order(text: str) -> list[str]:
    match = re.match(r"^\[([^\]]*)\](.*)$", text)
    if match is None:
        raise InvalidInput(f"containers-storage reference {text!r}: expected [driver@root]NAME")
    spec, rest = match.group(1), match.group(2)
    driver_root = spec.split("+", 1)[0]
    root = driver_root.split("@", 1)[-1]
    store, bare = f"[{driver_root}]", f"[{root}]"
    out: list[str] = []
    name_text, _, image_id = (
        rest.partition("@") if rest and "@sha256:" not in rest else (rest, "", "")
    )
    if name_text:
        ref = Reference.parse(name_text)
        identity = store + str(ref) + (f"@{image_id}" if image_id else "")
        out.append(identity)
        if image_id:
            out.append(store + str(ref))
        if ref.tag is not None and ref.digest is not None:
            out.append(f"{store}{ref.name}:{ref.tag}")
        components = ref.name.split("/")
        while components:
            out.append(store + "/".join(components))
            components.pop()
    elif image_id:
        out.append(f"{store}@{image_id}")
    out.extend([store, bare])
    return list(dict.fromkeys(out))
