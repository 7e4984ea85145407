"""Cosign-format ("sigstore") signatures with a public key.

A signature is a payload plus annotations; the payload is
`{"critical":{"identity":{"docker-reference":R},"image":{"docker-manifest-digest":D},"type":
"cosign container image signature"},"optional":…}` and the annotation
`dev.cosignproject.cosign/signature` holds the base64 signature over the payload bytes
(ECDSA P-256 with SHA-256 for cosign's own keys). In a registry, signatures are the layers
of the tag `sha256-<hex>.sig` (media type `application/vnd.dev.cosign.simplesigning.v1+json`);
in a `dir:` image they are `signature-N` files in containers/image's internal form,
`\\x00sigstore-json\\n{"mimeType":…,"payload":B64,"annotations":{…}}`.

Order of checks: MIME type, then the cryptographic signature with the allowed keys, and only
then the payload JSON (strict), its digest and its identity.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lamina.digest import Digest
from lamina.errors import InvalidInput, TrustError
from lamina.oci.jsonio import dump
from lamina.trust.internal_forms import COSIGN_PREFIX
from lamina.trust.manifest_digest import check_signed_claims, docker_manifest_digest
from lamina.trust.policy_parse import load_json, obj

if TYPE_CHECKING:
    from lamina.trust.cosign_keys import PrivateKey, PublicKey

MIME_TYPE = "application/vnd.dev.cosign.simplesigning.v1+json"
PAYLOAD_TYPE = "cosign container image signature"
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
CERTIFICATE_ANNOTATION = "dev.sigstore.cosign/certificate"
INTERNAL_PREFIX = COSIGN_PREFIX
CREATOR = "lamina 0.1.0"


@dataclass(frozen=True, slots=True, kw_only=True)
class CosignSignature:
    """One untrusted signature: what the signature image's layer (or a file) carries."""

    mime_type: str = MIME_TYPE
    payload: bytes
    annotations: dict[str, str] = field(default_factory=dict)

    @staticmethod
    def is_internal(blob: bytes) -> bool:
        return blob.startswith(INTERNAL_PREFIX)

    @staticmethod
    def from_internal(blob: bytes, what: str = "signature") -> CosignSignature:
        """Parse containers/image's on-disk form (`dir:` signature-N files)."""
        if not blob.startswith(INTERNAL_PREFIX):
            raise InvalidInput(f"{what}: not a sigstore signature")
        top = obj(load_json(blob[len(INTERNAL_PREFIX) :], what), "", what, None)
        mime, payload, ann = top.get("mimeType"), top.get("payload"), top.get("annotations", [])
        if not isinstance(mime, str) or not isinstance(payload, str):
            raise InvalidInput(f"{what}: mimeType and payload must be strings")
        annotations = obj(ann, "annotations", what, None)
        if not all(isinstance(v, str) for v in annotations.values()):
            raise InvalidInput(f"{what}: annotations must map strings to strings")
        try:
            raw = base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidInput(f"{what}: payload is not base64") from None
        return CosignSignature(mime_type=mime, payload=raw, annotations=annotations)

    def to_internal(self) -> bytes:
        doc = {
            "mimeType": self.mime_type,
            "payload": base64.b64encode(self.payload).decode(),
            "annotations": self.annotations,
        }
        return INTERNAL_PREFIX + dump(doc)


@dataclass(frozen=True, slots=True, kw_only=True)
class CosignPayload:
    manifest_digest: Digest
    docker_reference: str
    optional: dict[str, Any] | None = None

    def to_bytes(self) -> bytes:
        doc = {
            "critical": {
                "identity": {"docker-reference": self.docker_reference},
                "image": {"docker-manifest-digest": str(self.manifest_digest)},
                "type": PAYLOAD_TYPE,
            },
            "optional": self.optional,
        }
        return dump(doc)

    @staticmethod
    def parse(raw: bytes, what: str = "cosign payload") -> CosignPayload:
        top = obj(load_json(raw, what), "", what, ("critical", "optional"))
        if "critical" not in top or "optional" not in top:
            raise InvalidInput(f"{what}: fields 'critical' and 'optional' are required")
        critical = obj(top["critical"], "critical", what, ("type", "image", "identity"))
        if critical.get("type") != PAYLOAD_TYPE:
            raise InvalidInput(f"{what}: critical.type {critical.get('type')!r} is not recognised")
        image = obj(critical.get("image"), "critical.image", what, ("docker-manifest-digest",))
        ident = obj(critical.get("identity"), "critical.identity", what, ("docker-reference",))
        digest_text, reference = image.get("docker-manifest-digest"), ident.get("docker-reference")
        if not isinstance(digest_text, str) or not isinstance(reference, str):
            raise InvalidInput(f"{what}: digest and docker-reference must be strings")
        optional: dict[str, Any] | None = None
        if top["optional"] is not None:  # cosign writes null when there are no annotations
            optional = obj(top["optional"], "optional", what, None)
            ts = optional.get("timestamp")
            if ts is not None and (
                isinstance(ts, bool)
                or not isinstance(ts, int | float)
                or (isinstance(ts, float) and not ts.is_integer())
            ):
                raise InvalidInput(f"{what}: optional.timestamp is not an integer")
        try:
            digest = Digest.parse(digest_text)
        except InvalidInput as exc:
            raise InvalidInput(f"{what}: critical.image.docker-manifest-digest: {exc}") from None
        return CosignPayload(manifest_digest=digest, docker_reference=reference, optional=optional)


