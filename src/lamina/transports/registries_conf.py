"""`registries.conf` as podman and skopeo read it: search registries, short-name aliases,
`[[registry]]` prefix/location/insecure/blocked and `[[registry.mirror]]`.

Files are found as containers/image finds them: an explicit path (`--registries-conf`, or
`$CONTAINERS_REGISTRIES_CONF`) replaces the main file; else `~/.config/containers/
registries.conf` if it exists (then only the user's drop-in directory applies), else
`/etc/containers/registries.conf`. Drop-ins (`registries.conf.d/*.conf`, sorted) are applied
after the main file: a later `unqualified-search-registries` replaces the earlier list,
a `[[registry]]` with the same prefix replaces the earlier one, aliases merge.
Version 1 tables (`[registries.search]`, `.insecure`, `.block`) are read too.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from lamina.errors import ErrorCode, InvalidInput
from lamina.reference import Reference

SYSTEM_FILE = Path("/etc/containers/registries.conf")
SYSTEM_DIR = Path("/etc/containers/registries.conf.d")
ENV_FILE = "CONTAINERS_REGISTRIES_CONF"
PULL_FROM_MIRROR = ("all", "digest-only", "tag-only")


def _user_config() -> Path:
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "containers"


@dataclass(frozen=True, slots=True, kw_only=True)
class Endpoint:
    """Where to reach a registry: `location` (`host[:port][/namespace]`) and whether plain
    HTTP / unverified TLS is allowed there."""

    location: str
    insecure: bool = False
    pull_from_mirror: str = "all"


@dataclass(frozen=True, slots=True, kw_only=True)
class RegistryEntry:
    """One `[[registry]]` table."""

    prefix: str
    location: str
    insecure: bool = False
    blocked: bool = False
    mirrors: tuple[Endpoint, ...] = ()
    origin: str = ""

    def matches(self, name: str) -> bool:
        """True if the reference text `name` (`host/path[:tag][@digest]`) is under prefix."""
        if self.prefix.startswith("*."):
            host = name.split("/", 1)[0]
            return host.endswith(self.prefix[1:])
        if name == self.prefix:
            return True
        return name.startswith(self.prefix) and name[len(self.prefix)] in "/:@"


@dataclass(frozen=True, slots=True)
class PullSource:
    """One place to pull `ref` from: the endpoint's rewritten reference and its security."""

    ref: Reference
    insecure: bool
    mirror: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class RegistriesConfig:
    search: tuple[str, ...] | None = None
    aliases: dict[str, str] = field(default_factory=dict)
    registries: tuple[RegistryEntry, ...] = ()
    short_name_mode: str = "permissive"
    files: tuple[Path, ...] = ()

    @staticmethod
    def load(path: str | os.PathLike[str] | None = None) -> RegistriesConfig:
        """Read the main file and its drop-ins (see the module docstring)."""
        explicit = Path(path) if path else None
        if explicit is None and os.environ.get(ENV_FILE):
            explicit = Path(os.environ[ENV_FILE])
        user_file = _user_config() / "registries.conf"
        user_dir = _user_config() / "registries.conf.d"
        if explicit is not None:
            if not explicit.is_file():
                raise InvalidInput(
                    f"registries.conf {explicit} does not exist",
                    hint="give an existing file with --registries-conf",
                )
            main, dirs = explicit, [SYSTEM_DIR, user_dir]
        elif user_file.is_file():
            main, dirs = user_file, [user_dir]
        else:
            main, dirs = SYSTEM_FILE, [SYSTEM_DIR, user_dir]
        files = [main] if main.is_file() else []
        for d in dirs:
            if d.is_dir():
                files += sorted(p for p in d.iterdir() if p.suffix == ".conf" and p.is_file())
        config = RegistriesConfig()
        for f in files:
            config = config.merged(parse_file(f))
        return replace(config, files=tuple(files))

    def merged(self, later: RegistriesConfig) -> RegistriesConfig:
        regs = {r.prefix: r for r in self.registries}
        for r in later.registries:
            regs[r.prefix] = r
        return RegistriesConfig(
            search=later.search if later.search is not None else self.search,
            aliases={**self.aliases, **later.aliases},
            registries=tuple(regs.values()),
            short_name_mode=later.short_name_mode
            if later.short_name_mode != "permissive"
            else self.short_name_mode,
            files=self.files + later.files,
        )

    def where(self) -> str:
        return ", ".join(str(f) for f in self.files) or "no registries.conf found"

    def registry_for(self, name: str) -> RegistryEntry | None:
        """The `[[registry]]` with the longest prefix matching `name` (host/path...)."""
        best: RegistryEntry | None = None
        for r in self.registries:
            if r.matches(name) and (best is None or len(r.prefix) > len(best.prefix)):
                best = r
        return best

    def check_allowed(self, ref: Reference) -> None:
        """InvalidInput (code DENIED) if `ref` is under a blocked registry."""
        entry = self.registry_for(str(ref))
        if entry is not None and entry.blocked:
            raise InvalidInput(
                f"registry {ref.domain} is blocked in registries.conf ({entry.origin}: "
                f"prefix {entry.prefix!r}); refusing {ref}",
                code=ErrorCode.DENIED,
                hint=f"remove `blocked = true` for {entry.prefix!r} to use it",
            )

    def is_insecure(self, ref: Reference) -> bool:
        entry = self.registry_for(str(ref))
        return entry is not None and entry.insecure

    def pull_sources(self, ref: Reference) -> list[PullSource]:
        """Mirrors (in order) then the primary location, with `ref` rewritten for each."""
        self.check_allowed(ref)
        text = str(ref)
        entry = self.registry_for(text)
        if entry is None:
            return [PullSource(ref, insecure=False, mirror=False)]
        out: list[PullSource] = []
        by_digest = ref.digest is not None
        for m in entry.mirrors:
            if (m.pull_from_mirror == "digest-only" and not by_digest) or (
                m.pull_from_mirror == "tag-only" and by_digest
            ):
                continue
            out.append(PullSource(_rewrite(entry, text, m.location), m.insecure, mirror=True))
        out.append(PullSource(_rewrite(entry, text, entry.location), entry.insecure, False))
        return out

    def resolve_short_name(self, text: str) -> list[Reference]:
        """Candidates for a name the user typed: itself when fully qualified, else its
        alias, else one per unqualified-search registry (InvalidInput if none)."""
        if _has_domain(text):
            return [Reference.parse(text)]
        bare, tag_part = _split_tag(text)
        alias = self.aliases.get(bare)
        if alias is not None:
            return [Reference.parse(alias + tag_part)]
        if not self.search:
            raise InvalidInput(
                f"short name {text!r} did not resolve to an alias and no "
                f"unqualified-search-registries are defined ({self.where()})",
                code=ErrorCode.NAME_INVALID,
                hint="use a fully qualified name (HOST/REPO:TAG) or add "
                "unqualified-search-registries to registries.conf",
            )
        return [Reference.parse(f"{registry}/{text}") for registry in self.search or ()]


