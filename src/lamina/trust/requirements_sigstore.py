"""The `sigstoreSigned` requirement and its `fulcio` and `pki` parts (see `requirements`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from lamina.trust.identity import MatchRepoDigestOrExact, SignedIdentity
from lamina.trust.requirements import b64


@dataclass(frozen=True, slots=True, kw_only=True)
class Fulcio:
    ca_path: str | None = None
    ca_data: bytes | None = None
    oidc_issuer: str
    subject_email: str

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.ca_path is not None:
            out["caPath"] = self.ca_path
        if self.ca_data is not None:
            out["caData"] = b64(self.ca_data)
        out["oidcIssuer"] = self.oidc_issuer
        out["subjectEmail"] = self.subject_email
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class PKI:
    ca_roots_path: str | None = None
    ca_roots_data: bytes | None = None
    ca_intermediates_path: str | None = None
    ca_intermediates_data: bytes | None = None
    subject_email: str | None = None
    subject_hostname: str | None = None

    def to_json(self) -> dict[str, Any]:
        pairs: list[tuple[str, Any]] = [
            ("caRootsPath", self.ca_roots_path),
            ("caRootsData", None if self.ca_roots_data is None else b64(self.ca_roots_data)),
            ("caIntermediatesPath", self.ca_intermediates_path),
            (
                "caIntermediatesData",
                None if self.ca_intermediates_data is None else b64(self.ca_intermediates_data),
            ),
            ("subjectEmail", self.subject_email),
            ("subjectHostname", self.subject_hostname),
        ]
        return {k: v for k, v in pairs if v is not None}


@dataclass(frozen=True, slots=True, kw_only=True)
class SigstoreSigned:
    """Cosign-format signatures. Exactly one of the key sources, fulcio or pki is set."""

    type: ClassVar[str] = "sigstoreSigned"
    key_path: str | None = None
    key_paths: tuple[str, ...] | None = None
    key_data: bytes | None = None
    key_datas: tuple[bytes, ...] | None = None
    fulcio: Fulcio | None = None
    pki: PKI | None = None
    rekor_public_key_path: str | None = None
    rekor_public_key_paths: tuple[str, ...] | None = None
    rekor_public_key_data: bytes | None = None
    rekor_public_key_datas: tuple[bytes, ...] | None = None
    signed_identity: SignedIdentity = field(default_factory=MatchRepoDigestOrExact)

    @property
    def uses_rekor(self) -> bool:
        return any(
            v is not None
            for v in (
                self.rekor_public_key_path,
                self.rekor_public_key_paths,
                self.rekor_public_key_data,
                self.rekor_public_key_datas,
            )
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type}
        if self.key_path is not None:
            out["keyPath"] = self.key_path
        if self.key_paths is not None:
            out["keyPaths"] = list(self.key_paths)
        if self.key_data is not None:
            out["keyData"] = b64(self.key_data)
        if self.key_datas is not None:
            out["keyDatas"] = [b64(d) for d in self.key_datas]
        if self.fulcio is not None:
            out["fulcio"] = self.fulcio.to_json()
        if self.pki is not None:
            out["pki"] = self.pki.to_json()
        if self.rekor_public_key_path is not None:
            out["rekorPublicKeyPath"] = self.rekor_public_key_path
        if self.rekor_public_key_paths is not None:
            out["rekorPublicKeyPaths"] = list(self.rekor_public_key_paths)
        if self.rekor_public_key_data is not None:
            out["rekorPublicKeyData"] = b64(self.rekor_public_key_data)
        if self.rekor_public_key_datas is not None:
            out["rekorPublicKeyDatas"] = [b64(d) for d in self.rekor_public_key_datas]
        out["signedIdentity"] = self.signed_identity.to_json()
        return out
