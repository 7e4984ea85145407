"""The YAML source of `lamina sync --src yaml`, in skopeo's format:

```yaml
registry.example.com:            # a registry host[:port]
  images:                        # repository -> tags or digests ([] = every tag)
    busybox: []
    redis: ["1.0", "2.0", "sha256:0123…"]
  images-by-tag-regex:           # repository -> regular expression over its tags
    nginx: ^1\\.13\\.[12]-alpine-perl$
  images-by-semver:              # repository -> semantic-version constraint
    alpine: ">= 3.12.0, < 3.14"
  credentials: {username: u, password: p}
  tls-verify: false
  cert-dir: /path/to/certs
```
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lamina import yamlfile
from lamina.errors import InvalidInput

_KNOWN = {
    "images",
    "images-by-tag-regex",
    "images-by-semver",
    "credentials",
    "tls-verify",
    "cert-dir",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class RepoSelection:
    """Which tags of one repository to sync: listed ones (empty = all), or a regex, or a
    semver constraint."""

    repository: str
    tags: tuple[str, ...] = ()
    regex: str | None = None
    semver: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RegistrySection:
    registry: str
    repos: tuple[RepoSelection, ...] = ()
    username: str | None = None
    password: str | None = None
    tls_verify: bool | None = None
    cert_dir: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def load_yaml(path: str | Path) -> list[RegistrySection]:
    """Parse a sync YAML file; InvalidInput naming the file and key (or line) when
    malformed."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read sync file {p}: {exc.strerror}") from None
    doc: Any = yamlfile.load(data, f"sync file {p}")
    if not isinstance(doc, dict):
        raise InvalidInput(f"sync file {p}: expected a mapping of registries at the top level")
    return [_section(p, str(host), body) for host, body in doc.items()]


def _section(path: Path, host: str, body: Any) -> RegistrySection:
    what = f"sync file {path}: registry {host!r}"
    if not isinstance(body, dict):
        raise InvalidInput(f"{what} must be a mapping (images, credentials, tls-verify, …)")
    unknown = sorted(set(body) - _KNOWN)
    if unknown:
        raise InvalidInput(
            f"{what}: unknown key {unknown[0]!r}", hint=f"known keys: {', '.join(sorted(_KNOWN))}"
        )
    repos: list[RepoSelection] = []
    images = body.get("images") or {}
    if not isinstance(images, dict):
        raise InvalidInput(f"{what}: images must map repositories to lists of tags")
    for repo, tags in images.items():
        if tags is None:
            tags = []
        if not isinstance(tags, list) or not all(isinstance(t, str | int | float) for t in tags):
            raise InvalidInput(f"{what}: images.{repo} must be a list of tags or digests")
        repos.append(RepoSelection(repository=str(repo), tags=tuple(str(t) for t in tags)))
    for key, attr in (("images-by-tag-regex", "regex"), ("images-by-semver", "semver")):
        table = body.get(key) or {}
        if not isinstance(table, dict):
            raise InvalidInput(f"{what}: {key} must map repositories to a string")
        for repo, value in table.items():
            if not isinstance(value, str):
                raise InvalidInput(f"{what}: {key}.{repo} must be a string")
            if attr == "regex":
                try:
                    re.compile(value)
                except re.error as exc:
                    raise InvalidInput(f"{what}: {key}.{repo}: bad regex: {exc}") from None
            else:
                parse_constraint(value, f"{what}: {key}.{repo}")
            if attr == "regex":
                repos.append(RepoSelection(repository=str(repo), regex=value))
            else:
                repos.append(RepoSelection(repository=str(repo), semver=value))
    creds = body.get("credentials") or {}
    if not isinstance(creds, dict):
        raise InvalidInput(f"{what}: credentials must have username and password")
    for field_name in ("username", "password"):
        if creds.get(field_name) is not None and not isinstance(creds[field_name], str):
            raise InvalidInput(f"{what}: credentials.{field_name} must be a string")
    tls = body.get("tls-verify")
    if tls is not None and not isinstance(tls, bool):
        raise InvalidInput(f"{what}: tls-verify must be true or false")
    cert_dir = body.get("cert-dir")
    if cert_dir is not None and not isinstance(cert_dir, str):
        raise InvalidInput(f"{what}: cert-dir must be a path (a string)")
    return RegistrySection(
        registry=host,
        repos=tuple(repos),
        username=creds.get("username"),
        password=creds.get("password"),
        tls_verify=tls,
        cert_dir=cert_dir,
    )


