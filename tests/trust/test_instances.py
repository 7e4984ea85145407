"""Index instances are admitted one by one with their own signatures."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from lamina.digest import Digest
from lamina.errors import TrustError
from lamina.trust.cosign import sign_cosign
from lamina.trust.evaluate import PolicyContext, admit_instances
from lamina.trust.policy import Policy
from tests.trust.test_bundle import MANIFEST, OTHER_MANIFEST, b64pem

REF = "registry.example/app:1"


class Source:
    def __init__(self, manifests: list[bytes], sigs: dict[Digest, list[bytes]]) -> None:
        self.manifests = {Digest.of_bytes(m): m for m in manifests}
        self.sigs = sigs
        self.asked: list[Digest] = []

    def get_manifest(self, digest: Digest | None = None) -> tuple[bytes, str]:
        assert digest is not None
        return self.manifests[digest], "application/vnd.oci.image.manifest.v1+json"

    def signatures(self, digest: Digest) -> list[bytes]:
        self.asked.append(digest)
        return self.sigs.get(digest, [])


def test_each_instance_needs_its_own_signature() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    req = {"type": "sigstoreSigned", "keyData": b64pem(key)}
    ctx = PolicyContext(Policy.parse(json.dumps({"default": [req]}).encode()))
    one, two = Digest.of_bytes(MANIFEST), Digest.of_bytes(OTHER_MANIFEST)
    signed_one = {one: [sign_cosign(MANIFEST, REF, key).to_internal()]}
    src = Source([MANIFEST, OTHER_MANIFEST], signed_one)
    admit_instances(ctx, src, f"docker://{REF}", None, [one])
    with pytest.raises(TrustError, match=f"index instance {two}: .*no sigstore signature"):
        admit_instances(ctx, src, f"docker://{REF}", None, [one, two])
    # the signature of one instance does not cover another
    src.sigs[two] = signed_one[one]
    with pytest.raises(TrustError, match="does not match the manifest"):
        admit_instances(ctx, src, f"docker://{REF}", None, [two])
    # a policy that needs no signatures does not fetch them
    anything = PolicyContext(Policy.parse(b'{"default":[{"type":"insecureAcceptAnything"}]}'))
    quiet = Source([MANIFEST, OTHER_MANIFEST], {})
    admit_instances(anything, quiet, f"docker://{REF}", None, [one, two])
    assert quiet.asked == []
    assert base64.b64decode(b64pem(key)).startswith(b"-----BEGIN PUBLIC KEY-----")
