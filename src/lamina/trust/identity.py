"""`signedIdentity`: how the identity a signature claims must relate to the image's identity.

Semantics follow containers-policy.json(5). `intended` is the Docker reference the image is
being used as (None when the transport has none, e.g. `dir:`); `signed` is the untrusted
`docker-reference` string out of the (already authenticated) signature payload.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, ClassVar

from lamina.errors import InvalidInput
from lamina.reference import DOMAIN, PATH_COMPONENT, Reference


def _parse(text: str) -> Reference | None:
    """A normalised reference, or None when `text` is not one (never raises)."""
    try:
        return Reference.parse(text, default_tag=False)
    except InvalidInput:
        return None


def _name_only(ref: Reference) -> bool:
    return ref.tag is None and ref.digest is None


def _repo_digest_or_exact(intended: Reference, signed: Reference) -> bool:
    if _name_only(signed):
        return False
    if intended.tag is not None:
        return str(signed) == str(intended)
    if intended.digest is not None:
        # The manifest digest is checked against the signature separately.
        return signed.name == intended.name
    return False


@dataclass(frozen=True, slots=True, kw_only=True)
class MatchRepoDigestOrExact:
    """The default: same name and tag, or (for a by-digest image) the same repository."""

    type: ClassVar[str] = "matchRepoDigestOrExact"

    def matches(self, intended: Reference | None, signed: str) -> bool:
        sig = _parse(signed)
        if intended is None or sig is None:
            return False
        return _repo_digest_or_exact(intended, sig)

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type}


@dataclass(frozen=True, slots=True, kw_only=True)
class MatchExact:
    type: ClassVar[str] = "matchExact"

    def matches(self, intended: Reference | None, signed: str) -> bool:
        sig = _parse(signed)
        if intended is None or sig is None or _name_only(intended) or _name_only(sig):
            return False
        return str(sig) == str(intended)

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type}


@dataclass(frozen=True, slots=True, kw_only=True)
class MatchRepository:
    type: ClassVar[str] = "matchRepository"

    def matches(self, intended: Reference | None, signed: str) -> bool:
        sig = _parse(signed)
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
        ref = _parse(self.docker_reference)
        if ref is None:
            raise InvalidInput(f"dockerReference {self.docker_reference!r} is not a reference")
        if _name_only(ref):
            raise InvalidInput(
                f"dockerReference {self.docker_reference!r} contains neither a tag nor a digest"
            )

    def matches(self, intended: Reference | None, signed: str) -> bool:
        want, sig = _parse(self.docker_reference), _parse(signed)
        if want is None or sig is None or _name_only(sig):
            return False
        return str(sig) == str(want)

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "dockerReference": self.docker_reference}


@dataclass(frozen=True, slots=True, kw_only=True)
class ExactRepository:
    type: ClassVar[str] = "exactRepository"
    docker_repository: str

    def __post_init__(self) -> None:
        if _parse(self.docker_repository) is None:
            raise InvalidInput(f"dockerRepository {self.docker_repository!r} is not a reference")

    def matches(self, intended: Reference | None, signed: str) -> bool:
        want, sig = _parse(self.docker_repository), _parse(signed)
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
        remapped = _parse(remapped_text)
        # The result must already be fully qualified, as containers/image requires.
        if remapped is None or str(remapped) != remapped_text:
            return None
        return remapped

    def matches(self, intended: Reference | None, signed: str) -> bool:
        sig = _parse(signed)
        if intended is None or sig is None:
            return False
        remapped = self.remap(intended)
        return remapped is not None and _repo_digest_or_exact(remapped, sig)

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "prefix": self.prefix, "signedPrefix": self.signed_prefix}


SignedIdentity = (
    MatchRepoDigestOrExact
    | MatchExact
    | MatchRepository
    | ExactReference
    | ExactRepository
    | RemapIdentity
)
