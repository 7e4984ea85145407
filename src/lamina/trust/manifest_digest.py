"""The digest a signature names, computed from manifest bytes as Docker does.

For every format but signed schema 1 this is the digest of the raw bytes. A schema 1 manifest
with JWS `signatures` is digested without them: each signature's protected header says how
long the payload is (`formatLength`) and what tail (`formatTail`) closes it; all signatures
must agree, and anything malformed means no digest can be computed.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from typing import Any

from lamina.digest import Digest
from lamina.errors import InvalidInput, TrustError


def _b64url(text: Any) -> bytes:
    if not isinstance(text, str):
        raise ValueError("not a string")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _schema1_payload(raw: bytes, doc: dict[str, Any]) -> bytes:
    signatures = doc["signatures"]
    if not isinstance(signatures, list) or not signatures:
        raise ValueError("'signatures' must be a non-empty list")
    payloads: set[bytes] = set()
    for sig in signatures:
        header = json.loads(_b64url(sig["protected"]))
        length, tail = header["formatLength"], _b64url(header["formatTail"])
        if not isinstance(length, int) or isinstance(length, bool) or not 0 < length <= len(raw):
            raise ValueError("bad formatLength")
        payloads.add(raw[:length] + tail)
    if len(payloads) != 1:
        raise ValueError("signatures disagree on the payload")
    return payloads.pop()


def docker_manifest_digest(raw: bytes, algorithm: str = "sha256") -> Digest:
    """The manifest digest of `raw`; InvalidInput if it is signed schema 1 and malformed."""
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return Digest.of_bytes(raw, algorithm)
    if isinstance(doc, dict) and doc.get("schemaVersion") == 1 and "signatures" in doc:
        try:
            raw = _schema1_payload(raw, doc)
        except (ValueError, KeyError, TypeError, binascii.Error) as exc:
            raise InvalidInput(f"schema 1 manifest: invalid JWS signatures: {exc}") from None
    return Digest.of_bytes(raw, algorithm)


def manifest_matches_digest(raw: bytes, expected: Digest) -> bool:
    """True if `raw` is the manifest `expected` names (False if it cannot be digested)."""
    try:
        return docker_manifest_digest(raw, expected.algorithm) == expected
    except InvalidInput:
        return False


def check_signed_claims(
    manifest_raw: bytes,
    digest: Digest,
    identity: str,
    accept_identity: Callable[[str], bool],
    what: str,
) -> None:
    """After a signature is verified: raise TrustError unless the digest it signs names
    `manifest_raw` and `accept_identity` accepts the docker-reference it signs."""
    if not manifest_matches_digest(manifest_raw, digest):
        raise TrustError(f"{what}: signed digest {digest} does not match the manifest")
    if not accept_identity(identity):
        raise TrustError(f"{what}: signed identity {identity!r} is not accepted by the policy")
