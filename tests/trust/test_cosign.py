"""Cosign-format signatures: fixtures, key files, signing."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from lamina.digest import Digest
from lamina.errors import InvalidInput, TrustError
from lamina.transports.directory import DirReference
from lamina.trust.cosign import (
    SIGNATURE_ANNOTATION,
    CosignSignature,
    sign_cosign,
    signature_tag,
    verify_cosign,
)
from lamina.trust.cosign_keys import (
    encrypt_private_key,
    generate_keypair,
    load_private_key,
    load_public_keys,
)
from lamina.trust.evaluate import PolicyContext
from lamina.trust.policy import Policy
from tests.trust.fixture_files import FIXTURES, materialize, read

KEY = str(FIXTURES / "cosign.pub")
KEY2 = str(FIXTURES / "cosign2.pub")
REPO = {"type": "matchRepository"}
# the fixtures' SETs are from the public Rekor log (its key: tests/trust/data; the fixture
# directory holds only a dangling link to it); a throw-away Rekor key must refuse them
REKOR = str(Path(__file__).parent / "data" / "rekor-public-good.pub")
KEY_REKOR_REF = "192.168.64.2:5000/cosign-signed/key-1:1"
OTHER_REKOR_KEY = base64.b64encode(generate_keypair(b"x")[1]).decode()

# (image, extra requirement fields, docker reference used, error or None)
CASES: list[tuple[str, dict[str, Any], str, str | None]] = [
    ("valid", {"keyPath": KEY}, "192.168.64.2:5000/cosign-signed-single-sample:1", None),
    ("valid-2", {"keyPath": KEY}, "192.168.64.2:5000/cosign-signed-single-sample:1", None),
    ("valid-with-tag", {"keyPath": KEY}, "192.168.64.2:5000/skopeo-signed:tag", None),
    ("mixed", {"keyPaths": [KEY2, KEY]}, "192.168.64.2:5000/cosign-signed-single-sample:1", None),
    ("key-rekor-valid", {"keyPath": KEY2}, "192.168.64.2:5000/cosign-signed/key-1:1", None),
    ("valid", {"keyPath": KEY2}, "192.168.64.2:5000/cosign-signed-single-sample:1", "failed"),
    ("valid", {"keyPath": KEY}, "192.168.64.2:5000/other:1", "not accepted"),
    ("modified-manifest", {"keyPath": KEY}, "192.168.64.2:5000/x:1", "does not match"),
    ("manifest-digest-error", {"keyPath": KEY}, "192.168.64.2:5000/x:1", "does not match"),
    ("other-attachment", {"keyPath": KEY}, "192.168.64.2:5000/x:1", "MIME type"),
    (
        "key-rekor-valid",
        {"keyPath": KEY2, "rekorPublicKeyData": OTHER_REKOR_KEY},
        "192.168.64.2:5000/cosign-signed/key-1:1",
        "cryptographic verification of the SET failed",
    ),
    (
        "fulcio-rekor-valid",
        {
            "fulcio": {
                "caPath": str(FIXTURES / "fulcio_v1.crt.pem"),
                "oidcIssuer": "https://github.com/login/oauth",
                "subjectEmail": "mitr@redhat.com",
            },
            "rekorPublicKeyPath": REKOR,
        },
        "192.168.64.2:5000/cosign-signed/fulcio-rekor-1:1",
        None,
    ),
    (
        "pki-valid",
        {
            "pki": {
                "caRootsPath": str(FIXTURES / "pki_root_crts.pem"),
                "caIntermediatesPath": str(FIXTURES / "pki_intermediate_crts.pem"),
                "subjectEmail": "qiwan@redhat.com",
                "subjectHostname": "myhost.example.com",
            }
        },
        "localhost:5000/test:1",
        None,
    ),
    ("key-rekor-valid", {"keyPath": KEY2, "rekorPublicKeyPath": REKOR}, KEY_REKOR_REF, None),
]


@pytest.mark.parametrize(("name", "fields", "ref", "error"), CASES)
def test_cosign_dir_images(
    tmp_path: Path, name: str, fields: dict[str, Any], ref: str, error: str | None
) -> None:
    image = materialize(f"dir-img-cosign-{name}", tmp_path / "img")
    src = DirReference(str(image)).new_source()
    manifest, _ = src.get_manifest()
    sigs = src.signatures(Digest.of_bytes(manifest))
    req = {"type": "sigstoreSigned", **fields, "signedIdentity": REPO}
    policy = Policy.parse(json.dumps({"default": [req]}).encode())
    ctx = PolicyContext(policy)
    if error is None:
        ctx.evaluate(
            "docker", ref, None, manifest, [], [CosignSignature.from_internal(s) for s in sigs]
        )
        # The same through the admission protocol, where both kinds arrive mixed.
        ctx.check(f"docker://{ref}", None, manifest, sigs)
    else:
        with pytest.raises(TrustError, match=error):
            ctx.check(f"docker://{ref}", None, manifest, sigs)


def test_unknown_cosign_key_signature() -> None:
    sig = CosignSignature.from_internal(read("unknown-cosign-key.signature"))
    manifest = read("dir-img-cosign-valid/manifest.json")
    for key in (KEY, KEY2):
        with pytest.raises(TrustError, match="cryptographic"):
            verify_cosign(sig, load_public_keys(Path(key).read_bytes()), manifest, lambda r: True)


def test_cosign_without_signatures_is_rejected() -> None:
    policy = Policy.parse(
        json.dumps({"default": [{"type": "sigstoreSigned", "keyPath": KEY}]}).encode()
    )
    with pytest.raises(TrustError, match="no sigstore signature exists"):
        PolicyContext(policy).check(
            "docker://example.com/a:1", None, b"{}", [read("image.signature")]
        )


def test_generate_sign_verify_and_tamper() -> None:
    private_pem, public_pem = generate_keypair(b"pw")
    assert private_pem.startswith(b"-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n")
    assert public_pem.startswith(b"-----BEGIN PUBLIC KEY-----\n")
    body = b"".join(private_pem.splitlines()[1:-1])
    doc = json.loads(base64.b64decode(body))
    assert doc["kdf"]["params"] == {"N": 32768, "r": 8, "p": 1}
    assert (
        doc["cipher"]["name"] == "nacl/secretbox"
        and len(base64.b64decode(doc["cipher"]["nonce"])) == 24
    )
    key = load_private_key(private_pem, b"pw")
    manifest = read("image.manifest.json")
    sig = sign_cosign(manifest, "example.com/app:1", key, timestamp=7)
    again = CosignSignature.from_internal(sig.to_internal())
    assert again == sig
    payload = verify_cosign(
        again, load_public_keys(public_pem), manifest, lambda r: r == "example.com/app:1"
    )
    assert payload.optional == {"creator": "lamina 0.1.0", "timestamp": 7}
    tampered = CosignSignature(
        payload=sig.payload.replace(b"app:1", b"app:2"), annotations=sig.annotations
    )
    with pytest.raises(TrustError, match="cryptographic"):
        verify_cosign(tampered, load_public_keys(public_pem), manifest, lambda r: True)
    bad = CosignSignature(payload=sig.payload, annotations={SIGNATURE_ANNOTATION: "!!"})
    with pytest.raises(TrustError, match="not base64"):
        verify_cosign(bad, load_public_keys(public_pem), manifest, lambda r: True)
    with pytest.raises(TrustError, match="wrong passphrase"):
        load_private_key(private_pem, b"other")


@pytest.mark.parametrize("n", [65536, 131072])
def test_reads_keys_with_larger_scrypt_cost(n: int) -> None:
    original = load_private_key(generate_keypair(b"x")[0], b"x")
    pem = encrypt_private_key(original, b"x", n=n)
    assert load_private_key(pem, b"x").private_numbers() == original.private_numbers()  # type: ignore[union-attr]
    with pytest.raises(InvalidInput, match="scrypt"):
        load_private_key(encrypt_private_key(original, b"x", n=1024), b"x")


def test_signature_tag() -> None:
    assert signature_tag(Digest.parse("sha256:" + "c" * 64)) == "sha256-" + "c" * 64 + ".sig"
