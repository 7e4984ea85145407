"""Platforms (`os/arch[/variant]`), parsed, normalised and matched as containerd does."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from lamina.errors import InvalidInput

_COMPONENT = re.compile(r"[a-z0-9_-]+")  # as containerd's platform specifiers
_VARIANT = re.compile(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)*")
_ARCH_ALIASES = {
    "x86_64": ("amd64", ""),
    "x86-64": ("amd64", ""),
    "amd64": ("amd64", ""),
    "aarch64": ("arm64", ""),
    "arm64": ("arm64", ""),
    "armhf": ("arm", "v7"),
    "armel": ("arm", "v6"),
    "arm": ("arm", "v7"),
    "i386": ("386", ""),
    "i686": ("386", ""),
    "386": ("386", ""),
    "ppc64le": ("ppc64le", ""),
    "s390x": ("s390x", ""),
    "riscv64": ("riscv64", ""),
    "mips64le": ("mips64le", ""),
    "loong64": ("loong64", ""),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Platform:
    os: str
    architecture: str
    variant: str = ""
    os_version: str = ""
    os_features: tuple[str, ...] = field(default_factory=tuple)

    @staticmethod
    def parse(text: str) -> Platform:
        """Parse `os/arch[/variant]` (or `arch` alone, meaning linux); normalise aliases."""
        parts = text.strip().lower().split("/")
        if (
            len(parts) > 3
            or not all(_COMPONENT.fullmatch(p) for p in parts[:2])
            or (len(parts) == 3 and not _VARIANT.fullmatch(parts[2]))
        ):
            raise InvalidInput(
                f"invalid platform {text!r}: expected OS/ARCH[/VARIANT], e.g. linux/arm64/v8 "
                "(letters, digits, '_' and '-'; a variant may have '.')"
            )
        if len(parts) == 1:
            os_name, arch, variant = "linux", parts[0], ""
        else:
            os_name, arch = parts[0], parts[1]
            variant = parts[2] if len(parts) == 3 else ""
        arch, default_variant = _ARCH_ALIASES.get(arch, (arch, ""))
        if not variant:
            variant = default_variant
        return Platform(os=os_name, architecture=arch, variant=_normalise_variant(arch, variant))

    @staticmethod
    def host() -> Platform:
        import platform as stdlib_platform  # only the host's platform needs it

        machine = stdlib_platform.machine().lower()
        arch, variant = _ARCH_ALIASES.get(machine, (machine, ""))
        if arch == "arm64":
            variant = "v8"
        return Platform(os="linux", architecture=arch, variant=variant)

    def matches(self, other: Platform) -> bool:
        """True when an image for `other` satisfies a request for `self`.

        An empty variant on either side matches any variant (arm64's only variant is v8).
        """
        if self.os != other.os or self.architecture != other.architecture:
            return False
        mine = _normalise_variant(self.architecture, self.variant)
        theirs = _normalise_variant(other.architecture, other.variant)
        return not mine or not theirs or mine == theirs

    def __str__(self) -> str:
        base = f"{self.os}/{self.architecture}"
        return f"{base}/{self.variant}" if self.variant else base


def _normalise_variant(arch: str, variant: str) -> str:
    if arch == "arm64" and variant in ("8", "v8"):
        return "v8"
    if arch == "arm" and variant in ("5", "6", "7", "8"):
        return "v" + variant
    return variant
