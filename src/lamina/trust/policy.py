"""containers-policy.json(5): read, look up, write.

`Policy.parse(raw)` is strict (see `policy_parse`); `Policy.load(path)` reads a file;
`find_policy_path()` applies the lookup order podman and skopeo use (`--policy`, then
`$HOME/.config/containers/policy.json`, then `/etc/containers/policy.json`).
`Policy.dumps()` writes the JSON podman's `image trust set` writes (4-space indent, map keys
sorted), so `lamina trust set/show` and podman edit the same file.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lamina.errors import InvalidInput, NotFound
from lamina.trust.policy_parse import load_json, obj, parse_requirements
from lamina.trust.policy_scopes import lookup_order, scope_error
from lamina.trust.requirements import Requirement

SYSTEM_POLICY_PATH = Path("/etc/containers/policy.json")
USER_POLICY_PATH = Path(".config/containers/policy.json")

Requirements = tuple[Requirement, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Policy:
    """A parsed policy. `transports` maps transport name → scope → requirements; treat it as
    read-only (use `with_scope` for a changed copy)."""

    default: Requirements
    transports: dict[str, dict[str, Requirements]] = field(default_factory=dict)

    @staticmethod
    def parse(raw: bytes, what: str = "policy.json") -> Policy:
        top = obj(load_json(raw, what), "", what, ("default", "transports"))
        if "default" not in top:
            raise InvalidInput(f"{what}: field 'default' is missing")
        default = parse_requirements(top["default"], "default", what)
        transports: dict[str, dict[str, Requirements]] = {}
        if "transports" in top:
            for name, scopes_value in obj(top["transports"], "transports", what, None).items():
                tpath = f"transports.{name}" if name.isidentifier() else f"transports[{name!r}]"
                scopes: dict[str, Requirements] = {}
                for scope, reqs in obj(scopes_value, tpath, what, None).items():
                    spath = f"{tpath}[{json.dumps(scope)}]"
                    why = scope_error(name, scope)
                    if why is not None:
                        raise InvalidInput(f"{what}: {spath}: invalid {name} scope: {why}")
                    scopes[scope] = parse_requirements(reqs, spath, what)
                transports[name] = scopes
        return Policy(default=default, transports=transports)

    @staticmethod
    def load(path: str | os.PathLike[str]) -> Policy:
        p = Path(path)
        try:
            raw = p.read_bytes()
        except FileNotFoundError:
            raise NotFound(f"policy file {p} does not exist") from None
        except OSError as exc:
            raise InvalidInput(f"policy file {p}: {exc.strerror}") from None
        return Policy.parse(raw, str(p))

    def requirements_for(self, transport: str, text: str) -> tuple[str, Requirements]:
        """The scope that applies to the image `transport:text` and its requirements
        (`default` is reported as the scope name `default`)."""
        scopes = self.transports.get(transport)
        if scopes is not None:
            for scope in lookup_order(transport, text):
                if scope in scopes:
                    return scope, scopes[scope]
            if "" in scopes:
                return "", scopes[""]
        return "default", self.default

    def with_scope(self, transport: str, scope: str, reqs: Requirements | None) -> Policy:
        """A copy with `transport`/`scope` set to `reqs` (removed when None). The scope
        `default` with transport "" sets the default requirements."""
        if transport == "" and scope == "default":
            if not reqs:
                raise InvalidInput("the default requirements cannot be removed or empty")
            return Policy(default=reqs, transports=self.transports)
        why = scope_error(transport, scope)
        if why is not None:
            raise InvalidInput(f"invalid {transport} scope {scope!r}: {why}")
        transports = {k: dict(v) for k, v in self.transports.items()}
        scopes = transports.setdefault(transport, {})
        if reqs is None:
            scopes.pop(scope, None)
            if not scopes:
                del transports[transport]
        else:
            if not reqs:
                raise InvalidInput(f"{transport} scope {scope!r}: requirements must not be empty")
            scopes[scope] = reqs
        return Policy(default=self.default, transports=transports)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"default": [r.to_json() for r in self.default]}
        if self.transports:
            out["transports"] = {
                name: {scope: [r.to_json() for r in reqs] for scope, reqs in sorted(s.items())}
                for name, s in sorted(self.transports.items())
            }
        return out

    def dumps(self) -> bytes:
        """As Go's json.MarshalIndent(policy, "", "    ") writes it, with a final newline."""
        text = json.dumps(self.to_json(), indent=4, ensure_ascii=False)
        text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
        return text.encode() + b"\n"


def find_policy_path(explicit: str | None = None, *, home: str | None = None) -> Path:
    """The policy file to use: `explicit`, else the user's, else the system one."""
    if explicit:
        return Path(explicit)
    home_dir = home if home is not None else os.environ.get("HOME") or str(Path.home())
    user = Path(home_dir) / USER_POLICY_PATH
    if user.exists():
        return user
    return SYSTEM_POLICY_PATH
