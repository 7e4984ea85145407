"""`signedIdentity`: how the identity a signature claims must relate to the image's identity.

Semantics follow containers-policy.json(5). `intended` is the Docker reference the image is
being used as (None when the transport has none, e.g. `dir:`); `signed` is the untrusted
`docker-reference` string out of the (already authenticated) signature payload.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, TypeAlias

from lamina.errors import InvalidInput
from lamina.reference import Reference


def parse_or_none(text: str) -> Reference | None:
    """A normalised reference, or None when `text` is not one (never raises)."""
    try:
        return Reference.parse(text, default_tag=False)
    except InvalidInput:
        return None


def name_only(ref: Reference) -> bool:
    return ref.tag is None and ref.digest is None


def repo_digest_or_exact(intended: Reference, signed: Reference) -> bool:
    if name_only(signed):
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
        sig = parse_or_none(signed)
        if intended is None or sig is None:
            return False
        return repo_digest_or_exact(intended, sig)

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type}


if TYPE_CHECKING:  # the other rules load when a policy names one (identity_rules)
    from lamina.trust.identity_rules import (
        ExactReference,
        ExactRepository,
        MatchExact,
        MatchRepository,
        RemapIdentity,
    )

SignedIdentity: TypeAlias = (
    "MatchRepoDigestOrExact | MatchExact | MatchRepository | ExactReference | ExactRepository"
    " | RemapIdentity"
)
