"""Simple signing (containers-signature(5)): a JSON claim wrapped in an OpenPGP signature.

The payload is written exactly as containers/image writes it (compact, keys sorted, Go's
escaping): `{"critical":{"identity":{"docker-reference":R},"image":{"docker-manifest-digest":
D},"type":"atomic container signature"},"optional":{"creator":C,"timestamp":T}}`.

Verification order (the spec's): authenticate the OpenPGP message with the allowed keys
first; only then parse the JSON, strictly (unknown `critical` members, duplicate keys and a
fractional timestamp reject it); then check the manifest digest, then the identity.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lamina.digest import Digest
from lamina.errors import InvalidInput, TrustError
from lamina.oci.jsonio import dump
from lamina.reference import Reference
from lamina.trust.manifest_digest import check_signed_claims, docker_manifest_digest
from lamina.trust.policy_parse import load_json, obj

if TYPE_CHECKING:  # gpg (and subprocess) load when a signature is made or checked
    from lamina.trust import gpg

SIGNATURE_TYPE = "atomic container signature"
CREATOR = "lamina 0.1.0"


@dataclass(frozen=True, slots=True, kw_only=True)
class SimplePayload:
    """The claim of a simple signature: this manifest digest is this image."""

    manifest_digest: Digest
    docker_reference: str
    creator: str | None = None
    timestamp: int | None = None

    def to_bytes(self) -> bytes:
        optional: dict[str, Any] = {}
        if self.creator is not None:
            optional["creator"] = self.creator
        if self.timestamp is not None:
            optional["timestamp"] = self.timestamp
        doc = {
            "critical": {
                "identity": {"docker-reference": self.docker_reference},
                "image": {"docker-manifest-digest": str(self.manifest_digest)},
                "type": SIGNATURE_TYPE,
            },
            "optional": dict(sorted(optional.items())),
        }
        return dump(doc)

    @staticmethod
    def parse(raw: bytes, what: str = "signature payload") -> SimplePayload:
        """Strict parsing of an authenticated payload; InvalidInput names what is wrong."""
        top = obj(load_json(raw, what), "", what, ("critical", "optional"))
        for key in ("critical", "optional"):
            if key not in top:
                raise InvalidInput(f"{what}: field {key!r} is missing")
        critical = obj(top["critical"], "critical", what, ("type", "image", "identity"))
        for key in ("type", "image", "identity"):
            if key not in critical:
                raise InvalidInput(f"{what}: critical: field {key!r} is missing")
        if critical["type"] != SIGNATURE_TYPE:
            raise InvalidInput(f"{what}: critical.type {critical['type']!r} is not recognised")
        image = obj(critical["image"], "critical.image", what, ("docker-manifest-digest",))
        identity = obj(critical["identity"], "critical.identity", what, ("docker-reference",))
        digest_text = image.get("docker-manifest-digest")
        reference = identity.get("docker-reference")
        if not isinstance(digest_text, str):
            raise InvalidInput(f"{what}: critical.image.docker-manifest-digest must be a string")
        if not isinstance(reference, str):
            raise InvalidInput(f"{what}: critical.identity.docker-reference must be a string")
        try:
            digest = Digest.parse(digest_text)
        except InvalidInput as exc:
            raise InvalidInput(f"{what}: critical.image.docker-manifest-digest: {exc}") from None
        optional = obj(top["optional"], "optional", what, None)
        creator = optional.get("creator")
        if creator is not None and not isinstance(creator, str):
            raise InvalidInput(f"{what}: optional.creator must be a string")
        timestamp = optional.get("timestamp")
        if timestamp is not None:
            if isinstance(timestamp, bool) or not isinstance(timestamp, int | float):
                raise InvalidInput(f"{what}: optional.timestamp must be a number")
            if isinstance(timestamp, float):
                if not timestamp.is_integer():
                    raise InvalidInput(f"{what}: optional.timestamp is not an integer")
                timestamp = int(timestamp)
        return SimplePayload(
            manifest_digest=digest,
            docker_reference=reference,
            creator=creator,
            timestamp=timestamp,
        )


def sign_simple(
    manifest_raw: bytes,
    docker_reference: str,
    key: str,
    *,
    homedir: str | None = None,
    passphrase_file: str | None = None,
    timestamp: int | None = None,
) -> bytes:
    """A simple signature claiming `manifest_raw` is `docker_reference` (as given: podman and
    skopeo sign the reference the user names), made with gpg key `key`."""
    Reference.parse(docker_reference, default_tag=False)
    payload = SimplePayload(
        manifest_digest=docker_manifest_digest(manifest_raw),
        docker_reference=docker_reference,
        creator=CREATOR,
        timestamp=int(time.time()) if timestamp is None else timestamp,
    )
    from lamina.trust import gpg

    return gpg.sign(payload.to_bytes(), key, homedir=homedir, passphrase_file=passphrase_file)


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifiedSignature:
    payload: SimplePayload
    key_fingerprint: str


def verify_simple(
    signature: bytes,
    keyring: gpg.Keyring,
    manifest_raw: bytes,
    accept_identity: Callable[[str], bool],
    *,
    trusted: Sequence[str] | None = None,
    what: str = "signature",
) -> VerifiedSignature:
    """Verify one simple signature; raise TrustError saying why it is not accepted.

    `trusted` limits the accepted primary-key fingerprints (default: every key of
    `keyring`); `accept_identity` judges the signed docker-reference."""
    message = keyring.verify(signature, what)
    allowed = {f.upper() for f in (trusted if trusted is not None else keyring.fingerprints)}
    if message.primary_fingerprint not in allowed:
        raise TrustError(f"{what}: signed by key {message.primary_fingerprint}, not a trusted key")
    try:
        payload = SimplePayload.parse(message.plaintext, f"{what} payload")
    except InvalidInput as exc:
        raise TrustError(f"invalid {exc.message}") from None
    check_signed_claims(
        manifest_raw, payload.manifest_digest, payload.docker_reference, accept_identity, what
    )
    return VerifiedSignature(payload=payload, key_fingerprint=message.primary_fingerprint)


def exact_identity(expected: str) -> Callable[[str], bool]:
    """The identity rule of `skopeo standalone-verify`: the same normalised reference."""
    want = Reference.parse(expected, default_tag=False)

    def accept(signed: str) -> bool:
        try:
            return str(Reference.parse(signed, default_tag=False)) == str(want)
        except InvalidInput:
            return False

    return accept


def standalone_verify(
    signature: bytes,
    manifest_raw: bytes,
    expected_reference: str,
    public_keys: Sequence[bytes],
    fingerprint: str | None = None,
) -> VerifiedSignature:
    """As `skopeo standalone-verify`: the signature by one of `public_keys` (or exactly
    `fingerprint`) for `manifest_raw` and exactly `expected_reference`."""
    from lamina.trust import gpg

    with gpg.Keyring(public_keys) as keyring:
        return verify_simple(
            signature,
            keyring,
            manifest_raw,
            exact_identity(expected_reference),
            trusted=[fingerprint] if fingerprint else None,
        )