def _rewrite(entry: RegistryEntry, text: str, location: str) -> Reference:
    if entry.prefix.startswith("*."):
        return Reference.parse(text)
    return Reference.parse(location + text[len(entry.prefix) :])


def _has_domain(text: str) -> bool:
    first, sep, _ = text.partition("/")
    return bool(sep) and ("." in first or ":" in first or first == "localhost")


def _split_tag(text: str) -> tuple[str, str]:
    at = text.find("@")
    if at >= 0:
        return text[:at], text[at:]
    slash, colon = text.rfind("/"), text.rfind(":")
    if colon > slash:
        return text[:colon], text[colon:]
    return text, ""


def parse_file(path: Path) -> RegistriesConfig:
    """One file's settings (InvalidInput naming the file and key when malformed, the file,
    line and column when it is not TOML)."""
    import tomllib

    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except OSError as exc:
        raise InvalidInput(f"cannot read registries.conf {path}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInput(
            f"registries.conf {path} is not valid TOML: {exc}", hint="fix the file"
        ) from None
    return _from_toml(data, path)


def _strings(value: Any, what: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidInput(f"{what} must be a list of strings")
    return list(value)


def _from_toml(data: dict[str, Any], path: Path) -> RegistriesConfig:
    search: list[str] | None = None
    if "unqualified-search-registries" in data:
        search = _strings(data["unqualified-search-registries"], f"{path}: search registries")
    aliases_raw = data.get("aliases", {})
    if not isinstance(aliases_raw, dict) or not all(
        isinstance(v, str) for v in aliases_raw.values()
    ):
        raise InvalidInput(f"registries.conf {path}: [aliases] values must be strings")
    regs: list[RegistryEntry] = []
    raw_regs = data.get("registry", [])
    if not isinstance(raw_regs, list):
        raise InvalidInput(f"registries.conf {path}: registry must be an array of tables")
    for i, r in enumerate(raw_regs):
        regs.append(_entry(r, f"registries.conf {path}: [[registry]] #{i + 1}", path))
    v1 = data.get("registries")
    if isinstance(v1, dict):
        if "search" in v1:
            found = _strings(v1["search"].get("registries", []), f"{path}: search")
            search = (search or []) + found
        for host in _strings(v1.get("insecure", {}).get("registries", []), f"{path}: insecure"):
            regs.append(RegistryEntry(prefix=host, location=host, insecure=True, origin=str(path)))
        for host in _strings(v1.get("block", {}).get("registries", []), f"{path}: block"):
            regs.append(RegistryEntry(prefix=host, location=host, blocked=True, origin=str(path)))
    mode = data.get("short-name-mode", "permissive")
    config = RegistriesConfig(
        search=tuple(search) if search is not None else None,
        aliases=dict(aliases_raw),
        registries=tuple(regs),
        short_name_mode=str(mode) if mode else "permissive",
    )
    return config


def _entry(r: Any, what: str, path: Path) -> RegistryEntry:
    if not isinstance(r, dict):
        raise InvalidInput(f"{what} must be a table")
    location = r.get("location", "")
    prefix = r.get("prefix", "") or location
    if not isinstance(prefix, str) or not prefix or not isinstance(location, str):
        raise InvalidInput(f"{what} needs a prefix or a location", hint="e.g. prefix = 'quay.io'")
    mirrors = []
    for j, m in enumerate(r.get("mirror", []) or []):
        if not isinstance(m, dict) or not isinstance(m.get("location"), str):
            raise InvalidInput(f"{what}: mirror #{j + 1} needs a location")
        mode = m.get("pull-from-mirror", "all") or "all"
        if mode not in PULL_FROM_MIRROR:
            raise InvalidInput(
                f"{what}: mirror #{j + 1}: pull-from-mirror {mode!r} is not one of "
                f"{', '.join(PULL_FROM_MIRROR)}"
            )
        mirrors.append(
            Endpoint(
                location=m["location"], insecure=bool(m.get("insecure")), pull_from_mirror=mode
            )
        )
    return RegistryEntry(
        prefix=prefix,
        location=location or prefix,
        insecure=bool(r.get("insecure")),
        blocked=bool(r.get("blocked")),
        mirrors=tuple(mirrors),
        origin=str(path),
    )
