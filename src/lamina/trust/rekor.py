"""Rekor signed entry timestamps (SETs), verified offline with the log's public key(s).

A SET is the log's ECDSA (P-256, SHA-256) signature over the canonical JSON (RFC 8785; here
only strings and integers, so sorted keys and no spaces) of
`{"body":B64,"integratedTime":N,"logID":HEX,"logIndex":N}`. `body` is the base64 of the
entry's canonicalized body; `logID` is the hex SHA-256 of the log key's DER
SubjectPublicKeyInfo. Tag-based cosign signatures carry it in the annotation
`dev.sigstore.cosign/bundle` as `{"SignedEntryTimestamp":B64,"Payload":{"body",
"integratedTime","logIndex","logID"}}`; Sigstore bundles in
`verificationMaterial.tlogEntries[].inclusionPromise.signedEntryTimestamp`.

Order (as containers/image): the SET signature with any trusted log key, then the log ID
names that key, and only then the (now trusted) body is compared with the signature it must
record: a `hashedrekord` v0.0.1 entry (data hash, signature, public key) or a `dsse` v0.0.1
entry (payload hash, signatures with verifiers). Inclusion proofs are not checked (offline).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lamina.errors import InvalidInput, TrustError
from lamina.trust.cosign_keys import load_public_keys

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import ec

    from lamina.trust.cosign_keys import PrivateKey, PublicKey

SET_ANNOTATION = "dev.sigstore.cosign/bundle"


def b64decode(text: object, what: str) -> bytes:
    if not isinstance(text, str):
        raise TrustError(f"{what} is not a base64 string")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise TrustError(f"{what} is not base64") from None


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def spki_der(key: PublicKey) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def key_id(key: PublicKey) -> str:
    """Hex SHA-256 of the key's DER SubjectPublicKeyInfo (a Rekor log ID)."""
    return hashlib.sha256(spki_der(key)).hexdigest()


def load_rekor_keys(blobs: Sequence[bytes]) -> list[ec.EllipticCurvePublicKey]:
    """Rekor public keys (PEM); only ECDSA keys sign SETs."""
    from cryptography.hazmat.primitives.asymmetric import ec

    out: list[ec.EllipticCurvePublicKey] = []
    for blob in blobs:
        try:
            keys = load_public_keys(blob, "rekor public key")
        except InvalidInput as exc:
            raise TrustError(exc.message) from None
        for key in keys:
            if not isinstance(key, ec.EllipticCurvePublicKey):
                raise TrustError(f"rekor public key: {type(key).__name__} is not an ECDSA key")
            out.append(key)
    return out


