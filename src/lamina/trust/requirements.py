"""Policy requirements: the entries of a containers-policy.json requirement list.

Plain data; evaluation lives in `evaluate`. `to_json` writes the field names and order
containers/image writes (binary fields as base64, as Go's encoding/json does for []byte).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, TypeAlias

from lamina.trust.identity import MatchRepoDigestOrExact, SignedIdentity

GPG_KEY_TYPES = ("GPGKeys", "signedByGPGKeys", "X509Certificates", "signedByX509CAs")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@dataclass(frozen=True, slots=True, kw_only=True)
class Reject:
    type: ClassVar[str] = "reject"

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type}


@dataclass(frozen=True, slots=True, kw_only=True)
class SignedBy:
    """Simple signing: a GnuPG signature by one of the keys. Exactly one key source is set."""

    type: ClassVar[str] = "signedBy"
    key_type: str
    key_path: str | None = None
    key_paths: tuple[str, ...] | None = None
    key_data: bytes | None = None
    signed_identity: SignedIdentity = field(default_factory=MatchRepoDigestOrExact)
    identity_given: bool = field(default=True, compare=False)  # False: written without it

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type, "keyType": self.key_type}
        if self.key_path is not None:
            out["keyPath"] = self.key_path
        if self.key_paths is not None:
            out["keyPaths"] = list(self.key_paths)
        if self.key_data is not None:
            out["keyData"] = b64(self.key_data)
        if self.identity_given:
            out["signedIdentity"] = self.signed_identity.to_json()
        return out


if TYPE_CHECKING:  # the other requirement classes load when a policy names one
    from lamina.trust.requirements_other import InsecureAcceptAnything, SignedBaseLayer
    from lamina.trust.requirements_sigstore import SigstoreSigned

Requirement: TypeAlias = (
    "InsecureAcceptAnything | Reject | SignedBy | SignedBaseLayer | SigstoreSigned"
)
