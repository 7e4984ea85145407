"""The `signedIdentity` rules besides the default (see `identity`): matchExact,
matchRepository, exactReference, exactRepository and remapIdentity."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, ClassVar

from lamina.errors import InvalidInput
from lamina.reference import DOMAIN, PATH_COMPONENT, Reference
from lamina.trust.identity import name_only, parse_or_none, repo_digest_or_exact


@dataclass(frozen=True, slots=True, kw_only=True)
class MatchExact:
    type: ClassVar[str] = "matchExact"

    def matches(self, intended: Reference | None, signed: str) -> bool:
        sig = parse_or_none(signed)
        if intended is None or sig is None or name_only(intended) or name_only(sig):
            return False
        return str(sig) == str(intended)

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type}


@dataclass(frozen=True, slots=True, kw_only=True)
class MatchRepository:
    type: ClassVar[str] = "matchRepository"

    def matches(self, intended: Reference | None, signed: str) -> bool:
        sig = parse_or_none(signed)
        if intended is None or sig is None:
            return False
        return sig.name == intended.name

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type}


@dataclass(frozen=True, slots=True, kw_only=True)
class ExactReference:
    """The signature must name exactly `docker_reference` (which has a tag or digest)."""

    type: ClassVar[str] = "exactReference"
    docker_reference: str

    def __post_init__(self) -> None:
        ref = parse_or_none(self.docker_reference)
        if ref is None:
            raise InvalidInput(f"dockerReference {self.docker_reference!r} is not a reference")
        if name_only(ref):
            raise InvalidInput(
                f"dockerReference {self.docker_reference!r} contains neither a tag nor a digest"
            )

    def matches(self, intended: Reference | None, signed: str) -> bool:
        want, sig = parse_or_none(self.docker_reference), parse_or_none(signed)
        if want is None or sig is None or name_only(sig):
            return False
        return str(sig) == str(want)

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "dockerReference": self.docker_reference}


@dataclass(frozen=True, slots=True, kw_only=True)
class ExactRepository:
    type: ClassVar[str] = "exactRepository"
    docker_repository: str

    def __post_init__(self) -> None:
        if parse_or_none(self.docker_repository) is None:
            raise InvalidInput(f"dockerRepository {self.docker_repository!r} is not a reference")

    def matches(self, intended: Reference | None, signed: str) -> bool:
        want, sig = parse_or_none(self.docker_repository), parse_or_none(signed)
        if want is None or sig is None:
            return False
        return sig.name == want.name

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "dockerRepository": self.docker_repository}


def _check_prefix(field: str, value: str) -> None:
    # (compiled on first use, by re's cache: only remapIdentity policies need them)
    domain_only = re.compile(rf"^{DOMAIN}$")
    domain_and_path = re.compile(rf"^{DOMAIN}/{PATH_COMPONENT}(?:/{PATH_COMPONENT})*$")
    if not (domain_only.match(value) or domain_and_path.match(value)):
        raise InvalidInput(f"{field} {value!r} is not a host[:port][/repository] prefix")


def _prefix_matches(ref: str, prefix: str) -> bool:
    if len(ref) < len(prefix) or not ref.startswith(prefix):
        return False
    if len(ref) == len(prefix):
        return True
    # "example.com" must not match "example.community/x": the next character must end a
    # component (port, path, tag or digest).
    return ref[len(prefix)] in ":/@"


@dataclass(frozen=True, slots=True, kw_only=True)
class RemapIdentity:
    """Like matchRepoDigestOrExact after replacing `prefix` with `signed_prefix` in the
    intended reference (a mirror whose images carry the upstream identity)."""

    type: ClassVar[str] = "remapIdentity"
    prefix: str
    signed_prefix: str

    def __post_init__(self) -> None:
        _check_prefix("prefix", self.prefix)
        _check_prefix("signedPrefix", self.signed_prefix)

    def remap(self, intended: Reference) -> Reference | None:
        text = str(intended)
        if not _prefix_matches(text, self.prefix):
            return intended
        remapped_text = self.signed_prefix + text[len(self.prefix) :]
        remapped = parse_or_none(remapped_text)
        # The result must already be fully qualified, as containers/image requires.
        if remapped is None or str(remapped) != remapped_text:
            return None
        return remapped

    def matches(self, intended: Reference | None, signed: str) -> bool:
        sig = parse_or_none(signed)
        if intended is None or sig is None:
            return False
        remapped = self.remap(intended)
        return remapped is not None and repo_digest_or_exact(remapped, sig)

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "prefix": self.prefix, "signedPrefix": self.signed_prefix}