def verify_raw(key: PublicKey, signature: bytes, data: bytes) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
        elif isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
        else:
            key.verify(signature, data)
    except InvalidSignature:
        return False
    return True


def signature_bytes(sig: CosignSignature, what: str) -> bytes:
    """The raw signature in the annotation: base64, line breaks ignored (as Go's decoder
    and cosign, which wraps long signatures, do); TrustError if missing or malformed."""
    encoded = sig.annotations.get(SIGNATURE_ANNOTATION)
    if encoded is None:
        raise TrustError(f"{what}: annotation {SIGNATURE_ANNOTATION} is missing")
    try:
        return base64.b64decode(encoded.replace("\r", "").replace("\n", ""), validate=True)
    except (binascii.Error, ValueError):
        raise TrustError(f"{what}: annotation {SIGNATURE_ANNOTATION} is not base64") from None


def verify_cosign(
    sig: CosignSignature,
    keys: Sequence[PublicKey],
    manifest_raw: bytes,
    accept_identity: Callable[[str], bool],
    what: str = "cosign signature",
) -> CosignPayload:
    """Verify one signature against any of `keys`; raise TrustError saying why not."""
    return verify_cosign_key(sig, keys, manifest_raw, accept_identity, what)[0]


def verify_cosign_key(
    sig: CosignSignature,
    keys: Sequence[PublicKey],
    manifest_raw: bytes,
    accept_identity: Callable[[str], bool],
    what: str = "cosign signature",
) -> tuple[CosignPayload, PublicKey]:
    """`verify_cosign`, also giving the key of `keys` that verified the signature (what a
    Rekor entry must then name: no second verification to find it)."""
    if sig.mime_type != MIME_TYPE:
        raise TrustError(f"{what}: unexpected MIME type {sig.mime_type!r}")
    raw_sig = signature_bytes(sig, what)
    key = next((k for k in keys if verify_raw(k, raw_sig, sig.payload)), None)
    if key is None:
        raise TrustError(f"{what}: cryptographic signature verification failed")
    try:
        payload = CosignPayload.parse(sig.payload, f"{what} payload")
    except InvalidInput as exc:
        raise TrustError(f"invalid {exc.message}") from None
    check_signed_claims(
        manifest_raw, payload.manifest_digest, payload.docker_reference, accept_identity, what
    )
    return payload, key


def sign_cosign(
    manifest_raw: bytes,
    docker_reference: str,
    key: PrivateKey,
    *,
    timestamp: int | None = None,
) -> CosignSignature:
    """A cosign signature of `manifest_raw` as `docker_reference`, made with `key`."""
    payload = CosignPayload(
        manifest_digest=docker_manifest_digest(manifest_raw),
        docker_reference=docker_reference,
        optional={
            "creator": CREATOR,
            "timestamp": int(time.time()) if timestamp is None else timestamp,
        },
    ).to_bytes()
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

    if isinstance(key, ec.EllipticCurvePrivateKey):
        raw = key.sign(payload, ec.ECDSA(hashes.SHA256()))
    elif isinstance(key, rsa.RSAPrivateKey):
        raw = key.sign(payload, padding.PKCS1v15(), hashes.SHA256())
    elif isinstance(key, ed25519.Ed25519PrivateKey):
        raw = key.sign(payload)
    annotations = {SIGNATURE_ANNOTATION: base64.b64encode(raw).decode()}
    return CosignSignature(payload=payload, annotations=annotations)


def signature_tag(manifest_digest: Digest) -> str:
    """The tag cosign stores an image's signatures under: `sha256-<hex>.sig`."""
    return f"{manifest_digest.algorithm}-{manifest_digest.hex}.sig"
