"""Sigstore bundles (v0.3) as OCI 1.1 referrers of an image, verified with public keys.

The referrer is a manifest with `artifactType` `application/vnd.dev.sigstore.bundle.v0.3+json`
whose `subject` is the image manifest and whose layer is the bundle JSON (protobuf-JSON field
names; 64-bit integers as strings, bytes as base64):
`{"mediaType", "verificationMaterial": {"publicKey": {"hint"} | "certificate": {"rawBytes"},
"tlogEntries": [{"logIndex", "logId": {"keyId"}, "kindVersion": {"kind", "version"},
"integratedTime", "inclusionPromise": {"signedEntryTimestamp"}, "canonicalizedBody"}]},
"dsseEnvelope": {"payload", "payloadType", "signatures": [{"sig", "keyid"}]} |
"messageSignature": {"messageDigest": {"algorithm": "SHA2_256", "digest"}, "signature"}}`.

A DSSE signature is over PAE(payloadType, payload) (DSSE spec:
`"DSSEv1" SP len(type) SP type SP len(body) SP body`, lengths in ASCII decimal); its payload
must be an in-toto statement (`application/vnd.in-toto+json`) with a subject whose sha256 is
the image's manifest digest. The signed identity is that subject's `name` (with `@digest`
added when it has neither tag nor digest), so a tag pull under `matchRepoDigestOrExact`
needs a subject name with that tag. A `messageSignature` is over the manifest bytes, whose
SHA-256 is `messageDigest`; it names no image, so it verifies but never satisfies a
signedIdentity (reported as such).

`hint` is matched, when present, against lamina's key ID: the hex SHA-256 of the key's DER
SubjectPublicKeyInfo (what `bundle_sign` writes). Sources carry a bundle as the blob
`\\x00sigstore-bundle\\n` + JSON (lamina's own form; containers/image has none).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lamina.digest import Digest
from lamina.errors import InvalidInput, TrustError
from lamina.trust import rekor
from lamina.trust.cosign import verify_raw
from lamina.trust.internal_forms import BUNDLE_PREFIX
from lamina.trust.manifest_digest import manifest_matches_digest
from lamina.trust.rekor import RekorEntry, b64decode

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import ec

    from lamina.trust.cosign_keys import PublicKey

MEDIA_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
MEDIA_TYPES = (MEDIA_TYPE, "application/vnd.dev.sigstore.bundle+json;version=0.3")
ARTIFACT_TYPE = MEDIA_TYPE
IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPES = ("https://in-toto.io/Statement/v1", "https://in-toto.io/Statement/v0.1")
INTERNAL_PREFIX = BUNDLE_PREFIX
MAX_BUNDLE = 4 << 20


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE pre-authentication encoding."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def _dict(value: object, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TrustError(f"{what} is not an object")
    return value


def _int_text(value: object, what: str) -> int:
    # protobuf JSON writes int64 as a string; accept a plain number too
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise TrustError(f"{what} is not an integer")


@dataclass(frozen=True, slots=True, kw_only=True)
class Bundle:
    """An untrusted bundle; `doc` is its parsed JSON, `raw` the bytes it came as."""

    raw: bytes
    doc: dict[str, Any]

    @staticmethod
    def parse(raw: bytes, what: str = "sigstore bundle") -> Bundle:
        try:
            doc = json.loads(raw)
        except ValueError:
            raise TrustError(f"{what}: not JSON") from None
        doc = _dict(doc, what)
        if doc.get("mediaType") not in MEDIA_TYPES:
            raise TrustError(f"{what}: media type {doc.get('mediaType')!r} is not bundle v0.3")
        _dict(doc.get("verificationMaterial"), f"{what}: verificationMaterial")
        if ("dsseEnvelope" in doc) == ("messageSignature" in doc):
            raise TrustError(f"{what}: needs exactly one of dsseEnvelope and messageSignature")
        return Bundle(raw=raw, doc=doc)

    @staticmethod
    def is_internal(blob: bytes) -> bool:
        return blob.startswith(INTERNAL_PREFIX)

    @staticmethod
    def from_internal(blob: bytes, what: str = "sigstore bundle") -> Bundle:
        if not blob.startswith(INTERNAL_PREFIX):
            raise InvalidInput(f"{what}: not a bundle blob")
        return Bundle.parse(blob[len(INTERNAL_PREFIX) :], what)

    def to_internal(self) -> bytes:
        return INTERNAL_PREFIX + self.raw

    @property
    def material(self) -> dict[str, Any]:
        return dict(self.doc["verificationMaterial"])

    @property
    def hint(self) -> str | None:
        key = self.material.get("publicKey")
        hint = key.get("hint") if isinstance(key, dict) else None
        return hint if isinstance(hint, str) and hint else None

    def tlog_entries(self, what: str) -> list[RekorEntry]:
        entries = self.material.get("tlogEntries") or []
        if not isinstance(entries, list):
            raise TrustError(f"{what}: tlogEntries is not a list")
        out = []
        for i, value in enumerate(entries):
            w = f"{what}: tlogEntries[{i}]"
            entry = _dict(value, w)
            promise = entry.get("inclusionPromise")
            if not isinstance(promise, dict):
                continue  # an entry without a promise has no SET to check offline
            out.append(
                RekorEntry(
                    body=b64decode(entry.get("canonicalizedBody"), f"{w}.canonicalizedBody"),
                    integrated_time=_int_text(entry.get("integratedTime"), f"{w}.integratedTime"),
                    log_index=_int_text(entry.get("logIndex"), f"{w}.logIndex"),
                    log_id=b64decode(
                        _dict(entry.get("logId"), f"{w}.logId").get("keyId"), f"{w}.logId.keyId"
                    ).hex(),
                    signed_entry_timestamp=b64decode(
                        promise.get("signedEntryTimestamp"),
                        f"{w}.inclusionPromise.signedEntryTimestamp",
                    ),
                )
            )
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class BundleVerdict:
    kind: str  # "dsse" or "messageSignature"
    identity: str | None
    key_id: str


def _candidates(bundle: Bundle, keys: Sequence[PublicKey], what: str) -> list[PublicKey]:
    if "certificate" in bundle.material or "x509CertificateChain" in bundle.material:
        raise TrustError(f"{what}: carries a certificate, but the policy trusts public keys")
    hint = bundle.hint
    if hint is None:
        return list(keys)
    named = [k for k in keys if rekor.key_id(k) == hint]
    if not named:
        raise TrustError(f"{what}: key hint {hint!r} names no key the policy trusts")
    return named


def _verify_dsse(
    bundle: Bundle, keys: Sequence[PublicKey], manifest_raw: bytes, what: str
) -> tuple[str | None, PublicKey, bytes, bytes]:
    env = _dict(bundle.doc["dsseEnvelope"], f"{what}: dsseEnvelope")
    payload_type = env.get("payloadType")
    if payload_type != IN_TOTO_PAYLOAD_TYPE:
        raise TrustError(f"{what}: DSSE payloadType {payload_type!r} is not in-toto")
    payload = b64decode(env.get("payload"), f"{what}: DSSE payload")
    sigs = env.get("signatures")
    if not isinstance(sigs, list) or not sigs:
        raise TrustError(f"{what}: the DSSE envelope has no signatures")
    message = pae(payload_type, payload)
    found: tuple[PublicKey, bytes] | None = None
    for s in sigs:
        sig = b64decode(_dict(s, f"{what}: DSSE signature").get("sig"), f"{what}: DSSE sig")
        key = next((k for k in keys if verify_raw(k, sig, message)), None)
        if key is not None:
            found = (key, sig)
            break
    if found is None:
        raise TrustError(f"{what}: cryptographic signature verification failed")
    try:
        statement = _dict(json.loads(payload), f"{what}: in-toto statement")
    except ValueError:
        raise TrustError(f"{what}: the in-toto statement is not JSON") from None
    if statement.get("_type") not in STATEMENT_TYPES:
        raise TrustError(f"{what}: _type {statement.get('_type')!r} is not an in-toto statement")
    subjects = statement.get("subject")
    if not isinstance(subjects, list):
        raise TrustError(f"{what}: the statement has no subject list")
    for subject in subjects:
        digests = subject.get("digest") if isinstance(subject, dict) else None
        hex_value = digests.get("sha256") if isinstance(digests, dict) else None
        if not isinstance(hex_value, str) or not Digest.is_valid(f"sha256:{hex_value}"):
            continue
        if manifest_matches_digest(manifest_raw, Digest.parse(f"sha256:{hex_value}")):
            name = subject.get("name")
            identity = None
            if isinstance(name, str) and name:
                identity = name if ("@" in name or ":" in name.rpartition("/")[2]) else None
                identity = identity or f"{name}@sha256:{hex_value}"
            return identity, found[0], found[1], payload
    raise TrustError(f"{what}: no statement subject has the image's manifest digest")


def _verify_message(
    bundle: Bundle, keys: Sequence[PublicKey], manifest_raw: bytes, what: str
) -> tuple[PublicKey, bytes]:
    msg = _dict(bundle.doc["messageSignature"], f"{what}: messageSignature")
    md = _dict(msg.get("messageDigest"), f"{what}: messageDigest")
    if md.get("algorithm") != "SHA2_256":
        raise TrustError(f"{what}: message digest algorithm {md.get('algorithm')!r} unsupported")
    if (
        b64decode(md.get("digest"), f"{what}: messageDigest.digest")
        != hashlib.sha256(manifest_raw).digest()
    ):
        raise TrustError(f"{what}: the signed message digest is not the manifest's")
    sig = b64decode(msg.get("signature"), f"{what}: signature")
    key = next((k for k in keys if verify_raw(k, sig, manifest_raw)), None)
    if key is None:
        raise TrustError(f"{what}: cryptographic signature verification failed")
    return key, sig


def verify_bundle(
    bundle: Bundle,
    keys: Sequence[PublicKey],
    manifest_raw: bytes,
    accept_identity: Callable[[str], bool],
    *,
    rekor_keys: Sequence[ec.EllipticCurvePublicKey] | None = None,
    what: str = "sigstore bundle",
) -> BundleVerdict:
    """Verify one bundle as a signature of `manifest_raw`; raise TrustError saying why not.
    With `rekor_keys`, a tlog entry whose SET verifies and which records this signature is
    required."""
    candidates = _candidates(bundle, keys, what)
    if "dsseEnvelope" in bundle.doc:
        identity, key, sig, signed = _verify_dsse(bundle, candidates, manifest_raw, what)
        kind = "dsse"
    else:
        key, sig = _verify_message(bundle, candidates, manifest_raw, what)
        identity, signed, kind = None, manifest_raw, "messageSignature"
    if rekor_keys is not None:
        entries = bundle.tlog_entries(what)
        if not entries:
            raise TrustError(f"{what}: no tlog entry with an inclusion promise (Rekor SET)")
        reasons = []
        for i, entry in enumerate(entries):
            w = f"tlog entry {i}"
            try:
                body = entry.verify_set(rekor_keys, w)
                rekor.check_body(body, signature=sig, key_der=rekor.spki_der(key), signed=signed)
                break
            except TrustError as exc:
                reasons.append(exc.message)
        else:
            raise TrustError(f"{what}: " + "; ".join(reasons))
    if identity is None:
        raise TrustError(f"{what}: verified, but it names no image (no signed identity)")
    if not accept_identity(identity):
        raise TrustError(f"{what}: signed identity {identity!r} is not accepted by the policy")
    return BundleVerdict(kind=kind, identity=identity, key_id=rekor.key_id(key))
