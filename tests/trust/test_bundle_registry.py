"""Bundles as OCI 1.1 referrers on live registries: lamina's (referrers API) and
Distribution 2.8 (no referrers API: the `sha256-<hex>` tag schema). Written by lamina's
own producer; read through `SignatureStorage` as a pull reads signatures; judged by
`lamina verify` and by a pull under a sigstoreSigned policy."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from lamina.digest import Digest
from lamina.errors import TrustError
from lamina.oci import Descriptor
from lamina.ops.copying import CopyRequest, copy
from lamina.ops.pulling import pull
from lamina.ops.trust import TrustOptions
from lamina.ops.trust_commands import verify
from lamina.reference import Reference
from lamina.store import Store
from lamina.transports.registries_conf import RegistriesConfig
from lamina.transports.registry import RegistryOptions, RegistryReference, RegistrySource
from lamina.trust.bundle import ARTIFACT_TYPE
from lamina.trust.bundle_sign import sign_bundle
from lamina.trust.referrers import read_bundles, write_bundle
from tests.ops.images import image_layout
from tests.trust.conftest import Home, policy_for, write_policy
from tests.trust.test_bundle import b64pem

INSECURE = TrustOptions(insecure_policy=True)


def test_bundle_referrer_round_trip(registry: str, tmp_path: Path, home: Home) -> None:
    (home.registries_d / "default.yaml").write_text(
        f"default-docker:\n  lookaside: file://{home.lookaside}\n  use-sigstore-attachments: true\n"
    )
    layout, img = image_layout(tmp_path, "src", seed=31)
    name = f"{registry}/bundled/app"
    copy(f"oci:{layout}:v1", f"docker://{name}:1", None, CopyRequest(trust=INSECURE))
    opts = RegistryOptions()
    ref = RegistryReference(Reference.parse(f"{name}:1"), opts)
    src = RegistrySource(ref)
    try:
        raw, media_type = src.get_manifest()
    finally:
        src.close()
    digest = Digest.of_bytes(raw)
    key, other = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    subject = Descriptor(media_type=media_type, digest=digest, size=len(raw))
    bundle = sign_bundle(raw, f"{name}:1", key)
    pushed = write_bundle(ref, subject, bundle)
    src = RegistrySource(ref)
    try:
        listed = src.referrers(digest, ARTIFACT_TYPE).manifests
        assert [d.digest for d in listed] == [pushed]
        assert read_bundles(src, digest) == [bundle.raw]
        assert read_bundles(src, Digest.of_bytes(b"other")) == []
    finally:
        src.close()

    keyfile = tmp_path / "cosign.pub"
    keyfile.write_bytes(base64.b64decode(b64pem(key)))
    result = verify(f"docker://{name}:1", None, TrustOptions(), key_file=str(keyfile), options=opts)
    assert result.accepted, result.decision
    assert [(v.kind, v.accepted) for v in result.signatures] == [("sigstore bundle", True)]
    assert "bundle dsse" in result.signatures[0].detail

    # a pull under a sigstoreSigned policy admits it with the right key only
    store = Store.open(tmp_path / "store")
    for k, ok in ((other, False), (key, True)):
        req = {"type": "sigstoreSigned", "keyData": b64pem(k)}
        write_policy(home.policy, policy_for(f"{registry}/bundled", [req]))
        if ok:
            pulled = pull(store, f"{name}:1", options=opts, registries=RegistriesConfig())
            assert pulled[0].digest == img.digest()
        else:
            with pytest.raises(TrustError, match="names no key the policy trusts"):
                pull(store, f"{name}:1", options=opts, registries=RegistriesConfig())
    # the store keeps the bundle, so the stored image verifies too
    stored = verify(f"{name}:1", store, TrustOptions(), key_file=str(keyfile))
    assert stored.accepted, stored.decision
