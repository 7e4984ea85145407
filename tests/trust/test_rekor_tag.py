"""Tag-based cosign signatures with a Rekor SET (`dev.sigstore.cosign/bundle`), verified
offline with a throw-away Rekor key; and judging a mirror's image as the requested name."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from lamina.errors import TrustError
from lamina.reference import Reference
from lamina.trust import rekor
from lamina.trust.cosign import SIGNATURE_ANNOTATION, CosignSignature, sign_cosign
from lamina.trust.evaluate import PolicyContext
from lamina.trust.policy import Policy
from tests.trust.fixture_files import FIXTURES
from tests.trust.test_bundle import MANIFEST, b64pem, pem

REF = "registry.example/app:1"
CA_PEM = (FIXTURES / "fulcio_v1.crt.pem").read_bytes()


@pytest.fixture(scope="module")
def keys() -> tuple[ec.EllipticCurvePrivateKey, ec.EllipticCurvePrivateKey]:
    return ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())


def logged(
    sig: CosignSignature,
    signer: ec.EllipticCurvePrivateKey,
    log: ec.EllipticCurvePrivateKey,
    *,
    signed: bytes | None = None,
    signature: bytes | None = None,
) -> CosignSignature:
    raw = base64.b64decode(sig.annotations[SIGNATURE_ANNOTATION])
    body = rekor.hashedrekord_body(
        raw if signature is None else signature,
        pem(signer),
        sig.payload if signed is None else signed,
    )
    entry = rekor.make_entry(log, body=body, integrated_time=1700000000, log_index=7)
    annotations = {**sig.annotations, rekor.SET_ANNOTATION: entry.to_annotation()}
    return CosignSignature(payload=sig.payload, annotations=annotations)


def ctx(fields: dict[str, Any]) -> PolicyContext:
    req = {"type": "sigstoreSigned", **fields}
    return PolicyContext(Policy.parse(json.dumps({"default": [req]}).encode()))


def test_tag_signature_with_set(
    keys: tuple[ec.EllipticCurvePrivateKey, ec.EllipticCurvePrivateKey],
) -> None:
    key, log = keys
    sig = sign_cosign(MANIFEST, REF, key)
    good = logged(sig, key, log)
    fields = {"keyData": b64pem(key), "rekorPublicKeyData": b64pem(log)}
    decision = ctx(fields).evaluate("docker", REF, None, MANIFEST, cosign_signatures=[good])
    assert decision.accepted == ("sigstoreSigned (Rekor SET verified)",)
    # the annotation's JSON is what cosign writes: SignedEntryTimestamp + Payload
    doc = json.loads(good.annotations[rekor.SET_ANNOTATION])
    assert sorted(doc) == ["Payload", "SignedEntryTimestamp"]
    assert sorted(doc["Payload"]) == ["body", "integratedTime", "logID", "logIndex"]

    def refused(s: CosignSignature, why: str, f: dict[str, Any] = fields) -> None:
        with pytest.raises(TrustError, match=why):
            ctx(f).evaluate("docker", REF, None, MANIFEST, cosign_signatures=[s])

    refused(sig, "Rekor SET\\) is missing")
    payload = dict(doc["Payload"], logIndex=8)
    tampered = json.dumps({"SignedEntryTimestamp": doc["SignedEntryTimestamp"], "Payload": payload})
    refused(
        CosignSignature(
            payload=sig.payload, annotations={**sig.annotations, rekor.SET_ANNOTATION: tampered}
        ),
        "verification of the SET failed",
    )
    refused(good, "verification of the SET failed", {**fields, "rekorPublicKeyData": b64pem(key)})
    refused(logged(sig, key, log, signed=b"another payload"), "data hash is not the payload's")
    refused(logged(sig, key, log, signature=b"\x30\x00"), "logged signature or key")
    refused(logged(sig, log, log), "logged signature or key")  # the entry names another key
    # several Rekor keys: any one may have signed the SET
    many = {"keyData": b64pem(key), "rekorPublicKeyDatas": [b64pem(key), b64pem(log)]}
    ctx(many).evaluate("docker", REF, None, MANIFEST, cosign_signatures=[good])


def test_certificate_requirements_refuse_key_signatures_and_bad_cas(
    keys: tuple[ec.EllipticCurvePrivateKey, ec.EllipticCurvePrivateKey],
) -> None:
    """A signature without a certificate cannot meet `fulcio`/`pki`; a CA that is not a
    PEM certificate is named (real chains: test_certs.py)."""
    sig = sign_cosign(MANIFEST, REF, keys[0])
    key_pem = (
        keys[1]
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    bad_ca = base64.b64encode(b"x").decode()
    rekor = base64.b64encode(key_pem).decode()
    fulcio = {"oidcIssuer": "https://i", "subjectEmail": "a@b"}
    for fields, why in (
        ({"fulcio": {"caData": bad_ca, **fulcio}, "rekorPublicKeyData": rekor}, "fulcio CA"),
        ({"pki": {"caRootsData": bad_ca, "subjectEmail": "a@b"}}, "pki CA: no PEM certificate"),
        (
            {"pki": {"caRootsData": base64.b64encode(CA_PEM).decode(), "subjectEmail": "a@b"}},
            "certificate is missing",
        ),
    ):
        with pytest.raises(TrustError, match=why):
            ctx(fields).evaluate("docker", REF, None, MANIFEST, cosign_signatures=[sig])


def test_mirror_is_judged_as_the_requested_name(
    keys: tuple[ec.EllipticCurvePrivateKey, ec.EllipticCurvePrivateKey],
) -> None:
    key = keys[0]
    key_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    policy = {
        "default": [{"type": "reject"}],
        "transports": {
            "docker": {
                "registry.example/app": [
                    {"type": "sigstoreSigned", "keyData": base64.b64encode(key_pem).decode()}
                ]
            }
        },
    }
    context = PolicyContext(Policy.parse(json.dumps(policy).encode()))
    blob = sign_cosign(MANIFEST, REF, key).to_internal()
    mirror = "docker://mirror.example/app:1"
    with pytest.raises(TrustError, match="rejects"):
        context.check(mirror, None, MANIFEST, [blob])  # the mirror's own scope rejects
    requested = context.as_requested(Reference.parse(REF))
    requested.check(mirror, None, MANIFEST, [blob])
    other = sign_cosign(MANIFEST, "registry.example/other:1", key).to_internal()
    with pytest.raises(TrustError, match="not accepted"):
        requested.check(mirror, None, MANIFEST, [other])
