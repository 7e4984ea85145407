"""Every signature fixture verifies or fails exactly as its name says."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from lamina.digest import Digest
from lamina.errors import InvalidInput, NotFound, TrustError
from lamina.reference import Reference
from lamina.transports.directory import DirReference
from lamina.trust import gpg
from lamina.trust.evaluate import PolicyContext, split_signatures
from lamina.trust.manifest_digest import docker_manifest_digest
from lamina.trust.policy import Policy
from lamina.trust.simple import SimplePayload, verify_simple
from tests.trust.fixture_files import FIXTURES, materialize, read

KEYS = ("public-key.gpg", "public-key-with-subkey.gpg", "public-key-with-revoked-subkey.gpg")

SINGLE = [
    ("image.signature", None),
    ("no-optional-fields.signature", None),
    ("subkey.signature", None),
    ("subkey.signature-v3", None),
    ("expired.signature", "expired"),
    ("corrupt.signature", "corrupt"),
    ("corrupt.signature-v3", "corrupt"),
    ("unknown-key.signature", "cannot be checked"),
    ("unknown-key.signature-v3", "cannot be checked"),
    ("subkey-revoked.signature", "revoked"),
    ("subkey-revoked.signature-v3", "revoked"),
    ("invalid-reference.signature", "signed identity 'UPPERCASEISINVALID'"),
    ("invalid-blob.signature", "invalid JSON"),
    ("invalid-blob.signature-v3", "invalid JSON"),
    ("unsigned-literal.signature", "exactly one signature, found 0"),
    ("unsigned-encrypted.signature", "encrypted"),
]


@pytest.fixture(scope="module")
def keyring() -> Any:
    with gpg.Keyring([read(k) for k in KEYS]) as kr:
        yield kr


def _repo(signed: str) -> bool:
    try:
        return Reference.parse(signed, default_tag=False).name == "docker.io/testing/manifest"
    except InvalidInput:
        return False


@pytest.mark.parametrize(("name", "error"), SINGLE)
def test_single_signature_files(keyring: gpg.Keyring, name: str, error: str | None) -> None:
    manifest = read("image.manifest.json")
    if error is None:
        result = verify_simple(read(name), keyring, manifest, _repo)
        assert str(result.payload.manifest_digest) == str(Digest.of_bytes(manifest))
        assert result.key_fingerprint in keyring.fingerprints
    else:
        with pytest.raises(TrustError, match=error):
            verify_simple(read(name), keyring, manifest, _repo)


def test_subkey_signature_reports_primary_key(keyring: gpg.Keyring) -> None:
    result = verify_simple(read("subkey.signature"), keyring, read("image.manifest.json"), _repo)
    assert result.key_fingerprint == "B9F4CDB9FD8C475BFA340AC38D54A947EE396F36"
    with pytest.raises(TrustError, match="not a trusted key"):
        verify_simple(
            read("subkey.signature"),
            keyring,
            read("image.manifest.json"),
            _repo,
            trusted=["08CD26E446E2E95249B7A405E932F44B23E8DD43"],
        )


def test_wrong_manifest_and_non_binary_inputs(keyring: gpg.Keyring) -> None:
    with pytest.raises(TrustError, match="does not match the manifest"):
        verify_simple(read("image.signature"), keyring, b"{}", _repo)
    clear = b"-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n{}\n"
    with pytest.raises(TrustError, match="not a binary OpenPGP message"):
        verify_simple(clear, keyring, b"{}", _repo)
    with pytest.raises(TrustError, match="empty"):
        verify_simple(b"", keyring, b"{}", _repo)


def test_manifest_digest_rules() -> None:
    manifest = read("image.manifest.json")
    assert docker_manifest_digest(manifest) == Digest.of_bytes(manifest)
    with pytest.raises(InvalidInput, match="JWS"):
        docker_manifest_digest(read("v2s1-invalid-signatures.manifest.json"))


PAYLOAD_CASES = [
    ({"critical": {"type": "x", "image": {}, "identity": {}}, "optional": {}}, "not recognised"),
    ({"critical": {}}, "'optional' is missing"),
    ({"critical": {"extra": 1}, "optional": {}}, "unknown field 'extra'"),
    ({"critical": {}, "optional": {}, "more": 1}, "unknown field 'more'"),
]


@pytest.mark.parametrize(("doc", "needle"), PAYLOAD_CASES)
def test_payload_strictness(doc: dict[str, Any], needle: str) -> None:
    with pytest.raises(InvalidInput, match=needle):
        SimplePayload.parse(json.dumps(doc).encode())


def test_payload_round_trip_duplicates_and_fractional_timestamp() -> None:
    payload = SimplePayload(
        manifest_digest=Digest.parse("sha256:" + "b" * 64),
        docker_reference="example.com/a:<1>",
        creator="c",
        timestamp=5,
    )
    raw = payload.to_bytes()
    assert raw.startswith(b'{"critical":{"identity":{"docker-reference":"example.com/a:\\u003c1')
    assert SimplePayload.parse(raw) == payload
    dup = raw.replace(b'"optional":{', b'"optional":{"creator":"x",')
    with pytest.raises(InvalidInput, match="duplicate field 'creator'"):
        SimplePayload.parse(dup)
    with pytest.raises(InvalidInput, match="not an integer"):
        SimplePayload.parse(raw.replace(b'"timestamp":5', b'"timestamp":5.5'))
    assert SimplePayload.parse(raw.replace(b'"timestamp":5', b'"timestamp":5.0')).timestamp == 5


def _dir_policy(key: str, identity: dict[str, Any]) -> Policy:
    req = {"type": "signedBy", "keyType": "GPGKeys", "keyPath": str(FIXTURES / key)}
    doc = {
        "default": [{"type": "reject"}],
        "transports": {"dir": {"": [{**req, "signedIdentity": identity}]}},
    }
    return Policy.parse(json.dumps(doc).encode())


REPO = {"type": "exactRepository", "dockerRepository": "testing/manifest"}
DIR_CASES = [
    ("dir-img-valid", "public-key.gpg", REPO, None),
    ("dir-img-valid-2", "public-key.gpg", REPO, None),
    ("dir-img-mixed", "public-key.gpg", REPO, None),
    ("dir-img-valid-subkey", "public-key-with-subkey.gpg", REPO, None),
    (
        "dir-img-valid-subkey",
        "public-key-with-subkey.gpg",
        {"type": "exactReference", "dockerReference": "testing/manifest:latest"},
        None,
    ),
    ("dir-img-valid", "public-key.gpg", {"type": "matchRepository"}, "not accepted by the policy"),
    ("dir-img-valid", "public-key-2.gpg", REPO, "cannot be checked"),
    ("dir-img-modified-manifest", "public-key.gpg", REPO, "does not match the manifest"),
    ("dir-img-manifest-digest-error", "public-key.gpg", REPO, "does not match the manifest"),
    ("dir-img-unsigned", "public-key.gpg", REPO, "no simple signature exists"),
]


@pytest.mark.parametrize(("name", "key", "identity", "error"), DIR_CASES)
def test_dir_images(
    tmp_path: Path, name: str, key: str, identity: dict[str, Any], error: str | None
) -> None:
    image = materialize(name, tmp_path / name)
    src = DirReference(str(image)).new_source()
    manifest, _ = src.get_manifest()
    sigs = src.signatures(Digest.of_bytes(manifest))
    ctx = PolicyContext(_dir_policy(key, identity))
    if error is None:
        ctx.check(f"dir:{image}", None, manifest, sigs)
    else:
        with pytest.raises(TrustError, match=error) as info:
            ctx.check(f"dir:{image}", None, manifest, sigs)
        assert "policy scope dir ''" in info.value.message


def test_dir_image_without_manifest_cannot_be_admitted(tmp_path: Path) -> None:
    image = materialize("dir-img-no-manifest", tmp_path / "img")
    with pytest.raises(NotFound):
        DirReference(str(image)).new_source().get_manifest()


def test_split_signatures_keeps_kinds_apart() -> None:
    simple, cosign = split_signatures(
        [read("image.signature"), read("dir-img-cosign-valid/signature-1"), b"\x00sigstore-json\nx"]
    )
    assert simple == [read("image.signature")]
    assert len(cosign) == 1
    assert base64.b64encode(cosign[0].payload).startswith(b"eyJjcml0aWNhbCI6")
