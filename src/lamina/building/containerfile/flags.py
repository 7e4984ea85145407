"""Which `--flags` each instruction takes, and checking the ones given (BuildKit's BFlags)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from lamina.building.containerfile.errors import fail, suggest
from lamina.building.containerfile.lexer import LogicalLine, Source
from lamina.building.containerfile.nodes import Flag
from lamina.building.containerfile.words import Word


class Kind(Enum):
    STRING = "string"  # once, with a value
    BOOL = "bool"  # `--link` or `--link=true|false`
    LIST = "list"  # may repeat (`--mount`, `--exclude`)


S, B, L = Kind.STRING, Kind.BOOL, Kind.LIST

SPECS: dict[str, dict[str, Kind]] = {
    "FROM": {"platform": S},
    "RUN": {"mount": L, "network": S, "security": S},
    "COPY": {"from": S, "chown": S, "chmod": S, "link": B, "parents": B, "exclude": L},
    "ADD": {
        "chown": S,
        "chmod": S,
        "link": B,
        "exclude": L,
        "checksum": S,
        "keep-git-dir": B,
        "unpack": B,
    },
    "HEALTHCHECK": {
        "interval": S,
        "timeout": S,
        "start-period": S,
        "start-interval": S,
        "retries": S,
    },
}


@dataclass(frozen=True, slots=True)
class FlagValues:
    """The checked flags of one instruction, by name."""

    flags: tuple[Flag, ...]

    def string(self, name: str) -> str | None:
        for f in self.flags:
            if f.name == name:
                return f.value
        return None

    def boolean(self, name: str) -> bool | None:
        for f in self.flags:
            if f.name == name:
                return f.value is None or f.value.lower() == "true"
        return None

    def strings(self, name: str) -> tuple[str, ...]:
        return tuple(f.value or "" for f in self.flags if f.name == name)


def check_flags(keyword: str, words: list[Word], line: LogicalLine, source: Source) -> FlagValues:
    """Parse `--name[=value]` words against `keyword`'s spec; raise on anything wrong."""
    spec = SPECS.get(keyword, {})
    flags: list[Flag] = []
    for text, offset in words:
        name, eq, value = text[2:].partition("=")
        at_line, column = line.locate(offset)
        span = source.span(at_line, column, at_line, column + len(text))
        kind = spec.get(name)
        if kind is None:
            close = suggest(name, spec, upper=False)
            if close:
                hint = f"did you mean --{close}?"
            elif spec:
                hint = f"{keyword} takes " + ", ".join(f"--{n}" for n in spec)
            else:
                hint = f"{keyword} takes no flags"
            fail(span, f"unknown flag for {keyword}: --{name}", hint=hint)
        if kind is not Kind.LIST and any(f.name == name for f in flags):
            fail(span, f"duplicate flag specified: --{name}")
        if kind is Kind.BOOL and eq and value.lower() not in ("true", "false"):
            fail(span, f"expecting boolean value for flag --{name}, not: {value}")
        if kind is not Kind.BOOL and not eq:
            fail(span, f"missing a value on flag: --{name}", hint=f"write --{name}=VALUE")
        flags.append(Flag(name=name, value=value if eq else None, raw=text, span=span))
    return FlagValues(tuple(flags))
