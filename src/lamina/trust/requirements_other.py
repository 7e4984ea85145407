"""The `insecureAcceptAnything` and `signedBaseLayer` requirements (see `requirements`):
their classes are built only when a policy names one, or a caller creates one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from lamina.trust.identity import SignedIdentity


@dataclass(frozen=True, slots=True, kw_only=True)
class InsecureAcceptAnything:
    type: ClassVar[str] = "insecureAcceptAnything"

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type}


@dataclass(frozen=True, slots=True, kw_only=True)
class SignedBaseLayer:
    """Parsed for compatibility; containers/image never implemented it, so it rejects."""

    type: ClassVar[str] = "signedBaseLayer"
    base_layer_identity: SignedIdentity

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "baseLayerIdentity": self.base_layer_identity.to_json()}
