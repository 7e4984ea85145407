"""Sigstore bundle v0.3 signatures (DSSE in-toto and messageSignature) and their Rekor SETs.

All data is made here with throw-away keys. The bundles come from lamina's own producer
(`bundle_sign`), written from the specs; so these tests check the verifier against the spec
formats (PAE bytes, field names, hint, SET payload) and against tampering, not against
cosign output (no cosign binary here).
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from lamina.errors import TrustError
from lamina.trust import rekor
from lamina.trust.bundle import Bundle, pae, verify_bundle
from lamina.trust.bundle_sign import sign_bundle, statement
from lamina.trust.evaluate import PolicyContext
from lamina.trust.policy import Policy

MANIFEST = json.dumps(
    {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": "sha256:" + "a" * 64,
            "size": 2,
        },
        "layers": [],
    }
).encode()
OTHER_MANIFEST = MANIFEST.replace(b'"size": 2', b'"size": 3')
DIGEST = "sha256:" + hashlib.sha256(MANIFEST).hexdigest()
NAME = "registry.example/app"


def pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@pytest.fixture(scope="module")
def key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def other() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def rekor_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def accept_all(_: str) -> bool:
    return True


def edited(bundle: Bundle, edit: Any) -> Bundle:
    doc = json.loads(bundle.raw)
    edit(doc)
    return Bundle.parse(json.dumps(doc).encode())


def test_pae_is_the_dsse_spec_encoding() -> None:
    # the DSSE spec's own example
    assert pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )
    assert pae("", b"") == b"DSSEv1 0  0 "


def test_dsse_bundle_round_trip(key: ec.EllipticCurvePrivateKey) -> None:
    bundle = sign_bundle(MANIFEST, NAME, key)
    doc = json.loads(bundle.raw)
    assert doc["mediaType"] == "application/vnd.dev.sigstore.bundle.v0.3+json"
    env = doc["dsseEnvelope"]
    assert env["payloadType"] == "application/vnd.in-toto+json"
    payload = base64.b64decode(env["payload"])
    assert json.loads(payload)["subject"][0]["digest"]["sha256"] == DIGEST[7:]
    hint = doc["verificationMaterial"]["publicKey"]["hint"]
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert hint == hashlib.sha256(der).hexdigest()
    # the signature is over PAE, not the bare payload
    key.public_key().verify(
        base64.b64decode(env["signatures"][0]["sig"]),
        pae(env["payloadType"], payload),
        ec.ECDSA(rekor_hash()),
    )
    verdict = verify_bundle(bundle, [key.public_key()], MANIFEST, accept_all)
    assert (verdict.kind, verdict.identity) == ("dsse", f"{NAME}@{DIGEST}")
    assert Bundle.from_internal(bundle.to_internal()).raw == bundle.raw


def rekor_hash() -> Any:
    from cryptography.hazmat.primitives import hashes

    return hashes.SHA256()


def test_bundle_refusals(
    key: ec.EllipticCurvePrivateKey, other: ec.EllipticCurvePrivateKey
) -> None:
    good = sign_bundle(MANIFEST, NAME, key)
    with pytest.raises(TrustError, match="names no key"):
        verify_bundle(good, [other.public_key()], MANIFEST, accept_all)
    no_hint = edited(good, lambda d: d["verificationMaterial"]["publicKey"].pop("hint"))
    with pytest.raises(TrustError, match="verification failed"):
        verify_bundle(no_hint, [other.public_key()], MANIFEST, accept_all)
    assert verify_bundle(no_hint, [other.public_key(), key.public_key()], MANIFEST, accept_all)
    wrong_hint = edited(
        good,
        lambda d: d["verificationMaterial"]["publicKey"].update(
            hint=rekor.key_id(other.public_key())
        ),
    )
    with pytest.raises(TrustError, match="verification failed"):
        verify_bundle(wrong_hint, [other.public_key(), key.public_key()], MANIFEST, accept_all)
    with pytest.raises(TrustError, match="no statement subject has the image's manifest digest"):
        verify_bundle(good, [key.public_key()], OTHER_MANIFEST, accept_all)
    swapped = statement(OTHER_MANIFEST, NAME)
    tampered = edited(
        good, lambda d: d["dsseEnvelope"].update(payload=base64.b64encode(swapped).decode())
    )
    with pytest.raises(TrustError, match="verification failed"):
        verify_bundle(tampered, [key.public_key()], OTHER_MANIFEST, accept_all)
    wrong_type = edited(good, lambda d: d["dsseEnvelope"].update(payloadType="text/plain"))
    with pytest.raises(TrustError, match="not in-toto"):
        verify_bundle(wrong_type, [key.public_key()], MANIFEST, accept_all)
    not_statement = sign_bundle(MANIFEST, NAME, key, payload=b'{"_type":"x","subject":[]}')
    with pytest.raises(TrustError, match="not an in-toto statement"):
        verify_bundle(not_statement, [key.public_key()], MANIFEST, accept_all)
    with pytest.raises(TrustError, match="is not accepted"):
        verify_bundle(good, [key.public_key()], MANIFEST, lambda _: False)
    with pytest.raises(TrustError, match=r"is not bundle v0\.3"):
        edited(
            good,
            lambda d: d.update(mediaType="application/vnd.dev.sigstore.bundle+json;version=0.1"),
        )


def test_message_signature_bundle(key: ec.EllipticCurvePrivateKey) -> None:
    bundle = sign_bundle(MANIFEST, NAME, key, kind="messageSignature")
    doc = json.loads(bundle.raw)["messageSignature"]
    assert base64.b64decode(doc["messageDigest"]["digest"]) == hashlib.sha256(MANIFEST).digest()
    with pytest.raises(TrustError, match="verified, but it names no image"):
        verify_bundle(bundle, [key.public_key()], MANIFEST, accept_all)
    with pytest.raises(TrustError, match="message digest is not the manifest's"):
        verify_bundle(bundle, [key.public_key()], OTHER_MANIFEST, accept_all)
    bad = edited(
        bundle,
        lambda d: d["messageSignature"].update(signature=base64.b64encode(b"x" * 70).decode()),
    )
    with pytest.raises(TrustError, match="verification failed"):
        verify_bundle(bad, [key.public_key()], MANIFEST, accept_all)


@pytest.mark.parametrize("kind", ["dsse", "messageSignature"])
def test_bundle_rekor_set(
    kind: str,
    key: ec.EllipticCurvePrivateKey,
    other: ec.EllipticCurvePrivateKey,
    rekor_key: ec.EllipticCurvePrivateKey,
) -> None:
    logs = [rekor_key.public_key()]
    ok = sign_bundle(
        MANIFEST, NAME, key, kind=kind, rekor_key=rekor_key, integrated_time=1700000000
    )
    entry = json.loads(ok.raw)["verificationMaterial"]["tlogEntries"][0]
    assert base64.b64decode(entry["logId"]["keyId"]).hex() == rekor.key_id(rekor_key.public_key())
    assert entry["integratedTime"] == "1700000000"
    err = "names no image" if kind == "messageSignature" else None
    if err is None:
        verify_bundle(ok, [key.public_key()], MANIFEST, accept_all, rekor_keys=logs)
    else:
        with pytest.raises(TrustError, match=err):
            verify_bundle(ok, [key.public_key()], MANIFEST, accept_all, rekor_keys=logs)

    def tlog(edit: Any) -> Bundle:
        return edited(ok, lambda d: edit(d["verificationMaterial"]["tlogEntries"][0]))

    cases = [
        (tlog(lambda e: e.update(integratedTime="1700000001")), "verification of the SET failed"),
        (edited(ok, lambda d: d["verificationMaterial"].pop("tlogEntries")), "no tlog entry"),
        (tlog(lambda e: e.pop("inclusionPromise")), "no tlog entry"),
    ]
    for bundle, why in cases:
        with pytest.raises(TrustError, match=why):
            verify_bundle(bundle, [key.public_key()], MANIFEST, accept_all, rekor_keys=logs)
    with pytest.raises(TrustError, match="verification of the SET failed"):
        verify_bundle(ok, [key.public_key()], MANIFEST, accept_all, rekor_keys=[other.public_key()])
    # a SET by the right key over an entry for another payload: the body check refuses it
    body_of_other = sign_bundle(OTHER_MANIFEST, NAME, key, kind=kind, rekor_key=rekor_key)
    foreign = json.loads(body_of_other.raw)["verificationMaterial"]["tlogEntries"]
    swapped = edited(ok, lambda d: d["verificationMaterial"].update(tlogEntries=foreign))
    with pytest.raises(TrustError, match="hash is not the payload's"):
        verify_bundle(swapped, [key.public_key()], MANIFEST, accept_all, rekor_keys=logs)


def test_set_log_id_must_name_the_log_key(rekor_key: ec.EllipticCurvePrivateKey) -> None:
    body = rekor.hashedrekord_body(b"sig", b"pem", b"payload")
    entry = rekor.make_entry(rekor_key, body=body, integrated_time=1, log_index=2)
    assert entry.signed_payload() == (
        b'{"body":"'
        + base64.b64encode(entry.body)
        + b'","integratedTime":1,"logID":"'
        + entry.log_id.encode()
        + b'","logIndex":2}'
    )
    assert entry.verify_set([rekor_key.public_key()])["kind"] == "hashedrekord"
    from cryptography.hazmat.primitives import hashes

    wrong = rekor.RekorEntry(
        body=entry.body,
        integrated_time=1,
        log_index=2,
        log_id="00" * 32,
        signed_entry_timestamp=b"",
    )
    resigned = rekor.RekorEntry(
        body=entry.body,
        integrated_time=1,
        log_index=2,
        log_id=wrong.log_id,
        signed_entry_timestamp=rekor_key.sign(wrong.signed_payload(), ec.ECDSA(hashes.SHA256())),
    )
    with pytest.raises(TrustError, match=r"log ID 0000.* is not the ID"):
        resigned.verify_set([rekor_key.public_key()])
    parsed = rekor.RekorEntry.from_annotation(entry.to_annotation())
    assert parsed == entry


def policy(fields: dict[str, Any], identity: dict[str, Any] | None = None) -> Policy:
    req = {"type": "sigstoreSigned", **fields}
    req["signedIdentity"] = identity or {"type": "matchRepoDigestOrExact"}
    return Policy.parse(json.dumps({"default": [req]}).encode())


def b64pem(key: ec.EllipticCurvePrivateKey) -> str:
    return base64.b64encode(pem(key)).decode()


def test_policy_counts_bundles_like_tag_signatures(
    key: ec.EllipticCurvePrivateKey,
    other: ec.EllipticCurvePrivateKey,
    rekor_key: ec.EllipticCurvePrivateKey,
) -> None:
    blob = sign_bundle(MANIFEST, NAME, key).to_internal()
    ctx = PolicyContext(policy({"keyData": b64pem(key)}))
    ctx.check(f"docker://{NAME}@{DIGEST}", None, MANIFEST, [blob])
    with pytest.raises(TrustError, match=r"signed identity .* is not accepted"):
        ctx.check(f"docker://{NAME}:1", None, MANIFEST, [blob])  # the bundle names no tag
    tagged = sign_bundle(MANIFEST, f"{NAME}:1", key).to_internal()
    ctx.check(f"docker://{NAME}:1", None, MANIFEST, [tagged])
    PolicyContext(policy({"keyData": b64pem(key)}, {"type": "matchRepository"})).check(
        f"docker://{NAME}:1", None, MANIFEST, [blob]
    )
    with pytest.raises(TrustError, match="names no key the policy trusts"):
        PolicyContext(policy({"keyData": b64pem(other)})).check(
            f"docker://{NAME}@{DIGEST}", None, MANIFEST, [blob]
        )
    with_rekor = policy({"keyData": b64pem(key), "rekorPublicKeyData": b64pem(rekor_key)})
    with pytest.raises(TrustError, match="no tlog entry"):
        PolicyContext(with_rekor).check(f"docker://{NAME}@{DIGEST}", None, MANIFEST, [blob])
    logged = sign_bundle(MANIFEST, NAME, key, rekor_key=rekor_key).to_internal()
    decision = PolicyContext(with_rekor).evaluate(
        "docker", f"{NAME}@{DIGEST}", None, MANIFEST, bundles=[Bundle.from_internal(logged)]
    )
    assert "Rekor SET verified" in decision.accepted[0]
    assert PolicyContext(with_rekor).needs_signatures(f"docker://{NAME}:1")
    assert not PolicyContext(
        Policy.parse(b'{"default":[{"type":"insecureAcceptAnything"}]}')
    ).needs_signatures("docker://x/y:1")
