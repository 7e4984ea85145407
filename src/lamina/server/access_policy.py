"""The token server's access file: who may do what to which repositories.

```yaml
htpasswd: htpasswd            # bcrypt users; relative to this file
groups:
  devs: [alice, bob]
rules:
  - repositories: ["team/**", "shared"]
    groups: [devs]
    actions: [pull, push]
  - repositories: ["**"]
    users: [admin]
    actions: ["*"]            # pull, push and delete
    catalog: true             # and GET /v2/_catalog
  - repositories: ["public/**"]
    anonymous: true           # no login needed
    actions: [pull]
```

Patterns: `*` matches within one path component, `**` across components, `?` one
character. `users: ["*"]` means every authenticated user. Grants of all matching rules add
up. The file is re-read when its mtime changes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lamina import yamlfile
from lamina.errors import InvalidInput
from lamina.server.auth import HtpasswdFile

ALL_ACTIONS = ("pull", "push", "delete")
_VALID_ACTIONS = {*ALL_ACTIONS, "*"}


def pattern_regex(pattern: str) -> re.Pattern[str]:
    """A repository glob as a regex: `**` crosses '/', `*` does not."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out))  # used with fullmatch


@dataclass(frozen=True, slots=True, kw_only=True)
class Rule:
    patterns: tuple[re.Pattern[str], ...]
    users: frozenset[str]
    groups: frozenset[str]
    anonymous: bool
    actions: frozenset[str]
    catalog: bool

    def applies(self, user: str | None, member_of: set[str]) -> bool:
        if user is None:
            return self.anonymous
        return "*" in self.users or user in self.users or bool(self.groups & member_of)


def _strings(value: object, where: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidInput(f"{where}: expected a list of strings")
    return list(value)


def _rule(raw: Any, where: str) -> Rule:
    if not isinstance(raw, dict):
        raise InvalidInput(f"{where}: a rule must be a mapping")
    unknown = set(raw) - {"repositories", "users", "groups", "anonymous", "actions", "catalog"}
    if unknown:
        raise InvalidInput(f"{where}: unknown keys {sorted(unknown)}")
    actions = set(_strings(raw.get("actions"), f"{where}.actions"))
    if actions - _VALID_ACTIONS:
        raise InvalidInput(f"{where}.actions: unknown {sorted(actions - _VALID_ACTIONS)}")
    if "*" in actions:
        actions = set(ALL_ACTIONS)
    return Rule(
        patterns=tuple(
            pattern_regex(p) for p in _strings(raw.get("repositories"), f"{where}.repositories")
        ),
        users=frozenset(_strings(raw.get("users"), f"{where}.users")),
        groups=frozenset(_strings(raw.get("groups"), f"{where}.groups")),
        anonymous=bool(raw.get("anonymous", False)),
        actions=frozenset(actions),
        catalog=bool(raw.get("catalog", False)),
    )


class AccessPolicy:
    """Users (an htpasswd file), groups and rules from an access file (see module doc)."""

    def __init__(self, path: Path, htpasswd: Path | None = None) -> None:
        self.path = path
        self._fallback_htpasswd = htpasswd
        self._mtime = -1.0
        self.users: HtpasswdFile | None = None
        self._groups: dict[str, set[str]] = {}
        self._rules: list[Rule] = []
        self._load()

    def _load(self) -> None:
        try:
            mtime = self.path.stat().st_mtime
            if mtime == self._mtime:
                return
            data = self.path.read_bytes()
        except OSError as exc:
            raise InvalidInput(f"access file {self.path}: {exc.strerror}") from None
        doc = yamlfile.load(data, f"access file {self.path}") or {}
        where = str(self.path)
        if not isinstance(doc, dict):
            raise InvalidInput(f"{where}: must be a mapping")
        htpasswd = doc.get("htpasswd")
        path = self.path.parent / str(htpasswd) if htpasswd else self._fallback_htpasswd
        if path is not None and not path.is_file():
            raise InvalidInput(f"{where}: htpasswd file {path} does not exist")
        groups_raw = doc.get("groups") or {}
        if not isinstance(groups_raw, dict):
            raise InvalidInput(f"{where}: 'groups' must map a group name to a list of users")
        member_of: dict[str, set[str]] = {}
        for group, members in groups_raw.items():
            for user in _strings(members, f"{where}: groups.{group}"):
                member_of.setdefault(user, set()).add(str(group))
        rules_raw = doc.get("rules") or []
        if not isinstance(rules_raw, list):
            raise InvalidInput(f"{where}: 'rules' must be a list")
        rules = [_rule(r, f"{where}: rules[{i}]") for i, r in enumerate(rules_raw)]
        if self.users is None or path != self.users.path:
            self.users = HtpasswdFile(path) if path is not None else None
        self._groups, self._rules, self._mtime = member_of, rules, mtime

    def check_password(self, user: str, password: str) -> bool:
        """Blocking (bcrypt on a cache miss)."""
        self._load()
        return self.users is not None and self.users.check(user, password)

    def user_exists(self, user: str) -> bool:
        self._load()
        return self.users is not None and self.users.has_user(user)

    def granted(self, user: str | None, type_: str, name: str, wanted: Iterable[str]) -> set[str]:
        """The subset of `wanted` actions that `user` (None: anonymous) may do on `name`."""
        self._load()
        member_of = self._groups.get(user, set()) if user is not None else set()
        rules = [r for r in self._rules if r.applies(user, member_of)]
        wanted = set(wanted)
        if type_ == "registry":
            ok = name == "catalog" and any(r.catalog for r in rules)
            return wanted & {"*"} if ok else set()
        if type_ != "repository":
            return set()
        if "*" in wanted:
            wanted = (wanted - {"*"}) | set(ALL_ACTIONS)
        out: set[str] = set()
        for rule in rules:
            if any(p.fullmatch(name) for p in rule.patterns):
                out |= wanted & rule.actions
        return out
