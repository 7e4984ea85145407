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
    """One file's settings (InvalidInput naming the file and key when malformed)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"cannot read registries.conf {path}: {exc.strerror}") from None
    data = simple_toml(text)
    if data is None:
        import tomllib  # a file beyond simple_toml's subset

        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise InvalidInput(
                f"registries.conf {path} is not valid TOML: {exc}", hint="fix the file"
            ) from None
    return _from_toml(data, path)


def simple_toml(text: str) -> dict[str, Any] | None:
    """What `tomllib.loads(text)` returns, for the files most systems ship (comment lines,
    top-level keys set to plain strings or one-line arrays of them, one `[aliases]` table of
    plain strings); None for anything else, which tomllib then parses (and reports)."""
    data: dict[str, Any] = {}
    table = data
    for raw in text.replace("\r\n", "\n").split("\n"):
        line = raw.strip(" \t")
        if not line.replace("\t", " ").isprintable():
            return None  # control characters (an error), or non-ASCII text: tomllib decides
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            header = _comment_after(line, len("[aliases]"))
            if header != "[aliases]" or "aliases" in data:
                return None
            table = data["aliases"] = {}
            continue
        key_text, _, value_text = line.partition("=")
        key = _simple_key(key_text.strip(" \t"))
        if key is None or key in table:
            return None
        value = _simple_value(value_text.strip(" \t"), top=table is data)
        if value is None:
            return None
        table[key] = value
    return data


_BARE_KEY = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def _simple_key(text: str) -> str | None:
    if text and _BARE_KEY.issuperset(text):
        return text
    return _plain_string(text)


def _plain_string(text: str) -> str | None:
    """The content of a double-quoted string with no escapes and nothing after it."""
    if len(text) < 2 or text[0] != '"' or text[-1] != '"':
        return None
    inner = text[1:-1]
    return None if '"' in inner or "\\" in inner else inner


def _comment_after(line: str, end: int) -> str | None:
    """`line[:end]` when the rest of `line` is blank or a comment, else None."""
    rest = line[end:].lstrip(" \t")
    return line[:end] if not rest or rest.startswith("#") else None


def _simple_value(text: str, *, top: bool) -> str | list[str] | None:
    if text.startswith('"'):
        close = text.find('"', 1)
        value = _comment_after(text, close + 1) if close > 0 else None
        return None if value is None else _plain_string(value)
    if not top or not text.startswith("["):
        return None
    close = text.find("]")
    inner = _comment_after(text, close + 1) if close > 0 else None
    if inner is None:
        return None
    items = [item.strip(" \t") for item in inner[1:-1].split(",")]
    if items[-1] == "" and (len(items) > 1 or inner[1:-1].strip(" \t") == ""):
        items.pop()  # a trailing comma, or an empty array
    out: list[str] = []
    for item in items:
        string = _plain_string(item)
        if string is None:
            return None
        out.append(string)
    return out


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