# -- semantic versions (the subset of Masterminds/semver constraints skopeo users write) --

_VERSION = re.compile(
    r"^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$"
)
_TERM = re.compile(
    r"^\s*(=|!=|>=|<=|>|<|~|\^)?\s*v?([0-9xX*]+(?:\.[0-9xX*]+){0,2}(?:-[0-9A-Za-z.-]+)?)\s*$"
)
Version = tuple[int, int, int, tuple[Any, ...]]


def parse_version(tag: str) -> Version | None:
    """A tag as a semantic version (`1`, `1.2`, `v1.2.3-rc.1`), or None if it is not one."""
    m = _VERSION.match(tag)
    if not m:
        return None
    pre = m.group(4)
    pre_key: tuple[Any, ...] = (
        (0, tuple((0, int(p)) if p.isdigit() else (1, p) for p in pre.split("."))) if pre else (1,)
    )
    return (int(m.group(1)), int(m.group(2) or 0), int(m.group(3) or 0), pre_key)


def parse_constraint(text: str, what: str) -> list[list[tuple[str, str]]]:
    """`a, b || c` → [[a, b], [c]]: OR of ANDs of (operator, version) terms."""
    out = []
    for alternative in text.split("||"):
        terms = []
        for part in re.split(r",|\s+(?=[<>=!~^])", alternative.strip()):
            if not part.strip():
                continue
            m = _TERM.match(part)
            if not m:
                raise InvalidInput(f"{what}: cannot read semver constraint {text!r} near {part!r}")
            terms.append((m.group(1) or "=", m.group(2)))
        if not terms:
            raise InvalidInput(f"{what}: empty semver constraint {text!r}")
        out.append(terms)
    return out


def _bounds(op: str, ver: str) -> list[tuple[str, Version]]:
    parts = ver.split("-", maxsplit=1)[0].split(".")
    wild = [i for i, p in enumerate(parts) if p in ("x", "X", "*")]
    fixed = [int(p) for p in parts[: wild[0] if wild else len(parts)]]
    given = len(fixed)
    base = parse_version(".".join(str(p) for p in fixed) or "0")
    assert base is not None
    if "-" in ver and not wild:
        base = parse_version(ver) or base

    def bump(idx: int) -> Version:
        nums = [*fixed, 0, 0, 0][:3]
        nums[idx] += 1
        for j in range(idx + 1, 3):
            nums[j] = 0
        return (nums[0], nums[1], nums[2], (0, ()))

    if op in ("=", "") and given < 3:
        return [(">=", base), ("<", bump(max(given - 1, 0)))] if given else []
    if op == "~":
        return [(">=", base), ("<", bump(1 if given >= 2 else 0))]
    if op == "^":
        idx = 0 if fixed[:1] != [0] or given == 1 else (1 if fixed[1:2] != [0] or given == 2 else 2)
        return [(">=", base), ("<", bump(idx))]
    return [(op, base)]


def matches(tag: str, constraint: list[list[tuple[str, str]]]) -> bool:
    version = parse_version(tag)
    if version is None:
        return False
    wants_pre = any("-" in ver for alternative in constraint for _, ver in alternative)
    if version[3] != (1,) and not wants_pre:
        return False  # pre-releases only when the constraint names one (as Masterminds does)
    for alternative in constraint:
        ok = True
        for op, ver in alternative:
            for bop, bound in _bounds(op, ver):
                if not _compare(version, bop, bound):
                    ok = False
            if op == "!=" and parse_version(ver) == version:
                ok = False
        if ok:
            return True
    return False


def _compare(v: Version, op: str, bound: Version) -> bool:
    if op == "=":
        return v == bound
    if op == "!=":
        return True  # handled by the caller against the exact version
    if op == ">":
        return v > bound
    if op == ">=":
        return v >= bound
    if op == "<":
        return v < bound
    return v <= bound