def _int(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TrustError(f"{what} is not an integer")
    return value


@dataclass(frozen=True, slots=True, kw_only=True)
class RekorEntry:
    """An untrusted log entry with its SET, as either signature format carries it."""

    body: bytes
    integrated_time: int
    log_index: int
    log_id: str
    signed_entry_timestamp: bytes

    def signed_payload(self) -> bytes:
        doc = {
            "body": b64(self.body),
            "integratedTime": self.integrated_time,
            "logID": self.log_id,
            "logIndex": self.log_index,
        }
        return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()

    @staticmethod
    def from_annotation(text: str, what: str = SET_ANNOTATION) -> RekorEntry:
        """Parse the `dev.sigstore.cosign/bundle` annotation of a tag-based signature."""
        try:
            top: Any = json.loads(text)
        except ValueError:
            raise TrustError(f"{what}: not JSON") from None
        if not isinstance(top, dict) or not isinstance(top.get("Payload"), dict):
            raise TrustError(f"{what}: expected {{SignedEntryTimestamp, Payload}}")
        payload = top["Payload"]
        log_id = payload.get("logID")
        if not isinstance(log_id, str):
            raise TrustError(f"{what}: Payload.logID is not a string")
        return RekorEntry(
            body=b64decode(payload.get("body"), f"{what}: Payload.body"),
            integrated_time=_int(payload.get("integratedTime"), f"{what}: Payload.integratedTime"),
            log_index=_int(payload.get("logIndex"), f"{what}: Payload.logIndex"),
            log_id=log_id,
            signed_entry_timestamp=b64decode(
                top.get("SignedEntryTimestamp"), f"{what}: SignedEntryTimestamp"
            ),
        )

    def to_annotation(self) -> str:
        doc = {
            "SignedEntryTimestamp": b64(self.signed_entry_timestamp),
            "Payload": {
                "body": b64(self.body),
                "integratedTime": self.integrated_time,
                "logIndex": self.log_index,
                "logID": self.log_id,
            },
        }
        return json.dumps(doc, separators=(",", ":"))

    def verify_set(
        self, rekor_keys: Sequence[ec.EllipticCurvePublicKey], what: str = "Rekor SET"
    ) -> dict[str, Any]:
        """Check the SET and the log ID; return the (now trusted) entry body as JSON."""
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec

        data = self.signed_payload()
        signer = None
        for key in rekor_keys:
            try:
                key.verify(self.signed_entry_timestamp, data, ec.ECDSA(hashes.SHA256()))
            except InvalidSignature:
                continue
            signer = key
            break
        if signer is None:
            raise TrustError(f"{what}: cryptographic verification of the SET failed")
        if self.log_id != key_id(signer):
            raise TrustError(
                f"{what}: log ID {self.log_id} is not the ID {key_id(signer)} of the log key"
            )
        try:
            body: Any = json.loads(self.body)
        except ValueError:
            raise TrustError(f"{what}: the entry body is not JSON") from None
        if not isinstance(body, dict) or not isinstance(body.get("spec"), dict):
            raise TrustError(f"{what}: the entry body has no spec")
        return body


def _pem_or_der(blob: bytes) -> bytes:
    """DER of a PEM public key or certificate (or `blob` itself if it is not PEM)."""
    text = blob.strip()
    if not text.startswith(b"-----BEGIN "):
        return blob
    lines = text.splitlines()
    return base64.b64decode(b"".join(lines[1:-1]))


def _digest_of(spec: dict[str, Any], field: str, what: str) -> str:
    value = spec.get(field)
    if not isinstance(value, dict) or value.get("algorithm") != "sha256":
        raise TrustError(f"{what}: {field} is not a sha256 hash")
    hex_value = value.get("value")
    if not isinstance(hex_value, str):
        raise TrustError(f"{what}: {field}.value is not a string")
    return hex_value


def check_body(
    body: dict[str, Any],
    *,
    signature: bytes,
    key_der: bytes,
    signed: bytes,
    what: str = "Rekor entry",
) -> None:
    """The trusted `body` must record `signature` by the key `key_der` (DER SPKI, or a
    certificate's DER) over `signed` (the payload; for a hashedrekord, hashed)."""
    kind, version, spec = body.get("kind"), body.get("apiVersion"), body["spec"]
    want_hash = hashlib.sha256(signed).hexdigest()
    try:
        if (kind, version) == ("hashedrekord", "0.0.1"):
            data = spec.get("data")
            if not isinstance(data, dict) or _digest_of(data, "hash", what) != want_hash:
                raise TrustError(f"{what}: the logged data hash is not the payload's")
            sig = spec.get("signature")
            if not isinstance(sig, dict) or not isinstance(sig.get("publicKey"), dict):
                raise TrustError(f"{what}: no signature in the entry")
            logged = [(sig.get("content"), sig["publicKey"].get("content"))]
        elif (kind, version) == ("dsse", "0.0.1"):
            if _digest_of(spec, "payloadHash", what) != want_hash:
                raise TrustError(f"{what}: the logged payload hash is not the payload's")
            sigs = spec.get("signatures")
            if not isinstance(sigs, list):
                raise TrustError(f"{what}: no signatures in the entry")
            logged = [(s.get("signature"), s.get("verifier")) for s in sigs if isinstance(s, dict)]
        else:
            raise TrustError(f"{what}: entry kind {kind!r} version {version!r} is not supported")
        for sig_b64, key_b64 in logged:
            if (
                b64decode(sig_b64, f"{what}: signature") == signature
                and _pem_or_der(b64decode(key_b64, f"{what}: public key")) == key_der
            ):
                return
    except (binascii.Error, ValueError):
        raise TrustError(f"{what}: malformed public key in the entry") from None
    raise TrustError(f"{what}: the logged signature or key is not this signature's")


def make_entry(
    rekor_key: PrivateKey,
    *,
    body: dict[str, Any],
    integrated_time: int,
    log_index: int,
) -> RekorEntry:
    """A log entry with a SET made by `rekor_key` (an ECDSA key): what a Rekor server would
    return. For tests and offline signing flows; not a transparency log."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    if not isinstance(rekor_key, ec.EllipticCurvePrivateKey):
        raise InvalidInput("a Rekor key is an ECDSA key")
    unsigned = RekorEntry(
        body=json.dumps(body, sort_keys=True, separators=(",", ":")).encode(),
        integrated_time=integrated_time,
        log_index=log_index,
        log_id=key_id(rekor_key.public_key()),
        signed_entry_timestamp=b"",
    )
    sig = rekor_key.sign(unsigned.signed_payload(), ec.ECDSA(hashes.SHA256()))
    return RekorEntry(
        body=unsigned.body,
        integrated_time=integrated_time,
        log_index=log_index,
        log_id=unsigned.log_id,
        signed_entry_timestamp=sig,
    )


def hashedrekord_body(signature: bytes, public_pem: bytes, signed: bytes) -> dict[str, Any]:
    """A hashedrekord v0.0.1 entry body for `signature` of `signed` by the key in PEM."""
    return {
        "apiVersion": "0.0.1",
        "kind": "hashedrekord",
        "spec": {
            "data": {"hash": {"algorithm": "sha256", "value": hashlib.sha256(signed).hexdigest()}},
            "signature": {"content": b64(signature), "publicKey": {"content": b64(public_pem)}},
        },
    }


def dsse_body(envelope_json: bytes, payload: bytes, signatures: list[tuple[bytes, bytes]]) -> Any:
    """A dsse v0.0.1 entry body; `signatures` are (signature, verifier PEM) pairs."""
    return {
        "apiVersion": "0.0.1",
        "kind": "dsse",
        "spec": {
            "envelopeHash": {
                "algorithm": "sha256",
                "value": hashlib.sha256(envelope_json).hexdigest(),
            },
            "payloadHash": {"algorithm": "sha256", "value": hashlib.sha256(payload).hexdigest()},
            "signatures": [{"signature": b64(s), "verifier": b64(v)} for s, v in signatures],
        },
    }
