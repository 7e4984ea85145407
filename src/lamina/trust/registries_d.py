"""registries.d: where simple signatures of registry images live ("lookaside" storage).

Every `*.yaml` file of the directory is merged; a scope (or `default-docker`) defined twice
is an error naming both files. Each entry may set `lookaside`, `lookaside-staging` (legacy
spellings `sigstore`, `sigstore-staging`) and `use-sigstore-attachments`. Precedence is per
field, as containers/image does it: the image's exact reference, then its namespaces (as
in policy scopes), then `default-docker`; the first scope that sets the field wins. For
writing, a `*-staging` URL of a scope is preferred over the same scope's read URL.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lamina import yamlfile
from lamina.errors import InvalidInput
from lamina.reference import Reference
from lamina.trust.policy_scopes import docker_identity, docker_namespaces

SYSTEM_DIR = Path("/etc/containers/registries.d")
USER_DIR = Path(".config/containers/registries.d")

_FIELDS = (
    "lookaside",
    "lookaside-staging",
    "sigstore",
    "sigstore-staging",
    "use-sigstore-attachments",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Namespace:
    lookaside: str | None = None
    lookaside_staging: str | None = None
    use_sigstore_attachments: bool | None = None

    def top_level(self, write: bool) -> str | None:
        if write and self.lookaside_staging:
            return self.lookaside_staging
        return self.lookaside or None


@dataclass(frozen=True, slots=True, kw_only=True)
class RegistriesD:
    default: Namespace | None = None
    docker: dict[str, Namespace] = field(default_factory=dict)

    @staticmethod
    def load(directory: str | os.PathLike[str]) -> RegistriesD:
        root = Path(directory)
        default: Namespace | None = None
        default_from = ""
        docker: dict[str, Namespace] = {}
        origin: dict[str, str] = {}
        if not root.is_dir():
            return RegistriesD()
        for path in sorted(root.glob("*.yaml")):
            doc = _load_yaml(path)
            for key in doc:
                if key not in ("default-docker", "docker"):
                    raise InvalidInput(f"{path}: unknown field {key!r}")
            if doc.get("default-docker") is not None:
                if default is not None:
                    raise InvalidInput(f"{path}: default-docker is also defined in {default_from}")
                default, default_from = (
                    _namespace(doc["default-docker"], f"{path}: default-docker"),
                    str(path),
                )
            scopes = doc.get("docker") or {}
            if not isinstance(scopes, dict):
                raise InvalidInput(f"{path}: docker must be a mapping of scopes")
            for scope, value in scopes.items():
                if scope in docker:
                    raise InvalidInput(
                        f"{path}: docker scope {scope!r} is also defined in {origin[scope]}"
                    )
                docker[str(scope)] = _namespace(value, f"{path}: docker[{scope!r}]")
                origin[str(scope)] = str(path)
        return RegistriesD(default=default, docker=docker)

    def _chain(self, ref: Reference) -> list[Namespace]:
        names = [docker_identity(ref), *docker_namespaces(ref)]
        chain = [self.docker[n] for n in names if n in self.docker]
        if self.default is not None:
            chain.append(self.default)
        return chain

    def lookaside_url(self, ref: Reference, *, write: bool = False) -> str | None:
        """The base URL of `ref`'s lookaside storage (None when none is configured)."""
        for ns in self._chain(ref):
            url = ns.top_level(write)
            if url:
                return url
        return None

    def use_sigstore_attachments(self, ref: Reference) -> bool:
        for ns in self._chain(ref):
            if ns.use_sigstore_attachments is not None:
                return ns.use_sigstore_attachments
        return False


def _load_yaml(path: Path) -> dict[str, Any]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot read YAML: {str(exc).splitlines()[0]}") from None
    doc = yamlfile.load(data, path)
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise InvalidInput(f"{path}: expected a mapping at the top level")
    return doc


def _namespace(value: Any, where: str) -> Namespace:
    if value is None:
        return Namespace()
    if not isinstance(value, dict):
        raise InvalidInput(f"{where}: expected a mapping")
    for key in value:
        if key not in _FIELDS:
            raise InvalidInput(f"{where}: unknown field {key!r}")
    for new, old in (("lookaside", "sigstore"), ("lookaside-staging", "sigstore-staging")):
        if value.get(new) and value.get(old):
            raise InvalidInput(f"{where}: both {new} and its legacy name {old} are set")
    attach = value.get("use-sigstore-attachments")
    if attach is not None and not isinstance(attach, bool):
        raise InvalidInput(f"{where}: use-sigstore-attachments must be true or false")
    return Namespace(
        lookaside=value.get("lookaside") or value.get("sigstore"),
        lookaside_staging=value.get("lookaside-staging") or value.get("sigstore-staging"),
        use_sigstore_attachments=attach,
    )


def default_registries_d(home: str | None = None) -> Path:
    """The user's registries.d if it exists, else the system one."""
    home_dir = home if home is not None else os.environ.get("HOME") or str(Path.home())
    user = Path(home_dir) / USER_DIR
    return user if user.is_dir() else SYSTEM_DIR
