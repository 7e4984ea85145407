"""Making Sigstore bundle v0.3 signatures of a manifest with a private key.

This producer is lamina's own, written from the bundle v0.3 protobuf spec, the DSSE spec
and the in-toto Statement v1 spec; it is checked against those specs (and our verifier), not
against cosign output. A DSSE bundle signs an in-toto statement whose subject is
`{"name": REPO, "digest": {"sha256": HEX}}` with predicate type
`https://sigstore.dev/cosign/sign/v1`; a messageSignature bundle signs the manifest bytes.
With `rekor_key`, a tlog entry whose SET that key makes is added (a stand-in for a Rekor
server, for offline flows and tests).
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from typing import TYPE_CHECKING, Any

from lamina.trust import rekor
from lamina.trust.bundle import IN_TOTO_PAYLOAD_TYPE, MEDIA_TYPE, Bundle, pae
from lamina.trust.manifest_digest import docker_manifest_digest

if TYPE_CHECKING:
    from lamina.trust.cosign_keys import PrivateKey

PREDICATE_TYPE = "https://sigstore.dev/cosign/sign/v1"


def sign_raw(key: PrivateKey, data: bytes) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(data, ec.ECDSA(hashes.SHA256()))
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    return key.sign(data)


def statement(manifest_raw: bytes, name: str) -> bytes:
    digest = docker_manifest_digest(manifest_raw)
    doc = {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": name, "digest": {digest.algorithm: digest.hex}}],
        "predicateType": PREDICATE_TYPE,
        "predicate": {},
    }
    return json.dumps(doc, separators=(",", ":")).encode()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def sign_bundle(
    manifest_raw: bytes,
    name: str,
    key: PrivateKey,
    *,
    kind: str = "dsse",
    payload: bytes | None = None,
    rekor_key: PrivateKey | None = None,
    integrated_time: int | None = None,
    log_index: int = 0,
) -> Bundle:
    """A bundle signing `manifest_raw` as `name` (a Docker reference; for "dsse" the
    statement subject name). `payload` replaces the statement (for tests of bad ones)."""
    from cryptography.hazmat.primitives import serialization

    public = key.public_key()
    public_pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    doc: dict[str, Any] = {"mediaType": MEDIA_TYPE}
    material: dict[str, Any] = {"publicKey": {"hint": rekor.key_id(public)}}
    if kind == "dsse":
        body = statement(manifest_raw, name) if payload is None else payload
        sig = sign_raw(key, pae(IN_TOTO_PAYLOAD_TYPE, body))
        envelope = {
            "payload": _b64(body),
            "payloadType": IN_TOTO_PAYLOAD_TYPE,
            "signatures": [{"sig": _b64(sig), "keyid": ""}],
        }
        doc["dsseEnvelope"] = envelope
        entry_body = rekor.dsse_body(
            json.dumps(envelope, separators=(",", ":")).encode(), body, [(sig, public_pem)]
        )
    elif kind == "messageSignature":
        sig = sign_raw(key, manifest_raw)
        doc["messageSignature"] = {
            "messageDigest": {
                "algorithm": "SHA2_256",
                "digest": _b64(hashlib.sha256(manifest_raw).digest()),
            },
            "signature": _b64(sig),
        }
        entry_body = rekor.hashedrekord_body(sig, public_pem, manifest_raw)
    else:
        raise ValueError(f"unknown bundle kind {kind!r}")
    if rekor_key is not None:
        entry = rekor.make_entry(
            rekor_key,
            body=entry_body,
            integrated_time=int(time.time()) if integrated_time is None else integrated_time,
            log_index=log_index,
        )
        material["tlogEntries"] = [tlog_entry(entry, entry_body)]
    doc["verificationMaterial"] = material
    order = ["mediaType", "verificationMaterial", "dsseEnvelope", "messageSignature"]
    ordered = {k: doc[k] for k in order if k in doc}
    return Bundle.parse(json.dumps(ordered, separators=(",", ":")).encode())


def tlog_entry(entry: rekor.RekorEntry, body: dict[str, Any]) -> dict[str, Any]:
    """`entry` in the bundle's protobuf-JSON form."""
    return {
        "logIndex": str(entry.log_index),
        "logId": {"keyId": _b64(bytes.fromhex(entry.log_id))},
        "kindVersion": {"kind": body["kind"], "version": body["apiVersion"]},
        "integratedTime": str(entry.integrated_time),
        "inclusionPromise": {"signedEntryTimestamp": _b64(entry.signed_entry_timestamp)},
        "canonicalizedBody": _b64(entry.body),
    }
